use std::fs;

use serde_json::json;

use super::*;

struct Rig {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    r: ConfigFileReconciler,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("files");
    let db = sled::Config::new().temporary(true).open().unwrap();
    let r = ConfigFileReconciler::new(
        ManagedDir::open(&root).unwrap(),
        Manifest::open(&db).unwrap(),
    );
    Rig { _dir: dir, root, r }
}

fn desired(files: serde_json::Value, generation: i64) -> FilesDesired {
    FilesDesired {
        files: parse(&json!({ "files": files })).unwrap(),
        generation,
    }
}

/// One convergence as the driver runs it, for a blueprint `name` at `generation`.
async fn converge(
    r: &ConfigFileReconciler,
    name: &str,
    d: Option<&FilesDesired>,
) -> (Outcome, Status) {
    let Some(d) = d else {
        let out = crate::remove_blueprint(r, name).await.unwrap();
        return (out, Status::default());
    };
    let files: Vec<Value> = d
        .files
        .iter()
        .map(|f| json!({"path": f.path, "content": f.content, "mode": format!("{:o}", f.mode)}))
        .collect();
    let mut bp = Blueprint::new(KIND, name, "site", json!({ "files": files }));
    bp.metadata.generation = d.generation;
    let c = crate::converge_blueprint(r, &bp).await.unwrap();
    (c.outcome, c.status)
}

#[tokio::test]
async fn writes_modifies_adopts_and_removes_its_files() {
    let rig = rig();
    let v1 = desired(
        json!([{"path": "gw/app.conf", "content": "a=1\n", "mode": "0640"},
                             {"path": "motd", "content": "hi\n"}]),
        1,
    );
    let (out, status) = converge(&rig.r, "gw", Some(&v1)).await;
    assert!(out.errors.is_empty(), "{out:?}");
    assert_eq!(out.done.len(), 2);
    assert_eq!(
        fs::read_to_string(rig.root.join("gw/app.conf")).unwrap(),
        "a=1\n"
    );
    assert_eq!((status.running, status.total), (2, 2));
    let app = status
        .instances
        .iter()
        .find(|i| i.name == "gw/app.conf")
        .unwrap();
    assert_eq!(app.extra["sha256"], json!(v1.files[0].sha256));
    assert_eq!(app.extra["mode"], json!("0640"));

    // Nothing to do the second time.
    let (out, _) = converge(&rig.r, "gw", Some(&v1)).await;
    assert_eq!(out, Outcome::default());

    // A new generation with one file changed and one gone: one write, one removal, and the
    // unchanged... none here; generation moves on.
    let v2 = desired(
        json!([{"path": "gw/app.conf", "content": "a=2\n", "mode": "0640"}]),
        2,
    );
    let (out, status) = converge(&rig.r, "gw", Some(&v2)).await;
    assert!(out.errors.is_empty(), "{out:?}");
    assert_eq!(out.done.len(), 2, "{out:?}");
    assert!(!rig.root.join("motd").exists());
    assert_eq!(
        fs::read_to_string(rig.root.join("gw/app.conf")).unwrap(),
        "a=2\n"
    );
    assert_eq!(status.instances[0].generation, Some(2));

    // Same content at generation 3: adopted without a write, generation recorded.
    let v3 = desired(
        json!([{"path": "gw/app.conf", "content": "a=2\n", "mode": "0640"}]),
        3,
    );
    let (out, status) = converge(&rig.r, "gw", Some(&v3)).await;
    assert!(out.done.is_empty() && out.errors.is_empty(), "{out:?}");
    assert_eq!(status.instances[0].generation, Some(3));

    // Deleted: everything removed, empty folders too.
    let (out, _) = converge(&rig.r, "gw", None).await;
    assert_eq!(out.done, vec!["removed gw/app.conf".to_string()]);
    assert!(!rig.root.join("gw").exists());
    assert!(rig.r.existing().await.unwrap().is_empty());
}

#[tokio::test]
async fn drift_is_repaired_and_foreign_files_are_left_alone() {
    let rig = rig();
    fs::create_dir_all(&rig.root).unwrap();
    fs::write(rig.root.join("by-hand.conf"), "mine").unwrap();
    let d = desired(json!([{"path": "app.conf", "content": "x\n"}]), 1);
    converge(&rig.r, "a", Some(&d)).await;
    fs::write(rig.root.join("app.conf"), "tampered").unwrap();
    let observed = rig.r.observe("a").await.unwrap();
    assert_eq!(
        rig.r.status(Some(&d), &observed).instances[0].state,
        "modified"
    );
    let (out, status) = converge(&rig.r, "a", Some(&d)).await;
    assert_eq!(out.done.len(), 1, "{out:?}");
    assert_eq!(
        fs::read_to_string(rig.root.join("app.conf")).unwrap(),
        "x\n"
    );
    assert_eq!(status.running, 1);
    converge(&rig.r, "a", None).await;
    assert_eq!(
        fs::read_to_string(rig.root.join("by-hand.conf")).unwrap(),
        "mine"
    );
}

#[tokio::test]
async fn a_blueprint_cannot_take_another_ones_file() {
    let rig = rig();
    let d = desired(json!([{"path": "shared.conf", "content": "a\n"}]), 1);
    converge(&rig.r, "a", Some(&d)).await;
    let other = desired(json!([{"path": "shared.conf", "content": "b\n"}]), 1);
    let (out, status) = converge(&rig.r, "b", Some(&other)).await;
    assert!(out.errors[0].contains("belongs to blueprint a"), "{out:?}");
    assert_eq!((status.running, status.total), (0, 1));
    assert_eq!(
        fs::read_to_string(rig.root.join("shared.conf")).unwrap(),
        "a\n"
    );
    // Removing b's (never written) files leaves a's alone.
    converge(&rig.r, "b", None).await;
    assert!(rig.root.join("shared.conf").exists());
}

#[test]
fn plan_removes_everything_without_desired_state() {
    let w = |path: &str| ObservedFile {
        written: Written {
            path: path.into(),
            blueprint: "a".into(),
            sha256: String::new(),
            mode: 0o644,
            generation: 1,
        },
        on_disk: Ok(None),
    };
    assert_eq!(
        plan_files(None, &[w("x"), w("y/z")]),
        vec![FileStep::Remove("x".into()), FileStep::Remove("y/z".into())]
    );
}
