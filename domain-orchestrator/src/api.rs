//! The intent API as domain operations; the gRPC handlers in [`crate::service`] only convert.

use crate::context::Context;
use crate::controller::Controller;
use crate::intent::{Intent, IntentDeletion};
use crate::reconcile::ReconcileReason;
use crate::store::{ApplyOutcome, StoreError};
use crate::translator;
use maestro_common::FieldError;
use maestro_proto::intent::v1 as pb;
use prost::Message;
use std::sync::Arc;

/// Largest page of `ListIntents`.
pub const MAX_PAGE: usize = 1000;
/// Page size when the caller gives none.
pub const DEFAULT_PAGE: usize = 100;
/// Most bytes of intents in one ListIntents reply: half the message limit every client
/// accepts, so that a page always decodes, however large its intents are.
pub const MAX_PAGE_BYTES: usize = maestro_common::grpc::MAX_MESSAGE_BYTES / 2;

/// Why an intent operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The input was invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The intent does not exist.
    #[error("intent {0} not found")]
    NotFound(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The domain's policy refuses the intent.
    #[error(transparent)]
    Policy(crate::policy::Refusal),
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Invalid(f) => f.into(),
            ApiError::NotFound(_) => tonic::Status::not_found(e.to_string()),
            ApiError::Policy(r) => tonic::Status::failed_precondition(r.to_string()),
            ApiError::Store(StoreError::Sled(s)) => {
                maestro_common::durable::status("intent store", &s)
            }
            ApiError::Store(_) => tonic::Status::unavailable(e.to_string()),
        }
    }
}

/// Intent operations of one domain.
#[derive(Clone)]
pub struct IntentApi {
    ctx: Arc<Context>,
    controller: Controller,
}

/// An apply or delete written to the store and not flushed yet; [`IntentApi::acknowledge`]
/// flushes it and asks for its reconcile.
#[derive(Debug)]
#[must_use = "a written change is acknowledged once flushed"]
pub struct Written {
    id: String,
    outcome: ApplyOutcome,
}

impl IntentApi {
    /// The API over `ctx`, reconciling through `controller`.
    pub fn new(ctx: Arc<Context>, controller: Controller) -> Self {
        Self { ctx, controller }
    }

    /// The shared context.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// Validates against the domain, stores durably, then asks for a reconcile.
    pub async fn apply(&self, intent: Intent) -> Result<ApplyOutcome, ApiError> {
        let written = self.write(intent)?;
        self.acknowledge(written).await
    }

    /// Validates against the domain and writes, not flushed yet: [`Self::acknowledge`] makes
    /// the change durable and asks for its reconcile.
    pub fn write(&self, intent: Intent) -> Result<Written, ApiError> {
        intent
            .check_domain(&self.ctx.domain, &self.ctx.sites)
            .map_err(|e| e.within("intent"))?;
        if !intent.deleted {
            let sites = intent.target_sites(&self.ctx.sites);
            let rendered = translator::render_intent(&intent, &self.ctx.domain, &sites)
                .map_err(|e| e.within("intent"))?;
            let verdict = self
                .ctx
                .policy
                .check(&intent, &rendered)
                .and_then(|()| self.ctx.offered.check(&intent));
            verdict.map_err(|refusal| {
                tracing::warn!(intent.id = %intent.id, rule = refusal.rule, reason = %refusal.reason, "intent refused");
                ApiError::Policy(refusal)
            })?;
        }
        let outcome = self.ctx.store.apply(&intent)?;
        Ok(Written {
            id: intent.id,
            outcome,
        })
    }

    /// Marks the intent deleted at the given generation (same rules as apply).
    pub async fn delete(&self, deletion: IntentDeletion) -> Result<ApplyOutcome, ApiError> {
        let written = self.write_deletion(deletion)?;
        self.acknowledge(written).await
    }

    /// [`Self::delete`] written, not flushed yet: see [`Self::write`].
    pub fn write_deletion(&self, deletion: IntentDeletion) -> Result<Written, ApiError> {
        let outcome = self
            .ctx
            .store
            .delete(&deletion)?
            .ok_or_else(|| ApiError::NotFound(deletion.id.clone()))?;
        Ok(Written {
            id: deletion.id,
            outcome,
        })
    }

    /// Flushes the store (what `written` wrote, and what else its database holds by then), then
    /// asks for the intent's reconcile.
    pub async fn acknowledge(&self, written: Written) -> Result<ApplyOutcome, ApiError> {
        let Written { id, outcome } = written;
        // Flushed before acknowledging, also for no-ops: a concurrent equal apply may not be durable yet.
        self.ctx.store.flush().await?;
        crate::metrics::intent_stored(outcome.changed);
        if outcome.changed
            && let Some(intent) = self.ctx.store.get(&id)?
        {
            self.ctx.refresh_status(&intent);
        }
        // Also for no-ops: a caller that went away while its apply was being stored cancels this
        // handler after the store and before the trigger, and its retry is a no-op. A reconcile
        // of an unchanged intent publishes nothing.
        self.controller.trigger(&id, ReconcileReason::Applied);
        Ok(outcome)
    }

    /// The intent and its status.
    pub fn get(&self, id: &str) -> Result<pb::IntentRecord, ApiError> {
        crate::intent::uuid_id("id", id)?;
        let intent = self
            .ctx
            .store
            .get(id)?
            .ok_or_else(|| ApiError::NotFound(id.to_string()))?;
        Ok(self.record(&intent))
    }

    /// A page of intents ordered by id, and the token of the next page (empty at the end).
    pub fn list(
        &self,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<pb::IntentRecord>, String), ApiError> {
        let size = match page_size as usize {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        if !page_token.is_empty() {
            crate::intent::uuid_id("page_token", page_token)?;
        }
        let mut intents = self.ctx.store.list(page_token, size + 1)?;
        let mut more = intents.len() > size;
        intents.truncate(size);
        let mut records: Vec<pb::IntentRecord> = intents.iter().map(|i| self.record(i)).collect();
        let fitting = fitting(&records, MAX_PAGE_BYTES);
        if fitting < records.len() {
            records.truncate(fitting);
            intents.truncate(fitting);
            more = true;
        }
        let next = if more {
            intents.last().map(|i| i.id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok((records, next))
    }

    fn record(&self, intent: &Intent) -> pb::IntentRecord {
        let status = self.ctx.hub.get(&intent.id).or_else(|| {
            self.ctx
                .status_of(intent)
                .ok()
                .map(|s| s.to_proto(maestro_common::time::now_millis()))
        });
        pb::IntentRecord {
            intent: Some(pb::Intent::from(intent)),
            status,
        }
    }
}

/// How many of `records` fit in `budget` bytes of a reply; at least one, so a page always
/// moves on.
fn fitting(records: &[pb::IntentRecord], budget: usize) -> usize {
    let mut used = 0usize;
    records
        .iter()
        .take_while(|r| {
            // Field tag and length prefix of the entry, at most.
            used += r.encoded_len() + 16;
            used <= budget
        })
        .count()
        .max(1)
        .min(records.len())
}
