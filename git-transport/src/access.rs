//! [`RemoteAccess`]: the checked, loaded settings of one remote, and the scope that makes a
//! fetch or push on this thread use them.

use std::cell::RefCell;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::remote_url::{RemoteKind, classify};
use crate::secret::PasswordSource;
use crate::{GitSettings, TransportError, ensure_registered};

/// What the transports need for one remote, loaded once.
pub(crate) struct Resolved {
    pub settings: GitSettings,
    pub password: PasswordSource,
    /// The HTTPS client (only built for an https remote).
    pub agent: Option<ureq::Agent>,
}

thread_local! {
    /// The settings of the fetch or push running on this thread (see [`RemoteAccess::run`]).
    static CURRENT: RefCell<Option<Arc<Resolved>>> = const { RefCell::new(None) };
}

/// The settings in scope on this thread, else the defaults (platform roots, no credentials).
pub(crate) fn current() -> Result<Arc<Resolved>, String> {
    if let Some(r) = CURRENT.with(|c| c.borrow().clone()) {
        return Ok(r);
    }
    static DEFAULT: OnceLock<Result<Arc<Resolved>, String>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            let settings = GitSettings::default();
            let agent = crate::https::build_agent(&settings).map_err(|e| e.to_string())?;
            Ok(Arc::new(Resolved {
                settings,
                password: PasswordSource::None,
                agent: Some(agent),
            }))
        })
        .clone()
}

/// Restores the previous settings of the thread when dropped (also on panic).
struct Scope(Option<Arc<Resolved>>);

impl Scope {
    fn enter(next: Arc<Resolved>) -> Self {
        Self(CURRENT.with(|c| c.borrow_mut().replace(next)))
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// How to reach one Git remote: its settings, checked and loaded (CA bundle, the HTTPS client,
/// the SSH key and pinned host keys present). Cheap to clone. The default has no settings of
/// its own: a local path works, an https remote is checked against the platform's roots with
/// no credentials, an ssh remote is refused for want of a key.
#[derive(Clone, Default)]
pub struct RemoteAccess {
    inner: Option<Arc<Resolved>>,
    kind: Option<RemoteKind>,
}

impl std::fmt::Debug for RemoteAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteAccess")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

fn readable(path: &Path) -> Result<(), TransportError> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|source| TransportError::Read {
            path: path.display().to_string(),
            source,
        })
}

impl RemoteAccess {
    /// Loads `settings` for `remote`. The settings should have passed
    /// [`GitSettings::validate_for`]; files are checked here (so a component fails at start-up).
    pub fn new(remote: &str, settings: &GitSettings) -> Result<Self, TransportError> {
        let kind = classify(remote).map_err(|reason| TransportError::Invalid {
            path: "git remote".into(),
            reason,
        })?;
        let password = match (&settings.password_file, &settings.password_env) {
            (Some(file), _) => PasswordSource::File(file.clone()),
            (None, Some(name)) => PasswordSource::Env(name.clone()),
            (None, None) => PasswordSource::None,
        };
        let mut agent = None;
        match &kind {
            RemoteKind::Https => {
                agent = Some(crate::https::build_agent(settings)?);
                // Fail early on a missing file or variable; the value is read again per request.
                password.read()?;
            }
            RemoteKind::Ssh(_) => {
                for path in [&settings.ssh_key, &settings.known_hosts]
                    .into_iter()
                    .flatten()
                {
                    readable(path)?;
                }
            }
            RemoteKind::Local | RemoteKind::Http => {}
        }
        Ok(Self {
            inner: Some(Arc::new(Resolved {
                settings: settings.clone(),
                password,
                agent,
            })),
            kind: Some(kind),
        })
    }

    /// Runs `f` (a blocking git2 fetch or push on this thread) with these settings in scope.
    pub fn run<T>(&self, f: impl FnOnce() -> Result<T, git2::Error>) -> Result<T, git2::Error> {
        ensure_registered().map_err(|e| git2::Error::from_str(&e.to_string()))?;
        let _scope = self.inner.clone().map(Scope::enter);
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_restore() {
        let outer = RemoteAccess::new("/srv/git/a.git", &GitSettings::default()).unwrap();
        let inner = RemoteAccess::new("/srv/git/b.git", &GitSettings::default()).unwrap();
        let ptr = |a: &RemoteAccess| Arc::as_ptr(a.inner.as_ref().unwrap());
        outer
            .run(|| {
                assert_eq!(Arc::as_ptr(&current().unwrap()), ptr(&outer));
                inner.run(|| {
                    assert_eq!(Arc::as_ptr(&current().unwrap()), ptr(&inner));
                    Ok(())
                })?;
                assert_eq!(Arc::as_ptr(&current().unwrap()), ptr(&outer));
                RemoteAccess::default().run(|| {
                    assert_eq!(Arc::as_ptr(&current().unwrap()), ptr(&outer));
                    Ok(())
                })
            })
            .unwrap();
        assert!(CURRENT.with(|c| c.borrow().is_none()));
    }

    #[test]
    fn missing_files_fail_early() {
        let settings = GitSettings {
            ssh_key: Some("/nonexistent/key".into()),
            known_hosts: Some("/nonexistent/known_hosts".into()),
            ..GitSettings::default()
        };
        let err = RemoteAccess::new("ssh://git@h/n.git", &settings).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/key"), "{err}");
        let settings = GitSettings {
            ca: Some("/nonexistent/ca.pem".into()),
            ..GitSettings::default()
        };
        let err = RemoteAccess::new("https://h/n.git", &settings).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
