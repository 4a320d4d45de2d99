//! `ConfigFile` as a [`Reconciler`]: desired = the spec's files, observed = the manifest's
//! entries of the blueprint with what the disk holds, steps = write / adopt / remove.

use std::collections::BTreeSet;

use async_trait::async_trait;
use colony::model::Blueprint;
use serde_json::{Map, Value};

use super::disk::{ManagedDir, OnDisk};
use super::manifest::{Manifest, Written};
use super::spec::{FileSpec, KIND, parse};
use crate::{Error, InstanceStatus, Outcome, Reconciler, Status};

/// What a `ConfigFile` blueprint asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesDesired {
    /// The files.
    pub files: Vec<FileSpec>,
    /// The blueprint generation.
    pub generation: i64,
}

/// One file of the blueprint as recorded and as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedFile {
    /// What the reconciler wrote there.
    pub written: Written,
    /// What the disk holds (`None`: missing; `Err`: not a regular file we may touch).
    pub on_disk: Result<Option<OnDisk>, String>,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStep {
    /// Write the file (missing, changed on disk, or a new content or mode).
    Write(FileSpec),
    /// The file is already right: record it for the new generation.
    Adopt(FileSpec),
    /// Remove a file the blueprint no longer lists.
    Remove(String),
}

/// The config file reconciler.
#[derive(Debug)]
pub struct ConfigFileReconciler {
    dir: ManagedDir,
    manifest: Manifest,
}

