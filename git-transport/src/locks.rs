//! Stale Git lock files. A process killed while it updates a repository leaves `*.lock` files
//! behind (`config.lock`, `refs/…/main.lock`, `packed-refs.lock`), and every later update of
//! that file fails with "failed to lock file". A repository that only one process writes (its
//! data directory is held by that process's store lock) has no live lock at start-up, so such
//! files are stale and can go.

use std::path::Path;

/// Removes every `*.lock` file under `dir` (recursively); returns the paths removed. Only for a
/// repository that no other process writes, before this process touches it.
pub fn remove_stale_locks(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut removed = Vec::new();
    remove_in(dir, &mut removed);
    removed
}

fn remove_in(dir: &Path, removed: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            remove_in(&path, removed);
        } else if path.extension().is_some_and(|e| e == "lock")
            && std::fs::remove_file(&path).is_ok()
        {
            tracing::warn!(path = %path.display(), "removed a stale Git lock file");
            removed.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_lock_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let refs = dir.path().join("refs/heads");
        std::fs::create_dir_all(&refs).unwrap();
        for f in [
            "config.lock",
            "config",
            "refs/heads/main.lock",
            "refs/heads/main",
        ] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let mut removed = remove_stale_locks(dir.path());
        removed.sort();
        assert_eq!(
            removed,
            [
                dir.path().join("config.lock"),
                dir.path().join("refs/heads/main.lock")
            ]
        );
        assert!(dir.path().join("config").exists() && refs.join("main").exists());
    }
}
