//! Keeping a repository's object store small: libgit2 writes every new object as a loose file and
//! every fetch (or push to a path) as a pack of its own, and never packs them together as
//! `git gc` would. Every lookup searches every pack, so a mirror that is never compacted gets
//! slower with every commit its domain makes. [`compact`] writes one pack of every object
//! reachable from the repository's refs, then removes the packs and loose objects it replaced.
//!
//! Geometrically, as `git repack --geometric=2` does: every pack it writes has a file beside it
//! (`pack-<name>.base`) naming the commits the refs pointed at, whose history the pack holds with
//! the packs it was written over, and those packs. A compaction keeps each such pack at least
//! twice the size of everything newer (the loose objects, the packs fetched or pushed since, and
//! the smaller such packs) and written over packs it keeps, packs the rest into one, and leaves out
//! of it what the kept packs' commits reach. Packs then form a progression of sizes, each object is
//! packed again only a logarithmic number of times, and a compaction costs what came since, not
//! the whole history. With no pack to keep, it is full.
//!
//! The caller holds whatever serialises the repository's writers. Readers are safe: the new pack
//! is complete before anything is removed, and libgit2 looks for an object it misses in the packs
//! again. Every object reachable from a ref stays, so a later fetch can use any of them as a delta
//! base; an object no ref reaches (a commit whose push was rejected) goes.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

/// Compact when a repository has more packs than this...
pub const MAX_PACKS: usize = 32;
/// ...or about more loose objects than this (estimated as `git gc --auto` does, from one of the
/// 256 fan-out folders).
pub const MAX_LOOSE: usize = 4096;

/// The extension of the file that marks a compacted pack and names the commits whose history it
/// holds (with the compacted packs it was written over).
const BASE_EXT: &str = "base";
/// Most bytes of a compacted pack's file (`commit <id>` and `over <pack file>` lines).
const MAX_BASE_BYTES: u64 = 1 << 20;
/// A compacted pack is kept while it is at least this many times the size of what is newer.
const GEOMETRIC_FACTOR: u64 = 2;

/// What [`compact`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    /// Whether every reachable object was packed (otherwise only what the kept packs lack).
    pub full: bool,
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
            full = done.full,
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

/// Writes one pack of every object reachable from `repo`'s refs but those the compacted packs it
/// keeps hold (all of them when it keeps none), then removes every other pack (but a `.keep` one)
/// and every loose object that existed before it started.
pub fn compact(repo: &Repository) -> Result<Compacted, git2::Error> {
    let objects = repo.path().join("objects");
    let pack_dir = objects.join("pack");
    let old_packs = packs(&pack_dir);
    let old_loose: Vec<PathBuf> = fan_out_dirs(&objects)
        .iter()
        .flat_map(|d| files(d))
        .collect();
    let tips = tips(repo)?;
    let kept = kept_packs(repo, &old_packs, &old_loose);
    let mut walk = repo.revwalk()?;
    for tip in &tips {
        walk.push(*tip)?;
    }
    let mut hidden: Vec<Oid> = kept.iter().flat_map(|l| l.tips.iter().copied()).collect();
    hidden.sort_unstable();
    hidden.dedup();
    for tip in hidden {
        walk.hide(tip)?;
    }
    let mut builder = repo.packbuilder()?;
    builder.insert_walk(&mut walk)?;
    let count = builder.object_count();
    let full = kept.is_empty();
    if count == 0 && full {
        return Ok(Compacted {
            full,
            objects: 0,
            packs_removed: 0,
            loose_removed: 0,
        });
    }
    // Packs kept and nothing new: every reachable object is in them, the rest goes.
    let new_pack = if count > 0 {
        Some(write_pack(&mut builder, &pack_dir)?)
    } else {
        None
    };
    if let Some(pack) = &new_pack {
        std::fs::write(pack.with_extension(BASE_EXT), layer_file(&tips, &kept)).map_err(io)?;
    }
    let mut packs_removed = 0;
    for pack in &old_packs {
        let keep = pack.with_extension("keep").exists()
            || Some(pack) == new_pack.as_ref()
            || kept.iter().any(|l| l.pack == *pack);
        if keep {
            continue;
        }
        // The base mark first, then the index: a pack without one is not looked into.
        for ext in [BASE_EXT, "idx", "rev", "pack"] {
            match std::fs::remove_file(pack.with_extension(ext)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
                _ => {}
            }
        }
        packs_removed += 1;
    }
    // A file of commits whose pack another tool removed (`git gc` knows nothing of them).
    for orphan in files(&pack_dir) {
        if orphan.extension().is_some_and(|e| e == BASE_EXT)
            && !orphan.with_extension("pack").exists()
        {
            let _ = std::fs::remove_file(orphan);
        }
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
        full,
        objects: count,
        packs_removed,
        loose_removed,
    })
}

