//! The Docker Engine the Docker tests need, provided by the project's `scripts/docker.sh`, and
//! removing what a test made on it.

use std::collections::HashMap;

use bollard::Docker;
use bollard::errors::Error;
use bollard::models::ContainerSummary;
use bollard::query_parameters::{
    ListContainersOptions, RemoveContainerOptions, RemoveVolumeOptions,
};

/// The engine socket `scripts/docker.sh` provides.
pub const SOCKET: &str = "/var/run/docker.sock";

/// Runs `scripts/docker.sh` (an engine on [`SOCKET`] and the local busybox images) once per test
/// binary; panics with the script's output when it fails, so a test never passes without an
/// engine.
pub fn ensure_docker() {
    crate::scripts::ensure("docker.sh", "a Docker Engine");
}

/// Connects bollard to the engine on [`SOCKET`].
pub async fn connect() -> anyhow::Result<Docker> {
    Ok(
        Docker::connect_with_socket(SOCKET, 120, bollard::API_DEFAULT_VERSION)?
            .negotiate_version()
            .await?,
    )
}

/// Every container, in any state, matching all of `filters` (Docker's list filters, e.g.
/// `("label", "key=value")` or `("name", "prefix")`).
pub async fn containers(
    docker: &Docker,
    filters: &[(&str, String)],
) -> anyhow::Result<Vec<ContainerSummary>> {
    let mut by_kind: HashMap<String, Vec<String>> = HashMap::new();
    for (kind, value) in filters {
        by_kind
            .entry(kind.to_string())
            .or_default()
            .push(value.clone());
    }
    Ok(docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(by_kind),
            ..Default::default()
        }))
        .await?)
}

/// What a test made on the engine: containers carrying any of `labels` (`key=value`) or whose
/// name contains any of `names`, in any state, and the named `volumes`.
#[derive(Debug, Clone, Default)]
pub struct Sweep {
    /// Label filters, `key=value`.
    pub labels: Vec<String>,
    /// Name filters (a container matches when its name contains one).
    pub names: Vec<String>,
    /// Volume names.
    pub volumes: Vec<String>,
}

impl Sweep {
    /// Force-removes every matching container (with its anonymous volumes), then the volumes;
    /// what is already gone is no error.
    pub async fn run(&self) -> anyhow::Result<()> {
        let docker = connect().await?;
        let filters = (self.labels.iter().map(|l| ("label", l.clone())))
            .chain(self.names.iter().map(|n| ("name", n.clone())));
        for filter in filters {
            for c in containers(&docker, &[filter]).await? {
                let options = RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                };
                match docker
                    .remove_container(&c.id.unwrap_or_default(), Some(options))
                    .await
                {
                    Ok(())
                    | Err(Error::DockerResponseServerError {
                        status_code: 404 | 409,
                        ..
                    }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for v in &self.volumes {
            match docker
                .remove_volume(v, Some(RemoveVolumeOptions { force: true }))
                .await
            {
                Ok(())
                | Err(Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// Runs its [`Sweep`] when dropped, so a failing test leaves nothing behind on the engine.
/// Declare it before the components that make containers, so it runs after they stopped.
#[derive(Debug, Default)]
pub struct SweepGuard(pub Sweep);

impl Drop for SweepGuard {
    fn drop(&mut self) {
        // Drop cannot await: a thread with its own runtime.
        let sweep = self.0.clone();
        let joined = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(sweep.run()))
        })
        .join();
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("cleanup of {:?} failed: {e:#}", self.0),
            Err(_) => eprintln!("cleanup of {:?} panicked", self.0),
        }
    }
}
