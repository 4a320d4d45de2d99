//! GitPublisher against real bare repositories.

mod common;

use common::branch;
use domain_orchestrator::git::{BlueprintRepo, GitPublisher, init_bare_remote};
use std::collections::BTreeMap;

fn files(replicas: u32) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "definitions/ProcessDeployment.json".to_string(),
            "{}\n".to_string(),
        ),
        (
            "sites/s1/ProcessDeployment/web.json".to_string(),
            format!("{{\"replicas\": {replicas}}}\n"),
        ),
    ])
}

/// Commits `README.md` onto `main` of `remote` from an independent clone.
fn foreign_commit(remote: &std::path::Path, dir: &std::path::Path) {
    let repo = git2::Repository::clone(remote.to_str().unwrap(), dir).unwrap();
    std::fs::write(dir.join("README.md"), "hello\n").unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(std::path::Path::new("README.md")).unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("someone", "someone@example.com").unwrap();
    let parent = repo.head().unwrap().peel_to_commit().unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "docs", &tree, &[&parent])
        .unwrap();
    repo.find_remote("origin")
        .unwrap()
        .push(&["refs/heads/main:refs/heads/main"], None)
        .unwrap();
}

#[test]
fn commits_only_changes_and_builds_on_foreign_commits() {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote.git");
    init_bare_remote(&remote, "main").unwrap();
    let publisher = GitPublisher::open(
        &dir.path().join("mirror"),
        remote.to_str().unwrap(),
        "main",
        false,
        "north",
    )
    .unwrap();

    let first = publisher.publish(&files(1), "one").unwrap();
    assert!(first.changed);
    let again = publisher.publish(&files(1), "one again").unwrap();
    assert_eq!(
        (again.changed, again.commit.as_str()),
        (false, first.commit.as_str())
    );
    assert_eq!(branch(&remote).unwrap().commits, 1);

    foreign_commit(&remote, &dir.path().join("clone"));
    let second = publisher.publish(&files(2), "two").unwrap();
    assert!(second.changed);
    let b = branch(&remote).unwrap();
    assert_eq!(
        (b.commits, b.head.as_str(), b.message.as_str()),
        (3, second.commit.as_str(), "two")
    );
    assert_eq!(
        b.files["README.md"], "hello\n",
        "files outside the managed dirs are kept"
    );
    assert_eq!(
        b.files["sites/s1/ProcessDeployment/web.json"],
        "{\"replicas\": 2}\n"
    );

    // A second mirror (another orchestrator instance) starts from the remote and sees no change.
    let other = GitPublisher::open(
        &dir.path().join("mirror2"),
        remote.to_str().unwrap(),
        "main",
        false,
        "north",
    )
    .unwrap();
    assert!(!other.publish(&files(2), "same").unwrap().changed);
    let mut fewer = files(2);
    fewer.remove("sites/s1/ProcessDeployment/web.json");
    assert!(other.publish(&fewer, "remove").unwrap().changed);
    let b = branch(&remote).unwrap();
    assert!(
        !b.files.keys().any(|p| p.starts_with("sites/")),
        "{:?}",
        b.files.keys()
    );
    assert_eq!(b.commits, 4);
}

#[test]
fn rejects_paths_outside_the_managed_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote.git");
    init_bare_remote(&remote, "main").unwrap();
    let publisher = GitPublisher::open(
        &dir.path().join("mirror"),
        remote.to_str().unwrap(),
        "main",
        false,
        "north",
    )
    .unwrap();
    for bad in ["README.md", "sites/../x.json", "other/a.json"] {
        let f = BTreeMap::from([(bad.to_string(), "x".to_string())]);
        assert!(publisher.publish(&f, "bad").is_err(), "{bad}");
    }
    assert!(branch(&remote).is_none());
}
