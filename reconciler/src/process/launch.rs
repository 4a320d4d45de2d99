//! How the process runtime starts a child: directly, or through a launch helper, a small process
//! started once that holds almost no descriptors and starts children on request.
//!
//! Why a helper: at every spawn the kernel copies the spawning process's descriptor table
//! (`clone`) and walks it to close the close-on-exec ones (`exec`). A site agent holds a few
//! dozen descriptors; `maestroctl dev` runs every site in one process, about 16 descriptors per
//! site, so there each spawn cost time in proportion to the number of sites, and an order to all
//! of them the square. A helper's spawns cost the same at any size.
//!
//! The helper speaks JSON lines: requests on its stdin, replies and exits on its stdout. Only
//! the process that started it holds those pipes. Every value is data (a program and its
//! arguments, never a shell line). The helper is the parent of what it starts and reports each
//! exit; it ends when its stdin closes, and what it started keeps running (each child leads its
//! own process group, as a direct child does).

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Error;

/// The first argument that makes a Maestro binary serve as a launch helper
/// ([`serve_if_helper`]).
pub const HELPER_ARG: &str = "__maestro-launch-helper";

/// How long a launch waits for the helper's answer; past it, the helper is taken for stuck and
/// the next launch starts another.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A child started by the runtime exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitEvent {
    /// Blueprint of the instance.
    pub blueprint: String,
    /// Its pid.
    pub pid: u32,
    /// How it ended, e.g. `exit status: 1`.
    pub status: String,
}

/// What to start: one process in a process group of its own, stdin from `/dev/null`, stdout and
/// stderr appended to `log`, the launcher's environment plus `env`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchRequest {
    /// Program (absolute, or looked up in PATH).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment added to the launcher's.
    pub env: Vec<(String, String)>,
    /// Working directory; the launcher's when absent.
    pub working_dir: Option<String>,
    /// The file both output streams are appended to (created if missing).
    pub log: PathBuf,
}

/// The pids whose exit a launcher will report: the children started by this process, directly or
/// through a helper that is still running. An instance not among them (adopted after a restart,
/// or started by a helper that ended) has its exit watched otherwise (`super::watch`).
#[derive(Debug, Default)]
pub struct Reported {
    pids: Mutex<HashSet<u32>>,
    /// Woken when pids leave without their exit reported (their helper ended).
    lost: tokio::sync::Notify,
}

impl Reported {
    /// Whether the exit of `pid` will be reported.
    pub fn contains(&self, pid: u32) -> bool {
        self.pids().contains(&pid)
    }

    /// Until pids leave without their exit reported.
    pub async fn lost(&self) {
        self.lost.notified().await;
    }

    fn pids(&self) -> std::sync::MutexGuard<'_, HashSet<u32>> {
        self.pids.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where the exit of a started child is reported: to `exits`, until `shutdown`.
#[derive(Debug, Clone)]
pub struct ExitRoute {
    /// The runtime's exit channel.
    pub exits: mpsc::UnboundedSender<ExitEvent>,
    /// The pids whose exit will be reported, this route's child among them while it runs.
    pub reported: Arc<Reported>,
    /// The instance's blueprint.
    pub blueprint: String,
    /// After it, exits are no longer reported (children keep running).
    pub shutdown: CancellationToken,
    /// Where a direct child's wait runs.
    pub tracker: TaskTracker,
}

impl ExitRoute {
    fn started(&self, pid: u32) {
        self.reported.pids().insert(pid);
    }

    /// The child's exit will not be reported (its helper ended).
    fn lost(&self, pid: u32) {
        self.reported.pids().remove(&pid);
        self.reported.lost.notify_one();
    }

