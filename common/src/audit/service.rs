//! `maestro.audit.v1.AuditService`, the same for maestro and every domain orchestrator; who may
//! read is [`crate::authz::Call::ReadAudit`] of the serving component.

use std::pin::Pin;

use maestro_proto::audit::v1 as pb;
use tonic::{Request, Response, Status};

use super::store::{AuditLog, Filter};
use crate::FieldError;
use crate::access::Access;
use crate::authz::Call;

/// gRPC name of the service (for health checking).
pub const SERVICE_NAME: &str = "maestro.audit.v1.AuditService";

/// Default page size of ListAuditEntries.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page size of ListAuditEntries (an entry is at most about 6 KiB).
pub const MAX_PAGE_SIZE: usize = 500;
/// Entries per chunk of ExportAudit.
const EXPORT_CHUNK: usize = 500;
/// Checkpoints per chunk of ExportAudit.
const CHECKPOINT_CHUNK: usize = 5000;
/// Longest `who` or `what` filter.
const MAX_FILTER_BYTES: usize = 512;

/// Serves one component's audit log.
#[derive(Debug, Clone)]
pub struct AuditApi {
    log: AuditLog,
    access: Access,
    domain: Option<String>,
}

impl AuditApi {
    /// Serves `log` of maestro (`domain: None`) or of the orchestrator of `domain`, to whom
    /// `access` allows [`Call::ReadAudit`].
    pub fn new(log: AuditLog, access: Access, domain: Option<String>) -> Self {
        Self {
            log,
            access,
            domain,
        }
    }

    fn may_read<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let call = Call::ReadAudit {
            domain: self.domain.as_deref(),
        };
        self.access.check(request, &call).map(|_| ())
    }
}

fn text_filter(field: &str, value: String) -> Result<Option<String>, FieldError> {
    if value.len() > MAX_FILTER_BYTES {
        return Err(FieldError::new(
            field,
            format!("longer than {MAX_FILTER_BYTES} bytes"),
        ));
    }
    Ok((!value.is_empty()).then_some(value))
}

/// The filter and paging of a request, checked.
fn parse_list(r: pb::ListAuditEntriesRequest) -> Result<(Filter, u64, usize), FieldError> {
    let after = match r.page_token.as_str() {
        "" => 0,
        t => t
            .parse::<u64>()
            .map_err(|_| FieldError::new("page_token", "not a token of this service"))?,
    };
    let size = match r.page_size {
        0 => DEFAULT_PAGE_SIZE,
        n => (n as usize).min(MAX_PAGE_SIZE),
    };
    if r.since_ms < 0 || r.until_ms < 0 {
        return Err(FieldError::new(
            if r.since_ms < 0 {
                "since_ms"
            } else {
                "until_ms"
            },
            "must not be negative",
        ));
    }
    let filter = Filter {
        who: text_filter("who", r.who)?,
        what: text_filter("what", r.what)?,
        since_ms: (r.since_ms > 0).then_some(r.since_ms),
        until_ms: (r.until_ms > 0).then_some(r.until_ms),
    };
    Ok((filter, after, size))
}

type ChunkStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::ExportAuditChunk, Status>> + Send>>;

/// The chunks of an export up to entry `head`: entries, then checkpoints; the key in the first.
struct Chunks {
    log: AuditLog,
    head: u64,
    after: u64,
    key: Option<Vec<u8>>,
    checkpoints: Option<std::vec::IntoIter<super::Checkpoint>>,
    done: bool,
}

impl Chunks {
    fn next_chunk(&mut self) -> Result<Option<pb::ExportAuditChunk>, sled::Error> {
        let mut chunk = pb::ExportAuditChunk {
            public_key: self.key.take().unwrap_or_default(),
            ..Default::default()
        };
        if self.after < self.head {
            let (entries, last_key) = self.log.entries(self.after, self.head, EXPORT_CHUNK)?;
            // Paged by key, not by the sequence an entry claims (a moved entry claims another).
            self.after = match last_key {
                Some(k) if entries.len() == EXPORT_CHUNK => k,
                _ => self.head,
            };
            chunk.entries = entries.iter().map(Into::into).collect();
            return Ok(Some(chunk));
        }
        if self.checkpoints.is_none() {
            self.checkpoints = Some(self.log.checkpoints(self.head)?.into_iter());
        }
        let cps: Vec<_> = self
            .checkpoints
            .as_mut()
            .map(|it| it.by_ref().take(CHECKPOINT_CHUNK).collect())
            .unwrap_or_default();
        if cps.is_empty() && chunk.public_key.is_empty() {
            return Ok(None);
        }
        chunk.checkpoints = cps.iter().map(Into::into).collect();
        Ok(Some(chunk))
    }
}

impl Iterator for Chunks {
    type Item = Result<pb::ExportAuditChunk, Status>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_chunk() {
            Ok(Some(c)) => Some(Ok(c)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(crate::durable::status("reading the audit log", &e)))
            }
        }
    }
}

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for AuditApi {
    async fn list_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Result<Response<pb::ListAuditEntriesResponse>, Status> {
        self.may_read(&request)?;
        let (filter, after, size) = parse_list(request.into_inner())?;
        let (entries, next) = self
            .log
            .list(&filter, after, size)
            .map_err(|e| crate::durable::status("reading the audit log", &e))?;
        Ok(Response::new(pb::ListAuditEntriesResponse {
            entries: entries.iter().map(Into::into).collect(),
            next_page_token: next.map(|n| n.to_string()).unwrap_or_default(),
        }))
    }

    type ExportAuditStream = ChunkStream;

    async fn export_audit(
        &self,
        request: Request<pb::ExportAuditRequest>,
    ) -> Result<Response<Self::ExportAuditStream>, Status> {
        self.may_read(&request)?;
        let chunks = Chunks {
            log: self.log.clone(),
            head: self.log.head().0,
            after: 0,
            key: Some(self.log.public_key().bytes().to_vec()),
            checkpoints: None,
            done: false,
        };
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }
}
