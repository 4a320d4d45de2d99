//! What the seeded fault suites share: a small seeded generator, the seed itself (from
//! `MAESTRO_FAULT_SEED` or the clock, printed so that a failing run can be replayed), the numeric
//! knobs read from the environment, and the final check that every site runs exactly what the
//! last order of each service asked for.

use crate::scenario::workloads_per_site;
use std::collections::BTreeMap;
use std::time::Duration;

/// What the last acknowledged order asked of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// This many replicas at every site.
    Running(usize),
    /// Nothing left anywhere.
    Deleted,
}

impl Want {
    /// Replicas per site.
    pub fn replicas(self) -> usize {
        match self {
            Self::Running(r) => r,
            Self::Deleted => 0,
        }
    }
}

/// Waits until each service of `want` runs exactly its replicas at every one of `sites` (none
/// lost, duplicated or orphaned); on timeout, names every mismatch.
pub async fn converged(
    want: &BTreeMap<String, Want>,
    sites: &[&str],
    timeout: Duration,
) -> anyhow::Result<()> {
    let mut mismatch = Vec::new();
    let found = maestro_testkit::until("workloads to match the last orders", timeout, async || {
        mismatch.clear();
        for (service, w) in want {
            let running = workloads_per_site(service);
            for site in sites {
                let n = running.get(*site).map_or(0, Vec::len);
                if n != w.replicas() {
                    mismatch.push(format!(
                        "{service}@{site}: {n} running, {} wanted",
                        w.replicas()
                    ));
                }
            }
        }
        Ok(mismatch.is_empty().then_some(()))
    })
    .await;
    found.map_err(|e| anyhow::anyhow!("{e}: {mismatch:?}"))
}

/// A small seeded generator (xorshift64*): the same seed gives the same faults.
pub struct Rng(u64);

impl Rng {
    /// A generator starting at `seed` (0 is moved to 1: xorshift never leaves 0).
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// `key` from the environment as a number, if set and numeric.
pub fn env_u64(key: &str) -> Option<u64> {
    std::env::var(key).ok()?.parse().ok()
}

/// The run's seed: `MAESTRO_FAULT_SEED`, or one from the clock. Printed with how to replay it.
pub fn seed(suite: &str) -> u64 {
    let seed = env_u64("MAESTRO_FAULT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1
    });
    eprintln!("{suite}: seed {seed} (MAESTRO_FAULT_SEED={seed} replays it)");
    seed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sequence_and_below_stays_below() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        let xs: Vec<u64> = (0..16).map(|_| a.below(7)).collect();
        let ys: Vec<u64> = (0..16).map(|_| b.below(7)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| *x < 7));
        assert!(xs.iter().any(|x| *x != xs[0]), "{xs:?}");
    }
}
