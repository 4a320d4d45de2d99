//! Keeping a repository's object store small: libgit2 writes every new object as a loose file and
//! every fetch (or push to a path) as a pack of its own, and never packs them together as
//! `git gc` would. Every lookup searches every pack, so a mirror that is never compacted gets
//! slower with every commit its domain makes. [`compact`] writes one pack of every object
//! reachable from the repository's refs, then removes the packs and loose objects it replaced.
//!
//! The caller holds whatever serialises the repository's writers. Readers are safe: the new pack
//! is complete before anything is removed, and libgit2 looks for an object it misses in the packs
//! again. Every object reachable from a ref stays, so a later fetch can use any of them as a delta
//! base; an object no ref reaches (a commit whose push was rejected) goes.

use std::path::{Path, PathBuf};

use git2::Repository;

/// Compact when a repository has more packs than this...
pub const MAX_PACKS: usize = 32;
/// ...or about more loose objects than this (estimated as `git gc --auto` does, from one of the
/// 256 fan-out folders).
pub const MAX_LOOSE: usize = 4096;

/// What [`compact`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    /// Objects in the new pack.
    pub objects: usize,
    /// Packs removed.
    pub packs_removed: usize,
    /// Loose objects removed.
    pub loose_removed: usize,
}

/// Whether the repository at `git_dir` (a bare repository, or the `.git` folder) has more than
/// [`MAX_PACKS`] packs or about more than [`MAX_LOOSE`] loose objects: two folder listings,
/// without opening it.
pub fn needs_compacting(git_dir: &Path) -> bool {
    let objects = git_dir.join("objects");
    packs(&objects.join("pack")).len() > MAX_PACKS
        || files(&objects.join("17")).len() * 256 > MAX_LOOSE
}

/// Compacts `repo` when [`needs_compacting`] says so; `None` when it did not need it.
pub fn compact_if_needed(repo: &Repository) -> Result<Option<Compacted>, git2::Error> {
    if needs_compacting(repo.path()) {
        compact(repo).map(Some)
    } else {
        Ok(None)
    }
}

/// [`compact_if_needed`], logged: what it did and how long it took, or why it failed (it is tried
/// again after the repository's next write, which is when the caller calls it).
pub fn keep_compact(repo: &Repository, what: &str) {
    let started = std::time::Instant::now();
    match compact_if_needed(repo) {
        Ok(Some(done)) => tracing::info!(
            objects = done.objects,
            packs_removed = done.packs_removed,
            loose_removed = done.loose_removed,
            ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "compacted {what}"
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "compacting {what} failed"),
    }
}

/// Writes one pack of every object reachable from `repo`'s refs, then removes every other pack
/// (but a `.keep` one) and every loose object that existed before it started.
pub fn compact(repo: &Repository) -> Result<Compacted, git2::Error> {
    let objects = repo.path().join("objects");
    let pack_dir = objects.join("pack");
    let old_packs = packs(&pack_dir);
    let old_loose: Vec<PathBuf> = fan_out_dirs(&objects)
        .iter()
        .flat_map(|d| files(d))
        .collect();
    let mut walk = repo.revwalk()?;
    walk.push_glob("*")?;
    let mut builder = repo.packbuilder()?;
    builder.insert_walk(&mut walk)?;
    let count = builder.object_count();
    if count == 0 {
        return Ok(Compacted {
            objects: 0,
            packs_removed: 0,
            loose_removed: 0,
        });
    }
    std::fs::create_dir_all(&pack_dir).map_err(io)?;
    builder.write(&pack_dir, 0o444)?;
    let name = builder
        .name()?
        .ok_or_else(|| git2::Error::from_str("the compacted pack has no name"))?;
    let new_pack = pack_dir.join(format!("pack-{name}.pack"));
    if !new_pack.is_file() || !new_pack.with_extension("idx").is_file() {
        return Err(git2::Error::from_str(&format!(
            "the compacted pack {} was not written",
            new_pack.display()
        )));
    }
    let mut packs_removed = 0;
    for pack in old_packs.iter().filter(|p| **p != new_pack) {
        if pack.with_extension("keep").exists() {
            continue;
        }
        // The index first: a pack without one is not looked into.
        for ext in ["idx", "rev", "pack"] {
            match std::fs::remove_file(pack.with_extension(ext)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
                _ => {}
            }
        }
        packs_removed += 1;
    }
    let mut loose_removed = 0;
    for file in &old_loose {
        match std::fs::remove_file(file) {
            Ok(()) => loose_removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
    }
    for dir in fan_out_dirs(&objects) {
        // Only empty ones go; a folder another writer just filled stays.
        let _ = std::fs::remove_dir(dir);
    }
    repo.odb()?.refresh()?;
    Ok(Compacted {
        objects: count,
        packs_removed,
        loose_removed,
    })
}

fn io(e: std::io::Error) -> git2::Error {
    git2::Error::from_str(&format!("compacting: {e}"))
}

/// The `.pack` files of `dir`.
fn packs(dir: &Path) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pack"))
        .collect()
}

/// The files directly in `dir` (none when it cannot be read).
fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default()
}

