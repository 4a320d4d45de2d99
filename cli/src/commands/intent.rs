//! `intent list --domain D`: finds the domain's endpoint in maestro's registry, then asks the domain.

use crate::client::{self, MaestroClient};
use crate::error::{CliError, CliResult};
use crate::output::{self, Output};
use crate::view::IntentView;
use maestro_proto::intent::v1::ListIntentsRequest;

/// Page size used when listing intents.
const PAGE_SIZE: u32 = 200;
/// Upper bound on pages fetched, so a misbehaving server cannot loop us forever.
const MAX_PAGES: usize = 1000;

/// `intent list --domain D`.
pub async fn list(client: &MaestroClient, domain: &str, out: Output) -> CliResult<()> {
    let domains = super::domain::fetch(client).await?;
    let Some(d) = domains.iter().find(|d| d.id == domain) else {
        let known: Vec<&str> = domains.iter().map(|d| d.id.as_str()).collect();
        return Err(CliError::NotFound(format!(
            "domain {domain:?} is not registered (known: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    };
    let mut intents = client::intents(&d.endpoint)?;
    let what = format!("domain {domain} at {}", d.endpoint);
    let mut views = Vec::new();
    let mut token = String::new();
    for _ in 0..MAX_PAGES {
        let req = ListIntentsRequest {
            page_size: PAGE_SIZE,
            page_token: token.clone(),
        };
        let resp = client::call(&what, client.timeout(), intents.list_intents(req)).await?;
        views.extend(resp.intents.iter().map(IntentView::from));
        if resp.next_page_token.is_empty() || resp.next_page_token == token {
            break;
        }
        token = resp.next_page_token;
    }
    super::emit(&output::intents(&views, out));
    Ok(())
}
