//! The signed manifest of a domain's desired state: the contract between the domain that signs
//! every commit it publishes and the sites that verify it before applying anything.
//!
//! A commit carries two files at the root of the tree, outside the folders they cover:
//!
//! - `manifest.json` ([`Manifest`]): the domain, a version that only increases, when it was issued
//!   and when it expires, the key set sites must trust from now on ([`KeySet`]: ed25519 public keys
//!   and a threshold), and the SHA-256 of every file under `definitions/` and `sites/`.
//! - `manifest.sig` ([`Signatures`]): ed25519 signatures of the exact bytes of `manifest.json`.
//!
//! Signatures cover bytes, never a re-encoding: a verifier checks the signatures over the bytes
//! it read and only then parses them. Everything read from a commit is bounded
//! ([`MAX_MANIFEST_BYTES`], [`MAX_SIGNATURES_BYTES`]) and validated field by field.

mod document;
mod keys;
mod signatures;

pub use document::Manifest;
pub use keys::{KeyError, KeySet, MAX_KEYS, PublicKey, SigningKey};
pub use signatures::{SignatureEntry, Signatures};

/// Name of the manifest file at the root of a commit.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Name of the detached signatures file at the root of a commit.
pub const SIGNATURES_FILE: &str = "manifest.sig";
/// Most bytes of `manifest.json`.
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;
/// Most bytes of `manifest.sig`.
pub const MAX_SIGNATURES_BYTES: usize = 64 * 1024;
/// The `format` every manifest names.
pub const FORMAT: &str = "maestro.manifest/v1";
/// The top-level folders whose files a manifest lists.
pub const COVERED_DIRS: [&str; 2] = ["definitions", "sites"];

/// The SHA-256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

#[cfg(test)]
mod tests;
