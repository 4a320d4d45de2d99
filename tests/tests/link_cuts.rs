//! The seeded link faults: orders keep coming while the links of one domain are cut, at a seeded
//! moment, for a seeded time, the two ways links fail — connections reset, or packets dropped
//! without a word (open connections blackholed, new ones never answered, and the flows caught in
//! it dead for good). Two kinds of link are cut: a domain's uplink (maestro → domain and
//! domain → maestro) and a site's (site → Git over HTTPS and site → log server). Every hop goes
//! through a [`Link`] relay; the Git server is a real HTTPS one.
//!
//! After each fault: the order placed as the link went down completes, and the time from the
//! link's return to that is printed. At the end: every acknowledged order is there, final, once,
//! and each service runs exactly what its last order asked for — nothing lost, duplicated or
//! orphaned.
//!
//! `MAESTRO_FAULT_SEED=<n>` replays a run (the seed is printed); `MAESTRO_LINK_FAULTS=<n>` cuts
//! more links (default 4, resets and silent drops alternating; the suite's length keeps it short,
//! `MAESTRO_LINK_FAULTS=20` is a longer run).

use maestro_proto::order::v1::{ItemAction, OrderState};
use maestro_testkit::git_servers::HttpsGitServer;
use maestro_testkit::link::{Cut, Link};
use maestro_tests::faults::{self, Rng, Want};
use maestro_tests::nodes::{Component, ProcessFederation};
use maestro_tests::orders;
use maestro_tests::scenario::{catalog, workload_cleanup};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(120);
const DOMAINS: [&str; 2] = ["north", "south"];
const SERVICES: usize = 3;
/// The sites' Git timeout in this test (seconds without a byte before a fetch is given up).
const GIT_TIMEOUT_SECS: u64 = 5;
/// Longest time from a link's return to its order's completion. A silently dead connection is
/// given up within one keep-alive and its timeout: 10 + 10 s between the services, and on a
/// site's link to its log server the heartbeat (1 s here) + 5 + 10 s; then the hops reconnect
/// at once. The bound leaves that twice over for a loaded machine, and still fails a keep-alive
/// that leaves a dead link in use for a minute (as a fixed 60 s one on the site's link once did).
const RECOVERY_BOUND: Duration = Duration::from_secs(45);

/// Which links of a domain a fault cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    /// maestro → domain and domain → maestro.
    Uplink,
    /// The site's links: to Git and to the log server.
    Site,
}

/// The relays of the federation, by domain and side.
type Links = BTreeMap<(String, Side), Vec<Link>>;

/// `https://127.0.0.1:<port>` → the address.
fn addr_of(url: &Value) -> anyhow::Result<SocketAddr> {
    let url = url.as_str().unwrap_or_default();
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| anyhow::anyhow!("not an https URL: {url}"))?;
    Ok(rest.trim_end_matches('/').parse()?)
}

/// Relays bound before the federation picks its ports, so none can take a port a component
/// picked but has not bound yet; [`relay`] hands them out.
fn bound_relays(n: usize) -> anyhow::Result<Vec<Link>> {
    (0..n).map(|_| Link::listen()).collect()
}

/// Puts a relay from `spare` in front of `target`, filed under (`domain`, `side`); its address.
fn relay(
    links: &mut Links,
    spare: &mut Vec<Link>,
    domain: &str,
    side: Side,
    target: SocketAddr,
) -> anyhow::Result<String> {
    let link = spare
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no relay left"))?;
    link.connect_to(target);
    let addr = link.addr();
    links
        .entry((domain.to_string(), side))
        .or_default()
        .push(link);
    Ok(addr.to_string())
}

