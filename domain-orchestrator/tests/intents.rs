//! Intent API against a real server, real sled and a real bare Git remote.

mod common;

use common::*;
use maestro_proto::intent::v1 as pb;
use serde_json::Value;

const PD: &str = "sites/s1/ProcessDeployment/web.json";

#[tokio::test]
async fn apply_commits_rendered_blueprints_and_definition() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote_path(dir.path());
    let mut d = Domain::start(&dir.path().join("data"), &remote, None).await;
    let mut watch = d.watch().await;
    let i = intent("web", 1, 2);
    let out = apply(&mut d.client, i.clone()).await;
    assert_eq!((out.stored_generation, out.changed), (1, true));
    let status = wait_committed(&mut watch, &i.id, 1).await;
    assert_eq!(status.state, pb::ServiceState::Reserved as i32);

    let b = branch(&remote).expect("main branch exists");
    assert_eq!(b.commits, 1);
    assert_eq!(b.head, status.commit);
    assert!(
        b.message.starts_with(&format!(
            "maestro: web gen 1 (order order-1, intent {})",
            i.id
        )),
        "{}",
        b.message
    );
    assert!(
        b.message
            .contains("Trace-Id: 0af7651916cd43dd8448eb211c80319c"),
        "{}",
        b.message
    );
    assert!(b.files.contains_key("sites/s2/ProcessDeployment/web.json"));
    let doc: Value = serde_json::from_str(&b.files[PD]).unwrap();
    assert_eq!(doc["spec"]["replicas"], 2);
    assert_eq!(
        doc["spec"]["args"][1],
        "printf '%s\\n' 'hello'; exec sleep 86400"
    );
    assert_eq!(
        doc["metadata"]["annotations"]["maestro.io/intent-id"],
        i.id.as_str()
    );
    assert_eq!(
        doc["metadata"]["annotations"]["maestro.io/intent-generation"],
        "1"
    );
    assert_eq!(doc["metadata"]["labels"]["maestro.io/service"], "web");
    let def: Value = serde_json::from_str(&b.files["definitions/ProcessDeployment.json"]).unwrap();
    assert_eq!(def["kind"], "BlueprintDefinition");
    assert_eq!(def["spec"]["handler"]["executorType"], "process-reconciler");

    let got = d
        .client
        .get_intent(pb::GetIntentRequest { id: i.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.intent.unwrap().generation, 1);
    assert_eq!(got.status.unwrap().commit, b.head);
    d.stop().await;
}

