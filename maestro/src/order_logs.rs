//! Log merging as its own component: the log lines of an order come from every domain it
//! addresses (through a [`DomainLogSource`]; over gRPC, StreamIntentLogs on the domain's shared
//! channel), tagged with the domain and merged into one stream as they arrive. A domain that
//! cannot stream is skipped (logged); a domain stream that fails ends that domain's part only.
//! The merge ends at shutdown.

use crate::domain_channels::DomainChannels;
use crate::model::Order;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use maestro_common::grpc::MAX_MESSAGE_BYTES;
use maestro_proto::intent::v1 as pb;
use pb::intent_service_client::IntentServiceClient;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
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
    /// One domain could not stream logs.
    #[error("domain {domain}: {reason}")]
    Domain {
        /// The domain.
        domain: String,
        /// Why.
        reason: String,
    },
}

/// The log lines of one domain's intents (ending when the domain's stream ends or fails).
pub type DomainLogLines = BoxStream<'static, OrderLogLine>;

/// Where the log lines of intents come from, per domain.
pub trait DomainLogSource: Send + Sync + std::fmt::Debug {
    /// The log lines of `intent_ids` in `domain`; with `follow`, new lines keep coming.
    fn open<'a>(
        &'a self,
        domain: &'a str,
        intent_ids: Vec<String>,
        follow: bool,
    ) -> BoxFuture<'a, Result<DomainLogLines, LogsError>>;
}

/// Opens and merges the log streams of orders.
#[derive(Debug, Clone)]
pub struct OrderLogs {
    source: Arc<dyn DomainLogSource>,
    shutdown: CancellationToken,
}

impl OrderLogs {
    /// Log streams from `source`, ended at `shutdown`.
    pub fn new(source: Arc<dyn DomainLogSource>, shutdown: CancellationToken) -> Self {
        Self { source, shutdown }
    }

    /// The log lines of `order` from all its domains; with `follow`, new lines keep coming.
    pub async fn open(&self, order: &Order, follow: bool) -> Result<OrderLogStream, LogsError> {
        let mut streams: Vec<OrderLogStream> = Vec::new();
        for (domain, intent_ids) in intents_by_domain(order) {
            match self.source.open(&domain, intent_ids, follow).await {
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
}

/// [`DomainLogSource`] over gRPC: StreamIntentLogs on the domain's shared channel.
#[derive(Debug, Clone)]
pub struct TonicLogSource {
    channels: DomainChannels,
}

impl TonicLogSource {
    /// A source over `channels`.
    pub fn new(channels: DomainChannels) -> Self {
        Self { channels }
    }

    async fn stream(
        &self,
        domain: &str,
        intent_ids: Vec<String>,
        follow: bool,
    ) -> Result<DomainLogLines, LogsError> {
        let unavailable = |reason: String| LogsError::Domain {
            domain: domain.to_string(),
            reason,
        };
        let channel = self
            .channels
            .channel(domain)
            .map_err(|e| unavailable(e.to_string()))?;
        let mut client =
            IntentServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let records = client
            .stream_intent_logs(pb::StreamIntentLogsRequest { intent_ids, follow })
            .await
            .map_err(|s| unavailable(format!("{:?}: {}", s.code(), s.message())))?
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

impl DomainLogSource for TonicLogSource {
    fn open<'a>(
        &'a self,
        domain: &'a str,
        intent_ids: Vec<String>,
        follow: bool,
    ) -> BoxFuture<'a, Result<DomainLogLines, LogsError>> {
        Box::pin(self.stream(domain, intent_ids, follow))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{add, catalog, domain};
    use crate::plan::{CurrentState, Decision, Fresh, plan};
    use std::collections::BTreeMap;

    /// Answers each domain with its lines, or with an error when it has none.
    #[derive(Debug)]
    struct FakeLogs(BTreeMap<String, Vec<OrderLogLine>>);

    impl DomainLogSource for FakeLogs {
        fn open<'a>(
            &'a self,
            domain: &'a str,
            _intent_ids: Vec<String>,
            _follow: bool,
        ) -> BoxFuture<'a, Result<DomainLogLines, LogsError>> {
            let answer = match self.0.get(domain) {
                Some(lines) => Ok(futures::stream::iter(lines.clone()).boxed()),
                None => Err(LogsError::Domain {
                    domain: domain.into(),
                    reason: "unavailable".into(),
                }),
            };
            Box::pin(std::future::ready(answer))
        }
    }

    fn line(domain: &str, sequence: u64) -> OrderLogLine {
        OrderLogLine {
            domain: domain.into(),
            site: "s1".into(),
            blueprint: "web".into(),
            generation: 1,
            observed_at: None,
            level: "info".into(),
            message: format!("line {sequence}"),
            sequence,
        }
    }

    fn order_in(domains: &[&str]) -> Order {
        let registered: Vec<_> = domains.iter().map(|d| domain(d, &[])).collect();
        let catalog = crate::offers::Offers::from(catalog());
        let inventory = BTreeMap::new();
        let state = CurrentState {
            existing: None,
            inventory: &inventory,
            domains: &registered,
            catalog: &catalog,
            rollouts: &Default::default(),
            fit: &Default::default(),
        };
        match plan(&add("k", "web", domains), state, &Fresh::new(1)).unwrap() {
            Decision::Create(p) => p.order,
            Decision::Existing(_) => unreachable!("nothing is stored"),
        }
    }

    fn logs(lines: &[(&str, u64)]) -> OrderLogs {
        let mut by_domain: BTreeMap<String, Vec<OrderLogLine>> = BTreeMap::new();
        for (d, seq) in lines {
            by_domain
                .entry(d.to_string())
                .or_default()
                .push(line(d, *seq));
        }
        OrderLogs::new(Arc::new(FakeLogs(by_domain)), CancellationToken::new())
    }

    #[tokio::test]
    async fn merges_the_lines_of_every_domain_and_skips_one_that_cannot_stream() {
        let order = order_in(&["north", "south", "east"]);
        let logs = logs(&[("north", 1), ("north", 2), ("south", 7)]);
        let mut got: Vec<(String, u64)> = logs
            .open(&order, false)
            .await
            .unwrap()
            .map(|l| (l.domain, l.sequence))
            .collect()
            .await;
        got.sort();
        let want = [("north", 1), ("north", 2), ("south", 7)].map(|(d, s)| (d.to_string(), s));
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn fails_when_no_domain_can_stream() {
        let order = order_in(&["east"]);
        assert!(matches!(
            logs(&[]).open(&order, true).await,
            Err(LogsError::NoDomain)
        ));
    }

    #[test]
    fn asks_each_domain_once_per_intent() {
        let order = order_in(&["north", "south"]);
        let by_domain = intents_by_domain(&order);
        assert_eq!(by_domain.len(), 2);
        assert!(by_domain.values().all(|ids| ids.len() == 1));
    }
}
