//! The in-process federation of `maestroctl dev`, and the binary against it.

use maestro_cli::dev::{DemoOutcome, DevOptions, Federation, run_demo, start_federation};
use maestro_proto::domain::v1::{DomainState, ListDomainsRequest};
use maestro_testkit::until;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn small(dir: &std::path::Path) -> DevOptions {
    DevOptions {
        domains: 1,
        sites_per_domain: 1,
        ..DevOptions::new(dir)
    }
}

/// A federation started with `opts` once the demo order completed on it, and the demo's lines;
/// stops it and fails the test if the demo does not complete.
async fn after_the_demo(opts: DevOptions) -> (Federation, DemoOutcome, Vec<String>) {
    let mut fed = start_federation(opts, CancellationToken::new())
        .await
        .unwrap();
    let mut lines = Vec::new();
    let outcome = run_demo(&fed, Duration::from_secs(90), &mut |l| {
        lines.push(l.to_string())
    })
    .await;
    match outcome {
        Ok(outcome) => (fed, outcome, lines),
        Err(e) => {
            fed.stop().await;
            panic!("the demo did not complete: {e}\n{}", lines.join("\n"));
        }
    }
}

/// With `--insecure`: plaintext, no certificates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_domain_registers_ready() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DevOptions {
        insecure: true,
        ..small(dir.path())
    };
    let mut fed = start_federation(opts, CancellationToken::new())
        .await
        .unwrap();
    assert!(fed.tls.is_none() && fed.maestro_url.starts_with("http://"));
    assert!(!dir.path().join("pki").exists(), "no certificates");
    assert_eq!(fed.domains.len(), 1);
    assert_eq!(fed.domains[0].id, "north");
    assert_eq!(fed.domains[0].sites[0].name, "north-1");
    assert!(
        fed.domains[0].remote_repo.join("HEAD").exists(),
        "bare repo created"
    );
    let mut client = maestro_cli::client::MaestroClient::new(&fed.client_settings())
        .unwrap()
        .domains();
    // The registry has no watch API: it is polled.
    let domain = until("north to be ready", Duration::from_secs(30), async || {
        let resp = client
            .list_domains(ListDomainsRequest {})
            .await?
            .into_inner();
        Ok(resp
            .domains
            .into_iter()
            .find(|d| d.id == "north" && d.state == DomainState::Ready as i32))
    })
    .await
    .unwrap();
    assert_eq!(domain.endpoint, fed.domains[0].endpoint);
    assert_eq!(domain.sites, vec!["north-1"]);
    assert_eq!(domain.labels.get("tier").map(String::as_str), Some("edge"));
    let report = fed.stop().await;
    assert!(
        report.timed_out.is_empty() && report.failed.is_empty(),
        "{report:?}"
    );
}

/// Sites that never poll Git after their first fetch still converge: the domain announces each
/// commit through its log server and the sites, following the announcements over a stream they
/// opened, fetch at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sites_fetch_when_the_domain_announces_a_commit_without_polling() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DevOptions {
        sites_per_domain: 2,
        sync_interval_ms: 3_600_000,
        noticed_sync_interval_ms: 3_600_000,
        ..small(dir.path())
    };
    let (mut fed, _, lines) = after_the_demo(opts).await;
    fed.stop().await;
    for site in ["north-1", "north-2"] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("north/{site}: ready 1/1"))),
            "{site}: {lines:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_completes_and_its_processes_are_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut fed, outcome, lines) = after_the_demo(small(dir.path())).await;
    assert!(
        lines.iter().any(|l| l.contains("north/north-1: ready 1/1")),
        "{lines:#?}"
    );

    // The binary sees the completed order: through the settings file dev wrote, and through
    // flags; without the operator's certificate it gets nothing.
    assert!(
        fed.maestro_url.starts_with("https://"),
        "mutual TLS by default"
    );
    let (url, id) = (fed.maestro_url.clone(), outcome.order_id.clone());
    let settings = fed.cli_settings.clone();
    let operator = fed.tls.as_ref().unwrap().operator.clone();
    let (get, watch, anonymous) = tokio::task::spawn_blocking(move || {
        let run = |args: &[&str], settings: Option<&std::path::Path>| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_maestroctl"));
            cmd.args(args)
                .env_remove("MAESTRO_OUTPUT")
                .env_remove("MAESTROCTL_CONFIG");
            if let Some(s) = settings {
                cmd.env("MAESTROCTL_CONFIG", s);
            }
            cmd.output().unwrap()
        };
        let path = |p: &Option<std::path::PathBuf>| p.as_ref().unwrap().display().to_string();
        let (ca, cert, key) = (
            path(&operator.ca),
            path(&operator.cert),
            path(&operator.key),
        );
        (
            run(&["-o", "json", "order", "get", &id], Some(&settings)),
            run(
                &[
                    "--maestro",
                    &url,
                    "--tls-ca",
                    &ca,
                    "--tls-cert",
                    &cert,
                    "--tls-key",
                    &key,
                    "order",
                    "watch",
                    &id,
                ],
                None,
            ),
            run(
                &[
                    "--maestro",
                    &url.replace("https://", "http://"),
                    "order",
                    "get",
                    &id,
                ],
                None,
            ),
        )
    })
    .await
    .unwrap();
    assert_eq!(
        anonymous.status.code(),
        Some(5),
        "plaintext against mutual TLS is unavailable: {}",
        String::from_utf8_lossy(&anonymous.stderr)
    );
    assert_eq!(
        get.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&get.stderr)
    );
    let order: serde_json::Value = serde_json::from_slice(&get.stdout).unwrap();
    assert_eq!(order["state"], "completed");
    assert_eq!(
        order["orderItem"][0]["domainProgress"][0]["serviceState"],
        "active"
    );
    assert_eq!(
        watch.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&watch.stderr)
    );
    assert!(String::from_utf8_lossy(&watch.stdout).contains(": completed"));

    let report = fed.stop().await;
    assert!(
        report.timed_out.is_empty() && report.failed.is_empty(),
        "{report:?}"
    );
    assert!(report.workload_errors.is_empty(), "{report:?}");
    assert_eq!(
        report.workloads_stopped, 2,
        "two replicas on the one site were stopped"
    );
}

