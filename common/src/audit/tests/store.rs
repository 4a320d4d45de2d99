//! The sled store, on a real database file in a temporary directory.

use super::*;

fn open(dir: &std::path::Path, every: u64) -> (sled::Db, AuditLog) {
    let db = crate::durable::open(&dir.join("db")).unwrap();
    let key = AuditKey::load_or_generate(dir).unwrap();
    let log = AuditLog::open_in(&db, key, every).unwrap();
    (db, log)
}

fn export(log: &AuditLog) -> (Vec<Entry>, Vec<Checkpoint>) {
    let (head, _) = log.head();
    let (entries, _) = log.entries(0, head, usize::MAX).unwrap();
    (entries, log.checkpoints(head).unwrap())
}

#[tokio::test]
async fn entries_are_chained_checkpointed_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let public = {
        let (_db, log) = open(dir.path(), 4);
        for i in 1..=6 {
            let e = log.record(record(i)).await.unwrap();
            assert_eq!(e.seq, i);
        }
        let (entries, cps) = export(&log);
        assert_eq!(cps.iter().map(|c| c.seq).collect::<Vec<_>>(), [4]);
        let report = verify(&entries, &cps, &log.public_key()).unwrap();
        assert_eq!((report.signed_through, report.unsigned_tail), (4, 2));
        // A timer's checkpoint signs the tail; with nothing new it signs nothing.
        assert_eq!(log.checkpoint().await.unwrap().map(|c| c.seq), Some(6));
        assert!(log.checkpoint().await.unwrap().is_none());
        log.public_key()
    };
    // The key file is private and is the same key after the restart.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join(KEY_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let (_db, log) = open(dir.path(), 4);
    assert_eq!(log.public_key(), public);
    assert_eq!(log.head().0, 6);
    let e = log.record(record(7)).await.unwrap();
    assert_eq!(e.seq, 7);
    let (entries, cps) = export(&log);
    assert_eq!(entries.len(), 7);
    let report = verify(&entries, &cps, &public).unwrap();
    assert_eq!((report.signed_through, report.unsigned_tail), (6, 1));
}

#[tokio::test]
async fn a_value_changed_in_the_sled_file_is_caught_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_db, log) = open(dir.path(), 3);
        for i in 1..=5 {
            log.record(record(i)).await.unwrap();
        }
    }
    {
        // Whoever holds the file edits entry 2, keeping it valid JSON.
        let db = sled::open(dir.path().join("db")).unwrap();
        let tree = db.open_tree(AuditLog::ENTRIES_TREE).unwrap();
        let raw = tree.get(2u64.to_be_bytes()).unwrap().unwrap();
        let text = String::from_utf8(raw.to_vec()).unwrap();
        let edited = text.replace("operator/ada", "operator/eve");
        assert_ne!(text, edited);
        tree.insert(2u64.to_be_bytes(), edited.as_bytes()).unwrap();
        db.flush().unwrap();
    }
    let (_db, log) = open(dir.path(), 3);
    let (entries, cps) = export(&log);
    let f = verify(&entries, &cps, &log.public_key()).unwrap_err();
    assert_eq!((f.seq, f.problem), (2, Problem::HashMismatch), "{f}");
}

#[tokio::test]
async fn an_undecodable_value_is_exported_and_named_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (db, log) = open(dir.path(), 100);
        for i in 1..=3 {
            log.record(record(i)).await.unwrap();
        }
        db.open_tree(AuditLog::ENTRIES_TREE)
            .unwrap()
            .insert(2u64.to_be_bytes(), &b"{garbage"[..])
            .unwrap();
    }
    let (_db, log) = open(dir.path(), 100);
    let (entries, cps) = export(&log);
    assert_eq!(entries.len(), 3);
    let f = verify(&entries, &cps, &log.public_key()).unwrap_err();
    assert_eq!((f.seq, f.problem), (2, Problem::HashMismatch), "{f}");
}

