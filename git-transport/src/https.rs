//! The `https` smart subtransport: Git's smart HTTP protocol (`GET …/info/refs?service=…`,
//! `POST …/git-upload-pack` or `…/git-receive-pack`) over `ureq` with rustls and the ring
//! provider, basic authentication from the configured secret, no redirects, and every request
//! bounded by a connect timeout, a timeout per read and write, a deadline and a size cap.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};

use crate::access::Resolved;
use crate::remote_url::{RemoteKind, classify};
use crate::{GitSettings, TransportError};

/// Largest CA bundle read.
const MAX_CA_BYTES: u64 = 4 * 1024 * 1024;
/// Sent as the user agent: servers recognise Git clients by the `git/` prefix.
const USER_AGENT: &str = "git/2.0 (maestro)";

fn load_ca(path: &std::path::Path) -> Result<Vec<Certificate<'static>>, TransportError> {
    let shown = path.display().to_string();
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CA_BYTES + 1).read_to_end(&mut pem))
        .map_err(|source| TransportError::Read {
            path: shown.clone(),
            source,
        })?;
    if pem.len() as u64 > MAX_CA_BYTES {
        return Err(TransportError::Invalid {
            path: shown,
            reason: format!("larger than {MAX_CA_BYTES} bytes"),
        });
    }
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(TransportError::Invalid {
                    path: shown,
                    reason: format!("not a PEM bundle: {e}"),
                });
            }
        }
    }
    if certs.is_empty() {
        return Err(TransportError::Invalid {
            path: shown,
            reason: "holds no certificate".into(),
        });
    }
    Ok(certs)
}

fn platform_roots() -> Result<Vec<Certificate<'static>>, TransportError> {
    let found = rustls_native_certs::load_native_certs();
    let certs: Vec<_> = found
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    if certs.is_empty() {
        let why = found
            .errors
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(TransportError::Tls(format!(
            "no platform root certificates found ({why}); set git.ca"
        )));
    }
    Ok(certs)
}

/// The HTTPS client for `settings`: only `ca`'s certificates as roots when set, else the
/// platform's; rustls with the ring provider, set explicitly.
pub(crate) fn build_agent(settings: &GitSettings) -> Result<ureq::Agent, TransportError> {
    let roots = match &settings.ca {
        Some(path) => load_ca(path)?,
        None => platform_roots()?,
    };
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(RootCerts::Specific(Arc::new(roots)))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build();
    let timeout = Some(Duration::from_secs(settings.timeout_secs));
    let config = ureq::Agent::config_builder()
        .tls_config(tls)
        .https_only(true)
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(USER_AGENT)
        .timeout_resolve(timeout)
        .timeout_connect(timeout)
        .timeout_per_read(timeout)
        .timeout_per_write(timeout)
        .timeout_global(Some(Duration::from_secs(settings.deadline_secs)))
        .build();
    Ok(ureq::Agent::new_with_config(config))
}

/// The `https` subtransport of one fetch or push.
pub(crate) struct HttpsSubtransport {
    access: Arc<Resolved>,
}

impl HttpsSubtransport {
    pub fn new(access: Arc<Resolved>) -> Self {
        Self { access }
    }
}

/// One request of the smart HTTP protocol.
#[derive(Debug, Clone)]
struct Exchange {
    /// The remote, as shown in errors (never carries credentials: such URLs are refused).
    remote: String,
    url: String,
    /// `Content-Type` of a POST; `None` for the GET of the ref advertisement.
    post: Option<&'static str>,
    /// The content type a smart server answers with.
    expect: &'static str,
}

fn exchange(remote: &str, action: Service) -> Exchange {
    let base = remote.trim_end_matches('/');
    let (url, post, expect) = match action {
        Service::UploadPackLs => (
            format!("{base}/info/refs?service=git-upload-pack"),
            None,
            "application/x-git-upload-pack-advertisement",
        ),
        Service::ReceivePackLs => (
            format!("{base}/info/refs?service=git-receive-pack"),
            None,
            "application/x-git-receive-pack-advertisement",
        ),
        Service::UploadPack => (
            format!("{base}/git-upload-pack"),
            Some("application/x-git-upload-pack-request"),
            "application/x-git-upload-pack-result",
        ),
        Service::ReceivePack => (
            format!("{base}/git-receive-pack"),
            Some("application/x-git-receive-pack-request"),
            "application/x-git-receive-pack-result",
        ),
    };
    Exchange {
        remote: base.to_string(),
        url,
        post,
        expect,
    }
}

