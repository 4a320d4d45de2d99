//! The Docker reconciler: converges `DockerDeployment` and `ExecutorDeployment` blueprints into
//! Docker containers on this host (a [`reconciler::Reconciler`], executor type
//! `docker-reconciler`).
//!
//! It derives the desired containers from a spec, observes the managed containers of the
//! blueprint, plans with the pure [`plan()`] function and applies each step through a
//! [`ContainerRuntime`] (Docker Engine API via bollard, or the in-memory [`FakeRuntime`]). The
//! framework does the rest (colony I/O, status, logs, orphans, the executor loop).
//!
//! Invariants: every container it creates carries `colonies.managed=true`,
//! `colonies.blueprint`, `colonies.generation`, `colonies.colony`, `colonies.kind`,
//! `colonies.instance` and `colonies.replica`; only containers with `colonies.managed=true` and
//! this colony's `colonies.colony` (and none of another kind) are ever stopped or removed; a
//! container runs the blueprint generation in its label or is replaced; images are never pulled
//! unless explicitly allowed.

mod converge;
mod definitions;
mod docker;
mod executor;
mod fake;
pub mod labels;
mod plan;
mod reconcile;
mod registration;
mod runtime;
pub mod spec;
mod status;
mod verdict;

pub use definitions::{docker_deployment_definition, executor_deployment_definition};
pub use docker::{DEFAULT_SOCKET, DockerOptions, DockerRuntime, RestartPolicy, docker_available};
pub use executor::{DockerReconcilerConfig, run};
pub use fake::FakeRuntime;
pub use plan::{Action, RemoveReason, plan};
pub use reconcile::{DockerReconciler, KINDS, Settings};
pub use registration::{DockerMode, DockerRegistration, DockerSettings};
pub use runtime::{ContainerRuntime, ContainerState, Health, ObservedContainer, RuntimeError};
pub use spec::{
    DOCKER_DEPLOYMENT, DesiredContainer, EXECUTOR_DEPLOYMENT, EXECUTOR_TYPE, PortSpec, VolumeKind,
    VolumeSpec, desired_containers,
};
pub use status::build_status;
