//! The plan of waves: a pure function from a strategy and the target sites (with their labels)
//! to the sites of each wave. Deterministic: the same inputs give the same waves, whatever the
//! order the sites arrive in. Never produces an empty wave; every site is in exactly one wave.

use super::strategy::{SiteOrder, Strategy, WaveSizes};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A site a rollout targets, with the labels its domain reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSite {
    /// Site name (unique in a rollout).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

impl TargetSite {
    /// A site with these labels.
    pub fn new<'a>(name: &str, labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            name: name.to_string(),
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// The sites of each wave, in order: the canary wave (when the strategy names one and a site
/// matches it), then the sized waves over the other sites, the last one taking the rest.
pub fn plan_waves(strategy: &Strategy, sites: &[TargetSite]) -> Vec<Vec<String>> {
    let mut ordered: Vec<&TargetSite> = sites.iter().collect();
    ordered.sort_by(|a, b| compare(&strategy.order, a, b));
    let (canary, rest): (Vec<&TargetSite>, Vec<&TargetSite>) = match &strategy.canary {
        Some(c) => ordered.into_iter().partition(|s| c.matches(&s.labels)),
        None => (Vec::new(), ordered),
    };
    let mut waves = Vec::new();
    if !canary.is_empty() {
        waves.push(canary.iter().map(|s| s.name.clone()).collect());
    }
    let mut start = 0;
    for end in boundaries(&strategy.waves, rest.len()) {
        if end > start {
            waves.push(rest[start..end].iter().map(|s| s.name.clone()).collect());
            start = end;
        }
    }
    waves
}

/// Where each sized wave ends in a list of `n` sites (cumulative, never decreasing, the last
/// one `n`).
fn boundaries(sizes: &WaveSizes, n: usize) -> Vec<usize> {
    let n64 = n as u64;
    let mut sum = 0u64;
    let mut ends: Vec<usize> = match sizes {
        WaveSizes::Counts(counts) => counts
            .iter()
            .map(|c| {
                sum = sum.saturating_add(u64::from(*c));
                sum.min(n64)
            })
            .collect::<Vec<u64>>(),
        WaveSizes::Percentages(pcts) => pcts
            .iter()
            .map(|p| {
                sum = sum.saturating_add(u64::from(*p));
                n64.saturating_mul(sum).div_ceil(100).min(n64)
            })
            .collect(),
    }
    .into_iter()
    .map(|e| usize::try_from(e).unwrap_or(n))
    .collect();
    if let Some(last) = ends.last_mut() {
        *last = n;
    } else {
        ends.push(n);
    }
    ends
}

/// The rank of a site in the `first` labels (unmatched sites after all matched ones).
fn first_rank(order: &SiteOrder, site: &TargetSite) -> usize {
    order
        .first
        .iter()
        .position(|l| l.matches(&site.labels))
        .unwrap_or(order.first.len())
}

fn compare(order: &SiteOrder, a: &TargetSite, b: &TargetSite) -> Ordering {
    first_rank(order, a)
        .cmp(&first_rank(order, b))
        .then_with(|| {
            order
                .by
                .iter()
                .map(|k| match (a.labels.get(k), b.labels.get(k)) {
                    (Some(x), Some(y)) => x.cmp(y),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => Ordering::Equal,
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
        .then_with(|| a.name.cmp(&b.name))
}

#[cfg(test)]
#[path = "waves_tests.rs"]
mod tests;
