//! The `maestroctl` binary; everything lives in the `maestro_cli` library.

fn main() -> std::process::ExitCode {
    // `maestroctl dev` starts this executable again as its sites' launch helper.
    if site_agent::launch::serve_if_helper() {
        return std::process::ExitCode::SUCCESS;
    }
    maestro_cli::main_entry()
}
