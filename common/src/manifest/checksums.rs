//! A site's checksums file, `checksums/<site>.sha256`: the SHA-256 of every file under
//! `sites/<site>/`, one `<hash>  <path>` line each in path order (the format `sha256sum`
//! writes and `sha256sum -c` reads). The manifest names the SHA-256 of each site's checksums
//! file instead of listing every file of every site, so what a site reads and checks grows
//! with its own files, and the manifest with the number of sites, not of files.

use std::collections::BTreeMap;

use super::{CHECKSUMS_DIR, MAX_CHECKSUMS_BYTES, sha256_hex};

/// Where the checksums of `site`'s files are, relative to the repository's root.
pub fn checksums_path(site: &str) -> String {
    format!("{CHECKSUMS_DIR}/{site}.sha256")
}

/// What a v2 manifest covers of a tree: the files outside every site's folder, and one checksums
/// file per site that has files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Files outside `sites/<site>/` (the definitions): path → SHA-256.
    pub files: BTreeMap<String, String>,
    /// Each site's checksums file: site → its text.
    pub checksums: BTreeMap<String, String>,
    /// Each site's checksums file: site → its SHA-256 (what the manifest names).
    pub sites: BTreeMap<String, String>,
}

impl Scope {
    /// The scope of `files` (path → content, every path under a covered folder).
    pub fn of<C: AsRef<[u8]>>(files: &BTreeMap<String, C>) -> Self {
        let mut scope = Self::default();
        // In path order, so each site's lines are too.
        for (path, content) in files {
            let hash = sha256_hex(content.as_ref());
            match site_of(path) {
                Some(site) => {
                    let text = scope.checksums.entry(site.to_string()).or_default();
                    text.push_str(&hash);
                    text.push_str("  ");
                    text.push_str(path);
                    text.push('\n');
                }
                None => {
                    scope.files.insert(path.clone(), hash);
                }
            }
        }
        scope.sites = scope
            .checksums
            .iter()
            .map(|(site, text)| (site.clone(), sha256_hex(text.as_bytes())))
            .collect();
        scope
    }

    /// The checksums files as repository paths and their text.
    pub fn files_to_write(&self) -> impl Iterator<Item = (String, &String)> {
        self.checksums
            .iter()
            .map(|(site, text)| (checksums_path(site), text))
    }
}

/// The site whose folder holds `path` (`sites/<site>/<at least one more part>`).
pub(super) fn site_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("sites/")?;
    let (site, below) = rest.split_once('/')?;
    (!site.is_empty() && !below.is_empty()).then_some(site)
}

/// Parses the checksums file of `site` (at most [`MAX_CHECKSUMS_BYTES`]): path → SHA-256. Every
/// line must be `<64 lowercase hex>  <path>` with a path under `sites/<site>/` that the manifest
/// could list, in strictly increasing path order; the error says which line and why.
pub fn parse_checksums(site: &str, bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
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
    let prefix = format!("sites/{site}/");
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
        if !path.starts_with(&prefix) {
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
