//! The client commands: each resolves its inputs, calls a server, renders views.

pub mod audit;
pub mod catalog;
pub mod domain;
pub mod intent;
pub mod keys;
pub mod logs;
pub mod order;
pub mod pki;
pub mod rollout;

use std::io::Write;

/// Writes `text` to stdout; a closed pipe is not an error worth a panic.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Writes one line to stderr, every character shown ([`crate::escape::visible_lines`]): a
/// server's error may echo what a caller sent.
pub fn note(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", crate::escape::visible_lines(line));
}
