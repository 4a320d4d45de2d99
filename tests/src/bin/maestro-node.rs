//! `maestroctl` under a name the end-to-end tests can locate (`CARGO_BIN_EXE_maestro-node`), so
//! they can run each component as its own process and SIGKILL it.
fn main() -> std::process::ExitCode {
    maestro_cli::main_entry()
}
