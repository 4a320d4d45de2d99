//! The Docker reconciler: a ColonyOS executor of type `docker-reconciler` that converges
//! `DockerDeployment` and `ExecutorDeployment` blueprints into Docker containers on this host.
//!
//! It pulls `reconcile` / `cleanup` processes, fetches the blueprint itself, plans with the pure
//! [`plan()`] function from (desired, observed) containers, applies the plan through a
//! [`ContainerRuntime`] (Docker Engine API via bollard, or the in-memory [`FakeRuntime`]), writes
//! the blueprint status, adds process logs and closes the process.
//!
//! Invariants: every container it creates carries `colonies.managed=true`,
//! `colonies.blueprint`, `colonies.generation`, `colonies.colony`, `colonies.kind`,
//! `colonies.instance` and `colonies.replica`; only containers with `colonies.managed=true` and
//! this colony's `colonies.colony` are ever stopped or removed; a container runs the blueprint
//! generation in its label or is replaced; images are never pulled unless explicitly allowed;
//! one convergence runs at a time.

mod converge;
mod definitions;
mod docker;
mod error;
mod executor;
mod fake;
pub mod labels;
mod plan;
mod reconciler;
mod runtime;
pub mod spec;
mod status;

pub use converge::{Outcome, converge_blueprint, remove_blueprint_containers, remove_orphans};
pub use definitions::{docker_deployment_definition, executor_deployment_definition};
pub use docker::{DEFAULT_SOCKET, DockerOptions, DockerRuntime, RestartPolicy, docker_available};
pub use error::Error;
pub use executor::{DockerReconcilerConfig, run};
pub use fake::FakeRuntime;
pub use plan::{Action, RemoveReason, plan};
pub use reconciler::{Actions, DockerReconciler, KINDS, Settings};
pub use runtime::{ContainerRuntime, ContainerState, ObservedContainer, RuntimeError};
pub use spec::{
    DOCKER_DEPLOYMENT, DesiredContainer, EXECUTOR_DEPLOYMENT, EXECUTOR_TYPE, PortSpec, VolumeKind,
    VolumeSpec, desired_containers,
};
pub use status::build_status;
