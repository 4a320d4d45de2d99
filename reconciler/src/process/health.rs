//! A `ProcessDeployment`'s health check (`spec.healthCheck`): what makes an instance healthy,
//! not just running. One of
//!
//! - `tcp: {port}` — a TCP connection to `127.0.0.1:port` is accepted;
//! - `http: {port, path = "/"}` — `GET path` on `127.0.0.1:port` answers 2xx or 3xx;
//! - `command: [program, args…]` — the program (run directly, never through a shell) exits 0;
//!
//! each within `timeoutSeconds` (default 2, at most 30). A new instance must pass it within
//! `startSeconds` (default 30, at most 600) or its start fails, and the instance it was to
//! replace keeps running. The check runs on every observation: an instance that fails it counts
//! as not ready in the blueprint's status.
//!
//! Invariants: probes only reach the site's own loopback; a command's program and arguments
//! are data, never shell text.

use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::values::scalar;

const MAX_TIMEOUT_SECS: u64 = 30;
const MAX_START_SECS: u64 = 600;
/// Most bytes of an HTTP reply read (the status line is all that counts).
const MAX_REPLY_BYTES: usize = 4096;

/// What is probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A TCP connection to the loopback port.
    Tcp {
        /// The port.
        port: u16,
    },
    /// An HTTP GET on the loopback port.
    Http {
        /// The port.
        port: u16,
        /// The path, starting with `/`.
        path: String,
    },
    /// A program that must exit 0.
    Command {
        /// The program and its arguments.
        argv: Vec<String>,
    },
}

/// A health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// What is probed.
    pub probe: Probe,
    /// How long one probe may take.
    pub timeout: Duration,
    /// How long a new instance has to pass it.
    pub start: Duration,
}

fn port(v: Option<&Value>, field: &str) -> Result<u16, String> {
    v.and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    })
    .and_then(|n| u16::try_from(n).ok())
    .filter(|p| *p > 0)
    .ok_or(format!("{field}: a port from 1 to 65535"))
}

fn seconds(v: Option<&Value>, field: &str, default: u64, max: u64) -> Result<Duration, String> {
    match v {
        None | Some(Value::Null) => Ok(Duration::from_secs(default)),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|n| (1..=max).contains(n))
            .map(Duration::from_secs)
            .ok_or(format!("{field}: an integer from 1 to {max}")),
    }
}

