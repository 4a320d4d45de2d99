//! Publishing the desired tree to the domain's Git repository: [`BlueprintRepo`] and its git2
//! implementation [`GitPublisher`] (a bare mirror under the data dir, commits built without a
//! work tree, pushed to the remote branch with fetch + rebuild on non-fast-forward). With a
//! [`ManifestSigner`], every commit also carries the signed manifest of its tree at the root.

mod staging;
mod tree;

use crate::signing::{ManifestSigner, SignedManifest};
use git2::{FileMode, Oid, Repository, Signature};
use maestro_common::manifest::{
    CHECKSUMS_DIR, MANIFEST_FILE, MAX_MANIFEST_BYTES, MAX_SIGNATURES_BYTES, SIGNATURES_FILE, Scope,
};
use maestro_git_transport::{GitSettings, RemoteAccess, TransportError};
use staging::Staged;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tree::{ObjectIds, build_tree};

/// Top-level directories the domain owns; everything else on the branch is kept as is. A
/// signing domain writes the checksums files of its sites and their shards under `checksums/`.
pub const MANAGED_DIRS: [&str; 3] = ["definitions", "sites", CHECKSUMS_DIR];
/// Push attempts before giving up (each after a fresh fetch).
const PUSH_ATTEMPTS: usize = 5;

/// A Git failure.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// libgit2 failed.
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    /// A file path of the tree was unusable.
    #[error("invalid path in tree: {0}")]
    Path(String),
    /// The remote kept rejecting the push.
    #[error("push to {remote} rejected: {reason}")]
    Rejected {
        /// The remote.
        remote: String,
        /// The last reason.
        reason: String,
    },
    /// Creating a directory failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The transport settings of the remote are unusable (a file missing, a CA bundle invalid).
    #[error("git settings: {0}")]
    Settings(#[from] TransportError),
    /// The manifest version could not be taken durably.
    #[error("manifest version: {0}")]
    Version(#[from] sled::Error),
}

/// The result of a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The branch head after the publish.
    pub commit: String,
    /// Whether a new commit was made.
    pub changed: bool,
}

/// Where rendered blueprints go.
pub trait BlueprintRepo: Send + Sync {
    /// Makes the managed directories of the branch hold exactly `files` (path -> content),
    /// committing with `message` only when the tree differs from the branch head. A publish
    /// that would change nothing checks the remote's head first: this is how drift of the
    /// branch (someone else's commit) is repaired.
    fn publish(
        &self,
        files: &BTreeMap<String, String>,
        message: &str,
    ) -> Result<Published, GitError>;

    /// [`Self::publish`] of a new desired state, except that when it would change nothing it
    /// trusts the head this repository last pushed or fetched instead of asking the remote
    /// (a new intent that adds no blueprint, such as one for no site). Drift is then repaired
    /// by the next [`Self::publish`] (the periodic re-publish).
    fn publish_new(
        &self,
        files: &BTreeMap<String, String>,
        message: &str,
    ) -> Result<Published, GitError> {
        self.publish(files, message)
    }

    /// Compacts the repository's object stores once they pass their bounds (a pack per publish
    /// and per fetch in the mirror, a pack per push to a remote on a path). Called after a
    /// publish was answered, off its path; a failure is logged and tried again after the next
    /// publish.
    fn compact_if_needed(&self) {}
}

/// [`BlueprintRepo::compact_if_needed`] on the blocking pool, once a publish was answered.
pub async fn compact_after_publish(repo: std::sync::Arc<dyn BlueprintRepo>) {
    if let Err(e) = tokio::task::spawn_blocking(move || repo.compact_if_needed()).await {
        tracing::warn!(error = %e, "compacting the domain's Git repositories failed");
    }
}

/// A repository for tests of code that must publish nothing: a publish panics.
#[cfg(test)]
pub(crate) struct NoRepo;

#[cfg(test)]
impl BlueprintRepo for NoRepo {
    fn publish(&self, _: &BTreeMap<String, String>, _: &str) -> Result<Published, GitError> {
        unreachable!("this test publishes nothing")
    }
}

/// [`BlueprintRepo`] on a real Git remote, through a local bare mirror. Writes are serialised.
pub struct GitPublisher {
    /// The mirror, locked by every writer; a publish's new objects are held in memory until its
    /// commit is made, then written as one pack ([`Staged`]).
    repo: Mutex<Staged>,
    /// The ids of the last tree built; taken under the lock of `repo`.
    ids: Mutex<ObjectIds>,
    remote: String,
    access: RemoteAccess,
    branch: String,
    signature: (String, String),
    signer: Option<ManifestSigner>,
}

/// True when `remote` names a local path rather than a URL.
fn is_path(remote: &str) -> bool {
    !remote.contains("://") && !remote.contains('@')
}

