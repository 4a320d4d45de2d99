//! What the domain's sites have free, summed for its heartbeat to maestro (placement prefers
//! domains with more): the free memory and CPU each site's latest heartbeat reported, counting
//! only sites heard within the site liveness threshold, so a site that went quiet adds nothing.

use crate::status::SiteSync;
use maestro_proto::domain::v1 as pb;

/// Reads the domain's capacity when a heartbeat goes.
#[derive(Clone)]
pub struct CapacitySource(pub std::sync::Arc<dyn Fn() -> pb::Capacity + Send + Sync>);

impl std::fmt::Debug for CapacitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CapacitySource")
    }
}

/// The sum over `syncs` (each site's latest heartbeat) of the reports taken in within
/// `fresh_ms` of `now_ms`.
pub fn sum<'a>(
    syncs: impl IntoIterator<Item = &'a SiteSync>,
    now_ms: i64,
    fresh_ms: u64,
) -> pb::Capacity {
    let fresh = i64::try_from(fresh_ms).unwrap_or(i64::MAX);
    let mut c = pb::Capacity::default();
    for s in syncs {
        let reported = s.free_memory_bytes > 0 || s.free_cpu_millis > 0;
        if reported && s.reported_at_ms > 0 && now_ms.saturating_sub(s.reported_at_ms) <= fresh {
            c.free_memory_bytes = c.free_memory_bytes.saturating_add(s.free_memory_bytes);
            c.free_cpu_millis = c.free_cpu_millis.saturating_add(s.free_cpu_millis);
            c.sites += 1;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(mem: u64, cpu: u64, at: i64) -> SiteSync {
        SiteSync {
            free_memory_bytes: mem,
            free_cpu_millis: cpu,
            reported_at_ms: at,
            ..SiteSync::default()
        }
    }

    #[test]
    fn only_recent_reports_count() {
        let syncs = [
            site(100, 500, 9_000),
            site(50, 250, 10_000),
            site(7, 7, 1_000),
            site(0, 0, 10_000),
        ];
        let c = sum(&syncs, 10_000, 5_000);
        assert_eq!(
            (c.free_memory_bytes, c.free_cpu_millis, c.sites),
            (150, 750, 2)
        );
    }
}
