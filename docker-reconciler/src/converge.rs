//! Applying plans through a [`ContainerRuntime`]: converge one blueprint, remove one
//! blueprint's containers, remove orphans. No colony I/O here; the caller writes status and logs.

use std::collections::BTreeSet;

use colony::model::Blueprint;
use serde_json::Value;

use crate::labels;
use crate::plan::{Action, RemoveReason, plan};
use crate::runtime::{ContainerRuntime, ObservedContainer, RuntimeError};
use crate::spec::{DOCKER_DEPLOYMENT, EXECUTOR_DEPLOYMENT, desired_containers};
use crate::status::build_status;

/// Lines of output quoted when an exited container is started again.
const EXIT_LOG_LINES: usize = 10;

/// What a convergence did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Steps done, one log line each.
    pub done: Vec<String>,
    /// Steps that failed (or why nothing could be done), one log line each.
    pub errors: Vec<String>,
    /// The blueprint status to write (None after removals).
    pub status: Option<Value>,
}

impl Outcome {
    fn extend(&mut self, other: Outcome) {
        self.done.extend(other.done);
        self.errors.extend(other.errors);
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Converges blueprint `bp` of colony `colony`: plans from its desired and observed containers,
/// applies the plan (continuing past failures) and builds the status from a fresh listing.
/// `Err` only when the runtime cannot list containers. An invalid spec changes nothing and is
/// reported in `errors` and in the status `message`.
pub async fn converge_blueprint(
    runtime: &dyn ContainerRuntime,
    bp: &Blueprint,
    colony: &str,
    default_network_mode: &str,
) -> Result<Outcome, RuntimeError> {
    let name = &bp.metadata.name;
    let generation = bp.metadata.generation;
    let mut out = Outcome::default();
    let desired = match desired_containers(bp, colony, default_network_mode) {
        Ok(d) => d,
        Err(reason) => {
            let observed = runtime.list_managed(colony, Some(name)).await?;
            let message = format!("invalid spec: {reason}");
            out.status = Some(build_status(&[], &observed, generation, Some(&message)));
            out.errors.push(message);
            return Ok(out);
        }
    };
    let observed = runtime.list_managed(colony, Some(name)).await?;
    for action in plan(&desired, &observed) {
        apply(runtime, &observed, action, &mut out).await;
    }
    let observed = runtime.list_managed(colony, Some(name)).await?;
    let message = (!out.errors.is_empty()).then(|| out.errors.join("; "));
    out.status = Some(build_status(
        &desired,
        &observed,
        generation,
        message.as_deref(),
    ));
    Ok(out)
}

async fn apply(
    runtime: &dyn ContainerRuntime,
    observed: &[ObservedContainer],
    action: Action,
    out: &mut Outcome,
) {
    match action {
        Action::Remove { id, name, reason } => remove(runtime, &id, &name, reason, out).await,
        Action::Start { id, name } => {
            let status = observed
                .iter()
                .find(|o| o.id == id)
                .map_or("", |o| o.status.as_str());
            let tail = runtime
                .logs_tail(&id, EXIT_LOG_LINES)
                .await
                .unwrap_or_default();
            let mut line = format!(
                "container {name} ({}) was not running ({status})",
                short(&id)
            );
            if !tail.is_empty() {
                line.push_str("; last output: ");
                line.push_str(&tail.join(" | "));
            }
            out.done.push(line);
            match runtime.start(&id).await {
                Ok(()) => out.done.push(format!("started container {name} again")),
                Err(e) => out.errors.push(format!("starting container {name}: {e}")),
            }
        }
        Action::Create(d) => match runtime.create_and_start(&d).await {
            Ok(id) => out.done.push(format!(
                "created container {} ({}) from {} at generation {}",
                d.name,
                short(&id),
                d.image,
                d.generation
            )),
            Err(e) => out
                .errors
                .push(format!("creating container {}: {e}", d.name)),
        },
    }
}

async fn remove(
    runtime: &dyn ContainerRuntime,
    id: &str,
    name: &str,
    reason: RemoveReason,
    out: &mut Outcome,
) {
    match runtime.stop_and_remove(id).await {
        Ok(()) => out.done.push(format!(
            "removed container {name} ({}): {}",
            short(id),
            reason.as_str()
        )),
        Err(e) => out.errors.push(format!("removing container {name}: {e}")),
    }
}

/// Removes every managed container of blueprint `name` in `colony` (a `cleanup`).
pub async fn remove_blueprint_containers(
    runtime: &dyn ContainerRuntime,
    colony: &str,
    name: &str,
) -> Result<Outcome, RuntimeError> {
    let mut out = Outcome::default();
    let mut observed = runtime.list_managed(colony, Some(name)).await?;
    observed.sort_by(|a, b| a.name.cmp(&b.name));
    for o in observed {
        remove(
            runtime,
            &o.id,
            &o.name,
            RemoveReason::BlueprintGone,
            &mut out,
        )
        .await;
    }
    Ok(out)
}

/// Removes managed containers of `colony` whose blueprint is not in `known` (orphans: their
/// blueprint was removed while no cleanup ran, or they were started by hand with the managed
/// labels). Containers labelled with a kind this reconciler does not handle are left alone.
pub async fn remove_orphans(
    runtime: &dyn ContainerRuntime,
    colony: &str,
    known: &BTreeSet<String>,
) -> Result<Outcome, RuntimeError> {
    let mut out = Outcome::default();
    let mut observed = runtime.list_managed(colony, None).await?;
    observed.sort_by(|a, b| a.name.cmp(&b.name));
    for o in observed {
        let kind = o.label(labels::KIND);
        let ours = kind.is_empty() || kind == DOCKER_DEPLOYMENT || kind == EXECUTOR_DEPLOYMENT;
        if ours && !known.contains(o.label(labels::BLUEPRINT)) {
            let mut one = Outcome::default();
            remove(
                runtime,
                &o.id,
                &o.name,
                RemoveReason::BlueprintGone,
                &mut one,
            )
            .await;
            out.extend(one);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
