//! The signed manifest of a domain's desired state: the contract between the domain that signs
//! every commit it publishes and the sites that verify it before applying anything.
//!
//! A commit carries two files at the root of the tree, outside the folders they cover:
//!
//! - `manifest.json` ([`Manifest`]): the domain, a version that only increases, when it was issued
//!   and when it expires, the key set sites must trust from now on ([`KeySet`]: ed25519 public keys
//!   and a threshold), and the SHA-256 of every file under `definitions/` and of every shard's
//!   checksums file, which cover the sites' files ([`checksums`]: version 2). Version 1 listed
//!   every file under `sites/` instead; sites still accept it.
//! - `manifest.sig` ([`Signatures`]): ed25519 signatures of the exact bytes of `manifest.json`.
//!
//! Signatures cover bytes, never a re-encoding: a verifier checks the signatures over the bytes
//! it read and only then parses them. Everything read from a commit is bounded
//! ([`MAX_MANIFEST_BYTES`], [`MAX_SIGNATURES_BYTES`]) and validated field by field.

pub mod checksums;
mod document;
mod keys;
mod signatures;

pub use checksums::{Scope, checksums_path, parse_checksums, shard_path};
pub use document::{Manifest, files_under};
pub use keys::{KeyError, KeySet, MAX_KEYS, PublicKey, SigningKey};
pub use signatures::{SignatureEntry, Signatures};

/// Name of the manifest file at the root of a commit.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Name of the detached signatures file at the root of a commit.
pub const SIGNATURES_FILE: &str = "manifest.sig";
/// Most bytes of `manifest.json` (version 2: the definitions and at most 256 shards' files).
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;
/// Most bytes of one checksums file (about 140 bytes per line: a site's 1,000 files, or 3,700
/// sites of one shard, about 950,000 sites in all).
pub const MAX_CHECKSUMS_BYTES: usize = 512 * 1024;
/// The folder of the sites' checksums files.
pub const CHECKSUMS_DIR: &str = "checksums";
/// Most bytes of `manifest.sig`.
pub const MAX_SIGNATURES_BYTES: usize = 64 * 1024;
/// The `format` a version 1 manifest names (every file listed in it).
pub const FORMAT: &str = "maestro.manifest/v1";
/// The `format` a version 2 manifest names (each site's files in its checksums file).
pub const FORMAT_V2: &str = "maestro.manifest/v2";
/// The top-level folders whose files a manifest lists.
pub const COVERED_DIRS: [&str; 3] = ["definitions", "sites", CHECKSUMS_DIR];

/// The SHA-256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    // Into a buffer first: `hex::encode` pushes its digits one `char` at a time, which was a
    // tenth of a signed publish's hashing.
    let mut digits = [0u8; 64];
    match hex::encode_to_slice(digest, &mut digits) {
        Ok(()) => String::from_utf8_lossy(&digits).into_owned(),
        Err(_) => hex::encode(digest),
    }
}

#[cfg(test)]
mod tests;
