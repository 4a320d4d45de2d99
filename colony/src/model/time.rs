//! Go `time.Time` on the wire: RFC 3339 with nanoseconds; the zero value is `0001-01-01T00:00:00Z`.

use chrono::{DateTime, NaiveDate, Utc};

/// Go's zero `time.Time`, which ColonyOS uses for "not set".
pub fn zero_time() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
