//! An in-memory [`ContainerRuntime`] for tests of the convergence logic: containers are records,
//! "images" a set of names, and failures can be injected.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::labels;
use crate::runtime::{ContainerRuntime, ContainerState, Health, ObservedContainer, RuntimeError};
use crate::spec::DesiredContainer;

/// The fake engine. Cheap to clone; clones share state.
#[derive(Debug, Clone, Default)]
pub struct FakeRuntime {
    state: Arc<Mutex<FakeState>>,
}

#[derive(Debug, Default)]
struct FakeState {
    images: BTreeSet<String>,
    containers: BTreeMap<String, ObservedContainer>,
    created: BTreeMap<String, DesiredContainer>,
    next_id: u64,
    operations: Vec<String>,
    /// New containers' probes never pass: their health stays `starting`.
    probes_pending: bool,
}

impl FakeRuntime {
    /// A fake engine holding `images`.
    pub fn with_images<I: IntoIterator<Item = S>, S: Into<String>>(images: I) -> Self {
        let rt = Self::default();
        rt.state.lock().images = images.into_iter().map(Into::into).collect();
        rt
    }

    /// Adds an image.
    pub fn add_image(&self, image: &str) {
        self.state.lock().images.insert(image.to_string());
    }

    /// Every container, by id.
    pub fn containers(&self) -> Vec<ObservedContainer> {
        self.state.lock().containers.values().cloned().collect()
    }

    /// The spec a container was created from (None for ones added with [`Self::insert`]).
    pub fn created_from(&self, id: &str) -> Option<DesiredContainer> {
        self.state.lock().created.get(id).cloned()
    }

    /// Operations performed so far (`create <name>`, `start <name>`, `remove <name>`).
    pub fn operations(&self) -> Vec<String> {
        self.state.lock().operations.clone()
    }

    /// Simulates the process of container `id` exiting (or being killed).
    pub fn kill(&self, id: &str) {
        if let Some(c) = self.state.lock().containers.get_mut(id) {
            c.state = ContainerState::Exited;
            c.status = "Exited (137)".into();
        }
    }

    /// Sets the health of the container named `name` (as the engine's probes would).
    pub fn set_health(&self, name: &str, health: Option<Health>) {
        for c in self.state.lock().containers.values_mut() {
            if c.name == name {
                c.health = health;
            }
        }
    }

    /// From now on, new containers' probes never pass: their health stays `starting`.
    pub fn hold_probes(&self) {
        self.state.lock().probes_pending = true;
    }

    /// Simulates `docker rm -f` by hand.
    pub fn delete(&self, id: &str) {
        self.state.lock().containers.remove(id);
    }

    /// Adds a container as if created by hand with the given labels; returns its id.
    pub fn insert(&self, name: &str, image: &str, labels: BTreeMap<String, String>) -> String {
        let mut s = self.state.lock();
        let id = s.new_id();
        s.containers.insert(
            id.clone(),
            ObservedContainer {
                id: id.clone(),
                name: name.to_string(),
                image: image.to_string(),
                state: ContainerState::Running,
                status: "Up".into(),
                labels,
                health: None,
                health_log: String::new(),
            },
        );
        id
    }
}

impl FakeState {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:012x}", self.next_id)
    }
}

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    async fn list_managed(
        &self,
        colony: &str,
        blueprint: Option<&str>,
    ) -> Result<Vec<ObservedContainer>, RuntimeError> {
        let s = self.state.lock();
        Ok(s.containers
            .values()
            .filter(|c| {
                c.label(labels::MANAGED) == "true"
                    && c.label(labels::COLONY) == colony
                    && blueprint.is_none_or(|b| c.label(labels::BLUEPRINT) == b)
            })
            .cloned()
            .collect())
    }

    async fn create_and_start(&self, desired: &DesiredContainer) -> Result<String, RuntimeError> {
        let mut s = self.state.lock();
        if !s.images.contains(&desired.image) {
            return Err(RuntimeError::ImageMissing {
                image: desired.image.clone(),
                reason: "not in the fake engine".into(),
            });
        }
        if s.containers.values().any(|c| c.name == desired.name) {
            return Err(RuntimeError::Engine(format!(
                "Conflict: the name {} is already in use",
                desired.name
            )));
        }
        let id = s.new_id();
        let health = match (&desired.health_check, s.probes_pending) {
            (None, _) => None,
            (Some(_), true) => Some(Health::Starting),
            // The fake's probes pass at once.
            (Some(_), false) => Some(Health::Healthy),
        };
        s.containers.insert(
            id.clone(),
            ObservedContainer {
                id: id.clone(),
                name: desired.name.clone(),
                image: desired.image.clone(),
                state: ContainerState::Running,
                status: "Up".into(),
                labels: desired.labels(),
                health,
                health_log: String::new(),
            },
        );
        s.created.insert(id.clone(), desired.clone());
        s.operations.push(format!("create {}", desired.name));
        Ok(id)
    }

    async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        let mut s = self.state.lock();
        let c = s
            .containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
        c.state = ContainerState::Running;
        c.status = "Up".into();
        let op = format!("start {}", c.name);
        s.operations.push(op);
        Ok(())
    }

    async fn stop_and_remove(&self, id: &str) -> Result<(), RuntimeError> {
        let mut s = self.state.lock();
        if let Some(c) = s.containers.remove(id) {
            s.operations.push(format!("remove {}", c.name));
        }
        Ok(())
    }

    async fn inspect(&self, id: &str) -> Result<Option<ObservedContainer>, RuntimeError> {
        Ok(self.state.lock().containers.get(id).cloned())
    }

    async fn logs_tail(&self, id: &str, _lines: usize) -> Result<Vec<String>, RuntimeError> {
        if self.state.lock().containers.contains_key(id) {
            Ok(vec![format!("output of {id}")])
        } else {
            Err(RuntimeError::NotFound(id.to_string()))
        }
    }
}
