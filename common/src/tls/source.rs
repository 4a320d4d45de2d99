//! A component's TLS material that follows its files: checked every `reload_secs`, and when the
//! certificate, key or CA changed, checked again and swapped in for new connections without a
//! restart. Material that fails the checks (expired, not signed by the CA, unreadable) is
//! refused with an error in the log, and the last good material stays in use.

use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::material::Material;
use super::settings::{PemFiles, TlsError, TlsSettings};
use crate::identity::PeerIdentity;

/// Shared, reloadable TLS material of one component. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TlsSource {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: TlsSettings,
    current: RwLock<(PemFiles, Arc<Material>)>,
    /// Counts the swaps, so waiters can see a reload happen.
    swaps: watch::Sender<u64>,
}

impl TlsSource {
    /// Reads and checks the files of `settings`; `None` when they say `insecure`.
    pub fn load(settings: &TlsSettings) -> Result<Option<Self>, TlsError> {
        if settings.insecure {
            return Ok(None);
        }
        let files = settings.read()?;
        let material = Material::build(
            &files,
            &settings.cert_path(),
            &settings.ca_path(),
            SystemTime::now(),
        )?;
        Ok(Some(Self {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                current: RwLock::new((files, Arc::new(material))),
                swaps: watch::channel(0).0,
            }),
        }))
    }

    fn material(&self) -> Arc<Material> {
        self.inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }

    /// This component's identity, from its certificate.
    pub fn identity(&self) -> PeerIdentity {
        self.material().identity.clone()
    }

    /// When this component's certificate expires.
    pub fn not_after(&self) -> SystemTime {
        self.material().not_after
    }

    /// The name clients check in servers' certificates instead of the endpoint's host.
    pub fn server_name(&self) -> Option<&str> {
        self.inner.settings.server_name.as_deref()
    }

    pub(crate) fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.material().server.clone()
    }

    pub(crate) fn client_config(&self) -> Arc<rustls::ClientConfig> {
        self.material().client.clone()
    }

    /// Reads the files now; swaps in their material when they changed and pass the checks.
    /// `Ok(true)` when new material is in use.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let settings = &self.inner.settings;
        let files = settings.read()?;
        if self
            .inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .0
            == files
        {
            return Ok(false);
        }
        let material = Material::build(
            &files,
            &settings.cert_path(),
            &settings.ca_path(),
            SystemTime::now(),
        )?;
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = (files, Arc::new(material));
        self.inner.swaps.send_modify(|n| *n += 1);
        Ok(true)
    }

    /// A receiver that changes each time new material is swapped in.
    pub fn swaps(&self) -> watch::Receiver<u64> {
        self.inner.swaps.subscribe()
    }

    /// Checks the files every `reload_secs` until `shutdown`, logging each swap and each refusal
    /// (a refusal repeats only when the files change again).
    pub fn spawn_reloader(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let source = self.clone();
        let every = self.inner.settings.reload_interval();
        tokio::spawn(async move {
            let mut last_error: Option<String> = None;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                let checked = {
                    let source = source.clone();
                    tokio::task::spawn_blocking(move || source.reload()).await
                };
                match checked {
                    Ok(Ok(true)) => {
                        last_error = None;
                        tracing::info!(
                            identity = %source.identity(),
                            not_after = ?source.not_after(),
                            "TLS certificate, key or CA reloaded"
                        );
                    }
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => {
                        let text = e.to_string();
                        if last_error.as_deref() != Some(&text) {
                            tracing::error!(error = %text, "new TLS material refused; the previous one stays in use");
                            last_error = Some(text);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "TLS reload task failed"),
                }
            }
        })
    }
}
