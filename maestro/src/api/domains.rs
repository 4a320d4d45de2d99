//! `maestro.domain.v1.DomainRegistry`.

use crate::offers::CatalogView;
use crate::registry::{DomainRegistration, DomainRegistry};
use maestro_common::access::Access;
use maestro_common::audit::{AuditLog, Target, who_of};
use maestro_common::authz::{Call, Verb};
use maestro_common::time::now_millis;
use maestro_proto::domain::v1 as pb;
use tonic::{Request, Response, Status};

/// Serves the domain registry.
#[derive(Debug, Clone)]
pub struct DomainApi {
    registry: DomainRegistry,
    catalog: CatalogView,
    access: Access,
    audit: AuditLog,
}

impl DomainApi {
    /// A handler over `registry`; `access` lets a domain register and heartbeat only as itself
    /// (so no one else can change its endpoint or its catalog) and operators list, with what
    /// each domain offers from `catalog`; every registration, also a refused one, is recorded
    /// in `audit` (heartbeats are not: they say a domain is alive and change nothing but its
    /// last-heard time).
    pub fn new(
        registry: DomainRegistry,
        catalog: CatalogView,
        access: Access,
        audit: AuditLog,
    ) -> Self {
        Self {
            registry,
            catalog,
            access,
            audit,
        }
    }

    async fn register(
        &self,
        request: Request<pb::RegisterDomainRequest>,
    ) -> Result<pb::Domain, Status> {
        let domain = request.get_ref().id.clone();
        self.access
            .check(&request, &Call::RegisterDomain { domain: &domain })?;
        let reg = DomainRegistration::try_from(request.into_inner())?;
        let now = now_millis();
        let record = self.registry.register(reg, now).await?;
        tracing::info!(
            endpoint = %record.endpoint,
            published_specs = record.catalog.as_ref().map_or(0, Vec::len),
            "domain registered"
        );
        Ok(self.registry.to_proto(&record, now))
    }
}

#[tonic::async_trait]
impl pb::domain_registry_server::DomainRegistry for DomainApi {
    #[tracing::instrument(skip_all, fields(domain = %maestro_common::text::for_log(&request.get_ref().id)))]
    async fn register_domain(
        &self,
        request: Request<pb::RegisterDomainRequest>,
    ) -> Result<Response<pb::Domain>, Status> {
        let who = who_of(&self.access, &request);
        let targets = vec![
            Target::new("domain", &request.get_ref().id),
            Target::new("endpoint", &request.get_ref().endpoint),
        ];
        let result = self.register(request).await;
        self.audit
            .recorded(&who, "RegisterDomain", targets, result)
            .await
            .map(Response::new)
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let domain = request.get_ref().id.clone();
        maestro_common::ResourceName::parse("id", &domain)?;
        self.access
            .check(&request, &Call::RegisterDomain { domain: &domain })?;
        let pb::HeartbeatRequest { id, capacity } = request.into_inner();
        match self.registry.heartbeat(&id, now_millis())? {
            Some(_) => {
                if let Some(c) = capacity {
                    self.registry.set_capacity(&id, c.into());
                }
                Ok(Response::new(pb::HeartbeatResponse {}))
            }
            None => Err(Status::not_found(format!(
                "domain '{id}' is not registered"
            ))),
        }
    }

    async fn list_domains(
        &self,
        request: Request<pb::ListDomainsRequest>,
    ) -> Result<Response<pb::ListDomainsResponse>, Status> {
        let read = Call::Operate {
            verb: Verb::Read,
            targets: &[],
        };
        self.access.check(&request, &read)?;
        let now = now_millis();
        let offers = self.catalog.current()?;
        let domains = self
            .registry
            .list()?
            .iter()
            .map(|d| {
                let mut p = self.registry.to_proto(d, now);
                p.offers = offers
                    .specs()
                    .filter(|s| offers.offers(d, s.id.as_str()))
                    .map(|s| s.id.to_string())
                    .collect();
                p
            })
            .collect();
        Ok(Response::new(pb::ListDomainsResponse { domains }))
    }
}
