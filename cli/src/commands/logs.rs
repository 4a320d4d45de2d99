//! `logs --order ID [--follow]`.

use crate::client::MaestroClient;
use crate::error::{CliError, CliResult};
use crate::output::{self, Output};
use crate::view::LogRecordView;
use futures::StreamExt;
use maestro_proto::order::v1::StreamOrderLogsRequest;

/// Streams the order's records to stdout until the stream ends (or forever with `follow`).
pub async fn stream(
    client: &MaestroClient,
    order: &str,
    follow: bool,
    out: Output,
) -> CliResult<()> {
    let req = StreamOrderLogsRequest {
        id: order.to_string(),
        follow,
    };
    let mut stream = client.call(client.orders().stream_order_logs(req)).await?;
    while let Some(item) = stream.next().await {
        match item {
            Ok(record) => super::emit(&output::log_record(&LogRecordView::from(&record), out)),
            Err(status) => return Err(CliError::from_status("log stream", &status)),
        }
    }
    Ok(())
}
