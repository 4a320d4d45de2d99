//! `domain list`.

use crate::client::MaestroClient;
use crate::error::CliResult;
use crate::output::{self, Output};
use crate::view::DomainView;
use maestro_proto::domain::v1::{Domain, ListDomainsRequest};

/// Every registered domain.
pub async fn fetch(client: &MaestroClient) -> CliResult<Vec<Domain>> {
    let resp = client
        .call(client.domains().list_domains(ListDomainsRequest {}))
        .await?;
    Ok(resp.domains)
}

/// `domain list`.
pub async fn list(client: &MaestroClient, out: Output) -> CliResult<()> {
    let views: Vec<DomainView> = fetch(client).await?.iter().map(DomainView::from).collect();
    super::emit(&output::domains(&views, out));
    Ok(())
}
