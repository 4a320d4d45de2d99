//! `maestro.domain.v1.DomainRegistry`.

use crate::offers::CatalogView;
use crate::registry::{DomainRecord, DomainRegistration, DomainRegistry};
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

    /// RegisterDomain checked and its record written, not durable yet.
    fn write_registration(
        &self,
        request: Request<pb::RegisterDomainRequest>,
    ) -> Result<DomainRecord, Status> {
        let domain = request.get_ref().id.clone();
        self.access
            .check(&request, &Call::RegisterDomain { domain: &domain })?;
        let reg = DomainRegistration::try_from(request.into_inner())?;
        Ok(self.registry.write_registration(reg, now_millis())?)
    }

    /// Makes a written registration durable and answers with the domain. The commit runs to its
    /// end even if the caller goes away during the flush: the `Registered` event it sends opens
    /// maestro's status stream to a new domain and retries deliveries to a moved one.
    async fn commit_registration(&self, record: DomainRecord) -> Result<pb::Domain, Status> {
        let registry = self.registry.clone();
        let commit = tokio::spawn(async move { registry.commit_registration(record).await });
        let record = commit
            .await
            .map_err(|e| Status::internal(format!("registering the domain: {e}")))??;
        tracing::info!(
            endpoint = %record.endpoint,
            published_specs = record.catalog.as_ref().map_or(0, Vec::len),
            "domain registered"
        );
        Ok(self.registry.to_proto(&record, now_millis()))
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
        let written = self.write_registration(request);
        // The entry is appended before the record is flushed: one flush for both.
        self.audit
            .recorded_after_write(&who, "RegisterDomain", targets, written, |record| {
                self.commit_registration(record)
            })
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

#[cfg(test)]
mod tests {
    use super::DomainApi;
    use crate::registry::{DomainEvent, DomainRegistry};
    use maestro_common::audit::{AuditKey, AuditLog, Filter};
    use maestro_proto::domain::v1 as pb;
    use pb::domain_registry_server::DomainRegistry as _;
    use std::path::Path;

    /// A handler over a registry and an audit log in one database under `dir/db`, and the
    /// registry's events from now on.
    fn api(
        dir: &Path,
    ) -> (
        DomainApi,
        sled::Db,
        tokio::sync::broadcast::Receiver<DomainEvent>,
    ) {
        let db = maestro_common::durable::open(&dir.join("db")).unwrap();
        let registry = DomainRegistry::open(&db, 60_000).unwrap();
        let audit =
            AuditLog::open_in(&db, AuditKey::load_or_generate(dir).unwrap(), 1_000).unwrap();
        let catalog = crate::offers::CatalogView::new(crate::fixtures::catalog(), registry.clone());
        let events = registry.subscribe();
        let access = maestro_common::access::Access::open();
        (DomainApi::new(registry, catalog, access, audit), db, events)
    }

    fn request(id: &str) -> tonic::Request<pb::RegisterDomainRequest> {
        tonic::Request::new(pb::RegisterDomainRequest {
            id: id.into(),
            endpoint: "http://127.0.0.1:1".into(),
            sites: vec!["n1".into()],
            ..Default::default()
        })
    }

    /// A registration is answered once its record and its audit entry are both on disk (one
    /// flush of the database: the entry is appended before the record is flushed).
    #[tokio::test]
    async fn a_registration_is_answered_with_its_record_and_its_audit_entry_durable() {
        let dir = tempfile::tempdir().unwrap();
        let (api, db, _) = api(dir.path());
        let reply = api.register_domain(request("north")).await.unwrap();
        assert_eq!(reply.get_ref().id, "north");

        let copy = dir.path().join("crashed");
        maestro_common::durable::copy_as_crashed(&dir.path().join("db"), &copy);
        // sled writes asynchronously on drop: only what was flushed is certain.
        std::mem::forget((db, api));
        let db = sled::open(&copy).unwrap();
        let registry = DomainRegistry::open(&db, 60_000).unwrap();
        assert!(registry.get("north").unwrap().is_some(), "the record");
        let audit =
            AuditLog::open_in(&db, AuditKey::load_or_generate(dir.path()).unwrap(), 1_000).unwrap();
        let filter = Filter {
            what: Some("RegisterDomain".into()),
            ..Filter::default()
        };
        let (entries, _) = audit.list(&filter, 0, 10).unwrap();
        assert_eq!(entries.len(), 1, "the entry: {entries:?}");
        assert!(
            entries[0].targets.iter().any(|t| t.id == "north"),
            "{entries:?}"
        );
    }

    /// tonic drops a handler's future when its caller goes away: here during the flush. The
    /// registration is committed all the same and its event sent.
    #[tokio::test]
    async fn a_registration_whose_caller_went_away_during_its_flush_is_announced() {
        let dir = tempfile::tempdir().unwrap();
        let (api, _db, mut events) = api(dir.path());
        let mut handler = Box::pin(api.register_domain(request("south")));
        assert!(
            futures::poll!(&mut handler).is_pending(),
            "not done at the first poll"
        );
        drop(handler);
        let event = tokio::time::timeout(std::time::Duration::from_secs(30), events.recv())
            .await
            .expect("the registration is announced within 30 s")
            .unwrap();
        assert!(
            matches!(&event, DomainEvent::Registered(r) if r.id == "south"),
            "{event:?}"
        );
    }
}
