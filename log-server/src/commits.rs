//! Commit notices: the domain orchestrator announces the commit it pushed last, and the domain's
//! sites follow the announcements so they fetch at once instead of waiting for their next poll.
//!
//! A notice is a hint, never a source of truth: a site still fetches the commit from Git and
//! verifies it there, so a wrong notice costs one fetch. Notices live in memory only; the
//! orchestrator announces again after a restart of either side.

use futures::{Stream, StreamExt};
use maestro_common::FieldError;
use maestro_proto::logs::v1 as proto;
use std::pin::Pin;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::CancellationToken;

/// The commit announced last, and who follows it.
#[derive(Debug)]
pub(crate) struct CommitBoard {
    latest: watch::Sender<Option<proto::CommitNotice>>,
}

impl Default for CommitBoard {
    fn default() -> Self {
        Self {
            latest: watch::channel(None).0,
        }
    }
}

/// The stream a follower gets.
pub(crate) type NoticeStream =
    Pin<Box<dyn Stream<Item = Result<proto::CommitNotice, tonic::Status>> + Send>>;

/// Checks that `commit` is a Git object id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
pub fn check_commit(field: &str, commit: &str) -> Result<(), FieldError> {
    if maestro_common::ids::is_commit_id(commit) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "must be a commit id of 40 or 64 lowercase hex digits",
        ))
    }
}

impl CommitBoard {
    /// Stores `commit` as the latest announcement (followers are told only when it changed);
    /// returns how many followers there are.
    pub(crate) fn announce(&self, commit: String) -> Result<usize, FieldError> {
        check_commit("commit", &commit)?;
        let now = maestro_common::time::now_millis();
        self.latest.send_if_modified(|latest| {
            if latest.as_ref().is_some_and(|n| n.commit == commit) {
                return false;
            }
            *latest = Some(proto::CommitNotice {
                commit,
                announced_at: Some(maestro_common::time::timestamp(now)),
            });
            true
        });
        Ok(self.latest.receiver_count())
    }

    /// The latest announcement at once (when there is one), then each new one, until `shutdown`.
    pub(crate) fn follow(&self, shutdown: CancellationToken) -> NoticeStream {
        let notices = WatchStream::new(self.latest.subscribe())
            .filter_map(|n| std::future::ready(n.map(Ok)))
            .take_until(shutdown.cancelled_owned());
        Box::pin(notices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "89abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn only_commit_ids_are_announced() {
        let board = CommitBoard::default();
        for bad in [
            "",
            "main",
            &A[..39],
            &A.to_uppercase(),
            &format!("{A}0"),
            "../../etc",
        ] {
            assert!(board.announce(bad.to_string()).is_err(), "{bad:?}");
        }
        assert!(board.announce(A.to_string()).is_ok());
        assert!(board.announce(format!("{A}{}", &B[..24])).is_ok());
    }

    #[tokio::test]
    async fn a_follower_gets_the_latest_commit_then_each_new_one_once() {
        let board = CommitBoard::default();
        let stop = CancellationToken::new();
        board.announce(A.into()).unwrap();
        let mut follower = board.follow(stop.clone());
        let first = follower.next().await.unwrap().unwrap();
        assert_eq!(first.commit, A);
        assert_eq!(board.announce(A.into()).unwrap(), 1, "one follower");
        board.announce(B.into()).unwrap();
        let second = follower.next().await.unwrap().unwrap();
        assert_eq!(
            second.commit, B,
            "the repeated announcement of A was not sent again"
        );
        stop.cancel();
        assert!(
            follower.next().await.is_none(),
            "the stream ends at shutdown"
        );
    }
}
