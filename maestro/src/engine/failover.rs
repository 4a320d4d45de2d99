//! Fail-over: a service placed in a count of domains (`placement.count`) moves off a domain that
//! stays unreachable for `failover_after_ms`. Maestro places an order of its own that keeps the
//! service's spec exactly (pinned, as a rollback does), avoids the lost domain and chooses the
//! next eligible one; the lost domain gets the deletion in its outbox, delivered when it is back,
//! so the service never runs twice. The order's idempotency key names the service and the
//! generation it moves from, so a restart or a second tick never places it twice.

use super::Engine;
use crate::error::OrderError;
use crate::model::{Action, Orderer};
use crate::request::{NewItem, NewOrder};
use maestro_common::ResourceName;
use maestro_common::time::now_millis;
use std::collections::BTreeSet;

/// How long a fail-over that could not be placed waits before it is tried again.
const RETRY_MS: i64 = 30_000;

impl Engine {
    /// Moves every service placed with a count off the domains unreachable for longer than
    /// `failover_after_ms`. Returns the ids of the orders it placed.
    pub async fn fail_over(&self) -> Result<Vec<String>, OrderError> {
        let now = now_millis();
        let after = i64::try_from(self.config().failover_after_ms).unwrap_or(i64::MAX);
        let lost: BTreeSet<String> = self
            .registry()
            .health_map()?
            .into_iter()
            .filter(|(_, h)| {
                h.unreachable(now) && now.saturating_sub(h.last_heard_ms(now)) >= after
            })
            .map(|(id, _)| id)
            .collect();
        if lost.is_empty() {
            return Ok(Vec::new());
        }
        let mut placed = Vec::new();
        for (name, entry) in self.store().inventory_all()? {
            if entry.deleted || entry.placement.count == 0 {
                continue;
            }
            let leaving: Vec<String> = entry
                .targets
                .iter()
                .filter(|t| lost.contains(&t.domain))
                .map(|t| t.domain.clone())
                .collect();
            if leaving.is_empty() || !self.inner.failover_due(&name, entry.generation, now) {
                continue;
            }
            let origin = self.store().get(&entry.order_id)?;
            if origin.as_ref().is_some_and(|o| {
                o.items.iter().any(|i| {
                    i.service.name == name
                        && !i.state.is_final()
                        && i.rollout
                            .as_ref()
                            .is_some_and(|r| !r.machine.phase.is_final())
                })
            }) {
                continue; // A rollout of it runs: its own gates decide.
            }
            let mut placement = entry.placement.clone();
            placement.avoid.extend(leaving.iter().cloned());
            placement.avoid.sort();
            placement.avoid.dedup();
            let new = NewOrder {
                idempotency_key: format!("failover-{name}-g{}", entry.generation),
                external_id: String::new(),
                description: format!("fail-over of {name} from {}", leaving.join(", ")),
                category: "failover".into(),
                priority: 0,
                items: vec![NewItem {
                    id: ResourceName::parse("id", "1")?,
                    action: Action::Modify,
                    service_name: ResourceName::parse("service.name", &name)?,
                    spec_id: entry.spec_id.clone(),
                    characteristics: Vec::new(),
                    placement,
                    rollout: None,
                    pinned: Some(Box::new(entry.clone())),
                }],
                ordered_by: origin.map(|o| o.ordered_by).unwrap_or_else(|| Orderer {
                    identity: "maestro".into(),
                    organisation: String::new(),
                }),
                traceparent: None,
            };
            match self.create_order(new).await {
                Ok(created) => {
                    tracing::warn!(service = %name, from = %leaving.join(","), order.id = %created.order.id, "failed over");
                    placed.push(created.order.id);
                }
                Err(e) => {
                    tracing::warn!(service = %name, from = %leaving.join(","), error = %e, "cannot fail over yet; retrying in {} s", RETRY_MS / 1000)
                }
            }
        }
        Ok(placed)
    }
}

impl super::Inner {
    /// Whether the fail-over of `service` from `generation` may be tried now (once every
    /// [`RETRY_MS`]).
    fn failover_due(&self, service: &str, generation: u64, now: i64) -> bool {
        let mut tried = self
            .failovers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (service.to_string(), generation);
        match tried.get(&key) {
            Some(at) if now.saturating_sub(*at) < RETRY_MS => false,
            _ => {
                tried.insert(key, now);
                true
            }
        }
    }
}