/// The loose objects' fan-out folders of `objects` (two hex digits each).
fn fan_out_dirs(objects: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(objects)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_dir()
                        && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                            n.len() == 2 && n.bytes().all(|b| b.is_ascii_hexdigit())
                        })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::{FetchOptions, Oid, Signature};

    /// A commit on `refs/heads/main` of `repo` with one file changed, as loose objects.
    fn commit(repo: &Repository, n: usize) -> Oid {
        let sig = Signature::now("t", "t@example.org").unwrap();
        let parent = repo
            .refname_to_id("refs/heads/main")
            .ok()
            .map(|id| repo.find_commit(id).unwrap());
        let mut tree = repo
            .treebuilder(parent.as_ref().map(|p| p.tree().unwrap()).as_ref())
            .unwrap();
        let blob = repo.blob(format!("file {n}\n").as_bytes()).unwrap();
        tree.insert(format!("f{}", n % 5), blob, 0o100644).unwrap();
        let tree = repo.find_tree(tree.write().unwrap()).unwrap();
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(
            Some("refs/heads/main"),
            &sig,
            &sig,
            &format!("c{n}"),
            &tree,
            &parents,
        )
        .unwrap()
    }

    fn fetch(mirror: &Repository, source: &Path) {
        let mut remote = mirror.remote_anonymous(source.to_str().unwrap()).unwrap();
        let mut opts = FetchOptions::new();
        opts.download_tags(git2::AutotagOption::None);
        remote
            .fetch(
                &["+refs/heads/main:refs/remotes/origin/main"],
                Some(&mut opts),
                None,
            )
            .unwrap();
    }

    /// Every file of every commit reachable from `tip`, read back.
    fn read_all(repo: &Repository, tip: Oid) -> usize {
        let mut walk = repo.revwalk().unwrap();
        walk.push(tip).unwrap();
        let mut blobs = 0;
        for id in walk {
            let tree = repo.find_commit(id.unwrap()).unwrap().tree().unwrap();
            for entry in tree.iter() {
                assert!(!repo.find_blob(entry.id()).unwrap().content().is_empty());
                blobs += 1;
            }
        }
        blobs
    }

    #[test]
    fn a_mirror_with_a_pack_per_fetch_is_compacted_to_one_pack_that_keeps_its_history() {
        let dir = tempfile::tempdir().unwrap();
        let source = Repository::init_bare(dir.path().join("source.git")).unwrap();
        let mirror = Repository::init_bare(dir.path().join("mirror.git")).unwrap();
        for n in 0..=MAX_PACKS {
            commit(&source, n);
            fetch(&mirror, source.path());
        }
        let pack_dir = mirror.path().join("objects/pack");
        assert_eq!(packs(&pack_dir).len(), MAX_PACKS + 1, "one pack per fetch");
        assert!(needs_compacting(mirror.path()));
        // An object no ref reaches, and a kept pack.
        let stray = mirror.blob(b"nobody refers to this").unwrap();
        let kept = packs(&pack_dir)[0].clone();
        std::fs::write(kept.with_extension("keep"), "").unwrap();
        let tip = mirror.refname_to_id("refs/remotes/origin/main").unwrap();
        let before = read_all(&mirror, tip);

        let done = compact_if_needed(&mirror).unwrap().expect("compacted");
        assert_eq!(done.packs_removed, MAX_PACKS, "all but the kept one");
        assert_eq!(done.loose_removed, 1, "the stray object");
        assert_eq!(packs(&pack_dir).len(), 2, "the new pack and the kept one");
        assert!(!needs_compacting(mirror.path()));
        assert!(fan_out_dirs(&mirror.path().join("objects")).is_empty());
        // Every commit and file is still there, read by a fresh handle too; the stray is gone.
        assert_eq!(read_all(&mirror, tip), before);
        let reopened = Repository::open_bare(mirror.path()).unwrap();
        assert_eq!(read_all(&reopened, tip), before);
        assert!(reopened.find_blob(stray).is_err());
        // The next fetch builds on it (its pack may use any compacted object as a delta base).
        let next = commit(&source, 99);
        fetch(&reopened, source.path());
        assert_eq!(
            reopened.refname_to_id("refs/remotes/origin/main").unwrap(),
            next
        );
        assert_eq!(read_all(&reopened, next), before + 5);
    }

    #[test]
    fn loose_objects_are_packed_and_removed_and_a_second_run_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path().join("r.git")).unwrap();
        let commits: Vec<Oid> = (0..20).map(|n| commit(&repo, n)).collect();
        let tip = commits[19];
        let before = read_all(&repo, tip);
        let done = compact(&repo).unwrap();
        assert_eq!(
            done.loose_removed, done.objects,
            "every loose object was reachable"
        );
        assert!(
            done.objects >= 60,
            "20 commits, their trees and blobs: {done:?}"
        );
        assert!(fan_out_dirs(&repo.path().join("objects")).is_empty());
        assert_eq!(read_all(&repo, tip), before);
        // Compacting a compacted repository writes the same pack and removes nothing.
        let again = compact(&repo).unwrap();
        assert_eq!((again.packs_removed, again.loose_removed), (0, 0));
        assert_eq!(packs(&repo.path().join("objects/pack")).len(), 1);
        assert_eq!(read_all(&repo, tip), before);
        // An empty repository has nothing to pack.
        let empty = Repository::init_bare(dir.path().join("e.git")).unwrap();
        assert_eq!(compact(&empty).unwrap().objects, 0);
    }
}
