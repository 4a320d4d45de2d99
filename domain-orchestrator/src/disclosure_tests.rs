use super::*;
use crate::store::IntentStore;
use crate::store::SledStore;
use maestro_common::status::reasons_to_proto;
use std::sync::Arc;

fn status(intent_id: &str, generation: u64) -> pb::IntentStatus {
    let reasons = vec![
        StatusReason::WaitingForSites {
            waiting: 1,
            total: 2,
        },
        StatusReason::Unreachable {
            domain: "north".into(),
            site: Some("north-1".into()),
            last_heard_ms: Some(5),
        },
        StatusReason::SyncFailing {
            site: "north-2".into(),
            error: "signature invalid".into(),
            since_ms: Some(1),
            commit: "3f2a".into(),
        },
        StatusReason::SitePaused {
            site: "north-3".into(),
            reason: "inspection at north-3".into(),
            since_ms: Some(2),
        },
        StatusReason::Unhealthy {
            blueprint: "web".into(),
            generation: 2,
            attempts: 1,
            message: "north-4 refused the connection".into(),
        },
        StatusReason::FellBack {
            blueprint: "web".into(),
            from_generation: 2,
            attempts: 3,
        },
    ];
    pb::IntentStatus {
        intent_id: intent_id.into(),
        domain: "north".into(),
        generation,
        ready: 1,
        total: 2,
        sites: vec![pb::SiteStatus {
            site: "north-1".into(),
            ..Default::default()
        }],
        message: reasons_text(&reasons),
        reasons: reasons_to_proto(&reasons),
        ..Default::default()
    }
}

fn rules() -> Disclosure {
    Disclosure {
        default: Share::default(),
        organisations: [(
            "globex".to_string(),
            Share {
                site_detail: false,
                logs: false,
            },
        )]
        .into(),
    }
}

#[test]
fn aggregates_only_leaves_no_site_name_and_keeps_the_counts() {
    let out = redact(
        status("i", 1),
        Share {
            site_detail: false,
            logs: true,
        },
    );
    assert!(out.sites.is_empty());
    assert_eq!((out.ready, out.total), (1, 2));
    assert_eq!(out.withheld, [SITE_DETAIL]);
    let text = format!("{out:?}");
    for site in ["north-1", "north-2", "north-3", "north-4"] {
        assert!(!text.contains(site), "{site} in {text}");
    }
    assert!(!text.contains("fell back"), "{text}");
    assert_eq!(out.message, "waiting for 1 of 2 sites");
    assert_eq!(out.reasons.len(), 1);

    let full = redact(status("i", 1), Share::default());
    assert_eq!(full, status("i", 1), "nothing withheld: unchanged");
}

#[test]
fn the_share_follows_the_organisation_that_ordered() {
    let r = rules();
    assert_eq!(r.share("globex").withheld(), [SITE_DETAIL, LOGS]);
    assert_eq!(r.share("acme"), Share::default());
    assert_eq!(r.share(""), Share::default());
    assert!(!r.is_open());
    assert!(Disclosure::default().is_open());
    let bad = Disclosure {
        organisations: [("a b".to_string(), Share::default())].into(),
        ..Disclosure::default()
    };
    assert!(bad.validate("policy.disclosure").is_err());
    let parsed: Disclosure =
        serde_json::from_str(r#"{"default": {"logs": false}, "organisations": {"acme": {}}}"#)
            .unwrap();
    assert_eq!(
        parsed.default,
        Share {
            site_detail: true,
            logs: false
        }
    );
    assert_eq!(parsed.share("acme"), Share::default());
}

#[test]
fn outgoing_looks_up_who_ordered_each_intent_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let mut theirs = crate::intent::sample("theirs");
    theirs.organisation = "globex".into();
    let mut ours = crate::intent::sample("ours");
    ours.organisation = "acme".into();
    store.apply(&theirs).unwrap();
    store.apply(&ours).unwrap();
    let outgoing = Outgoing::new(rules(), store.clone());
    let out = outgoing.status(status(&theirs.id, 1));
    assert!(out.sites.is_empty());
    assert_eq!(out.withheld, [SITE_DETAIL, LOGS]);
    assert!(!outgoing.logs(&theirs.id));
    let out = outgoing.status(status(&ours.id, 1));
    assert_eq!(out.sites.len(), 1);
    assert!(out.withheld.is_empty());
    assert!(outgoing.logs(&ours.id));

    // A later generation ordered by another organisation is looked up again.
    let mut taken_over = theirs.clone();
    taken_over.generation = 2;
    taken_over.organisation = "acme".into();
    store.apply(&taken_over).unwrap();
    assert!(outgoing.status(status(&theirs.id, 2)).withheld.is_empty());
}