    fn report(&self, pid: u32, status: String) {
        self.reported.pids().remove(&pid);
        if !self.shutdown.is_cancelled() {
            let blueprint = self.blueprint.clone();
            let _ = self.exits.send(ExitEvent {
                blueprint,
                pid,
                status,
            });
        }
    }
}

/// Starts children for the process runtime.
#[derive(Debug, Clone, Default)]
pub enum Launcher {
    /// This process spawns them (a site agent in its own process).
    #[default]
    Direct,
    /// A launch helper spawns them (many sites in one process, `maestroctl dev`).
    Helper(Arc<Helper>),
}

impl Launcher {
    /// A launcher through the helper `command` starts (at the first launch, and again after
    /// it ended).
    pub fn helper(command: HelperCommand) -> Self {
        Launcher::Helper(Arc::new(Helper {
            command,
            conn: tokio::sync::Mutex::new(None),
            timeout: LAUNCH_TIMEOUT,
        }))
    }

    /// Starts `request`; answers its pid once it is started. Its exit goes to `route`.
    pub async fn launch(&self, request: &LaunchRequest, route: ExitRoute) -> Result<u32, Error> {
        match self {
            Launcher::Direct => launch_direct(request, route),
            Launcher::Helper(helper) => helper.launch(request, route).await,
        }
    }
}

fn launch_direct(request: &LaunchRequest, route: ExitRoute) -> Result<u32, Error> {
    let mut child = command(request)
        .and_then(|mut c| c.spawn())
        .map_err(|e| Error::Runtime(format!("starting {:?}: {e}", request.program)))?;
    let pid = child
        .id()
        .ok_or_else(|| Error::Runtime("child exited before its pid was read".into()))?;
    route.started(pid);
    let tracker = route.tracker.clone();
    tracker.spawn(async move {
        tokio::select! {
            status = child.wait() => route.report(pid, status_text(status)),
            // Dropping the child neither kills nor leaks it: tokio reaps it once it exits.
            () = route.shutdown.cancelled() => {}
        }
    });
    Ok(pid)
}

/// The command of `request`, its log file opened.
fn command(request: &LaunchRequest) -> std::io::Result<tokio::process::Command> {
    let stdout = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&request.log)
        .map_err(|e| {
            let what = format!("opening its log file {}: {e}", request.log.display());
            std::io::Error::new(e.kind(), what)
        })?;
    let stderr = stdout.try_clone()?;
    let mut cmd = tokio::process::Command::new(&request.program);
    cmd.args(&request.args)
        .envs(request.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .kill_on_drop(false);
    if let Some(dir) = &request.working_dir {
        cmd.current_dir(dir);
    }
    Ok(cmd)
}

fn status_text(status: std::io::Result<std::process::ExitStatus>) -> String {
    status.map_or_else(|e| format!("wait failed: {e}"), |s| s.to_string())
}

/// How to start the helper: a program whose first argument is [`HELPER_ARG`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperCommand {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
}

impl HelperCommand {
    /// This executable, which must call [`serve_if_helper`] first thing in `main`.
    pub fn this_executable() -> std::io::Result<Self> {
        Ok(HelperCommand {
            program: std::env::current_exe()?,
            args: vec![HELPER_ARG.into()],
        })
    }
}

/// The client side of a launch helper.
#[derive(Debug)]
pub struct Helper {
    command: HelperCommand,
    conn: tokio::sync::Mutex<Option<Conn>>,
    timeout: Duration,
}

struct Conn {
    writer: HelperInput,
    state: Arc<Mutex<State>>,
    next_id: u64,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("state", &self.state)
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

type HelperInput = std::pin::Pin<Box<dyn AsyncWrite + Send>>;

/// What the reader of the helper's replies shares with the launches.
#[derive(Debug, Default)]
struct State {
    open: bool,
    pending: HashMap<u64, (oneshot::Sender<Result<u32, String>>, ExitRoute)>,
    routes: HashMap<u32, ExitRoute>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    id: u64,
    launch: LaunchRequest,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Reply {
    Started { id: u64, pid: u32 },
    Failed { id: u64, error: String },
    Exited { pid: u32, status: String },
}

impl Helper {
    async fn launch(&self, request: &LaunchRequest, route: ExitRoute) -> Result<u32, Error> {
        let (answer, state) = {
            let mut conn = self.conn.lock().await;
            let open = conn.as_ref().is_some_and(|c| lock(&c.state).open);
            if !open {
                // The one before (if any) is dropped: its stdin closes and it ends.
                *conn = Some(self.start()?);
            }
            let Some(conn) = conn.as_mut() else {
                return Err(Error::Runtime("launch helper not started".into()));
            };
            (
                conn.send(request, route, self.timeout).await?,
                conn.state.clone(),
            )
        };
        let answer = tokio::time::timeout(self.timeout, answer).await;
        if answer.is_err() {
            lock(&state).open = false;
        }
        match answer {
            Ok(Ok(Ok(pid))) => Ok(pid),
            Ok(Ok(Err(e))) => Err(Error::Runtime(format!(
                "starting {:?}: {e}",
                request.program
            ))),
            Ok(Err(_)) => Err(Error::Runtime("the launch helper ended".into())),
            Err(_) => Err(Error::Runtime(format!(
                "the launch helper did not answer within {:?}",
                self.timeout
            ))),
        }
    }

