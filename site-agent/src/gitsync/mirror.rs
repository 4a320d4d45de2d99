//! A local bare mirror of the domain repository (blocking git2 calls; run them on a blocking
//! thread) and a snapshot of one commit's files for this site.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use git2::{FetchOptions, Oid, Repository, TreeWalkMode, TreeWalkResult};
use maestro_common::manifest::{
    MANIFEST_FILE, MAX_CHECKSUMS_BYTES, MAX_MANIFEST_BYTES, MAX_SIGNATURES_BYTES, SIGNATURES_FILE,
    checksums_path, shard_path,
};
use maestro_git_transport::{RemoteAccess, local_path};

use crate::Error;

/// The files of one commit that concern a site.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Commit id (hex).
    pub commit: String,
    /// `definitions/<file>` as (file name, content).
    pub definitions: Vec<(String, Entry)>,
    /// Entries below `sites/<site>/` as (path relative to that folder, content).
    pub site_files: Vec<(String, Entry)>,
    /// `manifest.json` at the root, when the commit has one.
    pub manifest: Option<Entry>,
    /// `manifest.sig` at the root, when the commit has one.
    pub signatures: Option<Entry>,
    /// The checksums files of this site's shard and of this site that the commit has, by path.
    pub checksums: Vec<(String, Entry)>,
    /// When the domain made the commit (its committer time), ms since the epoch.
    pub committed_ms: Option<i64>,
}

/// Most bytes of one blueprint or definition file.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most files under `sites/<site>/`, and under `definitions/`.
pub const MAX_FILES: usize = 1000;
/// Most bytes read from one commit (definitions and this site's files together).
pub const MAX_TOTAL_BYTES: u64 = 32 * 1024 * 1024;

/// One entry of a snapshot: its bytes, or why they were not read. Sizes are read from the
/// object headers, so a refused file is never loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// The file's bytes.
    File(Vec<u8>),
    /// Not a file (e.g. a directory where a file belongs).
    NotAFile,
    /// Refused by a limit: the reason names it (and the size).
    Refused(String),
}

/// Reads blobs within the limits of one snapshot.
struct Budget<'r> {
    repo: &'r Repository,
    files: usize,
    bytes: u64,
}

impl Budget<'_> {
    fn read(&mut self, id: Oid) -> Entry {
        self.files += 1;
        if self.files > MAX_FILES {
            return Entry::Refused(format!("more than {MAX_FILES} files; not read"));
        }
        let size = match self.repo.odb().and_then(|odb| odb.read_header(id)) {
            Ok((size, _)) => size as u64,
            Err(e) => return Entry::Refused(format!("unreadable: {e}")),
        };
        if size > MAX_FILE_BYTES {
            return Entry::Refused(format!(
                "{size} bytes, over the limit of {MAX_FILE_BYTES} bytes per file"
            ));
        }
        if self.bytes + size > MAX_TOTAL_BYTES {
            return Entry::Refused(format!(
                "{size} bytes would take the commit's files over {MAX_TOTAL_BYTES} bytes; not read"
            ));
        }
        self.bytes += size;
        match self.repo.find_blob(id) {
            Ok(b) => Entry::File(b.content().to_vec()),
            Err(e) => Entry::Refused(format!("unreadable: {e}")),
        }
    }
}

/// The local mirror under the data dir.
#[derive(Debug, Clone)]
pub struct GitMirror {
    path: PathBuf,
    remote: String,
    branch: String,
    access: RemoteAccess,
    /// The tracking ref's tip as the last fetch or read left it, shared by the clones: the
    /// mirror's fetch is the only writer of that ref (one agent per data dir), so a re-check
    /// without a fetch need not open the repository to read it. `None`: not read yet.
    tip: Arc<Mutex<Option<Option<String>>>>,
}

impl GitMirror {
    /// A mirror at `path` of `remote` (URL or path), following `branch`, reached with no
    /// transport settings (see [`GitMirror::with_access`]).
    pub fn new(path: &Path, remote: &str, branch: &str) -> Self {
        Self {
            path: path.to_path_buf(),
            remote: remote.to_string(),
            branch: branch.to_string(),
            access: RemoteAccess::default(),
            tip: Arc::default(),
        }
    }

    /// Reaches the remote through `access` (CA, credentials, SSH key, timeouts).
    pub fn with_access(mut self, access: RemoteAccess) -> Self {
        self.access = access;
        self
    }

    fn tracking_ref(&self) -> String {
        format!("refs/remotes/origin/{}", self.branch)
    }

