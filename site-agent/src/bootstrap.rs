//! Colony bootstrap: the site colony, the reconciler executor, the agent's user and the built-in
//! `ProcessDeployment` definition. Every step is idempotent.

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
    ensure_executor(client, owner, keys, site).await?;
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
    let defs = client.get_blueprint_definitions(&keys.agent, site).await?;
    if !defs.iter().any(|d| d.spec.names.kind == KIND) {
        match client
            .add_blueprint_definition(owner, &process_deployment_definition(site))
            .await
        {
            Ok(_) => {}
            Err(e) if exists(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn ensure_executor(
    client: &ColonyClient,
    owner: &colony::PrivateKey,
    keys: &SiteKeys,
    site: &str,
) -> Result<(), Error> {
    let name = reconciler::executor_name(site);
    let id = keys.reconciler.id();
    let existing = client
        .get_executors(owner, site)
        .await?
        .into_iter()
        .find(|e| e.executor_name == name);
    let approved = match existing {
        Some(e) if e.executor_id == id => e.state == ExecutorState::Approved.as_i32(),
        Some(_) => {
            // Registered with a key this agent no longer has: replace it.
            client.remove_executor(owner, site, &name).await?;
            add_executor(client, owner, &id, &name, site).await?;
            false
        }
        None => {
            add_executor(client, owner, &id, &name, site).await?;
            false
        }
    };
    if !approved {
        client.approve_executor(owner, site, &name).await?;
    }
    Ok(())
}

async fn add_executor(
    client: &ColonyClient,
    owner: &colony::PrivateKey,
    id: &str,
    name: &str,
    site: &str,
) -> Result<(), Error> {
    let mut executor = Executor::new(id, EXECUTOR_TYPE, name, site);
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
