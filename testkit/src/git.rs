//! Bare Git repositories: one a test commits whole file sets into ([`TestRepo`]), and reading a
//! branch the code under test wrote ([`Branch`]).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

/// A bare repository in a temp dir; the test commits whole file sets to `main`.
pub struct TestRepo {
    /// The repository's directory (the test may move it to simulate an outage).
    pub dir: tempfile::TempDir,
    files: BTreeMap<String, Vec<u8>>,
}

impl TestRepo {
    /// An empty bare repository.
    pub fn new() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        git2::Repository::init_bare(dir.path())?;
        Ok(Self {
            dir,
            files: BTreeMap::new(),
        })
    }

    /// The repository's path, as a Git remote.
    pub fn path(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// Sets the file at `path` in the next commit.
    pub fn put(&mut self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.files.insert(path.to_string(), bytes.into());
    }

    /// Leaves the file at `path` out of the next commit.
    pub fn delete(&mut self, path: &str) {
        self.files.remove(path);
    }

    /// Commits the current file set to `main`; returns the commit id.
    pub fn commit(&self, message: &str) -> Result<String> {
        let repo = git2::Repository::open_bare(self.dir.path())?;
        let tree = build_tree(&repo, &self.files, "")?;
        let tree = repo.find_tree(tree)?;
        let sig = git2::Signature::now("test", "test@example.com")?;
        let parent = repo
            .refname_to_id("refs/heads/main")
            .ok()
            .map(|id| repo.find_commit(id))
            .transpose()?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id = repo.commit(
            Some("refs/heads/main"),
            &sig,
            &sig,
            message,
            &tree,
            &parents,
        )?;
        Ok(id.to_string())
    }
}

fn build_tree(
    repo: &git2::Repository,
    files: &BTreeMap<String, Vec<u8>>,
    prefix: &str,
) -> Result<git2::Oid> {
    let mut builder = repo.treebuilder(None)?;
    let mut subdirs: BTreeMap<String, ()> = BTreeMap::new();
    for (path, bytes) in files.range(prefix.to_string()..) {
        let Some(rest) = path.strip_prefix(prefix) else {
            break;
        };
        match rest.split_once('/') {
            Some((dir, _)) => {
                subdirs.insert(dir.to_string(), ());
            }
            None => {
                let blob = repo.blob(bytes)?;
                builder.insert(rest, blob, 0o100644)?;
            }
        }
    }
    for dir in subdirs.keys() {
        let oid = build_tree(repo, files, &format!("{prefix}{dir}/"))?;
        builder.insert(dir, oid, 0o040000)?;
    }
    Ok(builder.write()?)
}

/// The tip of a branch of a bare repository.
#[derive(Debug, Clone)]
pub struct Branch {
    /// The tip's commit id.
    pub head: String,
    /// Commit messages, newest first.
    pub messages: Vec<String>,
    /// Every file of the tip (path -> content, lossy UTF-8).
    pub files: BTreeMap<String, String>,
}

impl Branch {
    /// Reads `branch` of the bare repository at `repo`; None while the branch does not exist.
    pub fn read(repo: &Path, branch: &str) -> Result<Option<Self>> {
        let repo = git2::Repository::open_bare(repo)?;
        let Ok(head) = repo.refname_to_id(&format!("refs/heads/{branch}")) else {
            return Ok(None);
        };
        let mut walk = repo.revwalk()?;
        walk.push(head)?;
        let mut messages = Vec::new();
        for id in walk {
            let commit = repo.find_commit(id?)?;
            messages.push(commit.message().unwrap_or_default().to_string());
        }
        let mut files = BTreeMap::new();
        let mut failed = None;
        repo.find_commit(head)?
            .tree()?
            .walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
                if entry.kind() == Some(git2::ObjectType::Blob) {
                    match repo.find_blob(entry.id()) {
                        Ok(blob) => {
                            let path = format!("{dir}{}", entry.name().unwrap_or_default());
                            let text = String::from_utf8_lossy(blob.content()).into_owned();
                            files.insert(path, text);
                        }
                        Err(e) => {
                            failed = Some(e);
                            return git2::TreeWalkResult::Abort;
                        }
                    }
                }
                git2::TreeWalkResult::Ok
            })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        Ok(Some(Self {
            head: head.to_string(),
            messages,
            files,
        }))
    }

    /// How many commits lead to the tip.
    pub fn commits(&self) -> usize {
        self.messages.len()
    }

    /// The tip's commit message.
    pub fn message(&self) -> &str {
        self.messages.first().map_or("", String::as_str)
    }
}

/// Commit messages on `branch`, newest first (empty while the branch does not exist).
pub fn commit_messages(repo: &Path, branch: &str) -> Result<Vec<String>> {
    Ok(Branch::read(repo, branch)?
        .map(|b| b.messages)
        .unwrap_or_default())
}

/// The file at `path` in the tip of `branch`, if any.
pub fn read_file(repo: &Path, branch: &str, path: &str) -> Result<Option<String>> {
    Ok(Branch::read(repo, branch)?.and_then(|mut b| b.files.remove(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_whole_file_sets_and_reads_them_back() {
        let mut repo = TestRepo::new().unwrap();
        assert!(Branch::read(repo.dir.path(), "main").unwrap().is_none());
        repo.put("a/b/c.json", "1");
        repo.put("top.txt", "2");
        let first = repo.commit("first").unwrap();
        repo.delete("top.txt");
        repo.put("a/d.json", "3");
        let second = repo.commit("second").unwrap();
        let b = Branch::read(repo.dir.path(), "main").unwrap().unwrap();
        assert_eq!(b.head, second);
        assert_ne!(first, second);
        assert_eq!(b.messages, ["second", "first"]);
        assert_eq!(b.commits(), 2);
        assert_eq!(b.message(), "second");
        let paths: Vec<&str> = b.files.keys().map(String::as_str).collect();
        assert_eq!(paths, ["a/b/c.json", "a/d.json"]);
        let file = read_file(repo.dir.path(), "main", "a/d.json").unwrap();
        assert_eq!(file.as_deref(), Some("3"));
    }
}
