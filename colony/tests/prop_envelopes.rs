//! Property tests of the ColonyOS wire protocol: request envelopes from arbitrary bytes, the
//! signature round trip and its refusal of any changed byte, and the embedded server's answer
//! to arbitrary bodies and to signed envelopes with arbitrary inner messages.
//!
//! The case count comes from `PROPTEST_CASES` (256 by default); a failure prints the minimal
//! input and the seed (`cc ...`), saved in `prop_envelopes.proptest-regressions` next to this
//! file. See `docs/testing.md`.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use colony::PrivateKey;
use colony::crypto::recover_id;
use colony::envelope::{Failure, RpcRequest};
use colony::messages::{AddLogMsg, RpcMessage, VersionMsg};
use common::{Harness, guard};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestRunner};
use serde_json::{Map, Value, json};

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        source_file: Some(file!()),
        ..ProptestConfig::default()
    }
}

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9._-]{1,70}",
        "[\\x00-\\x1f\\x7f/\\\\.]{0,8}",
        ("[a-z]", 0usize..3000).prop_map(|(s, n)| s.repeat(n)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((hostile_string(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Every payload type the server knows, and a few it does not.
const PAYLOAD_TYPES: [&str; 41] = [
    "versionmsg",
    "getserverinfomsg",
    "addcolonymsg",
    "getcoloniesmsg",
    "getcolonymsg",
    "removecolonymsg",
    "addexecutormsg",
    "approveexecutormsg",
    "rejectexecutormsg",
    "removeexecutormsg",
    "getexecutormsg",
    "getexecutorsmsg",
    "addusermsg",
    "getusersmsg",
    "removeusermsg",
    "submitfuncspecmsg",
    "assignprocessmsg",
    "closesuccessfulmsg",
    "closefailedmsg",
    "setoutputmsg",
    "getprocessmsg",
    "getprocessesmsg",
    "cancelprocessmsg",
    "removeprocessmsg",
    "addlogmsg",
    "getlogsmsg",
    "addblueprintdefinitionmsg",
    "getblueprintdefinitionmsg",
    "getblueprintdefinitionsmsg",
    "removeblueprintdefinitionmsg",
    "addblueprintmsg",
    "getblueprintmsg",
    "getblueprintsmsg",
    "updateblueprintmsg",
    "removeblueprintmsg",
    "updateblueprintstatusmsg",
    "reconcileblueprintmsg",
    "getblueprinthistorymsg",
    "",
    "error",
    "nosuchmsg",
];

/// Inner messages: a known payload type with fields of the right names and arbitrary values.
fn inner_message() -> impl Strategy<Value = (String, Map<String, Value>)> {
    let field = prop_oneof![
        Just("colonyname"),
        Just("colony"),
        Just("executor"),
        Just("executorname"),
        Just("processid"),
        Just("blueprint"),
        Just("namespace"),
        Just("name"),
        Just("spec"),
        Just("user"),
        Just("out"),
        Just("errors"),
        Just("message"),
        Just("limit"),
        Just("count"),
        Just("state"),
        Just("blueprintdefinition"),
        Just("blueprintid"),
        Just("force"),
        Just("forcegeneration"),
        Just("status"),
        Just("colonyid"),
    ]
    .prop_map(str::to_string);
    (
        prop::sample::select(PAYLOAD_TYPES.to_vec()),
        prop::collection::vec(
            (prop_oneof![4 => field, 1 => hostile_string()], json_value()),
            0..6,
        ),
    )
        .prop_map(|(pt, fields)| {
            let mut m: Map<String, Value> = fields.into_iter().collect();
            // A long-poll would make a case wait; one try is enough to exercise the parsing.
            if pt == "assignprocessmsg" {
                m.insert("timeout".into(), json!(-1));
            }
            (pt.to_string(), m)
        })
}

/// A different character at position `i` of `s` (ASCII alphanumerics only, as base64 and hex
/// text hold).
fn mutate(s: &str, i: usize, alphabet: &str, pick: usize) -> String {
    let old = s.as_bytes()[i] as char;
    let choices: Vec<char> = alphabet
        .chars()
        .filter(|c| !c.eq_ignore_ascii_case(&old))
        .collect();
    let new = choices[pick % choices.len()];
    format!("{}{}{}", &s[..i], new, &s[i + 1..])
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes as an envelope, opened as the server does: never a panic.
    #[test]
    fn arbitrary_bytes_never_panic_the_envelope_decoder(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            (json_value(), json_value(), json_value()).prop_map(|(s, t, p)| {
                serde_json::to_vec(&json!({"signature": s, "payloadtype": t, "payload": p})).unwrap()
            }),
        ]
    ) {
        if let Ok(req) = serde_json::from_slice::<RpcRequest>(&bytes) {
            if let Err(e) = req.inner() {
                prop_assert!(!e.to_string().is_empty());
            }
            if let Err(e) = recover_id(&req.payload, &req.signature) {
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    /// Arbitrary base64 payloads and signatures: never a panic.
    #[test]
    fn arbitrary_payloads_and_signatures_never_panic(
        inner in prop::collection::vec(any::<u8>(), 0..256),
        signature in prop_oneof!["[0-9a-fA-F]{0,140}", any::<String>(), "[0-9a-f]{130}"],
        payload_type in hostile_string(),
    ) {
        let req = RpcRequest { signature, payload_type, payload: STANDARD.encode(&inner) };
        let _ = req.inner();
        let _ = recover_id(&req.payload, &req.signature);
    }

    /// A signed message recovers its signer's id and opens to the message; changing any one
    /// character of the signed payload or of the signature makes it fail or name another signer.
    #[test]
    fn signatures_round_trip_and_any_changed_byte_fails(
        processid in hostile_string(),
        message in hostile_string(),
        at in any::<prop::sample::Index>(),
        pick in any::<usize>(),
    ) {
        let key = PrivateKey::generate();
        let msg = AddLogMsg { processid, message };
        let req = RpcRequest::new(Some(&key), &msg).unwrap();
        prop_assert_eq!(recover_id(&req.payload, &req.signature).unwrap(), key.id());
        let inner = req.inner().unwrap();
        prop_assert_eq!(inner["msgtype"].as_str(), Some(AddLogMsg::PAYLOAD_TYPE));
        let back: AddLogMsg = serde_json::from_value(inner).unwrap();
        prop_assert_eq!(back, msg);

        let b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let payload = mutate(&req.payload, at.index(req.payload.len()), b64, pick);
        match recover_id(&payload, &req.signature) {
            Ok(id) => prop_assert_ne!(id, key.id()),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        let signature = mutate(&req.signature, at.index(req.signature.len()), "0123456789abcdef", pick);
        match recover_id(&req.payload, &signature) {
            Ok(id) => prop_assert_ne!(id, key.id()),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// Unsigned version messages with arbitrary contents round trip too.
    #[test]
    fn unsigned_messages_round_trip(buildversion in hostile_string(), buildtime in hostile_string()) {
        let msg = VersionMsg { buildversion, buildtime };
        let req = RpcRequest::new(None, &msg).unwrap();
        prop_assert!(req.signature.is_empty());
        let back: VersionMsg = serde_json::from_value(req.inner().unwrap()).unwrap();
        prop_assert_eq!(back, msg);
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

async fn post(client: &HttpClient, addr: std::net::SocketAddr, body: Vec<u8>) -> (u16, Vec<u8>) {
    let req = hyper::Request::post(format!("http://{addr}/api"))
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, bytes.to_vec())
}

/// The server answers `body` with a well-formed reply: a success, or an error reply carrying its
/// status and a message; a 4xx, or upstream's 500 for a missing entity. Never another 5xx, never
/// a dropped connection.
fn check_reply(status: u16, bytes: &[u8]) -> Result<(), TestCaseError> {
    let reply: Value = serde_json::from_slice(bytes)
        .map_err(|e| TestCaseError::fail(format!("reply is not JSON ({e}): {bytes:?}")))?;
    if status == 200 {
        prop_assert_eq!(&reply["error"], &json!(false));
        return Ok(());
    }
    prop_assert!(
        (400..500).contains(&status) || status == 500,
        "status {status}: {reply}"
    );
    prop_assert_eq!(&reply["error"], &json!(true));
    prop_assert_eq!(&reply["payloadtype"], &json!("error"));
    let payload = STANDARD
        .decode(reply["payload"].as_str().unwrap_or_default())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let failure: Failure =
        serde_json::from_slice(&payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(failure.status, status);
    prop_assert!(!failure.message.is_empty());
    // ColonyOS answers a request about a missing process, executor or colony with a 500
    // (`Failed to approve executor, executor is nil`); the server keeps those texts. Any other
    // 500 (a handler that panicked, a store error) is a failure.
    if status == 500 {
        prop_assert!(
            failure.message.ends_with(" is nil") || failure.message.ends_with(" does not exist"),
            "unexpected 500: {}",
            failure.message
        );
    }
    Ok(())
}

fn run_against_server<S: Strategy>(strategy: S, body: impl Fn(&Harness, S::Value) -> Vec<u8>)
where
    S::Value: std::fmt::Debug,
{
    let rt = tokio::runtime::Runtime::new().unwrap();
    let h = rt.block_on(async {
        let h = Harness::start().await;
        guard(h.add_colony()).await;
        h
    });
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let mut runner = TestRunner::new(config());
    let result = runner.run(&strategy, |v| {
        let bytes = body(&h, v);
        let (status, reply) = rt.block_on(guard(post(&client, h.addr(), bytes)));
        check_reply(status, &reply)
    });
    drop(h);
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Arbitrary bodies posted to the embedded server: always a well-formed 4xx error reply.
#[test]
fn the_server_answers_arbitrary_bodies() {
    run_against_server(
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            (json_value(), json_value(), json_value()).prop_map(|(s, t, p)| {
                serde_json::to_vec(&json!({"signature": s, "payloadtype": t, "payload": p}))
                    .unwrap()
            }),
        ],
        |_, bytes| bytes,
    );
}

/// Envelopes signed by the server owner, the colony owner or a stranger, carrying any payload
/// type with arbitrary fields: the server parses the inner message and answers well-formed.
#[test]
fn the_server_answers_signed_arbitrary_messages() {
    run_against_server(
        (inner_message(), 0u8..3, any::<bool>()),
        |h, ((payload_type, mut inner), signer, matching)| {
            let msgtype = if matching {
                payload_type.clone()
            } else {
                format!("{payload_type}x")
            };
            inner.insert("msgtype".into(), Value::String(msgtype));
            let payload = STANDARD.encode(serde_json::to_vec(&inner).unwrap());
            let stranger = PrivateKey::generate();
            let key = match signer {
                0 => &h.server_key,
                1 => &h.owner_key,
                _ => &stranger,
            };
            let req = RpcRequest {
                signature: key.sign(&payload),
                payload_type,
                payload,
            };
            serde_json::to_vec(&req).unwrap()
        },
    );
}