#[tokio::test]
async fn generations_commit_once_each_and_lower_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote_path(dir.path());
    let mut d = Domain::start(&dir.path().join("data"), &remote, None).await;
    let mut watch = d.watch().await;
    let id = intent("web", 1, 2).id;
    apply(&mut d.client, intent("web", 1, 2)).await;
    wait_committed(&mut watch, &id, 1).await;
    let again = apply(&mut d.client, intent("web", 1, 2)).await;
    assert_eq!((again.stored_generation, again.changed), (1, false));
    assert_eq!(branch(&remote).unwrap().commits, 1);

    let up = apply(&mut d.client, intent("web", 2, 3)).await;
    assert_eq!((up.stored_generation, up.changed), (2, true));
    wait_committed(&mut watch, &id, 2).await;
    let b = branch(&remote).unwrap();
    assert_eq!(b.commits, 2);
    let doc: Value = serde_json::from_str(&b.files[PD]).unwrap();
    assert_eq!(doc["spec"]["replicas"], 3);
    assert_eq!(
        doc["metadata"]["annotations"]["maestro.io/intent-generation"],
        "2"
    );

    let low = apply(&mut d.client, intent("web", 1, 9)).await;
    assert_eq!((low.stored_generation, low.changed), (2, false));
    let got = d
        .client
        .get_intent(pb::GetIntentRequest { id: id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(
        got.intent
            .unwrap()
            .characteristics_json
            .contains("\"replicas\":3")
    );
    assert_eq!(branch(&remote).unwrap().commits, 2);
    d.stop().await;
}

#[tokio::test]
async fn delete_removes_files_in_a_new_commit() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote_path(dir.path());
    let mut d = Domain::start(&dir.path().join("data"), &remote, None).await;
    let mut watch = d.watch().await;
    let id = intent("web", 1, 2).id;
    apply(&mut d.client, intent("web", 1, 2)).await;
    wait_committed(&mut watch, &id, 1).await;
    let other = intent("other", 1, 1);
    apply(&mut d.client, other.clone()).await;
    wait_committed(&mut watch, &other.id, 1).await;
    let req = pb::DeleteIntentRequest {
        id: id.clone(),
        generation: 2,
        order_id: "order-del".into(),
        order_item_id: "1".into(),
    };
    let out = d
        .client
        .delete_intent(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((out.stored_generation, out.changed), (2, true));
    wait_committed(&mut watch, &id, 2).await;
    let b = branch(&remote).unwrap();
    assert!(!b.files.contains_key(PD));
    assert!(
        b.files.keys().any(|p| p.ends_with("/other.json")),
        "other intent kept: {:?}",
        b.files.keys()
    );
    assert!(b.files.contains_key("definitions/ProcessDeployment.json"));
    assert!(
        b.message.contains("web gen 2 (order order-del"),
        "{}",
        b.message
    );
    let again = d.client.delete_intent(req).await.unwrap().into_inner();
    assert_eq!((again.stored_generation, again.changed), (2, false));
    let unknown = pb::DeleteIntentRequest {
        id: intent("nope", 1, 1).id,
        generation: 1,
        ..Default::default()
    };
    assert_eq!(
        d.client.delete_intent(unknown).await.unwrap_err().code(),
        tonic::Code::NotFound
    );
    d.stop().await;
}

#[tokio::test]
async fn restart_keeps_intents_and_does_not_commit_again() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote_path(dir.path());
    let data = dir.path().join("data");
    let mut d = Domain::start(&data, &remote, None).await;
    let mut watch = d.watch().await;
    let id = intent("web", 1, 2).id;
    apply(&mut d.client, intent("web", 1, 2)).await;
    let first = wait_committed(&mut watch, &id, 1).await;
    drop(watch);
    d.stop().await;

    let mut d = Domain::start(&data, &remote, None).await;
    d.wait_runs(1).await; // the startup reconcile of the stored intent
    let b = branch(&remote).unwrap();
    assert_eq!((b.commits, b.head.as_str()), (1, first.commit.as_str()));
    let list = d
        .client
        .list_intents(pb::ListIntentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.intents.len(), 1);
    assert_eq!(
        list.intents[0].status.as_ref().unwrap().commit,
        first.commit
    );
    let again = apply(&mut d.client, intent("web", 1, 2)).await;
    assert!(!again.changed);
    d.stop().await;
}

