//! Names that may become paths (sites, blueprints, services, domains, kinds).

use crate::FieldError;
use std::fmt;

/// Longest accepted name.
pub const MAX_NAME_LEN: usize = 63;

/// A validated name: 1..=63 chars of `[A-Za-z0-9._-]`, starting with an alphanumeric,
/// never `.`/`..`, never containing `/`, `\`, control characters or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ResourceName(String);

impl ResourceName {
    /// Validates `value` as the field `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldError> {
        validate_name(field, value)?;
        Ok(Self(value.to_string()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ResourceName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for ResourceName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        validate_name("name", &s).map_err(serde::de::Error::custom)?;
        Ok(Self(s))
    }
}

/// Checks that `value` is safe to use as one path component.
pub fn validate_name(field: &str, value: &str) -> Result<(), FieldError> {
    let err = |reason: &str| Err(FieldError::new(field, reason));
    if value.is_empty() {
        return err("must not be empty");
    }
    if value.len() > MAX_NAME_LEN {
        return err(&format!("longer than {MAX_NAME_LEN} characters"));
    }
    if value.contains('/') || value.contains('\\') {
        return err("must not contain '/' or '\\'");
    }
    if value.contains("..") {
        return err("must not contain '..'");
    }
    if value.chars().any(char::is_control) {
        return err("must not contain control characters");
    }
    if !value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        return err("must start with a letter or digit");
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return err(&format!(
            "character {c:?} not allowed (use letters, digits, '-', '_', '.')"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for ok in ["web", "north-1", "a.b_c", "X9"] {
            assert!(validate_name("f", ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_path_like_names() {
        for bad in [
            "",
            "a/b",
            "..",
            "a..b",
            "../etc",
            ".hidden",
            "-x",
            "a\nb",
            "a b",
            "a\\b",
            &"x".repeat(64),
        ] {
            let e = validate_name("service.name", bad).unwrap_err();
            assert_eq!(e.field, "service.name", "{bad}");
        }
    }
}
