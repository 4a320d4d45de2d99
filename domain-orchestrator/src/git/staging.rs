//! The domain's mirror with a publish's new objects held in memory, then written as one pack.
//!
//! libgit2 writes every new object as a loose file of its own: a file created, written and linked
//! per blob, tree and commit. A publish that changes one site's blueprints makes a dozen of them
//! (the files, the folders above them, the manifest, the commit), and creating files was what a
//! publish spent most of its time on (`docs/performance.md`). The mirror's handle ([`Staged`])
//! sends every write to memory first; before anything points at a commit, [`Staged::persist`]
//! writes the objects it adds to its parent as one pack: two files (the pack and its index)
//! whatever the number of objects. Packs are compacted with the rest of the mirror
//! ([`maestro_git_transport::compact`]).
//!
//! libgit2 frees the objects held in memory only with the handle, and the handle keeps what makes
//! the next publish cheap (the packs' indexes read, the trees it parsed). So one handle serves
//! many publishes, and [`Staged::reopen_after`] replaces it once the objects it holds pass
//! [`MAX_HELD_BYTES`], or after a publish that failed (what it wrote and did not persist is held
//! and counted nowhere).

use super::GitError;
use git2::{ObjectType, Oid, Repository};
use std::cell::Cell;
use std::path::Path;

/// The in-memory store's priority among the handle's object stores: above libgit2's loose (1)
/// and pack (2) stores, so that every write goes to it.
const IN_MEMORY_FIRST: i32 = 1000;
/// Bytes of objects (uncompressed) a handle may hold in memory before it is opened again.
pub(super) const MAX_HELD_BYTES: u64 = 4 << 20;

/// A handle on the mirror whose writes are held in memory until persisted.
pub(super) struct Staged {
    repo: Repository,
    /// Bytes of the objects persisted from memory since the handle was opened.
    held: Cell<u64>,
}

impl Staged {
    /// Opens the bare repository at `path` (which must exist).
    pub(super) fn open(path: &Path) -> Result<Self, GitError> {
        Self::over(Repository::open_bare(path)?)
    }

    /// `repo`, its writes held in memory from now on.
    pub(super) fn over(repo: Repository) -> Result<Self, GitError> {
        // The store stays attached to the handle's object database, which frees it.
        repo.odb()?.add_new_mempack_backend(IN_MEMORY_FIRST)?;
        Ok(Self {
            repo,
            held: Cell::new(0),
        })
    }

    /// The handle. Objects written through it stay in memory until [`Self::persist`].
    pub(super) fn repo(&self) -> &Repository {
        &self.repo
    }

    /// Bytes of objects persisted since the handle was opened, all still held in memory too.
    pub(super) fn held(&self) -> u64 {
        self.held.get()
    }

    /// Writes `commit` and the objects of its tree that `parent`'s tree does not have at the same
    /// path to the mirror's object folder as one pack. Only the folders that differ are looked
    /// into, so a commit that changes one file of a large tree costs that file and the folders
    /// above it.
    pub(super) fn persist(
        &self,
        commit: Oid,
        parent: Option<&git2::Tree<'_>>,
    ) -> Result<(), GitError> {
        let repo = &self.repo;
        let tree = repo.find_commit(commit)?.tree()?;
        let mut objects = vec![commit];
        new_objects(repo, &tree, parent, &mut objects)?;
        // Two paths with the same content are one object, and a pack holds each object once.
        let mut seen = std::collections::HashSet::new();
        objects.retain(|oid| seen.insert(*oid));
        let odb = repo.odb()?;
        let (pack, bytes) = fast_pack(&odb, &objects)?;
        // Handed to the indexer whole: fed piece by piece, libgit2's indexer maps and unmaps the
        // growing pack file at each piece.
        let mut writer = odb.packwriter()?;
        std::io::Write::write_all(&mut writer, &pack)?;
        writer.commit()?;
        self.held.set(self.held.get().saturating_add(bytes));
        Ok(())
    }

    /// Opens the mirror again once the objects held in memory passed [`MAX_HELD_BYTES`] (they are
    /// on disk since [`Self::persist`]), or after a publish that `failed`: the objects it wrote
    /// before failing may never have been persisted, and only a new handle frees them. If opening
    /// fails, the handle is kept and tried again later.
    pub(super) fn reopen_after(&mut self, failed: bool) {
        if !failed && self.held() < MAX_HELD_BYTES {
            return;
        }
        match Self::open(self.repo.path()) {
            Ok(fresh) => *self = fresh,
            Err(e) => tracing::warn!(error = %e, "opening the domain's Git mirror again failed"),
        }
    }
}

