//! Maintenance windows (policy key `maintenance_windows`): when a domain declares any, it
//! publishes changes to its sites only inside one. An intent that arrives outside is stored and
//! acknowledged as always (durable, idempotent), then held: its status says it waits for the
//! window and when that opens, the sites keep running what they run, and the change is published
//! when the window opens. Times are UTC; a window whose end is before its start runs past
//! midnight (`22:00`–`04:00`), and belongs to the day it starts on.
//!
//! Invariant: with no window declared, every moment is inside.

use maestro_common::FieldError;
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// Most windows one policy declares.
const MAX_WINDOWS: usize = 64;

/// One weekly window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Days it opens on (`mon` … `sun`); empty: every day.
    #[serde(default)]
    pub days: Vec<String>,
    /// Opening time, `HH:MM` UTC.
    pub start: String,
    /// Closing time, `HH:MM` UTC (`24:00` for midnight); before `start`: the next day.
    pub end: String,
}

impl Window {
    fn validate(&self, field: &str) -> Result<(), FieldError> {
        for (i, d) in self.days.iter().enumerate() {
            if !DAY_NAMES.contains(&d.as_str()) {
                return Err(FieldError::new(
                    format!("{field}.days[{i}]"),
                    format!("{d:?} is not one of {}", DAY_NAMES.join(", ")),
                ));
            }
        }
        let start = minutes(&self.start).ok_or_else(|| bad_time(field, "start"))?;
        let end = minutes(&self.end).ok_or_else(|| bad_time(field, "end"))?;
        if start == end || start == 24 * 60 {
            return Err(FieldError::new(
                format!("{field}.end"),
                "a window must not be empty (start and end differ; start before 24:00)",
            ));
        }
        Ok(())
    }

    /// Whether the window opens on day `weekday` (0 = Monday).
    fn opens_on(&self, weekday: usize) -> bool {
        self.days.is_empty() || self.days.iter().any(|d| d == DAY_NAMES[weekday])
    }

    /// The (open, close) times, ms since the epoch, of the occurrence starting on the day that
    /// begins at `day_ms`, if the window opens that day.
    fn occurrence(&self, day_ms: i64) -> Option<(i64, i64)> {
        if !self.opens_on(weekday(day_ms)) {
            return None;
        }
        let start = minutes(&self.start)?;
        let mut end = minutes(&self.end)?;
        if end <= start {
            end += 24 * 60;
        }
        Some((day_ms + start * MINUTE_MS, day_ms + end * MINUTE_MS))
    }
}

fn bad_time(field: &str, key: &str) -> FieldError {
    FieldError::new(
        format!("{field}.{key}"),
        "must be HH:MM (00:00 to 24:00), UTC",
    )
}

/// Minutes since midnight of `HH:MM`.
fn minutes(t: &str) -> Option<i64> {
    let (h, m) = t.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m) || (h, m) == (24, 0)).then_some(h * 60 + m)
}

/// Day of the week of the day starting at `day_ms` (0 = Monday; 1970-01-01 was a Thursday).
fn weekday(day_ms: i64) -> usize {
    usize::try_from((day_ms.div_euclid(DAY_MS) + 3).rem_euclid(7)).unwrap_or(0)
}

/// Checks a list of windows, naming the key under `field`.
pub fn validate(windows: &[Window], field: &str) -> Result<(), FieldError> {
    if windows.len() > MAX_WINDOWS {
        return Err(FieldError::new(
            field,
            format!("more than {MAX_WINDOWS} windows"),
        ));
    }
    for (i, w) in windows.iter().enumerate() {
        w.validate(&format!("{field}[{i}]"))?;
    }
    Ok(())
}

/// `None` when a change may be published at `now_ms`; otherwise when the next window opens
/// (ms since the epoch; `None` inside that if no window ever opens, which validation prevents).
pub fn closed_until(windows: &[Window], now_ms: i64) -> Option<Option<i64>> {
    if windows.is_empty() {
        return None;
    }
    let today = now_ms - now_ms.rem_euclid(DAY_MS);
    // A window that started yesterday may still be open; the next opening is within a week.
    let occurrences = (-1..=7).flat_map(|d| {
        let day = today + d * DAY_MS;
        windows.iter().filter_map(move |w| w.occurrence(day))
    });
    let mut next: Option<i64> = None;
    for (open, close) in occurrences {
        if open <= now_ms && now_ms < close {
            return None;
        }
        if open > now_ms {
            next = Some(next.map_or(open, |n| n.min(open)));
        }
    }
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-30 was a Monday.
    const MONDAY: i64 = 1_795_996_800_000;

    fn at(day: i64, h: i64, m: i64) -> i64 {
        MONDAY + day * DAY_MS + h * 3_600_000 + m * MINUTE_MS
    }

    fn window(days: &[&str], start: &str, end: &str) -> Window {
        Window {
            days: days.iter().map(|d| d.to_string()).collect(),
            start: start.into(),
            end: end.into(),
        }
    }

    #[test]
    fn the_epoch_arithmetic_knows_its_weekdays() {
        assert_eq!(weekday(MONDAY), 0);
        assert_eq!(weekday(MONDAY + 6 * DAY_MS), 6);
        assert_eq!(weekday(0), 3, "1970-01-01 was a Thursday");
    }

    #[test]
    fn no_window_means_always_open() {
        assert_eq!(closed_until(&[], at(0, 12, 0)), None);
    }

    #[test]
    fn inside_a_window_is_open_and_outside_names_the_next_opening() {
        let nightly = [window(&["tue", "thu"], "22:00", "04:00")];
        assert_eq!(
            closed_until(&nightly, at(0, 12, 0)),
            Some(Some(at(1, 22, 0)))
        );
        assert_eq!(closed_until(&nightly, at(1, 22, 0)), None, "opening minute");
        assert_eq!(closed_until(&nightly, at(2, 3, 59)), None, "past midnight");
        assert_eq!(
            closed_until(&nightly, at(2, 4, 0)),
            Some(Some(at(3, 22, 0))),
            "closed at its end, next on Thursday"
        );
        assert_eq!(
            closed_until(&nightly, at(4, 5, 0)),
            Some(Some(at(8, 22, 0))),
            "after Thursday's: next Tuesday"
        );
        let daily = [window(&[], "00:00", "24:00")];
        assert_eq!(closed_until(&daily, at(5, 23, 59)), None);
        let two = [
            window(&["mon"], "10:00", "11:00"),
            window(&["mon"], "08:00", "09:00"),
        ];
        assert_eq!(
            closed_until(&two, at(0, 7, 0)),
            Some(Some(at(0, 8, 0))),
            "the earliest"
        );
    }

    #[test]
    fn bad_windows_are_refused_naming_the_key() {
        let field = |w: Window| {
            validate(&[w], "policy.maintenance_windows")
                .unwrap_err()
                .field
        };
        assert_eq!(
            field(window(&["monday"], "01:00", "02:00")),
            "policy.maintenance_windows[0].days[0]"
        );
        assert_eq!(
            field(window(&[], "1:00", "02:00")),
            "policy.maintenance_windows[0].start"
        );
        assert_eq!(
            field(window(&[], "01:00", "24:01")),
            "policy.maintenance_windows[0].end"
        );
        assert_eq!(
            field(window(&[], "01:00", "01:00")),
            "policy.maintenance_windows[0].end"
        );
        assert!(validate(&[window(&["sun"], "23:00", "24:00")], "w").is_ok());
    }
}
