//! Signed request envelopes and reply envelopes.
//!
//! Request: `{signature, payloadtype, payload}` where `payload` is standard base64 of the inner
//! JSON and the inner JSON carries `msgtype == payloadtype`. Reply: `{payloadtype, payload,
//! error}`; an error reply has `payloadtype == "error"` and a payload `{status, message}`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::PrivateKey;
use crate::messages::RpcMessage;

/// Payload type of error replies.
pub const ERROR_PAYLOAD_TYPE: &str = "error";

/// Errors raised while building or opening envelopes.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The payload is not valid base64.
    #[error("payload is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The inner JSON could not be encoded or decoded.
    #[error("invalid inner JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The inner JSON is not an object.
    #[error("inner JSON is not an object")]
    NotAnObject,
    /// The inner `msgtype` differs from the envelope's `payloadtype`.
    #[error("msgtype {msgtype:?} does not match payloadtype {payloadtype:?}")]
    MsgTypeMismatch {
        /// The inner msgtype.
        msgtype: String,
        /// The envelope payload type.
        payloadtype: String,
    },
}

/// A signed request envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcRequest {
    /// 130 hex characters, or empty for unsigned messages.
    #[serde(default)]
    pub signature: String,
    /// The message type.
    #[serde(rename = "payloadtype", default)]
    pub payload_type: String,
    /// Standard base64 of the inner JSON.
    #[serde(default)]
    pub payload: String,
}

impl RpcRequest {
    /// Encodes `msg` (adding `msgtype`) and signs the base64 payload with `key` when given.
    pub fn new<M: RpcMessage>(key: Option<&PrivateKey>, msg: &M) -> Result<Self, EnvelopeError> {
        let mut inner = serde_json::to_value(msg)?;
        let Value::Object(map) = &mut inner else {
            return Err(EnvelopeError::NotAnObject);
        };
        map.insert(
            "msgtype".to_owned(),
            Value::String(M::PAYLOAD_TYPE.to_owned()),
        );
        let payload = STANDARD.encode(serde_json::to_vec(&inner)?);
        let signature = key.map(|k| k.sign(&payload)).unwrap_or_default();
        Ok(Self {
            signature,
            payload_type: M::PAYLOAD_TYPE.to_owned(),
            payload,
        })
    }

    /// Decodes the inner JSON object and checks that its `msgtype` equals `payloadtype`.
    pub fn inner(&self) -> Result<Value, EnvelopeError> {
        let bytes = STANDARD.decode(self.payload.as_bytes())?;
        let value: Value = serde_json::from_slice(&bytes)?;
        let msgtype = value
            .get("msgtype")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if msgtype != self.payload_type {
            return Err(EnvelopeError::MsgTypeMismatch {
                msgtype: msgtype.to_owned(),
                payloadtype: self.payload_type.clone(),
            });
        }
        Ok(value)
    }
}

/// A reply envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcReply {
    /// The request's payload type, or `error`.
    #[serde(rename = "payloadtype", default)]
    pub payload_type: String,
    /// Standard base64 of the reply JSON.
    #[serde(default)]
    pub payload: String,
    /// Whether this is an error reply.
    #[serde(default)]
    pub error: bool,
}

/// The payload of an error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// HTTP status (400, 403, 404, 408, 409, 500, 503).
    pub status: u16,
    /// Human-readable message.
    pub message: String,
}

impl RpcReply {
    /// A success reply carrying `json` (the reply object as JSON text).
    pub fn success(payload_type: &str, json: &[u8]) -> Self {
        Self {
            payload_type: payload_type.to_owned(),
            payload: STANDARD.encode(json),
            error: false,
        }
    }

    /// An error reply carrying `{status, message}`.
    pub fn failure(status: u16, message: &str) -> Self {
        let body = serde_json::json!({"status": status, "message": message});
        Self {
            payload_type: ERROR_PAYLOAD_TYPE.to_owned(),
            payload: STANDARD.encode(body.to_string()),
            error: true,
        }
    }

    /// Decodes the payload bytes.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, EnvelopeError> {
        Ok(STANDARD.decode(self.payload.as_bytes())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::VersionMsg;

    #[test]
    fn request_roundtrip_and_signature() {
        let key = PrivateKey::generate();
        let req = RpcRequest::new(Some(&key), &VersionMsg::default()).unwrap();
        assert_eq!(req.payload_type, "versionmsg");
        assert_eq!(req.inner().unwrap()["msgtype"], "versionmsg");
        assert_eq!(
            crate::crypto::recover_id(&req.payload, &req.signature).unwrap(),
            key.id()
        );
        let mut bad = req.clone();
        bad.payload_type = "getcoloniesmsg".to_owned();
        assert!(matches!(
            bad.inner(),
            Err(EnvelopeError::MsgTypeMismatch { .. })
        ));
    }

    #[test]
    fn failure_reply_shape() {
        let reply = RpcReply::failure(404, "nope");
        let v = serde_json::to_value(&reply).unwrap();
        assert_eq!(v["error"], true);
        let f: Failure = serde_json::from_slice(&reply.payload_bytes().unwrap()).unwrap();
        assert_eq!(f.status, 404);
    }
}
