//! What the CLI prints for people shows every character: control characters, escape sequences
//! and bidirectional overrides from a server's text are rendered as visible escapes (`\x1b`,
//! `\n`, `\u{202e}`), so a value can neither drive the terminal nor forge lines. JSON and YAML
//! output needs none of this: serde escapes control characters in strings.

use maestro_common::text::is_forbidden;
use std::borrow::Cow;

/// `text` with every control or bidirectional formatting character written as an escape.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_forbidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_forbidden(c) && (c as u32) <= 0xff => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if is_forbidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Like [`visible`], keeping line feeds: for text that is meant to span lines (error reports).
pub fn visible_lines(text: &str) -> String {
    text.split('\n').map(visible).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_escape_sequences_become_visible() {
        assert_eq!(
            visible("\u{1b}[2J\u{1b}]0;pwned\u{7}"),
            "\\x1b[2J\\x1b]0;pwned\\x07"
        );
        assert_eq!(visible("a\nb\tc\rd\u{7f}\u{9b}"), "a\\nb\\tc\\rd\\x7f\\x9b");
        assert_eq!(visible("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert!(matches!(visible("plain ünïcode"), Cow::Borrowed(_)));
    }

    #[test]
    fn lines_stay_lines() {
        assert_eq!(visible_lines("one\u{1b}\ntwo"), "one\\x1b\ntwo");
    }
}
