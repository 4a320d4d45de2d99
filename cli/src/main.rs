//! The `maestroctl` binary; everything lives in the `maestro_cli` library.

fn main() -> std::process::ExitCode {
    maestro_cli::main_entry()
}