impl SmartSubtransport for HttpsSubtransport {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        match classify(url) {
            Ok(RemoteKind::Https) => {}
            Ok(_) => return Err(git2::Error::from_str("not an https:// remote")),
            Err(reason) => return Err(git2::Error::from_str(&format!("git remote: {reason}"))),
        }
        let Some(agent) = self.access.agent.clone() else {
            return Err(git2::Error::from_str(
                "no HTTPS client was configured for this remote",
            ));
        };
        Ok(Box::new(HttpsStream {
            access: self.access.clone(),
            agent,
            exchange: exchange(url, action),
            body: Vec::new(),
            response: None,
        }))
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

/// The stream of one exchange: writes are the request body; the first read sends the request.
struct HttpsStream {
    access: Arc<Resolved>,
    agent: ureq::Agent,
    exchange: Exchange,
    body: Vec<u8>,
    response: Option<ureq::BodyReader<'static>>,
}

fn failure(remote: &str, what: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{remote}: {what}"))
}

impl HttpsStream {
    fn send(&mut self) -> io::Result<ureq::BodyReader<'static>> {
        let ex = &self.exchange;
        let password = self
            .access
            .password
            .read()
            .map_err(|e| failure(&ex.remote, e))?;
        let auth = self.access.settings.username.as_ref().map(|user| {
            let pair = format!("{user}:{}", password.as_ref().map_or("", |p| p.expose()));
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        let result = match ex.post {
            None => {
                let mut request = self.agent.get(&ex.url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            Some(content_type) => {
                let mut request = self
                    .agent
                    .post(&ex.url)
                    .header("Content-Type", content_type)
                    .header("Accept", ex.expect);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.send(&self.body[..])
            }
        };
        let response = result.map_err(|e| failure(&ex.remote, describe(&e)))?;
        let status = response.status().as_u16();
        match status {
            200 => {}
            401 => {
                return Err(failure(
                    &ex.remote,
                    "authentication failed (HTTP 401): check git.username and the password or token",
                ));
            }
            403 => return Err(failure(&ex.remote, "access denied (HTTP 403)")),
            404 => return Err(failure(&ex.remote, "repository not found (HTTP 404)")),
            300..=399 => {
                return Err(failure(
                    &ex.remote,
                    format!(
                        "redirected (HTTP {status}); redirects are not followed: set the final URL as the remote"
                    ),
                ));
            }
            _ => return Err(failure(&ex.remote, format!("unexpected HTTP {status}"))),
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !content_type.starts_with(ex.expect) {
            return Err(failure(
                &ex.remote,
                format!(
                    "not a smart Git HTTP server (content type {content_type:?}, expected {})",
                    ex.expect
                ),
            ));
        }
        Ok(response
            .into_body()
            .into_with_config()
            .limit(self.access.settings.max_transfer_bytes)
            .reader())
    }
}

/// A ureq error in words, naming timeouts and certificate problems plainly.
fn describe(e: &ureq::Error) -> String {
    let text = e.to_string();
    if text.contains("certificate") {
        let text = text.trim_start_matches("io: ");
        return format!(
            "TLS: {text} (is the server's CA the one git.ca names, or a platform root?)"
        );
    }
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::Rustls(r) => format!("TLS: {r}"),
        ureq::Error::BodyExceedsLimit(n) => {
            format!("response larger than {n} bytes (git.max_transfer_bytes)")
        }
        other => other.to_string(),
    }
}

impl Read for HttpsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.response.is_none() {
            self.response = Some(self.send()?);
        }
        let remote = &self.exchange.remote;
        match self.response.as_mut() {
            Some(r) => r.read(buf).map_err(|e| {
                match e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
                    Some(inner) => failure(remote, describe(inner)),
                    None => failure(remote, e),
                }
            }),
            None => Ok(0),
        }
    }
}

impl Write for HttpsStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.response.is_some() {
            return Err(failure(
                &self.exchange.remote,
                "request body written after the response",
            ));
        }
        if (self.body.len() + data.len()) as u64 > self.access.settings.max_transfer_bytes {
            return Err(failure(
                &self.exchange.remote,
                "request larger than git.max_transfer_bytes",
            ));
        }
        self.body.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchanges_follow_the_smart_http_protocol() {
        let ls = exchange("https://h/n.git/", Service::UploadPackLs);
        assert_eq!(ls.url, "https://h/n.git/info/refs?service=git-upload-pack");
        assert_eq!(ls.remote, "https://h/n.git");
        assert!(ls.post.is_none());
        let push = exchange("https://h/n.git", Service::ReceivePack);
        assert_eq!(push.url, "https://h/n.git/git-receive-pack");
        assert_eq!(push.post, Some("application/x-git-receive-pack-request"));
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not pem").unwrap();
        let settings = GitSettings {
            ca: Some(path),
            ..GitSettings::default()
        };
        let err = build_agent(&settings).unwrap_err();
        assert!(err.to_string().contains("ca.pem"), "{err}");
    }
}