/// The commits `repo`'s refs point at (a ref that is not a commit's is left out).
fn tips(repo: &Repository) -> Result<Vec<Oid>, git2::Error> {
    let mut tips: Vec<Oid> = repo
        .references()?
        .flatten()
        .filter_map(|r| r.peel_to_commit().ok().map(|c| c.id()))
        .collect();
    tips.sort_unstable();
    tips.dedup();
    Ok(tips)
}

/// Writes `builder`'s pack into `pack_dir`; its path.
fn write_pack(
    builder: &mut git2::PackBuilder<'_>,
    pack_dir: &Path,
) -> Result<PathBuf, git2::Error> {
    std::fs::create_dir_all(pack_dir).map_err(io)?;
    builder.write(pack_dir, 0o444)?;
    let name = builder
        .name()?
        .ok_or_else(|| git2::Error::from_str("the compacted pack has no name"))?;
    let pack = pack_dir.join(format!("pack-{name}.pack"));
    if !pack.is_file() || !pack.with_extension("idx").is_file() {
        return Err(git2::Error::from_str(&format!(
            "the compacted pack {} was not written",
            pack.display()
        )));
    }
    Ok(pack)
}

/// A compacted pack as its file describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layer {
    pack: PathBuf,
    /// The commits whose history it holds, with the packs it was written over.
    tips: Vec<Oid>,
    /// The file names of the packs it was written over (it lacks what they hold).
    over: Vec<String>,
    size: u64,
}

/// The compacted packs to keep: of the packs whose file reads back ([`read_layer`]), those
/// [`keep`] keeps, with everything else (loose objects, other packs but `.keep` ones) as new.
fn kept_packs(repo: &Repository, packs: &[PathBuf], loose: &[PathBuf]) -> Vec<Layer> {
    let size = |p: &PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    let layers: Vec<Layer> = packs
        .iter()
        .filter(|p| p.with_extension("idx").is_file() && !p.with_extension("keep").exists())
        .filter_map(|p| {
            let (tips, over) = read_layer(repo, &p.with_extension(BASE_EXT))?;
            Some(Layer {
                pack: p.clone(),
                tips,
                over,
                size: size(p),
            })
        })
        .collect();
    let others = packs
        .iter()
        .filter(|p| !p.with_extension("keep").exists() && !layers.iter().any(|l| l.pack == **p));
    let new: u64 = others.chain(loose).map(size).sum();
    keep(layers, new)
}

/// The layers to keep when `new` bytes (loose objects, packs that are not layers) go into the next
/// pack. From the smallest up, a layer goes there too while it is less than [`GEOMETRIC_FACTOR`]
/// times what goes there already; and a layer written over a pack that is not kept goes, since
/// what it lacks would go with that pack. Until neither rule takes one more.
fn keep(mut layers: Vec<Layer>, new: u64) -> Vec<Layer> {
    let mut rolled = new;
    // Largest first, so the smallest is the last.
    layers.sort_by_key(|l| std::cmp::Reverse(l.size));
    loop {
        let before = layers.len();
        while let Some(smallest) = layers.last()
            && smallest.size < GEOMETRIC_FACTOR.saturating_mul(rolled)
        {
            rolled += smallest.size;
            layers.pop();
        }
        let kept: Vec<String> = layers.iter().filter_map(|l| file_name(&l.pack)).collect();
        let (stay, go): (Vec<Layer>, Vec<Layer>) = layers
            .into_iter()
            .partition(|l| l.over.iter().all(|o| kept.contains(o)));
        rolled += go.iter().map(|l| l.size).sum::<u64>();
        layers = stay;
        if layers.len() == before {
            return layers;
        }
    }
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name()?.to_str().map(str::to_string)
}

/// The file of a compacted pack: a `commit <id>` line per commit whose history it holds, an
/// `over <pack file>` line per pack it was written over.
fn layer_file(tips: &[Oid], over: &[Layer]) -> String {
    let commits = tips.iter().map(|t| format!("commit {t}\n"));
    let packs = over
        .iter()
        .filter_map(|l| file_name(&l.pack))
        .map(|name| format!("over {name}\n"));
    commits.chain(packs).collect()
}

