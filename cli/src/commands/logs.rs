//! `logs --order ID [--follow]`. Following survives disconnects: the stream is reopened with
//! backoff and records already shown (at or below the last sequence seen per domain) are skipped.

use crate::client::MaestroClient;
use crate::error::{CliError, CliResult};
use crate::output::{self, Output};
use crate::view::LogRecordView;
use futures::StreamExt;
use maestro_common::backoff::Backoff;
use maestro_proto::order::v1::{OrderLogRecord, StreamOrderLogsRequest};
use std::collections::HashMap;
use std::time::Duration;

/// The last sequence shown per domain; decides which records of a reopened stream are new.
#[derive(Debug, Default)]
pub struct ResumePoint {
    last: HashMap<String, u64>,
}

impl ResumePoint {
    /// Whether `record` is new (and remembers it): sequences at or below the last one shown for
    /// its domain are repeats. Records without a sequence are always shown.
    pub fn admit(&mut self, record: &OrderLogRecord) -> bool {
        if record.sequence == 0 {
            return true;
        }
        let last = self.last.entry(record.domain.clone()).or_insert(0);
        if record.sequence <= *last {
            return false;
        }
        *last = record.sequence;
        true
    }
}

/// Streams the order's records to stdout until the stream ends, or with `follow` until
/// interrupted, reconnecting after a disconnect without repeating records.
pub async fn stream(
    client: &MaestroClient,
    order: &str,
    follow: bool,
    out: Output,
) -> CliResult<()> {
    let mut seen = ResumePoint::default();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        let result = stream_once(client, order, follow, out, &mut seen, &mut backoff).await;
        match result {
            Ok(()) if !follow => return Ok(()),
            Err(e) if !follow => return Err(e),
            Err(e @ (CliError::NotFound(_) | CliError::Invalid(_) | CliError::Config(_))) => {
                return Err(e);
            }
            Ok(()) => super::note("log stream ended; reconnecting"),
            Err(e) => super::note(&format!("log stream interrupted ({e}); reconnecting")),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

async fn stream_once(
    client: &MaestroClient,
    order: &str,
    follow: bool,
    out: Output,
    seen: &mut ResumePoint,
    backoff: &mut Backoff,
) -> CliResult<()> {
    let req = StreamOrderLogsRequest {
        id: order.to_string(),
        follow,
    };
    let mut stream = client.call(client.orders().stream_order_logs(req)).await?;
    backoff.reset();
    while let Some(item) = stream.next().await {
        let record = item.map_err(|status| CliError::from_status("log stream", &status))?;
        if seen.admit(&record) {
            super::emit(&output::log_record(&LogRecordView::from(&record), out));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(domain: &str, sequence: u64) -> OrderLogRecord {
        OrderLogRecord {
            domain: domain.into(),
            sequence,
            ..Default::default()
        }
    }

    #[test]
    fn a_reopened_stream_skips_what_was_shown_per_domain() {
        let mut p = ResumePoint::default();
        assert!(p.admit(&rec("north", 1)));
        assert!(p.admit(&rec("north", 2)));
        assert!(p.admit(&rec("south", 1)), "sequences are per domain");
        // Reconnected: the domains replay from the start.
        assert!(!p.admit(&rec("north", 1)));
        assert!(!p.admit(&rec("north", 2)));
        assert!(!p.admit(&rec("south", 1)));
        assert!(p.admit(&rec("north", 3)));
        assert!(p.admit(&rec("south", 2)));
        assert!(p.admit(&rec("north", 0)), "no sequence: always shown");
    }
}
