//! `maestro.catalog.v1.CatalogService`.

use crate::catalog::Catalog;
use maestro_proto::catalog::v1 as pb;
use tonic::{Request, Response, Status};

/// Serves the catalog loaded at start.
#[derive(Debug, Clone)]
pub struct CatalogApi {
    catalog: Catalog,
}

impl CatalogApi {
    /// A handler over `catalog`.
    pub fn new(catalog: Catalog) -> Self {
        Self { catalog }
    }
}

#[tonic::async_trait]
impl pb::catalog_service_server::CatalogService for CatalogApi {
    async fn list_service_specs(
        &self,
        _request: Request<pb::ListServiceSpecsRequest>,
    ) -> Result<Response<pb::ListServiceSpecsResponse>, Status> {
        Ok(Response::new(pb::ListServiceSpecsResponse {
            specs: self.catalog.specs().map(Into::into).collect(),
        }))
    }

    async fn get_service_spec(
        &self,
        request: Request<pb::GetServiceSpecRequest>,
    ) -> Result<Response<pb::ServiceSpec>, Status> {
        let id = request.into_inner().id;
        let spec = self
            .catalog
            .get(&id)
            .ok_or_else(|| Status::not_found(format!("unknown service specification '{id}'")))?;
        Ok(Response::new(spec.as_ref().into()))
    }
}