    fn start(&self) -> Result<Conn, Error> {
        let mut child = tokio::process::Command::new(&self.command.program)
            .args(&self.command.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Out of the terminal's group: a Ctrl-C stops the federation, which closes the
            // helper's stdin; the helper does not die first.
            .process_group(0)
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| {
                Error::Runtime(format!(
                    "starting the launch helper {}: {e}",
                    self.command.program.display()
                ))
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Error::Runtime("the launch helper has no pipes".into()));
        };
        // Reaped by tokio once it exits (its stdin closes with the last launcher).
        drop(child);
        Ok(Conn::over(BufReader::new(stdout), stdin))
    }
}

impl Conn {
    /// A connection writing requests to `writer`, reading replies from `reader` on a task that
    /// ends with the reader.
    fn over<R, W>(reader: R, writer: W) -> Self
    where
        R: AsyncBufRead + Unpin + Send + 'static,
        W: AsyncWrite + Send + 'static,
    {
        let state = Arc::new(Mutex::new(State {
            open: true,
            ..State::default()
        }));
        tokio::spawn(read_replies(reader, state.clone()));
        Conn {
            writer: Box::pin(writer),
            state,
            next_id: 0,
        }
    }

    /// Writes the request, within `timeout`: a helper that stops reading fills its pipe, and
    /// the write would otherwise wait for ever with the connection's lock held.
    async fn send(
        &mut self,
        launch: &LaunchRequest,
        route: ExitRoute,
        timeout: Duration,
    ) -> Result<oneshot::Receiver<Result<u32, String>>, Error> {
        self.next_id += 1;
        let id = self.next_id;
        let mut line = serde_json::to_vec(&Request {
            id,
            launch: launch.clone(),
        })
        .map_err(|e| Error::Runtime(format!("encoding a launch: {e}")))?;
        line.push(b'\n');
        let (tx, rx) = oneshot::channel();
        lock(&self.state).pending.insert(id, (tx, route));
        let written = async {
            self.writer.write_all(&line).await?;
            self.writer.flush().await
        };
        let failed = match tokio::time::timeout(timeout, written).await {
            Ok(Ok(())) => return Ok(rx),
            Ok(Err(e)) => format!("writing to the launch helper: {e}"),
            Err(_) => format!("the launch helper did not read a request within {timeout:?}"),
        };
        let mut state = lock(&self.state);
        state.open = false;
        state.pending.remove(&id);
        Err(Error::Runtime(failed))
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Hands each reply to its launch and each exit to its route; at the end of the stream, fails
/// the launches still waiting and tells each route that its child's exit goes unreported (the
/// reconciler watches those children itself).
async fn read_replies<R: AsyncBufRead + Unpin>(reader: R, state: Arc<Mutex<State>>) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = match serde_json::from_str::<Reply>(&line) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable line from the launch helper");
                continue;
            }
        };
        let mut state = lock(&state);
        match reply {
            Reply::Started { id, pid } => {
                if let Some((tx, route)) = state.pending.remove(&id) {
                    route.started(pid);
                    state.routes.insert(pid, route);
                    let _ = tx.send(Ok(pid));
                }
            }
            Reply::Failed { id, error } => {
                if let Some((tx, _)) = state.pending.remove(&id) {
                    let _ = tx.send(Err(error));
                }
            }
            Reply::Exited { pid, status } => {
                if let Some(route) = state.routes.remove(&pid) {
                    route.report(pid, status);
                }
            }
        }
    }
    let mut state = lock(&state);
    state.open = false;
    state.pending.clear();
    for (pid, route) in state.routes.drain() {
        route.lost(pid);
    }
}

