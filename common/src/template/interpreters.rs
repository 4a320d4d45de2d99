//! Programs other than shells that run code given on their command line: `python -c CODE`,
//! `perl -e CODE`, `node -e CODE`, `awk 'PROGRAM'` and the like. A value put into such code
//! would be code, and no one quoting fits every language, so a template may not put a
//! placeholder into it at all: a value reaches such a program as an argument of its own or
//! through the environment.

/// Interpreters by base name (a version suffix such as `python3.12` is ignored) and the flags
/// whose next argument is code.
const INLINE_CODE_FLAGS: [(&str, &[&str]); 13] = [
    ("python", &["-c"]),
    ("pypy", &["-c"]),
    ("perl", &["-e", "-E"]),
    ("ruby", &["-e"]),
    ("node", &["-e", "--eval", "-p", "--print"]),
    ("nodejs", &["-e", "--eval", "-p", "--print"]),
    ("php", &["-r"]),
    ("lua", &["-e"]),
    ("luajit", &["-e"]),
    ("Rscript", &["-e"]),
    ("pwsh", &["-c", "-command", "-Command"]),
    ("powershell", &["-c", "-command", "-Command"]),
    ("osascript", &["-e"]),
];

/// awk and its kin: the program is the first argument that is not an option (unless `-f`
/// names a program file), or the argument after `-e`/`--source` (gawk).
const AWKS: [&str; 4] = ["awk", "gawk", "mawk", "nawk"];

/// `program`'s base name without a version suffix (`/usr/bin/python3.12` → `python`).
fn base(program: &str) -> &str {
    let name = program.rsplit('/').next().unwrap_or(program);
    name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.')
}

/// Whether `arg` is `flag`, or a cluster of one-letter options ending in it (`-Bc` for `-c`).
fn is_flag(arg: &str, flag: &str) -> bool {
    if arg == flag {
        return true;
    }
    let (Some(letter), Some(cluster)) = (flag.strip_prefix('-'), arg.strip_prefix('-')) else {
        return false;
    };
    letter.len() == 1
        && !cluster.starts_with('-')
        && cluster.len() > 1
        && cluster.chars().all(|c| c.is_ascii_alphabetic())
        && cluster.ends_with(letter)
}

/// The indices in `argv` of arguments that an interpreter runs as code.
pub fn inline_code<S: AsRef<str>>(argv: &[S]) -> Vec<usize> {
    let args: Vec<&str> = argv.iter().map(AsRef::as_ref).collect();
    let mut code = Vec::new();
    for (i, program) in args.iter().enumerate() {
        let name = base(program);
        if let Some((_, flags)) = INLINE_CODE_FLAGS.iter().find(|(n, _)| *n == name) {
            for (j, arg) in args.iter().enumerate().skip(i + 1) {
                if flags.iter().any(|f| is_flag(arg, f)) && j + 1 < args.len() {
                    code.push(j + 1);
                }
            }
        } else if AWKS.contains(&name) {
            code.extend(awk_program(&args, i));
        }
    }
    code.sort_unstable();
    code.dedup();
    code
}

/// The index of the program text of the awk at `at`.
fn awk_program(args: &[&str], at: usize) -> Option<usize> {
    let mut j = at + 1;
    while j < args.len() {
        match args[j] {
            "-f" | "--file" => return None,
            "-e" | "--source" => return (j + 1 < args.len()).then_some(j + 1),
            "-F" | "-v" | "--assign" | "--field-separator" => j += 2,
            "--" => return (j + 1 < args.len()).then_some(j + 1),
            a if a.starts_with('-') && a.len() > 1 => j += 1,
            _ => return Some(j),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_code_of_interpreters_and_nothing_else() {
        assert_eq!(inline_code(&["python3", "-c", "print(1)"]), [2]);
        assert_eq!(inline_code(&["/usr/bin/python3.12", "-Bc", "x", "y"]), [2]);
        assert_eq!(inline_code(&["/usr/bin/env", "perl", "-e", "x"]), [3]);
        assert_eq!(inline_code(&["node", "--eval", "x"]), [2]);
        assert_eq!(inline_code(&["awk", "-F", ":", "{print $1}", "f"]), [3]);
        assert_eq!(inline_code(&["gawk", "-e", "BEGIN{}", "f"]), [2]);
        assert!(inline_code(&["awk", "-f", "prog.awk", "data"]).is_empty());
        assert!(inline_code(&["python3", "script.py", "arg"]).is_empty());
        assert!(inline_code(&["/bin/echo", "-e", "x"]).is_empty());
        assert!(inline_code(&["python3", "-c"]).is_empty());
    }
}
