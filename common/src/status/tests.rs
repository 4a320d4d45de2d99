use super::*;

fn every_kind() -> Vec<StatusReason> {
    vec![
        StatusReason::Unreachable {
            domain: "north".into(),
            site: None,
            last_heard_ms: Some(1_700_000_000_123),
        },
        StatusReason::Unreachable {
            domain: "north".into(),
            site: Some("n2".into()),
            last_heard_ms: None,
        },
        StatusReason::Unregistered {
            domain: "east".into(),
        },
        StatusReason::Retrying {
            domain: String::new(),
            error: "git push: connection refused".into(),
            attempt: 3,
            next_attempt_ms: Some(1_700_000_001_000),
        },
        StatusReason::AwaitingDelivery {
            domain: "south".into(),
            attempts: 2,
            last_error: "unavailable".into(),
        },
        StatusReason::Rejected {
            domain: "south".into(),
            reason: "bad template".into(),
        },
        StatusReason::Failed {
            domain: "south".into(),
            error: "rendering failed".into(),
        },
        StatusReason::WaitingForCommit,
        StatusReason::WaitingForSites {
            waiting: 1,
            total: 3,
        },
        StatusReason::SitesUnreachable {
            unreachable: 1,
            total: 3,
        },
        StatusReason::Progressing {
            domain: "north".into(),
            ready: 1,
            total: 2,
            generation: 4,
        },
        StatusReason::WaitingForGeneration {
            domain: "north".into(),
            generation: 4,
        },
        StatusReason::Superseded { generation: 5 },
        StatusReason::BlueprintPending {
            blueprint: "web".into(),
            generation: None,
            message: String::new(),
        },
        StatusReason::BlueprintPending {
            blueprint: "web".into(),
            generation: Some(2),
            message: "pulling image".into(),
        },
        StatusReason::SyncFailing {
            site: "north-1".into(),
            error: "git fetch failed: timed out".into(),
            since_ms: Some(1_700_000_000_000),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
        },
    ]
}

#[test]
fn every_kind_survives_the_proto_round_trip() {
    for r in every_kind() {
        let back = StatusReason::try_from(pb::StatusReason::from(&r));
        assert_eq!(back.as_ref(), Ok(&r), "{r:?}");
    }
    let list = every_kind();
    assert_eq!(
        reasons_from_proto("reasons", reasons_to_proto(&list)).as_deref(),
        Ok(list.as_slice())
    );
}

#[test]
fn every_kind_survives_the_json_round_trip() {
    for r in every_kind() {
        let json = serde_json::to_string(&r).expect("serialises");
        let back: StatusReason = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, r, "{json}");
    }
}

#[test]
fn the_proto_form_carries_timestamps_not_ages() {
    let r = pb::StatusReason::from(StatusReason::Unreachable {
        domain: "north".into(),
        site: Some("n2".into()),
        last_heard_ms: Some(1_700_000_000_123),
    });
    let Some(Kind::Unreachable(u)) = r.kind else {
        panic!("unreachable expected: {r:?}")
    };
    assert_eq!(u.site, "n2");
    assert_eq!(millis(u.last_heard.as_ref()), 1_700_000_000_123);
}

#[test]
fn invalid_proto_reasons_are_rejected_with_the_field_path() {
    let none = StatusReason::try_from(pb::StatusReason { kind: None });
    assert_eq!(none, Err(FieldError::new("kind", "missing or unknown")));
    let nameless = pb::StatusReason {
        kind: Some(Kind::Unreachable(pb::Unreachable::default())),
    };
    let err = reasons_from_proto(
        "sites[1].reasons",
        vec![
            pb::StatusReason::from(StatusReason::WaitingForCommit),
            nameless,
        ],
    );
    assert_eq!(
        err,
        Err(FieldError::new(
            "sites[1].reasons[1].unreachable.domain",
            "must not be empty"
        ))
    );
}

#[test]
fn text_holds_no_age() {
    let texts: Vec<String> = every_kind().iter().map(ToString::to_string).collect();
    assert_eq!(texts[0], "domain north unreachable");
    assert_eq!(texts[1], "site n2 in north unreachable");
    assert_eq!(
        texts[3],
        "retrying after: git push: connection refused (attempt 3)"
    );
    assert_eq!(
        texts[4],
        "awaiting delivery to domain south (2 attempts: unavailable)"
    );
    assert_eq!(texts[13], "web: no status yet");
    assert_eq!(texts[14], "web: pulling image");
    assert!(texts.iter().all(|t| !t.contains(" ago")), "{texts:#?}");
    assert_eq!(
        reasons_text(&every_kind()[8..10]),
        "waiting for 1 of 3 sites; 1 of 3 sites unreachable"
    );
}
