use super::*;
use maestro_common::ResourceName;

fn intent(generation: u64) -> Intent {
    Intent {
        id: maestro_common::ids::intent_id("web", "d"),
        generation,
        service_name: ResourceName::parse("s", "web").unwrap(),
        order_id: format!("o{generation}"),
        order_item_id: "1".into(),
        spec_id: String::new(),
        spec_version: String::new(),
        sites: vec![],
        characteristics: serde_json::Map::new(),
        blueprint_templates: vec![],
        deleted: false,
        traceparent: String::new(),
        organisation: String::new(),
        rollout: None,
    }
}

fn outcome(stored_generation: u64, stored_step: u64, changed: bool) -> ApplyOutcome {
    ApplyOutcome {
        stored_generation,
        stored_step,
        changed,
    }
}

fn at_step(generation: u64, step: u64) -> Intent {
    Intent {
        rollout: Some(crate::intent::IntentRollout {
            step,
            sites: vec![ResourceName::parse("s", "a").unwrap()],
            previous: None,
            fall_back_after: 0,
        }),
        ..intent(generation)
    }
}

#[test]
fn an_intent_is_ordered_by_generation_then_rollout_step() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(s.apply(&intent(2)).unwrap(), outcome(2, 0, true));
    assert_eq!(s.apply(&at_step(2, 1)).unwrap(), outcome(2, 1, true));
    assert_eq!(
        s.apply(&at_step(2, 1)).unwrap(),
        outcome(2, 1, false),
        "a retry"
    );
    assert_eq!(
        s.apply(&at_step(2, 0)).unwrap(),
        outcome(2, 1, false),
        "a late step"
    );
    assert_eq!(
        s.apply(&intent(2)).unwrap(),
        outcome(2, 1, false),
        "no rollout is step 0"
    );
    assert_eq!(s.get(&intent(2).id).unwrap().unwrap().step(), 1);
    assert_eq!(s.apply(&at_step(2, 3)).unwrap(), outcome(2, 3, true));
    assert_eq!(s.apply(&intent(3)).unwrap(), outcome(3, 0, true));
    assert_eq!(s.apply(&at_step(3, 1)).unwrap(), outcome(3, 1, true));
    let d = IntentDeletion {
        id: intent(1).id,
        generation: 3,
        order_id: "od".into(),
        order_item_id: "1".into(),
    };
    assert_eq!(
        s.delete(&d).unwrap(),
        Some(outcome(3, 1, false)),
        "a deletion must be a later generation"
    );
    let d = IntentDeletion { generation: 4, ..d };
    assert_eq!(s.delete(&d).unwrap(), Some(outcome(4, 0, true)));
    let got = s.get(&d.id).unwrap().unwrap();
    assert!(got.deleted && got.rollout.is_none(), "{got:?}");
}

#[test]
fn an_intent_stored_before_rollouts_loads_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    let mut old = serde_json::to_value(intent(5)).unwrap();
    old.as_object_mut().unwrap().remove("rollout");
    let id = intent(5).id;
    s.intents
        .insert(id.as_bytes(), old.to_string().as_bytes())
        .unwrap();
    let got = s.get(&id).unwrap().unwrap();
    assert_eq!((got.generation, got.rollout), (5, None));
    assert_eq!(s.apply(&at_step(5, 1)).unwrap(), outcome(5, 1, true));
}

#[tokio::test]
async fn generations_rules_and_durability() {
    let dir = tempfile::tempdir().unwrap();
    let id = intent(1).id;
    {
        let s = SledStore::open(dir.path()).unwrap();
        assert_eq!(s.apply(&intent(2)).unwrap(), outcome(2, 0, true));
        assert_eq!(s.apply(&intent(2)).unwrap(), outcome(2, 0, false));
        assert_eq!(s.apply(&intent(1)).unwrap(), outcome(2, 0, false));
        let d = IntentDeletion {
            id: id.clone(),
            generation: 3,
            order_id: "od".into(),
            order_item_id: "1".into(),
        };
        assert_eq!(s.delete(&d).unwrap(), Some(outcome(3, 0, true)));
        let unknown = IntentDeletion {
            id: "x".into(),
            ..d
        };
        assert_eq!(s.delete(&unknown).unwrap(), None);
        s.set_cursor(42).unwrap();
        s.heard("s1", 10).unwrap();
        s.heard("s1", 5).unwrap();
        s.flush().await.unwrap();
    }
    let s = SledStore::open(dir.path()).unwrap();
    let got = s.get(&id).unwrap().unwrap();
    assert!(got.deleted);
    assert_eq!((got.generation, got.order_id.as_str()), (3, "od"));
    assert_eq!(s.cursor().unwrap(), 42);
    assert_eq!(s.last_heard("s1").unwrap(), Some(10));
    assert_eq!(s.list("", 10).unwrap().len(), 1);
    assert!(s.list(&id, 10).unwrap().is_empty());
}
