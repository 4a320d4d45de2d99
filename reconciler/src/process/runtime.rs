//! The native process runtime: start labelled children in their own process group, recognise
//! them again by pid (guarding against pid reuse), stop them (SIGTERM, then SIGKILL).
//!
//! Children are never killed when the agent stops: `kill_on_drop(false)`, own process group, and
//! their output goes to files under the data dir rather than pipes to the agent.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::launch::{ExitEvent, ExitRoute, LaunchRequest, Launcher, Reported};
use super::spec::ProcessSpec;
use super::table::{Instance, instance_name};
use crate::Error;

/// Environment label: blueprint name.
pub const ENV_BLUEPRINT: &str = "MAESTRO_BLUEPRINT";
/// Environment label: colony generation.
pub const ENV_GENERATION: &str = "MAESTRO_GENERATION";
/// Environment label: instance name `<blueprint>-<index>`.
pub const ENV_INSTANCE: &str = "MAESTRO_INSTANCE";
/// Environment label: site.
pub const ENV_SITE: &str = "MAESTRO_SITE";
/// Environment label: the id of the reconciler that started the process (one per data dir), so
/// a process it started and then lost track of (a crash between starting and recording it, or
/// between forgetting and stopping it) is found again and stopped.
pub const ENV_OWNER: &str = "MAESTRO_OWNER";

/// Log files above this size are rotated (one old file kept) when an instance starts.
const MAX_LOG_BYTES: u64 = 8 * 1024 * 1024;

/// Starts and stops native processes.
#[derive(Debug, Clone)]
pub struct ProcessRuntime {
    site: String,
    owner: String,
    log_dir: PathBuf,
    exits: mpsc::UnboundedSender<ExitEvent>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    launcher: Launcher,
    reported: Arc<Reported>,
}

impl ProcessRuntime {
    /// A runtime starting children through `launcher`, writing their output under `log_dir`
    /// and reporting their exits on `exits` until `shutdown` (children keep running after it).
    pub fn new(
        site: &str,
        owner: &str,
        log_dir: &Path,
        exits: mpsc::UnboundedSender<ExitEvent>,
        shutdown: CancellationToken,
        tracker: TaskTracker,
        launcher: Launcher,
    ) -> Self {
        Self {
            site: site.to_string(),
            owner: owner.to_string(),
            log_dir: log_dir.to_path_buf(),
            exits,
            shutdown,
            tracker,
            launcher,
            reported: Arc::default(),
        }
    }

    /// Starts instance `index` of `blueprint` at `generation` and waits (briefly) until the
    /// process shows its labels.
    pub async fn spawn(
        &self,
        blueprint: &str,
        index: u32,
        generation: i64,
        spec: &ProcessSpec,
    ) -> Result<Instance, Error> {
        let instance = self.spawn_child(blueprint, index, generation, spec).await?;
        poll_until(Duration::from_secs(2), || {
            labelled(instance.pid, &instance)
                || proc_stat(instance.pid).is_none_or(|s| s.state == 'Z')
        })
        .await;
        Ok(instance)
    }