/// Creates a bare repository at `path` whose HEAD names `branch`.
pub fn init_bare_remote(path: &Path, branch: &str) -> Result<(), GitError> {
    std::fs::create_dir_all(path)?;
    let repo = Repository::init_bare(path)?;
    repo.set_head(&format!("refs/heads/{branch}"))?;
    Ok(())
}

impl GitPublisher {
    /// Opens (or creates) the mirror at `local`; with `init_remote`, creates the bare remote
    /// when `remote` is a path that does not exist.
    pub fn open(
        local: &Path,
        remote: &str,
        branch: &str,
        init_remote: bool,
        domain: &str,
    ) -> Result<Self, GitError> {
        if init_remote && is_path(remote) && !Path::new(remote).exists() {
            init_bare_remote(Path::new(remote), branch)?;
        }
        // Only this process writes the mirror (its data directory is held by the sled lock).
        maestro_git_transport::remove_stale_locks(local);
        if is_path(remote) {
            // A push to a path writes the remote's refs in place: a process killed mid-push leaves
            // the ref locked there for good. This domain is its remote's only writer (sites only
            // read it), so at start-up such a lock is stale too. Objects are never touched.
            let remote = Path::new(remote);
            maestro_git_transport::remove_stale_locks(&remote.join("refs"));
            let packed = remote.join("packed-refs.lock");
            if packed.exists() {
                tracing::warn!(path = %packed.display(), "removing a stale Git lock file");
                let _ = std::fs::remove_file(&packed);
            }
        }
        let repo = match Repository::open_bare(local) {
            Ok(r) => r,
            Err(_) => {
                std::fs::create_dir_all(local)?;
                let r = Repository::init_bare(local)?;
                r.set_head(&format!("refs/heads/{branch}"))?;
                r
            }
        };
        let remote = if is_path(remote) {
            PathBuf::from(remote)
                .canonicalize()
                .map_or_else(|_| remote.to_string(), |p| p.display().to_string())
        } else {
            remote.to_string()
        };
        Ok(Self {
            repo: Mutex::new(Staged::over(repo)?),
            ids: Mutex::default(),
            remote,
            access: RemoteAccess::default(),
            branch: branch.to_string(),
            signature: (
                format!("maestro domain {domain}"),
                format!("maestro+{domain}@localhost"),
            ),
            signer: None,
        })
    }

    /// Signs every commit with `signer` (a manifest of the tree at the root).
    pub fn with_signer(mut self, signer: ManifestSigner) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Reaches the remote with `settings` (CA, credentials, SSH key, timeouts); checks their
    /// files now, so a bad setting fails at start-up.
    pub fn with_settings(mut self, settings: &GitSettings) -> Result<Self, GitError> {
        self.access = RemoteAccess::new(&self.remote, settings)?;
        Ok(self)
    }

    fn tracking_ref(&self) -> String {
        format!("refs/remotes/origin/{}", self.branch)
    }

    /// The branch head as this mirror last fetched or pushed it, without asking the remote.
    fn tracked(&self, repo: &Repository) -> Option<Oid> {
        repo.find_reference(&self.tracking_ref())
            .ok()
            .and_then(|r| r.target())
    }

    fn fetch(&self, repo: &Repository) -> Result<Option<Oid>, GitError> {
        let mut remote = repo.remote_anonymous(&self.remote)?;
        let spec = format!("+refs/heads/{b}:refs/remotes/origin/{b}", b = self.branch);
        // Prune: a branch the remote no longer has must not leave a stale tracking ref.
        let mut opts = git2::FetchOptions::new();
        opts.prune(git2::FetchPrune::On);
        // Nothing reads FETCH_HEAD (the tracking ref is the head).
        opts.update_fetchhead(false);
        self.access
            .run(|| remote.fetch(&[&spec], Some(&mut opts), None))?;
        Ok(repo
            .find_reference(&self.tracking_ref())
            .ok()
            .and_then(|r| r.target()))
    }

    /// Compacts the mirror (a pack per publish and per fetch) and a remote on a local path (a
    /// pack per push, and nobody else to pack them) once they pass their bounds; called under the
    /// mirror's lock, so no publish writes meanwhile.
    fn keep_compact(&self, repo: &Repository) {
        use maestro_git_transport::compact::{keep_compact, needs_compacting};
        keep_compact(repo, "the domain's Git mirror");
        // Opened only when it needs compacting: the check after a publish is two folder listings.
        if let Some(path) = maestro_git_transport::local_path(&self.remote)
            && needs_compacting(path)
            && let Ok(remote) = Repository::open_bare(path)
        {
            keep_compact(&remote, "the domain's Git remote");
        }
    }

