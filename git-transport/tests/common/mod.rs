//! Local repositories the transport tests push from and fetch into.

#![allow(dead_code)]

use std::path::Path;

use maestro_git_transport::RemoteAccess;

/// A bare repository at `dir` with one commit on `main` holding `file` = `content`; its id.
pub fn repo_with_commit(dir: &Path, file: &str, content: &str) -> git2::Oid {
    let repo = git2::Repository::init_bare(dir).unwrap();
    let blob = repo.blob(content.as_bytes()).unwrap();
    let mut tree = repo.treebuilder(None).unwrap();
    tree.insert(file, blob, git2::FileMode::Blob.into())
        .unwrap();
    let tree = repo.find_tree(tree.write().unwrap()).unwrap();
    let sig = git2::Signature::now("test", "test@example.com").unwrap();
    repo.commit(
        Some("refs/heads/main"),
        &sig,
        &sig,
        "test commit",
        &tree,
        &[],
    )
    .unwrap()
}

/// Pushes `main` of the repository at `dir` to `url` through `access`.
pub fn push(access: &RemoteAccess, dir: &Path, url: &str) -> Result<(), git2::Error> {
    let repo = git2::Repository::open_bare(dir)?;
    let mut remote = repo.remote_anonymous(url)?;
    let mut rejected = None;
    access.run(|| {
        let mut callbacks = git2::RemoteCallbacks::new();
        callbacks.push_update_reference(|_, status| {
            rejected = status.map(str::to_string);
            Ok(())
        });
        let mut opts = git2::PushOptions::new();
        opts.remote_callbacks(callbacks);
        remote.push(&["refs/heads/main:refs/heads/main"], Some(&mut opts))
    })?;
    match rejected {
        Some(r) => Err(git2::Error::from_str(&format!("rejected: {r}"))),
        None => Ok(()),
    }
}

/// Fetches `main` of `url` into a new bare repository at `dir`; the fetched commit.
pub fn fetch(access: &RemoteAccess, dir: &Path, url: &str) -> Result<git2::Oid, git2::Error> {
    let repo = git2::Repository::init_bare(dir)?;
    let mut remote = repo.remote_anonymous(url)?;
    access.run(|| remote.fetch(&["+refs/heads/main:refs/remotes/origin/main"], None, None))?;
    repo.refname_to_id("refs/remotes/origin/main")
}
