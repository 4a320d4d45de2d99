//! Free text at the gRPC edge: bounded in size, and free of characters that steer a terminal
//! or reorder what a reader sees (control characters, escape sequences, bidirectional
//! overrides). Single-line text (ids, names, categories) allows no control character at all;
//! multi-line text (descriptions, notes, reasons) allows line feed and tab, nothing else.

use crate::FieldError;

/// Longest free text of one field (descriptions, reasons, notes), in bytes.
pub const MAX_FREE_TEXT_BYTES: usize = 4096;
/// Longest single-line text (external ids, categories, authors), in bytes.
pub const MAX_LINE_BYTES: usize = 256;

/// Which characters besides printable ones a text may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// One line: no control character.
    One,
    /// Several lines: line feed and tab are allowed, no other control character.
    Many,
}

/// Checks `value` as the field `field`: at most `max_bytes` bytes and no forbidden character
/// (the first one is named by its code point, never echoed raw).
pub fn check_text(
    field: &str,
    value: &str,
    max_bytes: usize,
    lines: Lines,
) -> Result<(), FieldError> {
    if value.len() > max_bytes {
        return Err(FieldError::new(
            field,
            format!("longer than {max_bytes} bytes ({} bytes)", value.len()),
        ));
    }
    let allowed = |c: char| lines == Lines::Many && (c == '\n' || c == '\t');
    if let Some((at, c)) = value
        .char_indices()
        .find(|&(_, c)| is_forbidden(c) && !allowed(c))
    {
        let what = if c.is_control() {
            "control character"
        } else {
            "bidirectional formatting character"
        };
        return Err(FieldError::new(
            field,
            format!(
                "must not contain a {what} (U+{:04X} at byte {at})",
                c as u32
            ),
        ));
    }
    Ok(())
}

/// `value` cut to at most `max_bytes` bytes at a character boundary, marked with `…` when cut
/// (the mark counts towards the bound): for text a server passes on but does not own, such as a
/// site's status message in an intent status.
pub fn truncated(value: &str, max_bytes: usize) -> String {
    const MARK: &str = "…";
    if value.len() <= max_bytes {
        return value.to_string();
    }
    let mut end = max_bytes.saturating_sub(MARK.len());
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &value[..end])
}

/// `value` as one line (every [`is_forbidden`] character a space), cut to at most `max_bytes`
/// bytes as [`truncated`] cuts: for text the process itself made from something it does not
/// control (a file's content, an error's message) on its way into a log line or a heartbeat.
pub fn one_line(value: &str, max_bytes: usize) -> String {
    let line: String = value
        .chars()
        .map(|c| if is_forbidden(c) { ' ' } else { c })
        .collect();
    truncated(&line, max_bytes)
}

/// Most labels of one domain or one site.
pub const MAX_LABELS: usize = 64;
/// Longest label key, in bytes.
pub const MAX_LABEL_KEY_BYTES: usize = 253;

/// Checks labels as maestro takes them when a domain registers: at most [`MAX_LABELS`], each
/// key non-empty and one line of at most [`MAX_LABEL_KEY_BYTES`] bytes, each value one line of at
/// most [`MAX_LINE_BYTES`] bytes. Errors name `field`, or the label as `field["key"]`.
pub fn check_labels<'a>(
    field: &str,
    labels: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(), FieldError> {
    let mut count = 0usize;
    for (k, v) in labels {
        count += 1;
        if count > MAX_LABELS {
            return Err(FieldError::new(
                field,
                format!("more than {MAX_LABELS} labels"),
            ));
        }
        let at = format!("{field}[{k:?}]");
        if k.is_empty() {
            return Err(FieldError::new(at, "the label key must not be empty"));
        }
        check_text(&at, k, MAX_LABEL_KEY_BYTES, Lines::One)
            .map_err(|e| FieldError::new(e.field, format!("label key {}", e.reason)))?;
        check_text(&at, v, MAX_LINE_BYTES, Lines::One)?;
    }
    Ok(())
}

/// Longest part of an unchecked value that [`for_log`] keeps, in bytes.
pub const MAX_LOGGED_BYTES: usize = 128;

