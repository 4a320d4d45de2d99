//! Telling the sites that Git moved: every commit the domain pushes is announced to the domain's
//! log server, which passes it on to the sites that follow it (`WatchCommits`), so a site fetches
//! at once instead of at its next poll. Connections stay outbound from the sites.
//!
//! [`Announcing`] wraps the domain's [`BlueprintRepo`] and records the branch head after every
//! publish; [`announce`] sends the latest head to the log server whenever it changes, and again
//! every [`REANNOUNCE`] so a log server that restarted (it keeps notices in memory) learns it.
//! A notice is only a hint: sites fetch and verify what they apply from Git.

use crate::git::{BlueprintRepo, GitError, Published};
use maestro_common::backoff::Backoff;
use maestro_common::tls::TlsSource;
use maestro_proto::logs::v1::AnnounceCommitRequest;
use maestro_proto::logs::v1::log_service_client::LogServiceClient;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often the current head is announced again when nothing changed.
pub const REANNOUNCE: Duration = Duration::from_secs(60);
/// How long one announcement may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before asking again a log server that does not take announcements (an older one).
const UNSUPPORTED_PAUSE: Duration = Duration::from_secs(300);

/// A [`BlueprintRepo`] that records the branch head after every successful publish.
pub struct Announcing {
    inner: Arc<dyn BlueprintRepo>,
    head: watch::Sender<Option<String>>,
}

impl Announcing {
    /// Wraps `inner`; the receiver sees the head after each publish (changed or not).
    pub fn new(inner: Arc<dyn BlueprintRepo>) -> (Self, watch::Receiver<Option<String>>) {
        let (head, rx) = watch::channel(None);
        (Self { inner, head }, rx)
    }
}

impl BlueprintRepo for Announcing {
    fn publish(
        &self,
        files: &BTreeMap<String, String>,
        message: &str,
    ) -> Result<Published, GitError> {
        let published = self.inner.publish(files, message)?;
        Ok(self.note_head(published))
    }

    fn publish_new(
        &self,
        files: &BTreeMap<String, String>,
        message: &str,
    ) -> Result<Published, GitError> {
        let published = self.inner.publish_new(files, message)?;
        Ok(self.note_head(published))
    }

    fn compact_if_needed(&self) {
        self.inner.compact_if_needed();
    }
}

impl Announcing {
    /// Sends the head of `published` to the receiver when it moved.
    fn note_head(&self, published: Published) -> Published {
        self.head.send_if_modified(|head| {
            let changed = head.as_deref() != Some(published.commit.as_str());
            if changed {
                *head = Some(published.commit.clone());
            }
            changed
        });
        published
    }
}

/// Announces the head `heads` holds to the log server at `endpoint` (mutual TLS with `tls`, the
/// log server presenting this domain's own identity) until `shutdown`: at once when it changes,
/// again every [`REANNOUNCE`], retrying with backoff while the log server is unreachable.
pub async fn announce(
    mut heads: watch::Receiver<Option<String>>,
    endpoint: String,
    tls: Option<TlsSource>,
    shutdown: CancellationToken,
) {
    let channel = match maestro_common::grpc::channel_with(
        &endpoint,
        tls.as_ref(),
        tls.as_ref().map(|t| t.identity().role),
    ) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, endpoint, "invalid log server endpoint; commits are not announced");
            return;
        }
    };
    let mut client = LogServiceClient::new(channel);
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    // The head last announced successfully.
    let mut announced: Option<String> = None;
    loop {
        let head = heads.borrow_and_update().clone();
        let wait = match head {
            Some(commit) if announced.as_ref() != Some(&commit) => {
                let call = client.announce_commit(AnnounceCommitRequest {
                    commit: commit.clone(),
                });
                let result = tokio::select! {
                    () = shutdown.cancelled() => return,
                    r = tokio::time::timeout(CALL_TIMEOUT, call) => r,
                };
                match result {
                    Ok(Ok(reply)) => {
                        tracing::debug!(
                            commit,
                            watchers = reply.get_ref().watchers,
                            "commit announced"
                        );
                        backoff.reset();
                        announced = Some(commit);
                        REANNOUNCE
                    }
                    Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => {
                        tracing::info!(
                            endpoint,
                            "the log server takes no commit announcements; sites find new commits by polling"
                        );
                        UNSUPPORTED_PAUSE
                    }
                    Ok(Err(status)) => {
                        tracing::debug!(error = %status.message(), "announcing a commit failed; retrying");
                        backoff.next_delay()
                    }
                    Err(_) => backoff.next_delay(),
                }
            }
            _ => REANNOUNCE,
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = heads.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(wait) => {
                // Due again: a log server that restarted has forgotten it.
                announced = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::GitError;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts the compactions asked of it.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl BlueprintRepo for Counting {
        fn publish(&self, _: &BTreeMap<String, String>, _: &str) -> Result<Published, GitError> {
            Ok(Published {
                commit: "c1".into(),
                changed: true,
            })
        }

        fn compact_if_needed(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_wrapped_repository_is_compacted_and_its_heads_announced() {
        let inner = Arc::new(Counting::default());
        let (announcing, heads) = Announcing::new(inner.clone());
        announcing.publish(&BTreeMap::new(), "m").unwrap();
        assert_eq!(heads.borrow().as_deref(), Some("c1"));
        // The domain wraps its Git publisher in this: without the call passed on, it would never
        // compact.
        announcing.compact_if_needed();
        assert_eq!(inner.0.load(Ordering::SeqCst), 1);
    }
}
