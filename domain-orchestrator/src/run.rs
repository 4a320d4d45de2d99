//! Wiring: open state, prepare Git, serve gRPC, start the reconciler, the log follower and
//! the registration with maestro.

use crate::api::IntentApi;
use crate::config::Config;
use crate::context::Context;
use crate::controller::Controller;
use crate::error::Error;
use crate::git::GitPublisher;
use crate::hub::StatusHub;
use crate::reconcile::ReconcileReason;
use crate::registration::{Registration, register_and_heartbeat};
use crate::service::IntentGrpc;
use crate::signing::{ManifestSigner, VersionCounter};
use crate::source::{LogServerSource, StatusSource};
use crate::store::{IntentStore, SledStore};
use maestro_common::ResourceName;
use maestro_common::access::Access;
use maestro_common::audit::{AuditApi, AuditKey, AuditLog};
use maestro_common::identity::Role;
use maestro_proto::audit::v1::audit_service_server::AuditServiceServer;
use maestro_proto::domain::v1::{RegisterDomainRequest, SiteLabels};
use maestro_proto::intent::v1::intent_service_server::IntentServiceServer;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// gRPC name of the intent service (for health checking).
pub const SERVICE_NAME: &str = "maestro.intent.v1.IntentService";

/// A running domain orchestrator.
pub struct Running {
    /// The address the gRPC server listens on.
    pub addr: std::net::SocketAddr,
    /// Ends when everything has stopped after `shutdown` was cancelled.
    pub task: tokio::task::JoinHandle<()>,
}

/// [`Config::validate`] as a start error, for callers that skip the config loader.
fn validate(config: &Config) -> Result<(), Error> {
    use maestro_common::config::Validate;
    config.validate().map_err(|e| Error::Config(e.to_string()))
}

/// Starts the domain orchestrator and returns once it is serving.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<Running, Error> {
    Ok(run_with_context(config, shutdown).await?.0)
}

/// Like [`run`], also returning the reconcilers' shared [`Context`] (for in-process tools and tests).
pub async fn run_with_context(
    config: Config,
    shutdown: CancellationToken,
) -> Result<(Running, Arc<Context>), Error> {
    validate(&config)?;
    let own = Role::Domain {
        domain: ResourceName::parse("domain", &config.domain)
            .map_err(|e| Error::Config(e.to_string()))?,
    };
    let tls = maestro_common::tls::start(&config.tls, "domain orchestrator", &own, &shutdown)?;
    let access = Access::from_tls(tls.as_ref(), Default::default());
    let scheme = if tls.is_some() { "https" } else { "http" };
    let dir = config.data_dir.clone();
    std::fs::create_dir_all(&dir).map_err(|source| Error::DataDir {
        path: dir.display().to_string(),
        source,
    })?;
    let store = Arc::new(SledStore::open(&dir.join("sled"))?);
    let audit = {
        let key = AuditKey::load_or_generate(&dir).map_err(Error::AuditKey)?;
        AuditLog::open_in(store.db(), key, maestro_common::audit::CHECKPOINT_EVERY)
            .map_err(crate::store::StoreError::from)?
    };
    let (remote, branch, domain) = (
        config.git_remote.clone(),
        config.branch.clone(),
        config.domain.clone(),
    );
    let (init, git) = (config.git_init_remote, config.git.clone());
    let signer = signer(&config, store.as_ref())?;
    let git_dir = dir.join("git");
    let repo = tokio::task::spawn_blocking(move || {
        let publisher =
            GitPublisher::open(&git_dir, &remote, &branch, init, &domain)?.with_settings(&git)?;
        Ok(match signer {
            Some(s) => publisher.with_signer(s),
            None => publisher,
        })
    })
    .await
    .map_err(|e| Error::Config(format!("git setup task: {e}")))?
    .map_err(Error::from_git_setup)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: config.listen,
        source,
    })?;

    let offered = Arc::new(
        crate::offered::Offered::load(config.catalog_dir.as_deref())
            .map_err(|e| Error::Config(format!("catalog_dir: {e}")))?,
    );
    let hub = Arc::new(StatusHub::default());
    let (repo, heads) = crate::announce::Announcing::new(Arc::new(repo));
    let ctx = Arc::new(
        Context::new(
            config.domain.clone(),
            config.sites.clone(),
            store.clone(),
            store.clone(),
            Arc::new(repo),
            hub,
        )
        .with_site_unreachable_after_ms(config.site_unreachable_after_ms)
        .with_policy(config.policy.clone())
        .with_offered(offered.clone()),
    );
    let intents = all_intent_ids(store.as_ref())?;
    for id in &intents {
        if let Some(i) = store.get(id)? {
            ctx.refresh_status(&i);
        }
    }
    let (controller, controller_task) = Controller::start(ctx.clone(), shutdown.clone());
    for id in &intents {
        controller.trigger(id, ReconcileReason::Startup);
    }
    let source: Option<Arc<dyn StatusSource>> = (!config.log_server.is_empty())
        .then(|| Arc::new(LogServerSource::new(config.log_server.clone(), tls.clone())) as _);
    let mut tasks = vec![
        controller_task,
        tokio::spawn(crate::liveness::watch_sites(ctx.clone(), shutdown.clone())),
        tokio::spawn(maestro_common::audit::run_checkpoints(
            audit.clone(),
            maestro_common::audit::CHECKPOINT_INTERVAL,
            shutdown.clone(),
        )),
    ];
    if !config.signing.keys.is_empty() {
        tasks.push(tokio::spawn(crate::signing::refresh_manifests(
            ctx.clone(),
            crate::signing::check_interval(config.signing.renew_before_secs),
            shutdown.clone(),
        )));
    }
    if !config.log_server.is_empty() {
        tasks.push(tokio::spawn(crate::announce::announce(
            heads,
            config.log_server.clone(),
            tls.clone(),
            shutdown.clone(),
        )));
    }
    if let Some(src) = &source {
        tasks.push(tokio::spawn(crate::follower::follow(
            ctx.clone(),
            src.clone(),
            shutdown.clone(),
        )));
    }
    if let Some(maestro) = &config.maestro {
        let reg = Registration {
            maestro: maestro.clone(),
            request: RegisterDomainRequest {
                id: config.domain.clone(),
                endpoint: config
                    .advertise
                    .clone()
                    .unwrap_or_else(|| format!("{scheme}://{addr}")),
                labels: config.labels.clone().into_iter().collect(),
                region: config.region.clone(),
                sites: config.sites.clone(),
                catalog_json: offered.documents(),
                site_labels: site_labels(&config),
                publishes_catalog: offered.publishes(),
            },
            heartbeat: Duration::from_millis(config.heartbeat_interval_ms),
            tls: tls.clone(),
            offered,
            capacity: Some(site_capacity(&ctx, &config)),
        };
        tasks.push(tokio::spawn(register_and_heartbeat(reg, shutdown.clone())));
    }
    let grpc = IntentGrpc::new(
        IntentApi::new(ctx.clone(), controller),
        source,
        access.clone(),
        audit.clone(),
        shutdown.clone(),
    );
    let routes = tonic::service::Routes::new(
        IntentServiceServer::new(grpc)
            .max_decoding_message_size(maestro_common::grpc::MAX_MESSAGE_BYTES),
    )
    .add_service(
        AuditServiceServer::new(AuditApi::new(audit, access, Some(config.domain.clone())))
            .max_decoding_message_size(maestro_common::grpc::MAX_MESSAGE_BYTES),
    );
    let server_shutdown = shutdown.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = maestro_common::grpc::serve_with(
            listener,
            routes,
            &[SERVICE_NAME, maestro_common::audit::SERVICE_NAME],
            tls,
            server_shutdown.clone(),
        )
        .await
        {
            tracing::error!(error = %e, "intent server failed");
            server_shutdown.cancel();
        }
        for t in tasks {
            let _ = t.await;
        }
        let _ = store.flush().await;
    });
    tracing::info!(%addr, domain = %config.domain, "domain orchestrator serving");
    Ok((Running { addr, task }, ctx))
}