/// Routes `component`'s hops through relays: the domain's to and from maestro (its uplink), the
/// site's to Git and to its log server. The domain pushes to Git directly.
fn route(
    links: &mut Links,
    spare: &mut Vec<Link>,
    https: &HttpsGitServer,
    git: &Value,
    component: Component,
    domain: &str,
    config: &mut Value,
) -> anyhow::Result<()> {
    match component {
        Component::Domain => {
            let up = relay(
                links,
                spare,
                domain,
                Side::Uplink,
                addr_of(&config["maestro"])?,
            )?;
            config["maestro"] = json!(format!("https://{up}"));
            let listen: SocketAddr = config["listen"].as_str().unwrap_or_default().parse()?;
            let down = relay(links, spare, domain, Side::Uplink, listen)?;
            config["advertise"] = json!(format!("https://{down}"));
            config["git_remote"] = json!(https.url(domain));
            config["git_init_remote"] = json!(false);
            config["git"] = git.clone();
        }
        Component::Site => {
            let logs = relay(
                links,
                spare,
                domain,
                Side::Site,
                addr_of(&config["log_server"])?,
            )?;
            config["log_server"] = json!(format!("https://{logs}"));
            let git_server: SocketAddr = https
                .url(domain)
                .trim_start_matches("https://")
                .split('/')
                .next()
                .unwrap_or_default()
                .parse()?;
            let via = relay(links, spare, domain, Side::Site, git_server)?;
            config["git_remote"] = json!(format!("https://{via}/git/{domain}.git"));
            config["git"] = git.clone();
        }
        Component::Maestro | Component::LogServer => {}
    }
    Ok(())
}

/// One fault: which links, how, for how long.
#[derive(Debug, Clone, Copy)]
struct Fault {
    domain: usize,
    side: Side,
    how: Cut,
    hold: Duration,
}

