//! POSIX shell quoting and recognising a program that runs a shell script.
//!
//! A value substituted into a shell script is wrapped in single quotes, each `'` inside written
//! as `'\''`: between single quotes a POSIX shell gives every byte its literal meaning, so the
//! value is one word whatever it holds (`;`, `$(...)`, backticks, newlines, quotes).

/// Programs whose `-c` argument is a shell script.
pub const SHELLS: [&str; 8] = ["sh", "bash", "dash", "ash", "ksh", "mksh", "zsh", "busybox"];

/// `text` as one POSIX shell word.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Whether `program` (a path or a name) is one of [`SHELLS`].
pub fn is_shell(program: &str) -> bool {
    let base = program.rsplit('/').next().unwrap_or(program);
    SHELLS.contains(&base)
}

/// Whether `arg` is a cluster of short options holding `c` (`-c`, `-ec`, `-xc`).
pub fn is_command_flag(arg: &str) -> bool {
    arg.strip_prefix('-').is_some_and(|flags| {
        !flags.is_empty() && flags.chars().all(|c| c.is_ascii_alphabetic()) && flags.contains('c')
    })
}

/// The index in `argv` of the shell script: the argument after the first `-c` that follows a
/// shell program. `None` when `argv` runs no shell script.
pub fn script_index<S: AsRef<str>>(argv: &[S]) -> Option<usize> {
    let shell = argv.iter().position(|a| is_shell(a.as_ref()))?;
    let flag = argv[shell + 1..]
        .iter()
        .position(|a| is_command_flag(a.as_ref()))?;
    let script = shell + 1 + flag + 1;
    (script < argv.len()).then_some(script)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_single_quotes_and_leaves_the_rest_literal() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$(id) `id` ;|&\n"), "'$(id) `id` ;|&\n'");
    }

    #[test]
    fn finds_the_script_of_a_shell_only() {
        assert_eq!(script_index(&["/bin/sh", "-c", "echo"]), Some(2));
        assert_eq!(
            script_index(&["/usr/bin/env", "bash", "-ec", "x", "y"]),
            Some(3)
        );
        assert_eq!(script_index(&["busybox", "sh", "-c", "x"]), Some(3));
        assert_eq!(script_index(&["/bin/sh", "script.sh", "-c"]), None);
        assert_eq!(script_index(&["/bin/echo", "-c", "x"]), None);
        assert_eq!(script_index(&["/bin/sh", "--rcfile", "x"]), None);
        assert!(!is_command_flag("--c"));
        assert!(!is_command_flag("-"));
    }
}
