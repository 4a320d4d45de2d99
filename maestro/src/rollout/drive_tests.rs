//! Rollouts wired to orders, without I/O: planning starts one (the first wave's sites are the
//! only ones the intents admit), every roll-up steps it from the sites' reported progress, and
//! the intents it sends say which sites run the new generation.

use super::item::ItemRollout;
use super::state::{Phase, SiteState};
use crate::fixtures::{catalog, domain, item, order};
use crate::intent::{IntentStatus, OutboxEntry};
use crate::inventory::InventoryEntry;
use crate::model::{Order, OrderState, ServiceState, SiteProgress};
use crate::plan::{CurrentState, Decision, Fresh, LastRollout, OrderPlan, plan};
use crate::registry::DomainHealth;
use maestro_common::status::StatusReason;
use maestro_proto::order::v1 as pb;
use std::collections::BTreeMap;

const T0: i64 = 1_000_000;

const STRATEGY: &str = r#"{
    "waves": {"counts": [1]},
    "canary": {"key": "site", "value": "n1"},
    "gate": {"success": {"fraction": 1.0}, "failure": {"count": 1}, "bake_ms": 1000,
             "report_timeout_ms": 5000, "silent": "fail", "fall_back_after": 3},
    "max_changing": 10
}"#;

fn domains() -> Vec<crate::registry::DomainRecord> {
    vec![domain("north", &["n1", "n2"]), domain("south", &["s1"])]
}

fn planned(
    action: pb::ItemAction,
    strategy: &str,
    inventory: &BTreeMap<String, InventoryEntry>,
    rollouts: &BTreeMap<String, LastRollout>,
) -> Result<OrderPlan, crate::error::OrderError> {
    let mut spec = item("1", action, "web", &["north", "south"]);
    spec.rollout_json = strategy.into();
    let new = order("k", vec![spec]);
    let domains = domains();
    let catalog = crate::offers::Offers::from(catalog());
    let state = CurrentState {
        existing: None,
        inventory,
        domains: &domains,
        catalog: &catalog,
        rollouts,
        fit: &Default::default(),
    };
    let fresh = Fresh {
        order_id: "o-2".into(),
        traceparent: String::new(),
        now_ms: T0,
    };
    match plan(&new, state, &fresh)? {
        Decision::Create(p) => Ok(p),
        Decision::Existing(_) => unreachable!("no existing order"),
    }
}

/// `web` at generation 1 in north and south, as an earlier add left it.
fn running() -> BTreeMap<String, InventoryEntry> {
    let first = planned(pb::ItemAction::Add, "", &BTreeMap::new(), &BTreeMap::new()).unwrap();
    let mut e = first.inventory[0].clone();
    e.order_id = "o-1".into();
    BTreeMap::from([("web".to_string(), e)])
}

/// The order of a modify of `web` rolled out with [`STRATEGY`], as planned.
fn started() -> Order {
    planned(
        pb::ItemAction::Modify,
        STRATEGY,
        &running(),
        &BTreeMap::new(),
    )
    .unwrap()
    .order
}

fn admitted(entries: &[OutboxEntry]) -> Vec<(String, Vec<String>, u64)> {
    entries
        .iter()
        .map(|e| {
            let r = e.intent.rollout.as_ref().expect("a rollout intent");
            (e.domain.clone(), r.sites.clone(), r.step)
        })
        .collect()
}

fn rollout(o: &Order) -> &ItemRollout {
    o.items[0].rollout.as_ref().unwrap()
}

/// What a domain reports: each site `(name, desired, observed, ready)` of one blueprint.
fn status(o: &Order, domain: &str, sites: &[(&str, u64, u64, bool)]) -> (String, IntentStatus) {
    let dp = o.items[0]
        .domains
        .iter()
        .find(|d| d.domain == domain)
        .unwrap();
    let sites = sites
        .iter()
        .map(|(s, desired, observed, ready)| SiteProgress {
            site: (*s).into(),
            ready: u32::from(*ready),
            total: 1,
            observed_generation: *observed,
            reasons: vec![],
            last_heard_ms: T0,
            unreachable: false,
            observed_at_ms: T0,
            desired_generation: *desired,
        })
        .collect();
    let st = IntentStatus {
        intent_id: dp.intent_id.clone(),
        domain: domain.into(),
        generation: 2,
        observed_generation: 2,
        state: ServiceState::Active,
        ready: 0,
        total: 0,
        sites,
        reasons: vec![],
        updated_at_ms: T0,
        withheld: vec![],
    };
    (dp.intent_id.clone(), st)
}

fn drive(o: &mut Order, statuses: &[(String, IntentStatus)], now: i64) -> Vec<OutboxEntry> {
    let statuses: BTreeMap<String, IntentStatus> = statuses.iter().cloned().collect();
    let health: BTreeMap<String, DomainHealth> = BTreeMap::new();
    super::drive_order(o, &statuses, &health, now)
}

