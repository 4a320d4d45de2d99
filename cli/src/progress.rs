//! Live progress of an order: one line per order, item, (item, domain) and (item, domain, site),
//! printed only when that entity's state changes (the age of its last report is shown, never compared).

use crate::states;
use crate::table::human_age;
use maestro_common::time::{age, millis};
use maestro_proto::order::v1 as pb;
use std::collections::HashMap;

/// One progress line and what identifies its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressEntry {
    /// Which entity (`order`, `item/1`, `item/1/north`, `item/1/north/north-1`).
    pub key: String,
    /// The entity's state without volatile parts (ages); a change prints the line.
    pub signature: String,
    /// The line to print.
    pub line: String,
}

fn heard(ts: Option<&prost_types::Timestamp>) -> String {
    match ts {
        Some(t) if millis(Some(t)) > 0 => {
            format!("last report {} ago", human_age(age(millis(Some(t)))))
        }
        _ => "no report yet".into(),
    }
}

/// Every progress line of `order`, in display order.
pub fn entries(order: &pb::ServiceOrder) -> Vec<ProgressEntry> {
    let mut out = Vec::new();
    let state = states::order_state(order.state);
    out.push(ProgressEntry {
        key: "order".into(),
        signature: state.to_string(),
        line: format!("order {}: {state}", order.id),
    });
    for item in &order.items {
        let name = item.service.as_ref().map_or("", |s| s.name.as_str());
        let label = format!("item {} {name}", item.id);
        let state = states::order_state(item.state);
        let reason = if item.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", item.reason)
        };
        out.push(ProgressEntry {
            key: format!("item/{}", item.id),
            signature: format!("{state}{reason}"),
            line: format!(
                "{label} ({}): {state}{reason}",
                states::item_action(item.action)
            ),
        });
        for d in &item.domains {
            let message = if d.message.is_empty() {
                String::new()
            } else {
                format!(", {}", d.message)
            };
            let signature = format!(
                "{} ready {}/{} at gen {}/{}, delivery {} (attempts {}){message}",
                states::service_state(d.service_state),
                d.ready,
                d.total,
                d.observed_generation,
                d.generation,
                states::delivery_state(d.delivery),
                d.delivery_attempts,
            );
            out.push(ProgressEntry {
                key: format!("item/{}/{}", item.id, d.domain),
                line: format!(
                    "{label} @ {}: {signature}, {}",
                    d.domain,
                    heard(d.last_heard.as_ref())
                ),
                signature,
            });
            for s in &d.sites {
                let message = if s.message.is_empty() {
                    String::new()
                } else {
                    format!(", {}", s.message)
                };
                let signature = format!(
                    "ready {}/{} at gen {}{message}",
                    s.ready, s.total, s.observed_generation
                );
                out.push(ProgressEntry {
                    key: format!("item/{}/{}/{}", item.id, d.domain, s.site),
                    line: format!(
                        "{label} @ {}/{}: {signature}, {}",
                        d.domain,
                        s.site,
                        heard(s.last_heard.as_ref())
                    ),
                    signature,
                });
            }
        }
    }
    out
}

/// Remembers the last state of each entity and yields the lines that changed.
#[derive(Debug, Default)]
pub struct ProgressTracker {
    last: HashMap<String, String>,
}

impl ProgressTracker {
    /// A tracker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The lines of `order` whose entity is new or changed since the previous call.
    pub fn update(&mut self, order: &pb::ServiceOrder) -> Vec<String> {
        entries(order)
            .into_iter()
            .filter_map(|e| {
                let changed = self.last.get(&e.key) != Some(&e.signature);
                changed.then(|| {
                    self.last.insert(e.key, e.signature);
                    e.line
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(ready: u32, state: pb::OrderState) -> pb::ServiceOrder {
        pb::ServiceOrder {
            id: "o1".into(),
            state: state as i32,
            items: vec![pb::OrderItem {
                id: "1".into(),
                action: pb::ItemAction::Add as i32,
                state: state as i32,
                service: Some(pb::Service {
                    name: "hello".into(),
                    ..Default::default()
                }),
                domains: vec![pb::DomainProgress {
                    domain: "north".into(),
                    generation: 1,
                    observed_generation: 1,
                    delivery: pb::DeliveryState::Acknowledged as i32,
                    delivery_attempts: 1,
                    service_state: pb::ServiceState::Reserved as i32,
                    ready,
                    total: 2,
                    last_heard: Some(maestro_common::time::timestamp(
                        maestro_common::time::now_millis(),
                    )),
                    sites: vec![
                        pb::SiteProgress {
                            site: "north-1".into(),
                            ready: ready.min(1),
                            total: 1,
                            ..Default::default()
                        },
                        pb::SiteProgress {
                            site: "north-2".into(),
                            ready: 0,
                            total: 1,
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn first_update_prints_everything_then_only_changes() {
        let mut t = ProgressTracker::new();
        let first = t.update(&order(0, pb::OrderState::InProgress));
        assert_eq!(first.len(), 5, "{first:#?}");
        assert_eq!(first[0], "order o1: inProgress");
        assert!(first[2].starts_with("item 1 hello @ north: reserved ready 0/2 at gen 1/1, delivery acknowledged (attempts 1)"));
        assert!(first[2].ends_with("last report 0s ago"), "{}", first[2]);
        assert!(
            first[4].contains("north/north-2: ready 0/1") && first[4].ends_with("no report yet")
        );
        assert!(t.update(&order(0, pb::OrderState::InProgress)).is_empty());
        let changed = t.update(&order(1, pb::OrderState::InProgress));
        assert_eq!(changed.len(), 2, "{changed:#?}");
        assert!(changed[0].contains("ready 1/2"));
        assert!(changed[1].contains("north/north-1: ready 1/1"));
        let done = t.update(&order(1, pb::OrderState::Completed));
        assert_eq!(
            done,
            vec![
                "order o1: completed".to_string(),
                "item 1 hello (add): completed".to_string()
            ]
        );
    }
}