/// An unchecked value from outside (a request's id or key, before validation) as it may go
/// into a log line or span: at most [`MAX_LOGGED_BYTES`] (cut and marked `…`), every forbidden
/// character written as an escape (`\u{1b}`), so that no caller can forge a log line, steer the
/// terminal of whoever reads the log, or fill the log with one field.
pub fn for_log(value: &str) -> String {
    let cut = truncated(value, MAX_LOGGED_BYTES);
    if !cut.chars().any(is_forbidden) {
        return cut;
    }
    cut.chars()
        .map(|c| {
            if is_forbidden(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Control characters (C0, DEL, C1: every escape sequence starts with one) and the Unicode
/// bidirectional embeddings, overrides and isolates, which make text read differently from
/// what it holds.
pub fn is_forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_logged_value_is_bounded_and_forges_no_line() {
        let forged = "abc\n2026-11-30T00:00:00Z  INFO order accepted\u{1b}[2J\u{202E}";
        let logged = super::for_log(forged);
        assert!(!logged.chars().any(super::is_forbidden), "{logged}");
        assert!(logged.starts_with("abc\\u{a}2026"), "{logged}");
        assert!(logged.contains("\\u{1b}[2J\\u{202e}"), "{logged}");
        let long = "x".repeat(10_000);
        assert!(super::for_log(&long).len() <= super::MAX_LOGGED_BYTES);
        assert_eq!(super::for_log("order-1"), "order-1");
    }

    use super::*;

    #[test]
    fn one_line_refuses_every_control_character() {
        for bad in [
            "a\u{1b}[31m",
            "a\nb",
            "tab\there",
            "del\u{7f}",
            "csi\u{9b}2J",
        ] {
            let e = check_text("f", bad, 64, Lines::One).unwrap_err();
            assert_eq!(e.field, "f");
            assert!(e.reason.contains("control character"), "{bad:?}: {e}");
        }
        assert!(check_text("f", "plain text, ünïcode ok", 64, Lines::One).is_ok());
    }

    #[test]
    fn many_lines_allow_line_feed_and_tab_only() {
        assert!(check_text("f", "line one\nline\ttwo", 64, Lines::Many).is_ok());
        for bad in ["cr\r\n", "\u{1b}]0;title\u{7}", "nul\0"] {
            assert!(check_text("f", bad, 64, Lines::Many).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bidirectional_overrides_are_refused() {
        let e = check_text("f", "abc\u{202E}fed", 64, Lines::Many).unwrap_err();
        assert!(e.reason.contains("U+202E"), "{e}");
    }

    #[test]
    fn truncation_keeps_characters_whole_and_marks_the_cut() {
        assert_eq!(truncated("short", 10), "short");
        let cut = truncated(&"é".repeat(10), 8);
        assert!(cut.len() <= 8, "{cut}");
        assert_eq!(cut, "éé…");
    }

    #[test]
    fn one_line_makes_every_forbidden_character_a_space_and_bounds_the_text() {
        assert_eq!(one_line("a\n\u{202E}b\u{1b}", 16), "a  b ");
        let cut = one_line(&"x".repeat(2000), 1024);
        assert!(cut.len() <= 1024 && cut.ends_with('…'), "{}", cut.len());
        assert_eq!(one_line("plain", 1024), "plain");
    }

    #[test]
    fn labels_are_bounded_and_one_line() {
        let ok: std::collections::BTreeMap<String, String> =
            [("ring".into(), "canary".into())].into();
        assert_eq!(check_labels("labels", &ok), Ok(()));
        let bad_value: std::collections::BTreeMap<String, String> =
            [("ring".into(), "a\nb".into())].into();
        assert_eq!(
            check_labels("labels", &bad_value).unwrap_err().field,
            r#"labels["ring"]"#
        );
        let empty_key: std::collections::BTreeMap<String, String> =
            [(String::new(), "x".into())].into();
        let e = check_labels("labels", &empty_key).unwrap_err();
        assert_eq!(e.field, r#"labels[""]"#);
        let long_key: std::collections::BTreeMap<String, String> =
            [("k".repeat(MAX_LABEL_KEY_BYTES + 1), "x".into())].into();
        let e = check_labels("labels", &long_key).unwrap_err();
        assert!(e.reason.starts_with("label key longer than"), "{e}");
        let many: std::collections::BTreeMap<String, String> = (0..=MAX_LABELS)
            .map(|i| (format!("k{i}"), String::new()))
            .collect();
        assert_eq!(check_labels("labels", &many).unwrap_err().field, "labels");
    }

    #[test]
    fn size_is_counted_in_bytes() {
        assert!(check_text("f", &"é".repeat(32), 64, Lines::One).is_ok());
        let e = check_text("f", &"é".repeat(33), 64, Lines::One).unwrap_err();
        assert!(e.reason.contains("longer than 64 bytes"), "{e}");
    }
}
