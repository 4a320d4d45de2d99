//! `PlanOrder`: an order planned exactly as CreateOrder would plan it, then each of its intents
//! planned by its domain (`PlanIntent`), which renders it and compares it with what it holds.
//! Nothing is stored, delivered or published; a domain that cannot be asked is reported as such,
//! not guessed.

use crate::domain_channels::DomainChannels;
#[cfg(doc)]
use crate::engine::Engine;
use crate::intent::OutboxEntry;
use crate::model::Action;
use maestro_common::grpc::MAX_MESSAGE_BYTES;
use maestro_proto::intent::v1 as ipb;
use maestro_proto::intent::v1::intent_service_client::IntentServiceClient;
use maestro_proto::order::v1 as pb;
use std::time::Duration;

/// How long one domain gets to answer a plan.
const DOMAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Plans orders against the registered domains.
#[derive(Debug, Clone)]
pub struct Planner {
    channels: DomainChannels,
}

impl Planner {
    /// A planner reaching the domains through `channels`.
    pub fn new(channels: DomainChannels) -> Self {
        Self { channels }
    }

    /// The plan of an order `planned` by [`Engine::plan_only`]: per item, per domain, the
    /// blueprint changes or why there are none.
    pub async fn plan(&self, planned: &crate::plan::OrderPlan) -> pb::OrderPlan {
        let asks = planned.outbox.iter().map(|e| self.ask(e));
        let answers = futures::future::join_all(asks).await;
        let items = planned
            .order
            .items
            .iter()
            .map(|item| pb::ItemPlan {
                item_id: item.id.clone(),
                service: item.service.name.clone(),
                action: action(item.action) as i32,
                generation: item.domains.first().map_or(0, |d| d.generation),
                domains: planned
                    .outbox
                    .iter()
                    .zip(&answers)
                    .filter(|(e, _)| e.item_id == item.id)
                    .map(|(_, a)| a.clone())
                    .collect(),
            })
            .collect();
        pb::OrderPlan { items }
    }

    async fn ask(&self, entry: &OutboxEntry) -> pb::DomainPlan {
        let mut out = pb::DomainPlan {
            domain: entry.domain.clone(),
            ..pb::DomainPlan::default()
        };
        let channel = match self.channels.channel(&entry.domain) {
            Ok(c) => c,
            Err(e) => {
                out.error = e.to_string();
                return out;
            }
        };
        let mut client =
            IntentServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let mut request = tonic::Request::new(ipb::ApplyIntentRequest {
            intent: Some((&entry.intent).into()),
        });
        request.set_timeout(DOMAIN_TIMEOUT);
        match tokio::time::timeout(DOMAIN_TIMEOUT, client.plan_intent(request)).await {
            Ok(Ok(reply)) => {
                let plan = reply.into_inner();
                out.changes = plan.changes;
                out.refusal = plan.refusal;
                out.held_until = plan.held_until;
            }
            Ok(Err(status)) => {
                out.error = format!("{:?}: {}", status.code(), status.message());
            }
            Err(_) => out.error = format!("no answer within {}s", DOMAIN_TIMEOUT.as_secs()),
        }
        out
    }
}

fn action(a: Action) -> pb::ItemAction {
    match a {
        Action::Add => pb::ItemAction::Add,
        Action::Modify => pb::ItemAction::Modify,
        Action::Delete => pb::ItemAction::Delete,
    }
}