/// The processes leading their process group whose output goes to a file under `dir`: the
/// workloads of that federation (other tests of this binary run federations of the same names
/// at the same time; a workload's own children share its group).
fn workloads_under(dir: &std::path::Path) -> Vec<u32> {
    let dir = dir.canonicalize().unwrap();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/fd/1")).is_ok_and(|p| p.starts_with(&dir))
                && stat_fields(*pid).is_some_and(|f| f.get(2) == Some(&pid.to_string()))
        })
        .collect()
}

/// The fields of `/proc/PID/stat` after the command name: state, parent, process group, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.get(stat.rfind(')')? + 2..)?;
    Some(after_comm.split(' ').map(str::to_string).collect())
}

/// The parent pid and the command line of `pid`.
fn parent_and_cmdline(pid: u32) -> (u32, Vec<String>) {
    let ppid = stat_fields(pid).unwrap()[1].parse().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let args = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (ppid, args)
}

/// With a launch helper (as `maestroctl dev` runs), the sites' processes are the helper's
/// children, not this process's; one that dies is started again; the helper ends with the
/// federation and its workloads are stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sites_start_their_processes_through_the_launch_helper() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DevOptions {
        sites_per_domain: 2,
        launch_helper: Some(site_agent::HelperCommand {
            program: env!("CARGO_BIN_EXE_maestroctl").into(),
            args: vec![site_agent::launch::HELPER_ARG.into()],
        }),
        ..small(dir.path())
    };
    let (mut fed, _, _) = after_the_demo(opts).await;
    let first = workloads_under(dir.path());
    let described: Vec<_> = first.iter().map(|p| parent_and_cmdline(*p)).collect();
    assert!(
        first.len() >= 2,
        "a process on each site at least: {described:?}"
    );
    let helper = parent_and_cmdline(first[0]).0;
    let (helper_parent, helper_args) = parent_and_cmdline(helper);
    for pid in &first {
        assert_eq!(
            parent_and_cmdline(*pid).0,
            helper,
            "one helper for all sites"
        );
    }
    assert_eq!(
        helper_args.get(1).map(String::as_str),
        Some(site_agent::launch::HELPER_ARG)
    );
    assert_eq!(helper_parent, std::process::id());

    // One dies; its site starts another through the helper.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(first[0]).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let replaced = until(
        "the killed process replaced",
        Duration::from_secs(60),
        async || {
            let now = workloads_under(dir.path());
            Ok((now.len() == first.len() && !now.contains(&first[0])).then_some(now))
        },
    )
    .await;
    let parents: Vec<u32> = replaced
        .iter()
        .flatten()
        .map(|p| parent_and_cmdline(*p).0)
        .collect();
    let report = fed.stop().await;
    replaced.unwrap();
    assert!(parents.iter().all(|p| *p == helper), "{parents:?}");
    assert_eq!(report.workloads_stopped, first.len(), "{report:?}");
    until("the helper to end", Duration::from_secs(30), async || {
        // Gone, or a zombie waiting for this process to reap it.
        let state = stat_fields(helper).map(|f| f[0].clone());
        Ok(state.is_none_or(|s| s == "Z").then_some(()))
    })
    .await
    .unwrap();
}
