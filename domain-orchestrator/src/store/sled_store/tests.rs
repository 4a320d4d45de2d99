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
    }
}

#[tokio::test]
async fn generations_rules_and_durability() {
    let dir = tempfile::tempdir().unwrap();
    let id = intent(1).id;
    {
        let s = SledStore::open(dir.path()).unwrap();
        assert_eq!(
            s.apply(&intent(2)).unwrap(),
            ApplyOutcome {
                stored_generation: 2,
                changed: true
            }
        );
        assert_eq!(
            s.apply(&intent(2)).unwrap(),
            ApplyOutcome {
                stored_generation: 2,
                changed: false
            }
        );
        assert_eq!(
            s.apply(&intent(1)).unwrap(),
            ApplyOutcome {
                stored_generation: 2,
                changed: false
            }
        );
        let d = IntentDeletion {
            id: id.clone(),
            generation: 3,
            order_id: "od".into(),
            order_item_id: "1".into(),
        };
        assert_eq!(
            s.delete(&d).unwrap(),
            Some(ApplyOutcome {
                stored_generation: 3,
                changed: true
            })
        );
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
