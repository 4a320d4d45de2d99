//! `ColonyClient`: signed RPCs over HTTP/1.1 `POST /api` (plain or TLS with a given CA) with a
//! pooled hyper client.
//!
//! Only behaviour a real ColonyOS v1.9.12 server has is relied on: errors come back as error
//! envelopes, "nothing to assign" and "blueprint not found" are 404, empty lists may be `null`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::crypto::PrivateKey;
use crate::envelope::{Failure, RpcReply, RpcRequest};
use crate::error::ColonyError;
use crate::messages::*;
use crate::model::{
    Blueprint, BlueprintDefinition, BlueprintHistory, Colony, Executor, FunctionSpec, Log, Process,
    ProcessState, User,
};

/// A client for a ColonyOS server (real or embedded). Cheap to clone; connections are pooled.
#[derive(Clone, Debug)]
pub struct ColonyClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    api: Uri,
    health: Uri,
    deadline: Duration,
}

/// Default of [`ColonyClient::with_deadline`]: how long one call may take, reply included. A
/// long-polling assign gets its polling time on top.
pub const CALL_DEADLINE: Duration = Duration::from_secs(30);

impl ColonyClient {
    /// A client for `base_url`, e.g. `http://127.0.0.1:50080` (a bare `host:port` is accepted).
    /// Only `http://`; use [`ColonyClient::new_with_tls`] for `https://`.
    pub fn new(base_url: &str) -> Result<Self, ColonyError> {
        Self::build(
            base_url,
            "http",
            tls_config(rustls::RootCertStore::empty())?,
            false,
        )
    }

