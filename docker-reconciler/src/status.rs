//! The status of a Docker blueprint: one instance per observed container.

use reconciler::{InstanceStatus, Status};
use serde_json::{Map, Value};

use crate::runtime::{ContainerState, ObservedContainer};
use crate::spec::DesiredContainer;

/// The status from `desired` (none when the spec is invalid) and `observed` containers.
///
/// `total` is the number of desired containers; `running` counts running containers in a
/// desired slot that run its template and are not unhealthy or still starting their health check (see [`crate::plan::is_current`]), so "converged" is
/// `running == total` once every container runs what the blueprint's generation asks for.
pub fn build_status(desired: &[DesiredContainer], observed: &[ObservedContainer]) -> Status {
    let mut sorted: Vec<&ObservedContainer> = observed.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let mut running = 0u32;
    let instances = sorted
        .iter()
        .map(|o| {
            let slot = desired.iter().find(|d| d.name == o.name);
            if o.state == ContainerState::Running
                && !o.is_unready()
                && slot.is_some_and(|d| crate::plan::is_current(o, d))
            {
                running += 1;
            }
            let mut extra = Map::new();
            extra.insert("image".into(), Value::String(o.image.clone()));
            if let Some(h) = o.health {
                extra.insert("health".into(), Value::String(h.as_str().into()));
            }
            if let Some(d) = slot
                && !d.ports.is_empty()
            {
                extra.insert("ports".into(), Value::String(d.ports_label()));
            }
            InstanceStatus {
                name: o.name.clone(),
                id: o.id.clone(),
                instance_type: "container",
                state: o.state.as_str().to_string(),
                generation: o.generation(),
                extra,
            }
        })
        .collect();
    Status {
        instances,
        running,
        total: u32::try_from(desired.len()).unwrap_or(u32::MAX),
    }
}