/// The manifest signer of the configured keys; None (with a warning) when no key is configured.
fn signer(config: &Config, store: &SledStore) -> Result<Option<ManifestSigner>, Error> {
    let Some((keys, key_set)) = config
        .signing
        .load("signing")
        .map_err(|e| Error::Config(e.to_string()))?
    else {
        tracing::warn!(
            domain = %config.domain,
            "signing.keys is empty: commits are published UNSIGNED and sites that verify will refuse them"
        );
        return Ok(None);
    };
    tracing::info!(domain = %config.domain, keys = keys.len(), threshold = key_set.threshold,
        announced = key_set.keys.len(), "signing every published commit");
    Ok(Some(ManifestSigner::new(
        &config.domain,
        keys,
        key_set,
        config.signing.validity_secs,
        config.signing.renew_before_secs,
        VersionCounter::new(store.manifest_versions()?),
    )))
}

/// The configured labels of each site, as registration sends them.
fn site_labels(config: &Config) -> std::collections::HashMap<String, SiteLabels> {
    config
        .site_labels
        .iter()
        .map(|(site, labels)| {
            let labels = labels.clone().into_iter().collect();
            (site.clone(), SiteLabels { labels })
        })
        .collect()
}

fn all_intent_ids(store: &dyn IntentStore) -> Result<Vec<String>, crate::store::StoreError> {
    let mut ids: Vec<String> = Vec::new();
    loop {
        let after = ids.last().cloned().unwrap_or_default();
        let page = store.list(&after, 500)?;
        if page.is_empty() {
            return Ok(ids);
        }
        ids.extend(page.into_iter().map(|i| i.id));
    }
}

/// What the sites have free, read from their latest heartbeats when a heartbeat to maestro goes.
fn site_capacity(ctx: &Arc<Context>, config: &Config) -> crate::capacity::CapacitySource {
    let ctx = ctx.clone();
    let sites = config.sites.clone();
    let fresh = config.site_unreachable_after_ms;
    crate::capacity::CapacitySource(Arc::new(move || {
        let syncs: Vec<_> = sites
            .iter()
            .filter_map(|s| ctx.observed.site_sync(s).ok().flatten())
            .collect();
        crate::capacity::sum(&syncs, maestro_common::time::now_millis(), fresh)
    }))
}
