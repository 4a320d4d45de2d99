//! Finding the processes a reconciler labelled, in `/proc`: the orphan sweep's search for
//! processes of ours that no record knows (`heal::sweep_orphans`).
//!
//! A scan reads the stat and the environment of every process of the host, so its cost grows
//! with the host's processes. With many site agents in one process (`maestroctl dev`: 1,024
//! sites, each sweeping every 30 s, on a host running a workload per site) scans by every
//! reconciler on their own grew with the square of the sites and were most of the CPU of an
//! order (`docs/performance.md`). So one scan answers every reconciler of the process for
//! [`SCAN_REUSE`]: it records every labelled process with its owner, and each reconciler picks
//! its own. An answer may be that old; a caller confirms a process with [`still_labelled`]
//! before acting on it. With one site per process, as in production, sweeps are 30 s apart and
//! every one scans afresh.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::runtime::{ENV_BLUEPRINT, ENV_INSTANCE, ENV_OWNER, ProcStat, proc_stat};

/// How long one scan of `/proc` answers every reconciler of this process.
pub const SCAN_REUSE: Duration = Duration::from_secs(2);

/// A live process labelled with an owner, as found in `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    /// Its pid.
    pub pid: u32,
    /// Its start time in clock ticks since boot.
    pub start_ticks: u64,
    /// Its `MAESTRO_BLUEPRINT` label.
    pub blueprint: String,
    /// Its `MAESTRO_INSTANCE` label.
    pub instance: String,
}

/// Every labelled process of one scan, with its owner.
type Found = Arc<Vec<(String, Labelled)>>;

/// The last scan and when it was made; held while a scan runs, so that reconcilers asking at
/// the same time wait for it instead of scanning too.
static LAST_SCAN: Mutex<Option<(Instant, Found)>> = Mutex::new(None);

/// Every live process whose `MAESTRO_OWNER` label is `owner` and that leads its process group
/// (every instance is started as the leader of a group of its own, and what it starts stays in
/// that group and is stopped with it, so only leaders are candidates), as of a scan at most
/// [`SCAN_REUSE`] old.
pub fn labelled_by(owner: &str) -> Vec<Labelled> {
    recent_scan()
        .iter()
        .filter(|(o, _)| o == owner)
        .map(|(_, p)| p.clone())
        .collect()
}

/// True when `p` is still alive (the same process: same start time), still leads its group and
/// is still labelled by `owner`, read now.
pub fn still_labelled(p: &Labelled, owner: &str) -> bool {
    proc_stat(p.pid)
        .is_some_and(|stat| leads_its_group(&stat, p.pid) && stat.start_ticks == p.start_ticks)
        && read_labelled(p.pid).is_some_and(|(o, now)| o == owner && now == *p)
}

fn recent_scan() -> Found {
    let mut last = LAST_SCAN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((at, found)) = last.as_ref()
        && at.elapsed() < SCAN_REUSE
    {
        return Arc::clone(found);
    }
    let found: Found = Arc::new(scan());
    *last = Some((Instant::now(), Arc::clone(&found)));
    found
}

fn scan() -> Vec<(String, Labelled)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(read_labelled)
        .collect()
}

fn leads_its_group(stat: &ProcStat, pid: u32) -> bool {
    stat.pgrp == pid && !matches!(stat.state, 'Z' | 'X' | 'x')
}

/// The owner and labels of `pid` when it is a live group leader with an owner label. Its stat
/// is read first (cheaper than its environment, and most processes of a host lead no group of
/// ours); the environment is searched as bytes and only the three labels are decoded.
fn read_labelled(pid: u32) -> Option<(String, Labelled)> {
    let stat = proc_stat(pid).filter(|s| leads_its_group(s, pid))?;
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let owner = label(&env, ENV_OWNER)?;
    Some((
        owner,
        Labelled {
            pid,
            start_ticks: stat.start_ticks,
            blueprint: label(&env, ENV_BLUEPRINT).unwrap_or_default(),
            instance: label(&env, ENV_INSTANCE).unwrap_or_default(),
        },
    ))
}

/// The value of `key` in a raw `/proc/PID/environ` (`KEY=value` entries ended by NUL bytes).
fn label(env: &[u8], key: &str) -> Option<String> {
    env.split(|b| *b == 0).find_map(|entry| {
        let value = entry.strip_prefix(key.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(value).into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn a_label_is_read_from_raw_environ_bytes() {
        let env = b"PATH=/bin\0MAESTRO_OWNER_X=no\0MAESTRO_OWNER=r-1\0MAESTRO_INSTANCE=web-0\0";
        assert_eq!(label(env, ENV_OWNER).as_deref(), Some("r-1"));
        assert_eq!(label(env, ENV_INSTANCE).as_deref(), Some("web-0"));
        assert_eq!(label(env, ENV_BLUEPRINT), None);
        assert_eq!(label(b"", ENV_OWNER), None);
    }

    #[test]
    fn a_labelled_group_leader_is_found_and_confirmed() {
        let owner = format!("scan-test-{}", std::process::id());
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("600")
            .env(ENV_OWNER, &owner)
            .env(ENV_BLUEPRINT, "web")
            .env(ENV_INSTANCE, "web-0")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id();
        // The spawned child may be caught inside execve (environment not laid out yet), and a
        // scan may be reused for 2 s: poll, bounded.
        let deadline = Instant::now() + Duration::from_secs(30);
        let found = loop {
            let found = labelled_by(&owner);
            if !found.is_empty() || Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pid, pid);
        assert_eq!(
            (found[0].blueprint.as_str(), found[0].instance.as_str()),
            ("web", "web-0")
        );
        assert!(labelled_by("someone-else").iter().all(|p| p.pid != pid));
        // Gone now: the (possibly reused) scan still lists it, the confirmation does not.
        assert!(!still_labelled(&found[0], &owner));
    }

    #[test]
    fn back_to_back_sweeps_share_one_scan() {
        // The first may be a scan about to expire; the next two are then one fresh scan.
        let (a, b, c) = (recent_scan(), recent_scan(), recent_scan());
        assert!(Arc::ptr_eq(&a, &b) || Arc::ptr_eq(&b, &c));
    }
}
