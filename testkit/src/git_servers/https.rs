//! [`HttpsGitServer`]: Git's smart HTTP protocol over TLS from Debian's nginx, fcgiwrap and
//! `git-http-backend`, on a loopback port, with basic authentication and a certificate signed
//! by a CA of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use super::process::{ServerProcess, bare_repo, program, wait_listening_at};
use super::tls::TestCa;
use crate::netns::Netns;
use std::net::{IpAddr, SocketAddr};

const GIT_HTTP_BACKEND: &str = "/usr/lib/git-core/git-http-backend";

/// A running HTTPS Git server; nginx and fcgiwrap are killed when it drops.
pub struct HttpsGitServer {
    /// The address nginx listens on (127.0.0.1 unless started with [`HttpsGitServer::start_in`]).
    pub ip: IpAddr,
    /// The port nginx listens on.
    pub port: u16,
    /// The user basic authentication accepts.
    pub username: String,
    /// The password basic authentication accepts.
    pub password: String,
    /// The CA that signed the server's certificate.
    pub ca: TestCa,
    dir: tempfile::TempDir,
    // Dropped in this order: nginx first, then fcgiwrap behind it.
    _nginx: ServerProcess,
    _fcgiwrap: ServerProcess,
}

fn nginx_config(dir: &Path, ip: IpAddr, port: u16) -> String {
    let d = dir.display();
    format!(
        r#"# Test server: one process as root (fcgiwrap's socket is in a private temp dir).
user root;
master_process off;
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/nginx-access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    client_max_body_size 0;
    server {{
        listen {ip}:{port} ssl;
        ssl_certificate {d}/server.pem;
        ssl_certificate_key {d}/server-key.pem;
        location ~ ^/git(/.*)$ {{
            auth_basic "git";
            auth_basic_user_file {d}/htpasswd;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME {GIT_HTTP_BACKEND};
            fastcgi_param GIT_PROJECT_ROOT {d}/repos;
            fastcgi_param GIT_HTTP_EXPORT_ALL "";
            fastcgi_param PATH_INFO $1;
            fastcgi_param REMOTE_USER $remote_user;
            fastcgi_pass unix:{d}/fcgiwrap.sock;
        }}
    }}
}}
"#
    )
}

impl HttpsGitServer {
    /// Starts nginx and fcgiwrap in a new temp dir and waits until nginx accepts connections.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_in(None, IpAddr::from([127, 0, 0, 1])).await
    }

    /// Like [`HttpsGitServer::start`], inside network namespace `netns` (when given), listening
    /// on `ip` (which its certificate names).
    pub async fn start_in(netns: Option<&Netns>, ip: IpAddr) -> anyhow::Result<Self> {
        let (nginx, fcgiwrap) = (program("nginx")?, program("fcgiwrap")?);
        anyhow::ensure!(
            Path::new(GIT_HTTP_BACKEND).is_file(),
            "{GIT_HTTP_BACKEND} is missing (Debian package git)"
        );
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        for sub in ["repos", "tmp"] {
            std::fs::create_dir_all(d.join(sub))?;
        }
        let ca = TestCa::new(d, "ca")?;
        let mut sans = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        sans.push(ip.to_string());
        ca.issue_server_for(d, &sans)?;
        let (username, password) = (
            "deploy".to_string(),
            format!("pw-{}", crate::net::free_port()),
        );
        // nginx's {PLAIN} scheme: good enough for a throwaway test server.
        std::fs::write(
            d.join("htpasswd"),
            format!("{username}:{{PLAIN}}{password}\n"),
        )?;
        let port = crate::net::free_port();
        std::fs::write(d.join("nginx.conf"), nginx_config(d, ip, port))?;
        let command = |program: &Path| match netns {
            Some(ns) => ns.command(program),
            None => Command::new(program),
        };

        let socket = d.join("fcgiwrap.sock");
        let mut fcgi_cmd = command(&fcgiwrap);
        fcgi_cmd
            .arg("-c")
            .arg("1")
            .arg("-s")
            .arg(format!("unix:{}", socket.display()));
        let mut fcgi = ServerProcess::spawn("fcgiwrap", fcgi_cmd, &d.join("fcgiwrap.log"))?;
        crate::wait::until("fcgiwrap's socket", crate::GUARD, async || {
            fcgi.check_running()?;
            Ok(socket.exists().then_some(()))
        })
        .await?;

        let mut nginx_cmd = command(&nginx);
        nginx_cmd
            .arg("-p")
            .arg(d)
            .arg("-e")
            .arg(d.join("nginx-error.log"))
            .arg("-c")
            .arg(d.join("nginx.conf"));
        let mut nginx = ServerProcess::spawn("nginx", nginx_cmd, &d.join("nginx.log"))?;
        wait_listening_at(&mut nginx, SocketAddr::new(ip, port), netns)
            .await
            .with_context(|| nginx_log(d))?;
        Ok(Self {
            ip,
            port,
            username,
            password,
            ca,
            dir,
            _nginx: nginx,
            _fcgiwrap: fcgi,
        })
    }

    /// The server's folder (logs, config, repositories).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates the bare repository `<name>.git` (HEAD `main`, pushes allowed); returns its path.
    pub fn create_repo(&self, name: &str) -> anyhow::Result<PathBuf> {
        bare_repo(&self.dir.path().join("repos"), name)
    }

    /// The HTTPS URL of repository `name` (no credentials in it).
    pub fn url(&self, name: &str) -> String {
        format!(
            "https://{}/git/{name}.git",
            SocketAddr::new(self.ip, self.port)
        )
    }

    /// Writes `password` to a file (mode 0600) in the server's folder and returns its path.
    pub fn password_file(&self, file_name: &str, password: &str) -> anyhow::Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(file_name);
        std::fs::write(&path, format!("{password}\n"))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(path)
    }
}

fn nginx_log(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default();
    format!("nginx error log:\n{log}")
}
