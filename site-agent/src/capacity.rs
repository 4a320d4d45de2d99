//! What the site's host has free, for the heartbeat: memory available (`MemAvailable` of
//! `/proc/meminfo`) and CPU (the cores minus the 1-minute load average of `/proc/loadavg`, in
//! thousandths of a core). Unknown (0) where the files cannot be read, e.g. off Linux.
//!
//! The cores the process may use are read once (the standard library reads the cgroup's quota
//! and the affinity mask for it, several files each time), and a reading of the two files
//! serves every site agent of the process for [`READING_REUSE`]: the host is the same for all
//! of them (the `dev` federation runs hundreds in one process, each heartbeating).

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// How long one reading of the host serves every heartbeat of the process: well under any
/// heartbeat interval, and the load average itself moves over a minute.
pub const READING_REUSE: Duration = Duration::from_secs(1);

/// Free memory in bytes, from the text of `/proc/meminfo` (0 when absent).
pub fn mem_available(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb.saturating_mul(1024))
}

/// Free CPU in thousandths of a core: `cores` minus the first field of `/proc/loadavg` (0 when
/// unreadable or fully loaded).
pub fn cpu_free_millis(loadavg: &str, cores: usize) -> u64 {
    let Some(load) = loadavg
        .split_whitespace()
        .next()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|l| l.is_finite() && *l >= 0.0)
    else {
        return 0;
    };
    let free = (cores as f64 - load).max(0.0) * 1000.0;
    free.round() as u64
}

/// The host's free memory and CPU, read at most [`READING_REUSE`] ago.
pub fn read() -> (u64, u64) {
    static LAST: Mutex<Option<Reading>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    reuse_or_read(&mut last, Instant::now(), read_host)
}

/// Free memory and CPU and when they were read.
type Reading = (Instant, (u64, u64));

/// `last`'s values when read less than [`READING_REUSE`] before `now`, else `read()`'s (kept).
fn reuse_or_read(
    last: &mut Option<Reading>,
    now: Instant,
    read: impl FnOnce() -> (u64, u64),
) -> (u64, u64) {
    match *last {
        Some((at, values)) if now.saturating_duration_since(at) < READING_REUSE => values,
        _ => {
            let values = read();
            *last = Some((now, values));
            values
        }
    }
}

fn read_host() -> (u64, u64) {
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES
        .get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let mem = std::fs::read_to_string("/proc/meminfo").map_or(0, |t| mem_available(&t));
    let cpu = std::fs::read_to_string("/proc/loadavg").map_or(0, |t| cpu_free_millis(&t, cores));
    (mem, cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_memory_and_cpu_are_read_from_the_proc_files() {
        let meminfo =
            "MemTotal:       16384000 kB\nMemFree:          100 kB\nMemAvailable:    2048 kB\n";
        assert_eq!(mem_available(meminfo), 2048 * 1024);
        assert_eq!(mem_available("MemTotal: 1 kB\n"), 0);
        assert_eq!(cpu_free_millis("0.50 0.40 0.30 1/200 1234\n", 2), 1500);
        assert_eq!(
            cpu_free_millis("3.00 0.40 0.30 1/200 1234\n", 2),
            0,
            "overloaded"
        );
        assert_eq!(cpu_free_millis("nan 1 1", 2), 0);
        assert_eq!(cpu_free_millis("", 2), 0);
    }

    #[test]
    fn a_reading_serves_for_a_second_then_the_host_is_read_again() {
        let t0 = Instant::now();
        let mut last = None;
        let mut reads = 0;
        let mut at = |last: &mut Option<Reading>, after: Duration, value: u64| {
            reuse_or_read(last, t0 + after, || {
                reads += 1;
                (value, value)
            })
        };
        assert_eq!(
            at(&mut last, Duration::ZERO, 1),
            (1, 1),
            "the first is read"
        );
        assert_eq!(at(&mut last, Duration::from_millis(999), 2), (1, 1));
        assert_eq!(at(&mut last, READING_REUSE, 3), (3, 3), "read again");
        assert_eq!(
            at(&mut last, READING_REUSE + Duration::from_millis(500), 4),
            (3, 3)
        );
        assert_eq!(at(&mut last, 3 * READING_REUSE, 5), (5, 5));
        assert_eq!(reads, 3);
    }

    #[test]
    fn this_host_reports_something() {
        let (mem, cpu) = read();
        assert!(mem > 0, "MemAvailable is readable here");
        let cores = std::thread::available_parallelism().unwrap().get() as u64;
        assert!(cpu <= cores * 1000);
    }
}
