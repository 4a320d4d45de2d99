//! Reading a domain's bare Git repository.

use std::path::Path;

/// Commit messages on `branch`, newest first (empty when the branch does not exist yet).
pub fn commit_messages(repo: &Path, branch: &str) -> anyhow::Result<Vec<String>> {
    let repo = git2::Repository::open_bare(repo)?;
    let Ok(head) = repo.refname_to_id(&format!("refs/heads/{branch}")) else {
        return Ok(Vec::new());
    };
    let mut walk = repo.revwalk()?;
    walk.push(head)?;
    let mut out = Vec::new();
    for id in walk {
        let commit = repo.find_commit(id?)?;
        out.push(commit.message().unwrap_or_default().to_string());
    }
    Ok(out)
}

/// The file at `path` in the tip of `branch`, if any.
pub fn read_file(repo: &Path, branch: &str, path: &str) -> anyhow::Result<Option<String>> {
    let repo = git2::Repository::open_bare(repo)?;
    let Ok(head) = repo.refname_to_id(&format!("refs/heads/{branch}")) else {
        return Ok(None);
    };
    let tree = repo.find_commit(head)?.tree()?;
    let Ok(entry) = tree.get_path(Path::new(path)) else {
        return Ok(None);
    };
    let blob = repo.find_blob(entry.id())?;
    Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
}
