//! Live progress of an order: one line per order, item, (item, domain) and (item, domain, site)
//! with its state, ready/total at the observed generation, an `unreachable` marker and the age of
//! its last report, computed here from `last_heard` so that it keeps growing while nothing is
//! heard. [`ProgressTracker`] yields the lines whose entity changed (for logs and pipes; the age
//! counts as a change only for unreachable entities, coarsely); [`LiveBlock`] redraws every line
//! in place (for terminals). Reasons are typed: lines render them with ages at `now`,
//! signatures use their age-free text; no message is parsed.

use crate::output::reason;
use crate::states;
use crate::table::human_age;
use maestro_common::status::StatusReason;
use maestro_common::time::millis;
use maestro_proto::order::v1 as pb;
use std::collections::HashMap;
use std::time::Duration;

/// One progress line and what identifies its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressEntry {
    /// Which entity (`order`, `item/1`, `item/1/north`, `item/1/north/north-1`).
    pub key: String,
    /// The entity's state without volatile parts (ages, except a coarse one while unreachable);
    /// a change prints the line.
    pub signature: String,
    /// The line to print.
    pub line: String,
}

fn age_ms(now_ms: i64, then_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(now_ms - then_ms).unwrap_or(0))
}

fn heard(ts: Option<&prost_types::Timestamp>, now_ms: i64) -> String {
    match millis(ts) {
        t if t > 0 => format!("last report {} ago", human_age(age_ms(now_ms, t))),
        _ => "no report yet".into(),
    }
}

/// A coarse age for change detection: 10 s steps in the first minute, then minutes, then hours.
fn age_bucket(age: Duration) -> String {
    match age.as_secs() {
        s @ 0..=59 => format!("{}s", s / 10 * 10),
        s @ 60..=3599 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}

/// The marker and coarse age of an unreachable entity for its signature (empty when reachable).
fn silence(unreachable: bool, ts: Option<&prost_types::Timestamp>, now_ms: i64) -> String {
    if !unreachable {
        return String::new();
    }
    match millis(ts) {
        t if t > 0 => format!(" silent {}", age_bucket(age_ms(now_ms, t))),
        _ => " never heard".into(),
    }
}

/// Reasons as shown at `now_ms` (with ages) and as signed (without), typed when the server's
/// reasons are understood, else the server's text for both. `keep` filters typed reasons.
fn reasons(
    wire: &[maestro_proto::status::v1::StatusReason],
    text: &str,
    now_ms: i64,
    keep: impl Fn(&StatusReason) -> bool,
) -> (String, String) {
    match reason::typed(wire) {
        Some(typed) if !typed.is_empty() => {
            let kept: Vec<StatusReason> = typed.into_iter().filter(|r| keep(r)).collect();
            (
                reason::render_all(&kept, now_ms),
                maestro_common::status::reasons_text(&kept),
            )
        }
        _ => (text.to_string(), text.to_string()),
    }
}

/// `, text` or nothing.
fn clause(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(", {text}")
    }
}

fn marker(unreachable: bool) -> &'static str {
    if unreachable { "unreachable, " } else { "" }
}

/// Every progress line of `order` at `now_ms`, in display order.
pub fn entries(order: &pb::ServiceOrder, now_ms: i64) -> Vec<ProgressEntry> {
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
        let (shown, signed) = reasons(&item.reasons, &item.reason, now_ms, |_| true);
        let paren = |t: &str| {
            if t.is_empty() {
                String::new()
            } else {
                format!(" ({t})")
            }
        };
        out.push(ProgressEntry {
            key: format!("item/{}", item.id),
            signature: format!("{state}{}", paren(&signed)),
            line: format!(
                "{label} ({}): {state}{}",
                states::item_action(item.action),
                paren(&shown)
            ),
        });
        if let Some(r) = &item.rollout {
            let line = format!(
                "{}, wave {} of {}: {} changed, {} succeeded, {} failed",
                r.phase,
                r.wave + 1,
                r.waves,
                r.changed,
                r.succeeded,
                r.failed
            );
            out.push(ProgressEntry {
                key: format!("item/{}/rollout", item.id),
                signature: line.clone(),
                line: format!("{label} rollout: {line}"),
            });
        }
        for d in &item.domains {
            out.push(domain_entry(&label, &item.id, d, now_ms));
            for s in &d.sites {
                out.push(site_entry(&label, &item.id, &d.domain, s, now_ms));
            }
        }
    }
    for entry in &mut out {
        entry.line = crate::escape::visible(&entry.line).into_owned();
    }
    out
}

