//! The native processes the process reconcilers start, found through their environment.

use std::collections::BTreeMap;

/// One live workload process.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Its process id.
    pub pid: i32,
    /// Its environment.
    pub env: BTreeMap<String, String>,
}

impl Workload {
    /// An environment variable, or "".
    pub fn var(&self, key: &str) -> &str {
        self.env.get(key).map_or("", String::as_str)
    }
}

/// Every live process whose environment has `key=value` (zombies excluded).
pub fn find(key: &str, value: &str) -> Vec<Workload> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if is_zombie(pid) {
            continue;
        }
        let env: BTreeMap<String, String> = raw
            .split(|b| *b == 0)
            .filter_map(|kv| {
                let s = String::from_utf8_lossy(kv);
                s.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        if env.get(key).is_some_and(|v| v == value) {
            out.push(Workload { pid, env });
        }
    }
    out.sort_by_key(|w| w.pid);
    out
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(true)
}

/// Kills (SIGKILL) every workload with `key=value`; they were started by this test's site agents.
pub fn kill_all(key: &str, value: &str) {
    for w in find(key, value) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(w.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