impl ConfigFileReconciler {
    /// A reconciler writing under `dir`, recording in `manifest`.
    pub fn new(dir: ManagedDir, manifest: Manifest) -> Self {
        Self { dir, manifest }
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Pure: the steps for `observed` towards `desired` (every file removed when `None`).
pub fn plan_files(desired: Option<&FilesDesired>, observed: &[ObservedFile]) -> Vec<FileStep> {
    let mut steps = Vec::new();
    let wanted: BTreeSet<&str> = desired
        .map(|d| d.files.iter().map(|f| f.path.as_str()).collect())
        .unwrap_or_default();
    for o in observed {
        if !wanted.contains(o.written.path.as_str()) {
            steps.push(FileStep::Remove(o.written.path.clone()));
        }
    }
    let Some(d) = desired else { return steps };
    for f in &d.files {
        let seen = observed.iter().find(|o| o.written.path == f.path);
        let on_disk_right = seen.is_some_and(|o| {
            matches!(&o.on_disk, Ok(Some(disk)) if disk.sha256 == f.sha256 && disk.mode == f.mode)
        });
        match seen {
            Some(o) if on_disk_right && o.written.generation == d.generation => {}
            Some(_) if on_disk_right => steps.push(FileStep::Adopt(f.clone())),
            _ => steps.push(FileStep::Write(f.clone())),
        }
    }
    steps
}

#[async_trait]
impl Reconciler for ConfigFileReconciler {
    type Desired = FilesDesired;
    type Observed = Vec<ObservedFile>;
    type Action = FileStep;

    fn kinds(&self) -> &'static [&'static str] {
        &[KIND]
    }

    fn desired(&self, bp: &Blueprint) -> Result<FilesDesired, String> {
        Ok(FilesDesired {
            files: parse(&bp.spec)?,
            generation: bp.metadata.generation,
        })
    }

    async fn observe(&self, name: &str) -> Result<Vec<ObservedFile>, Error> {
        Ok(self
            .manifest
            .of_blueprint(name)?
            .into_iter()
            .map(|written| ObservedFile {
                on_disk: self.dir.read(&written.path),
                written,
            })
            .collect())
    }

    fn plan(&self, desired: Option<&FilesDesired>, observed: &Vec<ObservedFile>) -> Vec<FileStep> {
        plan_files(desired, observed)
    }

    async fn apply(
        &self,
        name: &str,
        desired: Option<&FilesDesired>,
        _observed: &Vec<ObservedFile>,
        step: FileStep,
    ) -> Outcome {
        let generation = desired.map_or(0, |d| d.generation);
        match step {
            FileStep::Write(f) | FileStep::Adopt(f) if self.owner_is_other(&f.path, name) => {
                Outcome::failed(format!(
                    "{}: belongs to blueprint {}; not written",
                    f.path,
                    self.owner(&f.path).unwrap_or_default()
                ))
            }
            FileStep::Write(f) => {
                if let Err(e) = self.dir.write(&f.path, f.content.as_bytes(), f.mode) {
                    return Outcome::failed(e);
                }
                match self.record(name, &f, generation).await {
                    Ok(()) => Outcome::done(format!(
                        "wrote {} (sha256 {}, mode {:04o}, {} bytes)",
                        f.path,
                        short(&f.sha256),
                        f.mode,
                        f.content.len()
                    )),
                    Err(e) => Outcome::failed(format!("recording {}: {e}", f.path)),
                }
            }
            FileStep::Adopt(f) => match self.record(name, &f, generation).await {
                Ok(()) => Outcome::default(),
                Err(e) => Outcome::failed(format!("recording {}: {e}", f.path)),
            },
            FileStep::Remove(path) => match self.dir.remove(&path) {
                Ok(existed) => match self.manifest.remove(&path).await {
                    Ok(()) if existed => Outcome::done(format!("removed {path}")),
                    Ok(()) => Outcome::done(format!("forgot {path} (already gone)")),
                    Err(e) => Outcome::failed(format!("forgetting {path}: {e}")),
                },
                Err(e) => Outcome::failed(e),
            },
        }
    }

    fn status(&self, desired: Option<&FilesDesired>, observed: &Vec<ObservedFile>) -> Status {
        let want = |path: &str| desired.and_then(|d| d.files.iter().find(|f| f.path == path));
        let mut running = 0u32;
        let instances = observed
            .iter()
            .map(|o| {
                let path = o.written.path.as_str();
                let (state, disk) = match (&o.on_disk, want(path)) {
                    (Ok(Some(disk)), Some(f)) if disk.sha256 == f.sha256 && disk.mode == f.mode => {
                        running += 1;
                        ("running", Some(disk))
                    }
                    (Ok(Some(disk)), Some(_)) => ("modified", Some(disk)),
                    (Ok(Some(disk)), None) => ("unwanted", Some(disk)),
                    (Ok(None), _) => ("missing", None),
                    (Err(_), _) => ("blocked", None),
                };
                let mut extra = Map::new();
                if let Some(disk) = disk {
                    extra.insert("sha256".into(), Value::String(disk.sha256.clone()));
                    extra.insert("mode".into(), Value::String(format!("{:04o}", disk.mode)));
                    extra.insert("bytes".into(), Value::from(disk.bytes));
                }
                InstanceStatus {
                    name: path.to_string(),
                    id: disk
                        .map(|d| short(&d.sha256).to_string())
                        .unwrap_or_default(),
                    instance_type: "file",
                    state: state.to_string(),
                    generation: Some(o.written.generation),
                    extra,
                }
            })
            .collect();
        Status {
            instances,
            running,
            total: desired.map_or(0, |d| u32::try_from(d.files.len()).unwrap_or(u32::MAX)),
        }
    }

    async fn existing(&self) -> Result<BTreeSet<String>, Error> {
        Ok(self
            .manifest
            .all()?
            .into_iter()
            .map(|w| w.blueprint)
            .collect())
    }
}

impl ConfigFileReconciler {
    fn owner(&self, path: &str) -> Option<String> {
        self.manifest.get(path).ok().flatten().map(|w| w.blueprint)
    }

    fn owner_is_other(&self, path: &str, name: &str) -> bool {
        self.owner(path).is_some_and(|b| b != name)
    }

    async fn record(&self, name: &str, f: &FileSpec, generation: i64) -> Result<(), Error> {
        self.manifest
            .put(&Written {
                path: f.path.clone(),
                blueprint: name.to_string(),
                sha256: f.sha256.clone(),
                mode: f.mode,
                generation,
            })
            .await
    }
}

#[cfg(test)]
mod tests;
