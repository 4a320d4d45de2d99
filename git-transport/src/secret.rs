//! The HTTPS password or token: where it comes from, read only when a request needs it, and a
//! type that never shows its value.

use std::io::Read;
use std::path::PathBuf;

use crate::TransportError;

/// Largest password file read.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// A secret value; `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the password is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// No password.
    None,
    /// A file (its first line).
    File(PathBuf),
    /// An environment variable of the process.
    Env(String),
}

impl PasswordSource {
    /// Reads the password now (so a rotated file or variable takes effect at the next request).
    pub fn read(&self) -> Result<Option<Secret>, TransportError> {
        match self {
            PasswordSource::None => Ok(None),
            PasswordSource::File(path) => read_file(path).map(Some),
            PasswordSource::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(Some(Secret(v))),
                _ => Err(TransportError::MissingEnv { name: name.clone() }),
            },
        }
    }
}

fn read_file(path: &PathBuf) -> Result<Secret, TransportError> {
    let shown = path.display().to_string();
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SECRET_BYTES + 1).read_to_string(&mut text))
        .map_err(|source| TransportError::Read {
            path: shown.clone(),
            source,
        })?;
    if text.len() as u64 > MAX_SECRET_BYTES {
        return Err(TransportError::Invalid {
            path: shown,
            reason: format!("larger than {MAX_SECRET_BYTES} bytes"),
        });
    }
    let value = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r');
    if value.is_empty() {
        return Err(TransportError::Invalid {
            path: shown,
            reason: "the first line is empty".into(),
        });
    }
    Ok(Secret(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_file_gives_its_first_line_and_never_shows_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let secret = PasswordSource::File(path.clone()).read().unwrap().unwrap();
        assert_eq!(secret.expose(), "s3cret");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        std::fs::write(&path, "\n").unwrap();
        let err = PasswordSource::File(path).read().unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let missing = PasswordSource::File(dir.path().join("nope"))
            .read()
            .unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
    }

    #[test]
    fn a_variable_is_read_by_name() {
        // PATH is set in every test environment; the value is only compared, never shown.
        let path = std::env::var("PATH").unwrap();
        let secret = PasswordSource::Env("PATH".into()).read().unwrap().unwrap();
        assert_eq!(secret.expose(), path);
    }

    #[test]
    fn a_missing_variable_is_named_without_a_value() {
        let err = PasswordSource::Env("MAESTRO_TEST_UNSET_GIT_TOKEN_4711".into())
            .read()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("MAESTRO_TEST_UNSET_GIT_TOKEN_4711"),
            "{err}"
        );
    }
}