impl Fault {
    /// The `i`-th fault: resets and silent drops alternate, so every run has both.
    fn pick(rng: &mut Rng, i: usize) -> Self {
        Self {
            domain: rng.below(DOMAINS.len() as u64) as usize,
            side: if rng.below(2) == 0 {
                Side::Uplink
            } else {
                Side::Site
            },
            how: if i.is_multiple_of(2) {
                Cut::Reset
            } else {
                Cut::Silent
            },
            hold: Duration::from_millis(500 + rng.below(2_500)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_complete_after_links_are_reset_or_go_silent() -> anyhow::Result<()> {
    let seed = faults::seed("link faults");
    let count = faults::env_u64("MAESTRO_LINK_FAULTS").unwrap_or(4) as usize;
    let tag = format!("cut{}", std::process::id());
    let services: Vec<String> = (0..SERVICES).map(|i| format!("{tag}-s{i}")).collect();
    let _cleanup: Vec<_> = services.iter().map(|s| workload_cleanup(s)).collect();

    let https = HttpsGitServer::start().await?;
    for d in DOMAINS {
        https.create_repo(d)?;
    }
    let git = json!({
        "ca": https.ca.cert,
        "username": https.username,
        "password_file": https.password_file("token", &https.password)?,
        "timeout_secs": GIT_TIMEOUT_SECS,
    });
    let dir = tempfile::tempdir()?;
    let mut links = Links::new();
    // Four hops through a relay per domain: to and from maestro, to Git, to the log server.
    let mut spare = bound_relays(4 * DOMAINS.len())?;
    let mut routing = Ok(());
    let fed = ProcessFederation::start_with(
        maestro_tests::node_bin!(),
        dir.path(),
        &catalog(),
        &DOMAINS,
        1,
        |component, domain, config| {
            if routing.is_ok() {
                routing = route(
                    &mut links, &mut spare, &https, &git, component, domain, config,
                );
            }
        },
    )?;
    routing?;
    let result = faults_run(&fed, &links, seed, count, &tag, &services).await;
    if let Err(e) = &result {
        eprintln!("link faults with seed {seed}: {}", fed.failure_report(e));
    }
    // The relays go first: they close the flows a silent cut left dead for good, which the
    // components would otherwise wait on while they drain (until their keep-alive drops them).
    drop(links);
    result
}

async fn faults_run(
    fed: &ProcessFederation,
    links: &Links,
    seed: u64,
    count: usize,
    tag: &str,
    services: &[String],
) -> anyhow::Result<()> {
    let mut rng = Rng::new(seed);
    let api = fed.api.clone();
    orders::wait_domains_ready(&api, &DOMAINS, TIMEOUT).await?;
    let mut client = orders::order_client(&api)?;
    let mut want: BTreeMap<String, Want> = BTreeMap::new();
    let mut acknowledged = Vec::new();
    let mut figures = Vec::new();
    for n in 0..count {
        let service = &services[rng.below(services.len() as u64) as usize];
        let (action, target) = match want.get(service) {
            None | Some(Want::Deleted) => {
                (ItemAction::Add, Want::Running(1 + rng.below(2) as usize))
            }
            Some(Want::Running(_)) if rng.below(4) == 0 => (ItemAction::Delete, Want::Deleted),
            Some(Want::Running(r)) => (ItemAction::Modify, Want::Running(1 + *r % 2)),
        };
        let replicas = match target {
            Want::Running(r) => r as i64,
            Want::Deleted => 0,
        };
        let spec = orders::demo_order(action, service, &format!("cut {n}"), replicas, &DOMAINS);
        let key = format!("{tag}-{n}");
        let order = orders::create(&mut client, &key, spec.clone()).await?;
        want.insert(service.clone(), target);

        // The links go down with the order in flight, and stay down for the fault's length.
        let fault = Fault::pick(&mut rng, n);
        let cut = &links[&(DOMAINS[fault.domain].to_string(), fault.side)];
        for link in cut {
            link.cut(fault.how);
        }
        tokio::time::sleep(fault.hold).await;
        for link in cut {
            link.mend();
        }
        let mended = Instant::now();
        let (done, seen) = orders::watch_until_final(&api, &order.id, TIMEOUT)
            .await
            .map_err(|e| e.context(format!("order {n} after {fault:?}")))?;
        let took = mended.elapsed();
        anyhow::ensure!(
            done.state() == OrderState::Completed,
            "order {n} after {fault:?} ended {:?} (states {seen:?}): {done:#?}",
            done.state()
        );
        eprintln!(
            "fault {n}: {} {:?} cut {:?} for {:.1} s; its order completed {:.2} s after the link returned",
            DOMAINS[fault.domain],
            fault.side,
            fault.how,
            fault.hold.as_secs_f64(),
            took.as_secs_f64()
        );
        anyhow::ensure!(
            took <= RECOVERY_BOUND,
            "order {n} completed {:.1} s after the link returned from {fault:?}, over the {} s bound",
            took.as_secs_f64(),
            RECOVERY_BOUND.as_secs()
        );
        figures.push((fault, took));
        acknowledged.push((key, order.id, spec));
    }

    // Nothing lost or duplicated: every order is there, final, and its key still names it.
    for (key, id, spec) in &acknowledged {
        let got = orders::get(&mut client, id).await?;
        anyhow::ensure!(orders::is_final(got.state()), "order {key}: {got:#?}");
        let again = orders::create(&mut client, key, spec.clone()).await?;
        anyhow::ensure!(again.id == *id, "key {key} made a second order");
    }
    // Exactly what the last order of each service asked for runs at every site.
    faults::converged(&want, &["north-1", "south-1"], TIMEOUT).await?;
    let worst = |how: Cut| {
        figures
            .iter()
            .filter(|(f, _)| f.how == how)
            .map(|(_, t)| t.as_secs_f64())
            .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))))
            .map_or("none cut".to_string(), |t| format!("{t:.2} s"))
    };
    eprintln!(
        "link fault figures: {} orders acknowledged, 0 lost, 0 duplicated, 0 orphaned; slowest recovery after a reset {}, after a silent drop {}",
        acknowledged.len(),
        worst(Cut::Reset),
        worst(Cut::Silent)
    );
    Ok(())
}
