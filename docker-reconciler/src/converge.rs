//! Applying one planned step through a [`ContainerRuntime`]. No colony I/O here.

use std::time::{Duration, Instant};

use crate::plan::{Action, RemoveReason};
use crate::runtime::{ContainerRuntime, Health, ObservedContainer};
use crate::spec::HealthCheck;
use reconciler::Outcome;
use tokio_util::sync::CancellationToken;

/// Lines of output quoted when an exited container is started again.
const EXIT_LOG_LINES: usize = 10;

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Applies `action`; `observed` is what the plan was made from. A wait for a new container's
/// health ends when `stopping` is cancelled (the agent stops): every step that changes something
/// is done in full, so a stop never leaves a slot without its container.
pub async fn apply(
    runtime: &dyn ContainerRuntime,
    observed: &[ObservedContainer],
    action: Action,
    stopping: &CancellationToken,
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
            Ok(id) => {
                let mut out = Outcome::done(format!(
                    "created container {} ({}) from {} at generation {}",
                    d.name,
                    short(&id),
                    d.image,
                    d.generation
                ));
                if let Some(check) = &d.health_check {
                    let wait = wait_healthy(runtime, &id, &d.name, check);
                    out.extend(stopping.run_until_cancelled(wait).await.unwrap_or_else(|| {
                        Outcome::failed(format!(
                            "container {} not judged: the agent is stopping while it awaits its \
                             health check; it keeps running, and the next convergence judges it",
                            d.name
                        ))
                    }));
                }
                out
            }
            Err(e) => Outcome::failed(format!("creating container {}: {e}", d.name)),
        },
    }
}

/// Waits until the new container `id` passes its health check, fails it, stops, or outlives
/// [`HealthCheck::deadline`]. Anything but healthy fails the step, which ends the round: the
/// rollout goes no further (the container stays, counted as unavailable) until a new
/// generation or the next convergence finds it healthy.
async fn wait_healthy(
    runtime: &dyn ContainerRuntime,
    id: &str,
    name: &str,
    check: &HealthCheck,
) -> Outcome {
    let started = Instant::now();
    let deadline = check.deadline();
    let poll = (check.interval / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    loop {
        match runtime.inspect(id).await {
            Ok(Some(o)) => match o.health {
                Some(Health::Healthy) => {
                    return Outcome::done(format!(
                        "container {name} healthy after {:.1} s",
                        started.elapsed().as_secs_f64()
                    ));
                }
                Some(Health::Unhealthy) => {
                    return Outcome::failed(format!(
                        "container {name} is unhealthy (last probe: {:?}); the rollout waits",
                        o.health_log
                    ));
                }
                _ if !o.is_up() => {
                    return Outcome::failed(format!(
                        "container {name} stopped before it was healthy ({})",
                        o.status
                    ));
                }
                _ => {}
            },
            Ok(None) => {
                return Outcome::failed(format!("container {name} vanished before it was healthy"));
            }
            Err(e) => return Outcome::failed(format!("checking the health of {name}: {e}")),
        }
        if started.elapsed() >= deadline {
            return Outcome::failed(format!(
                "container {name} not healthy within {} s; the rollout waits",
                deadline.as_secs()
            ));
        }
        tokio::time::sleep(poll).await;
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
