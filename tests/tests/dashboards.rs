//! The Grafana dashboards in `deploy/grafana/dashboards/` are proven against a real Prometheus
//! (Debian's package, installed by `scripts/prometheus.sh`): it scrapes every component of a
//! federation while orders run and a call is refused, and every query of every panel, read
//! from the dashboard files, returns at least one series with a number (not NaN).

use maestro_proto::order::v1::{ItemAction, ListOrdersRequest, OrderState};
use maestro_testkit::binary::Node;
use maestro_testkit::net::{free_addr, free_port, http_get_async};
use maestro_tests::api::MaestroApi;
use maestro_tests::nodes::ProcessFederation;
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, with_logs, workload_cleanup};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

/// Every (dashboard file, panel title, query) of the dashboards.
fn panel_queries() -> anyhow::Result<Vec<(String, String, String)>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/dashboards");
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
    {
        let doc: Value = serde_json::from_slice(&std::fs::read(file)?)?;
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let panels = doc["panels"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("{name}: no panels"))?;
        for p in panels {
            let title = p["title"].as_str().unwrap_or_default().to_string();
            let targets = p["targets"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            anyhow::ensure!(!targets.is_empty(), "{name}: panel {title:?} has no query");
            for t in targets {
                let expr = t["expr"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("{name}: panel {title:?}: no expr"))?;
                out.push((name.clone(), title.clone(), expr.to_string()));
            }
        }
    }
    anyhow::ensure!(!out.is_empty(), "no dashboards in {}", dir.display());
    Ok(out)
}

/// `GET /api/v1/query?query=...` on Prometheus at `port`.
async fn query(port: u16, expr: &str) -> anyhow::Result<Value> {
    let encoded: String = expr
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = http_get_async(port, &format!("/api/v1/query?query={encoded}"))
        .await
        .ok_or_else(|| anyhow::anyhow!("Prometheus on port {port} did not answer"))?;
    Ok(serde_json::from_str(&body)?)
}

/// Whether a query reply holds at least one series whose value is a number.
fn has_number(reply: &Value) -> bool {
    reply["status"] == "success"
        && reply["data"]["result"].as_array().is_some_and(|r| {
            r.iter().any(|s| {
                s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(f64::is_finite)
            })
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_panel_returns_data_from_a_real_prometheus() -> anyhow::Result<()> {
    let queries = panel_queries()?;
    let prometheus_bin = which("prometheus").ok_or_else(|| {
        anyhow::anyhow!(
            "prometheus is not installed: run scripts/prometheus.sh (the test command does)"
        )
    })?;
    let service = format!("dashboards-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let mut targets: Vec<(String, SocketAddr)> = Vec::new();
    let fed = ProcessFederation::start_with(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north"],
        2,
        |component, domain, config| {
            let job = component.name();
            let addr = free_addr();
            targets.push((format!("{job}-{domain}-{}", targets.len()), addr));
            config["metrics_listen"] = json!(addr.to_string());
        },
    )?;
    // Prometheus scrapes every component each second.
    let scrape_configs: Vec<Value> = targets
        .iter()
        .map(|(name, addr)| {
            json!({"job_name": name, "scrape_interval": "1s", "static_configs": [{"targets": [addr.to_string()]}]})
        })
        .collect();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        serde_json::to_string(
            &json!({"global": {"scrape_interval": "1s"}, "scrape_configs": scrape_configs}),
        )?,
    )?;
    let port = free_port();
    let mut prometheus = Node::new(
        "prometheus",
        &prometheus_bin,
        [
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &dir.path().join("prometheus.log"),
    );
    prometheus.start()?;
    let result = with_logs(&fed, async {
        let targets_up =
            maestro_testkit::until("Prometheus scraping every component", TIMEOUT, async || {
                let Ok(reply) = query(port, "up").await else {
                    return Ok(None);
                };
                let up = reply["data"]["result"]
                    .as_array()
                    .map(|r| r.iter().filter(|s| s["value"][1] == "1").count())
                    .unwrap_or(0);
                Ok((up == targets.len()).then_some(()))
            })
            .await;
        targets_up.map_err(|e| {
            let log =
                std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
            anyhow::anyhow!("{e}\nprometheus log:\n{log}")
        })?;

        orders::wait_domains_ready(&fed.api, &["north"], TIMEOUT).await?;
        let mut client = orders::order_client(&fed.api)?;
        let spec = orders::demo_order(ItemAction::Add, &service, "dashboards", 1, &["north"]);
        let order = orders::create(&mut client, &format!("{service}-add"), spec).await?;
        let (done, _) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
        anyhow::ensure!(done.state() == OrderState::Completed, "{done:#?}");
        // A domain's certificate may not list orders: a refusal for the refusals panel.
        let as_domain = MaestroApi::tls(fed.api.url(), &fed.pki.domains["north"])?;
        let refused = orders::order_client(&as_domain)?
            .list_orders(ListOrdersRequest::default())
            .await;
        anyhow::ensure!(refused.is_err(), "{refused:?}");
        // A series is born with its first observation, so a rate needs a second one after
        // Prometheus has seen it: a second order once every panel's series are scraped (each
        // query answers, NaN included), whichever component they come from.
        maestro_testkit::until("the first order's series scraped", TIMEOUT, async || {
            for (_, _, expr) in &queries {
                let reply = query(port, expr).await?;
                if reply["data"]["result"].as_array().is_none_or(Vec::is_empty) {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        })
        .await?;
        let spec = orders::demo_order(
            ItemAction::Modify,
            &service,
            "dashboards again",
            1,
            &["north"],
        );
        let order = orders::create(&mut client, &format!("{service}-modify"), spec).await?;
        let (done, _) = orders::watch_until_final(&fed.api, &order.id, TIMEOUT).await?;
        anyhow::ensure!(done.state() == OrderState::Completed, "{done:#?}");

        // Every panel's query returns a number once Prometheus has scraped the work.
        let mut failing = Vec::new();
        let answered = maestro_testkit::until("every panel to return data", TIMEOUT, async || {
            failing.clear();
            for (file, title, expr) in &queries {
                let reply = query(port, expr).await?;
                if !has_number(&reply) {
                    failing.push(format!("{file} / {title}: {expr} -> {reply}"));
                }
            }
            Ok(failing.is_empty().then_some(()))
        })
        .await;
        answered
            .map_err(|e| anyhow::anyhow!("{e}; panels without data:\n{}", failing.join("\n")))?;
        eprintln!(
            "{} panel queries over {} scrape targets returned data",
            queries.len(),
            targets.len()
        );
        Ok(())
    })
    .await;
    drop(prometheus);
    result
}

/// The path of `program` on `PATH`.
fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}
