//! `maestro.catalog.v1.CatalogService`.

use crate::error::StoreError;
use crate::offers::CatalogView;
use crate::registry::DomainRegistry;
use maestro_common::access::Access;
use maestro_common::authz::{Call, Verb};
use maestro_common::text::{Lines, MAX_LINE_BYTES, check_text};
use maestro_proto::catalog::v1 as pb;
use tonic::{Request, Response, Status};

/// Serves the catalog: maestro's own specifications and those the registered domains publish,
/// each with the domains that offer it.
#[derive(Debug, Clone)]
pub struct CatalogApi {
    catalog: CatalogView,
    registry: DomainRegistry,
    access: Access,
}

impl CatalogApi {
    /// A handler over `catalog` and the domains of `registry`, readable by operators `access`
    /// allows to read.
    pub fn new(catalog: CatalogView, registry: DomainRegistry, access: Access) -> Self {
        Self {
            catalog,
            registry,
            access,
        }
    }

    /// The proto view of every spec passing `keep`, with who offers it.
    fn view(&self, keep: impl Fn(&str) -> bool) -> Result<Vec<pb::ServiceSpec>, StoreError> {
        let offers = self.catalog.current()?;
        let domains = self.registry.list()?;
        Ok(offers
            .specs()
            .filter(|s| keep(s.id.as_str()))
            .map(|s| {
                let mut p = pb::ServiceSpec::from(s);
                p.offered_by = offers
                    .offered_by(s.id.as_str(), &domains)
                    .into_iter()
                    .map(String::from)
                    .collect();
                p.conflicting_domains = offers
                    .conflicting(s.id.as_str())
                    .into_iter()
                    .map(String::from)
                    .collect();
                p
            })
            .collect())
    }

    fn may_read<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let read = Call::Operate {
            verb: Verb::Read,
            targets: &[],
        };
        self.access.check(request, &read).map(|_| ())
    }
}

#[tonic::async_trait]
impl pb::catalog_service_server::CatalogService for CatalogApi {
    async fn list_service_specs(
        &self,
        request: Request<pb::ListServiceSpecsRequest>,
    ) -> Result<Response<pb::ListServiceSpecsResponse>, Status> {
        self.may_read(&request)?;
        Ok(Response::new(pb::ListServiceSpecsResponse {
            specs: self.view(|_| true)?,
        }))
    }

    async fn get_service_spec(
        &self,
        request: Request<pb::GetServiceSpecRequest>,
    ) -> Result<Response<pb::ServiceSpec>, Status> {
        self.may_read(&request)?;
        let id = request.into_inner().id;
        check_text("id", &id, MAX_LINE_BYTES, Lines::One)?;
        let spec = self
            .view(|s| s == id)?
            .pop()
            .ok_or_else(|| Status::not_found(format!("unknown service specification '{id}'")))?;
        Ok(Response::new(spec))
    }
}
