//! The self-healing loop per (colony, kind, location): every reconcile interval it submits the
//! kind's handler function with kwargs `{kind}` only, unless such a process is still waiting.
//!
//! Loops are not persisted: they are derived from the stored blueprints at start-up.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::model::{Blueprint, FunctionSpec, Process};

use super::error::ApiError;
use super::scheduler;
use super::state::{CronKey, ServerState};
use super::store::{Store, prefix};

/// The definition of `kind` in `colony`, if any.
pub(crate) fn definition_by_kind(
    state: &ServerState,
    colony: &str,
    kind: &str,
) -> Result<Option<crate::model::BlueprintDefinition>, ApiError> {
    let defs: Vec<crate::model::BlueprintDefinition> =
        Store::scan(&state.store.definitions, prefix(colony))?;
    Ok(defs.into_iter().find(|d| d.spec.names.kind == kind))
}

/// Blueprints of `colony` (all when `kind` is `None`), optionally at one location.
pub(crate) fn blueprints(
    state: &ServerState,
    colony: &str,
    kind: Option<&str>,
    location: Option<&str>,
) -> Result<Vec<Blueprint>, ApiError> {
    let all: Vec<Blueprint> = Store::scan(&state.store.blueprints, prefix(colony))?;
    Ok(all
        .into_iter()
        .filter(|b| kind.is_none_or(|k| b.kind == k))
        .filter(|b| location.is_none_or(|l| b.metadata.location_name == l))
        .collect())
}

/// Starts the loop for `key` unless it runs already.
pub(crate) fn ensure(state: &Arc<ServerState>, key: CronKey) {
    let mut registry = state.cron_registry();
    if registry.contains_key(&key) || state.shutdown.is_cancelled() {
        return;
    }
    let token = state.shutdown.child_token();
    registry.insert(key.clone(), token.clone());
    let st = Arc::clone(state);
    state.tracker.spawn_on(
        async move {
            loop {
                // As upstream, the server's interval (60 s by default); a definition's
                // `handler.reconcileInterval` is informational only.
                let interval = st.default_reconcile_interval;
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tokio::time::sleep(interval) => {}
                }
                let (st2, key2) = (Arc::clone(&st), key.clone());
                if let Err(e) = scheduler::blocking(move || tick(&st2, &key2)).await {
                    tracing::warn!(cron = %key.name(), error = %e, "reconcile cron tick failed");
                }
            }
        },
        &state.runtime,
    );
}

/// Stops the loop for `key` when no blueprint of its kind remains at its location.
pub(crate) fn drop_if_unused(state: &ServerState, key: &CronKey) -> Result<(), ApiError> {
    if blueprints(state, &key.colony, Some(&key.kind), Some(&key.location))?.is_empty()
        && let Some(token) = state.cron_registry().remove(key)
    {
        token.cancel();
    }
    Ok(())
}

/// Starts a loop for every (colony, kind, location) that has blueprints.
pub(crate) fn restore(state: &Arc<ServerState>) -> Result<(), ApiError> {
    let all: Vec<Blueprint> = Store::scan(&state.store.blueprints, b"")?;
    for b in all {
        ensure(state, key_of(&b));
    }
    Ok(())
}

/// The loop key of a blueprint.
pub(crate) fn key_of(b: &Blueprint) -> CronKey {
    CronKey {
        colony: b.metadata.colony_name.clone(),
        kind: b.kind.clone(),
        location: b.metadata.location_name.clone(),
    }
}

fn is_cron_process(p: &Process, spec: &FunctionSpec) -> bool {
    p.spec.func_name == spec.func_name
        && p.spec.conditions.executor_type == spec.conditions.executor_type
        && p.spec.conditions.location_name == spec.conditions.location_name
        && p.spec.kwargs == spec.kwargs
}

/// One tick: submit `{kind}` to the handler unless one is still waiting.
pub(crate) fn tick(state: &ServerState, key: &CronKey) -> Result<(), ApiError> {
    let _guard = state.write_lock();
    let Some(def) = definition_by_kind(state, &key.colony, &key.kind)? else {
        return Ok(());
    };
    let handler = &def.spec.handler;
    if handler.executor_type.is_empty() || handler.function_name.is_empty() {
        return Ok(());
    }
    if blueprints(state, &key.colony, Some(&key.kind), Some(&key.location))?.is_empty() {
        return Ok(());
    }
    let Some(colony) = super::auth::find_colony(state, &key.colony)? else {
        return Ok(());
    };
    let mut kwargs = Map::new();
    kwargs.insert("kind".to_owned(), Value::String(key.kind.clone()));
    let mut spec =
        FunctionSpec::server_made(&handler.function_name, &key.colony, &handler.executor_type);
    spec.node_name = format!("{}-{}", handler.executor_type, handler.function_name);
    spec.conditions.location_name = key.location.clone();
    spec.kwargs = kwargs;
    for item in state.store.queue.scan_prefix(prefix(&key.colony)) {
        let (_, id) = item?;
        if let Some(p) = Store::get::<Process>(&state.store.processes, &id)?
            && is_cron_process(&p, &spec)
        {
            return Ok(());
        }
    }
    scheduler::enqueue(state, spec, &colony.colony_id, &key.name())?;
    state.store.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BlueprintDefinition, Colony, Executor};
    use crate::server::store::key;
    use tokio_util::sync::CancellationToken;

    fn seeded_state(dir: &std::path::Path) -> ServerState {
        let store = Store::open(dir).unwrap();
        let state = ServerState::new(
            store,
            "server".into(),
            CancellationToken::new(),
            std::time::Duration::from_secs(60),
        );
        let colony = Colony {
            colony_id: "owner".into(),
            name: "c".into(),
        };
        Store::put(&state.store.colonies, key(&["c"]), &colony).unwrap();
        let def = BlueprintDefinition::new("d", "c", "g", "K", "rec", "reconcile");
        Store::put(&state.store.definitions, key(&["c", "d"]), &def).unwrap();
        let mut bp = Blueprint::new("K", "b", "c", serde_json::json!({}));
        bp.metadata.location_name = "north".into();
        Store::put(&state.store.blueprints, key(&["c", "b"]), &bp).unwrap();
        state
    }

    fn waiting(state: &ServerState) -> usize {
        state.store.queue.len()
    }

    #[tokio::test]
    async fn tick_does_not_pile_up_while_one_waits() {
        let dir = tempfile::tempdir().unwrap();
        let state = seeded_state(dir.path());
        let key = CronKey {
            colony: "c".into(),
            kind: "K".into(),
            location: "north".into(),
        };
        assert_eq!(key.name(), "reconcile-K-north");
        tick(&state, &key).unwrap();
        tick(&state, &key).unwrap();
        assert_eq!(waiting(&state), 1);

        let mut exec = Executor::new("e", "rec", "rec-1", "c");
        exec.location_name = "north".into();
        let p = scheduler::try_assign(&state, &exec).unwrap().unwrap();
        assert_eq!(
            Value::Object(p.spec.kwargs.clone()),
            serde_json::json!({"kind": "K"})
        );
        assert_eq!(p.spec.conditions.location_name, "north");
        assert_eq!(p.initiator_id, "owner");
        tick(&state, &key).unwrap();
        assert_eq!(waiting(&state), 1);

        // No blueprint left at the location: nothing is submitted.
        let other = CronKey {
            location: "south".into(),
            ..key
        };
        tick(&state, &other).unwrap();
        assert_eq!(waiting(&state), 1);
    }
}
