//! Building the commit's root tree from the files a publish holds, writing only the objects that
//! changed, and [`ObjectIds`]: the ids of the last tree built, so that what did not change is not
//! hashed again.

use super::{GitError, MANAGED_DIRS};
use git2::{FileMode, ObjectType, Oid, Repository};
use maestro_common::manifest::{MANIFEST_FILE, SIGNATURES_FILE, sha256_hex};
use std::collections::{BTreeMap, HashMap};

/// The Git object id of every file and folder of the last tree built, by path, with the bytes it
/// was computed from (a file's content, a folder's serialised entries).
///
/// An id is a pure function of an object's kind and bytes, so a path whose bytes are the same as
/// last time takes its id from here instead of hashing them again: a publish that changes one file
/// of a domain with ten thousand sites hashes that file and the folders above it. The bytes are
/// compared whole, never by a digest of them, so no content can take another's id. The price is a
/// copy of the tree's bytes, held between publishes (with the paths and digests, about twice the
/// tree's bytes: `docs/performance.md`).
#[derive(Default)]
pub(super) struct ObjectIds {
    by_path: HashMap<String, Known>,
    /// How many objects the last build hashed (the others' ids it knew).
    hashed: usize,
}

impl ObjectIds {
    /// The SHA-256 (lowercase hex) of the file at `path` with `bytes`: the one known when the last
    /// build had the same file there, otherwise computed. A file is hashed twice when it changes:
    /// in the publish that changed it (its object is new then) and in the next one, which keeps it.
    pub(super) fn sha256(&mut self, path: &str, bytes: &[u8]) -> String {
        match self.by_path.get_mut(path) {
            Some(known) if known.kind == ObjectType::Blob && known.bytes == bytes => known
                .sha256
                .get_or_insert_with(|| sha256_hex(bytes))
                .clone(),
            _ => sha256_hex(bytes),
        }
    }
}

/// One path's object as last built.
struct Known {
    kind: ObjectType,
    bytes: Vec<u8>,
    oid: Oid,
    /// A file's SHA-256, once a signed publish asked for it.
    sha256: Option<String>,
}

/// [`ObjectIds`] during one build: what the last build knew, and what this one found.
struct Lookup {
    last: HashMap<String, Known>,
    next: HashMap<String, Known>,
    hashed: usize,
}

impl Lookup {
    /// The id of the object of `kind` with `bytes` at `path`: the last build's when its bytes
    /// were the same, otherwise hashed.
    fn id(&mut self, path: &str, kind: ObjectType, bytes: &[u8]) -> Result<Oid, GitError> {
        if let Some((path, known)) = self.last.remove_entry(path)
            && known.kind == kind
            && known.bytes == bytes
        {
            let oid = known.oid;
            self.next.insert(path, known);
            return Ok(oid);
        }
        let oid = Oid::hash_object(kind, bytes)?;
        self.hashed += 1;
        let known = Known {
            kind,
            bytes: bytes.to_vec(),
            oid,
            sha256: None,
        };
        self.next.insert(path.to_string(), known);
        Ok(oid)
    }
}

/// A directory being assembled: name -> file content or subdirectory.
enum Node<'a> {
    File(&'a str),
    Dir(BTreeMap<&'a str, Node<'a>>),
}

/// Builds the root tree: `base` with the managed directories replaced by `files`.
///
/// Only what changed is written: every blob and tree is hashed in memory first (or its id taken
/// from `ids` when its bytes did not change), and a subtree whose id is already the one `base`
/// has at that path is neither written nor descended into. A publish that changes one file of a
/// domain with a thousand sites writes that file and the trees above it, not every object of the
/// branch again.
pub(super) fn build_tree<'a>(
    repo: &Repository,
    base: Option<&git2::Tree<'_>>,
    files: impl IntoIterator<Item = (&'a String, &'a String)>,
    ids: &mut ObjectIds,
) -> Result<Oid, GitError> {
    let root = nest(files)?;
    // A build that fails from here leaves `ids` empty: the next one hashes everything again.
    let last = std::mem::take(&mut ids.by_path);
    let mut lookup = Lookup {
        next: HashMap::with_capacity(last.len()),
        last,
        hashed: 0,
    };
    let mut builder = repo.treebuilder(base)?;
    for name in MANAGED_DIRS.iter().chain(&[MANIFEST_FILE, SIGNATURES_FILE]) {
        if builder.get(name)?.is_some() {
            builder.remove(name)?;
        }
    }
    let odb = repo.odb()?;
    for (name, node) in &root {
        let hashed = Hashed::of(node, &mut (*name).to_string(), &mut lookup)?;
        let before = base.and_then(|b| b.get_name(name)).map(|e| e.id());
        hashed.write_changed(repo, &odb, before)?;
        builder.insert(name, hashed.oid, hashed.mode().into())?;
    }
    let tree = builder.write()?;
    ids.by_path = lookup.next;
    ids.hashed = lookup.hashed;
    Ok(tree)
}

