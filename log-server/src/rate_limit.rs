//! Per-site push rate limit: one token bucket per site, a token per record. A push is admitted
//! whole or not at all, so a refused push stores nothing and costs no tokens; the site's outbox
//! keeps the records and retries.
//!
//! Buckets start full. A bucket that has refilled completely is indistinguishable from a missing
//! one, so full buckets are forgotten when many sites are tracked, which bounds the map by the
//! number of sites that pushed within the last `burst / rate` seconds.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio::time::Instant;

/// Tracked sites above which full buckets are pruned.
const PRUNE_ABOVE: usize = 1024;

/// Why a push was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("site {site} exceeds {rate} records/s")]
pub struct RateLimited {
    /// The first site of the push without enough tokens.
    pub site: String,
    /// The configured rate, records per second.
    pub rate: u32,
}

impl From<RateLimited> for tonic::Status {
    fn from(e: RateLimited) -> Self {
        tonic::Status::resource_exhausted(e.to_string())
    }
}

/// One site's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Tokens available at `now`, at most `burst`.
    fn available(&self, now: Instant, rate: f64, burst: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * rate).min(burst)
    }
}

/// Token buckets of every site that pushed recently.
#[derive(Debug)]
pub struct SiteRateLimiter {
    rate: u32,
    burst: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl SiteRateLimiter {
    /// `rate` records per second per site, at most `burst` at once.
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Admits a push of `counts` records per site at `now` and takes their tokens, or refuses it
    /// whole (taking nothing), naming the first site without enough tokens.
    pub fn admit<'a>(
        &self,
        counts: impl IntoIterator<Item = (&'a str, u64)> + Clone,
        now: Instant,
    ) -> Result<(), RateLimited> {
        let (rate, burst) = (f64::from(self.rate), f64::from(self.burst));
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (site, n) in counts.clone() {
            let available = buckets
                .get(site)
                .map_or(burst, |b| b.available(now, rate, burst));
            if available < n as f64 {
                return Err(RateLimited {
                    site: site.to_string(),
                    rate: self.rate,
                });
            }
        }
        for (site, n) in counts {
            let bucket = buckets.entry(site.to_string()).or_insert(Bucket {
                tokens: burst,
                at: now,
            });
            *bucket = Bucket {
                tokens: bucket.available(now, rate, burst) - n as f64,
                at: now,
            };
        }
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| b.available(now, rate, burst) < burst);
        }
        Ok(())
    }

    /// Sites currently tracked (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// Records per site of a batch, in order of first appearance.
pub(crate) fn per_site<'a>(sites: impl IntoIterator<Item = &'a str>) -> Vec<(&'a str, u64)> {
    let mut counts: Vec<(&str, u64)> = Vec::new();
    for site in sites {
        match counts.iter_mut().find(|(s, _)| *s == site) {
            Some((_, n)) => *n += 1,
            None => counts.push((site, 1)),
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_over_the_bucket_is_refused_whole_then_admitted_after_refill() {
        let limiter = SiteRateLimiter::new(10, 100);
        let t0 = Instant::now();
        assert_eq!(limiter.admit([("s1", 100)], t0), Ok(()));
        let e = limiter.admit([("s1", 1)], t0).unwrap_err();
        assert_eq!(e.to_string(), "site s1 exceeds 10 records/s");
        // 0.5 s refills 5 tokens: 6 is refused (and takes nothing), 5 is admitted.
        let t1 = t0 + Duration::from_millis(500);
        assert!(limiter.admit([("s1", 6)], t1).is_err());
        assert_eq!(limiter.admit([("s1", 5)], t1), Ok(()));
        assert!(limiter.admit([("s1", 1)], t1).is_err());
        // A long pause refills to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!(limiter.admit([("s1", 100)], t2), Ok(()));
        assert!(limiter.admit([("s1", 1)], t2).is_err());
    }

    #[test]
    fn sites_have_their_own_buckets_and_a_mixed_push_is_all_or_nothing() {
        let limiter = SiteRateLimiter::new(1, 10);
        let t0 = Instant::now();
        assert_eq!(limiter.admit([("s1", 10)], t0), Ok(()));
        assert_eq!(limiter.admit([("s2", 5)], t0), Ok(()));
        let e = limiter.admit([("s2", 5), ("s1", 1)], t0).unwrap_err();
        assert_eq!(e.site, "s1");
        // s2 was not charged for the refused push.
        assert_eq!(limiter.admit([("s2", 5)], t0), Ok(()));
    }

    #[test]
    fn full_buckets_are_forgotten_when_many_sites_are_tracked() {
        let limiter = SiteRateLimiter::new(1000, 1000);
        let t0 = Instant::now();
        let names: Vec<String> = (0..=PRUNE_ABOVE).map(|i| format!("s{i}")).collect();
        for name in &names {
            limiter.admit([(name.as_str(), 1000)], t0).unwrap();
        }
        assert!(limiter.tracked() <= PRUNE_ABOVE + 1);
        limiter
            .admit([("late", 1)], t0 + Duration::from_secs(2))
            .unwrap();
        assert_eq!(limiter.tracked(), 1, "only the non-full bucket remains");
    }

    #[test]
    fn counts_per_site_in_order_of_appearance() {
        assert_eq!(per_site(["b", "a", "b", "b"]), vec![("b", 3), ("a", 1)]);
    }
}
