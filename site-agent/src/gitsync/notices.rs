//! Commit notices from the domain's log server (`WatchCommits`): the site opens the stream, so
//! the connection is outbound like every other, and learns of a new commit when the domain pushes
//! it instead of at its next poll. A notice only wakes the sync: what is applied still comes from
//! Git and is verified there, so a wrong notice costs one fetch.

use maestro_common::backoff::Backoff;
use maestro_proto::logs::v1::WatchCommitsRequest;
use maestro_proto::logs::v1::log_service_client::LogServiceClient;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// Pause before asking again a log server that sends no notices (an older one).
const UNSUPPORTED_PAUSE: Duration = Duration::from_secs(300);

/// What the site knows from the notice stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notices {
    /// The stream is open: a new commit will be announced, so Git can be polled rarely.
    pub connected: bool,
    /// The commit announced last.
    pub commit: Option<String>,
}

/// Follows the notice stream of the log server behind `client` until `shutdown`, publishing
/// what it learns on `state`; reconnects with backoff when the stream breaks.
pub async fn follow(
    mut client: LogServiceClient<Channel>,
    state: watch::Sender<Notices>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    loop {
        let call = client.watch_commits(WatchCommitsRequest {});
        let opened = tokio::select! {
            () = shutdown.cancelled() => return,
            r = call => r,
        };
        match opened {
            Ok(response) => {
                backoff.reset();
                state.send_modify(|n| n.connected = true);
                let mut stream = response.into_inner();
                loop {
                    let next = tokio::select! {
                        () = shutdown.cancelled() => return,
                        m = stream.message() => m,
                    };
                    match next {
                        Ok(Some(notice)) if maestro_common::ids::is_commit_id(&notice.commit) => {
                            tracing::debug!(commit = %notice.commit, "commit announced");
                            state.send_modify(|n| n.commit = Some(notice.commit));
                        }
                        Ok(Some(notice)) => {
                            tracing::warn!(commit = %maestro_common::text::for_log(&notice.commit),
                                "ignoring a commit notice that names no commit");
                        }
                        Ok(None) => break,
                        Err(status) => {
                            tracing::debug!(error = %status.message(), "commit notices broke off");
                            break;
                        }
                    }
                }
                state.send_modify(|n| n.connected = false);
            }
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                tracing::info!(
                    "the log server sends no commit notices; polling Git at sync_interval_ms"
                );
                if maestro_common::backoff::pause(UNSUPPORTED_PAUSE, &shutdown).await {
                    return;
                }
                continue;
            }
            Err(status) => {
                tracing::debug!(error = %status.message(), "commit notices unavailable");
            }
        }
        if backoff.wait(&shutdown).await {
            return;
        }
    }
}
