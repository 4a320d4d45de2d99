use super::*;
use crate::manifest::SigningKey;

fn record(i: u64) -> Record {
    Record::new(
        "spiffe://td/operator/ada",
        if i.is_multiple_of(2) {
            "CancelOrder"
        } else {
            "CreateOrder"
        },
        vec![Target::new("order", &format!("order-{i}"))],
        Outcome::ok(),
    )
}

/// A chain of `n` entries with a checkpoint after every `every`-th, signed by `key`.
fn chain(n: u64, every: u64, key: &SigningKey) -> (Vec<Entry>, Vec<Checkpoint>) {
    let mut entries: Vec<Entry> = Vec::new();
    let mut cps = Vec::new();
    for seq in 1..=n {
        let prev = entries.last().map_or(Digest::GENESIS, |e| e.hash);
        let e = Entry::new(seq, 1_000 + seq as i64, prev, record(seq));
        if seq.is_multiple_of(every) {
            cps.push(Checkpoint::sign(key, seq, e.hash, 5_000 + seq as i64));
        }
        entries.push(e);
    }
    (entries, cps)
}

fn key() -> SigningKey {
    SigningKey::generate().unwrap().0
}

#[test]
fn an_intact_log_verifies_with_its_signed_part_and_unsigned_tail() {
    let k = key();
    let (entries, cps) = chain(10, 4, &k);
    let report = verify(&entries, &cps, &k.public()).unwrap();
    assert_eq!(report.entries, 10);
    assert_eq!(report.checkpoints, 2);
    assert_eq!(report.signed_through, 8);
    assert_eq!(report.unsigned_tail, 2);
    assert_eq!(report.head_seq, 10);
    assert_eq!(report.head, entries[9].hash);
    let empty = verify(&[], &[], &k.public()).unwrap();
    assert_eq!((empty.entries, empty.head_seq), (0, 0));
}

#[test]
fn a_changed_entry_is_a_hash_mismatch_at_its_sequence() {
    let k = key();
    let (mut entries, cps) = chain(10, 4, &k);
    entries[2].who = "spiffe://td/operator/mallory".into();
    let f = verify(&entries, &cps, &k.public()).unwrap_err();
    assert_eq!((f.seq, f.problem), (3, Problem::HashMismatch), "{f}");
    // The outcome and the targets are covered too.
    let (mut entries, cps) = chain(10, 4, &k);
    entries[6].outcome = Outcome {
        code: "PERMISSION_DENIED".into(),
        message: "no".into(),
    };
    let f = verify(&entries, &cps, &k.public()).unwrap_err();
    assert_eq!((f.seq, f.problem), (7, Problem::HashMismatch));
    let (mut entries, cps) = chain(10, 4, &k);
    entries[0].targets[0].id = "order-x".into();
    assert_eq!(verify(&entries, &cps, &k.public()).unwrap_err().seq, 1);
}

#[test]
fn a_changed_entry_with_a_recomputed_hash_breaks_the_chain_after_it() {
    let k = key();
    let (mut entries, cps) = chain(10, 4, &k);
    entries[2].call = "GetOrder".into();
    entries[2].hash = entries[2].computed_hash();
    let f = verify(&entries, &cps, &k.public()).unwrap_err();
    assert_eq!((f.seq, f.problem), (4, Problem::ChainBreak), "{f}");
}

#[test]
fn a_rewritten_chain_fails_at_the_first_checkpoint_that_covers_it() {
    let k = key();
    let (mut entries, cps) = chain(10, 4, &k);
    entries[5].who = "spiffe://td/operator/mallory".into();
    for i in 5..entries.len() {
        entries[i].prev = entries[i - 1].hash;
        entries[i].hash = entries[i].computed_hash();
    }
    let f = verify(&entries, &cps, &k.public()).unwrap_err();
    assert_eq!((f.seq, f.problem), (8, Problem::CheckpointMismatch), "{f}");
}

