//! A simulated fleet for the rollout tests: sites that follow the actions of the machine, take
//! a while to converge, and then behave as they were told to (healthy, failing, silent).

use super::fixtures::{NEW, OLD};
use super::{Action, Health, Input, Rollout, SiteReport};
use std::collections::BTreeMap;

/// How long a site takes to run a generation it was told to run.
pub const CONVERGE: i64 = 20_000;

/// How a simulated site behaves at the new generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Converges and stays healthy.
    Healthy,
    /// Converges, then fails its health check on every report.
    Fails,
    /// Never heard once told to change.
    Silent,
}

/// One simulated site.
#[derive(Debug, Clone)]
pub struct SimSite {
    /// How it behaves at the new generation.
    pub behaviour: Behaviour,
    /// The generation it was told to run.
    pub desired: u64,
    /// The generation it runs.
    pub running: u64,
    /// When it was last told to change.
    pub changed_at: i64,
    /// Since when it runs `running`.
    pub running_since: i64,
    /// Failed reports at the new generation.
    pub attempts: u32,
    /// How many times it was told to change (start or roll back).
    pub orders: u32,
    /// What it last reported (kept for a site gone silent, as a domain keeps it).
    pub last: Option<SiteReport>,
}

/// The fleet by site name.
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    /// Its sites.
    pub sites: BTreeMap<String, SimSite>,
}

impl Fleet {
    /// A fleet of these sites, all at [`OLD`].
    pub fn new(sites: impl IntoIterator<Item = (String, Behaviour)>) -> Self {
        let sites = sites
            .into_iter()
            .map(|(n, behaviour)| {
                let site = SimSite {
                    behaviour,
                    desired: OLD,
                    running: OLD,
                    changed_at: 0,
                    running_since: 0,
                    attempts: 0,
                    orders: 0,
                    last: None,
                };
                (n, site)
            })
            .collect();
        Self { sites }
    }

    /// Time passes up to `now`: sites converge; then what each reports.
    pub fn reports(&mut self, now: i64) -> BTreeMap<String, SiteReport> {
        let mut out = BTreeMap::new();
        for (name, s) in &mut self.sites {
            if s.running != s.desired && now - s.changed_at >= CONVERGE {
                s.running = s.desired;
                s.running_since = now;
            }
            let changed = s.orders > 0;
            if s.behaviour == Behaviour::Silent && changed {
                if let Some(last) = &s.last {
                    out.insert(name.clone(), last.clone());
                }
                continue;
            }
            let health = if s.behaviour == Behaviour::Fails && s.running == NEW {
                s.attempts += 1;
                Health::Failed {
                    reason: "probe failed".into(),
                    attempts: s.attempts,
                }
            } else if s.running == s.desired {
                Health::Healthy {
                    since_ms: s.running_since,
                }
            } else {
                Health::Progressing
            };
            let report = SiteReport {
                generation: s.running,
                health,
                last_heard_ms: now,
                ..SiteReport::default()
            };
            s.last = Some(report.clone());
            out.insert(name.clone(), report);
        }
        out
    }

    /// Carries out the machine's actions at `now`.
    pub fn apply(&mut self, actions: &[Action], now: i64) {
        for a in actions {
            let (sites, generation) = match a {
                Action::StartSites { sites, .. } => (sites, NEW),
                Action::RollBack { sites } => (sites, OLD),
                _ => continue,
            };
            for n in sites {
                if let Some(s) = self.sites.get_mut(n) {
                    s.desired = generation;
                    s.changed_at = now;
                    s.orders += 1;
                }
            }
        }
    }
}

/// Runs `rollout` over `fleet` every `tick` ms from `start` until it ends or `max_steps` pass;
/// `commands` gives an operator command for a step number. Returns the final rollout, every
/// step's time and actions, and checks at each step that a second step would do nothing.
pub fn run(
    mut rollout: Rollout,
    fleet: &mut Fleet,
    start: i64,
    tick: i64,
    max_steps: usize,
    commands: &dyn Fn(usize) -> Option<super::Command>,
) -> (Rollout, Vec<(i64, Vec<Action>)>) {
    let mut log = Vec::new();
    for i in 0..max_steps {
        let now = start + tick * i as i64;
        let input = Input {
            reports: fleet.reports(now),
            command: commands(i),
        };
        let (next, actions) = super::step(&rollout, &input, now);
        let (again, none) = super::step(&next, &input, now);
        assert!(
            none.is_empty() && again == next,
            "step {i} is not idempotent: {none:?}"
        );
        fleet.apply(&actions, now);
        rollout = next;
        if !actions.is_empty() {
            log.push((now, actions));
        }
        if rollout.phase.is_final() {
            break;
        }
    }
    (rollout, log)
}
