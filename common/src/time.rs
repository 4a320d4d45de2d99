//! Wall-clock helpers and protobuf `Timestamp` conversions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A protobuf timestamp for `millis` since the epoch.
pub fn timestamp(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: (millis.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// Milliseconds since the epoch of a protobuf timestamp (0 when absent).
pub fn millis(ts: Option<&prost_types::Timestamp>) -> i64 {
    ts.map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

/// How long ago `millis` was, saturating at zero.
pub fn age(millis: i64) -> Duration {
    Duration::from_millis(u64::try_from(now_millis() - millis).unwrap_or(0))
}

/// RFC 3339 text of `millis` since the epoch.
pub fn rfc3339(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis).map_or_else(String::new, |d| d.to_rfc3339())
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_round_trip() {
        for m in [0, 1, 999, 1_700_000_000_123, -1] {
            assert_eq!(super::millis(Some(&super::timestamp(m))), m);
        }
    }
}
