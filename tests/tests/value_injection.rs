//! The attack that found it, through every tier: a `message` written as shell code, ordered for
//! the demo spec, is printed by the site's process and never runs; `replicas` a site would
//! refuse are refused when the order is created.

use maestro_proto::order::v1::{ItemAction, OrderState};
use maestro_testkit::wait::until;
use maestro_tests::scenario::{
    catalog, with_logs, workload_cleanup, workloads_per_site as per_site,
};
use maestro_tests::{nodes::ProcessFederation, orders};
use std::path::Path;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_written_as_shell_code_is_printed_not_run() -> anyhow::Result<()> {
    let service = format!("injection-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let fed = ProcessFederation::start(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north"],
        1,
    )?;
    with_logs(&fed, scenario(&fed, &service, dir.path())).await
}

async fn scenario(fed: &ProcessFederation, service: &str, dir: &Path) -> anyhow::Result<()> {
    orders::wait_domains_ready(&fed.api, &["north"], TIMEOUT).await?;
    let mut client = orders::order_client(&fed.api)?;

    for replicas in [-1, 2_147_483_648, 1_000_000_000] {
        let spec = orders::demo_order(ItemAction::Add, service, "m", replicas, &["north"]);
        let e = orders::create(&mut client, &format!("{service}-r{replicas}"), spec)
            .await
            .expect_err("out-of-range replicas are refused");
        let status = e.downcast_ref::<tonic::Status>().expect("a gRPC status");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().ends_with(&format!(
                "replicas: must be between 0 and 16, got {replicas}"
            )),
            "{status:?}"
        );
    }

    let target = dir.join("injected");
    let message = format!("x; echo injected-by-$(id -un) > {}", target.display());
    let spec = orders::demo_order(ItemAction::Add, service, &message, 1, &["north"]);
    let order = orders::create(&mut client, &format!("{service}-add"), spec).await?;
    let (done, _) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
    assert_eq!(done.state(), OrderState::Completed, "{done:#?}");

    let running = per_site(service);
    let workers: Vec<_> = running.values().flatten().collect();
    assert_eq!(workers.len(), 1, "{running:?}");
    let w = workers[0];
    assert_eq!(w.var("DEMO_MESSAGE"), message);
    // The script ends in `exec sleep`: once the process is `sleep`, every statement before it ran.
    let pid = w.pid;
    let cmdline = until("the demo process to reach its sleep", TIMEOUT, async || {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline"))?;
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        Ok(args.first().is_some_and(|a| a == "sleep").then_some(args))
    })
    .await?;
    assert_eq!(cmdline, ["sleep", "86400"]);
    assert!(!target.exists(), "the message ran as shell code");
    Ok(())
}
