//! Where status and log records come from: [`StatusSource`], implemented by the domain's log
//! server over gRPC ([`LogServerSource`]).

use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use maestro_common::tls::TlsSource;
use maestro_proto::logs::v1::{
    Record, RecordFilter, SubscribeRequest, log_service_client::LogServiceClient,
};

/// A subscribable stream of log-server records.
pub trait StatusSource: Send + Sync {
    /// Records with sequence > `after` (then new ones when `follow`), only of `intent_ids` when not empty.
    fn subscribe(
        &self,
        after: u64,
        follow: bool,
        intent_ids: Vec<String>,
    ) -> BoxFuture<'_, Result<BoxStream<'static, Result<Record, tonic::Status>>, tonic::Status>>;
}

/// [`StatusSource`] backed by `maestro.logs.v1.LogService/Subscribe`.
pub struct LogServerSource {
    endpoint: String,
    tls: Option<TlsSource>,
}

impl LogServerSource {
    /// A source dialing `endpoint` (e.g. `https://127.0.0.1:7400`) lazily, with mutual TLS
    /// when `tls` is given.
    pub fn new(endpoint: impl Into<String>, tls: Option<TlsSource>) -> Self {
        Self {
            endpoint: endpoint.into(),
            tls,
        }
    }
}

impl StatusSource for LogServerSource {
    fn subscribe(
        &self,
        after: u64,
        follow: bool,
        intent_ids: Vec<String>,
    ) -> BoxFuture<'_, Result<BoxStream<'static, Result<Record, tonic::Status>>, tonic::Status>>
    {
        Box::pin(async move {
            let channel = maestro_common::grpc::channel_with(
                &self.endpoint,
                self.tls.as_ref(),
                // The log server is a component of this same domain.
                self.tls.as_ref().map(|t| t.identity().role),
            )
            .map_err(|e| {
                tonic::Status::unavailable(format!("log server {}: {e}", self.endpoint))
            })?;
            let mut client = LogServiceClient::new(channel)
                .max_decoding_message_size(maestro_common::grpc::MAX_MESSAGE_BYTES);
            let filter = (!intent_ids.is_empty()).then(|| RecordFilter {
                intent_ids,
                ..Default::default()
            });
            let stream = client
                .subscribe(SubscribeRequest {
                    after_sequence: after,
                    follow,
                    filter,
                })
                .await?
                .into_inner();
            Ok(stream.boxed())
        })
    }
}
