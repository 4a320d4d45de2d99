//! How long, in the dev federation, maestro waits before it calls a silent domain unreachable
//! (and moves its services elsewhere), and a domain before it calls a silent site unreachable:
//! scaled to the heartbeat interval, so that a federation whose domains or sites heartbeat
//! rarely (an idle-cost measurement turns them to once an hour) does not see them become
//! unreachable between two heartbeats.

/// maestro's and the domains' default: unreachable after 30 s without a heartbeat.
const UNREACHABLE_FLOOR_MS: u64 = 30_000;
/// maestro's default failover delay.
const FAILOVER_FLOOR_MS: u64 = 300_000;
/// Heartbeats a domain may miss before it is unreachable.
const MISSED_HEARTBEATS: u64 = 3;

/// `domain_unreachable_after_ms` (maestro) or `site_unreachable_after_ms` (a domain) for
/// heartbeats every `heartbeat_ms`: three missed heartbeats, never less than the default.
pub fn unreachable_after_ms(heartbeat_ms: u64) -> u64 {
    heartbeat_ms
        .saturating_mul(MISSED_HEARTBEATS)
        .max(UNREACHABLE_FLOOR_MS)
}

/// `failover_after_ms` to go with it: maestro's default, or twice the unreachable delay when
/// that is longer (maestro requires it to be at least the unreachable delay).
pub fn failover_after_ms(heartbeat_ms: u64) -> u64 {
    unreachable_after_ms(heartbeat_ms)
        .saturating_mul(2)
        .max(FAILOVER_FLOOR_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_intervals_keep_maestros_defaults() {
        assert_eq!(unreachable_after_ms(2_000), 30_000);
        assert_eq!(failover_after_ms(2_000), 300_000);
    }

    #[test]
    fn hourly_heartbeats_are_not_unreachable_in_between() {
        let hourly = 3_600_000;
        assert_eq!(unreachable_after_ms(hourly), 3 * hourly);
        assert!(failover_after_ms(hourly) >= unreachable_after_ms(hourly));
        assert_eq!(unreachable_after_ms(u64::MAX), u64::MAX);
    }
}
