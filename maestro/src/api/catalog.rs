//! `maestro.catalog.v1.CatalogService`.

use crate::catalog::Catalog;
use maestro_common::access::Access;
use maestro_common::authz::{Call, Verb};
use maestro_common::text::{Lines, MAX_LINE_BYTES, check_text};
use maestro_proto::catalog::v1 as pb;
use tonic::{Request, Response, Status};

/// Serves the catalog loaded at start.
#[derive(Debug, Clone)]
pub struct CatalogApi {
    catalog: Catalog,
    access: Access,
}

impl CatalogApi {
    /// A handler over `catalog`, readable by operators `access` allows to read.
    pub fn new(catalog: Catalog, access: Access) -> Self {
        Self { catalog, access }
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
            specs: self.catalog.specs().map(Into::into).collect(),
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
            .catalog
            .get(&id)
            .ok_or_else(|| Status::not_found(format!("unknown service specification '{id}'")))?;
        Ok(Response::new(spec.as_ref().into()))
    }
}
