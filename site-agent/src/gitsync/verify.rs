//! Verifying a commit before anything of it is applied, in this order: its manifest must carry
//! valid signatures of `threshold` distinct trusted keys (checked over the stored bytes, before
//! they are parsed), name this site's domain, list exactly the files the site reads with their
//! SHA-256 (a version 2 manifest lists the definitions and the site's shard's checksums file,
//! which lists the site's checksums file, which lists the site's files), be newer than what the
//! site accepted last, not be expired, and, when it announces a new key set, be signed by that
//! set's threshold too. Pure: no I/O, the time is an input.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use maestro_common::manifest::{
    CHECKSUMS_DIR, KeySet, Manifest, Signatures, checksums_path, files_under, parse_checksums,
    sha256_hex, shard_path,
};

use super::mirror::Entry;

/// How far in the future an `issued_at` may lie (clock skew between domain and site).
pub const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// A commit as the site read it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Commit id.
    pub commit: &'a str,
    /// `manifest.json`, when the commit has one.
    pub manifest: Option<&'a Entry>,
    /// `manifest.sig`, when the commit has one.
    pub signatures: Option<&'a Entry>,
    /// The site.
    pub site: &'a str,
    /// The checksums files of the site's shard and of the site, by path, those the commit has.
    pub checksums: &'a [(String, Entry)],
    /// Every file the site reads, by its path in the repository.
    pub files: &'a [(String, &'a Entry)],
    /// Prefixes of the paths the site reads (`definitions/`, `sites/<site>/`).
    pub scopes: &'a [String],
}

/// What the site trusts and accepted before.
#[derive(Debug, Clone, Copy)]
pub struct Trust<'a> {
    /// The site's domain.
    pub domain: &'a str,
    /// The keys that must sign.
    pub keys: &'a KeySet,
    /// The version and commit accepted last.
    pub last: Option<(u64, &'a str)>,
    /// Now (millis since the epoch).
    pub now_ms: i64,
}

/// Why a commit was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The commit has no (readable) `manifest.json`.
    ManifestMissing(String),
    /// The commit has no (readable) `manifest.sig`.
    SignaturesMissing(String),
    /// `manifest.sig` does not parse.
    SignaturesInvalid(String),
    /// Fewer than the threshold of distinct trusted keys signed.
    SignatureInvalid {
        /// Valid signatures of distinct trusted keys.
        valid: u32,
        /// How many are required.
        required: u32,
    },
    /// The signed manifest does not parse.
    ManifestInvalid(String),
    /// Another domain's manifest.
    WrongDomain(String),
    /// A version older than the one accepted last.
    Rollback {
        /// The commit's version.
        version: u64,
        /// The version accepted last.
        accepted: u64,
    },
    /// The version accepted last, in another commit.
    Replay {
        /// The version.
        version: u64,
        /// The commit it was accepted in.
        commit: String,
    },
    /// The manifest expired.
    Expired(i64),
    /// The manifest was issued in the future.
    IssuedInFuture(i64),
    /// A file the site reads is not listed.
    NotInManifest(String),
    /// A file's SHA-256 differs from the listed one.
    HashMismatch(String),
    /// A listed file is not in the commit.
    Missing(String),
    /// The manifest announces a new key set that did not sign it.
    RotationNotSigned {
        /// Valid signatures of distinct keys of the new set.
        valid: u32,
        /// Its threshold.
        required: u32,
    },
}

fn short(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = maestro_common::time::rfc3339;
        match self {
            Self::ManifestMissing(why) => write!(f, "unsigned: manifest missing ({why})"),
            Self::SignaturesMissing(why) => write!(f, "signature missing ({why})"),
            Self::SignaturesInvalid(why) => write!(f, "signature invalid: {why}"),
            Self::SignatureInvalid { valid, required } => write!(
                f,
                "signature invalid: {valid} valid signature(s) of trusted keys, {required} required"
            ),
            Self::ManifestInvalid(why) => write!(f, "manifest invalid: {why}"),
            Self::WrongDomain(d) => write!(f, "manifest of domain {d}, not this site's"),
            Self::Rollback { version, accepted } => write!(
                f,
                "rollback: manifest version {version} is older than the applied version {accepted}"
            ),
            Self::Replay { version, commit } => write!(
                f,
                "rollback: manifest version {version} was applied as commit {}",
                short(commit)
            ),
            Self::Expired(at) => write!(f, "manifest expired at {}", time(*at)),
            Self::IssuedInFuture(at) => write!(f, "manifest issued in the future ({})", time(*at)),
            Self::NotInManifest(p) => write!(f, "file {p} is not in the manifest"),
            Self::HashMismatch(p) => {
                write!(f, "file {p} does not match the manifest (hash mismatch)")
            }
            Self::Missing(p) => write!(f, "file {p} of the manifest is missing"),
            Self::RotationNotSigned { valid, required } => write!(
                f,
                "key rotation not signed by the new key set ({valid} of {required} signatures)"
            ),
        }
    }
}

fn bytes(entry: Option<&Entry>, missing: fn(String) -> Refusal) -> Result<&[u8], Refusal> {
    match entry {
        Some(Entry::File(b)) => Ok(b),
        None => Err(missing("not in the commit".into())),
        Some(Entry::NotAFile) => Err(missing("not a file".into())),
        Some(Entry::Refused(why)) => Err(missing(why.clone())),
    }
}

