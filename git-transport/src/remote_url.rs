//! What kind of remote a `git_remote` value names, and the parts of an SSH remote, checked
//! strictly: a remote URL never carries a password, and the SSH host, user and path only hold
//! characters that are safe on a command line and in the remote shell.

/// The transport a remote needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteKind {
    /// A path or `file://` URL (libgit2's local transport).
    Local,
    /// `http://` (libgit2's own plaintext transport; never with credentials).
    Http,
    /// `https://` (this crate's rustls transport).
    Https,
    /// `ssh://[user@]host[:port]/path` or `user@host:path` (this crate's ssh transport).
    Ssh(SshTarget),
}

/// Where an SSH remote is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Login user, when the URL names one.
    pub user: Option<String>,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port, when not the default.
    pub port: Option<u16>,
    /// Repository path on the server, as `git-upload-pack` takes it.
    pub path: String,
}

const PASSWORD_REFUSED: &str = "must not carry a password: put the user in git.username and the secret in git.password_file or git.password_env";

/// The path of a remote that is a local path or a `file://` URL.
pub fn local_path(remote: &str) -> Option<&std::path::Path> {
    matches!(classify(remote), Ok(RemoteKind::Local))
        .then(|| std::path::Path::new(remote.strip_prefix("file://").unwrap_or(remote)))
}

/// Classifies `remote`; the error says what is wrong without repeating any secret.
pub fn classify(remote: &str) -> Result<RemoteKind, String> {
    let remote = remote.trim();
    if remote.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some((scheme, _)) = remote.split_once("://") {
        return classify_url(scheme, remote);
    }
    // scp-like syntax: a ':' before any '/', as git reads it.
    if let Some(colon) = remote.find(':')
        && !remote[..colon].contains('/')
    {
        let (login, path) = (&remote[..colon], &remote[colon + 1..]);
        let (user, host) = match login.rsplit_once('@') {
            Some((user, host)) => (Some(user.to_string()), host),
            None => {
                return Err(format!(
                    "{remote:?} looks like host:path; write user@host:path or ssh://host/path for SSH, or ./{remote} for a local path"
                ));
            }
        };
        return ssh_target(user, host, None, path).map(RemoteKind::Ssh);
    }
    Ok(RemoteKind::Local)
}

fn classify_url(scheme: &str, remote: &str) -> Result<RemoteKind, String> {
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "file" | "http" | "https" | "ssh") {
        return Err(format!(
            "unsupported scheme {scheme:?}: use https://, ssh://, user@host:path or a local path"
        ));
    }
    let url = url::Url::parse(remote).map_err(|e| format!("not a valid URL: {e}"))?;
    if url.password().is_some() {
        return Err(PASSWORD_REFUSED.into());
    }
    match scheme.as_str() {
        "file" => Ok(RemoteKind::Local),
        "http" | "https" => {
            if !url.username().is_empty() {
                return Err("must not carry a user name: put it in git.username".into());
            }
            if url.host_str().is_none_or(str::is_empty) {
                return Err("has no host".into());
            }
            Ok(if scheme == "https" {
                RemoteKind::Https
            } else {
                RemoteKind::Http
            })
        }
        _ => {
            let host = url.host_str().ok_or("has no host")?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let user = Some(url.username().to_string()).filter(|u| !u.is_empty());
            let path = url.path();
            // ssh://host/~/repo and ssh://host/~user/repo are relative to a home directory.
            let path = path
                .strip_prefix('/')
                .filter(|p| p.starts_with('~'))
                .unwrap_or(path);
            ssh_target(user, host, url.port(), path).map(RemoteKind::Ssh)
        }
    }
}

fn ssh_target(
    user: Option<String>,
    host: &str,
    port: Option<u16>,
    path: &str,
) -> Result<SshTarget, String> {
    if let Some(u) = &user {
        let ok = !u.is_empty()
            && !u.starts_with('-')
            && u.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !ok {
            return Err("the SSH user may hold only letters, digits, '.', '_' and '-'".into());
        }
    }
    let host_ok = !host.is_empty()
        && !host.starts_with('-')
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c));
    if !host_ok {
        return Err(
            "the SSH host may hold only letters, digits, '.', '-' (or an IP address)".into(),
        );
    }
    let path_ok = !path.is_empty()
        && !path.starts_with('-')
        && path.len() <= 1024
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/~+-".contains(c))
        && !path.split('/').any(|part| part == "..");
    if !path_ok {
        return Err(
            "the SSH repository path may hold only letters, digits and . _ / ~ + - (no '..')"
                .into(),
        );
    }
    Ok(SshTarget {
        user,
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(remote: &str) -> SshTarget {
        match classify(remote) {
            Ok(RemoteKind::Ssh(t)) => t,
            other => panic!("{remote}: {other:?}"),
        }
    }

    #[test]
    fn kinds_are_recognised() {
        assert_eq!(classify("/srv/git/n.git"), Ok(RemoteKind::Local));
        assert_eq!(classify("./repos/n.git"), Ok(RemoteKind::Local));
        assert_eq!(classify("file:///srv/git/n.git"), Ok(RemoteKind::Local));
        assert_eq!(
            classify("http://127.0.0.1:8080/n.git"),
            Ok(RemoteKind::Http)
        );
        assert_eq!(classify("HTTPS://git.example/n.git"), Ok(RemoteKind::Https));
    }

    #[test]
    fn ssh_remotes_are_split() {
        let t = ssh("ssh://git@git.example:2222/srv/git/n.git");
        assert_eq!(
            (t.user.as_deref(), t.host.as_str(), t.port, t.path.as_str()),
            (Some("git"), "git.example", Some(2222), "/srv/git/n.git")
        );
        let t = ssh("deploy@10.0.0.5:repos/n.git");
        assert_eq!(
            (t.user.as_deref(), t.host.as_str(), t.port, t.path.as_str()),
            (Some("deploy"), "10.0.0.5", None, "repos/n.git")
        );
        assert_eq!(ssh("ssh://h/~/n.git").path, "~/n.git");
        assert_eq!(ssh("ssh://[::1]:22/n.git").host, "::1");
    }

    #[test]
    fn unsafe_or_secret_bearing_remotes_are_refused() {
        for bad in [
            "https://u:s3cret@git.example/n.git",
            "ssh://git:s3cret@h/n.git",
            "https://u@git.example/n.git",
            "ssh://git@h/n.git;touch x",
            "ssh://git@h/n'.git",
            "ssh://git@h/$(id)",
            "git@h:../etc",
            "ssh://-oProxyCommand=x/n.git",
            "git@-oProxyCommand=x:n.git",
            "git@h:-n.git",
            "ftp://h/n.git",
            "git://h/n.git",
            "host:path.git",
            "",
        ] {
            let err = classify(bad).expect_err(bad);
            assert!(!err.contains("s3cret"), "{bad}: {err}");
        }
    }
}
