//! Blueprint definitions and blueprints: add, get, list, update, status, reconcile, remove,
//! history. Adds and spec changes submit an immediate reconcile process with kwargs
//! `{kind, blueprintName}`; removal submits `cleanup` with `{blueprintName, kind}`.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Map, Value};

use crate::crypto::sha3_256_hex;
use crate::messages::*;
use crate::model::{Blueprint, BlueprintDefinition, BlueprintHistory, FunctionSpec, Process};

use super::super::auth;
use super::super::cron;
use super::super::error::ApiError;
use super::super::scheduler;
use super::super::schema;
use super::super::state::ServerState;
use super::super::store::{Store, key, prefix};
use super::{empty, reply};

fn random_id() -> String {
    sha3_256_hex(uuid::Uuid::new_v4().to_string().as_bytes())
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

// ---- definitions ------------------------------------------------------------------------------

pub(super) fn add_definition(
    state: &ServerState,
    caller: &str,
    msg: AddBlueprintDefinitionMsg,
) -> Result<Value, ApiError> {
    let mut def = msg.blueprintdefinition;
    let colony = def.metadata.colony_name.clone();
    auth::require_colony_owner(state, caller, &colony)?;
    if def.metadata.name.is_empty() {
        return Err(ApiError::bad_request("metadata.name is required"));
    }
    if def.spec.names.kind.is_empty() {
        return Err(ApiError::bad_request("spec.names.kind is required"));
    }
    let _guard = state.write_lock();
    let k = key(&[&colony, &def.metadata.name]);
    if state.store.definitions.contains_key(&k)? {
        return Err(ApiError::conflict(format!(
            "BlueprintDefinition {:?} already exists in colony {colony:?}",
            def.metadata.name
        )));
    }
    if cron::definition_by_kind(state, &colony, &def.spec.names.kind)?.is_some() {
        return Err(ApiError::conflict(format!(
            "a BlueprintDefinition for kind {:?} already exists in colony {colony:?}",
            def.spec.names.kind
        )));
    }
    if def.definition_id.is_empty() {
        def.definition_id = random_id();
    }
    if def.kind.is_empty() {
        def.kind = "BlueprintDefinition".to_owned();
    }
    Store::put(&state.store.definitions, &k, &def)?;
    state.store.flush()?;
    reply(&def)
}

pub(super) fn get_definition(
    state: &ServerState,
    caller: &str,
    msg: GetBlueprintDefinitionMsg,
) -> Result<Value, ApiError> {
    auth::require_member_or_owner(state, caller, &msg.colonyname)?;
    let def: Option<BlueprintDefinition> =
        Store::get(&state.store.definitions, key(&[&msg.colonyname, &msg.name]))?;
    match def {
        Some(d) => reply(&d),
        None => Err(ApiError::not_found("Blueprint definition not found")),
    }
}

pub(super) fn list_definitions(
    state: &ServerState,
    caller: &str,
    msg: GetBlueprintDefinitionsMsg,
) -> Result<Value, ApiError> {
    auth::require_member_or_owner(state, caller, &msg.colonyname)?;
    let defs: Vec<BlueprintDefinition> =
        Store::scan(&state.store.definitions, prefix(&msg.colonyname))?;
    reply(&defs)
}

pub(super) fn remove_definition(
    state: &ServerState,
    caller: &str,
    msg: RemoveBlueprintDefinitionMsg,
) -> Result<Value, ApiError> {
    auth::require_colony_owner(state, caller, &msg.namespace)?;
    let _guard = state.write_lock();
    let k = key(&[&msg.namespace, &msg.name]);
    let def: BlueprintDefinition = Store::get(&state.store.definitions, &k)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "BlueprintDefinition '{}' not found in namespace '{}'",
            msg.name, msg.namespace
        ))
    })?;
    let in_use = cron::blueprints(state, &msg.namespace, Some(&def.spec.names.kind), None)?;
    if !in_use.is_empty() {
        return Err(ApiError::conflict(format!(
            "cannot remove BlueprintDefinition '{}': {} blueprint(s) of kind '{}' still exist",
            msg.name,
            in_use.len(),
            def.spec.names.kind
        )));
    }
    state.store.definitions.remove(&k)?;
    state.store.flush()?;
    empty()
}

// ---- helpers ---------------------------------------------------------------------------------

fn definition_for(state: &ServerState, bp: &Blueprint) -> Result<BlueprintDefinition, ApiError> {
    if bp.kind.is_empty() {
        return Err(ApiError::bad_request("blueprint kind is required"));
    }
    if bp.metadata.name.is_empty() {
        return Err(ApiError::bad_request("blueprint metadata.name is required"));
    }
    let def =
        cron::definition_by_kind(state, &bp.metadata.colony_name, &bp.kind)?.ok_or_else(|| {
            ApiError::bad_request(format!(
                "BlueprintDefinition for kind '{}' not found in namespace '{}'",
                bp.kind, bp.metadata.colony_name
            ))
        })?;
    if let Some(schema) = &def.spec.schema {
        schema::validate(&bp.spec, schema)
            .map_err(|e| ApiError::bad_request(format!("blueprint validation failed: {e}")))?;
    }
    Ok(def)
}

