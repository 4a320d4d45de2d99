//! `-h` / `--help` for the benchmark programs: each prints its own header documentation (the
//! `//!` lines of its source file), so the usage is written once, where the code is.

/// When the program's arguments ask for help (`-h` or `--help`), prints the header
/// documentation of `source` (the program's own file, by `include_str!`) and exits 0.
pub fn help_if_asked(source: &str) {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        print!("{}", header(source));
        std::process::exit(0);
    }
}

/// The leading `//!` lines of `source`, without the markers.
pub fn header(source: &str) -> String {
    source
        .lines()
        .map_while(|line| line.strip_prefix("//!"))
        .map(|text| format!("{}\n", text.strip_prefix(' ').unwrap_or(text)))
        .collect()
}

/// The `main` of a benchmark whose dev federation spawns through a launch helper: serves as the
/// helper when started as one (the federation starts this executable again), else runs `bench`.
pub fn main_or_launch_helper(bench: fn() -> anyhow::Result<()>) -> anyhow::Result<()> {
    if site_agent::launch::serve_if_helper() {
        return Ok(());
    }
    bench()
}

#[cfg(test)]
mod tests {
    use super::header;

    #[test]
    fn the_header_is_the_leading_doc_lines() {
        let source = "//! `bench-x`: what it measures.\n//!\n//! Usage: `bench-x [N]`\n\nuse std::fmt;\n//! not a header\n";
        assert_eq!(
            header(source),
            "`bench-x`: what it measures.\n\nUsage: `bench-x [N]`\n"
        );
        assert_eq!(header("fn main() {}\n"), "");
    }
}
