//! [`GitSettings`]: how a component reaches its Git remote, the same section (`git`) in the
//! domain orchestrator's and the site agent's config.

use std::path::{Path, PathBuf};

use maestro_common::FieldError;
use serde::{Deserialize, Serialize};

use crate::remote_url::{RemoteKind, classify};

/// Default of [`GitSettings::timeout_secs`].
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Default of [`GitSettings::deadline_secs`].
pub const DEFAULT_DEADLINE_SECS: u64 = 600;
/// Default of [`GitSettings::max_transfer_bytes`] (1 GiB).
pub const DEFAULT_MAX_TRANSFER_BYTES: u64 = 1 << 30;

/// Transport settings of a Git remote. Secrets are never inline: a password or token comes from
/// `password_file` or the environment variable `password_env` names, read when it is needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GitSettings {
    /// PEM bundle of the CA(s) that may sign an HTTPS remote's certificate. When set, only
    /// these are trusted; otherwise the platform's roots are.
    pub ca: Option<PathBuf>,
    /// User name for HTTPS basic authentication.
    pub username: Option<String>,
    /// File holding the HTTPS password or token (one line; a trailing newline is ignored).
    pub password_file: Option<PathBuf>,
    /// Name of the environment variable holding the HTTPS password or token.
    pub password_env: Option<String>,
    /// Private key (deploy key) for an SSH remote.
    pub ssh_key: Option<PathBuf>,
    /// The pinned host keys of an SSH remote (OpenSSH `known_hosts` format); a host whose key
    /// is not in it is refused.
    pub known_hosts: Option<PathBuf>,
    /// Seconds to connect, and the longest wait for the next byte (read or write).
    pub timeout_secs: u64,
    /// Seconds one HTTPS request or one SSH session may take in all.
    pub deadline_secs: u64,
    /// Most bytes one request may send or receive.
    pub max_transfer_bytes: u64,
}

impl Default for GitSettings {
    fn default() -> Self {
        Self {
            ca: None,
            username: None,
            password_file: None,
            password_env: None,
            ssh_key: None,
            known_hosts: None,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            deadline_secs: DEFAULT_DEADLINE_SECS,
            max_transfer_bytes: DEFAULT_MAX_TRANSFER_BYTES,
        }
    }
}

fn path_set(field: &str, path: Option<&Path>) -> Result<(), FieldError> {
    match path {
        Some(p) if p.as_os_str().is_empty() => Err(FieldError::new(field, "must not be empty")),
        _ => Ok(()),
    }
}

fn env_name(field: &str, name: &str) -> Result<(), FieldError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && name.len() <= 128 {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{name:?} is not an environment variable name (letters, digits, _)"),
        ))
    }
}

impl GitSettings {
    /// True when a password source is configured.
    pub fn has_password(&self) -> bool {
        self.password_file.is_some() || self.password_env.is_some()
    }