impl HealthCheck {
    /// Reads `spec.healthCheck`; `None` when absent. The error names the field.
    pub fn from_json(v: Option<&Value>) -> Result<Option<Self>, String> {
        let obj = match v {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(o)) => o,
            Some(_) => return Err("spec.healthCheck: not an object".into()),
        };
        let at = "spec.healthCheck";
        if let Some(k) = obj.keys().find(|k| {
            !matches!(
                k.as_str(),
                "tcp" | "http" | "command" | "timeoutSeconds" | "startSeconds"
            )
        }) {
            return Err(format!("{at}.{k}: unknown field"));
        }
        let probes = ["tcp", "http", "command"]
            .iter()
            .filter(|k| obj.contains_key(**k))
            .count();
        if probes != 1 {
            return Err(format!("{at}: give exactly one of tcp, http, command"));
        }
        let probe = if let Some(t) = obj.get("tcp") {
            Probe::Tcp {
                port: port(t.get("port"), &format!("{at}.tcp.port"))?,
            }
        } else if let Some(h) = obj.get("http") {
            let path = match h.get("path") {
                None | Some(Value::Null) => "/".to_string(),
                Some(Value::String(p))
                    if p.starts_with('/')
                        && p.len() <= 1024
                        && p.bytes().all(|b| b.is_ascii_graphic()) =>
                {
                    p.clone()
                }
                Some(_) => {
                    return Err(format!(
                        "{at}.http.path: a path starting with / (visible ASCII, at most 1024 bytes)"
                    ));
                }
            };
            Probe::Http {
                port: port(h.get("port"), &format!("{at}.http.port"))?,
                path,
            }
        } else {
            let argv: Vec<String> = match obj.get("command") {
                Some(Value::Array(a)) if !a.is_empty() => a
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        scalar(v).ok_or_else(|| format!("{at}.command[{i}]: not a string"))
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(format!("{at}.command: a non-empty list (program, args…)")),
            };
            if !argv[0].starts_with('/') {
                return Err(format!("{at}.command[0]: an absolute program path"));
            }
            Probe::Command { argv }
        };
        Ok(Some(Self {
            probe,
            timeout: seconds(
                obj.get("timeoutSeconds"),
                &format!("{at}.timeoutSeconds"),
                2,
                MAX_TIMEOUT_SECS,
            )?,
            start: seconds(
                obj.get("startSeconds"),
                &format!("{at}.startSeconds"),
                30,
                MAX_START_SECS,
            )?,
        }))
    }

    /// The canonical form (for status and logs).
    pub fn canonical(&self) -> Value {
        let probe = match &self.probe {
            Probe::Tcp { port } => json!({"tcp": {"port": port}}),
            Probe::Http { port, path } => json!({"http": {"port": port, "path": path}}),
            Probe::Command { argv } => json!({"command": argv}),
        };
        let mut v = probe;
        v["timeoutSeconds"] = json!(self.timeout.as_secs());
        v["startSeconds"] = json!(self.start.as_secs());
        v
    }

    /// Probes once; the error says what failed.
    pub async fn check(&self) -> Result<(), String> {
        match tokio::time::timeout(self.timeout, self.probe_once()).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {}s", self.timeout.as_secs())),
        }
    }

    async fn probe_once(&self) -> Result<(), String> {
        match &self.probe {
            Probe::Tcp { port } => tokio::net::TcpStream::connect(("127.0.0.1", *port))
                .await
                .map(|_| ())
                .map_err(|e| format!("tcp 127.0.0.1:{port}: {e}")),
            Probe::Http { port, path } => http_ok(*port, path).await,
            Probe::Command { argv } => {
                let status = tokio::process::Command::new(&argv[0])
                    .args(&argv[1..])
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .status()
                    .await
                    .map_err(|e| format!("running {}: {e}", argv[0]))?;
                if status.success() {
                    Ok(())
                } else {
                    Err(format!("{} exited with {status}", argv[0]))
                }
            }
        }
    }

    /// Probes until it passes or [`HealthCheck::start`] is over; the last error otherwise.
    pub async fn wait_healthy(&self) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + self.start;
        loop {
            let last = match self.check().await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(last);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn http_ok(port: u16, path: &str) -> Result<(), String> {
    let at = format!("http://127.0.0.1:{port}{path}");
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("{at}: {e}"))?;
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("{at}: {e}"))?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    while reply.len() < MAX_REPLY_BYTES && !reply.windows(2).any(|w| w == b"\r\n") {
        let n = s.read(&mut buf).await.map_err(|e| format!("{at}: {e}"))?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&reply);
    let code = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("{at}: not an HTTP reply"))?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("{at}: status {code}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Option<HealthCheck>, String> {
        HealthCheck::from_json(Some(&v))
    }

    #[test]
    fn a_health_check_is_read_strictly_naming_the_field() {
        assert_eq!(HealthCheck::from_json(None).unwrap(), None);
        let tcp = parse(json!({"tcp": {"port": 8080}})).unwrap().unwrap();
        assert_eq!(tcp.probe, Probe::Tcp { port: 8080 });
        assert_eq!((tcp.timeout.as_secs(), tcp.start.as_secs()), (2, 30));
        let http = parse(json!({"http": {"port": "81"}, "startSeconds": 5}))
            .unwrap()
            .unwrap();
        assert_eq!(
            http.probe,
            Probe::Http {
                port: 81,
                path: "/".into()
            }
        );
        for (bad, field) in [
            (json!({}), "spec.healthCheck: give exactly one"),
            (
                json!({"tcp": {"port": 1}, "http": {"port": 2}}),
                "spec.healthCheck: give exactly one",
            ),
            (json!({"tcp": {"port": 0}}), "spec.healthCheck.tcp.port"),
            (
                json!({"http": {"port": 80, "path": "x"}}),
                "spec.healthCheck.http.path",
            ),
            (
                json!({"http": {"port": 80, "path": "/a b"}}),
                "spec.healthCheck.http.path",
            ),
            (json!({"command": []}), "spec.healthCheck.command"),
            (json!({"command": ["true"]}), "spec.healthCheck.command[0]"),
            (
                json!({"command": ["/bin/true"], "timeoutSeconds": 31}),
                "spec.healthCheck.timeoutSeconds",
            ),
            (
                json!({"command": ["/bin/true"], "shell": true}),
                "spec.healthCheck.shell",
            ),
        ] {
            let e = parse(bad.clone()).unwrap_err();
            assert!(e.starts_with(field), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn probes_pass_and_fail_against_real_listeners_and_programs() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let line = String::from_utf8_lossy(&buf[..n]).to_string();
                let reply = if line.starts_with("GET /ok ") {
                    "HTTP/1.0 200 OK\r\n\r\n"
                } else {
                    "HTTP/1.0 503 Unavailable\r\n\r\n"
                };
                let _ = s.write_all(reply.as_bytes()).await;
            }
        });
        let check = |probe| HealthCheck {
            probe,
            timeout: Duration::from_secs(2),
            start: Duration::from_secs(1),
        };
        assert!(check(Probe::Tcp { port }).check().await.is_ok());
        assert!(
            check(Probe::Http {
                port,
                path: "/ok".into()
            })
            .check()
            .await
            .is_ok()
        );
        let e = check(Probe::Http {
            port,
            path: "/down".into(),
        })
        .check()
        .await
        .unwrap_err();
        assert!(e.ends_with("status 503"), "{e}");
        assert!(
            check(Probe::Command {
                argv: vec!["/bin/true".into()]
            })
            .check()
            .await
            .is_ok()
        );
        let e = check(Probe::Command {
            argv: vec!["/bin/false".into()],
        })
        .check()
        .await
        .unwrap_err();
        assert!(e.contains("exited"), "{e}");
        server.abort();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let free = closed.local_addr().unwrap().port();
        drop(closed);
        let e = check(Probe::Tcp { port: free })
            .wait_healthy()
            .await
            .unwrap_err();
        assert!(e.contains(&format!("127.0.0.1:{free}")), "{e}");
    }
}
