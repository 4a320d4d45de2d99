//! HTTP edge: `POST /api` (signed envelopes) and `GET /health`, on hyper 1 HTTP/1.1.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;

use crate::crypto::recover_id;
use crate::envelope::{RpcReply, RpcRequest};
use crate::messages::{AssignProcessMsg, GetServerInfoMsg, RpcMessage, VersionMsg};

use super::error::ApiError;
use super::handlers;
use super::scheduler;
use super::state::ServerState;

/// Largest accepted request body.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Version reported by `versionmsg`.
const BUILD_VERSION: &str = concat!("maestro-colony-", env!("CARGO_PKG_VERSION"));

/// Serves one HTTP request.
pub(crate) async fn serve(
    state: Arc<ServerState>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/health") => plain(StatusCode::OK, "ok"),
        (&Method::POST, "/api") => {
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    return Ok(envelope_reply(Err(ApiError::bad_request(format!(
                        "cannot read request body: {e}"
                    )))));
                }
            };
            let result = api(state, &body).await;
            envelope_reply(result)
        }
        _ => plain(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(response)
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r
}

fn envelope_reply(result: Result<(String, Value), ApiError>) -> Response<Full<Bytes>> {
    let (status, reply) = match result {
        Ok((payload_type, value)) => (
            StatusCode::OK,
            RpcReply::success(&payload_type, value.to_string().as_bytes()),
        ),
        Err(e) => (
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            e.to_reply(),
        ),
    };
    let body = serde_json::to_vec(&reply).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Opens the envelope, authenticates the caller and runs the handler.
async fn api(state: Arc<ServerState>, body: &[u8]) -> Result<(String, Value), ApiError> {
    let req: RpcRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid request envelope: {e}")))?;
    let payload_type = req.payload_type.clone();
    let unsigned =
        payload_type == VersionMsg::PAYLOAD_TYPE || payload_type == GetServerInfoMsg::PAYLOAD_TYPE;
    let caller = if unsigned {
        String::new()
    } else {
        recover_id(&req.payload, &req.signature)
            .map_err(|e| ApiError::forbidden(format!("invalid signature: {e}")))?
    };
    let inner = req
        .inner()
        .map_err(|e| ApiError::bad_request(format!("Failed to handle {payload_type}: {e}")))?;
    let value = match payload_type.as_str() {
        VersionMsg::PAYLOAD_TYPE => serde_json::to_value(VersionMsg {
            buildversion: BUILD_VERSION.to_owned(),
            buildtime: String::new(),
        })?,
        GetServerInfoMsg::PAYLOAD_TYPE => serde_json::json!({
            "buildversion": BUILD_VERSION, "buildtime": "", "backends": []
        }),
        AssignProcessMsg::PAYLOAD_TYPE => {
            let msg: AssignProcessMsg = serde_json::from_value(inner).map_err(|e| {
                ApiError::bad_request(format!("Failed to assign process, invalid JSON: {e}"))
            })?;
            scheduler::assign(state, caller, msg).await?
        }
        _ => {
            let pt = payload_type.clone();
            scheduler::blocking(move || handlers::dispatch(&state, &caller, &pt, inner)).await?
        }
    };
    Ok((payload_type, value))
}
