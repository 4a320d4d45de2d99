//! A Git server the test controls, to play a compromised one: the domain pushes to its own bare
//! repository (`real`), the sites fetch from another (`served`), and what `served` holds is up
//! to the test: the real head ([`GitServer::forward`]), any older commit ([`GitServer::serve`]),
//! or a commit it forges itself ([`GitServer::forge`]).

use anyhow::Context;
use git2::{Oid, Repository, Signature};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const BRANCH: &str = "refs/heads/main";

/// The domain's repository and the one its sites are served.
#[derive(Debug, Clone)]
pub struct GitServer {
    /// Where the domain publishes.
    pub real: PathBuf,
    /// What the sites fetch.
    pub served: PathBuf,
}

/// The files of a commit by path (blobs only).
pub type Files = BTreeMap<String, Vec<u8>>;

impl GitServer {
    /// Creates the served bare repository (its HEAD names `main`); `real` may not exist yet.
    pub fn new(real: &Path, served: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(served)?;
        let repo = Repository::init_bare(served)?;
        repo.set_head(BRANCH)?;
        Ok(Self {
            real: real.to_path_buf(),
            served: served.to_path_buf(),
        })
    }

    fn served_repo(&self) -> anyhow::Result<Repository> {
        Ok(Repository::open_bare(&self.served)?)
    }

    /// Copies every commit of the real branch into the served repository (refs untouched);
    /// returns the real head.
    fn fetch_real(&self) -> anyhow::Result<Option<String>> {
        if !self.real.exists() {
            return Ok(None);
        }
        let repo = self.served_repo()?;
        let mut remote = repo.remote_anonymous(&self.real.display().to_string())?;
        remote.fetch(&["+refs/heads/main:refs/real/main"], None, None)?;
        Ok(repo
            .refname_to_id("refs/real/main")
            .ok()
            .map(|o| o.to_string()))
    }

    /// Serves the real head (what an honest server does); returns it.
    pub fn forward(&self) -> anyhow::Result<Option<String>> {
        let head = self.fetch_real()?;
        if let Some(h) = &head {
            self.serve(h)?;
        }
        Ok(head)
    }

    /// The real head, without serving it.
    pub fn real_head(&self) -> anyhow::Result<Option<String>> {
        self.fetch_real()
    }

    /// Serves `commit` (of the real history or forged), forcing the branch to it.
    pub fn serve(&self, commit: &str) -> anyhow::Result<()> {
        self.fetch_real()?;
        let repo = self.served_repo()?;
        repo.reference(BRANCH, Oid::from_str(commit)?, true, "test: serve")?;
        Ok(())
    }

    /// The served head.
    pub fn head(&self) -> anyhow::Result<Option<String>> {
        Ok(self
            .served_repo()?
            .refname_to_id(BRANCH)
            .ok()
            .map(|o| o.to_string()))
    }

    /// Every file of `commit`.
    pub fn files(&self, commit: &str) -> anyhow::Result<Files> {
        self.fetch_real()?;
        let repo = self.served_repo()?;
        let tree = repo.find_commit(Oid::from_str(commit)?)?.tree()?;
        let mut files = Files::new();
        let mut failed = None;
        tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                let path = format!("{root}{}", entry.name().unwrap_or_default());
                match repo.find_blob(entry.id()) {
                    Ok(b) => {
                        files.insert(path, b.content().to_vec());
                    }
                    Err(e) => failed = Some(e),
                }
            }
            git2::TreeWalkResult::Ok
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        Ok(files)
    }

    /// Forges a commit on `parent` whose files are `parent`'s changed by `edit`, and serves it.
    pub fn forge(&self, parent: &str, edit: impl FnOnce(&mut Files)) -> anyhow::Result<String> {
        let mut files = self.files(parent)?;
        edit(&mut files);
        let repo = self.served_repo()?;
        let tree = write_tree(&repo, &files)?;
        let tree = repo.find_tree(tree)?;
        let parent = repo.find_commit(Oid::from_str(parent)?)?;
        let sig = Signature::now("mallory", "mallory@example.org")?;
        let commit = repo.commit(None, &sig, &sig, "forged\n", &tree, &[&parent])?;
        repo.reference(BRANCH, commit, true, "test: forge")?;
        Ok(commit.to_string())
    }
}

/// A tree holding exactly `files`.
fn write_tree(repo: &Repository, files: &Files) -> anyhow::Result<Oid> {
    let mut dirs: BTreeMap<String, Files> = BTreeMap::new();
    let mut builder = repo.treebuilder(None)?;
    for (path, content) in files {
        match path.split_once('/') {
            Some((dir, rest)) => {
                dirs.entry(dir.to_string())
                    .or_default()
                    .insert(rest.to_string(), content.clone());
            }
            None => {
                builder.insert(path, repo.blob(content)?, git2::FileMode::Blob.into())?;
            }
        }
    }
    for (dir, sub) in &dirs {
        let oid = write_tree(repo, sub).with_context(|| format!("folder {dir}"))?;
        builder.insert(dir, oid, git2::FileMode::Tree.into())?;
    }
    Ok(builder.write()?)
}
