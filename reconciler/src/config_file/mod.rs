//! The config file reconciler: converges `ConfigFile` blueprints into configuration files of
//! gateway software under one managed directory (executor type `config-file-reconciler`).
//!
//! Spec: `{files: [{path, content, mode?}]}` — `path` relative to the managed directory, every
//! component a validated name; `mode` an octal string (default `0644`, at most `0777`).
//! Each file is written atomically (temporary file, fsync, rename, fsync of the folder); the
//! status lists every file with its SHA-256, mode and size. Files of removed blueprints are
//! deleted (orphans too, after a restart); files the reconciler did not write — and anything
//! outside its directory or behind a symbolic link — are never touched.

mod disk;
mod manifest;
mod reconcile;
mod registration;
pub mod spec;

pub use disk::{ManagedDir, OnDisk};
pub use manifest::{Manifest, Written};
pub use reconcile::{ConfigFileReconciler, FileStep, FilesDesired, ObservedFile, plan_files};
pub use registration::{ConfigFileRegistration, DEFAULT_DIR};
pub use spec::{EXECUTOR_TYPE, FileSpec, KIND};
