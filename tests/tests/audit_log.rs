//! Tamper-evident audit: maestro records the operator's CreateOrder and CancelOrder (and a
//! refused cancel) under the operator's certificate identity, the domain records maestro's
//! ApplyIntent; `maestroctl audit verify` passes on the untouched log, and names the entry and the
//! reason when one is removed or two are swapped in an export, and when an entry is changed in
//! maestro's own sled file while it is stopped (checked against the restarted server).

use maestro_common::audit::{AuditLog, Entry, Export};
use maestro_common::identity::Role;
use maestro_proto::domain::v1::ListDomainsRequest;
use maestro_proto::domain::v1::domain_registry_client::DomainRegistryClient;
use maestro_proto::order::v1::{CancelOrderRequest, ItemAction};
use maestro_tests::nodes::ProcessFederation;
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, workload_cleanup};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `maestroctl` (as the federation's `dev` operator, an admin) with `args`.
fn ctl(fed: &ProcessFederation, args: &[&str]) -> anyhow::Result<Output> {
    let tls = &fed.pki.operator;
    let path = |p: &Option<std::path::PathBuf>| p.clone().unwrap_or_default();
    Ok(std::process::Command::new(maestro_tests::node_bin!())
        .env_remove("MAESTROCTL_CONFIG")
        .arg("--maestro")
        .arg(fed.api.url())
        .arg("--tls-ca")
        .arg(path(&tls.ca))
        .arg("--tls-cert")
        .arg(path(&tls.cert))
        .arg("--tls-key")
        .arg(path(&tls.key))
        .args(args)
        .output()?)
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `audit verify --file` of `export` after `tamper`; its exit status and output.
fn verify_file(
    fed: &ProcessFederation,
    dir: &Path,
    name: &str,
    export: &Export,
    key: &str,
    tamper: impl FnOnce(&mut Vec<Entry>),
) -> anyhow::Result<Output> {
    let mut copy = export.clone();
    tamper(&mut copy.entries);
    let file = dir.join(name);
    std::fs::write(&file, serde_json::to_vec(&copy)?)?;
    ctl(
        fed,
        &[
            "audit",
            "verify",
            "--file",
            file.to_str().unwrap_or_default(),
            "--public-key",
            key,
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_names_the_operator_and_verify_catches_tampering() -> anyhow::Result<()> {
    let service = format!("audit-{}", std::process::id());
    let _cleanup = workload_cleanup(&service);
    let dir = tempfile::tempdir()?;
    let mut fed = ProcessFederation::start(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &["north"],
        1,
    )?;
    let result = scenario(&mut fed, dir.path(), &service).await;
    if let Err(e) = &result {
        eprintln!("{}", fed.failure_report(e));
    }
    result
}

async fn scenario(fed: &mut ProcessFederation, dir: &Path, service: &str) -> anyhow::Result<()> {
    orders::wait_domains_ready(&fed.api, &["north"], TIMEOUT).await?;
    let mut client = orders::order_client(&fed.api)?;
    let spec = orders::demo_order(ItemAction::Add, service, "v1", 1, &["north"]);
    let order = orders::create(&mut client, &format!("{service}-add"), spec).await?;
    // Cancelled or already final: either way the call is recorded with its result.
    let cancelled = client
        .cancel_order(CancelOrderRequest {
            id: order.id.clone(),
            reason: "audit test".into(),
        })
        .await;
    let refused = client
        .cancel_order(CancelOrderRequest {
            id: "not an order id\u{1b}[2J".into(),
            reason: String::new(),
        })
        .await;
    anyhow::ensure!(refused.is_err(), "a malformed id is refused");

    // `audit list` names the operator by its certificate's identity.
    let operator = "spiffe://maestro.dev/operator/dev";
    let out = ctl(fed, &["audit", "list", "--who", "dev", "-o", "json"])?;
    anyhow::ensure!(out.status.success(), "{}", text(&out));
    let listed: Vec<Entry> = serde_json::from_slice(&out.stdout)?;
    let names_order = |e: &Entry| {
        e.targets
            .iter()
            .any(|t| t.kind == "order" && t.id == order.id)
    };
    let create = listed
        .iter()
        .find(|e| e.call == "CreateOrder" && names_order(e))
        .ok_or_else(|| anyhow::anyhow!("no CreateOrder of {}: {listed:#?}", order.id))?;
    anyhow::ensure!(create.who.ends_with("/operator/dev"), "{create:?}");
    anyhow::ensure!(create.outcome.code == "OK", "{create:?}");
    anyhow::ensure!(
        create
            .targets
            .iter()
            .any(|t| t.kind == "domain" && t.id == "north"),
        "{create:?}"
    );
    let cancel = listed
        .iter()
        .find(|e| e.call == "CancelOrder" && names_order(e))
        .ok_or_else(|| anyhow::anyhow!("no CancelOrder of {}: {listed:#?}", order.id))?;
    anyhow::ensure!(
        (cancel.outcome.code == "OK") == cancelled.is_ok(),
        "the entry records the call's result: {cancel:?} {cancelled:?}"
    );
    let out = ctl(
        fed,
        &["audit", "list", "--what", "CancelOrder", "-o", "json"],
    )?;
    let cancels: Vec<Entry> = serde_json::from_slice(&out.stdout)?;
    anyhow::ensure!(cancels.len() == 2, "two cancels: {cancels:#?}");
    let bad = &cancels[1];
    anyhow::ensure!(
        bad.outcome.code == "INVALID_ARGUMENT" && bad.targets[0].id.contains("\\u{1b}"),
        "the refused call is recorded, its id escaped: {bad:?}"
    );
    anyhow::ensure!(
        listed.iter().all(|e| e.who.starts_with(operator)),
        "{listed:#?}"
    );

    // The domain recorded maestro's ApplyIntent of the order; maestro may read that log.
    let domain_export = domain_audit(fed).await?;
    let apply = domain_export
        .entries
        .iter()
        .find(|e| e.call == "ApplyIntent" && names_order(e))
        .ok_or_else(|| anyhow::anyhow!("no ApplyIntent: {domain_export:#?}"))?;
    anyhow::ensure!(apply.who == "spiffe://maestro.dev/maestro", "{apply:?}");
    domain_export
        .verify(&domain_export.public_key)
        .map_err(|f| anyhow::anyhow!("the domain's log verifies: {f}"))?;

    // Untouched, the log verifies against the key in maestro's data directory.
    let data = fed.dir.join("maestro/data");
    let key_file = data.join(maestro_common::audit::PUBLIC_KEY_FILE);
    let key = key_file.to_str().unwrap_or_default().to_string();
    let out = ctl(fed, &["audit", "verify", "--public-key", &key])?;
    anyhow::ensure!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("OK:"),
        "{}",
        text(&out)
    );
    let out = ctl(fed, &["audit", "export"])?;
    anyhow::ensure!(out.status.success(), "{}", text(&out));
    let export = Export::parse(&out.stdout).map_err(anyhow::Error::msg)?;
    let n = export.entries.len();
    anyhow::ensure!(n >= 4, "{export:#?}");

    // An export with entry 2 removed, or entries 2 and 3 swapped, fails at 2.
    let out = verify_file(fed, dir, "removed.json", &export, &key, |e| {
        e.remove(1);
    })?;
    let says = |o: &Output, what: &str| String::from_utf8_lossy(&o.stderr).contains(what);
    anyhow::ensure!(out.status.code() == Some(1), "{}", text(&out));
    anyhow::ensure!(says(&out, "FAILED at entry 2: removed"), "{}", text(&out));
    let out = verify_file(fed, dir, "swapped.json", &export, &key, |e| e.swap(1, 2))?;
    anyhow::ensure!(out.status.code() == Some(1), "{}", text(&out));
    anyhow::ensure!(says(&out, "FAILED at entry 2: reordered"), "{}", text(&out));

    // Stopped, maestro's own store is edited: the CreateOrder now names another operator.
    fed.maestro.stop()?;
    let changed = tamper_store(&data, &order.id)?;
    fed.maestro.start()?;
    orders::wait_domains_ready(&fed.api, &["north"], TIMEOUT).await?;
    let out = ctl(fed, &["audit", "export"])?;
    let after = Export::parse(&out.stdout).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        after.checkpoints.iter().any(|c| c.seq >= n as u64),
        "maestro signed its head when it stopped: {:?}",
        after.checkpoints
    );
    let out = ctl(fed, &["audit", "verify", "--public-key", &key])?;
    anyhow::ensure!(out.status.code() == Some(1), "{}", text(&out));
    anyhow::ensure!(
        says(
            &out,
            &format!("FAILED at entry {changed}: changed (hash mismatch)")
        ),
        "{}",
        text(&out)
    );
    Ok(())
}

/// Changes the CreateOrder entry of `order` in maestro's sled file; returns its sequence.
fn tamper_store(data: &Path, order: &str) -> anyhow::Result<u64> {
    let db = sled::open(data)?;
    let tree = db.open_tree(AuditLog::ENTRIES_TREE)?;
    for item in tree.iter() {
        let (k, v) = item?;
        let entry: Entry = serde_json::from_slice(&v)?;
        if entry.call == "CreateOrder" && entry.targets.iter().any(|t| t.id == order) {
            let edited = String::from_utf8(v.to_vec())?.replace("operator/dev", "operator/eve");
            tree.insert(k, edited.as_bytes())?;
            db.flush()?;
            return Ok(entry.seq);
        }
    }
    anyhow::bail!("no CreateOrder entry of {order} in the store")
}

/// The north orchestrator's audit export, read with maestro's certificate.
async fn domain_audit(fed: &ProcessFederation) -> anyhow::Result<Export> {
    let domains = DomainRegistryClient::new(fed.api.channel()?)
        .list_domains(ListDomainsRequest {})
        .await?
        .into_inner()
        .domains;
    let north = domains
        .iter()
        .find(|d| d.id == "north")
        .ok_or_else(|| anyhow::anyhow!("north is not registered"))?;
    let tls = maestro_common::tls::TlsSource::load(&fed.pki.maestro)?;
    let channel = maestro_common::grpc::channel_with(
        &north.endpoint,
        tls.as_ref(),
        Some(Role::Domain {
            domain: maestro_common::ResourceName::parse("domain", "north")?,
        }),
    )?;
    maestro_tests::api::audit_export(channel).await
}
