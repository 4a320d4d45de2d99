//! Colony bootstrap: the site colony and the agent's user, then for each reconciler the site runs
//! its executor and the blueprint definitions it brings. Every step is idempotent.
//!
//! Only the rights a colony owner has on a real ColonyOS v1.9.12 server are used: the owner adds
//! users and executors, approves executors and adds definitions, but is not a member, so every
//! read (listing executors, definitions) is signed by the agent's user, which the owner adds
//! first.

use colony::model::{BlueprintDefinition, Colony, Executor, ExecutorState, User};
use colony::{ColonyClient, ColonyError, PrivateKey};
use reconciler::{Registration, executor_name};

use crate::Error;
use crate::keys::SiteKeys;

/// User name of the agent in the site colony.
pub const AGENT_USER: &str = "site-agent";

fn exists(e: &ColonyError) -> bool {
    matches!(e, ColonyError::Api { status: 400 | 409, message } if message.contains("already exists"))
}

/// Prepares the colony `site` for the agent: the colony itself (only with the server owner key,
/// i.e. the embedded colony) and the agent's user (with the colony owner key).
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
            agent_id = %keys.agent.id(),
            "no colony owner key: register user {AGENT_USER} with this id yourself",
        );
        return Ok(());
    };
    ensure_agent_user(client, owner, keys, site).await
}

/// Adds the agent's user. When a user of that name exists but the agent's key is not a member
/// (it was registered with a key this agent no longer has), it is replaced.
async fn ensure_agent_user(
    client: &ColonyClient,
    owner: &PrivateKey,
    keys: &SiteKeys,
    site: &str,
) -> Result<(), Error> {
    let user = User {
        colony_name: site.to_string(),
        user_id: keys.agent.id(),
        name: AGENT_USER.to_string(),
        ..User::default()
    };
    match client.add_user(owner, &user).await {
        Ok(_) => return Ok(()),
        Err(e) if exists(&e) => {}
        Err(e) => return Err(e.into()),
    }
    match client.get_colony(&keys.agent, site).await {
        Ok(_) => Ok(()),
        Err(e) if e.status() == Some(403) => {
            tracing::warn!(
                colony = site,
                "user {AGENT_USER} has another key: replacing it"
            );
            client.remove_user(owner, site, AGENT_USER).await?;
            client.add_user(owner, &user).await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Prepares the colony `site` for one reconciler: registers and approves its executor (type
/// `registration.executor_type()`, named `<type>-<site>`, location `site`, key `key`) and adds
/// the blueprint definitions it brings when missing. Needs the colony owner key; without it the
/// ids an operator must register are logged.
pub async fn bootstrap_reconciler(
    client: &ColonyClient,
    keys: &SiteKeys,
    site: &str,
    registration: &dyn Registration,
    key: &PrivateKey,
) -> Result<(), Error> {
    let executor_type = registration.executor_type();
    let name = executor_name(executor_type, site);
    let defs = registration.definitions(site);
    let Some(owner) = &keys.colony_owner else {
        let kinds: Vec<&str> = defs.iter().map(|d| d.spec.names.kind.as_str()).collect();
        tracing::warn!(
            colony = site,
            executor_id = %key.id(),
            "no colony owner key: register executor {name} (type {executor_type}, location {site}) with this id and add the definitions of {} yourself",
            kinds.join(", "),
        );
        return Ok(());
    };
    let executor = ExecutorIdentity {
        id: key.id(),
        name,
        executor_type,
    };
    ensure_executor(client, owner, &keys.agent, &executor, site).await?;
    ensure_definitions(client, owner, keys, site, &defs).await
}

/// Adds each of `defs` whose kind the colony does not know yet.
async fn ensure_definitions(
    client: &ColonyClient,
    owner: &PrivateKey,
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

/// Registers (when missing) and approves (when not approved) the executor. The list is read as
/// `member` (the agent's user): the colony owner may not list executors upstream.
async fn ensure_executor(
    client: &ColonyClient,
    owner: &PrivateKey,
    member: &PrivateKey,
    executor: &ExecutorIdentity,
    site: &str,
) -> Result<(), Error> {
    let ExecutorIdentity { id, name, .. } = executor;
    let existing = client
        .get_executors(member, site)
        .await?
        .into_iter()
        .find(|e| &e.executor_name == name);
    let approved = match existing {
        Some(e) if &e.executor_id == id => e.state == ExecutorState::Approved.as_i32(),
        Some(_) => {
            // Registered with a key this agent no longer has. Upstream keeps a removed executor's
            // name (unregistered), so it can only be replaced where re-registration is allowed.
            match add_executor(client, owner, executor, site).await {
                Ok(()) => false,
                Err(Error::Colony(e)) if exists(&e) => {
                    return Err(Error::Config(format!(
                        "executor {name} in colony {site} is registered with another key; \
                         register this agent's key {id} under that name (or allow executor \
                         re-registration on the server)"
                    )));
                }
                Err(e) => return Err(e),
            }
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
    owner: &PrivateKey,
    executor: &ExecutorIdentity,
    site: &str,
) -> Result<(), Error> {
    let mut executor = Executor::new(&executor.id, executor.executor_type, &executor.name, site);
    executor.location_name = site.to_string();
    client.add_executor(owner, &executor).await?;
    Ok(())
}