    fn open(&self) -> Result<Repository, Error> {
        match Repository::open_bare(&self.path) {
            Ok(r) => Ok(r),
            Err(e) if e.code() == git2::ErrorCode::NotFound => {
                Ok(Repository::init_bare(&self.path)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Fetches the branch from the remote; returns the fetched tip (None when the remote has no
    /// such branch yet).
    pub fn fetch(&self) -> Result<Option<String>, Error> {
        if let Some(path) = local_path(&self.remote)
            && !path.exists()
        {
            // libgit2 would say "unsupported URL protocol", which sends an operator the wrong way.
            return Err(Error::io(
                format!("git remote {}", path.display()),
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such repository"),
            ));
        }
        let repo = self.open()?;
        let mut remote = repo.remote_anonymous(&self.remote)?;
        let refspec = format!("+refs/heads/{}:{}", self.branch, self.tracking_ref());
        let mut opts = FetchOptions::new();
        opts.download_tags(git2::AutotagOption::None);
        // Nothing reads FETCH_HEAD (the tracking ref is the tip). Written, it is a new file
        // renamed over the old one at every fetch; not written, libgit2 only truncates it.
        opts.update_fetchhead(false);
        let tip = self
            .access
            .run(|| remote.fetch(&[refspec.as_str()], Some(&mut opts), None))
            .map_err(Error::from)
            .and_then(|()| self.tip_in(&repo));
        // A fetch that failed, or whose tip could not be read, may still have moved the ref:
        // it is read again next time.
        self.remember(tip.as_ref().ok().cloned());
        tip
    }

    fn remember(&self, tip: Option<Option<String>>) {
        *self.tip.lock().unwrap_or_else(PoisonError::into_inner) = tip;
    }

    /// Compacts the mirror when its packs (one per fetch) or loose objects passed their bound
    /// (`maestro_git_transport::compact`); a failure is logged and tried again after the next
    /// fetch.
    pub fn compact(&self) -> Result<(), Error> {
        if !maestro_git_transport::compact::needs_compacting(&self.path) {
            return Ok(());
        }
        let repo = self.open()?;
        maestro_git_transport::compact::keep_compact(&repo, "the site's Git mirror");
        Ok(())
    }

    /// The last fetched tip, without contacting the remote (nor opening the repository once
    /// it was read or fetched).
    pub fn last_fetched(&self) -> Result<Option<String>, Error> {
        if let Some(tip) = self
            .tip
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(tip);
        }
        let repo = self.open()?;
        let tip = self.tip_in(&repo)?;
        self.remember(Some(tip.clone()));
        Ok(tip)
    }

    fn tip_in(&self, repo: &Repository) -> Result<Option<String>, Error> {
        match repo.refname_to_id(&self.tracking_ref()) {
            Ok(oid) => Ok(Some(oid.to_string())),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the definitions and the files of `site` at `commit`.
    pub fn snapshot(&self, commit: &str, site: &str) -> Result<Snapshot, Error> {
        let repo = self.open()?;
        let found = repo.find_commit(Oid::from_str(commit)?)?;
        let tree = found.tree()?;
        let mut snap = Snapshot {
            commit: commit.to_string(),
            committed_ms: Some(found.time().seconds().saturating_mul(1000)),
            ..Snapshot::default()
        };
        let mut budget = Budget {
            repo: &repo,
            files: 0,
            bytes: 0,
        };
        snap.manifest = tree
            .get_name(MANIFEST_FILE)
            .map(|e| read_capped_file(&repo, &e, MAX_MANIFEST_BYTES));
        snap.signatures = tree
            .get_name(SIGNATURES_FILE)
            .map(|e| read_capped_file(&repo, &e, MAX_SIGNATURES_BYTES));
        for path in [shard_path(site), checksums_path(site)] {
            if let Ok(e) = tree.get_path(Path::new(&path)) {
                let entry = read_capped_file(&repo, &e, MAX_CHECKSUMS_BYTES);
                snap.checksums.push((path, entry));
            }
        }
        if let Ok(entry) = tree.get_path(Path::new("definitions"))
            && let Some(dir) = entry.to_object(&repo)?.as_tree()
        {
            for e in dir.iter() {
                let name = e.name().unwrap_or_default().to_string();
                if e.kind() == Some(git2::ObjectType::Blob) {
                    snap.definitions.push((name, budget.read(e.id())));
                }
            }
        }
        // The site's files have a file count of their own.
        budget.files = 0;
        let site_dir = Path::new("sites").join(site);
        if let Ok(entry) = tree.get_path(&site_dir)
            && let Some(dir) = entry.to_object(&repo)?.as_tree()
        {
            let mut files = Vec::new();
            dir.walk(TreeWalkMode::PreOrder, |root, e| {
                let name = e.name().unwrap_or("<non-utf8>");
                let rel = format!("{root}{name}");
                match e.kind() {
                    // Kind directories are descended into; anything deeper is reported.
                    Some(git2::ObjectType::Tree) if root.is_empty() => TreeWalkResult::Ok,
                    Some(git2::ObjectType::Tree) => {
                        files.push((rel, Entry::NotAFile));
                        TreeWalkResult::Skip
                    }
                    Some(git2::ObjectType::Blob) => {
                        files.push((rel, budget.read(e.id())));
                        TreeWalkResult::Ok
                    }
                    _ => TreeWalkResult::Ok,
                }
            })?;
            snap.site_files = files;
        }
        Ok(snap)
    }

    /// Generation and order id of the newest commit between `from` (exclusive, may be None) and
    /// `to` whose message reads `maestro: <service> gen <g> (order <o>, intent <intent_id>)`.
    pub fn intent_commit_info(
        &self,
        from: Option<&str>,
        to: &str,
        intent_id: &str,
    ) -> Result<Option<(u64, String)>, Error> {
        let repo = self.open()?;
        let mut walk = repo.revwalk()?;
        walk.push(Oid::from_str(to)?)?;
        if let Some(from) = from
            && let Ok(oid) = Oid::from_str(from)
            && repo.find_commit(oid).is_ok()
        {
            walk.hide(oid)?;
        }
        for (n, oid) in walk.enumerate() {
            if n >= 1000 {
                break;
            }
            let commit = repo.find_commit(oid?)?;
            if let Some(info) =
                parse_commit_message(commit.message().unwrap_or_default(), intent_id)
            {
                return Ok(Some(info));
            }
        }
        Ok(None)
    }
}

/// Parses the first line `maestro: <service> gen <g> (order <o>, intent <i>)` when `i == intent_id`.
pub fn parse_commit_message(message: &str, intent_id: &str) -> Option<(u64, String)> {
    let line = message.lines().next()?.trim();
    let rest = line.strip_prefix("maestro: ")?;
    let (_, rest) = rest.split_once(" gen ")?;
    let (generation, rest) = rest.split_once(" (order ")?;
    let (order, rest) = rest.split_once(", intent ")?;
    let intent = rest.strip_suffix(')')?;
    (intent == intent_id).then(|| Some((generation.trim().parse().ok()?, order.to_string())))?
}

/// A file of a commit outside the folders a budget covers, at most `max` bytes (its size read
/// from the object header).
fn read_capped_file(repo: &Repository, entry: &git2::TreeEntry<'_>, max: usize) -> Entry {
    if entry.kind() != Some(git2::ObjectType::Blob) {
        return Entry::NotAFile;
    }
    match repo.odb().and_then(|odb| odb.read_header(entry.id())) {
        Ok((size, _)) if size > max => {
            Entry::Refused(format!("{size} bytes, over the limit of {max} bytes"))
        }
        Ok(_) => match repo.find_blob(entry.id()) {
            Ok(b) => Entry::File(b.content().to_vec()),
            Err(e) => Entry::Refused(format!("unreadable: {e}")),
        },
        Err(e) => Entry::Refused(format!("unreadable: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::GitMirror;
    use maestro_testkit::git::TestRepo;

    /// After a fetch, a re-check reads the tip from memory and a compaction with nothing to do
    /// opens nothing: with the mirror's folder moved away, both still answer and neither makes a
    /// new repository there (opening a missing mirror creates one).
    #[test]
    fn a_recheck_and_an_idle_compaction_do_not_open_the_repository() -> anyhow::Result<()> {
        let mut remote = TestRepo::new()?;
        remote.put("sites/a/x.json", "{}");
        let first = remote.commit("first")?;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("mirror.git");
        let mirror = GitMirror::new(&path, &remote.path(), "main");
        assert_eq!(mirror.last_fetched()?, None, "nothing fetched yet");
        assert_eq!(mirror.clone().fetch()?, Some(first.clone()));
        let moved = dir.path().join("moved.git");
        std::fs::rename(&path, &moved)?;
        assert_eq!(mirror.last_fetched()?, Some(first.clone()));
        mirror.compact()?;
        assert!(!path.exists(), "nothing opened (or created) the mirror");
        std::fs::rename(&moved, &path)?;
        remote.put("sites/a/x.json", "{\"v\":2}");
        let second = remote.commit("second")?;
        assert_eq!(mirror.last_fetched()?, Some(first), "not fetched yet");
        assert_eq!(mirror.fetch()?, Some(second.clone()));
        assert_eq!(mirror.last_fetched()?, Some(second));
        // libgit2 truncates FETCH_HEAD at every fetch; nothing is written into it.
        let fetch_head = std::fs::metadata(path.join("FETCH_HEAD")).map_or(0, |m| m.len());
        assert_eq!(fetch_head, 0, "a fetch writes nothing to FETCH_HEAD");
        Ok(())
    }

    #[test]
    fn commit_message_is_parsed() {
        let m = "maestro: web gen 3 (order o-1, intent i-9)\n\nTrace-Id: abc\n";
        assert_eq!(
            super::parse_commit_message(m, "i-9"),
            Some((3, "o-1".to_string()))
        );
        assert_eq!(super::parse_commit_message(m, "i-8"), None);
        assert_eq!(super::parse_commit_message("other", "i-9"), None);
    }
}