/// A pack (version 2) of `objects` read from `odb`, each object whole (no delta) and compressed
/// at zlib's fastest level, as libgit2 writes a loose object: a publish spends nothing on looking
/// for deltas, and the next compaction packs them tighter. Also the objects' total size.
fn fast_pack(odb: &git2::Odb<'_>, objects: &[Oid]) -> Result<(Vec<u8>, u64), GitError> {
    use std::io::Write;
    let mut pack = Vec::new();
    pack.extend_from_slice(b"PACK");
    pack.extend_from_slice(&2u32.to_be_bytes());
    let count = u32::try_from(objects.len())
        .map_err(|_| GitError::Git(git2::Error::from_str("too many objects for one pack")))?;
    pack.extend_from_slice(&count.to_be_bytes());
    let mut bytes = 0u64;
    for oid in objects {
        let object = odb.read(*oid)?;
        let data = object.data();
        let kind: u8 = match object.kind() {
            ObjectType::Commit => 1,
            ObjectType::Tree => 2,
            ObjectType::Blob => 3,
            ObjectType::Tag => 4,
            ObjectType::Any => {
                return Err(GitError::Git(git2::Error::from_str("an object of no type")));
            }
        };
        bytes += data.len() as u64;
        entry_header(kind, data.len() as u64, &mut pack);
        let mut zlib = flate2::write::ZlibEncoder::new(pack, flate2::Compression::fast());
        zlib.write_all(data)?;
        pack = zlib.finish()?;
    }
    let digest = sha1_smol::Sha1::from(&pack).digest().bytes();
    pack.extend_from_slice(&digest);
    Ok((pack, bytes))
}

