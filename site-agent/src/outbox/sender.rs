//! The task that drains the outbox into the log server.

use std::time::Duration;

use maestro_common::backoff::Backoff;
use maestro_common::identity::Role;
use maestro_common::tls::TlsSource;
use maestro_proto::logs::v1::PushRequest;
use maestro_proto::logs::v1::log_service_client::LogServiceClient;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use super::Outbox;

/// How often the outbox is flushed while a push is in flight: the agent's database has no
/// background flush, and a push on a silently dead connection may take the whole call deadline.
/// The same as the longest retry back-off (each attempt flushes first), so a queued record is on
/// disk at most this long after it was queued.
const FLUSH_WHILE_PUSHING: Duration = MAX_RETRY_DELAY;

/// The longest wait between two attempts while the log server is unreachable or refuses pushes.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

/// How much later than the heartbeat's period a frame from the log server may come before the
/// site pings it. The heartbeat's push and its answer cross the connection every
/// `heartbeat_interval_ms`, which keeps NAT bindings (idle timeouts of minutes) alive and, being a
/// frame from the server, resets the site's keep-alive timer: a live link is never pinged.
pub const LATE_ANSWER_GRACE: Duration = Duration::from_secs(5);

/// The keep-alive of the site's connection to its log server when it sends a heartbeat every
/// `heartbeat`: the site pings only when a heartbeat's answer is late, so a link that died
/// silently under the commit notice stream and the outbox is found within this plus
/// [`maestro_common::grpc::KEEPALIVE_TIMEOUT`] (25 s at the default 10 s heartbeat), and both
/// reconnect. A fixed long keep-alive left a silently dead link in use for over a minute.
pub fn log_server_keepalive(heartbeat: Duration) -> Duration {
    heartbeat.saturating_add(LATE_ANSWER_GRACE)
}

/// A client of the domain's log server at `endpoint`, shared by the outbox and the commit
/// notices (one connection), for a site that sends a heartbeat every `heartbeat`. With `tls`, the
/// connection is mutual TLS and the server must present the certificate of this site's domain.
/// It pings after [`log_server_keepalive`] of silence instead of the usual 10 s (a site's uplink
/// is metered, and the heartbeat answers keep the connection busy anyway).
pub fn log_server_client(
    endpoint: &str,
    tls: Option<&TlsSource>,
    heartbeat: Duration,
) -> Result<LogServiceClient<Channel>, String> {
    let expect = tls.map(|t| match t.identity().role {
        Role::Site { domain, .. } => Role::Domain { domain },
        other => other,
    });
    let channel = maestro_common::grpc::channel_with_keepalive(
        endpoint,
        tls,
        expect,
        log_server_keepalive(heartbeat),
    )
    .map_err(|e| format!("log server endpoint {endpoint}: {e}"))?;
    Ok(LogServiceClient::new(channel)
        .max_decoding_message_size(maestro_common::grpc::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(maestro_common::grpc::MAX_MESSAGE_BYTES))
}

/// Flushes the outbox's database when something besides heartbeats changed since the last
/// flush; whether it flushed.
async fn flush(outbox: &Outbox) -> Result<bool, sled::Error> {
    let Some(changes) = outbox.unflushed() else {
        return Ok(false);
    };
    maestro_common::durable::flush(&outbox.db).await?;
    outbox.flushed(changes);
    Ok(true)
}

/// [`run_sender_on`] a client of the log server at `endpoint` ([`log_server_client`], for the
/// default heartbeat); `Err` at once, with the reason, for an endpoint no client can be made of.
pub async fn run_sender(
    outbox: Outbox,
    endpoint: String,
    tls: Option<TlsSource>,
    shutdown: CancellationToken,
) -> Result<(), String> {
    let heartbeat = Duration::from_millis(crate::config::DEFAULT_HEARTBEAT_INTERVAL_MS);
    let client = log_server_client(&endpoint, tls.as_ref(), heartbeat)?;
    run_sender_on(outbox, client, shutdown).await;
    Ok(())
}

/// Pushes outbox records to the log server behind `client` in order until `shutdown`, retrying
/// with backoff while it is unreachable (or refuses the push, e.g. over its rate limit). Records
/// stay on disk until acknowledged (or dropped by the outbox bound).
pub async fn run_sender_on(
    outbox: Outbox,
    mut client: LogServiceClient<Channel>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(100), MAX_RETRY_DELAY);
    // After a batch the log server refused as invalid, its records go one at a time, so that the
    // one it will never take is found and dropped instead of blocking everything behind it.
    let mut singly = 0usize;
    loop {
        let notified = outbox.notify.notified();
        let peeked = if singly > 0 {
            outbox.peek_at_most(1)
        } else {
            outbox.peek()
        };
        let batch = match peeked {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "reading outbox");
                outbox.release();
                Vec::new()
            }
        };
        if batch.is_empty() {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = notified => continue,
                // Re-check now and then in case a notification raced with the read.
                () = tokio::time::sleep(Duration::from_secs(5)) => continue,
            }
        }
        // Durable before sent: a sequence the log server has seen must never be handed out
        // again after a crash here (it would drop the new record as a resend), and the agent's
        // database has no background flush: this is also what makes records queued during an
        // outage durable, at the next attempt. Heartbeats alone need no flush (see the module).
        if let Err(e) = flush(&outbox).await {
            tracing::error!(error = %e, "flushing the outbox before a push");
            outbox.release();
            if backoff.wait(&shutdown).await {
                return;
            }
            continue;
        }
        let (keys, records): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let push = client.push(PushRequest { records });
        tokio::pin!(push);
        // A push on a connection that died silently takes until the call deadline (30 s) to
        // fail; what is queued meanwhile is flushed every FLUSH_WHILE_PUSHING, so a record is on
        // disk at most that long after it was queued, whatever the link does.
        let result = loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                r = &mut push => break r,
                () = tokio::time::sleep(FLUSH_WHILE_PUSHING) => {
                    // Every record counted here is in the tree before the flush starts.
                    let records = outbox.len();
                    match flush(&outbox).await {
                        Ok(false) => {}
                        Ok(true) => tracing::debug!(records, "outbox flushed while a push is in flight"),
                        Err(e) => tracing::error!(error = %e, "flushing the outbox while a push is in flight"),
                    }
                }
            }
        };
        match result {
            Ok(_) => {
                backoff.reset();
                singly = singly.saturating_sub(1);
                if let Err(e) = outbox.ack(&keys) {
                    tracing::error!(error = %e, "removing acknowledged records");
                }
            }
            Err(status) if status.code() == tonic::Code::InvalidArgument && keys.len() > 1 => {
                outbox.release();
                tracing::warn!(error = %status.message(), records = keys.len(),
                    "the log server refused a batch as invalid; sending its records one at a time");
                singly = keys.len();
            }
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                // Retrying would be refused for ever and hold back every later record.
                tracing::error!(error = %status.message(), "the log server refused a record as invalid; dropping it");
                singly = singly.saturating_sub(1);
                if let Err(e) = outbox.ack(&keys) {
                    tracing::error!(error = %e, "removing the refused record");
                }
                outbox.log(
                    "error",
                    "",
                    "outbox",
                    format!(
                        "a record was refused by the log server and dropped: {}",
                        maestro_common::text::truncated(status.message(), 512)
                    ),
                );
            }
            Err(status) => {
                outbox.release();
                tracing::warn!(error = %status.message(), code = ?status.code(), attempt = backoff.attempts() + 1,
                    pending = outbox.len(), "log server push failed");
                if backoff.wait(&shutdown).await {
                    return;
                }
            }
        }
    }
}