/// The commits and packs a compacted pack's file names; `None` when it is missing, over
/// [`MAX_BASE_BYTES`], or has a line that is not a commit `repo` has or a pack file's name.
fn read_layer(repo: &Repository, file: &Path) -> Option<(Vec<Oid>, Vec<String>)> {
    if std::fs::metadata(file).ok()?.len() > MAX_BASE_BYTES {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let (mut tips, mut over) = (Vec::new(), Vec::new());
    for line in text.lines() {
        match line.split_once(' ')? {
            ("commit", id) if id.len() == 40 => {
                let id = Oid::from_str(id).ok()?;
                tips.push(repo.find_commit(id).ok()?.id());
            }
            ("over", name) if is_pack_name(name) => over.push(name.to_string()),
            _ => return None,
        }
    }
    Some((tips, over))
}

/// `pack-<40 or 64 lowercase hex digits>.pack`.
fn is_pack_name(name: &str) -> bool {
    name.strip_prefix("pack-")
        .and_then(|n| n.strip_suffix(".pack"))
        .is_some_and(|h| {
            (h.len() == 40 || h.len() == 64)
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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
    use git2::{FetchOptions, Signature};

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

    #[test]
    fn after_a_full_compaction_only_what_is_new_is_packed_until_it_outgrows_the_base() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path().join("r.git")).unwrap();
        let pack_dir = repo.path().join("objects/pack");
        let mut tip = (0..200).fold(None, |_, n| Some(commit(&repo, n))).unwrap();
        let first = compact(&repo).unwrap();
        assert!(first.full, "no base yet: {first:?}");
        let base = packs(&pack_dir).pop().unwrap();
        let listed = std::fs::read_to_string(base.with_extension(BASE_EXT)).unwrap();
        assert_eq!(
            listed,
            format!("commit {tip}\n"),
            "the base names the commit it holds"
        );
        let base_written = std::fs::metadata(&base).unwrap().modified().unwrap();

        // Twice a few commits: only they are packed, into one pack beside the untouched base.
        for round in 1..=2 {
            for n in 0..10 {
                tip = commit(&repo, 1000 * round + n);
            }
            let done = compact(&repo).unwrap();
            assert!(!done.full, "{done:?}");
            // A commit, its tree and its blob each: what came since the base, not its history.
            assert_eq!(done.objects, 30 * round, "{done:?}");
            assert_eq!(done.loose_removed, 30);
            assert_eq!(
                packs(&pack_dir).len(),
                2,
                "the base and one pack of the rest"
            );
            let rest = packs(&pack_dir).into_iter().find(|p| *p != base).unwrap();
            assert_eq!(
                std::fs::read_to_string(rest.with_extension(BASE_EXT)).unwrap(),
                format!(
                    "commit {tip}\nover {}\n",
                    base.file_name().unwrap().to_str().unwrap()
                ),
                "the rest names the commit it holds with the base, and the base"
            );
            assert_eq!(
                std::fs::metadata(&base).unwrap().modified().unwrap(),
                base_written
            );
            let reopened = Repository::open_bare(repo.path()).unwrap();
            assert_eq!(read_all(&reopened, tip), read_all(&repo, tip));
            assert_eq!(read_all(&reopened, tip), 5 * (200 + 10 * round) - 10);
        }

        // Once what came since is larger than the base, everything is packed again.
        for n in 0..400 {
            tip = commit(&repo, 5000 + n);
        }
        let done = compact(&repo).unwrap();
        assert!(done.full, "{done:?}");
        assert_eq!(packs(&pack_dir).len(), 1);
        assert!(!base.exists() && !base.with_extension(BASE_EXT).exists());
        let reopened = Repository::open_bare(repo.path()).unwrap();
        assert_eq!(read_all(&reopened, tip), 5 * 620 - 10);

        // A base file that does not read back (not an id, an unknown commit, too long) asks for
        // a full compaction; the next one builds on the base that one wrote.
        let orphan = pack_dir.join("pack-0123.base");
        std::fs::write(&orphan, format!("{tip}\n")).unwrap();
        let unknown = "commit 0123456789012345678901234567890123456789\n".to_string();
        let mut commits = 620;
        let bare_id = format!("{tip}\n");
        let bad_pack = format!("commit {tip}\nover ../../somewhere.pack\n");
        for bad in [
            "not a commit\n".to_string(),
            unknown,
            bare_id,
            bad_pack,
            "a".repeat(2 << 20),
        ] {
            let base = packs(&pack_dir).pop().unwrap();
            std::fs::write(base.with_extension(BASE_EXT), bad).unwrap();
            tip = commit(&repo, commits);
            commits += 1;
            let done = compact(&repo).unwrap();
            assert!(done.full, "{done:?}");
            assert_eq!(read_all(&repo, tip), 5 * commits - 10);
        }
        assert!(
            !orphan.exists(),
            "a file of commits without its pack is removed"
        );
        tip = commit(&repo, commits);
        assert!(!compact(&repo).unwrap().full);
        assert_eq!(read_all(&repo, tip), 5 * (commits + 1) - 10);
    }

    #[test]
    fn compacted_packs_form_a_progression_and_each_compaction_packs_a_part_of_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path().join("r.git")).unwrap();
        let pack_dir = repo.path().join("objects/pack");
        let mut tip = (0..300).fold(None, |_, n| Some(commit(&repo, n))).unwrap();
        let all = compact(&repo).unwrap().objects;
        assert_eq!(all, 300 * 3, "a commit, its root tree and its blob each");
        let (mut most, mut packed) = (0, 0);
        for round in 0..40 {
            for n in 0..3 {
                tip = commit(&repo, 1000 + 3 * round + n);
            }
            let done = compact(&repo).unwrap();
            assert!(!done.full, "the first pack stays twice the rest: {done:?}");
            assert!(done.objects <= 9 * (round + 1), "{done:?}");
            packed += done.objects;
            most = most.max(packs(&pack_dir).len());
        }
        // Packing everything since the first pack each time would be 9 × (1 + ... + 40).
        assert!(
            packed < 9 * 820 / 2,
            "{packed} objects packed in 40 compactions"
        );
        // Small packs are rolled into larger ones: about log2(40) of them above the first.
        assert!(most <= 8, "{most} packs");
        let reopened = Repository::open_bare(repo.path()).unwrap();
        assert_eq!(read_all(&reopened, tip), 5 * 420 - 10);
    }

    fn layer(name: char, size: u64, over: &[char]) -> Layer {
        let file = |c: char| format!("pack-{}.pack", c.to_string().repeat(40));
        Layer {
            pack: PathBuf::from(file(name)),
            tips: Vec::new(),
            over: over.iter().map(|c| file(*c)).collect(),
            size,
        }
    }

    #[test]
    fn a_layer_stays_while_twice_what_is_newer_and_only_over_layers_that_stay() {
        let names = |kept: Vec<Layer>| -> String {
            let mut n: Vec<char> = kept
                .iter()
                .map(|l| l.pack.to_str().unwrap().as_bytes()[5] as char)
                .collect();
            n.sort_unstable();
            n.into_iter().collect()
        };
        let a = layer('a', 2000, &[]);
        let b = layer('b', 400, &['a']);
        let c = layer('c', 100, &['a', 'b']);
        let all = || vec![c.clone(), a.clone(), b.clone()];
        // Little new: all stay. More: c goes (100 < 2 × 60), then b (400 < 2 × (160 + 100)), then
        // a (2000 < 2 × (600 + 500)).
        assert_eq!(names(keep(all(), 10)), "abc");
        assert_eq!(names(keep(all(), 60)), "ab");
        assert_eq!(names(keep(all(), 160)), "a");
        assert_eq!(names(keep(all(), 600)), "");
        // A layer over a pack that goes, or is not there, goes too, whatever its size: here d is
        // the largest, but it lacks what e holds.
        let d = layer('d', 5000, &['e']);
        let e = layer('e', 100, &[]);
        assert_eq!(names(keep(vec![d.clone(), e.clone()], 10)), "de");
        assert_eq!(names(keep(vec![d.clone(), e], 60)), "");
        let h = layer('h', 20_000, &[]);
        assert_eq!(names(keep(vec![d, h], 0)), "h", "e is not there");
        // ...and what goes with it counts as new for the others.
        let f = layer('f', 700, &['g']);
        let g = layer('g', 10, &[]);
        assert_eq!(names(keep(vec![a.clone(), f.clone(), g.clone()], 6)), "a");
        assert_eq!(names(keep(vec![a, f, g], 4)), "afg");
    }

    #[test]
    fn a_pack_file_name_is_the_only_name_a_layer_can_be_over() {
        assert!(is_pack_name(&format!("pack-{}.pack", "0a".repeat(20))));
        assert!(is_pack_name(&format!("pack-{}.pack", "f".repeat(64))));
        for bad in [
            "pack-.pack".to_string(),
            format!("pack-{}.pack", "A".repeat(40)),
            format!("pack-{}.idx", "a".repeat(40)),
            format!("../pack-{}.pack", "a".repeat(40)),
            format!("pack-{}.pack", "a".repeat(41)),
        ] {
            assert!(!is_pack_name(&bad), "{bad}");
        }
    }
}