/// Serves as a launch helper when this process was started as one (first argument
/// [`HELPER_ARG`]): until stdin closes, then answers true. Call it first thing in `main`, before
/// any runtime is built.
pub fn serve_if_helper() -> bool {
    if std::env::args_os().nth(1).as_deref() != Some(OsStr::new(HELPER_ARG)) {
        return false;
    }
    let served = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|rt| {
            rt.block_on(serve(
                BufReader::new(tokio::io::stdin()),
                tokio::io::stdout(),
            ))
        });
    if let Err(e) = served {
        eprintln!("launch helper: {e}");
    }
    true
}

/// The helper's loop: starts each request read from `input`, answers on `output` with its pid
/// (or why not), then with its exit. Ends when `input` ends.
pub async fn serve<R, W>(input: R, output: W) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Reply>();
    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(reply) = rx.recv().await {
            let mut line = serde_json::to_vec(&reply).map_err(std::io::Error::other)?;
            line.push(b'\n');
            output.write_all(&line).await?;
            output.flush().await?;
        }
        Ok::<(), std::io::Error>(())
    });
    let mut lines = input.lines();
    while let Some(line) = lines.next_line().await? {
        let Request { id, launch } = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("launch helper: unreadable request: {e}");
                continue;
            }
        };
        let started = command(&launch).and_then(|mut c| c.spawn());
        let mut child = match started {
            Ok(child) => child,
            Err(e) => {
                let _ = tx.send(Reply::Failed {
                    id,
                    error: e.to_string(),
                });
                continue;
            }
        };
        let Some(pid) = child.id() else {
            let error = "child exited before its pid was read".into();
            let _ = tx.send(Reply::Failed { id, error });
            continue;
        };
        // Started goes out before the wait begins, so it always precedes the exit.
        let _ = tx.send(Reply::Started { id, pid });
        let exits = tx.clone();
        tokio::spawn(async move {
            let status = status_text(child.wait().await);
            let _ = exits.send(Reply::Exited { pid, status });
        });
    }
    writer.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bound on writing a request in these tests.
    const TEST_WAIT: Duration = Duration::from_secs(10);

    fn route(exits: mpsc::UnboundedSender<ExitEvent>) -> ExitRoute {
        ExitRoute {
            exits,
            reported: Arc::default(),
            blueprint: "web".into(),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
        }
    }

    fn request(dir: &std::path::Path, script: &str) -> LaunchRequest {
        LaunchRequest {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![("GREETING".into(), "hello; rm -rf /".into())],
            working_dir: Some(dir.display().to_string()),
            log: dir.join("out.log"),
        }
    }

    /// A client and a helper loop joined by in-memory pipes: the protocol end to end, with
    /// real children.
    fn joined() -> (Conn, tokio::task::JoinHandle<std::io::Result<()>>) {
        let (client_out, helper_in) = tokio::io::duplex(64 * 1024);
        let (helper_out, client_in) = tokio::io::duplex(64 * 1024);
        let helper = tokio::spawn(serve(BufReader::new(helper_in), helper_out));
        (Conn::over(BufReader::new(client_in), client_out), helper)
    }

    #[tokio::test]
    async fn a_helper_starts_the_child_answers_its_pid_then_reports_its_exit() {
        let dir = tempfile::tempdir().unwrap();
        let (mut conn, _helper) = joined();
        let (exits_tx, mut exits) = mpsc::unbounded_channel();
        let script = r#"echo "$GREETING from $(pwd)"; exit 3"#;
        let answer = conn
            .send(&request(dir.path(), script), route(exits_tx), TEST_WAIT)
            .await;
        let pid = answer.unwrap().await.unwrap().unwrap();
        let exit = tokio::time::timeout(Duration::from_secs(10), exits.recv())
            .await
            .expect("the exit is reported")
            .unwrap();
        assert_eq!(exit.pid, pid);
        assert_eq!(exit.blueprint, "web");
        assert_eq!(exit.status, "exit status: 3");
        // The environment value is data: the child printed it, nothing ran it.
        let log = std::fs::read_to_string(dir.path().join("out.log")).unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        assert_eq!(log, format!("hello; rm -rf / from {}\n", cwd.display()));
    }

    #[tokio::test]
    async fn a_program_that_cannot_start_is_an_answer_and_the_helper_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (mut conn, _helper) = joined();
        let (exits_tx, mut exits) = mpsc::unbounded_channel();
        let mut missing = request(dir.path(), "");
        missing.program = "/nonexistent/program".into();
        let answer = conn
            .send(&missing, route(exits_tx.clone()), TEST_WAIT)
            .await
            .unwrap();
        let error = answer.await.unwrap().unwrap_err();
        assert!(error.contains("No such file"), "{error}");
        let mut no_log = request(dir.path(), "");
        no_log.log = dir.path().join("missing").join("out.log");
        let answer = conn
            .send(&no_log, route(exits_tx.clone()), TEST_WAIT)
            .await
            .unwrap();
        let error = answer.await.unwrap().unwrap_err();
        assert!(error.starts_with("opening its log file"), "{error}");
        let ok = conn
            .send(&request(dir.path(), "exit 0"), route(exits_tx), TEST_WAIT)
            .await;
        let pid = ok.unwrap().await.unwrap().unwrap();
        let exit = tokio::time::timeout(Duration::from_secs(10), exits.recv())
            .await
            .expect("the exit is reported")
            .unwrap();
        assert_eq!((exit.pid, exit.status.as_str()), (pid, "exit status: 0"));
    }

    #[tokio::test]
    async fn when_the_helper_ends_waiting_launches_fail_and_the_connection_is_closed() {
        let (client_out, helper_in) = tokio::io::duplex(1024);
        let (helper_out, client_in) = tokio::io::duplex(1024);
        let mut conn = Conn::over(BufReader::new(client_in), client_out);
        let (exits_tx, _exits) = mpsc::unbounded_channel();
        let dir = tempfile::tempdir().unwrap();
        let answer = conn
            .send(&request(dir.path(), ""), route(exits_tx), TEST_WAIT)
            .await;
        // The helper reads nothing and goes away.
        drop((helper_in, helper_out));
        assert!(answer.unwrap().await.is_err(), "the launch is failed");
        assert!(!lock(&conn.state).open);
    }

    /// A helper started from `script` (a stand-in that never serves), which first appends a
    /// line to `starts`; launches wait at most 300 ms.
    fn stand_in(script: &str, starts: &std::path::Path) -> Helper {
        Helper {
            command: HelperCommand {
                program: "/bin/sh".into(),
                args: vec![
                    "-c".into(),
                    format!("echo started >> \"$0\"; {script}").into(),
                    starts.into(),
                ],
            },
            conn: tokio::sync::Mutex::new(None),
            timeout: Duration::from_millis(300),
        }
    }

    fn starts(file: &std::path::Path) -> usize {
        std::fs::read_to_string(file).map_or(0, |s| s.lines().count())
    }

    #[tokio::test]
    async fn a_helper_that_ended_or_stopped_answering_is_started_again_at_the_next_launch() {
        let dir = tempfile::tempdir().unwrap();
        let (exits_tx, _exits) = mpsc::unbounded_channel();
        let req = request(dir.path(), "");
        // Ends at once: the launch fails, and the next one starts a new helper.
        let ended = dir.path().join("ended");
        let helper = stand_in("exit 0", &ended);
        for n in 1..=2 {
            let error = helper.launch(&req, route(exits_tx.clone())).await;
            let error = error.unwrap_err().to_string();
            // Its stdin may be closed before the request is written, or after.
            let why = ["the launch helper ended", "writing to the launch helper"];
            assert!(why.iter().any(|w| error.contains(w)), "{error}");
            assert_eq!(starts(&ended), n);
        }
        // Never answers: the launch fails at its bound, and the next one starts a new helper.
        let stuck = dir.path().join("stuck");
        let helper = stand_in("exec sleep 5", &stuck);
        for n in 1..=2 {
            let error = helper.launch(&req, route(exits_tx.clone())).await;
            let error = error.unwrap_err().to_string();
            assert!(error.contains("did not answer"), "{error}");
            assert_eq!(starts(&stuck), n);
        }
        // Does not read: a request larger than its pipe holds is given up at the bound, not
        // waited for, and the next launch starts a new helper.
        let deaf = dir.path().join("deaf");
        let helper = stand_in("exec sleep 5", &deaf);
        let mut big = request(dir.path(), "");
        big.env.push(("PADDING".into(), "x".repeat(4 << 20)));
        let first = tokio::time::timeout(TEST_WAIT, helper.launch(&big, route(exits_tx.clone())));
        let error = first.await.expect("bounded").unwrap_err().to_string();
        assert!(error.contains("did not read a request"), "{error}");
        let error = helper.launch(&req, route(exits_tx)).await.unwrap_err();
        assert!(error.to_string().contains("did not answer"), "{error}");
        assert_eq!(starts(&deaf), 2);
    }

    #[tokio::test]
    async fn a_child_is_reported_while_its_helper_runs_and_lost_when_the_helper_ends() {
        let dir = tempfile::tempdir().unwrap();
        // A helper played by the test: it reads the requests and answers what it likes.
        let (client_out, helper_in) = tokio::io::duplex(64 * 1024);
        let (mut helper_out, client_in) = tokio::io::duplex(64 * 1024);
        let mut conn = Conn::over(BufReader::new(client_in), client_out);
        let (exits_tx, mut exits) = mpsc::unbounded_channel();
        let r = route(exits_tx);
        let req = request(dir.path(), "");
        let first = conn.send(&req, r.clone(), TEST_WAIT).await.unwrap();
        let second = conn.send(&req, r.clone(), TEST_WAIT).await.unwrap();
        let replies = concat!(
            r#"{"kind":"started","id":1,"pid":4001}"#,
            "\n",
            r#"{"kind":"started","id":2,"pid":4002}"#,
            "\n",
            r#"{"kind":"exited","pid":4001,"status":"exit status: 0"}"#,
            "\n"
        );
        helper_out.write_all(replies.as_bytes()).await.unwrap();
        assert_eq!(first.await.unwrap(), Ok(4001));
        assert_eq!(second.await.unwrap(), Ok(4002));
        let exit = tokio::time::timeout(TEST_WAIT, exits.recv()).await.unwrap();
        assert_eq!(exit.map(|e| e.pid), Some(4001));
        assert!(!r.reported.contains(4001), "a reported exit leaves the set");
        assert!(
            r.reported.contains(4002),
            "a running child's exit will be reported"
        );
        // The helper ends: the running child's exit will not be reported, and the one who
        // watches exits is told.
        drop((helper_in, helper_out));
        tokio::time::timeout(TEST_WAIT, r.reported.lost())
            .await
            .expect("told that an exit goes unreported");
        assert!(!r.reported.contains(4002));
    }

    #[tokio::test]
    async fn a_direct_launch_reports_the_exit_until_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let (exits_tx, mut exits) = mpsc::unbounded_channel();
        let r = route(exits_tx);
        let pid = Launcher::Direct
            .launch(&request(dir.path(), "exit 7"), r.clone())
            .await
            .unwrap();
        let exit = tokio::time::timeout(Duration::from_secs(10), exits.recv())
            .await
            .expect("the exit is reported")
            .unwrap();
        assert_eq!((exit.pid, exit.status.as_str()), (pid, "exit status: 7"));
    }
}