    /// Checks the settings on their own; errors name `<field>.<key>` (e.g. `git.username`).
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        let key = |k: &str| format!("{field}.{k}");
        path_set(&key("ca"), self.ca.as_deref())?;
        path_set(&key("password_file"), self.password_file.as_deref())?;
        path_set(&key("ssh_key"), self.ssh_key.as_deref())?;
        path_set(&key("known_hosts"), self.known_hosts.as_deref())?;
        if let Some(user) = &self.username
            && (user.is_empty()
                || user.len() > 256
                || user.contains(':')
                || user.chars().any(char::is_control))
        {
            return Err(FieldError::new(
                key("username"),
                "must be 1-256 characters without ':' or control characters",
            ));
        }
        if let Some(name) = &self.password_env {
            env_name(&key("password_env"), name)?;
        }
        if self.password_file.is_some() && self.password_env.is_some() {
            return Err(FieldError::new(
                key("password_env"),
                "set password_file or password_env, not both",
            ));
        }
        if self.has_password() && self.username.is_none() {
            return Err(FieldError::new(
                key("username"),
                "required when password_file or password_env is set",
            ));
        }
        if !(1..=3600).contains(&self.timeout_secs) {
            return Err(FieldError::new(key("timeout_secs"), "must be 1..=3600"));
        }
        if self.deadline_secs < self.timeout_secs || self.deadline_secs > 86_400 {
            return Err(FieldError::new(
                key("deadline_secs"),
                "must be at least timeout_secs and at most 86400",
            ));
        }
        if self.max_transfer_bytes < 64 * 1024 {
            return Err(FieldError::new(
                key("max_transfer_bytes"),
                "must be at least 65536",
            ));
        }
        Ok(())
    }

    /// Checks the settings together with the remote they are for: `remote_field` names the
    /// remote's key (e.g. `git_remote`), `field` the settings section (e.g. `git`).
    pub fn validate_for(
        &self,
        field: &str,
        remote_field: &str,
        remote: &str,
    ) -> Result<(), FieldError> {
        self.validate(field)?;
        let key = |k: &str| format!("{field}.{k}");
        let kind = classify(remote).map_err(|reason| FieldError::new(remote_field, reason))?;
        match kind {
            RemoteKind::Ssh(_) => {
                if self.ssh_key.is_none() {
                    return Err(FieldError::new(
                        key("ssh_key"),
                        "required for an ssh remote",
                    ));
                }
                if self.known_hosts.is_none() {
                    return Err(FieldError::new(
                        key("known_hosts"),
                        "required for an ssh remote: the pinned host keys (hosts are never trusted on first use)",
                    ));
                }
                if self.has_password() || self.username.is_some() {
                    return Err(FieldError::new(
                        key("username"),
                        "an ssh remote authenticates with ssh_key only; the user goes in the URL (ssh://git@host/path)",
                    ));
                }
            }
            RemoteKind::Http if self.has_password() || self.username.is_some() => {
                return Err(FieldError::new(
                    key("username"),
                    "credentials are sent only over https:// (this remote is http://)",
                ));
            }
            RemoteKind::Local if self.has_password() || self.username.is_some() => {
                return Err(FieldError::new(
                    key("username"),
                    "a local repository takes no credentials",
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn https() -> GitSettings {
        GitSettings {
            username: Some("deploy".into()),
            password_file: Some("/run/secrets/git".into()),
            ..GitSettings::default()
        }
    }

    fn ssh() -> GitSettings {
        GitSettings {
            ssh_key: Some("/etc/maestro/deploy_key".into()),
            known_hosts: Some("/etc/maestro/known_hosts".into()),
            ..GitSettings::default()
        }
    }

    #[test]
    fn defaults_are_valid_for_a_path_remote() {
        let s = GitSettings::default();
        assert_eq!(
            s.validate_for("git", "git_remote", "/srv/git/north.git"),
            Ok(())
        );
        assert_eq!(
            s.validate_for("git", "git_remote", "https://git.example/north.git"),
            Ok(())
        );
    }

    #[test]
    fn complete_settings_are_valid() {
        assert_eq!(
            https().validate_for("git", "git_remote", "https://git.example/n.git"),
            Ok(())
        );
        assert_eq!(
            ssh().validate_for("git", "git_remote", "ssh://git@git.example:2222/srv/n.git"),
            Ok(())
        );
        assert_eq!(
            ssh().validate_for("git", "git_remote", "git@git.example:n.git"),
            Ok(())
        );
    }

    #[test]
    fn errors_name_the_key() {
        let remote = "https://git.example/n.git";
        let cases: Vec<(GitSettings, &str, &str)> = vec![
            (
                GitSettings {
                    username: None,
                    ..https()
                },
                remote,
                "git.username",
            ),
            (
                GitSettings {
                    username: Some("a:b".into()),
                    ..https()
                },
                remote,
                "git.username",
            ),
            (
                GitSettings {
                    password_env: Some("TOKEN".into()),
                    ..https()
                },
                remote,
                "git.password_env",
            ),
            (
                GitSettings {
                    password_file: None,
                    password_env: Some("1X".into()),
                    ..https()
                },
                remote,
                "git.password_env",
            ),
            (
                GitSettings {
                    ca: Some(PathBuf::new()),
                    ..https()
                },
                remote,
                "git.ca",
            ),
            (
                GitSettings {
                    timeout_secs: 0,
                    ..https()
                },
                remote,
                "git.timeout_secs",
            ),
            (
                GitSettings {
                    deadline_secs: 1,
                    ..https()
                },
                remote,
                "git.deadline_secs",
            ),
            (
                GitSettings {
                    max_transfer_bytes: 1,
                    ..https()
                },
                remote,
                "git.max_transfer_bytes",
            ),
            (https(), "http://git.example/n.git", "git.username"),
            (https(), "/srv/git/n.git", "git.username"),
            (
                GitSettings {
                    ssh_key: None,
                    ..ssh()
                },
                "ssh://git@h/n.git",
                "git.ssh_key",
            ),
            (
                GitSettings {
                    known_hosts: None,
                    ..ssh()
                },
                "ssh://git@h/n.git",
                "git.known_hosts",
            ),
            (
                GitSettings {
                    username: Some("x".into()),
                    ..ssh()
                },
                "ssh://git@h/n.git",
                "git.username",
            ),
            (
                https(),
                "https://deploy:s3cret@git.example/n.git",
                "git_remote",
            ),
            (ssh(), "ssh://git@h/n.git;rm -rf", "git_remote"),
        ];
        for (settings, remote, key) in cases {
            let err = settings
                .validate_for("git", "git_remote", remote)
                .unwrap_err();
            assert_eq!(err.field, key, "{remote}: {err}");
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let s: GitSettings =
            serde_json::from_str(r#"{"username": "u", "password_file": "/p"}"#).unwrap();
        assert_eq!(s.timeout_secs, DEFAULT_TIMEOUT_SECS);
        assert!(serde_json::from_str::<GitSettings>(r#"{"password": "inline"}"#).is_err());
    }
}
