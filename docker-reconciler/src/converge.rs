//! Applying one planned step through a [`ContainerRuntime`]. No colony I/O here.

use crate::plan::{Action, RemoveReason};
use crate::runtime::{ContainerRuntime, ObservedContainer};
use reconciler::Outcome;

/// Lines of output quoted when an exited container is started again.
const EXIT_LOG_LINES: usize = 10;

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Applies `action`; `observed` is what the plan was made from.
pub async fn apply(
    runtime: &dyn ContainerRuntime,
    observed: &[ObservedContainer],
    action: Action,
) -> Outcome {
    match action {
        Action::Remove { id, name, reason } => remove(runtime, &id, &name, reason).await,
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
            let mut out = Outcome::done(line);
            out.extend(match runtime.start(&id).await {
                Ok(()) => Outcome::done(format!("started container {name} again")),
                Err(e) => Outcome::failed(format!("starting container {name}: {e}")),
            });
            out
        }
        Action::Create(d) => match runtime.create_and_start(&d).await {
            Ok(id) => Outcome::done(format!(
                "created container {} ({}) from {} at generation {}",
                d.name,
                short(&id),
                d.image,
                d.generation
            )),
            Err(e) => Outcome::failed(format!("creating container {}: {e}", d.name)),
        },
    }
}

async fn remove(
    runtime: &dyn ContainerRuntime,
    id: &str,
    name: &str,
    reason: RemoveReason,
) -> Outcome {
    match runtime.stop_and_remove(id).await {
        Ok(()) => Outcome::done(format!(
            "removed container {name} ({}): {}",
            short(id),
            reason.as_str()
        )),
        Err(e) => Outcome::failed(format!("removing container {name}: {e}")),
    }
}

#[cfg(test)]
mod tests;