    fn push(&self, repo: &Repository, commit: Oid) -> Result<Result<(), String>, GitError> {
        let local_ref = format!("refs/heads/{}", self.branch);
        repo.reference(&local_ref, commit, true, "maestro: publish")?;
        let mut remote = repo.remote_anonymous(&self.remote)?;
        let mut rejection: Option<String> = None;
        let mut callbacks = git2::RemoteCallbacks::new();
        callbacks.push_update_reference(|_, status| {
            if let Some(s) = status {
                rejection = Some(s.to_string());
            }
            Ok(())
        });
        let mut opts = git2::PushOptions::new();
        opts.remote_callbacks(callbacks);
        let refspec = format!("{local_ref}:{local_ref}");
        let result = self
            .access
            .run(|| remote.push(&[&refspec], Some(&mut opts)));
        drop(opts);
        match (result, rejection) {
            (Err(e), _) => Ok(Err(e.message().to_string())),
            (Ok(()), Some(r)) => Ok(Err(r)),
            (Ok(()), None) => {
                repo.reference(&self.tracking_ref(), commit, true, "maestro: pushed")?;
                Ok(Ok(()))
            }
        }
    }
}

impl BlueprintRepo for GitPublisher {
    fn publish(
        &self,
        files: &BTreeMap<String, String>,
        message: &str,
    ) -> Result<Published, GitError> {
        self.publish_checking(files, message, true)
    }

    fn publish_new(
        &self,
        files: &BTreeMap<String, String>,
        message: &str,
    ) -> Result<Published, GitError> {
        self.publish_checking(files, message, false)
    }

    fn compact_if_needed(&self) {
        let mirror = self
            .repo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.keep_compact(mirror.repo());
    }
}

impl GitPublisher {
    /// [`BlueprintRepo::publish`]; with `check_unchanged` false, a publish that would change
    /// nothing answers from the last known head without fetching.
    fn publish_checking(
        &self,
        files: &BTreeMap<String, String>,
        message: &str,
        check_unchanged: bool,
    ) -> Result<Published, GitError> {
        let mut mirror = self
            .repo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let published = self.publish_on(&mirror, files, message, check_unchanged);
        mirror.reopen_after(published.is_err());
        published
    }

    /// [`Self::publish_checking`] on the locked mirror.
    fn publish_on(
        &self,
        mirror: &Staged,
        files: &BTreeMap<String, String>,
        message: &str,
        check_unchanged: bool,
    ) -> Result<Published, GitError> {
        let repo = mirror.repo();
        let mut ids = self
            .ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut last = String::new();
        // The branch head as this mirror last saw it: after a push of ours, what it pushed (the
        // domain is the branch's only writer), so a publish that changes the tree pushes without
        // fetching first. A rejected push fetches and builds again on the remote's head, and a
        // publish that would change nothing fetches to be sure (that is how drift is repaired)
        // unless it is a new state's (`publish_new`).
        let (mut head, mut fetched) = match self.tracked(repo) {
            Some(h) => (Some(h), false),
            None => (self.fetch(repo)?, true),
        };
        // Signed, the checksums files of the sites and their shards are part of the managed tree.
        let scope = self
            .signer
            .as_ref()
            .map(|_| Scope::of_with(files, |path, bytes| ids.sha256(path, bytes)));
        let checksums = scope.as_ref().map(|s| &s.checksums);
        for _ in 0..PUSH_ATTEMPTS {
            let parent = head.map(|h| repo.find_commit(h)).transpose()?;
            let base = parent.as_ref().map(git2::Commit::tree).transpose()?;
            let all = files.iter().chain(checksums.into_iter().flatten());
            let tree = build_tree(repo, base.as_ref(), all, &mut ids)?;
            let tree = match (&self.signer, &scope) {
                (Some(signer), Some(scope)) => {
                    let head_manifest = base.as_ref().map(|b| head_manifest(repo, b));
                    let (manifest, sigs) = head_manifest.unwrap_or_default();
                    let now = maestro_common::time::now_millis();
                    let same_tree = base.as_ref().is_some_and(|b| {
                        same_entries(b, &repo.find_tree(tree).ok(), &MANAGED_DIRS)
                    });
                    if let Some(p) = &parent
                        && same_tree
                        && signer.is_current(manifest.as_deref(), sigs.as_deref(), scope, now)
                    {
                        if check_unchanged && !fetched {
                            (head, fetched) = (self.fetch(repo)?, true);
                            continue;
                        }
                        return Ok(Published {
                            commit: p.id().to_string(),
                            changed: false,
                        });
                    }
                    let version = signer.branch_version(manifest.as_deref(), sigs.as_deref());
                    with_manifest(repo, tree, &signer.sign(scope, version, now)?)?
                }
                _ => tree,
            };
            if let (Some(p), Some(b)) = (&parent, &base)
                && b.id() == tree
            {
                if check_unchanged && !fetched {
                    (head, fetched) = (self.fetch(repo)?, true);
                    continue;
                }
                return Ok(Published {
                    commit: p.id().to_string(),
                    changed: false,
                });
            }
            let sig = Signature::now(&self.signature.0, &self.signature.1)?;
            let tree = repo.find_tree(tree)?;
            let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
            let commit = repo.commit(None, &sig, &sig, message, &tree, &parents)?;
            // On disk before any ref names it.
            mirror.persist(commit, base.as_ref())?;
            match self.push(repo, commit)? {
                Ok(()) => {
                    return Ok(Published {
                        commit: commit.to_string(),
                        changed: true,
                    });
                }
                Err(reason) if !fetched => {
                    tracing::debug!(remote = %self.remote, reason = %reason, "push on the last known head rejected; fetching and retrying");
                    last = reason;
                    (head, fetched) = (self.fetch(repo)?, true);
                }
                Err(reason) => {
                    tracing::warn!(remote = %self.remote, reason = %reason, "push rejected; fetching and retrying");
                    last = reason;
                    head = self.fetch(repo)?;
                }
            }
        }
        Err(GitError::Rejected {
            remote: self.remote.clone(),
            reason: last,
        })
    }
}