#[test]
fn a_removed_entry_is_a_gap_at_its_sequence() {
    let k = key();
    let (mut entries, cps) = chain(10, 4, &k);
    entries.remove(4);
    let f = verify(&entries, &cps, &k.public()).unwrap_err();
    assert_eq!((f.seq, f.problem), (5, Problem::Missing), "{f}");
    assert!(f.reason.contains("entry 6 follows entry 4"), "{f}");
    let (mut entries, cps) = chain(3, 4, &k);
    entries.remove(0);
    let f = verify(&entries, &cps, &k.public()).unwrap_err();
    assert_eq!((f.seq, f.problem), (1, Problem::Missing), "{f}");
}

#[test]
fn a_removed_entry_renumbered_to_close_the_gap_breaks_the_chain() {
    let k = key();
    let (mut entries, cps) = chain(10, 4, &k);
    entries.remove(4);
    for e in &mut entries[4..] {
        e.seq -= 1;
        e.hash = e.computed_hash();
    }
    let f = verify(&entries, &cps, &k.public()).unwrap_err();
    assert_eq!((f.seq, f.problem), (5, Problem::ChainBreak), "{f}");
}

#[test]
fn swapped_entries_are_reported_as_reordered_where_the_first_belongs() {
    let k = key();
    let (mut entries, cps) = chain(10, 4, &k);
    entries.swap(2, 3);
    let f = verify(&entries, &cps, &k.public()).unwrap_err();
    assert_eq!((f.seq, f.problem), (3, Problem::Reordered), "{f}");
    // Swapped and renumbered: the sequence numbers look right, the chain does not.
    let (mut entries, cps) = chain(10, 4, &k);
    entries.swap(2, 3);
    entries[2].seq = 3;
    entries[3].seq = 4;
    entries[2].hash = entries[2].computed_hash();
    entries[3].hash = entries[3].computed_hash();
    let f = verify(&entries, &cps, &k.public()).unwrap_err();
    assert_eq!((f.seq, f.problem), (3, Problem::ChainBreak), "{f}");
    // A duplicated entry is out of place too.
    let (mut entries, cps) = chain(5, 8, &k);
    let again = entries[2].clone();
    entries.insert(3, again);
    let f = verify(&entries, &cps, &k.public()).unwrap_err();
    assert_eq!((f.seq, f.problem), (3, Problem::Reordered), "{f}");
}

#[test]
fn a_cut_tail_is_caught_by_a_checkpoint_but_not_within_the_unsigned_tail() {
    let k = key();
    let (entries, cps) = chain(10, 4, &k);
    let f = verify(&entries[..6], &cps, &k.public()).unwrap_err();
    assert_eq!((f.seq, f.problem), (7, Problem::Truncated), "{f}");
    assert!(f.reason.contains("covers entry 8"), "{f}");
    // Entries 9 and 10 are signed by no checkpoint: cutting them leaves a valid, shorter log,
    // which only a head pinned elsewhere reveals.
    let report = verify(&entries[..8], &cps, &k.public()).unwrap();
    assert_eq!((report.head_seq, report.unsigned_tail), (8, 0));
}

#[test]
fn a_bad_or_forged_checkpoint_signature_is_named() {
    let k = key();
    let (entries, mut cps) = chain(10, 4, &k);
    cps[1].signature[0] ^= 1;
    let f = verify(&entries, &cps, &k.public()).unwrap_err();
    assert_eq!((f.seq, f.problem), (8, Problem::BadSignature), "{f}");
    // A checkpoint another key signed proves nothing.
    let other = key();
    let (entries, mut cps) = chain(10, 4, &k);
    cps.push(Checkpoint::sign(&other, 10, entries[9].hash, 9_999));
    let f = verify(&entries, &cps, &k.public()).unwrap_err();
    assert_eq!((f.seq, f.problem), (10, Problem::BadSignature), "{f}");
    // Nor does a log verified against another key than its own.
    let (entries, cps) = chain(10, 4, &k);
    let f = verify(&entries, &cps, &other.public()).unwrap_err();
    assert_eq!((f.seq, f.problem), (4, Problem::BadSignature), "{f}");
    // A checkpoint's time is signed too.
    let (entries, mut cps) = chain(10, 4, &k);
    cps[0].time_ms += 1;
    assert_eq!(
        verify(&entries, &cps, &k.public()).unwrap_err().problem,
        Problem::BadSignature
    );
}

