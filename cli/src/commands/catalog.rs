//! `catalog list|get`.

use crate::client::MaestroClient;
use crate::error::CliResult;
use crate::output::{self, Output};
use crate::view::ServiceSpecView;
use maestro_proto::catalog::v1::{GetServiceSpecRequest, ListServiceSpecsRequest};

/// `catalog list`.
pub async fn list(client: &MaestroClient, out: Output) -> CliResult<()> {
    let resp = client
        .call(
            client
                .catalog()
                .list_service_specs(ListServiceSpecsRequest {}),
        )
        .await?;
    let views: Vec<ServiceSpecView> = resp.specs.iter().map(ServiceSpecView::from).collect();
    super::emit(&output::specs(&views, out));
    Ok(())
}

/// `catalog get ID`.
pub async fn get(client: &MaestroClient, id: &str, out: Output) -> CliResult<()> {
    let spec = client
        .call(
            client
                .catalog()
                .get_service_spec(GetServiceSpecRequest { id: id.to_string() }),
        )
        .await?;
    let view = ServiceSpecView::from(&spec);
    let text = match out {
        Output::Table => output::specs(std::slice::from_ref(&view), out),
        _ => output::structured(&view, out),
    };
    super::emit(&text);
    Ok(())
}
