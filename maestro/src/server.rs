//! `run`: opens sled and the catalog, starts delivery and the engine (resuming the outbox), starts the status watchers and serves
//! gRPC until shutdown.

use crate::api::{catalog::CatalogApi, domains::DomainApi, orders::OrderApi};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::delivery::{self, TonicDomainClient};
use crate::domain_channels::DomainChannels;
use crate::engine::Engine;
use crate::error::{Error, StoreError};
use crate::order_logs::{OrderLogs, TonicLogSource};
use crate::registry::DomainRegistry;
use crate::status_watch;
use crate::store::SledOrderStore;
use maestro_common::access::Access;
use maestro_common::audit::{AuditApi, AuditKey, AuditLog};
use maestro_common::authz::OperatorPolicy;
use maestro_common::grpc::{MAX_MESSAGE_BYTES, serve_with};
use maestro_common::identity::Role;
use maestro_proto::audit::v1::audit_service_server::AuditServiceServer;
use maestro_proto::catalog::v1::catalog_service_server::CatalogServiceServer;
use maestro_proto::domain::v1::domain_registry_server::DomainRegistryServer;
use maestro_proto::order::v1::order_service_server::OrderServiceServer;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A running maestro.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on.
    pub addr: std::net::SocketAddr,
    /// Ends when the server and every background task stopped.
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts maestro: loads the catalog (a bad file fails here, named), opens sled, binds
/// `config.listen`, resumes unfinished deliveries and returns once serving.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<Running, Error> {
    maestro_common::config::Validate::validate(&config)?;
    let tls = maestro_common::tls::start(&config.tls, "maestro", &Role::Maestro, &shutdown)?;
    let operators = match (&tls, &config.operator_policy) {
        (Some(_), Some(path)) => OperatorPolicy::load(path)?,
        (Some(_), None) => {
            tracing::warn!("no operator_policy: every operator call is refused");
            OperatorPolicy::default()
        }
        (None, _) => OperatorPolicy::default(),
    };
    let access = Access::from_tls(tls.as_ref(), operators);
    let catalog = Catalog::load(&config.catalog_dir)?;
    let db = maestro_common::durable::open(&config.data_dir).map_err(StoreError::from)?;
    let registry = DomainRegistry::open(&db, config.domain_unreachable_after_ms)?;
    let store = Arc::new(SledOrderStore::open(&db)?);
    let audit_key = AuditKey::load_or_generate(&config.data_dir).map_err(Error::AuditKey)?;
    let audit = AuditLog::open_in(&db, audit_key, maestro_common::audit::CHECKPOINT_EVERY)
        .map_err(StoreError::from)?;
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
    let tasks = TaskTracker::new();
    tasks.spawn(maestro_common::audit::run_checkpoints(
        audit.clone(),
        maestro_common::audit::CHECKPOINT_INTERVAL,
        shutdown.clone(),
    ));
    let channels = DomainChannels::new(registry.clone(), tls.clone());
    let (deliveries, reports) = delivery::start(
        Arc::new(TonicDomainClient::new(channels.clone())),
        config.backoff(),
        shutdown.clone(),
        &tasks,
    );
    let engine = Engine::new(
        config,
        catalog.clone(),
        registry.clone(),
        store,
        deliveries,
        shutdown.clone(),
        tasks.clone(),
    );
    let statuses = status_watch::start(
        registry.clone(),
        channels.clone(),
        engine.config(),
        shutdown.clone(),
        &tasks,
    );
    let resumed = engine.start(reports, statuses).await?;
    tracing::info!(%addr, specs = catalog.specs().count(), resumed, "maestro serving");
    let routes = tonic::service::Routes::new(
        OrderServiceServer::new(
            OrderApi::new(
                engine.clone(),
                OrderLogs::new(
                    Arc::new(TonicLogSource::new(channels.clone())),
                    shutdown.clone(),
                ),
                access.clone(),
                audit.clone(),
            )
            .with_planner(crate::dry_run::Planner::new(channels)),
        )
        .max_decoding_message_size(MAX_MESSAGE_BYTES),
    )
    .add_service(
        CatalogServiceServer::new(CatalogApi::new(
            engine.catalog().clone(),
            registry.clone(),
            access.clone(),
        ))
        .max_decoding_message_size(MAX_MESSAGE_BYTES),
    )
    .add_service(
        DomainRegistryServer::new(DomainApi::new(
            registry,
            engine.catalog().clone(),
            access.clone(),
            audit.clone(),
        ))
        .max_decoding_message_size(MAX_MESSAGE_BYTES),
    )
    .add_service(
        AuditServiceServer::new(AuditApi::new(audit, access, None))
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
    );
    let task = tokio::spawn(async move {
        let names = [
            "maestro.order.v1.OrderService",
            "maestro.catalog.v1.CatalogService",
            "maestro.domain.v1.DomainRegistry",
            maestro_common::audit::SERVICE_NAME,
        ];
        if let Err(e) = serve_with(listener, routes, &names, tls, shutdown.clone()).await {
            tracing::error!(error = %e, "gRPC server failed");
            shutdown.cancel();
        }
        tasks.close();
        tasks.wait().await;
        if let Err(e) = maestro_common::durable::flush(&db).await {
            tracing::error!(error = %e, "final flush failed");
        }
    });
    Ok(Running { addr, task })
}
