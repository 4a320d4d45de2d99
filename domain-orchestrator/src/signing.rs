//! Signing the desired state: every commit the domain publishes carries a manifest
//! (`maestro_common::manifest`) signed with the domain's signing keys, with a version that only
//! increases ([`VersionCounter`], durable in sled) and an expiry; [`refresh`] re-signs the branch
//! before the manifest expires, so sites never see it go stale while the domain is up.

mod refresh;
mod settings;
mod signer;
mod versions;

pub use refresh::{check_interval, refresh_manifests};
pub use settings::{KeySetSettings, SigningSettings};
pub use signer::{ManifestSigner, SignedManifest};
pub use versions::VersionCounter;
