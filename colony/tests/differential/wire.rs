//! Raw signed requests: the same envelope bytes a client sends, and the reply as status,
//! error flag and decoded payload, so both servers are compared on the wire.

use base64::Engine;
use bytes::Bytes;
use colony::PrivateKey;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// What a server answered to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// HTTP status.
    pub status: u16,
    /// The reply's `error` flag.
    pub error: bool,
    /// The decoded payload (`{status, message}` on error).
    pub payload: Value,
}

/// How a request is signed.
pub enum Signer<'a> {
    /// Not at all (empty signature).
    Unsigned,
    /// By this key.
    Key(&'a PrivateKey),
    /// With 65 zero bytes (no key recovers from it).
    Garbage,
}

/// Sends `inner` (with `msgtype` = `payload_type` added unless it has one) to `url`/api.
pub async fn send(url: &str, signer: Signer<'_>, payload_type: &str, inner: &Value) -> Outcome {
    let mut inner = inner.clone();
    if let Value::Object(m) = &mut inner {
        m.entry("msgtype")
            .or_insert_with(|| Value::String(payload_type.into()));
    }
    let payload = base64::engine::general_purpose::STANDARD.encode(inner.to_string());
    let signature = match signer {
        Signer::Key(k) => k.sign(&payload),
        Signer::Garbage => "00".repeat(65),
        Signer::Unsigned => String::new(),
    };
    let body = serde_json::json!({
        "signature": signature, "payloadtype": payload_type, "payload": payload,
    });
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = hyper::Request::post(format!("{url}/api"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a request to a parsed URL");
    let resp = client
        .request(req)
        .await
        .unwrap_or_else(|e| panic!("POST {url}/api ({payload_type}): {e}"));
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .expect("reply body")
        .to_bytes();
    let Ok(reply) = serde_json::from_slice::<Value>(&bytes) else {
        // Kept as it is, so the comparison shows it (upstream sends an empty body on some errors).
        return Outcome {
            status,
            error: false,
            payload: serde_json::json!({ "non-json body": String::from_utf8_lossy(&bytes) }),
        };
    };
    let error = reply.get("error").and_then(Value::as_bool).unwrap_or(false);
    let payload = reply
        .get("payload")
        .and_then(Value::as_str)
        .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    Outcome {
        status,
        error,
        payload,
    }
}