/// The manifest and signatures files of `tree` (None for a missing, oversized or non-file one).
fn head_manifest(repo: &Repository, tree: &git2::Tree<'_>) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let read = |name: &str, max: usize| -> Option<Vec<u8>> {
        let entry = tree.get_name(name)?;
        let (size, kind) = repo.odb().ok()?.read_header(entry.id()).ok()?;
        if kind != git2::ObjectType::Blob || size > max {
            return None;
        }
        Some(repo.find_blob(entry.id()).ok()?.content().to_vec())
    };
    (
        read(MANIFEST_FILE, MAX_MANIFEST_BYTES),
        read(SIGNATURES_FILE, MAX_SIGNATURES_BYTES),
    )
}

/// Whether `a` and `b` hold the same entries (or both none) under each of `names`.
fn same_entries(a: &git2::Tree<'_>, b: &Option<git2::Tree<'_>>, names: &[&str]) -> bool {
    let Some(b) = b else { return false };
    names
        .iter()
        .all(|n| a.get_name(n).map(|e| e.id()) == b.get_name(n).map(|e| e.id()))
}

/// `tree` with the signed manifest's two files added at the root.
fn with_manifest(repo: &Repository, tree: Oid, signed: &SignedManifest) -> Result<Oid, GitError> {
    let base = repo.find_tree(tree)?;
    let mut builder = repo.treebuilder(Some(&base))?;
    builder.insert(
        MANIFEST_FILE,
        repo.blob(&signed.manifest)?,
        FileMode::Blob.into(),
    )?;
    builder.insert(
        SIGNATURES_FILE,
        repo.blob(&signed.signatures)?,
        FileMode::Blob.into(),
    )?;
    Ok(builder.write()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A remote and a mirror that published one commit, and the publisher closed again (as a
    /// process that was killed).
    fn published_once(dir: &Path) -> (PathBuf, PathBuf) {
        let remote = dir.join("remote.git");
        init_bare_remote(&remote, "main").unwrap();
        let local = dir.join("mirror");
        let files = BTreeMap::from([("sites/s/K/x.json".to_string(), "1".to_string())]);
        let p = GitPublisher::open(&local, remote.to_str().unwrap(), "main", false, "d").unwrap();
        p.publish(&files, "first").unwrap();
        (remote, local)
    }

    #[test]
    fn a_lock_left_by_a_killed_process_is_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let (remote, local) = published_once(dir.path());
        let lock = local.join("refs/remotes/origin/main.lock");
        std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
        std::fs::write(&lock, "").unwrap();
        let p = GitPublisher::open(&local, remote.to_str().unwrap(), "main", false, "d").unwrap();
        assert!(!lock.exists(), "stale lock removed");
        let two = BTreeMap::from([("sites/s/K/x.json".to_string(), "2".to_string())]);
        assert!(p.publish(&two, "second").unwrap().changed);
    }

    #[test]
    fn a_push_killed_midway_does_not_lock_a_path_remote_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let (remote, local) = published_once(dir.path());
        // What a SIGKILL during the push leaves in the remote.
        let lock = remote.join("refs/heads/main.lock");
        std::fs::write(&lock, "").unwrap();
        let objects_before = std::fs::read_dir(remote.join("objects")).unwrap().count();
        let p = GitPublisher::open(&local, remote.to_str().unwrap(), "main", false, "d").unwrap();
        assert!(!lock.exists(), "stale remote ref lock removed");
        assert_eq!(
            std::fs::read_dir(remote.join("objects")).unwrap().count(),
            objects_before,
            "objects untouched"
        );
        let two = BTreeMap::from([("sites/s/K/x.json".to_string(), "2".to_string())]);
        assert!(p.publish(&two, "second").unwrap().changed);
    }

    #[test]
    fn a_remote_on_a_path_is_compacted_once_its_packs_pass_the_bound() {
        use maestro_git_transport::compact::MAX_PACKS;
        let dir = tempfile::tempdir().unwrap();
        let remote = dir.path().join("remote.git");
        init_bare_remote(&remote, "main").unwrap();
        let p = GitPublisher::open(
            &dir.path().join("m"),
            remote.to_str().unwrap(),
            "main",
            false,
            "d",
        )
        .unwrap();
        let packs = || {
            std::fs::read_dir(remote.join("objects/pack"))
                .unwrap()
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                .count()
        };
        let mut files = BTreeMap::new();
        let mut most = 0;
        for n in 0..MAX_PACKS + 8 {
            files.insert(format!("sites/s/K/b{}.json", n % 3), format!("{n}"));
            assert!(p.publish_new(&files, "r").unwrap().changed);
            most = most.max(packs());
            // As the domain's publisher does once it answered a publish.
            p.compact_if_needed();
        }
        // A push to a path adds a pack; past the bound they were packed into one.
        assert!(most <= MAX_PACKS + 1, "{most} packs");
        assert!(packs() < 10, "{} packs", packs());
        // Nothing was lost: the remote's head has every file, and its history reads back.
        for b in 0..3 {
            assert!(!remote_file(&remote, &format!("sites/s/K/b{b}.json")).is_empty());
        }
        let r = Repository::open_bare(&remote).unwrap();
        let mut walk = r.revwalk().unwrap();
        walk.push_ref("refs/heads/main").unwrap();
        assert_eq!(walk.count(), MAX_PACKS + 8, "every commit is still there");
    }

    #[test]
    fn a_stale_parent_is_rejected_as_non_fast_forward() {
        let dir = tempfile::tempdir().unwrap();
        let remote = dir.path().join("remote.git");
        init_bare_remote(&remote, "main").unwrap();
        let a = GitPublisher::open(
            &dir.path().join("a"),
            remote.to_str().unwrap(),
            "main",
            false,
            "d",
        )
        .unwrap();
        let b = GitPublisher::open(
            &dir.path().join("b"),
            remote.to_str().unwrap(),
            "main",
            false,
            "d",
        )
        .unwrap();
        let one = BTreeMap::from([("sites/s/K/x.json".to_string(), "1".to_string())]);
        let first = a.publish(&one, "first").unwrap();
        let two = BTreeMap::from([("sites/s/K/x.json".to_string(), "2".to_string())]);
        // b builds a commit on the first one, then a moves the branch on.
        {
            let mirror = b.repo.lock().unwrap();
            let repo = mirror.repo();
            let parent = repo.find_commit(b.fetch(repo).unwrap().unwrap()).unwrap();
            let tree = repo
                .find_tree(
                    build_tree(
                        repo,
                        Some(&parent.tree().unwrap()),
                        &two,
                        &mut ObjectIds::default(),
                    )
                    .unwrap(),
                )
                .unwrap();
            let sig = Signature::now("t", "t@t").unwrap();
            let stale = repo
                .commit(None, &sig, &sig, "stale", &tree, &[&parent])
                .unwrap();
            a.publish(
                &BTreeMap::from([("sites/s/K/x.json".to_string(), "3".to_string())]),
                "third",
            )
            .unwrap();
            assert!(
                b.push(repo, stale).unwrap().is_err(),
                "non-fast-forward must be rejected"
            );
        }
        // publish fetches and rebuilds on top.
        let rebuilt = b.publish(&two, "two").unwrap();
        assert!(rebuilt.changed);
        let r = Repository::open_bare(&remote).unwrap();
        let head = r
            .find_reference("refs/heads/main")
            .unwrap()
            .peel_to_commit()
            .unwrap();
        assert_eq!(head.id().to_string(), rebuilt.commit);
        assert_eq!(
            head.parent(0).unwrap().parent(0).unwrap().id().to_string(),
            first.commit
        );
    }

    /// Commits `files` (path -> content, replacing what is there) onto `main` of `remote` from
    /// an independent clone in `dir`: someone else's change to the branch.
    fn foreign_commit(remote: &Path, dir: &Path, files: &[(&str, &str)]) {
        let repo = Repository::clone(remote.to_str().unwrap(), dir).unwrap();
        let mut index = repo.index().unwrap();
        for (path, content) in files {
            let full = dir.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, content).unwrap();
            index.add_path(Path::new(path)).unwrap();
        }
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = Signature::now("someone", "someone@example.com").unwrap();
        let parent = repo.head().unwrap().peel_to_commit().unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "drift", &tree, &[&parent])
            .unwrap();
        repo.find_remote("origin")
            .unwrap()
            .push(&["refs/heads/main:refs/heads/main"], None)
            .unwrap();
    }

    fn remote_file(remote: &Path, path: &str) -> String {
        let r = Repository::open_bare(remote).unwrap();
        let tree = r
            .find_reference("refs/heads/main")
            .unwrap()
            .peel_to_tree()
            .unwrap();
        let blob = tree
            .get_path(Path::new(path))
            .unwrap()
            .to_object(&r)
            .unwrap();
        String::from_utf8(blob.as_blob().unwrap().content().to_vec()).unwrap()
    }

    /// A publish that fails leaves no objects behind in the mirror's handle: it is opened
    /// again, freeing whatever the publish wrote and did not persist, and the next publish works.
    #[test]
    fn a_failed_publish_opens_the_mirror_again() {
        let dir = tempfile::tempdir().unwrap();
        let (remote, local) = published_once(dir.path());
        let p = GitPublisher::open(&local, remote.to_str().unwrap(), "main", false, "d").unwrap();
        let held = || p.repo.lock().unwrap().held();
        let one = BTreeMap::from([("sites/s/K/x.json".to_string(), "one".to_string())]);
        assert!(p.publish(&one, "one").unwrap().changed);
        assert!(held() > 0, "a publish's objects are held by the handle");
        // The remote gone: the commit is made and persisted, the push fails.
        let away = dir.path().join("away");
        std::fs::rename(&remote, &away).unwrap();
        let two = BTreeMap::from([("sites/s/K/x.json".to_string(), "2".to_string())]);
        assert!(p.publish(&two, "two").is_err());
        assert_eq!(held(), 0, "a fresh handle after the failure");
        std::fs::rename(&away, &remote).unwrap();
        assert!(p.publish(&two, "two").unwrap().changed);
        assert_eq!(remote_file(&remote, "sites/s/K/x.json"), "2");
    }

    #[test]
    fn drift_of_the_remote_is_seen_although_publishes_start_from_the_last_pushed_head() {
        let dir = tempfile::tempdir().unwrap();
        let (remote, local) = published_once(dir.path());
        let p = GitPublisher::open(&local, remote.to_str().unwrap(), "main", false, "d").unwrap();
        let one = BTreeMap::from([("sites/s/K/x.json".to_string(), "1".to_string())]);
        // Someone changes a managed file: the same files published again repair it.
        foreign_commit(
            &remote,
            &dir.path().join("c1"),
            &[("sites/s/K/x.json", "drift")],
        );
        let repaired = p.publish(&one, "repair").unwrap();
        assert!(
            repaired.changed,
            "the unchanged-looking tree was checked on the remote"
        );
        assert_eq!(remote_file(&remote, "sites/s/K/x.json"), "1");
        // Someone adds a file of their own: a change is pushed on top of it, keeping it.
        foreign_commit(&remote, &dir.path().join("c2"), &[("README.md", "hello")]);
        let two = BTreeMap::from([("sites/s/K/x.json".to_string(), "2".to_string())]);
        let pushed = p.publish(&two, "two").unwrap();
        assert!(pushed.changed);
        assert_eq!(remote_file(&remote, "README.md"), "hello");
        assert_eq!(remote_file(&remote, "sites/s/K/x.json"), "2");
        // Nothing moved since: the same files change nothing.
        assert!(!p.publish(&two, "again").unwrap().changed);
    }

    #[test]
    fn a_new_state_that_changes_nothing_trusts_the_last_head_and_the_next_check_repairs_drift() {
        let dir = tempfile::tempdir().unwrap();
        let (remote, local) = published_once(dir.path());
        let p = GitPublisher::open(&local, remote.to_str().unwrap(), "main", false, "d").unwrap();
        let one = BTreeMap::from([("sites/s/K/x.json".to_string(), "1".to_string())]);
        let pushed = p.publish(&one, "known").unwrap().commit;
        foreign_commit(
            &remote,
            &dir.path().join("c1"),
            &[("sites/s/K/x.json", "drift")],
        );
        // Nothing changes against the last pushed head: answered from it, the remote not read.
        let trusted = p.publish_new(&one, "new intent, no blueprint").unwrap();
        assert_eq!((trusted.changed, trusted.commit), (false, pushed.clone()));
        assert_eq!(remote_file(&remote, "sites/s/K/x.json"), "drift");
        // A change still pushes: rejected on the stale head, it fetches and builds on the drift.
        let two = BTreeMap::from([("sites/s/K/x.json".to_string(), "2".to_string())]);
        assert!(p.publish_new(&two, "two").unwrap().changed);
        assert_eq!(remote_file(&remote, "sites/s/K/x.json"), "2");
        // The checking publish (the periodic one) repairs drift that came after.
        foreign_commit(
            &remote,
            &dir.path().join("c2"),
            &[("sites/s/K/x.json", "drift again")],
        );
        assert!(p.publish(&two, "check").unwrap().changed);
        assert_eq!(remote_file(&remote, "sites/s/K/x.json"), "2");
        let fetch_head = std::fs::metadata(local.join("FETCH_HEAD")).map_or(0, |m| m.len());
        assert_eq!(fetch_head, 0, "the fetches wrote nothing to FETCH_HEAD");
    }

    /// Every file under `repo`'s object folder (loose objects, packs and their indexes), with
    /// its modification time.
    fn object_files(repo: &Path) -> BTreeMap<PathBuf, std::time::SystemTime> {
        let mut found = BTreeMap::new();
        for fan in std::fs::read_dir(repo.join("objects")).unwrap() {
            let fan = fan.unwrap().path();
            if !fan.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&fan).unwrap() {
                let f = f.unwrap().path();
                found.insert(
                    f.clone(),
                    std::fs::metadata(&f).unwrap().modified().unwrap(),
                );
            }
        }
        found
    }

    /// The number of objects a pack file's header gives.
    fn pack_objects(pack: &Path) -> u32 {
        let bytes = std::fs::read(pack).unwrap();
        assert_eq!(&bytes[..4], b"PACK");
        u32::from_be_bytes(bytes[8..12].try_into().unwrap())
    }

    #[test]
    fn a_publish_writes_only_what_changed_as_one_pack_and_touches_no_other_object() {
        let dir = tempfile::tempdir().unwrap();
        let (p, remote, _set) = signed(dir.path(), 3600, 60);
        let mut files = BTreeMap::from([("definitions/K.json".to_string(), "{}".to_string())]);
        for s in 0..20 {
            for b in 0..3 {
                files.insert(format!("sites/s{s}/K/b{b}.json"), format!("{s}.{b}"));
            }
        }
        assert!(p.publish(&files, "first").unwrap().changed);
        // Every object file of the mirror made old, so that a write (or libgit2's freshening of
        // an object it already has) shows as a new modification time.
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_400);
        let mirror = dir.path().join("m");
        let before = object_files(&mirror);
        let loose = before
            .keys()
            .filter(|f| !f.parent().unwrap().ends_with("pack"))
            .count();
        assert_eq!(loose, 0, "loose objects in the mirror");
        for path in before.keys() {
            // Packs are read-only; their owner may set their times through a read handle.
            let f = std::fs::File::open(path).unwrap();
            f.set_modified(old).unwrap();
        }
        files.insert("sites/s7/K/b1.json".into(), "changed".into());
        assert!(p.publish_new(&files, "one file").unwrap().changed);
        let after = object_files(&mirror);
        let new: Vec<&PathBuf> = after.keys().filter(|f| !before.contains_key(*f)).collect();
        let touched = before.keys().filter(|f| after[*f] != old).count();
        assert_eq!(touched, 0, "objects the publish had already were touched");
        // One pack and its index, nothing loose.
        assert_eq!(new.len(), 2, "{new:?}");
        let pack = new
            .iter()
            .find(|f| f.extension().is_some_and(|e| e == "pack"))
            .expect("a pack");
        assert!(pack.with_extension("idx").is_file());
        // The blob, its three trees (K, s7, sites), s7's checksums file, its shard's folder and
        // file, the checksums folder, the root tree with the manifest, the manifest's two files
        // and the commit: 12 of the mirror's 160 or so.
        let objects = pack_objects(pack);
        assert!(objects <= 12, "{objects} objects in the publish's pack");
        assert_eq!(remote_file(&remote, "sites/s7/K/b1.json"), "changed");
        assert_eq!(remote_file(&remote, "sites/s8/K/b1.json"), "8.1");
        // The mirror holds the commit on disk: a publisher opened again builds on it.
        drop(p);
        let again =
            GitPublisher::open(&mirror, remote.to_str().unwrap(), "main", false, "d").unwrap();
        files.insert("sites/s8/K/b1.json".into(), "changed too".into());
        assert!(
            again
                .publish_new(&files, "after a restart")
                .unwrap()
                .changed
        );
        assert_eq!(remote_file(&remote, "sites/s7/K/b1.json"), "changed");
        assert_eq!(remote_file(&remote, "sites/s8/K/b1.json"), "changed too");
    }

    /// A publisher signing with a fresh key (valid `validity` s, renewed `renew` s before).
    fn signed(
        dir: &Path,
        validity: u64,
        renew: u64,
    ) -> (GitPublisher, PathBuf, maestro_common::manifest::KeySet) {
        use crate::signing::VersionCounter;
        use maestro_common::manifest::{KeySet, SigningKey};
        let remote = dir.join("remote.git");
        init_bare_remote(&remote, "main").unwrap();
        let key = SigningKey::generate().unwrap().0;
        let set = KeySet::new("s", 1, vec![key.public()]).unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let versions = VersionCounter::new(db.open_tree("v").unwrap());
        let signer = ManifestSigner::new("d", vec![key], set.clone(), validity, renew, versions);
        let p = GitPublisher::open(&dir.join("m"), remote.to_str().unwrap(), "main", false, "d")
            .unwrap()
            .with_signer(signer);
        (p, remote, set)
    }

    fn head_files(remote: &Path) -> (Vec<u8>, Vec<u8>) {
        let r = Repository::open_bare(remote).unwrap();
        let tree = r
            .find_reference("refs/heads/main")
            .unwrap()
            .peel_to_tree()
            .unwrap();
        let (m, s) = head_manifest(&r, &tree);
        (m.unwrap(), s.unwrap())
    }

    #[test]
    fn every_commit_carries_a_manifest_of_its_tree_signed_by_the_domain() {
        use maestro_common::manifest::{
            Manifest, Signatures, checksums_path, sha256_hex, shard_path,
        };
        let dir = tempfile::tempdir().unwrap();
        let (p, remote, set) = signed(dir.path(), 3600, 60);
        let one = BTreeMap::from([
            ("sites/s/K/x.json".to_string(), "1".to_string()),
            ("definitions/K.json".to_string(), "{}".to_string()),
        ]);
        let first = p.publish(&one, "first").unwrap();
        assert!(first.changed);
        let (bytes, sigs) = head_files(&remote);
        assert!(set.is_satisfied(&bytes, &Signatures::parse(&sigs).unwrap()));
        let m = Manifest::parse(&bytes).unwrap();
        assert_eq!((m.domain.as_str(), m.version), ("d", 1));
        // Version 2: the definitions and the site's shard's file listed; the shard's file lists
        // the site's checksums file, which lists the site's files.
        let (site, shard) = (checksums_path("s"), shard_path("s"));
        let line = |hash: String, path: &str| format!("{hash}  {path}\n");
        let text = remote_file(&remote, &site);
        assert_eq!(text, line(sha256_hex(b"1"), "sites/s/K/x.json"));
        assert_eq!(
            remote_file(&remote, &shard),
            line(sha256_hex(text.as_bytes()), &site)
        );
        assert_eq!(
            m.files.keys().collect::<Vec<_>>(),
            [&shard, "definitions/K.json"]
        );
        assert!(m.checksums);
        // The same tree with a current manifest: no commit.
        assert!(!p.publish(&one, "again").unwrap().changed);
        // Another tree: a new commit with the next version.
        let two = BTreeMap::from([("sites/s/K/x.json".to_string(), "2".to_string())]);
        assert!(p.publish(&two, "second").unwrap().changed);
        let m = Manifest::parse(&head_files(&remote).0).unwrap();
        assert_eq!(m.version, 2);
        assert_eq!(m.files.keys().collect::<Vec<_>>(), [&shard]);
        assert_eq!(
            remote_file(&remote, &site),
            line(sha256_hex(b"2"), "sites/s/K/x.json")
        );
        // A site left without files loses its checksums files.
        let three = BTreeMap::from([("definitions/K.json".to_string(), "{}".to_string())]);
        assert!(p.publish(&three, "third").unwrap().changed);
        let m = Manifest::parse(&head_files(&remote).0).unwrap();
        assert_eq!(m.version, 3);
        assert_eq!(m.files.keys().collect::<Vec<_>>(), ["definitions/K.json"]);
        let r = Repository::open_bare(&remote).unwrap();
        let head = r
            .find_reference("refs/heads/main")
            .unwrap()
            .peel_to_tree()
            .unwrap();
        assert!(head.get_name("checksums").is_none(), "no empty folder left");
    }

    #[test]
    fn a_manifest_due_for_renewal_is_re_signed_with_a_new_version() {
        use maestro_common::manifest::Manifest;
        let dir = tempfile::tempdir().unwrap();
        // Renewal is due as soon as less than the whole validity is left: always.
        let (p, remote, _) = signed(dir.path(), 10, 10);
        let files = BTreeMap::from([("sites/s/K/x.json".to_string(), "1".to_string())]);
        p.publish(&files, "first").unwrap();
        let renewed = p.publish(&files, "renew").unwrap();
        assert!(renewed.changed, "re-signed although the tree is the same");
        assert_eq!(Manifest::parse(&head_files(&remote).0).unwrap().version, 2);
    }
}