#[test]
fn planning_starts_the_canary_alone_with_the_previous_spec_for_the_others() {
    let p = planned(
        pb::ItemAction::Modify,
        STRATEGY,
        &running(),
        &BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(
        admitted(&p.outbox),
        [
            ("north".to_string(), vec!["n1".to_string()], 1),
            ("south".to_string(), vec![], 1)
        ]
    );
    let previous = p.outbox[0]
        .intent
        .rollout
        .as_ref()
        .unwrap()
        .previous
        .clone();
    let previous = previous.expect("the sites keep generation 1");
    assert_eq!(
        (previous.generation, previous.order_id.as_str()),
        (1, "o-1")
    );
    assert!(!previous.blueprint_templates_json.is_empty());
    let r = rollout(&p.order);
    assert_eq!(
        r.machine.waves,
        [vec!["north/n1"], vec!["north/n2", "south/s1"]],
        "the canary alone, then the last wave takes the rest"
    );
    assert_eq!(r.machine.phase, Phase::Rolling { wave: 0 });
    assert_eq!(p.inventory[0].templates, previous.blueprint_templates_json);
    assert!(
        p.order
            .notes
            .iter()
            .any(|n| n.text == "item 1: rollout wave 0: moving 1 site to generation 2: north/n1"),
        "{:?}",
        p.order.notes
    );
}

#[test]
fn a_healthy_canary_passes_after_its_bake_time_and_the_next_wave_is_sent() {
    let mut o = started();
    let healthy = [status(
        &o,
        "north",
        &[("n1", 2, 2, true), ("n2", 1, 1, true)],
    )];
    assert!(
        drive(&mut o, &healthy, T0 + 100).is_empty(),
        "seen healthy: baking"
    );
    assert!(drive(&mut o, &healthy, T0 + 600).is_empty(), "still baking");
    let sent = drive(&mut o, &healthy, T0 + 1100);
    assert_eq!(
        admitted(&sent),
        [
            (
                "north".to_string(),
                vec!["n1".to_string(), "n2".to_string()],
                2
            ),
            ("south".to_string(), vec!["s1".to_string()], 2)
        ]
    );
    assert!(matches!(
        rollout(&o).machine.sites["north/n1"],
        SiteState::Succeeded { .. }
    ));
    assert!(
        drive(&mut o, &healthy, T0 + 1100).is_empty(),
        "the same news sends nothing"
    );
    assert!(
        o.notes.iter().any(|n| n.text.contains("wave 0 passed")),
        "{:?}",
        o.notes
    );
}

#[test]
fn an_unhealthy_canary_aborts_and_only_it_is_rolled_back() {
    let mut o = started();
    let (id, mut st) = status(&o, "north", &[("n1", 2, 2, false), ("n2", 1, 1, true)]);
    st.sites[0].reasons = vec![StatusReason::Unhealthy {
        blueprint: "web".into(),
        generation: 2,
        attempts: 1,
        message: "exit status 1".into(),
    }];
    let sent = drive(&mut o, &[(id.clone(), st)], T0 + 100);
    assert_eq!(
        admitted(&sent),
        [
            ("north".to_string(), vec![], 2),
            ("south".to_string(), vec![], 2)
        ],
        "the canary returns; the others never moved"
    );
    let r = rollout(&o);
    assert!(matches!(r.machine.phase, Phase::RollingBack { .. }));
    assert_eq!(r.counts(), (1, 0, 0), "one site changed (now returning)");
    // The domain renders generation 1 for the canary, which still runs 2: not back yet.
    let wanted = status(&o, "north", &[("n1", 1, 2, false), ("n2", 1, 1, true)]);
    assert!(drive(&mut o, &[wanted], T0 + 150).is_empty());
    assert!(
        matches!(rollout(&o).machine.phase, Phase::RollingBack { .. }),
        "desired is not done: the site must run it"
    );
    // The canary runs generation 1 again.
    let back = status(&o, "north", &[("n1", 1, 1, true), ("n2", 1, 1, true)]);
    assert!(drive(&mut o, std::slice::from_ref(&back), T0 + 200).is_empty());
    assert!(matches!(
        rollout(&o).machine.phase,
        Phase::RolledBack { .. }
    ));
    let statuses = BTreeMap::from([back]);
    let rolled = crate::rollup::roll_up(&o, &statuses, &BTreeMap::new(), T0 + 200);
    assert_eq!(rolled.items[0].state, OrderState::Failed);
    let why = rolled.items[0].status_reason.as_ref().unwrap().to_string();
    assert!(why.contains("rollout 1 sites of wave 0 failed"), "{why}");
}

#[test]
fn a_silent_site_never_succeeds_and_fails_under_the_fail_policy() {
    let mut o = started();
    let (id, mut st) = status(&o, "north", &[("n1", 2, 2, true), ("n2", 1, 1, true)]);
    st.sites[0].unreachable = true;
    let cut = [(id, st)];
    drive(&mut o, &cut, T0 + 100);
    assert_eq!(rollout(&o).unheard_since["north/n1"], T0 + 100);
    drive(&mut o, &cut, T0 + 3000);
    assert!(matches!(
        rollout(&o).machine.sites["north/n1"],
        SiteState::Started { .. }
    ));
    // Not heard for the report timeout since maestro saw it cut off: failed, which aborts.
    let mut stepped = o.clone();
    let statuses: BTreeMap<String, IntentStatus> = cut.iter().cloned().collect();
    let r = stepped.items[0].rollout.as_mut().unwrap();
    let reports =
        super::reports::site_reports(&o.items[0], r, &statuses, &BTreeMap::new(), T0 + 5200);
    let input = super::Input {
        reports,
        command: None,
    };
    let (machine, _) = super::step(&r.machine, &input, T0 + 5200);
    let failed = machine
        .sites
        .iter()
        .any(|(k, s)| k == "north/n1" && matches!(s, SiteState::RollingBack { .. }));
    assert!(failed, "{machine:?}");
    match &machine.phase {
        Phase::RollingBack {
            reason: super::AbortReason::FailureThreshold { failed: 1, .. },
        } => {}
        other => panic!("expected an abort on the failure, got {other:?}"),
    }
}

#[test]
fn a_rollout_is_refused_while_another_runs_or_where_the_placement_moves() {
    let first = planned(
        pb::ItemAction::Modify,
        STRATEGY,
        &running(),
        &BTreeMap::new(),
    )
    .unwrap();
    let open = BTreeMap::from([(
        "web".to_string(),
        LastRollout {
            order_id: "o-2".into(),
            rollout: rollout(&first.order).clone(),
            open: true,
        },
    )]);
    let e = planned(pb::ItemAction::Modify, STRATEGY, &running(), &open).unwrap_err();
    assert!(
        e.to_string().contains("is being rolled out by order o-2"),
        "{e}"
    );
    let mut moved = running();
    moved.get_mut("web").unwrap().targets.pop();
    let e = planned(pb::ItemAction::Modify, STRATEGY, &moved, &BTreeMap::new()).unwrap_err();
    assert!(e.to_string().contains("order.items[0].rollout_json"), "{e}");
    let mut unknown = running();
    unknown.get_mut("web").unwrap().templates.clear();
    let e = planned(pb::ItemAction::Modify, STRATEGY, &unknown, &BTreeMap::new()).unwrap_err();
    assert!(e.to_string().contains("are not known"), "{e}");
}

#[test]
fn after_a_rolled_back_rollout_the_sites_return_to_what_they_ran_before_it() {
    let first = planned(
        pb::ItemAction::Modify,
        STRATEGY,
        &running(),
        &BTreeMap::new(),
    )
    .unwrap();
    let mut r = rollout(&first.order).clone();
    r.machine.phase = Phase::RolledBack {
        reason: super::AbortReason::Operator,
    };
    let last = BTreeMap::from([(
        "web".to_string(),
        LastRollout {
            order_id: "o-2".into(),
            rollout: r,
            open: false,
        },
    )]);
    let mut inv = running();
    inv.get_mut("web").unwrap().generation = 2;
    inv.get_mut("web").unwrap().order_id = "o-2".into();
    let p = planned(pb::ItemAction::Modify, STRATEGY, &inv, &last).unwrap();
    let previous = p.outbox[0]
        .intent
        .rollout
        .as_ref()
        .unwrap()
        .previous
        .clone()
        .unwrap();
    assert_eq!(
        (previous.generation, previous.order_id.as_str()),
        (1, "o-1"),
        "generation 2 never ran: the sites go back to 1"
    );
    assert_eq!(rollout(&p.order).machine.previous_generation, 1);
}

#[test]
fn a_site_paused_locally_is_not_started_and_waits_with_its_reason() {
    let mut o = started();
    let (id, mut st) = status(&o, "north", &[("n1", 2, 2, true), ("n2", 1, 1, true)]);
    st.sites[1].reasons = vec![StatusReason::SitePaused {
        site: "n2".into(),
        reason: "blasting until 18:00".into(),
        since_ms: Some(T0),
    }];
    let news = [(id, st)];
    drive(&mut o, &news, T0 + 100);
    let sent = drive(&mut o, &news, T0 + 1100);
    assert_eq!(
        admitted(&sent),
        [
            ("north".to_string(), vec!["n1".to_string()], 2),
            ("south".to_string(), vec!["s1".to_string()], 2)
        ],
        "the canary passed; the paused site waits, the other one starts"
    );
    let r = rollout(&o);
    assert_eq!(
        r.machine.waiting.get("north/n2"),
        Some(&super::WaitReason::Maintenance {
            reason: "site n2 paused locally: blasting until 18:00".into()
        })
    );
}
