//! Log merging as its own component: the log lines of an order come from every domain it
//! addresses (StreamIntentLogs over the domain's shared channel), tagged with the domain and
//! merged into one stream as they arrive. A domain that cannot stream is skipped (logged); a
//! domain stream that fails ends that domain's part only. The merge ends at shutdown.

use crate::domain_channels::DomainChannels;
use crate::model::Order;
use futures::{Stream, StreamExt};
use maestro_common::grpc::MAX_MESSAGE_BYTES;
use maestro_proto::intent::v1 as pb;
use pb::intent_service_client::IntentServiceClient;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::SystemTime;
use tokio_util::sync::CancellationToken;

/// One log line of an order, as a site reported it through its domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLogLine {
    /// The domain it came through.
    pub domain: String,
    /// The site.
    pub site: String,
    /// The blueprint that logged it.
    pub blueprint: String,
    /// Intent generation the blueprint ran.
    pub generation: u64,
    /// When the site observed it.
    pub observed_at: Option<SystemTime>,
    /// Level, as the site gave it.
    pub level: String,
    /// The text.
    pub message: String,
    /// Position in the domain's log (increasing per domain).
    pub sequence: u64,
}

impl OrderLogLine {
    fn from_domain(domain: &str, record: pb::IntentLogRecord) -> Self {
        let pb::IntentLogRecord {
            intent_id: _,
            site,
            blueprint,
            generation,
            observed_at,
            level,
            message,
            sequence,
        } = record;
        Self {
            domain: domain.to_string(),
            site,
            blueprint,
            generation,
            observed_at: observed_at.and_then(|t| SystemTime::try_from(t).ok()),
            level,
            message,
            sequence,
        }
    }
}

/// The merged log lines of an order.
pub type OrderLogStream = Pin<Box<dyn Stream<Item = OrderLogLine> + Send + 'static>>;

/// Why an order's logs cannot be streamed.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// None of the order's domains could stream logs.
    #[error("no domain of the order could stream logs")]
    NoDomain,
}

/// Opens and merges the log streams of orders.
#[derive(Debug, Clone)]
pub struct OrderLogs {
    channels: DomainChannels,
    shutdown: CancellationToken,
}

impl OrderLogs {
    /// Log streams over `channels`, ended at `shutdown`.
    pub fn new(channels: DomainChannels, shutdown: CancellationToken) -> Self {
        Self { channels, shutdown }
    }

    /// The log lines of `order` from all its domains; with `follow`, new lines keep coming.
    pub async fn open(&self, order: &Order, follow: bool) -> Result<OrderLogStream, LogsError> {
        let mut streams: Vec<OrderLogStream> = Vec::new();
        for (domain, intent_ids) in intents_by_domain(order) {
            match self.open_domain(&domain, intent_ids, follow).await {
                Ok(s) => streams.push(s),
                Err(e) => {
                    tracing::warn!(domain = %domain, error = %e, "domain logs unavailable; skipping")
                }
            }
        }
        if streams.is_empty() && !order.items.is_empty() {
            return Err(LogsError::NoDomain);
        }
        let stop = self.shutdown.clone().cancelled_owned();
        Ok(Box::pin(
            futures::stream::select_all(streams).take_until(stop),
        ))
    }

    async fn open_domain(
        &self,
        domain: &str,
        intent_ids: Vec<String>,
        follow: bool,
    ) -> Result<OrderLogStream, tonic::Status> {
        let channel = self
            .channels
            .channel(domain)
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let mut client =
            IntentServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let records = client
            .stream_intent_logs(pb::StreamIntentLogsRequest { intent_ids, follow })
            .await?
            .into_inner();
        let domain = domain.to_string();
        let lines = records
            .take_while(|r| {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "domain log stream failed");
                }
                futures::future::ready(r.is_ok())
            })
            .filter_map(move |r| {
                futures::future::ready(r.ok().map(|l| OrderLogLine::from_domain(&domain, l)))
            });
        Ok(Box::pin(lines))
    }
}

/// The intent ids of `order` per domain, each once, in item order.
fn intents_by_domain(order: &Order) -> BTreeMap<String, Vec<String>> {
    let mut by_domain: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (domain, intent) in order.intent_ids() {
        let list = by_domain.entry(domain.to_string()).or_default();
        if !list.iter().any(|i| i == intent) {
            list.push(intent.to_string());
        }
    }
    by_domain
}

impl From<OrderLogLine> for maestro_proto::order::v1::OrderLogRecord {
    fn from(l: OrderLogLine) -> Self {
        let OrderLogLine {
            domain,
            site,
            blueprint,
            generation,
            observed_at,
            level,
            message,
            sequence,
        } = l;
        Self {
            domain,
            site,
            blueprint,
            generation,
            observed_at: observed_at.map(Into::into),
            level,
            message,
            sequence,
        }
    }
}