/// A pack entry's header: the type in bits 4-6 of the first byte, the size in its low four bits
/// and then seven bits per byte, the high bit saying another byte follows.
fn entry_header(kind: u8, size: u64, out: &mut Vec<u8>) {
    let mut byte = (kind << 4) | (size & 0x0f) as u8;
    let mut rest = size >> 4;
    while rest > 0 {
        out.push(byte | 0x80);
        byte = (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.push(byte);
}

/// Appends `tree` and every object under it that `before` (the tree at the same path in the
/// parent) does not hold at the same path.
fn new_objects(
    repo: &Repository,
    tree: &git2::Tree<'_>,
    before: Option<&git2::Tree<'_>>,
    into: &mut Vec<Oid>,
) -> Result<(), GitError> {
    if before.is_some_and(|b| b.id() == tree.id()) {
        return Ok(());
    }
    into.push(tree.id());
    for entry in tree {
        let old = before.and_then(|b| b.get_name_bytes(entry.name_bytes()));
        if old.as_ref().is_some_and(|o| o.id() == entry.id()) {
            continue;
        }
        match entry.kind() {
            Some(ObjectType::Tree) => {
                let subtree = repo.find_tree(entry.id())?;
                let old_tree = match old {
                    Some(o) if o.kind() == Some(ObjectType::Tree) => Some(repo.find_tree(o.id())?),
                    _ => None,
                };
                new_objects(repo, &subtree, old_tree.as_ref(), into)?;
            }
            // A submodule's entry names a commit of another repository.
            Some(ObjectType::Commit) => {}
            _ => into.push(entry.id()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commits `content` as `f` on `parent` through `staged`, persisted.
    fn commit(staged: &Staged, content: &[u8], parent: Option<Oid>) -> Oid {
        let repo = staged.repo();
        let blob = repo.blob(content).unwrap();
        let mut builder = repo.treebuilder(None).unwrap();
        builder.insert("f", blob, 0o100_644).unwrap();
        let tree = repo.find_tree(builder.write().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@localhost").unwrap();
        let parent = parent.map(|p| repo.find_commit(p).unwrap());
        let base = parent.as_ref().map(|p| p.tree().unwrap());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id = repo.commit(None, &sig, &sig, "c", &tree, &parents).unwrap();
        staged.persist(id, base.as_ref()).unwrap();
        id
    }

    #[test]
    fn writes_wait_in_memory_until_persisted_and_a_full_handle_is_opened_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut staged = Staged::over(Repository::init_bare(dir.path()).unwrap()).unwrap();
        let on_disk = |id: Oid| {
            Repository::open_bare(dir.path())
                .unwrap()
                .find_object(id, None)
                .is_ok()
        };
        // Written but not persisted: readable through the handle, not on disk.
        let loose = staged.repo().blob(b"only in memory").unwrap();
        assert!(staged.repo().find_blob(loose).is_ok());
        assert!(!on_disk(loose));
        // Persisted: on disk, in packs only.
        let first = commit(&staged, b"one", None);
        assert!(on_disk(first));
        let big: Vec<u8> = (0..MAX_HELD_BYTES + 1).map(|i| (i % 251) as u8).collect();
        let second = commit(&staged, &big, Some(first));
        assert!(on_disk(second));
        assert!(staged.held() > MAX_HELD_BYTES);
        staged.reopen_after(false);
        assert_eq!(staged.held(), 0, "a fresh handle holds nothing");
        // Read back from disk whole.
        {
            let tree = staged.repo().find_commit(second).unwrap().tree().unwrap();
            let blob = staged
                .repo()
                .find_blob(tree.get_name("f").unwrap().id())
                .unwrap();
            assert!(blob.content() == big.as_slice(), "the large file read back");
        }
        assert!(
            staged.repo().find_blob(loose).is_err(),
            "never persisted, gone with the handle"
        );
        let loose_files = std::fs::read_dir(dir.path().join("objects"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().len() == 2)
            .count();
        assert_eq!(loose_files, 0, "no loose object folder");
        // Below the bound the handle stays; an empty file reads back empty.
        let third = commit(&staged, b"", Some(second));
        let held = staged.held();
        staged.reopen_after(false);
        assert_eq!(staged.held(), held);
        assert!(on_disk(third));
        let tree = Repository::open_bare(dir.path())
            .unwrap()
            .find_commit(third)
            .unwrap()
            .tree()
            .unwrap()
            .id();
        let fresh = Repository::open_bare(dir.path()).unwrap();
        let file = fresh.find_tree(tree).unwrap().get_name("f").unwrap().id();
        assert!(fresh.find_blob(file).unwrap().content().is_empty());
        // After a failed publish the handle is opened again below the bound too: what it wrote
        // and never persisted is freed.
        let stray = staged
            .repo()
            .blob(b"written by a publish that failed")
            .unwrap();
        staged.reopen_after(true);
        assert_eq!(staged.held(), 0);
        assert!(staged.repo().find_blob(stray).is_err(), "freed");
        assert!(staged.repo().find_commit(third).is_ok(), "persisted, kept");
    }

    #[test]
    fn the_same_content_at_two_paths_is_packed_once() {
        let dir = tempfile::tempdir().unwrap();
        let staged = Staged::over(Repository::init_bare(dir.path()).unwrap()).unwrap();
        let repo = staged.repo();
        // Two sites with the same blueprint: one blob, one folder, named twice.
        let blob = repo.blob(b"same").unwrap();
        let mut site = repo.treebuilder(None).unwrap();
        site.insert("web.json", blob, 0o100_644).unwrap();
        let site = site.write().unwrap();
        let mut sites = repo.treebuilder(None).unwrap();
        sites.insert("s1", site, 0o040_000).unwrap();
        sites.insert("s2", site, 0o040_000).unwrap();
        let sites = sites.write().unwrap();
        let mut root = repo.treebuilder(None).unwrap();
        root.insert("sites", sites, 0o040_000).unwrap();
        let tree = repo.find_tree(root.write().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@localhost").unwrap();
        let id = repo.commit(None, &sig, &sig, "c", &tree, &[]).unwrap();
        staged.persist(id, None).unwrap();
        let fresh = Repository::open_bare(dir.path()).unwrap();
        assert_eq!(fresh.find_blob(blob).unwrap().content(), b"same");
        assert!(fresh.find_commit(id).is_ok());
    }

    #[test]
    fn entry_headers_are_the_pack_formats() {
        let mut out = Vec::new();
        entry_header(3, 100, &mut out);
        assert_eq!(out, [0x80 | (3 << 4) | 4, 6], "a blob of 100 bytes");
        out.clear();
        entry_header(1, 15, &mut out);
        assert_eq!(out, [(1 << 4) | 15], "one byte up to 15");
    }
}
