//! Checksums files: how a version 2 manifest covers the sites' files without listing them.
//!
//! - `checksums/<shard>/<site>.sha256`: the SHA-256 of every file under `sites/<site>/`;
//! - `checksums/<shard>.sha256`: the SHA-256 of the checksums file of every site of the shard;
//! - the manifest lists the definitions and every shard's file with its SHA-256.
//!
//! Each is one `<sha256>  <path>` line per file, in path order: the format `sha256sum` writes and
//! `sha256sum -c` checks from the repository's root. A site's shard is the first two hex digits of
//! the SHA-256 of its name, so at most 256 shards share out the sites evenly. A site reads the
//! manifest, its shard's file and its own checksums file: what it reads grows with its own files,
//! not with the other sites', and what a domain rewrites for a change to one site is that site's
//! checksums file, its shard's file and a manifest of at most 256 shards and the definitions.

use std::collections::BTreeMap;

use super::{CHECKSUMS_DIR, MAX_CHECKSUMS_BYTES, sha256_hex};

/// The shard of `site`: the first two hex digits of the SHA-256 of its name.
pub fn shard_of(site: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, site.as_bytes());
    hex::encode(&digest.as_ref()[..1])
}

/// The file of `site`'s shard, relative to the repository's root.
pub fn shard_path(site: &str) -> String {
    paths(site).0
}

/// The checksums file of `site`, relative to the repository's root.
pub fn checksums_path(site: &str) -> String {
    paths(site).1
}

/// `site`'s shard's file and its own checksums file (its name hashed once).
fn paths(site: &str) -> (String, String) {
    let shard = shard_of(site);
    (
        format!("{CHECKSUMS_DIR}/{shard}.sha256"),
        format!("{CHECKSUMS_DIR}/{shard}/{site}.sha256"),
    )
}

/// What a version 2 manifest covers of a tree, and the checksums files that cover the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// What the manifest lists: every file outside the sites' folders (the definitions) and
    /// every shard's file, path → SHA-256.
    pub files: BTreeMap<String, String>,
    /// Every checksums file (each site's with files, each shard's with sites), path → text.
    pub checksums: BTreeMap<String, String>,
}

impl Scope {
    /// The scope of `files` (path → content, every path under a covered folder).
    pub fn of<C: AsRef<[u8]>>(files: &BTreeMap<String, C>) -> Self {
        Self::of_with(files, |_, bytes| sha256_hex(bytes))
    }

    /// [`Self::of`], taking the SHA-256 (lowercase hex) of the file or checksums file at a path
    /// with these bytes from `sha256`: a caller that knows the digests of unchanged files need not
    /// hash them again.
    pub fn of_with<C: AsRef<[u8]>>(
        files: &BTreeMap<String, C>,
        mut sha256: impl FnMut(&str, &[u8]) -> String,
    ) -> Self {
        let mut scope = Self::default();
        // In path order, so each site's lines are too.
        let mut sites: BTreeMap<&str, String> = BTreeMap::new();
        for (path, content) in files {
            let hash = sha256(path, content.as_ref());
            match site_of(path) {
                Some(site) => line(sites.entry(site).or_default(), &hash, path),
                None => {
                    scope.files.insert(path.clone(), hash);
                }
            }
        }
        let mut shards: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (site, text) in sites {
            let (shard, path) = paths(site);
            shards
                .entry(shard)
                .or_default()
                .insert(path.clone(), sha256(&path, text.as_bytes()));
            scope.checksums.insert(path, text);
        }
        for (path, listed) in shards {
            let mut text = String::new();
            for (p, hash) in &listed {
                line(&mut text, hash, p);
            }
            scope
                .files
                .insert(path.clone(), sha256(&path, text.as_bytes()));
            scope.checksums.insert(path, text);
        }
        scope
    }
}

fn line(text: &mut String, hash: &str, path: &str) {
    text.push_str(hash);
    text.push_str("  ");
    text.push_str(path);
    text.push('\n');
}

/// The site whose folder holds `path` (`sites/<site>/<at least one more part>`).
pub(super) fn site_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("sites/")?;
    let (site, below) = rest.split_once('/')?;
    (!site.is_empty() && !below.is_empty()).then_some(site)
}

/// Parses a checksums file (at most [`MAX_CHECKSUMS_BYTES`]) whose paths must all be under
/// `prefix`: path → SHA-256. Every line must be `<64 lowercase hex>  <path>` with a path a
/// manifest could list, in strictly increasing path order; the error says which line and why.
pub fn parse_checksums(prefix: &str, bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    if bytes.len() > MAX_CHECKSUMS_BYTES {
        return Err(format!(
            "{} bytes, over the limit of {MAX_CHECKSUMS_BYTES}",
            bytes.len()
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the last line does not end with a newline".into());
    }
    let mut files = BTreeMap::new();
    let mut last: Option<&str> = None;
    for (n, line) in text.lines().enumerate() {
        let at = |why: String| format!("line {}: {why}", n + 1);
        let (hash, path) = match (line.get(..64), line.get(64..66), line.get(66..)) {
            (Some(h), Some("  "), Some(p)) => (h, p),
            _ => return Err(at("not `<sha256>  <path>`".into())),
        };
        if !super::document::is_sha256_hex(hash) {
            return Err(at("a SHA-256 is 64 lowercase hex digits".into()));
        }
        super::document::check_path(path).map_err(|why| at(format!("{path:?}: {why}")))?;
        if !path.starts_with(prefix) {
            return Err(at(format!("{path:?} is not under {prefix}")));
        }
        if last.is_some_and(|l| l >= path) {
            return Err(at(format!("{path:?} is out of order or repeated")));
        }
        last = Some(path);
        files.insert(path.to_string(), hash.to_string());
    }
    Ok(files)
}