fn load(state: &ServerState, colony: &str, name: &str) -> Result<Blueprint, ApiError> {
    Store::get(&state.store.blueprints, key(&[colony, name]))?
        .ok_or_else(|| ApiError::not_found("Blueprint not found"))
}

fn store_blueprint(state: &ServerState, bp: &Blueprint) -> Result<(), ApiError> {
    Store::put(
        &state.store.blueprints,
        key(&[&bp.metadata.colony_name, &bp.metadata.name]),
        bp,
    )
}

fn add_history(
    state: &ServerState,
    bp: &Blueprint,
    caller: &str,
    change_type: &str,
) -> Result<(), ApiError> {
    let entry = BlueprintHistory {
        history_id: uuid::Uuid::new_v4().to_string(),
        blueprint_id: bp.blueprint_id.clone(),
        kind: bp.kind.clone(),
        namespace: bp.metadata.colony_name.clone(),
        name: bp.metadata.name.clone(),
        generation: bp.metadata.generation,
        spec: bp.spec.clone(),
        status: Value::Null,
        timestamp: Utc::now(),
        changed_by: caller.to_owned(),
        change_type: change_type.to_owned(),
    };
    let mut k = prefix(&bp.blueprint_id);
    k.extend_from_slice(&state.store.next_seq()?.to_be_bytes());
    Store::put(&state.store.history, k, &entry)
}

/// Submits the handler function for one blueprint (kwargs `{kind, blueprintName[, force]}`).
/// As upstream, the blueprint's `lastReconciliation*` fields are left as they are. `None` when
/// the definition has no handler.
fn submit_reconcile(
    state: &ServerState,
    bp: &Blueprint,
    def: &BlueprintDefinition,
    caller: &str,
    initiator_name: &str,
    force: bool,
) -> Result<Option<Process>, ApiError> {
    let handler = &def.spec.handler;
    if handler.executor_type.is_empty() || handler.function_name.is_empty() {
        return Ok(None);
    }
    let mut spec = FunctionSpec::server_made(
        &handler.function_name,
        &bp.metadata.colony_name,
        &handler.executor_type,
    );
    spec.node_name = format!("{}-{}", handler.executor_type, handler.function_name);
    spec.conditions.location_name = bp.metadata.location_name.clone();
    spec.kwargs
        .insert("kind".to_owned(), Value::String(bp.kind.clone()));
    spec.kwargs.insert(
        "blueprintName".to_owned(),
        Value::String(bp.metadata.name.clone()),
    );
    if force {
        spec.kwargs.insert("force".to_owned(), Value::Bool(true));
    }
    let process = scheduler::enqueue(state, spec, caller, initiator_name)?;
    Ok(Some(process))
}

// ---- blueprints ------------------------------------------------------------------------------

pub(super) fn add(
    state: &Arc<ServerState>,
    caller: &str,
    msg: AddBlueprintMsg,
) -> Result<Value, ApiError> {
    let mut bp = msg.blueprint;
    let member = auth::require_member_or_owner(state, caller, &bp.metadata.colony_name)?;
    let def = definition_for(state, &bp)?;
    {
        let _guard = state.write_lock();
        let k = key(&[&bp.metadata.colony_name, &bp.metadata.name]);
        if state.store.blueprints.contains_key(&k)? {
            return Err(ApiError::conflict(format!(
                "blueprint with name '{}' already exists in colony '{}'",
                bp.metadata.name, bp.metadata.colony_name
            )));
        }
        if bp.blueprint_id.is_empty() {
            bp.blueprint_id = random_id();
        }
        if bp.status.is_null() {
            bp.status = empty_object();
        }
        submit_reconcile(state, &bp, &def, caller, &member.name(), false)?;
        store_blueprint(state, &bp)?;
        add_history(state, &bp, caller, "create")?;
        state.store.flush()?;
    }
    cron::ensure(state, cron::key_of(&bp));
    reply(&bp)
}

pub(super) fn get(
    state: &ServerState,
    caller: &str,
    msg: GetBlueprintMsg,
) -> Result<Value, ApiError> {
    auth::require_member_or_owner(state, caller, &msg.namespace)?;
    reply(&load(state, &msg.namespace, &msg.name)?)
}

pub(super) fn list(
    state: &ServerState,
    caller: &str,
    msg: GetBlueprintsMsg,
) -> Result<Value, ApiError> {
    auth::require_member_or_owner(state, caller, &msg.namespace)?;
    let kind = (!msg.kind.is_empty()).then_some(msg.kind.as_str());
    let location = (!msg.locationname.is_empty()).then_some(msg.locationname.as_str());
    reply(&cron::blueprints(state, &msg.namespace, kind, location)?)
}

