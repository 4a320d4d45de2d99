//! The one call delivery makes to a domain, behind [`DomainClient`], and its tonic
//! implementation over the shared [`DomainChannels`].

use crate::domain_channels::DomainChannels;
use crate::intent::IntentPayload;
use futures::future::BoxFuture;
use maestro_common::grpc::MAX_MESSAGE_BYTES;
use maestro_common::telemetry::context as trace;
use maestro_proto::intent::v1 as pb;
use pb::intent_service_client::IntentServiceClient;
use std::time::Duration;
use tonic::Code;

/// How long one delivery attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an intent was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The domain refused the intent (InvalidArgument, FailedPrecondition): retrying cannot help.
    #[error("{0}")]
    Rejected(String),
    /// Not delivered this time (not registered, unreachable, timed out, failed inside): retried.
    #[error("{0}")]
    Unavailable(String),
}

/// Hands intents to domain orchestrators.
pub trait DomainClient: Send + Sync + std::fmt::Debug {
    /// Delivers `intent` to `domain`: `Ok` once the domain acknowledged it (stored durably).
    fn deliver<'a>(
        &'a self,
        domain: &'a str,
        intent: &'a IntentPayload,
    ) -> BoxFuture<'a, Result<(), DeliveryError>>;
}

/// [`DomainClient`] over gRPC: ApplyIntent, or DeleteIntent for a deletion.
#[derive(Debug, Clone)]
pub struct TonicDomainClient {
    channels: DomainChannels,
}

impl TonicDomainClient {
    /// A client over `channels`.
    pub fn new(channels: DomainChannels) -> Self {
        Self { channels }
    }

    async fn call(&self, domain: &str, intent: &IntentPayload) -> Result<(), DeliveryError> {
        let channel = self
            .channels
            .channel(domain)
            .map_err(|e| DeliveryError::Unavailable(e.to_string()))?;
        let mut client =
            IntentServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let apply = || {
            let mut req = tonic::Request::new(pb::ApplyIntentRequest {
                intent: Some(intent.into()),
            });
            req.set_timeout(ATTEMPT_TIMEOUT);
            trace::inject(&mut req, Some(&intent.traceparent));
            req
        };
        let result = if intent.deleted {
            let mut req = tonic::Request::new(pb::DeleteIntentRequest {
                id: intent.id.clone(),
                generation: intent.generation,
                order_id: intent.order_id.clone(),
                order_item_id: intent.order_item_id.clone(),
            });
            req.set_timeout(ATTEMPT_TIMEOUT);
            trace::inject(&mut req, Some(&intent.traceparent));
            match client.delete_intent(req).await {
                // The domain does not know the intent (it lost its data, or never stored the
                // add): deliver the deletion as a whole intent marked deleted, so the domain
                // records the tombstone and reports TERMINATED once nothing of it is left.
                Err(s) if s.code() == Code::NotFound => {
                    client.apply_intent(apply()).await.map(|_| ())
                }
                other => other.map(|_| ()),
            }
        } else {
            client.apply_intent(apply()).await.map(|_| ())
        };
        result.map_err(|s| match s.code() {
            Code::InvalidArgument | Code::FailedPrecondition => {
                DeliveryError::Rejected(s.message().to_string())
            }
            code => DeliveryError::Unavailable(format!("{code:?}: {}", s.message())),
        })
    }
}

impl DomainClient for TonicDomainClient {
    fn deliver<'a>(
        &'a self,
        domain: &'a str,
        intent: &'a IntentPayload,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.call(domain, intent))
    }
}
