//! Colony bootstrap: the site colony, the reconciler executor, the agent's user and the built-in
//! `ProcessDeployment` definition; with Docker enabled also the Docker reconciler executor and
//! the `DockerDeployment` / `ExecutorDeployment` definitions. Every step is idempotent.

use colony::model::{BlueprintDefinition, Colony, Executor, ExecutorState, User};
use colony::{ColonyClient, ColonyError};
use serde_json::json;

use crate::Error;
use crate::keys::SiteKeys;
use crate::reconciler::{self, EXECUTOR_TYPE, KIND};

/// User name of the agent in the site colony.
pub const AGENT_USER: &str = "site-agent";

fn exists(e: &ColonyError) -> bool {
    matches!(e, ColonyError::Api { status: 400 | 409, message } if message.contains("already exists"))
}

/// Prepares the colony `site`. The colony itself is only created with the server owner key
/// (embedded colony); executor, user and definition need the colony owner key.
pub async fn bootstrap(client: &ColonyClient, keys: &SiteKeys, site: &str) -> Result<(), Error> {
    if let Some(server_owner) = &keys.server_owner {
        let owner = keys
            .colony_owner
            .as_ref()
            .ok_or_else(|| Error::Config("embedded colony without owner key".into()))?;
        let colony = Colony {
            colony_id: owner.id(),
            name: site.to_string(),
        };
        match client.add_colony(server_owner, &colony).await {
            Ok(_) => tracing::info!(colony = site, "created colony"),
            Err(e) if exists(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let Some(owner) = &keys.colony_owner else {
        tracing::warn!(
            colony = site,
            reconciler_id = %keys.reconciler.id(),
            agent_id = %keys.agent.id(),
            "no colony owner key: register executor {} (type {EXECUTOR_TYPE}, location {site}) and user {AGENT_USER} with these ids yourself",
            reconciler::executor_name(site),
        );
        return Ok(());
    };
    let executor = ExecutorIdentity {
        id: keys.reconciler.id(),
        name: reconciler::executor_name(site),
        executor_type: EXECUTOR_TYPE,
    };
    ensure_executor(client, owner, &executor, site).await?;
    let user = User {
        colony_name: site.to_string(),
        user_id: keys.agent.id(),
        name: AGENT_USER.to_string(),
        ..User::default()
    };
    match client.add_user(owner, &user).await {
        Ok(_) => {}
        Err(e) if exists(&e) => {}
        Err(e) => return Err(e.into()),
    }
    ensure_definitions(
        client,
        owner,
        keys,
        site,
        &[process_deployment_definition(site)],
    )
    .await
}

/// Name of the Docker reconciler executor of `site`.
pub fn docker_executor_name(site: &str) -> String {
    format!("docker-reconciler-{site}")
}

/// Prepares the colony `site` for the Docker reconciler: registers and approves its executor
/// (type `docker-reconciler`, location `site`, key `keys.docker_reconciler`) and adds the
/// `DockerDeployment` and `ExecutorDeployment` definitions when missing. Needs the colony owner
/// key; without it the ids an operator must register are logged.
pub async fn bootstrap_docker(
    client: &ColonyClient,
    keys: &SiteKeys,
    site: &str,
) -> Result<(), Error> {
    let key = keys
        .docker_reconciler
        .as_ref()
        .ok_or_else(|| Error::Config("docker enabled without a docker_reconciler key".into()))?;
    let name = docker_executor_name(site);
    let Some(owner) = &keys.colony_owner else {
        tracing::warn!(
            colony = site,
            docker_reconciler_id = %key.id(),
            "no colony owner key: register executor {name} (type {}, location {site}) with this id and add the DockerDeployment and ExecutorDeployment definitions yourself",
            docker_reconciler::EXECUTOR_TYPE,
        );
        return Ok(());
    };
    let executor = ExecutorIdentity {
        id: key.id(),
        name,
        executor_type: docker_reconciler::EXECUTOR_TYPE,
    };
    ensure_executor(client, owner, &executor, site).await?;
    let defs = [
        docker_reconciler::docker_deployment_definition(site),
        docker_reconciler::executor_deployment_definition(site),
    ];
    ensure_definitions(client, owner, keys, site, &defs).await
}

/// Adds each of `defs` whose kind the colony does not know yet.
async fn ensure_definitions(
    client: &ColonyClient,
    owner: &colony::PrivateKey,
    keys: &SiteKeys,
    site: &str,
    defs: &[BlueprintDefinition],
) -> Result<(), Error> {
    let existing = client.get_blueprint_definitions(&keys.agent, site).await?;
    for def in defs {
        let kind = &def.spec.names.kind;
        if existing.iter().any(|d| &d.spec.names.kind == kind) {
            continue;
        }
        match client.add_blueprint_definition(owner, def).await {
            Ok(_) => tracing::info!(colony = site, kind = %kind, "added blueprint definition"),
            Err(e) if exists(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// An executor the agent registers for itself.
struct ExecutorIdentity {
    id: String,
    name: String,
    executor_type: &'static str,
}

async fn ensure_executor(
    client: &ColonyClient,
    owner: &colony::PrivateKey,
    executor: &ExecutorIdentity,
    site: &str,
) -> Result<(), Error> {
    let ExecutorIdentity { id, name, .. } = executor;
    let existing = client
        .get_executors(owner, site)
        .await?
        .into_iter()
        .find(|e| &e.executor_name == name);
    let approved = match existing {
        Some(e) if &e.executor_id == id => e.state == ExecutorState::Approved.as_i32(),
        Some(_) => {
            // Registered with a key this agent no longer has: replace it.
            client.remove_executor(owner, site, name).await?;
            add_executor(client, owner, executor, site).await?;
            false
        }
        None => {
            add_executor(client, owner, executor, site).await?;
            false
        }
    };
    if !approved {
        client.approve_executor(owner, site, name).await?;
    }
    Ok(())
}

async fn add_executor(
    client: &ColonyClient,
    owner: &colony::PrivateKey,
    executor: &ExecutorIdentity,
    site: &str,
) -> Result<(), Error> {
    let mut executor = Executor::new(&executor.id, executor.executor_type, &executor.name, site);
    executor.location_name = site.to_string();
    client.add_executor(owner, &executor).await?;
    Ok(())
}

/// The built-in `ProcessDeployment` definition (group `maestro.io`, handler
/// `process-reconciler` / `reconcile`).
pub fn process_deployment_definition(colony: &str) -> BlueprintDefinition {
    let mut def = BlueprintDefinition::new(
        "processdeployments.maestro.io",
        colony,
        "maestro.io",
        KIND,
        EXECUTOR_TYPE,
        "reconcile",
    );
    def.spec.schema = Some(json!({
        "type": "object",
        "properties": {
            "command": {"type": "string"},
            "args": {"type": "array", "items": {"type": "string"}},
            "env": {"type": "object"},
            "replicas": {"type": "integer"},
            "workingDir": {"type": "string"}
        },
        "required": ["command"]
    }));
    def
}
