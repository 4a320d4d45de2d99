//! The gRPC handlers of `maestro.logs.v1.LogService`: convert, call the store, map errors.

use crate::commits::{CommitBoard, NoticeStream};
use crate::error::StoreError;
use crate::filter::RecordFilter;
use crate::push::validate_push;
use crate::rate_limit::{SiteRateLimiter, per_site};
use crate::store::RecordStore;
use crate::subscription::{self, Subscription};
use maestro_common::access::Access;
use maestro_common::authz::Call;
use maestro_proto::logs::v1 as proto;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status};

/// The one place store errors become gRPC statuses (validation errors convert via `FieldError`,
/// rate limiting via `RateLimited`).
pub(crate) fn store_status(e: StoreError) -> Status {
    match e {
        StoreError::Sled(e) => Status::unavailable(format!("record store: {e}")),
        StoreError::Flush(e) => Status::unavailable(format!("record store flush: {e}")),
        StoreError::Corrupt(what) => Status::internal(format!("record store corrupt: {what}")),
    }
}

/// Handler state shared by all requests.
pub(crate) struct LogServer {
    pub store: Arc<RecordStore>,
    pub domain: String,
    pub max_record_bytes: usize,
    /// Per-site token buckets, checked before anything is stored.
    pub rate_limit: Arc<SiteRateLimiter>,
    /// Subscription tasks, awaited on shutdown before the store is closed.
    pub subscriptions: TaskTracker,
    pub shutdown: CancellationToken,
    /// Who may push (sites of this domain, their own records) and read (this domain).
    pub access: Access,
    /// The commit the domain orchestrator announced last, followed by the sites.
    pub commits: CommitBoard,
}

impl LogServer {
    fn check_read<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let call = Call::ReadRecords {
            server_domain: &self.domain,
        };
        self.access.check(request, &call).map(|_| ())
    }
}

fn filter(f: Option<proto::RecordFilter>) -> Result<RecordFilter, Status> {
    Ok(RecordFilter::try_from(f.unwrap_or_default()).map_err(|e| e.within("filter"))?)
}

#[tonic::async_trait]
impl proto::log_service_server::LogService for LogServer {
    #[tracing::instrument(name = "log.push", skip_all, fields(records = request.get_ref().records.len()))]
    async fn push(
        &self,
        request: Request<proto::PushRequest>,
    ) -> Result<Response<proto::PushResponse>, Status> {
        // Nothing is stored unless the caller is a site of this domain pushing only its own
        // records; the dedup and rate-limit keys (the record's site) are then its identity.
        let caller = self.access.caller(&request)?;
        let proto::PushRequest { records } = request.into_inner();
        if let Some(caller) = &caller {
            let mut checked = std::collections::BTreeSet::new();
            for r in &records {
                let domain = if r.domain.is_empty() {
                    &self.domain
                } else {
                    &r.domain
                };
                if checked.insert((domain.as_str(), r.site.as_str())) {
                    let call = Call::PushRecord {
                        server_domain: &self.domain,
                        domain,
                        site: &r.site,
                    };
                    self.access.allow(caller, &call)?;
                }
            }
        }
        // Status records of an order's blueprint join the order's trace once stored.
        let traced: Vec<(String, String, String)> = records
            .iter()
            .filter(|r| matches!(r.body, Some(proto::record::Body::Status(_))))
            .filter(|r| maestro_common::telemetry::context::parse(&r.traceparent).is_some())
            .map(|r| (r.traceparent.clone(), r.site.clone(), r.blueprint.clone()))
            .collect();
        let records = validate_push(records, &self.domain, self.max_record_bytes)?;
        let counts = per_site(records.iter().map(|r| r.site.as_str()));
        if let Err(e) = self.rate_limit.admit(counts, tokio::time::Instant::now()) {
            tracing::debug!(site = %e.site, rate = e.rate, "push refused by the rate limit");
            return Err(e.into());
        }
        // A detached task, so a client that goes away mid-append cannot stop the flush and the
        // wake-up of subscribers between commit and acknowledgement.
        let store = self.store.clone();
        let out = tokio::spawn(async move { store.append(records).await })
            .await
            .map_err(|e| Status::internal(format!("append task failed: {e}")))?
            .map_err(store_status)?;
        for (traceparent, site, blueprint) in &traced {
            let span = tracing::info_span!(
                "status.ingest",
                site = %maestro_common::text::for_log(site),
                blueprint = %maestro_common::text::for_log(blueprint)
            );
            maestro_common::telemetry::context::set_parent(&span, traceparent);
        }
        ingested().add(
            u64::from(out.accepted),
            &[opentelemetry::KeyValue::new("outcome", "stored")],
        );
        ingested().add(
            u64::from(out.duplicates),
            &[opentelemetry::KeyValue::new("outcome", "duplicate")],
        );
        tracing::debug!(
            accepted = out.accepted,
            duplicates = out.duplicates,
            last_sequence = out.last_sequence,
            "push"
        );
        Ok(Response::new(proto::PushResponse {
            accepted: out.accepted,
            duplicates: out.duplicates,
            last_sequence: out.last_sequence,
        }))
    }

