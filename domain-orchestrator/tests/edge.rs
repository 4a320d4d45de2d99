//! The gRPC edge of a real domain orchestrator on loopback: generations out of range and
//! requests that do not decode are the caller's fault, named, and nothing is stored.

mod common;

use common::*;
use maestro_proto::intent::v1 as pb;
use maestro_testkit::raw_grpc;
use tonic::Code;

#[tokio::test]
async fn generations_out_of_range_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote_path(dir.path());
    let mut d = Domain::start(&dir.path().join("data"), &remote, None).await;
    let max = i64::MAX as u64;
    for (g, field) in [
        (u64::MAX, "intent.generation"),
        (max + 1, "intent.generation"),
        (0, "intent.generation"),
    ] {
        let e = d
            .client
            .apply_intent(pb::ApplyIntentRequest {
                intent: Some(intent("web", g, 1)),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{g}: {e:?}");
        assert!(
            e.message()
                .starts_with(&format!("{field}: must be 1..={max}")),
            "{g}: {}",
            e.message()
        );
    }
    let e = d
        .client
        .delete_intent(pb::DeleteIntentRequest {
            id: intent("web", 1, 1).id,
            generation: u64::MAX,
            order_id: "o".into(),
            order_item_id: "1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().starts_with("generation: "), "{}", e.message());

    // Nothing was stored: generation 1 is new, and a higher one still follows it.
    assert!(apply(&mut d.client, intent("web", 1, 1)).await.changed);
    assert!(apply(&mut d.client, intent("web", max, 1)).await.changed);
    d.stop().await;
}

#[tokio::test]
async fn a_request_that_does_not_decode_is_invalid_argument_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = Domain::start(&dir.path().join("data"), &remote_path(dir.path()), None).await;
    let url = format!("http://{}", d.running.addr);
    let apply = "/maestro.intent.v1.IntentService/ApplyIntent";
    // ApplyIntentRequest.intent (field 1) holding Intent.id (field 1) = 0xff: not UTF-8.
    let e = raw_grpc::unary(&url, apply, vec![0x0a, 0x03, 0x0a, 0x01, 0xff])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message()
            .starts_with("malformed request: ApplyIntentRequest.intent.id: ")
            && e.message().contains("UTF-8"),
        "{}",
        e.message()
    );
    // The intent claims 9 bytes; 2 follow.
    let e = raw_grpc::unary(&url, apply, vec![0x0a, 0x09, 0x10, 0x01])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message()
            .starts_with("malformed request: ApplyIntentRequest"),
        "{}",
        e.message()
    );
    d.stop().await;
}

#[tokio::test]
async fn ids_and_page_tokens_must_be_intent_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Domain::start(&dir.path().join("data"), &remote_path(dir.path()), None).await;
    let huge = format!("\u{1b}[2J{}", "x".repeat(1024 * 1024));
    let e = d
        .client
        .get_intent(pb::GetIntentRequest { id: huge.clone() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert_eq!(e.message(), "id: must be a UUID");
    let e = d
        .client
        .list_intents(pb::ListIntentsRequest {
            page_size: 0,
            page_token: huge,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert_eq!(e.message(), "page_token: must be a UUID");
    d.stop().await;
}

#[tokio::test]
async fn list_intents_pages_by_size_so_that_every_reply_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Domain::start(&dir.path().join("data"), &remote_path(dir.path()), None).await;
    // Twenty intents of about 250 KB each: more than one reply may carry (4 MiB).
    let payload = "p".repeat(250_000);
    let mut want = Vec::new();
    for i in 0..20 {
        let mut big = intent(&format!("web{i}"), 1, 1);
        big.characteristics_json =
            serde_json::json!({"replicas": 1, "message": "hello", "payload": payload}).to_string();
        want.push(big.id.clone());
        apply(&mut d.client, big).await;
    }
    want.sort();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = d
            .client
            .list_intents(pb::ListIntentsRequest {
                page_size: 0,
                page_token: token.clone(),
            })
            .await
            .expect("every page decodes")
            .into_inner();
        assert!(
            !page.intents.is_empty(),
            "no empty page while intents remain"
        );
        seen.extend(page.intents.into_iter().map(|r| r.intent.unwrap().id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, want);
    d.stop().await;
}
