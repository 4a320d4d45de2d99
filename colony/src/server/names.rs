//! Name validation at the edge: colony, executor and user names become parts of store keys and
//! of messages, so they must be non-empty, at most 255 bytes, and free of control characters
//! (NUL, newlines, ...). Upstream v1.9.12 checks none of this; refusing them is a deliberate
//! difference (docs/colonyos.md).

use super::error::ApiError;

/// Longest accepted name, in bytes.
const MAX_NAME_BYTES: usize = 255;

/// Fails with 400 naming `field` and the reason unless `value` is a valid name.
pub(crate) fn validate(field: &str, value: &str) -> Result<(), ApiError> {
    let reason = if value.is_empty() {
        Some("must not be empty".to_owned())
    } else if value.len() > MAX_NAME_BYTES {
        Some(format!("must be at most {MAX_NAME_BYTES} bytes"))
    } else {
        value.chars().find(|c| c.is_control()).map(|c| {
            format!(
                "must not contain control characters (found U+{:04X})",
                c as u32
            )
        })
    };
    match reason {
        Some(reason) => Err(ApiError::bad_request(format!("Invalid {field}: {reason}"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn control_characters_empty_and_long_names_are_refused_with_field_and_reason() {
        let e = validate("colony.name", "a\0b").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("colony.name") && e.message.contains("U+0000"));
        assert!(validate("user.name", "a\nb").is_err());
        assert!(validate("user.name", "").is_err());
        assert!(validate("user.name", &"x".repeat(256)).is_err());
        assert!(validate("executor.executorname", "docker-reconciler-site-1").is_ok());
        assert!(validate("colony.name", "Ünïcode name").is_ok());
    }
}
