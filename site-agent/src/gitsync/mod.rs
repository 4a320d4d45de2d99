//! GitOps sync: fetch the domain repository, read this site's blueprint files and converge the
//! colony's managed blueprints (those with the `maestro.io/intent-id` annotation) to them.

pub mod files;
pub mod mirror;
pub mod notices;
pub mod order;
pub mod state;
mod sync;
pub mod trust;
pub mod verify;

pub use mirror::{Entry, GitMirror, Snapshot};
pub use state::{SharedSyncState, SyncState};
pub use sync::{GitSync, SyncTiming, Verification};