/// `files` (path -> content) as the directories under the root they make; every path checked.
fn nest<'a>(
    files: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<BTreeMap<&'a str, Node<'a>>, GitError> {
    let mut root: BTreeMap<&str, Node<'_>> = BTreeMap::new();
    for (path, content) in files {
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() < 2
            || !MANAGED_DIRS.contains(&parts[0])
            || !parts.iter().all(|p| valid_name(p))
        {
            return Err(GitError::Path(path.clone()));
        }
        let mut dir = &mut root;
        for part in &parts[..parts.len() - 1] {
            let entry = dir
                .entry(part)
                .or_insert_with(|| Node::Dir(BTreeMap::new()));
            dir = match entry {
                Node::Dir(d) => d,
                Node::File(_) => return Err(GitError::Path(path.clone())),
            };
        }
        if dir
            .insert(parts[parts.len() - 1], Node::File(content))
            .is_some()
        {
            return Err(GitError::Path(path.clone()));
        }
    }
    Ok(root)
}

/// Whether `name` may be one component of a managed path: not empty, not `.` or `..`, not
/// `.git` in any case, no NUL (trees are serialised here, not by libgit2's tree builder, which
/// would refuse those).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.eq_ignore_ascii_case(".git")
        && !name.contains('\0')
}

/// The order of two names in a Git tree: by their bytes, a subtree's name as if it ended in '/'
/// (names of one folder differ and hold no '/', so the first byte after their common part
/// decides).
fn git_order(a: &str, a_tree: bool, b: &str, b_tree: bool) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    let next = |name: &str, tree: bool| name.as_bytes().get(n).copied().or(tree.then_some(b'/'));
    a.as_bytes()[..n]
        .cmp(&b.as_bytes()[..n])
        .then_with(|| next(a, a_tree).cmp(&next(b, b_tree)))
}

/// A node with its Git object id, computed without writing anything.
struct Hashed<'a> {
    oid: Oid,
    object: Object<'a>,
}

enum Object<'a> {
    Blob(&'a str),
    /// The tree's serialised entries and its children, in tree order.
    Tree(Vec<u8>, Vec<(&'a str, Hashed<'a>)>),
}

impl<'a> Hashed<'a> {
    /// `node`, at `path` from the root, with its id and its children's.
    fn of(node: &Node<'a>, path: &mut String, ids: &mut Lookup) -> Result<Self, GitError> {
        match node {
            Node::File(content) => Ok(Hashed {
                oid: ids.id(path, ObjectType::Blob, content.as_bytes())?,
                object: Object::Blob(content),
            }),
            Node::Dir(entries) => {
                let mut children = Vec::with_capacity(entries.len());
                for (name, child) in entries {
                    let at = path.len();
                    path.push('/');
                    path.push_str(name);
                    let hashed = Hashed::of(child, path, ids);
                    path.truncate(at);
                    children.push((*name, hashed?));
                }
                // Git orders a tree's entries by name, a subtree's name as if it ended in '/'.
                children.sort_by(|(a, x), (b, y)| git_order(a, x.is_tree(), b, y.is_tree()));
                let mut bytes = Vec::new();
                for (name, child) in &children {
                    let mode = match child.object {
                        Object::Blob(_) => "100644",
                        Object::Tree(..) => "40000",
                    };
                    bytes.extend_from_slice(mode.as_bytes());
                    bytes.push(b' ');
                    bytes.extend_from_slice(name.as_bytes());
                    bytes.push(0);
                    bytes.extend_from_slice(child.oid.as_bytes());
                }
                Ok(Hashed {
                    oid: ids.id(path, ObjectType::Tree, &bytes)?,
                    object: Object::Tree(bytes, children),
                })
            }
        }
    }