pub(super) fn update(
    state: &Arc<ServerState>,
    caller: &str,
    msg: UpdateBlueprintMsg,
) -> Result<Value, ApiError> {
    let mut bp = msg.blueprint;
    let colony = bp.metadata.colony_name.clone();
    let member = auth::require_member_or_owner(state, caller, &colony)?;
    let def = definition_for(state, &bp)?;
    let old_key;
    {
        let _guard = state.write_lock();
        let old = load(state, &colony, &bp.metadata.name)?;
        if old.kind != bp.kind {
            return Err(ApiError::bad_request(format!(
                "blueprint kind cannot change from '{}' to '{}'",
                old.kind, bp.kind
            )));
        }
        old_key = cron::key_of(&old);
        let spec_changed = old.spec != bp.spec || msg.forcegeneration;
        bp.blueprint_id = old.blueprint_id.clone();
        if bp.status.is_null() {
            bp.status = empty_object();
        }
        bp.metadata.generation = if spec_changed {
            old.metadata.generation + 1
        } else {
            old.metadata.generation
        };
        if spec_changed {
            submit_reconcile(state, &bp, &def, caller, &member.name(), false)?;
            add_history(state, &bp, caller, "update")?;
        }
        store_blueprint(state, &bp)?;
        state.store.flush()?;
    }
    let new_key = cron::key_of(&bp);
    if new_key != old_key {
        cron::drop_if_unused(state, &old_key)?;
    }
    cron::ensure(state, new_key);
    reply(&bp)
}

pub(super) fn update_status(
    state: &ServerState,
    caller: &str,
    msg: UpdateBlueprintStatusMsg,
) -> Result<Value, ApiError> {
    auth::require_member(state, caller, &msg.colonyname, true)?;
    let _guard = state.write_lock();
    let mut bp = load(state, &msg.colonyname, &msg.blueprintname)?;
    bp.status = if msg.status.is_null() {
        empty_object()
    } else {
        msg.status
    };
    store_blueprint(state, &bp)?;
    state.store.flush()?;
    empty()
}

pub(super) fn reconcile(
    state: &ServerState,
    caller: &str,
    msg: ReconcileBlueprintMsg,
) -> Result<Value, ApiError> {
    let member = auth::require_member(state, caller, &msg.namespace, true)?;
    let _guard = state.write_lock();
    let mut bp = load(state, &msg.namespace, &msg.name)?;
    let def = cron::definition_by_kind(state, &msg.namespace, &bp.kind)?.ok_or_else(|| {
        ApiError::bad_request("Blueprint has no handler with executor type defined")
    })?;
    if msg.force {
        bp.metadata.generation += 1;
    }
    let process = submit_reconcile(state, &bp, &def, caller, &member.name(), msg.force)?
        .ok_or_else(|| {
            ApiError::bad_request("Blueprint has no handler with executor type defined")
        })?;
    store_blueprint(state, &bp)?;
    state.store.flush()?;
    reply(&process)
}

pub(super) fn remove(
    state: &ServerState,
    caller: &str,
    msg: RemoveBlueprintMsg,
) -> Result<Value, ApiError> {
    let member = auth::require_member_or_owner(state, caller, &msg.namespace)?;
    let bp = {
        let _guard = state.write_lock();
        let bp = load(state, &msg.namespace, &msg.name)?;
        state
            .store
            .blueprints
            .remove(key(&[&msg.namespace, &msg.name]))?;
        if let Some(def) = cron::definition_by_kind(state, &msg.namespace, &bp.kind)?
            && !def.spec.handler.executor_type.is_empty()
        {
            let executor_type = &def.spec.handler.executor_type;
            let mut spec = FunctionSpec::server_made("cleanup", &msg.namespace, executor_type);
            spec.node_name = format!("{executor_type}-cleanup");
            spec.conditions.location_name = bp.metadata.location_name.clone();
            spec.kwargs
                .insert("blueprintName".to_owned(), Value::String(msg.name.clone()));
            spec.kwargs
                .insert("kind".to_owned(), Value::String(bp.kind.clone()));
            scheduler::enqueue(state, spec, caller, &member.name())?;
        }
        state.store.flush()?;
        bp
    };
    cron::drop_if_unused(state, &cron::key_of(&bp))?;
    empty()
}

pub(super) fn history(
    state: &ServerState,
    caller: &str,
    msg: GetBlueprintHistoryMsg,
) -> Result<Value, ApiError> {
    let all: Vec<Blueprint> = Store::scan(&state.store.blueprints, b"")?;
    let bp = all
        .into_iter()
        .find(|b| b.blueprint_id == msg.blueprintid)
        .ok_or_else(|| ApiError::not_found("Blueprint not found"))?;
    auth::require_member_or_owner(state, caller, &bp.metadata.colony_name)?;
    let mut entries: Vec<BlueprintHistory> =
        Store::scan(&state.store.history, prefix(&msg.blueprintid))?;
    entries.reverse();
    if msg.limit > 0 {
        entries.truncate(usize::try_from(msg.limit).unwrap_or(usize::MAX));
    }
    reply(&entries)
}