#[test]
fn the_encoding_separates_fields_so_moving_bytes_between_them_changes_the_hash() {
    let a = Entry::new(
        1,
        0,
        Digest::GENESIS,
        Record::new("ab", "c", vec![], Outcome::ok()),
    );
    let b = Entry::new(
        1,
        0,
        Digest::GENESIS,
        Record::new("a", "bc", vec![], Outcome::ok()),
    );
    assert_ne!(a.hash, b.hash);
    let t1 = Entry::new(
        1,
        0,
        Digest::GENESIS,
        Record::new("w", "c", vec![Target::new("k", "ab")], Outcome::ok()),
    );
    let t2 = Entry::new(
        1,
        0,
        Digest::GENESIS,
        Record::new("w", "c", vec![Target::new("ka", "b")], Outcome::ok()),
    );
    assert_ne!(t1.hash, t2.hash);
    assert_eq!(a.computed_hash(), a.hash);
}

#[test]
fn a_record_bounds_and_escapes_what_came_from_a_request() {
    let long = "x".repeat(100_000);
    let targets: Vec<Target> = (0..40)
        .map(|i| Target::new("order", &i.to_string()))
        .collect();
    let r = Record::new(
        "spiffe://td/operator/ada",
        "CancelOrder",
        targets,
        Outcome::of_status(&tonic::Status::invalid_argument(format!(
            "bad\n2026-01-01 INFO forged\u{1b}[2J{long}"
        ))),
    );
    assert_eq!(r.targets.len(), entry_max_targets());
    assert_eq!(r.targets.last().unwrap().kind, "more");
    assert_eq!(r.targets.last().unwrap().id, "25");
    assert_eq!(r.outcome.code, "INVALID_ARGUMENT");
    assert!(
        r.outcome.message.len() <= 1024,
        "{}",
        r.outcome.message.len()
    );
    assert!(!r.outcome.message.chars().any(crate::text::is_forbidden));
    assert!(
        r.outcome.message.starts_with("bad\\u{a}2026"),
        "{}",
        r.outcome.message
    );
    let t = Target::new("order", &long);
    assert!(t.id.len() <= 256 && t.id.ends_with('…'));
}

fn entry_max_targets() -> usize {
    16
}

#[test]
fn filters_match_who_by_its_last_parts_and_what_by_call_or_target() {
    let e = Entry::new(7, 5_000, Digest::GENESIS, record(7));
    let f = |who: Option<&str>, what: Option<&str>, since, until| Filter {
        who: who.map(Into::into),
        what: what.map(Into::into),
        since_ms: since,
        until_ms: until,
    };
    assert!(f(None, None, None, None).matches(&e));
    assert!(f(Some("ada"), None, None, None).matches(&e));
    assert!(f(Some("operator/ada"), None, None, None).matches(&e));
    assert!(f(Some("spiffe://td/operator/ada"), None, None, None).matches(&e));
    assert!(!f(Some("da"), None, None, None).matches(&e));
    assert!(f(None, Some("createorder"), None, None).matches(&e));
    assert!(f(None, Some("order-7"), None, None).matches(&e));
    assert!(!f(None, Some("CancelOrder"), None, None).matches(&e));
    assert!(f(None, None, Some(5_000), Some(5_000)).matches(&e));
    assert!(!f(None, None, Some(5_001), None).matches(&e));
    assert!(!f(None, None, None, Some(4_999)).matches(&e));
}

mod store;