    async fn spawn_child(
        &self,
        blueprint: &str,
        index: u32,
        generation: i64,
        spec: &ProcessSpec,
    ) -> Result<Instance, Error> {
        let name = instance_name(blueprint, index);
        std::fs::create_dir_all(&self.log_dir)
            .map_err(|e| Error::io(format!("creating {}", self.log_dir.display()), e))?;
        let log = self.log_dir.join(format!("{name}.log"));
        if std::fs::metadata(&log).is_ok_and(|m| m.len() > MAX_LOG_BYTES) {
            let _ = std::fs::rename(&log, self.log_dir.join(format!("{name}.log.1")));
        }
        let labels = [
            (ENV_BLUEPRINT, blueprint.to_string()),
            (ENV_GENERATION, generation.to_string()),
            (ENV_INSTANCE, name),
            (ENV_SITE, self.site.clone()),
            (ENV_OWNER, self.owner.clone()),
        ];
        let env = spec.env.iter().map(|(k, v)| (k.clone(), v.clone()));
        let request = LaunchRequest {
            program: spec.command.clone(),
            args: spec.args.clone(),
            env: env
                .chain(labels.into_iter().map(|(k, v)| (k.to_string(), v)))
                .collect(),
            working_dir: spec.working_dir.clone(),
            log,
        };
        let route = ExitRoute {
            exits: self.exits.clone(),
            reported: self.reported.clone(),
            blueprint: blueprint.to_string(),
            shutdown: self.shutdown.clone(),
            tracker: self.tracker.clone(),
        };
        let pid = self.launcher.launch(&request, route).await?;
        Ok(Instance {
            blueprint: blueprint.to_string(),
            index,
            pid,
            generation,
            template: spec.template(),
            started_at_ms: maestro_common::time::now_millis(),
            start_ticks: proc_stat(pid).map(|s| s.start_ticks),
        })
    }

    /// The pids whose exit the launcher will report.
    pub fn reported(&self) -> &Reported {
        &self.reported
    }

    /// The owner label of the processes this runtime starts.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// What `wait` gives, unless the agent stops first (`None`; the `shutdown` this runtime was
    /// made with).
    pub async fn unless_stopping<F: Future>(&self, wait: F) -> Option<F::Output> {
        self.shutdown.run_until_cancelled(wait).await
    }

    /// Stops `instance` (SIGTERM to its group, SIGKILL after `grace`); Ok when it is gone.
    pub async fn stop(&self, instance: &Instance, grace: Duration) -> Result<(), Error> {
        stop(instance, grace).await
    }
}

/// Stops `instance` if it is still alive and ours: SIGTERM to its process group, SIGKILL after
/// `grace`.
pub async fn stop(instance: &Instance, grace: Duration) -> Result<(), Error> {
    if !is_alive(instance) {
        return Ok(());
    }
    signal(instance.pid, Signal::SIGTERM);
    if wait_gone(instance, grace).await {
        return Ok(());
    }
    signal(instance.pid, Signal::SIGKILL);
    if wait_gone(instance, Duration::from_secs(5)).await {
        return Ok(());
    }
    Err(Error::Runtime(format!(
        "pid {} survived SIGKILL",
        instance.pid
    )))
}

/// SIGKILLs `instance` at once if it is alive and ours (synchronous; for cleanup helpers).
pub fn kill_now(instance: &Instance) -> bool {
    if is_alive(instance) {
        signal(instance.pid, Signal::SIGKILL);
        true
    } else {
        false
    }
}

fn signal(pid: u32, sig: Signal) {
    let Ok(raw) = i32::try_from(pid) else { return };
    let pid = Pid::from_raw(raw);
    // The child leads its own group; signal the group so its descendants stop too.
    if killpg(pid, sig).is_err() {
        let _ = kill(pid, sig);
    }
}

async fn wait_gone(instance: &Instance, within: Duration) -> bool {
    poll_until(within, || !is_alive(instance)).await
}

/// Longest pause between two looks of [`poll_until`].
const POLL_MAX: Duration = Duration::from_millis(20);

/// Looks at `done` until it holds or `within` ran out (true when it held). Nothing signals a
/// process's exec or exit to a runtime that may not be its parent (an adopted instance), so the
/// runtime looks at `/proc`: first after 1 ms, then twice as long each time up to [`POLL_MAX`].
/// A process ending on SIGTERM or finishing its exec is usually seen at the first or second look
/// (a fixed 20 ms pause made every replacement of an instance wait 20 ms, `docs/performance.md`,
/// end to end).
async fn poll_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut pause = Duration::from_millis(1);
    loop {
        if done() {
            return true;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(POLL_MAX);
    }
}