    /// A client for `base_url` that trusts only the CA certificates in `ca_pem` (PEM, one or
    /// more `CERTIFICATE` blocks), e.g. `https://colony.site.local:50080`; a bare `host:port`
    /// means `https://`. `http://` URLs still work, in plain text.
    pub fn new_with_tls(base_url: &str, ca_pem: &[u8]) -> Result<Self, ColonyError> {
        let mut roots = rustls::RootCertStore::empty();
        let mut found = 0usize;
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| ColonyError::Tls(format!("invalid CA PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| ColonyError::Tls(format!("invalid CA certificate: {e}")))?;
            found += 1;
        }
        if found == 0 {
            return Err(ColonyError::Tls(
                "no CERTIFICATE block in the CA PEM".to_owned(),
            ));
        }
        Self::build(base_url, "https", tls_config(roots)?, true)
    }

    fn build(
        base_url: &str,
        default_scheme: &str,
        tls: rustls::ClientConfig,
        has_ca: bool,
    ) -> Result<Self, ColonyError> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let with_scheme = if trimmed.contains("://") {
            trimmed.to_owned()
        } else {
            format!("{default_scheme}://{trimmed}")
        };
        let invalid = |reason: String| ColonyError::InvalidUrl {
            url: base_url.to_owned(),
            reason,
        };
        let https = with_scheme.starts_with("https://");
        if !https && !with_scheme.starts_with("http://") {
            return Err(invalid(
                "only http:// and https:// are supported".to_owned(),
            ));
        }
        if https && !has_ca {
            return Err(invalid(
                "https:// needs a CA: use ColonyClient::new_with_tls".to_owned(),
            ));
        }
        let api: Uri = format!("{with_scheme}/api")
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| invalid(e.to_string()))?;
        let health: Uri = format!("{with_scheme}/health")
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| invalid(e.to_string()))?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            http,
            api,
            health,
            deadline: CALL_DEADLINE,
        })
    }

    /// The same client with calls bounded by `deadline` (a connection that dies silently then
    /// fails the call instead of hanging it).
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Runs `call` within `deadline`.
    async fn bounded<T>(
        deadline: Duration,
        call: impl std::future::Future<Output = Result<T, ColonyError>>,
    ) -> Result<T, ColonyError> {
        tokio::time::timeout(deadline, call)
            .await
            .unwrap_or_else(|_| {
                Err(ColonyError::Transport(format!(
                    "no reply within {} ms",
                    deadline.as_millis()
                )))
            })
    }

    /// A client for a server listening on `addr`.
    pub fn from_addr(addr: SocketAddr) -> Self {
        Self::new(&format!("http://{addr}"))
            .expect("a socket address always forms a valid http URL")
    }

    async fn post(&self, req: &RpcRequest, extra: Duration) -> Result<(u16, Bytes), ColonyError> {
        Self::bounded(self.deadline + extra, self.post_unbounded(req)).await
    }

    async fn post_unbounded(&self, req: &RpcRequest) -> Result<(u16, Bytes), ColonyError> {
        let body = serde_json::to_vec(req).map_err(crate::envelope::EnvelopeError::from)?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.api.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ColonyError::Transport(e.to_string()))?;
        let response = self.http.request(request).await.map_err(transport)?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ColonyError::Transport(e.to_string()))?
            .to_bytes();
        Ok((status, bytes))
    }

    /// Sends `msg` signed by `key` (unsigned when `None`) and returns the reply payload bytes.
    async fn call<M: RpcMessage>(
        &self,
        key: Option<&PrivateKey>,
        msg: &M,
    ) -> Result<Vec<u8>, ColonyError> {
        self.call_within(key, msg, Duration::ZERO).await
    }

    /// [`Self::call`] with `extra` time on top of the deadline (a long poll).
    async fn call_within<M: RpcMessage>(
        &self,
        key: Option<&PrivateKey>,
        msg: &M,
        extra: Duration,
    ) -> Result<Vec<u8>, ColonyError> {
        let req = RpcRequest::new(key, msg)?;
        let (http_status, body) = self.post(&req, extra).await?;
        let decode = |reason: String| ColonyError::Decode {
            http_status,
            reason,
        };
        let reply: RpcReply = serde_json::from_slice(&body).map_err(|e| {
            decode(format!(
                "not a reply envelope ({e}): {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))
        })?;
        let payload = reply.payload_bytes().map_err(|e| decode(e.to_string()))?;
        if reply.error {
            let failure: Failure = serde_json::from_slice(&payload)
                .map_err(|e| decode(format!("bad error payload: {e}")))?;
            return Err(ColonyError::Api {
                status: failure.status,
                message: failure.message,
            });
        }
        if !(200..300).contains(&http_status) {
            return Err(decode("non-2xx status without an error reply".to_owned()));
        }
        Ok(payload)
    }

    async fn rpc<M: RpcMessage, R: DeserializeOwned>(
        &self,
        key: &PrivateKey,
        msg: &M,
    ) -> Result<R, ColonyError> {
        let payload = self.call(Some(key), msg).await?;
        serde_json::from_slice(&payload).map_err(|e| ColonyError::Decode {
            http_status: 200,
            reason: format!("reply to {}: {e}", M::PAYLOAD_TYPE),
        })
    }

    async fn rpc_list<M: RpcMessage, R: DeserializeOwned>(
        &self,
        key: &PrivateKey,
        msg: &M,
    ) -> Result<Vec<R>, ColonyError> {
        let list: Option<Vec<R>> = self.rpc(key, msg).await?;
        Ok(list.unwrap_or_default())
    }

    async fn rpc_unit<M: RpcMessage>(&self, key: &PrivateKey, msg: &M) -> Result<(), ColonyError> {
        self.call(Some(key), msg).await.map(|_| ())
    }

    /// `GET /health`; Ok when the server answers 200.
    pub async fn health(&self) -> Result<(), ColonyError> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(self.health.clone())
            .body(Full::new(Bytes::new()))
            .map_err(|e| ColonyError::Transport(e.to_string()))?;
        let response = Self::bounded(self.deadline, async {
            self.http.request(request).await.map_err(transport)
        })
        .await?;
        let status = response.status().as_u16();
        if status == 200 {
            Ok(())
        } else {
            Err(ColonyError::Decode {
                http_status: status,
                reason: "health check failed".to_owned(),
            })
        }
    }

    /// Server build version (unsigned `versionmsg`).
    pub async fn version(&self) -> Result<VersionMsg, ColonyError> {
        let payload = self.call(None, &VersionMsg::default()).await?;
        serde_json::from_slice(&payload).map_err(|e| ColonyError::Decode {
            http_status: 200,
            reason: e.to_string(),
        })
    }

    // ---- colonies -------------------------------------------------------------------------

    /// Adds a colony; signed by the server owner.
    pub async fn add_colony(
        &self,
        server_owner_key: &PrivateKey,
        colony: &Colony,
    ) -> Result<Colony, ColonyError> {
        let msg = AddColonyMsg {
            colony: colony.clone(),
        };
        self.rpc(server_owner_key, &msg).await
    }

    /// Lists colonies; signed by the server owner.
    pub async fn get_colonies(
        &self,
        server_owner_key: &PrivateKey,
    ) -> Result<Vec<Colony>, ColonyError> {
        self.rpc_list(server_owner_key, &GetColoniesMsg {}).await
    }

    /// Gets one colony; signed by a member or the colony owner.
    pub async fn get_colony(
        &self,
        key: &PrivateKey,
        colony_name: &str,
    ) -> Result<Colony, ColonyError> {
        let msg = GetColonyMsg {
            colonyname: colony_name.to_owned(),
        };
        self.rpc(key, &msg).await
    }

    /// Removes a colony; signed by the server owner.
    pub async fn remove_colony(
        &self,
        server_owner_key: &PrivateKey,
        colony_name: &str,
    ) -> Result<(), ColonyError> {
        let msg = RemoveColonyMsg {
            colonyname: colony_name.to_owned(),
        };
        self.rpc_unit(server_owner_key, &msg).await
    }

    // ---- executors and users ------------------------------------------------------------

    /// Registers an executor (pending); signed by the colony owner.
    pub async fn add_executor(
        &self,
        colony_owner_key: &PrivateKey,
        executor: &Executor,
    ) -> Result<Executor, ColonyError> {
        let msg = AddExecutorMsg {
            executor: executor.clone(),
        };
        self.rpc(colony_owner_key, &msg).await
    }

    /// Approves an executor; signed by the colony owner.
    pub async fn approve_executor(
        &self,
        colony_owner_key: &PrivateKey,
        colony_name: &str,
        executor_name: &str,
    ) -> Result<(), ColonyError> {
        let msg = ApproveExecutorMsg {
            colonyname: colony_name.to_owned(),
            executorname: executor_name.to_owned(),
        };
        self.rpc_unit(colony_owner_key, &msg).await
    }

    /// Rejects an executor; signed by the colony owner.
    pub async fn reject_executor(
        &self,
        colony_owner_key: &PrivateKey,
        colony_name: &str,
        executor_name: &str,
    ) -> Result<(), ColonyError> {
        let msg = RejectExecutorMsg {
            colonyname: colony_name.to_owned(),
            executorname: executor_name.to_owned(),
        };
        self.rpc_unit(colony_owner_key, &msg).await
    }

    /// Removes an executor; signed by the colony owner.
    pub async fn remove_executor(
        &self,
        colony_owner_key: &PrivateKey,
        colony_name: &str,
        executor_name: &str,
    ) -> Result<(), ColonyError> {
        let msg = RemoveExecutorMsg {
            colonyname: colony_name.to_owned(),
            executorname: executor_name.to_owned(),
        };
        self.rpc_unit(colony_owner_key, &msg).await
    }

    /// Lists the executors of a colony; signed by a member (approved or not).
    pub async fn get_executors(
        &self,
        key: &PrivateKey,
        colony_name: &str,
    ) -> Result<Vec<Executor>, ColonyError> {
        let msg = GetExecutorsMsg {
            colonyname: colony_name.to_owned(),
        };
        self.rpc_list(key, &msg).await
    }

    /// Adds a user; signed by the colony owner.
    pub async fn add_user(
        &self,
        colony_owner_key: &PrivateKey,
        user: &User,
    ) -> Result<User, ColonyError> {
        let msg = AddUserMsg { user: user.clone() };
        self.rpc(colony_owner_key, &msg).await
    }

    /// Removes the user `name` from a colony; signed by the colony owner.
    pub async fn remove_user(
        &self,
        colony_owner_key: &PrivateKey,
        colony_name: &str,
        name: &str,
    ) -> Result<(), ColonyError> {
        let msg = RemoveUserMsg {
            colonyname: colony_name.to_owned(),
            name: name.to_owned(),
        };
        self.rpc_unit(colony_owner_key, &msg).await
    }

    // ---- processes ---------------------------------------------------------------------------

    /// Submits a function spec; signed by a member. Returns the waiting process.
    pub async fn submit(
        &self,
        key: &PrivateKey,
        spec: &FunctionSpec,
    ) -> Result<Process, ColonyError> {
        let msg = SubmitFuncSpecMsg { spec: spec.clone() };
        self.rpc(key, &msg).await
    }

    /// Assigns a process to the calling executor. `timeout_secs > 0` long-polls that long,
    /// `< 0` tries once, `0` is rejected by the server (400). `Ok(None)` when nothing is
    /// assignable (404, or 408 when the colony's assignments are paused).
    pub async fn assign(
        &self,
        key: &PrivateKey,
        colony_name: &str,
        timeout_secs: i64,
    ) -> Result<Option<Process>, ColonyError> {
        let msg = AssignProcessMsg {
            colonyname: colony_name.to_owned(),
            timeout: timeout_secs,
            availablecpu: String::new(),
            availablemem: String::new(),
        };
        let poll = Duration::from_secs(u64::try_from(timeout_secs).unwrap_or(0));
        let reply = self
            .call_within(Some(key), &msg, poll)
            .await
            .and_then(|payload| {
                serde_json::from_slice(&payload).map_err(|e| ColonyError::Decode {
                    http_status: 200,
                    reason: format!("reply to {}: {e}", AssignProcessMsg::PAYLOAD_TYPE),
                })
            });
        match reply {
            Ok(p) => Ok(Some(p)),
            Err(ColonyError::Api {
                status: 404 | 408, ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Gets a process by id; signed by a member.
    pub async fn get_process(
        &self,
        key: &PrivateKey,
        process_id: &str,
    ) -> Result<Process, ColonyError> {
        let msg = GetProcessMsg {
            processid: process_id.to_owned(),
        };
        self.rpc(key, &msg).await
    }

    /// Lists up to `count` (<= 100) processes of a colony in `state`; signed by a member.
    pub async fn get_processes(
        &self,
        key: &PrivateKey,
        colony_name: &str,
        state: ProcessState,
        count: i64,
    ) -> Result<Vec<Process>, ColonyError> {
        let msg = GetProcessesMsg {
            colonyname: colony_name.to_owned(),
            count,
            state: state.as_i32(),
            ..GetProcessesMsg::default()
        };
        self.rpc_list(key, &msg).await
    }

    /// Closes a running process as successful; signed by its assigned executor.
    pub async fn close_successful(
        &self,
        key: &PrivateKey,
        process_id: &str,
        out: Vec<String>,
    ) -> Result<(), ColonyError> {
        let msg = CloseSuccessfulMsg {
            processid: process_id.to_owned(),
            out: out.into_iter().map(Value::String).collect(),
        };
        self.rpc_unit(key, &msg).await
    }

    /// Closes a running process as failed; signed by its assigned executor.
    pub async fn close_failed(
        &self,
        key: &PrivateKey,
        process_id: &str,
        errors: Vec<String>,
    ) -> Result<(), ColonyError> {
        let msg = CloseFailedMsg {
            processid: process_id.to_owned(),
            errors,
        };
        self.rpc_unit(key, &msg).await
    }

    /// Sets the output of a running process; signed by its assigned executor.
    pub async fn set_output(
        &self,
        key: &PrivateKey,
        process_id: &str,
        out: Vec<String>,
    ) -> Result<(), ColonyError> {
        let msg = SetOutputMsg {
            processid: process_id.to_owned(),
            out: out.into_iter().map(Value::String).collect(),
        };
        self.rpc_unit(key, &msg).await
    }

    /// Cancels a waiting or running process; signed by a member.
    pub async fn cancel_process(
        &self,
        key: &PrivateKey,
        process_id: &str,
    ) -> Result<(), ColonyError> {
        let msg = CancelProcessMsg {
            processid: process_id.to_owned(),
        };
        self.rpc_unit(key, &msg).await
    }

    /// Removes a waiting or closed process; signed by a member.
    pub async fn remove_process(
        &self,
        key: &PrivateKey,
        process_id: &str,
    ) -> Result<(), ColonyError> {
        let msg = RemoveProcessMsg {
            processid: process_id.to_owned(),
        };
        self.rpc_unit(key, &msg).await
    }

    /// Adds a log line to a running process; signed by its assigned executor.
    pub async fn add_log(
        &self,
        key: &PrivateKey,
        process_id: &str,
        message: &str,
    ) -> Result<(), ColonyError> {
        let msg = AddLogMsg {
            processid: process_id.to_owned(),
            message: message.to_owned(),
        };
        self.rpc_unit(key, &msg).await
    }

    /// Gets up to `count` (<= 500) log lines of a process newer than `since` (Unix ns, 0 for
    /// all), oldest first; signed by a member.
    pub async fn get_logs(
        &self,
        key: &PrivateKey,
        colony_name: &str,
        process_id: &str,
        count: i64,
        since: i64,
    ) -> Result<Vec<Log>, ColonyError> {
        let msg = GetLogsMsg {
            colonyname: colony_name.to_owned(),
            processid: process_id.to_owned(),
            count,
            since,
            ..GetLogsMsg::default()
        };
        self.rpc_list(key, &msg).await
    }

    // ---- blueprints ------------------------------------------------------------------------

    /// Adds a blueprint definition; signed by the colony owner.
    pub async fn add_blueprint_definition(
        &self,
        colony_owner_key: &PrivateKey,
        definition: &BlueprintDefinition,
    ) -> Result<BlueprintDefinition, ColonyError> {
        let msg = AddBlueprintDefinitionMsg {
            blueprintdefinition: definition.clone(),
        };
        self.rpc(colony_owner_key, &msg).await
    }

    /// Gets a blueprint definition by name; `Ok(None)` on 404.
    pub async fn get_blueprint_definition(
        &self,
        key: &PrivateKey,
        colony_name: &str,
        name: &str,
    ) -> Result<Option<BlueprintDefinition>, ColonyError> {
        let msg = GetBlueprintDefinitionMsg {
            colonyname: colony_name.to_owned(),
            name: name.to_owned(),
        };
        not_found_as_none(self.rpc(key, &msg).await)
    }

    /// Lists the blueprint definitions of a colony.
    pub async fn get_blueprint_definitions(
        &self,
        key: &PrivateKey,
        colony_name: &str,
    ) -> Result<Vec<BlueprintDefinition>, ColonyError> {
        let msg = GetBlueprintDefinitionsMsg {
            colonyname: colony_name.to_owned(),
        };
        self.rpc_list(key, &msg).await
    }

    /// Removes a blueprint definition; signed by the colony owner (409 while in use).
    pub async fn remove_blueprint_definition(
        &self,
        colony_owner_key: &PrivateKey,
        colony_name: &str,
        name: &str,
    ) -> Result<(), ColonyError> {
        let msg = RemoveBlueprintDefinitionMsg {
            namespace: colony_name.to_owned(),
            name: name.to_owned(),
        };
        self.rpc_unit(colony_owner_key, &msg).await
    }

    /// Adds a blueprint (409 if the name exists); the server submits a reconcile process.
    pub async fn add_blueprint(
        &self,
        key: &PrivateKey,
        blueprint: &Blueprint,
    ) -> Result<Blueprint, ColonyError> {
        let msg = AddBlueprintMsg {
            blueprint: blueprint.clone(),
        };
        self.rpc(key, &msg).await
    }

    /// Gets a blueprint by name; `Ok(None)` on 404.
    pub async fn get_blueprint(
        &self,
        key: &PrivateKey,
        colony_name: &str,
        name: &str,
    ) -> Result<Option<Blueprint>, ColonyError> {
        let msg = GetBlueprintMsg {
            namespace: colony_name.to_owned(),
            name: name.to_owned(),
        };
        not_found_as_none(self.rpc(key, &msg).await)
    }

    /// Lists blueprints of a colony, optionally of one kind and (with a kind) one location.
    /// A real server ignores `location` when `kind` is `None`.
    pub async fn get_blueprints(
        &self,
        key: &PrivateKey,
        colony_name: &str,
        kind: Option<&str>,
        location: Option<&str>,
    ) -> Result<Vec<Blueprint>, ColonyError> {
        let msg = GetBlueprintsMsg {
            namespace: colony_name.to_owned(),
            kind: kind.unwrap_or_default().to_owned(),
            locationname: location.unwrap_or_default().to_owned(),
        };
        self.rpc_list(key, &msg).await
    }

    /// Replaces a blueprint. The generation is bumped (and a reconcile process submitted)
    /// only when the spec changed or `force_generation` is set.
    pub async fn update_blueprint(
        &self,
        key: &PrivateKey,
        blueprint: &Blueprint,
        force_generation: bool,
    ) -> Result<Blueprint, ColonyError> {
        let msg = UpdateBlueprintMsg {
            blueprint: blueprint.clone(),
            forcegeneration: force_generation,
        };
        self.rpc(key, &msg).await
    }

    /// Removes a blueprint; the server submits a `cleanup` process.
    pub async fn remove_blueprint(
        &self,
        key: &PrivateKey,
        colony_name: &str,
        name: &str,
    ) -> Result<(), ColonyError> {
        let msg = RemoveBlueprintMsg {
            namespace: colony_name.to_owned(),
            name: name.to_owned(),
        };
        self.rpc_unit(key, &msg).await
    }

    /// Replaces a blueprint's status (does not change its generation).
    pub async fn update_blueprint_status(
        &self,
        key: &PrivateKey,
        colony_name: &str,
        blueprint_name: &str,
        status: Value,
    ) -> Result<(), ColonyError> {
        let msg = UpdateBlueprintStatusMsg {
            colonyname: colony_name.to_owned(),
            blueprintname: blueprint_name.to_owned(),
            status,
        };
        self.rpc_unit(key, &msg).await
    }

    /// Submits a reconcile process for a blueprint; `force` also bumps its generation.
    pub async fn reconcile_blueprint(
        &self,
        key: &PrivateKey,
        colony_name: &str,
        name: &str,
        force: bool,
    ) -> Result<Process, ColonyError> {
        let msg = ReconcileBlueprintMsg {
            namespace: colony_name.to_owned(),
            name: name.to_owned(),
            force,
        };
        self.rpc(key, &msg).await
    }

    /// Gets up to `limit` history entries of a blueprint (0 for all).
    pub async fn get_blueprint_history(
        &self,
        key: &PrivateKey,
        blueprint_id: &str,
        limit: i64,
    ) -> Result<Vec<BlueprintHistory>, ColonyError> {
        let msg = GetBlueprintHistoryMsg {
            blueprintid: blueprint_id.to_owned(),
            limit,
        };
        self.rpc_list(key, &msg).await
    }
}

fn not_found_as_none<T>(result: Result<T, ColonyError>) -> Result<Option<T>, ColonyError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(ColonyError::Api { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A rustls client config (ring provider) trusting `roots`.
fn tls_config(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig, ColonyError> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ColonyError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    // ALPN (http/1.1) is set by the hyper-rustls connector.
    Ok(config)
}

/// A transport error carrying the whole cause chain (hyper's top-level message alone says
/// only "client error (Connect)").
fn transport(e: hyper_util::client::legacy::Error) -> ColonyError {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    ColonyError::Transport(text)
}