    type SubscribeStream = ReceiverStream<Result<proto::Record, Status>>;

    #[tracing::instrument(name = "log.subscribe", skip_all)]
    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        self.check_read(&request)?;
        let proto::SubscribeRequest {
            after_sequence,
            follow,
            filter: f,
        } = request.into_inner();
        let sub = Subscription {
            after_sequence,
            follow,
            filter: filter(f)?,
        };
        tracing::debug!(after_sequence, follow, "subscribe");
        let (tx, rx) = mpsc::channel(subscription::BUFFER);
        self.subscriptions.spawn(subscription::run(
            self.store.clone(),
            self.domain.clone(),
            sub,
            tx,
            self.shutdown.clone(),
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    #[tracing::instrument(name = "log.query", skip_all)]
    async fn query(
        &self,
        request: Request<proto::QueryRequest>,
    ) -> Result<Response<proto::QueryResponse>, Status> {
        self.check_read(&request)?;
        let proto::QueryRequest {
            filter: f,
            after_sequence,
            page_size,
        } = request.into_inner();
        let f = filter(f)?;
        let size = usize::try_from(page_size).unwrap_or(usize::MAX);
        let (records, next_after_sequence) = self
            .store
            .page(&f, after_sequence, size)
            .map_err(store_status)?;
        Ok(Response::new(proto::QueryResponse {
            records: records.into_iter().map(proto::Record::from).collect(),
            next_after_sequence,
        }))
    }

    #[tracing::instrument(name = "log.announce_commit", skip_all)]
    async fn announce_commit(
        &self,
        request: Request<proto::AnnounceCommitRequest>,
    ) -> Result<Response<proto::AnnounceCommitResponse>, Status> {
        let call = Call::AnnounceCommit {
            server_domain: &self.domain,
        };
        self.access.check(&request, &call)?;
        let commit = request.into_inner().commit;
        let watchers = self.commits.announce(commit.clone())?;
        tracing::debug!(commit, watchers, "commit announced");
        Ok(Response::new(proto::AnnounceCommitResponse {
            watchers: u32::try_from(watchers).unwrap_or(u32::MAX),
        }))
    }

    type WatchCommitsStream = NoticeStream;

    #[tracing::instrument(name = "log.watch_commits", skip_all)]
    async fn watch_commits(
        &self,
        request: Request<proto::WatchCommitsRequest>,
    ) -> Result<Response<Self::WatchCommitsStream>, Status> {
        let call = Call::WatchCommits {
            server_domain: &self.domain,
        };
        self.access.check(&request, &call)?;
        Ok(Response::new(self.commits.follow(self.shutdown.clone())))
    }
}

/// `maestro.logserver.records`: records pushed by sites, by outcome (`stored`, `duplicate`: a
/// resend the server already had). Its rate is the ingest rate.
fn ingested() -> &'static opentelemetry::metrics::Counter<u64> {
    static C: std::sync::OnceLock<opentelemetry::metrics::Counter<u64>> =
        std::sync::OnceLock::new();
    C.get_or_init(|| {
        maestro_common::telemetry::metrics::meter()
            .u64_counter("maestro.logserver.records")
            .with_unit("{record}")
            .with_description("Records pushed by sites, by outcome")
            .build()
    })
}
