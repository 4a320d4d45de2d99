//! `manifest.json`: what a domain signs for one commit.

use std::collections::BTreeMap;

use super::checksums::{Scope, site_of};
use super::keys::KeySet;
use super::{COVERED_DIRS, FORMAT, FORMAT_V2, MAX_MANIFEST_BYTES};
use crate::FieldError;

/// Longest path a manifest lists.
const MAX_PATH_BYTES: usize = 1024;

/// The desired state of one commit as its domain signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The domain that issued it.
    pub domain: String,
    /// Only increases from one manifest of the domain to the next.
    pub version: u64,
    /// When it was signed (millis since the epoch).
    pub issued_at_ms: i64,
    /// After this (millis since the epoch) sites no longer accept it as current.
    pub expires_at_ms: i64,
    /// The keys sites must trust from this manifest on (a rotation when it differs from theirs).
    pub key_set: KeySet,
    /// Path → SHA-256 (lowercase hex). Version 1: every file under `definitions/` and
    /// `sites/`. Version 2: every file under `definitions/` and each shard's checksums file,
    /// which covers the sites' files (see [`super::checksums`]).
    pub files: BTreeMap<String, String>,
    /// Whether the sites' files are covered by checksums files (version 2) or listed here.
    pub checksums: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    format: String,
    domain: String,
    version: u64,
    issued_at: String,
    expires_at: String,
    key_set: KeySet,
    files: BTreeMap<String, String>,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(String::new, |d| {
        d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    })
}

fn parse_time(field: &str, text: &str) -> Result<i64, FieldError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|d| d.timestamp_millis())
        .map_err(|e| FieldError::new(field, format!("not an RFC 3339 time: {e}")))
}

/// Checks a listed path: under a covered folder, relative, no empty, `.` or `..` parts, no
/// control characters or backslashes, bounded.
pub(super) fn check_path(path: &str) -> Result<(), String> {
    if path.len() > MAX_PATH_BYTES {
        return Err(format!("longer than {MAX_PATH_BYTES} bytes"));
    }
    let mut parts = path.split('/');
    let top = parts.next().unwrap_or_default();
    if !COVERED_DIRS.contains(&top) {
        return Err(format!("not under {}", COVERED_DIRS.join("/ or ")));
    }
    let mut count = 0;
    for p in parts {
        count += 1;
        if p.is_empty() || p == "." || p == ".." {
            return Err("empty, `.` or `..` path component".into());
        }
        if p.chars().any(|c| c.is_control() || c == '\\') {
            return Err("control character or backslash".into());
        }
    }
    if count == 0 {
        return Err("names a folder, not a file".into());
    }
    Ok(())
}

pub(super) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Manifest {
    /// The manifest of `files` (path → content): their SHA-256, the rest as given.
    pub fn of_files<'a>(
        domain: &str,
        version: u64,
        issued_at_ms: i64,
        expires_at_ms: i64,
        key_set: KeySet,
        files: impl IntoIterator<Item = (&'a String, &'a [u8])>,
    ) -> Self {
        Self {
            domain: domain.to_string(),
            version,
            issued_at_ms,
            expires_at_ms,
            key_set,
            files: files
                .into_iter()
                .map(|(p, c)| (p.clone(), super::sha256_hex(c)))
                .collect(),
            checksums: false,
        }
    }

    /// The version 2 manifest of `scope` ([`Scope::of`] the tree's files): the definitions and
    /// the shards' checksums files listed.
    pub fn of_scope(
        domain: &str,
        version: u64,
        issued_at_ms: i64,
        expires_at_ms: i64,
        key_set: KeySet,
        scope: &Scope,
    ) -> Self {
        let none: [(&String, &[u8]); 0] = [];
        Self {
            files: scope.files.clone(),
            checksums: true,
            ..Self::of_files(domain, version, issued_at_ms, expires_at_ms, key_set, none)
        }
    }

    /// The bytes stored in `manifest.json` and signed: pretty JSON with a fixed key order
    /// (files sorted by path), so the same manifest always gives the same bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let format = if self.checksums { FORMAT_V2 } else { FORMAT };
        let wire = Wire {
            format: format.to_string(),
            domain: self.domain.clone(),
            version: self.version,
            issued_at: rfc3339(self.issued_at_ms),
            expires_at: rfc3339(self.expires_at_ms),
            key_set: self.key_set.clone(),
            files: self.files.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&wire).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Parses and validates `manifest.json` (at most [`MAX_MANIFEST_BYTES`]); the error names
    /// the field. Parse only bytes whose signatures were checked.
    pub fn parse(bytes: &[u8]) -> Result<Self, FieldError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(FieldError::new(
                "",
                format!(
                    "{} bytes, over the limit of {MAX_MANIFEST_BYTES}",
                    bytes.len()
                ),
            ));
        }
        let wire: Wire = serde_json::from_slice(bytes)
            .map_err(|e| FieldError::new("", format!("not a manifest: {e}")))?;
        let v2 = match wire.format.as_str() {
            FORMAT => false,
            FORMAT_V2 => true,
            other => {
                return Err(FieldError::new(
                    "format",
                    format!("{other:?} is neither {FORMAT:?} nor {FORMAT_V2:?}"),
                ));
            }
        };
        crate::names::validate_name("domain", &wire.domain)?;
        let issued_at_ms = parse_time("issued_at", &wire.issued_at)?;
        let expires_at_ms = parse_time("expires_at", &wire.expires_at)?;
        if expires_at_ms <= issued_at_ms {
            return Err(FieldError::new("expires_at", "not after issued_at"));
        }
        wire.key_set.validate("key_set")?;
        for (path, hash) in &wire.files {
            let field = format!("files[{path:?}]");
            check_path(path).map_err(|reason| FieldError::new(&field, reason))?;
            if !is_sha256_hex(hash) {
                return Err(FieldError::new(
                    field,
                    "a SHA-256 is 64 lowercase hex digits",
                ));
            }
            if v2 && site_of(path).is_some() {
                return Err(FieldError::new(
                    field,
                    "a site's file is listed in its checksums file (version 2), not here",
                ));
            }
        }
        Ok(Self {
            domain: wire.domain,
            version: wire.version,
            issued_at_ms,
            expires_at_ms,
            key_set: wire.key_set,
            files: wire.files,
            checksums: v2,
        })
    }

    /// The listed files under `prefix` (e.g. `sites/north-1/`), path → SHA-256.
    pub fn files_under<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a String)> {
        files_under(&self.files, prefix)
    }
}

/// The entries of `files` (path → SHA-256) under `prefix`, in path order.
pub fn files_under<'a>(
    files: &'a BTreeMap<String, String>,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a String, &'a String)> {
    files
        .range(prefix.to_string()..)
        .take_while(move |(p, _)| p.starts_with(prefix))
}