fn domain_entry(label: &str, item: &str, d: &pb::DomainProgress, now_ms: i64) -> ProgressEntry {
    let (why, why_signed) = reasons(&d.reasons, &d.message, now_ms, |_| true);
    let base = format!(
        "{}{} ready {}/{} at gen {}/{}, delivery {} (attempts {})",
        marker(d.unreachable),
        states::service_state(d.service_state),
        d.ready,
        d.total,
        d.observed_generation,
        d.generation,
        states::delivery_state(d.delivery),
        d.delivery_attempts,
    );
    ProgressEntry {
        key: format!("item/{item}/{}", d.domain),
        signature: format!(
            "{base}{}{}",
            clause(&why_signed),
            silence(d.unreachable, d.last_heard.as_ref(), now_ms)
        ),
        line: format!(
            "{label} @ {}: {base}{}, {}",
            d.domain,
            clause(&why),
            heard(d.last_heard.as_ref(), now_ms)
        ),
    }
}

fn site_entry(
    label: &str,
    item: &str,
    domain: &str,
    s: &pb::SiteProgress,
    now_ms: i64,
) -> ProgressEntry {
    // The marker and the age of the last report already say the site is cut off.
    let not_cut_off = |r: &StatusReason| !matches!(r, StatusReason::Unreachable { .. });
    let (why, why_signed) = reasons(&s.reasons, &s.message, now_ms, not_cut_off);
    let base = format!(
        "{}ready {}/{} at gen {}",
        marker(s.unreachable),
        s.ready,
        s.total,
        s.observed_generation
    );
    ProgressEntry {
        key: format!("item/{item}/{domain}/{}", s.site),
        signature: format!(
            "{base}{}{}",
            clause(&why_signed),
            silence(s.unreachable, s.last_heard.as_ref(), now_ms)
        ),
        line: format!(
            "{label} @ {domain}/{}: {base}{}, {}",
            s.site,
            clause(&why),
            heard(s.last_heard.as_ref(), now_ms)
        ),
    }
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

    /// The lines of `order` at `now_ms` whose entity is new or changed since the previous call.
    pub fn update(&mut self, order: &pb::ServiceOrder, now_ms: i64) -> Vec<String> {
        entries(order, now_ms)
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

/// Redraws every line of an order in place on a terminal (cursor up, clear, print).
#[derive(Debug, Default)]
pub struct LiveBlock {
    drawn: usize,
}

impl LiveBlock {
    /// A block that has drawn nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The text that replaces the previous drawing with the lines of `order` at `now_ms`.
    pub fn frame(&mut self, order: &pb::ServiceOrder, now_ms: i64) -> String {
        let lines: Vec<String> = entries(order, now_ms).into_iter().map(|e| e.line).collect();
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A\x1b[J", self.drawn));
        }
        for l in &lines {
            out.push_str(l);
            out.push('\n');
        }
        self.drawn = lines.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maestro_common::time::timestamp;

    fn now() -> i64 {
        maestro_common::time::now_millis()
    }

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
        let first = t.update(&order(0, pb::OrderState::InProgress), now());
        assert_eq!(first.len(), 5, "{first:#?}");
        assert_eq!(first[0], "order o1: inProgress");
        assert!(first[2].starts_with("item 1 hello @ north: reserved ready 0/2 at gen 1/1, delivery acknowledged (attempts 1)"));
        assert!(first[2].ends_with("last report 0s ago"), "{}", first[2]);
        assert!(
            first[4].contains("north/north-2: ready 0/1") && first[4].ends_with("no report yet")
        );
        assert!(
            t.update(&order(0, pb::OrderState::InProgress), now())
                .is_empty()
        );
        let changed = t.update(&order(1, pb::OrderState::InProgress), now());
        assert_eq!(changed.len(), 2, "{changed:#?}");
        assert!(changed[0].contains("ready 1/2"));
        assert!(changed[1].contains("north/north-1: ready 1/1"));
        let done = t.update(&order(1, pb::OrderState::Completed), now());
        assert_eq!(
            done,
            vec![
                "order o1: completed".to_string(),
                "item 1 hello (add): completed".to_string()
            ]
        );
    }

    const T: i64 = 1_700_000_000_000;

    fn n2_cut_off() -> StatusReason {
        StatusReason::Unreachable {
            domain: "north".into(),
            site: Some("n2".into()),
            last_heard_ms: Some(T - 40_000),
        }
    }

    /// North with one reachable site and one cut off since `T - 40 s`.
    fn cut_off(domain_unreachable: bool) -> pb::ServiceOrder {
        pb::ServiceOrder {
            id: "o1".into(),
            state: pb::OrderState::Pending as i32,
            items: vec![pb::OrderItem {
                id: "1".into(),
                state: pb::OrderState::Pending as i32,
                reason: n2_cut_off().to_string(),
                reasons: vec![n2_cut_off().into()],
                service: Some(pb::Service {
                    name: "hello".into(),
                    ..Default::default()
                }),
                domains: vec![pb::DomainProgress {
                    domain: "north".into(),
                    generation: 1,
                    observed_generation: 1,
                    service_state: pb::ServiceState::Active as i32,
                    delivery: pb::DeliveryState::Acknowledged as i32,
                    delivery_attempts: 1,
                    ready: 2,
                    total: 2,
                    unreachable: domain_unreachable,
                    last_heard: Some(timestamp(T - 2_000)),
                    sites: vec![
                        pb::SiteProgress {
                            site: "n1".into(),
                            ready: 1,
                            total: 1,
                            observed_generation: 1,
                            last_heard: Some(timestamp(T - 1_000)),
                            ..Default::default()
                        },
                        pb::SiteProgress {
                            site: "n2".into(),
                            ready: 1,
                            total: 1,
                            observed_generation: 1,
                            message: "site n2 in north unreachable; web: converged".into(),
                            reasons: vec![
                                n2_cut_off().into(),
                                StatusReason::BlueprintPending {
                                    blueprint: "web".into(),
                                    generation: Some(1),
                                    message: "converged".into(),
                                }
                                .into(),
                            ],
                            unreachable: true,
                            last_heard: Some(timestamp(T - 40_000)),
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
    fn lines_carry_the_unreachable_marker_and_a_client_side_age() {
        let lines: Vec<String> = entries(&cut_off(true), T)
            .into_iter()
            .map(|e| e.line)
            .collect();
        assert_eq!(
            lines[1],
            "item 1 hello (unknown): pending (site n2 in north unreachable (last heard 40s ago))"
        );
        assert_eq!(
            lines[2],
            "item 1 hello @ north: unreachable, active ready 2/2 at gen 1/1, delivery acknowledged (attempts 1), last report 2s ago"
        );
        assert_eq!(
            lines[3],
            "item 1 hello @ north/n1: ready 1/1 at gen 1, last report 1s ago"
        );
        assert_eq!(
            lines[4],
            "item 1 hello @ north/n2: unreachable, ready 1/1 at gen 1, web: converged, last report 40s ago"
        );
        // The age keeps growing while nothing new arrives.
        let later = entries(&cut_off(true), T + 200_000);
        assert!(
            later[1].line.ends_with("(last heard 4m ago))"),
            "{}",
            later[1].line
        );
        assert!(
            later[4].line.ends_with("last report 4m ago"),
            "{}",
            later[4].line
        );
    }

    #[test]
    fn the_tracker_reprints_a_silent_entity_only_when_its_coarse_age_moves() {
        let mut t = ProgressTracker::new();
        assert_eq!(t.update(&cut_off(true), T).len(), 5);
        assert!(
            t.update(&cut_off(true), T + 1_000).is_empty(),
            "same 10 s step"
        );
        // Domain (silent 2 s -> 12 s) and n2 (40 s -> 50 s) enter their next 10 s step.
        let moved = t.update(&cut_off(true), T + 10_000);
        assert_eq!(moved.len(), 2, "{moved:#?}");
        assert!(
            moved[0].starts_with("item 1 hello @ north: unreachable")
                && moved[0].ends_with("12s ago")
        );
        assert!(moved[1].contains("north/n2: unreachable") && moved[1].ends_with("50s ago"));
        // The item's reason renders a growing age, yet its signature holds none: not reprinted.
        assert!(
            entries(&cut_off(true), T + 10_000)[1]
                .line
                .contains("last heard 50s ago")
        );
        // The domain heard again: its line changes (the marker goes).
        let back = t.update(&cut_off(false), T + 10_000);
        assert_eq!(back.len(), 1, "{back:#?}");
        assert!(back[0].starts_with("item 1 hello @ north: active ready 2/2"));
    }

    #[test]
    fn ages_are_bucketed() {
        assert_eq!(age_bucket(Duration::from_secs(9)), "0s");
        assert_eq!(age_bucket(Duration::from_secs(59)), "50s");
        assert_eq!(age_bucket(Duration::from_secs(125)), "2m");
        assert_eq!(age_bucket(Duration::from_secs(7300)), "2h");
    }

    #[test]
    fn the_live_block_redraws_in_place() {
        let mut b = LiveBlock::new();
        let first = b.frame(&cut_off(true), T);
        assert!(!first.starts_with('\x1b') && first.lines().count() == 5);
        let second = b.frame(&cut_off(true), T + 5_000);
        assert!(second.starts_with("\x1b[5A\x1b[J"), "{second:?}");
        assert!(second.contains(
            "north/n2: unreachable, ready 1/1 at gen 1, web: converged, last report 45s ago"
        ));
    }
}
