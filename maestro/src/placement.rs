//! Choosing `count` of the candidate domains of a placement: reachable ones first, then those
//! matching more of the preferred labels, then ones that differ in the `spread_by` label from
//! those already chosen, then the most free memory at their sites (in whole GiB), then the
//! least loaded (fewest services placed), then the most free CPU (in whole cores), then by id. Pure and
//! deterministic: the same candidates and facts always give the same choice.

use crate::model::Placement;
use crate::registry::DomainRecord;
use std::collections::{BTreeMap, BTreeSet};

/// What maestro knows of the domains when it places: which are unreachable now and how many
/// services each runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fit {
    /// Domains unreachable now.
    pub down: BTreeSet<String>,
    /// Services placed per domain (absent: none).
    pub load: BTreeMap<String, usize>,
    /// What each domain's sites have free (absent: not reported).
    pub capacity: BTreeMap<String, crate::registry::Capacity>,
}

/// A GiB: free memory is compared in whole GiB, so small differences do not decide.
const GIB: u64 = 1 << 30;

/// The domains of `candidates` the placement keeps: without the avoided ones, and `count` of
/// them when it asks for a count (all otherwise). `None` when fewer than `count` are left.
pub fn choose<'a>(
    placement: &Placement,
    candidates: Vec<&'a DomainRecord>,
    fit: &Fit,
) -> Option<Vec<&'a DomainRecord>> {
    let mut left: Vec<&DomainRecord> = candidates
        .into_iter()
        .filter(|d| !placement.avoid.contains(&d.id))
        .collect();
    let count = placement.count as usize;
    if count == 0 {
        return Some(left);
    }
    if left.len() < count {
        return None;
    }
    let preferred = |d: &DomainRecord| {
        placement
            .prefer
            .iter()
            .filter(|(k, v)| d.labels.get(*k) == Some(*v))
            .count()
    };
    let mut chosen: Vec<&DomainRecord> = Vec::with_capacity(count);
    while chosen.len() < count {
        let used: BTreeSet<Option<&String>> = chosen
            .iter()
            .map(|d| d.labels.get(&placement.spread_by))
            .collect();
        let spread = |d: &DomainRecord| {
            !placement.spread_by.is_empty() && used.contains(&d.labels.get(&placement.spread_by))
        };
        let best = left
            .iter()
            .enumerate()
            .min_by_key(|(_, d)| {
                let free = fit.capacity.get(&d.id).copied().unwrap_or_default();
                (
                    fit.down.contains(&d.id),
                    std::cmp::Reverse(preferred(d)),
                    spread(d),
                    std::cmp::Reverse(free.free_memory_bytes / GIB),
                    fit.load.get(&d.id).copied().unwrap_or(0),
                    std::cmp::Reverse(free.free_cpu_millis / 1000),
                    d.id.clone(),
                )
            })
            .map(|(i, _)| i)?;
        chosen.push(left.remove(best));
    }
    chosen.sort_by(|a, b| a.id.cmp(&b.id));
    Some(chosen)
}

/// The sites of `d` the placement keeps of `matching` (in the domain's order): all of them, or
/// `site_count` of them spread over the values of the `spread_by` label (a site's own labels,
/// then its domain's) — a value not yet used first, then by name.
pub fn choose_sites(
    placement: &Placement,
    d: &DomainRecord,
    matching: Vec<&String>,
) -> Vec<String> {
    let count = placement.site_count as usize;
    if count == 0 || matching.len() <= count {
        return matching.into_iter().cloned().collect();
    }
    let value = |s: &str| {
        d.site_labels
            .get(s)
            .and_then(|l| l.get(&placement.spread_by))
            .or_else(|| d.labels.get(&placement.spread_by))
            .cloned()
    };
    let mut left = matching;
    let mut chosen: Vec<String> = Vec::with_capacity(count);
    let mut used = BTreeSet::new();
    while chosen.len() < count {
        let Some(i) = left
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| {
                let repeat = !placement.spread_by.is_empty() && used.contains(&value(s));
                (repeat, s.to_string())
            })
            .map(|(i, _)| i)
        else {
            break;
        };
        let s = left.remove(i);
        used.insert(value(s));
        chosen.push(s.clone());
    }
    chosen.sort_by_key(|s| d.sites.iter().position(|x| x == s));
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::domain;

    fn labelled(id: &str, region: &str) -> DomainRecord {
        let mut d = domain(id, &["s"]);
        d.labels.insert("region".into(), region.into());
        d
    }

    fn ids(v: Option<Vec<&DomainRecord>>) -> Vec<String> {
        v.unwrap().iter().map(|d| d.id.clone()).collect()
    }

    #[test]
    fn a_site_count_spreads_over_the_label_values() {
        let mut d = domain("north", &["a", "b", "c", "d"]);
        for (s, zone) in [("a", "z1"), ("b", "z1"), ("c", "z2"), ("d", "z2")] {
            d.site_labels
                .insert(s.into(), [("zone".to_string(), zone.to_string())].into());
        }
        let all: Vec<&String> = d.sites.iter().collect();
        let mut p = Placement {
            site_count: 2,
            ..Placement::default()
        };
        assert_eq!(choose_sites(&p, &d, all.clone()), ["a", "b"], "by name");
        p.spread_by = "zone".into();
        assert_eq!(
            choose_sites(&p, &d, all.clone()),
            ["a", "c"],
            "one per zone"
        );
        p.site_count = 0;
        assert_eq!(choose_sites(&p, &d, all).len(), 4, "no count: all");
    }

    #[test]
    fn reachable_preferred_spread_and_least_loaded_domains_come_first() {
        let all = [
            labelled("a", "eu"),
            labelled("b", "eu"),
            labelled("c", "us"),
            labelled("d", "us"),
        ];
        let cands = || all.iter().collect::<Vec<_>>();
        let mut p = Placement {
            count: 2,
            ..Placement::default()
        };
        assert_eq!(
            ids(choose(&p, cands(), &Fit::default())),
            ["a", "b"],
            "by id"
        );
        p.spread_by = "region".into();
        assert_eq!(
            ids(choose(&p, cands(), &Fit::default())),
            ["a", "c"],
            "one per region"
        );
        let fit = Fit {
            down: BTreeSet::from(["a".to_string()]),
            load: BTreeMap::from([("c".to_string(), 5)]),
            capacity: BTreeMap::new(),
        };
        assert_eq!(
            ids(choose(&p, cands(), &fit)),
            ["b", "d"],
            "a is down, c is loaded"
        );
        p.prefer = BTreeMap::from([("region".to_string(), "us".to_string())]);
        p.spread_by.clear();
        assert_eq!(
            ids(choose(&p, cands(), &fit)),
            ["c", "d"],
            "preference wins over load"
        );
        let mut roomy = fit.clone();
        let big = crate::registry::Capacity {
            free_memory_bytes: 8 * GIB,
            ..Default::default()
        };
        roomy.capacity.insert("c".into(), big);
        p.prefer.clear();
        assert_eq!(
            ids(choose(&p, cands(), &roomy)),
            ["b", "c"],
            "free memory wins over load"
        );
        p.avoid = vec!["c".into(), "d".into(), "b".into()];
        assert!(choose(&p, cands(), &fit).is_none(), "one left, two asked");
        p.count = 0;
        assert_eq!(
            ids(choose(&p, cands(), &fit)),
            ["a"],
            "no count: every one not avoided"
        );
    }
}