#[tokio::test]
async fn list_pages_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Domain::start(&dir.path().join("data"), &remote_path(dir.path()), None).await;
    for s in ["a", "b", "c"] {
        apply(&mut d.client, intent(s, 1, 1)).await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = d
            .client
            .list_intents(pb::ListIntentsRequest {
                page_size: 2,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.intents.len() <= 2);
        seen.extend(page.intents.into_iter().map(|r| r.intent.unwrap().id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut want: Vec<_> = ["a", "b", "c"].iter().map(|s| intent(s, 1, 1).id).collect();
    want.sort();
    assert_eq!(seen, want);
    d.stop().await;
}

#[tokio::test]
async fn invalid_input_is_rejected_naming_the_field_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote_path(dir.path());
    let mut d = Domain::start(&dir.path().join("data"), &remote, None).await;
    let mut slash = intent("web", 1, 1);
    slash.service_name = "we/b".into();
    let mut unknown_site = intent("web", 1, 1);
    unknown_site.sites = vec!["s1".into(), "mars".into()];
    let mut bad_template = intent("web", 1, 1);
    bad_template
        .blueprint_templates_json
        .push("{not json".into());
    let mut mismatch = intent("web", 1, 1);
    mismatch.id = intent("other", 1, 1).id;
    let mut not_object = intent("web", 1, 1);
    not_object.characteristics_json = "[1]".into();
    let mut missing_var = intent("web", 1, 1);
    missing_var.characteristics_json = "{}".into();
    let cases = [
        (slash, "intent.service_name"),
        (unknown_site, "intent.sites[1]"),
        (bad_template, "intent.blueprint_templates_json[1]"),
        (mismatch, "intent.id"),
        (not_object, "intent.characteristics_json"),
        (missing_var, "intent.blueprint_templates_json[0].spec"),
    ];
    for (i, field) in cases {
        let e = d
            .client
            .apply_intent(pb::ApplyIntentRequest { intent: Some(i) })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{field}: {e:?}");
        assert!(e.message().starts_with(field), "{field}: {}", e.message());
    }
    let e = d
        .client
        .apply_intent(pb::ApplyIntentRequest { intent: None })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let list = d
        .client
        .list_intents(pb::ListIntentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(list.intents.is_empty());
    assert!(branch(&remote).is_none(), "nothing committed");
    d.stop().await;
}

#[tokio::test]
async fn two_intents_rendering_the_same_path_the_later_is_inactive() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote_path(dir.path());
    let mut d = Domain::start(&dir.path().join("data"), &remote, None).await;
    let mut watch = d.watch().await;
    let fixed = |service: &str, replicas: u64| {
        let mut i = intent(service, 1, replicas);
        i.blueprint_templates_json =
            vec![r#"{"kind":"ProcessDeployment","metadata":{"name":"shared"},"spec":{"command":"/bin/true","replicas":"${replicas}"}}"#.into()];
        i
    };
    let first = fixed("first", 1);
    apply(&mut d.client, first.clone()).await;
    wait_committed(&mut watch, &first.id, 1).await;
    let second = fixed("second", 5);
    apply(&mut d.client, second.clone()).await;
    let s = wait_status(&mut watch, |s| {
        s.intent_id == second.id && s.state == pb::ServiceState::Inactive as i32
    })
    .await;
    let typed = maestro_common::status::reasons_from_proto("reasons", s.reasons.clone()).unwrap();
    let [maestro_common::status::StatusReason::Failed { domain, error }] = typed.as_slice() else {
        panic!("one failed reason expected: {typed:?}")
    };
    assert!(domain.is_empty(), "the domain reports about itself");
    assert_eq!(
        error,
        &format!(
            "blueprint sites/s1/ProcessDeployment/shared.json is already published by intent {}",
            first.id
        )
    );
    let b = branch(&remote).unwrap();
    assert_eq!(b.commits, 1);
    let doc: Value =
        serde_json::from_str(&b.files["sites/s1/ProcessDeployment/shared.json"]).unwrap();
    assert_eq!(
        doc["metadata"]["annotations"]["maestro.io/service"],
        "first"
    );
    d.stop().await;
}

#[tokio::test]
async fn a_deleted_intent_never_seen_before_is_stored_and_terminated() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote_path(dir.path());
    let mut d = Domain::start(&dir.path().join("data"), &remote, None).await;
    let mut watch = d.watch().await;
    let mut tombstone = intent("lost", 4, 1);
    tombstone.deleted = true;
    let id = tombstone.id.clone();
    apply(&mut d.client, tombstone).await;
    let s = wait_status(&mut watch, |s| {
        s.intent_id == id && s.state() == pb::ServiceState::Terminated
    })
    .await;
    assert_eq!(s.generation, 4);
    if let Some(b) = branch(&remote) {
        assert!(
            !b.files.keys().any(|p| p.ends_with("/lost.json")),
            "nothing of the service is published: {:?}",
            b.files.keys()
        );
    }
}
