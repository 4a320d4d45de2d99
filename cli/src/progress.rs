//! Live progress of an order: one line per order, item, (item, domain) and (item, domain, site)
//! with its state, ready/total at the observed generation, an `unreachable` marker and the age of
//! its last report, computed here from `last_heard` so that it keeps growing while nothing is
//! heard. [`ProgressTracker`] yields the lines whose entity changed (for logs and pipes; the age
//! counts as a change only for unreachable entities, coarsely); [`LiveBlock`] redraws every line
//! in place (for terminals).

use crate::states;
use crate::table::human_age;
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

/// `text` with every server-computed age (`N s ago`) blanked, for signatures.
fn without_ages(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(" s ago") {
        let (before, after) = rest.split_at(pos);
        out.push_str(before.trim_end_matches(|c: char| c.is_ascii_digit()));
        out.push('N');
        rest = after;
        out.push_str(" s ago");
        rest = &rest[" s ago".len()..];
    }
    out.push_str(rest);
    out
}

/// A site's message without the domain's own `unreachable (last seen N s ago)` prefix: the line
/// carries the marker and an age that is current.
fn site_message(s: &pb::SiteProgress) -> &str {
    let m = s.message.as_str();
    if !s.unreachable || !m.starts_with("unreachable (") {
        return m;
    }
    match m.find(')') {
        Some(end) => m[end + 1..].trim_start_matches(';').trim_start(),
        None => m,
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
        let reason = if item.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", item.reason)
        };
        out.push(ProgressEntry {
            key: format!("item/{}", item.id),
            signature: format!("{state}{}", without_ages(&reason)),
            line: format!(
                "{label} ({}): {state}{reason}",
                states::item_action(item.action)
            ),
        });
        for d in &item.domains {
            out.push(domain_entry(&label, &item.id, d, now_ms));
            for s in &d.sites {
                out.push(site_entry(&label, &item.id, &d.domain, s, now_ms));
            }
        }
    }
    out
}

fn domain_entry(label: &str, item: &str, d: &pb::DomainProgress, now_ms: i64) -> ProgressEntry {
    let message = if d.message.is_empty() {
        String::new()
    } else {
        format!(", {}", d.message)
    };
    let shown = format!(
        "{}{} ready {}/{} at gen {}/{}, delivery {} (attempts {}){message}",
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
            "{}{}",
            without_ages(&shown),
            silence(d.unreachable, d.last_heard.as_ref(), now_ms)
        ),
        line: format!(
            "{label} @ {}: {shown}, {}",
            d.domain,
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
    let message = match site_message(s) {
        "" => String::new(),
        m => format!(", {m}"),
    };
    let shown = format!(
        "{}ready {}/{} at gen {}{message}",
        marker(s.unreachable),
        s.ready,
        s.total,
        s.observed_generation
    );
    ProgressEntry {
        key: format!("item/{item}/{domain}/{}", s.site),
        signature: format!(
            "{}{}",
            without_ages(&shown),
            silence(s.unreachable, s.last_heard.as_ref(), now_ms)
        ),
        line: format!(
            "{label} @ {domain}/{}: {shown}, {}",
            s.site,
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

    /// North with one reachable site and one cut off since `T - 40 s`.
    fn cut_off(domain_unreachable: bool) -> pb::ServiceOrder {
        pb::ServiceOrder {
            id: "o1".into(),
            state: pb::OrderState::Pending as i32,
            items: vec![pb::OrderItem {
                id: "1".into(),
                state: pb::OrderState::Pending as i32,
                reason: "site n2 in north unreachable (last heard 40 s ago)".into(),
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
                            message: "unreachable (last seen 31 s ago); web: converged".into(),
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
        // A server-side age in the reason is not a change either.
        let mut o = cut_off(true);
        o.items[0].reason = "site n2 in north unreachable (last heard 41 s ago)".into();
        assert!(t.update(&o, T + 10_000).is_empty());
        // The domain heard again: its line changes (the marker goes).
        let back = t.update(&cut_off(false), T + 10_000);
        assert_eq!(back.len(), 1, "{back:#?}");
        assert!(back[0].starts_with("item 1 hello @ north: active ready 2/2"));
    }

    #[test]
    fn ages_are_bucketed_and_blanked() {
        assert_eq!(age_bucket(Duration::from_secs(9)), "0s");
        assert_eq!(age_bucket(Duration::from_secs(59)), "50s");
        assert_eq!(age_bucket(Duration::from_secs(125)), "2m");
        assert_eq!(age_bucket(Duration::from_secs(7300)), "2h");
        assert_eq!(
            without_ages("domain d unreachable (last heard 42 s ago); site s (last heard 7 s ago)"),
            "domain d unreachable (last heard N s ago); site s (last heard N s ago)"
        );
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
