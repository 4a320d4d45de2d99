//! Envelope, signature and role checks against the embedded server.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use colony::envelope::{Failure, RpcRequest};
use colony::messages::GetColoniesMsg;
use colony::{Colony, ColonyError, Executor, PrivateKey};
use common::{COLONY, Harness, guard, raw_post};
use serde_json::json;

fn failure_of(reply: &serde_json::Value) -> Failure {
    assert_eq!(reply["error"], true);
    assert_eq!(reply["payloadtype"], "error");
    let bytes = STANDARD.decode(reply["payload"].as_str().unwrap()).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn health_and_unsigned_version() {
    let h = Harness::start().await;
    guard(h.client.health()).await.unwrap();
    let v = guard(h.client.version()).await.unwrap();
    assert!(!v.buildversion.is_empty());
}

#[tokio::test]
async fn unsigned_request_is_403() {
    let h = Harness::start().await;
    let mut req = RpcRequest::new(None, &GetColoniesMsg {}).unwrap();
    req.signature = String::new();
    let (status, reply) = guard(raw_post(h.addr(), serde_json::to_string(&req).unwrap())).await;
    assert_eq!(status, 403);
    assert_eq!(failure_of(&reply).status, 403);
}

#[tokio::test]
async fn badly_signed_request_is_403() {
    let h = Harness::start().await;
    let mut req = RpcRequest::new(Some(&h.server_key), &GetColoniesMsg {}).unwrap();
    // Signature made over another payload: recovers to another identity.
    req.signature = h.server_key.sign("something else");
    let (status, _) = guard(raw_post(h.addr(), serde_json::to_string(&req).unwrap())).await;
    assert_eq!(status, 403);
    // Garbage signature.
    req.signature = "ab".repeat(65);
    let (status, reply) = guard(raw_post(h.addr(), serde_json::to_string(&req).unwrap())).await;
    assert_eq!(status, 403);
    assert_eq!(failure_of(&reply).status, 403);
}

#[tokio::test]
async fn msgtype_mismatch_is_400() {
    let h = Harness::start().await;
    let payload = STANDARD.encode(json!({"msgtype": "addcolonymsg"}).to_string());
    let req = json!({
        "signature": h.server_key.sign(&payload),
        "payloadtype": "getcoloniesmsg",
        "payload": payload,
    });
    let (status, reply) = guard(raw_post(h.addr(), req.to_string())).await;
    assert_eq!(status, 400);
    assert_eq!(failure_of(&reply).status, 400);
}

#[tokio::test]
async fn success_reply_has_error_false() {
    let h = Harness::start().await;
    let req = RpcRequest::new(Some(&h.server_key), &GetColoniesMsg {}).unwrap();
    let (status, reply) = guard(raw_post(h.addr(), serde_json::to_string(&req).unwrap())).await;
    assert_eq!(status, 200);
    assert_eq!(reply["error"], false);
    assert_eq!(reply["payloadtype"], "getcoloniesmsg");
}

#[tokio::test]
async fn roles_are_enforced() {
    let h = Harness::start().await;
    let stranger = PrivateKey::generate();
    let colony = Colony {
        colony_id: h.owner_key.id(),
        name: COLONY.to_owned(),
    };
    // Only the server owner adds colonies.
    let err = guard(h.client.add_colony(&h.owner_key, &colony))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    h.add_colony().await;
    let listed = guard(h.client.get_colonies(&h.server_key)).await.unwrap();
    assert_eq!(listed, vec![colony]);
    let err = guard(h.client.get_colonies(&stranger)).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    // Only the colony owner adds executors.
    let exec_key = PrivateKey::generate();
    let e = Executor::new(&exec_key.id(), "worker", "w1", COLONY);
    let err = guard(h.client.add_executor(&h.server_key, &e))
        .await
        .unwrap_err();
    assert!(matches!(err, ColonyError::Api { status: 403, .. }));
    let added = guard(h.client.add_executor(&h.owner_key, &e))
        .await
        .unwrap();
    assert_eq!(added.state, 0);
    // Duplicate executor name is rejected.
    let err = guard(h.client.add_executor(&h.owner_key, &e))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    // A pending executor may list executors but not submit.
    let executors = guard(h.client.get_executors(&exec_key, COLONY))
        .await
        .unwrap();
    assert_eq!(executors.len(), 1);
    let spec = colony::FunctionSpec::new("f", COLONY, "worker");
    let err = guard(h.client.submit(&exec_key, &spec)).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    // Strangers may not submit or approve.
    let err = guard(h.client.submit(&stranger, &spec)).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    let err = guard(h.client.approve_executor(&stranger, COLONY, "w1"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
}