#[tokio::test]
async fn list_filters_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, log) = open(dir.path(), 100);
    for i in 1..=9 {
        log.record(record(i)).await.unwrap();
    }
    log.record(Record::new(
        "spiffe://td/maestro",
        "ApplyIntent",
        vec![Target::new("intent", "i-1")],
        Outcome::ok(),
    ))
    .await
    .unwrap();
    let all = Filter::default();
    let (page, next) = log.list(&all, 0, 4).unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(next, Some(4));
    let (page, next) = log.list(&all, 8, 4).unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [9, 10]);
    assert_eq!(next, None);
    let cancels = Filter {
        what: Some("CancelOrder".into()),
        ..Filter::default()
    };
    let (page, _) = log.list(&cancels, 0, 100).unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 4, 6, 8]);
    let maestro = Filter {
        who: Some("maestro".into()),
        ..Filter::default()
    };
    let (page, _) = log.list(&maestro, 0, 100).unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].call, "ApplyIntent");
    let later = Filter {
        since_ms: Some(crate::time::now_millis() + 60_000),
        ..Filter::default()
    };
    assert!(log.list(&later, 0, 100).unwrap().0.is_empty());
}

#[tokio::test]
async fn the_handler_helper_records_the_outcome_and_returns_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, log) = open(dir.path(), 100);
    let ok: Result<u32, tonic::Status> = Ok(7);
    assert_eq!(
        log.recorded("w", "CreateOrder", vec![], ok).await.unwrap(),
        7
    );
    let denied: Result<u32, tonic::Status> = Err(tonic::Status::permission_denied("no"));
    let e = log
        .recorded("w", "CancelOrder", vec![], denied)
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    let (entries, _) = export(&log);
    assert_eq!(entries[0].outcome, Outcome::ok());
    assert_eq!(entries[1].outcome.code, "PERMISSION_DENIED");
    assert_eq!(entries[1].outcome.message, "no");
}

#[test]
fn an_export_file_round_trips_and_verifies() {
    let k = crate::manifest::SigningKey::generate().unwrap().0;
    let (entries, checkpoints) = super::chain(5, 2, &k);
    let export = Export {
        format: EXPORT_FORMAT.into(),
        public_key: k.public(),
        entries,
        checkpoints,
    };
    let text = serde_json::to_vec_pretty(&export).unwrap();
    let back = Export::parse(&text).unwrap();
    assert_eq!(back, export);
    assert_eq!(back.verify(&k.public()).unwrap().signed_through, 4);
    let wrong = String::from_utf8(text)
        .unwrap()
        .replace(EXPORT_FORMAT, "x/v1");
    assert!(
        Export::parse(wrong.as_bytes())
            .unwrap_err()
            .contains("format")
    );
}

/// A call's change written, not flushed: its entry is appended before the acknowledgement runs,
/// so the acknowledgement's flush of the database serves both, and after the reply both are on
/// disk as a crash leaves them; a refused write is recorded with its error, durably too.
#[tokio::test]
async fn an_entry_recorded_after_a_write_goes_in_before_the_acknowledgement_and_is_durable_with_it()
{
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = open(dir.path(), 100);
    let changes = db.open_tree("changes").unwrap();
    changes.insert("intent-1", "v1").unwrap();
    let target = vec![Target::new("intent", "intent-1")];
    let written: Result<(), tonic::Status> = Ok(());
    let reply = log
        .recorded_after_write("w", "ApplyIntent", target, written, |()| async {
            assert_eq!(
                log.head().0,
                1,
                "the entry is appended before the acknowledgement"
            );
            crate::durable::flush(&db)
                .await
                .map_err(|e| tonic::Status::internal(e.to_string()))?;
            Ok(7_u32)
        })
        .await
        .unwrap();
    assert_eq!(reply, 7);
    let refused: Result<(), tonic::Status> = Err(tonic::Status::invalid_argument("bad"));
    let e = log
        .recorded_after_write("w", "ApplyIntent", vec![], refused, |()| async {
            Ok::<u32, tonic::Status>(0)
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    // sled writes asynchronously on drop: only what was flushed is certain.
    let copy = tempfile::tempdir().unwrap();
    crate::durable::copy_as_crashed(dir.path(), copy.path());
    std::mem::forget((db, changes, log));
    let (db, log) = open(copy.path(), 100);
    let changes = db.open_tree("changes").unwrap();
    assert_eq!(
        changes.get("intent-1").unwrap().as_deref(),
        Some(&b"v1"[..])
    );
    let (entries, _) = export(&log);
    let outcomes: Vec<&str> = entries.iter().map(|e| e.outcome.code.as_str()).collect();
    assert_eq!(outcomes, [Outcome::ok().code.as_str(), "INVALID_ARGUMENT"]);
}