/// Fields of `/proc/<pid>/stat` the runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// State letter (`R`, `S`, `Z`, ...).
    pub state: char,
    /// Process group id.
    pub pgrp: u32,
    /// Start time in clock ticks since boot.
    pub start_ticks: u64,
}

/// Reads `/proc/<pid>/stat`; None when the process does not exist.
pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<ProcStat> {
    // `pid (comm) state ...`: comm may contain spaces and parentheses; split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// Reads the environment a process was started with.
pub fn proc_environ(pid: u32) -> Option<Vec<String>> {
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(
        bytes
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

/// True when `instance.pid` is a live (non-zombie) process started for this instance: same
/// start time when known, and `MAESTRO_BLUEPRINT` / `MAESTRO_INSTANCE` labels in its environment.
pub fn is_alive(instance: &Instance) -> bool {
    let Some(stat) = proc_stat(instance.pid) else {
        return false;
    };
    if matches!(stat.state, 'Z' | 'X' | 'x') {
        return false;
    }
    match instance.start_ticks {
        Some(t) if t != stat.start_ticks => return false,
        // The pid and its start time are the ones recorded at spawn: the same process. Its
        // labels are not looked at: between fork and exec its environment is still the agent's
        // (or empty), and judging it gone then would start a second instance beside it.
        Some(_) => return true,
        None => {}
    }
    proc_environ(instance.pid).is_some_and(|env| has_labels(&env, instance))
}

fn has_labels(env: &[String], instance: &Instance) -> bool {
    let want_bp = format!("{ENV_BLUEPRINT}={}", instance.blueprint);
    let want_inst = format!("{ENV_INSTANCE}={}", instance.name());
    env.contains(&want_bp) && env.contains(&want_inst)
}

fn labelled(pid: u32, instance: &Instance) -> bool {
    proc_environ(pid).is_some_and(|env| has_labels(&env, instance))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn polling_looks_after_1_ms_then_twice_as_long_each_time() {
        let start = tokio::time::Instant::now();
        let mut looks = Vec::new();
        let held = poll_until(Duration::from_secs(1), || {
            looks.push(start.elapsed().as_millis());
            looks.len() == 7
        })
        .await;
        assert!(held);
        assert_eq!(looks, [0, 1, 3, 7, 15, 31, 51]);
    }

    #[tokio::test(start_paused = true)]
    async fn polling_gives_up_at_its_bound() {
        let start = tokio::time::Instant::now();
        let mut looks = 0;
        let held = poll_until(Duration::from_millis(100), || {
            looks += 1;
            false
        })
        .await;
        assert!(!held);
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        // 0, 1, 3, 7, 15, 31, 51, 71, 91, then the last look at 100.
        assert_eq!(looks, 10);
    }

    #[test]
    fn stat_is_parsed_after_the_comm() {
        let s = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10";
        assert_eq!(
            parse_stat(s),
            Some(ProcStat {
                state: 'S',
                pgrp: 42,
                start_ticks: 123_456
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn foreign_process_is_not_ours() {
        let me = Instance {
            blueprint: "web".into(),
            index: 0,
            pid: std::process::id(),
            generation: 1,
            template: String::new(),
            started_at_ms: 0,
            start_ticks: None,
        };
        assert!(proc_stat(me.pid).is_some());
        assert!(!is_alive(&me), "the test process has no MAESTRO labels");
    }

    #[test]
    fn a_process_with_the_recorded_start_time_is_alive_whatever_its_environment() {
        let stat = proc_stat(std::process::id()).unwrap();
        let mut me = Instance {
            blueprint: "web".into(),
            index: 0,
            pid: std::process::id(),
            generation: 1,
            template: String::new(),
            started_at_ms: 0,
            start_ticks: Some(stat.start_ticks),
        };
        // As a child between fork and exec: the recorded pid and start time, no labels yet.
        assert!(is_alive(&me));
        // Another start time: the pid was reused by another process.
        me.start_ticks = Some(stat.start_ticks + 1);
        assert!(!is_alive(&me));
    }
}
