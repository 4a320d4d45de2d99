//! Workloads: the native processes a reconciler starts, found through /proc by a key=value in
//! their environment, and a guard that kills a test's workloads however the test ends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

/// One live (non-zombie) process and its environment.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Its process id.
    pub pid: u32,
    /// Its environment.
    pub env: BTreeMap<String, String>,
}

impl Workload {
    /// An environment variable, or "".
    pub fn var(&self, key: &str) -> &str {
        self.env.get(key).map_or("", String::as_str)
    }
}

/// True when `pid` exists and is neither a zombie nor dead.
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    !matches!(state, None | Some("Z") | Some("X"))
}

/// The kernel's flag of its own threads, field 9 of /proc/PID/stat.
const PF_KTHREAD: u64 = 0x0020_0000;

/// How many times an empty environment is read again before it is believed (one ms apart).
const EXEC_WINDOW_READS: u32 = 50;

fn is_kernel_thread(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().nth(6))
        .and_then(|flags| flags.parse::<u64>().ok())
        .is_some_and(|flags| flags & PF_KTHREAD != 0)
}

/// The environment of `pid`. A process caught in `execve` (its parent already resumed, its new
/// environment not yet laid out) shows an empty one for some microseconds: an empty environment
/// of a user process is read again for up to about 50 ms before it is believed.
fn environ(pid: u32) -> Option<BTreeMap<String, String>> {
    let mut raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    if raw.is_empty() && !is_kernel_thread(pid) {
        for _ in 0..EXEC_WINDOW_READS {
            std::thread::sleep(std::time::Duration::from_millis(1));
            raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            if !raw.is_empty() {
                break;
            }
        }
    }
    Some(
        raw.split(|b| *b == 0)
            .filter_map(|kv| {
                let s = String::from_utf8_lossy(kv);
                s.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect(),
    )
}

/// Every live process whose environment has `key=value`, sorted by pid.
pub fn find(key: &str, value: &str) -> Vec<Workload> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if !alive(pid) {
            continue;
        }
        if let Some(env) = environ(pid)
            && env.get(key).is_some_and(|v| v == value)
        {
            out.push(Workload { pid, env });
        }
    }
    out.sort_by_key(|w| w.pid);
    out
}

/// `write_bytes` of `/proc/<pid>/io`: the bytes process `pid` caused to be written to storage.
pub fn written_bytes(pid: u32) -> anyhow::Result<u64> {
    use anyhow::Context;
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))
        .with_context(|| format!("reading /proc/{pid}/io"))?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no write_bytes in /proc/{pid}/io"))
}

/// SIGKILLs `pid`; a process that is already gone is no error.
pub fn kill9(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// SIGKILLs every workload with `key=value`.
pub fn kill_all(key: &str, value: &str) {
    for w in find(key, value) {
        kill9(w.pid);
    }
}

/// Kills every workload with `key=value` when dropped (also on panic). Declare it before the
/// components that start the workloads, so it runs after they stopped.
#[derive(Debug)]
pub struct WorkloadGuard {
    /// The environment key that marks the test's workloads.
    pub key: String,
    /// Its value, unique to the test.
    pub value: String,
}

impl WorkloadGuard {
    /// Guards the workloads with `key=value`.
    pub fn new(key: &str, value: &str) -> Self {
        Self {
            key: key.to_string(),
            value: value.to_string(),
        }
    }

    /// Guards the workloads with `key` set to a fresh value unique to this process and call.
    pub fn unique(key: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self::new(key, &format!("{}-{n}-{nanos}", std::process::id()))
    }

    /// The live workloads it guards, sorted by pid.
    pub fn workloads(&self) -> Vec<Workload> {
        find(&self.key, &self.value)
    }

    /// Their pids, sorted.
    pub fn pids(&self) -> Vec<u32> {
        self.workloads().iter().map(|w| w.pid).collect()
    }
}

impl Drop for WorkloadGuard {
    fn drop(&mut self) {
        kill_all(&self.key, &self.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_kills_workloads_by_environment() {
        let guard = WorkloadGuard::unique("TESTKIT_PROCS_MARKER");
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("600")
            .env(&guard.key, &guard.value)
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(alive(pid));
        let found = guard.workloads();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pid, pid);
        assert_eq!(found[0].var(&guard.key), guard.value);
        assert!(find(&guard.key, "other").is_empty());
        drop(guard);
        child.wait().unwrap();
        assert!(!alive(pid));
    }

    /// A scan right after `spawn` returns may catch the child inside `execve`, its environment
    /// not yet laid out; it is found all the same.
    #[test]
    fn a_process_is_found_right_after_it_was_spawned() {
        let guard = WorkloadGuard::unique("TESTKIT_PROCS_FRESH");
        let mut children = Vec::new();
        for n in 0..20 {
            let child = std::process::Command::new("/bin/sleep")
                .arg("600")
                .env(&guard.key, &guard.value)
                .spawn()
                .unwrap();
            children.push(child);
            let pids = guard.pids();
            assert_eq!(pids.len(), n + 1, "spawn {n}: {pids:?}");
        }
        drop(guard);
        for mut child in children {
            child.wait().unwrap();
        }
    }

    #[test]
    fn this_process_is_no_kernel_thread() {
        assert!(!is_kernel_thread(std::process::id()));
    }
}
