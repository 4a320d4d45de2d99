//! What the site's host has free, for the heartbeat: memory available (`MemAvailable` of
//! `/proc/meminfo`) and CPU (the cores minus the 1-minute load average of `/proc/loadavg`, in
//! thousandths of a core). Unknown (0) where the files cannot be read, e.g. off Linux.

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

/// The host's free memory and CPU now.
pub fn read() -> (u64, u64) {
    let mem = std::fs::read_to_string("/proc/meminfo").map_or(0, |t| mem_available(&t));
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
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
    fn this_host_reports_something() {
        let (mem, cpu) = read();
        assert!(mem > 0, "MemAvailable is readable here");
        let cores = std::thread::available_parallelism().unwrap().get() as u64;
        assert!(cpu <= cores * 1000);
    }
}