/// Verifies `c` against `t`: the accepted manifest, or why the commit is refused. Signatures are
/// checked over the stored bytes before those are parsed.
pub fn verify(c: &Candidate<'_>, t: &Trust<'_>) -> Result<Manifest, Refusal> {
    let manifest = bytes(c.manifest, Refusal::ManifestMissing)?;
    let sigs = bytes(c.signatures, Refusal::SignaturesMissing)?;
    let sigs = Signatures::parse(sigs).map_err(|e| Refusal::SignaturesInvalid(e.to_string()))?;
    let valid = t.keys.valid_signers(manifest, &sigs);
    if valid < t.keys.threshold {
        return Err(Refusal::SignatureInvalid {
            valid,
            required: t.keys.threshold,
        });
    }
    let m = Manifest::parse(manifest).map_err(|e| Refusal::ManifestInvalid(e.to_string()))?;
    if m.domain != t.domain {
        return Err(Refusal::WrongDomain(m.domain));
    }
    // Integrity before freshness: a changed file is reported as such, whatever the version.
    check_files(c, &*listed(c, &m)?)?;
    let mut rerun = false;
    if let Some((version, commit)) = t.last {
        if m.version < version {
            return Err(Refusal::Rollback {
                version: m.version,
                accepted: version,
            });
        }
        if m.version == version && commit != c.commit {
            return Err(Refusal::Replay {
                version,
                commit: commit.to_string(),
            });
        }
        rerun = m.version == version;
    }
    // The commit the site already runs stays applicable after expiry (it is only stale).
    if !rerun && m.expires_at_ms <= t.now_ms {
        return Err(Refusal::Expired(m.expires_at_ms));
    }
    if m.issued_at_ms > t.now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
        return Err(Refusal::IssuedInFuture(m.issued_at_ms));
    }
    if m.key_set != *t.keys {
        let valid = m.key_set.valid_signers(manifest, &sigs);
        if valid < m.key_set.threshold {
            return Err(Refusal::RotationNotSigned {
                valid,
                required: m.key_set.threshold,
            });
        }
    }
    Ok(m)
}

/// The files `m` lists with their SHA-256: those of a version 1 manifest; for version 2, the
/// definitions, and the files of this site's checksums file when its shard's file (listed in the
/// manifest) lists it. Each checksums file must hash to what lists it; a site whose shard's
/// file is not listed, or does not list the site, has no files.
fn listed<'m>(
    c: &Candidate<'_>,
    m: &'m Manifest,
) -> Result<Cow<'m, BTreeMap<String, String>>, Refusal> {
    if !m.checksums {
        return Ok(Cow::Borrowed(&m.files));
    }
    let shard = shard_path(c.site);
    let Some(want) = m.files.get(&shard) else {
        return Ok(Cow::Borrowed(&m.files));
    };
    let sites = checked(c, &shard, want, &format!("{CHECKSUMS_DIR}/"))?;
    let own = checksums_path(c.site);
    let Some(want) = sites.get(&own) else {
        return Ok(Cow::Borrowed(&m.files));
    };
    let mut files = m.files.clone();
    files.extend(checked(c, &own, want, &format!("sites/{}/", c.site))?);
    Ok(Cow::Owned(files))
}

/// The checksums file at `path`, once its bytes hash to `want`, parsed (every path under
/// `prefix`).
fn checked(
    c: &Candidate<'_>,
    path: &str,
    want: &str,
    prefix: &str,
) -> Result<BTreeMap<String, String>, Refusal> {
    let bytes = match c.checksums.iter().find(|(p, _)| p == path) {
        Some((_, Entry::File(b))) => b,
        _ => return Err(Refusal::Missing(path.to_string())),
    };
    if sha256_hex(bytes) != want {
        return Err(Refusal::HashMismatch(path.to_string()));
    }
    parse_checksums(prefix, bytes).map_err(|why| Refusal::ManifestInvalid(format!("{path}: {why}")))
}

/// Every file read is listed with its hash, and every listed file in scope is there.
fn check_files(c: &Candidate<'_>, listed: &BTreeMap<String, String>) -> Result<(), Refusal> {
    let mut seen = BTreeSet::new();
    for (path, entry) in c.files {
        let Some(listed) = listed.get(path) else {
            return Err(Refusal::NotInManifest(path.clone()));
        };
        match entry {
            Entry::File(content) => {
                if *listed != maestro_common::manifest::sha256_hex(content) {
                    return Err(Refusal::HashMismatch(path.clone()));
                }
            }
            // The domain lists files, never folders.
            Entry::NotAFile => return Err(Refusal::NotInManifest(path.clone())),
            // Over a read limit: never loaded, so never applied (reported as a skipped file);
            // being listed is all that can be checked.
            Entry::Refused(_) => {}
        }
        seen.insert(path.as_str());
    }
    for scope in c.scopes {
        if let Some((path, _)) =
            files_under(listed, scope).find(|(p, _)| !seen.contains(p.as_str()))
        {
            return Err(Refusal::Missing(path.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