    fn mode(&self) -> FileMode {
        match self.object {
            Object::Blob(_) => FileMode::Blob,
            Object::Tree(..) => FileMode::Tree,
        }
    }

    fn is_tree(&self) -> bool {
        matches!(self.object, Object::Tree(..))
    }

    /// Writes this node's objects that `before` (the id at the same path in the base tree)
    /// does not already hold.
    fn write_changed(
        &self,
        repo: &Repository,
        odb: &git2::Odb<'_>,
        before: Option<Oid>,
    ) -> Result<(), GitError> {
        if before == Some(self.oid) {
            return Ok(());
        }
        let (kind, bytes) = match &self.object {
            Object::Blob(content) => (ObjectType::Blob, content.as_bytes()),
            Object::Tree(bytes, children) => {
                let old = before.and_then(|id| repo.find_tree(id).ok());
                for (name, child) in children {
                    let was = old
                        .as_ref()
                        .and_then(|t| t.get_name(name))
                        .filter(|e| e.filemode() == i32::from(child.mode()))
                        .map(|e| e.id());
                    child.write_changed(repo, odb, was)?;
                }
                (ObjectType::Tree, bytes.as_slice())
            }
        };
        let written = odb.write(kind, bytes)?;
        if written != self.oid {
            return Err(GitError::Git(git2::Error::from_str(&format!(
                "object written as {written}, expected {}",
                self.oid
            ))));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The root tree of `files` as libgit2's own tree builder writes it, one object at a time.
    fn reference_tree(repo: &Repository, files: &BTreeMap<String, String>) -> Oid {
        fn dir(repo: &Repository, entries: &BTreeMap<&str, Node<'_>>) -> Oid {
            let mut b = repo.treebuilder(None).unwrap();
            for (name, node) in entries {
                let (oid, mode) = match node {
                    Node::File(c) => (repo.blob(c.as_bytes()).unwrap(), FileMode::Blob),
                    Node::Dir(d) => (dir(repo, d), FileMode::Tree),
                };
                b.insert(name, oid, mode.into()).unwrap();
            }
            b.write().unwrap()
        }
        dir(repo, &nest(files).unwrap())
    }

    #[test]
    fn trees_hashed_in_memory_are_the_trees_libgit2_writes() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        // Names whose order differs between plain byte order and Git's (a subtree sorts as if
        // its name ended in '/': "K.b" < "K/" < "K0"), an empty file, a deep path.
        let files: BTreeMap<String, String> = [
            ("definitions/K.json", "{}"),
            ("sites/s/K/a.json", "1"),
            ("sites/s/K.b", "file beside a directory"),
            ("sites/s/K-b/a.json", "2"),
            ("sites/s/K0/a.json", "3"),
            ("sites/s/K/empty", ""),
            ("sites/t/a/b/c/d.json", "deep"),
            ("sites/s.x", "4"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let built = build_tree(&repo, None, &files, &mut ObjectIds::default()).unwrap();
        assert_eq!(built, reference_tree(&repo, &files));
        // Built again on itself with one file changed: the same as libgit2's for the new files.
        let base = repo.find_tree(built).unwrap();
        let mut next = files.clone();
        next.insert("sites/s/K/a.json".into(), "changed".into());
        next.remove("sites/s/K0/a.json");
        assert_eq!(
            build_tree(&repo, Some(&base), &next, &mut ObjectIds::default()).unwrap(),
            reference_tree(&repo, &next)
        );
        for bad in ["sites/s/.git/x", "sites/s/.GIT", "sites/s/a\0b"] {
            let files = BTreeMap::from([(bad.to_string(), "x".to_string())]);
            assert!(
                matches!(
                    build_tree(&repo, None, &files, &mut ObjectIds::default()),
                    Err(GitError::Path(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn ids_known_from_the_last_build_give_the_trees_libgit2_writes_and_skip_what_did_not_change() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let mut files: BTreeMap<String, String> = (0..4)
            .flat_map(|s| {
                (0..3).map(move |b| (format!("sites/s{s}/K/b{b}.json"), format!("{s}.{b}")))
            })
            .collect();
        files.insert("definitions/K.json".into(), "{}".into());
        let mut ids = ObjectIds::default();
        let mut base: Option<Oid> = None;
        let mut build = |files: &BTreeMap<String, String>, ids: &mut ObjectIds| {
            let tree = base.map(|b| repo.find_tree(b).unwrap());
            let built = build_tree(&repo, tree.as_ref(), files, ids).unwrap();
            assert_eq!(built, reference_tree(&repo, files));
            base = Some(built);
            ids.hashed
        };
        // 13 files, 4 × (K, s) + sites + definitions folders: all hashed the first time.
        assert_eq!(build(&files, &mut ids), 23);
        assert_eq!(
            build(&files, &mut ids),
            0,
            "nothing changed, nothing hashed"
        );
        // One file: it, its K, s2 and sites.
        files.insert("sites/s2/K/b1.json".into(), "changed".into());
        assert_eq!(build(&files, &mut ids), 4);
        // Back to what it was two builds ago: hashed again, never taken from an older build.
        files.insert("sites/s2/K/b1.json".into(), "2.1".into());
        assert_eq!(build(&files, &mut ids), 4);
        // A site gone, then back: its objects are hashed again (they were forgotten).
        let gone: BTreeMap<String, String> = files
            .iter()
            .filter(|(p, _)| !p.starts_with("sites/s3/"))
            .map(|(p, c)| (p.clone(), c.clone()))
            .collect();
        assert_eq!(build(&gone, &mut ids), 1, "only the sites folder");
        assert_eq!(build(&files, &mut ids), 6);
        // A file's path becomes a folder's: same path, other kind, other id.
        let mut kinds = files.clone();
        kinds.remove("sites/s0/K/b0.json");
        kinds.insert("sites/s0/K/b0.json/x".into(), "0.0".into());
        assert_eq!(build(&kinds, &mut ids), 5);
        // Content equal to another path's: each path keeps its own id, the same object.
        kinds.insert("sites/s1/K/b0.json".into(), "0.0".into());
        build(&kinds, &mut ids);
        // A refused tree changes nothing known; back to `files`: s0's file, K and s0, s1's
        // file, K and s1, and sites.
        let bad = BTreeMap::from([("sites/s/.git/x".to_string(), "x".to_string())]);
        assert!(build_tree(&repo, None, &bad, &mut ids).is_err());
        assert_eq!(build(&files, &mut ids), 7);
    }

    #[test]
    fn a_digest_is_taken_from_the_last_build_only_for_the_same_bytes_at_the_same_path() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let files = BTreeMap::from([
            ("sites/s/K/a.json".to_string(), "one".to_string()),
            ("sites/s/K/b.json".to_string(), "two".to_string()),
        ]);
        let mut ids = ObjectIds::default();
        build_tree(&repo, None, &files, &mut ids).unwrap();
        let known = |ids: &ObjectIds, path: &str| ids.by_path[path].sha256.clone();
        assert_eq!(known(&ids, "sites/s/K/a.json"), None, "none until asked");
        assert_eq!(ids.sha256("sites/s/K/a.json", b"one"), sha256_hex(b"one"));
        assert_eq!(known(&ids, "sites/s/K/a.json"), Some(sha256_hex(b"one")));
        // Other bytes at a known path, known bytes at another path, a folder's path: computed.
        assert_eq!(
            ids.sha256("sites/s/K/a.json", b"changed"),
            sha256_hex(b"changed")
        );
        assert_eq!(ids.sha256("sites/s/K/c.json", b"one"), sha256_hex(b"one"));
        assert_eq!(ids.sha256("sites/s/K", b"one"), sha256_hex(b"one"));
        assert_eq!(known(&ids, "sites/s/K/a.json"), Some(sha256_hex(b"one")));
        // A digest known is kept by the next build while the file stays, and dropped with it.
        build_tree(&repo, None, &files, &mut ids).unwrap();
        assert_eq!(known(&ids, "sites/s/K/a.json"), Some(sha256_hex(b"one")));
        let changed = BTreeMap::from([("sites/s/K/a.json".to_string(), "changed".to_string())]);
        build_tree(&repo, None, &changed, &mut ids).unwrap();
        assert_eq!(known(&ids, "sites/s/K/a.json"), None);
        assert_eq!(
            ids.sha256("sites/s/K/a.json", b"changed"),
            sha256_hex(b"changed")
        );
    }
}
