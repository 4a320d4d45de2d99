use super::*;
use crate::FieldError;

/// How the fake component behaves once started.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize, PartialEq)]
enum Behaviour {
    /// Stops when shutdown is requested.
    #[default]
    Drains,
    /// Stops on its own right away.
    Ends,
    /// Never stops.
    Hangs,
    /// Refuses its config while starting.
    Rejects,
    /// Fails to start.
    Fails,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Fake {
    behaviour: Behaviour,
    port: u16,
    health: Option<SocketAddr>,
}

impl Validate for Fake {
    fn validate(&self) -> Result<(), FieldError> {
        if self.port == 1 {
            return Err(FieldError::new("port", "is reserved"));
        }
        Ok(())
    }
}

impl Service for Fake {
    const NAME: &'static str = "fake";
    const SERVICE: &'static str = "fake";

    fn health_listen(&self) -> Option<SocketAddr> {
        self.health
    }

    async fn start(self, shutdown: CancellationToken) -> Result<Started, StartError> {
        let task = match self.behaviour {
            Behaviour::Drains => tokio::spawn(async move { shutdown.cancelled().await }),
            Behaviour::Ends => tokio::spawn(async {}),
            Behaviour::Hangs => tokio::spawn(std::future::pending()),
            Behaviour::Rejects => {
                return Err(StartError::Config("git_remote: no repository".into()));
            }
            Behaviour::Fails => return Err(StartError::Failed("port in use".into())),
        };
        Ok(Started {
            addr: SocketAddr::from(([127, 0, 0, 1], self.port)),
            task,
        })
    }
}

fn fake(behaviour: Behaviour) -> Fake {
    Fake {
        behaviour,
        port: 0,
        health: None,
    }
}

#[tokio::test]
async fn the_health_probe_says_serving_while_the_component_runs() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let shutdown = CancellationToken::new();
    let config = Fake {
        health: Some(addr),
        ..fake(Behaviour::Drains)
    };
    let run = tokio::spawn(serve_until(config, shutdown.clone()));
    let serving = async {
        loop {
            let mut c = HealthClient::new(crate::grpc::channel(&format!("http://{addr}")).unwrap());
            if let Ok(r) = c.check(HealthCheckRequest::default()).await
                && r.into_inner().status == ServingStatus::Serving as i32
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("the probe reports SERVING once the component started");
    shutdown.cancel();
    assert!(run.await.unwrap().is_ok());
}

#[tokio::test]
async fn a_requested_shutdown_ends_cleanly() {
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(serve_until(fake(Behaviour::Drains), shutdown.clone()));
    shutdown.cancel();
    assert!(run.await.unwrap().is_ok());
}

#[tokio::test]
async fn stopping_on_its_own_is_a_failure() {
    let e = serve_until(fake(Behaviour::Ends), CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("stopped unexpectedly"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn a_drain_longer_than_the_limit_is_a_failure() {
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    let e = serve_until(fake(Behaviour::Hangs), shutdown)
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("did not stop within 30s"), "{e}");
}

#[tokio::test]
async fn start_errors_keep_their_exit_status() {
    let e = serve_until(fake(Behaviour::Rejects), CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 64);
    assert_eq!(
        e.to_string(),
        "invalid config: fake: git_remote: no repository"
    );
    let e = serve_until(fake(Behaviour::Fails), CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert_eq!(e.to_string(), "starting fake: port in use");
}

#[test]
fn load_validates_naming_the_key() {
    let sources = Sources {
        env: vec![("MAESTRO_PORT".into(), "1".into())],
        ..Sources::default()
    };
    let e = LaunchError::from(load::<Fake>(&sources).unwrap_err());
    assert_eq!(e.exit_code(), 64);
    assert_eq!(e.to_string(), "invalid config: port: is reserved");
    let sources = Sources {
        env: vec![("MAESTRO_BEHAVIOUR".into(), "Ends".into())],
        ..Sources::default()
    };
    assert_eq!(load::<Fake>(&sources).unwrap().behaviour, Behaviour::Ends);
}
