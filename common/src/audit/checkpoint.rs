//! Signed checkpoints: the audit key's ed25519 signature of the log's head at a moment.

use super::entry::Digest;
use crate::manifest::{PublicKey, SigningKey};

/// Domain separation of the checkpoint message: no other signed message starts so.
const CHECKPOINT_TAG: &[u8] = b"maestro.audit.checkpoint/v1\0";

/// The head of the log (entry `seq`, whose hash is `head`) signed at `time_ms`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The last entry the checkpoint covers.
    pub seq: u64,
    /// That entry's hash.
    pub head: Digest,
    /// When it was signed (ms since the epoch).
    pub time_ms: i64,
    /// The ed25519 signature of [`Checkpoint::message`] (64 bytes, hex in JSON).
    #[serde(with = "hex_bytes")]
    pub signature: Vec<u8>,
}

impl Checkpoint {
    /// The bytes signed: `"maestro.audit.checkpoint/v1" 0x00 | seq u64 | head (32 bytes) |
    /// time_ms i64`, integers big-endian.
    pub fn message(seq: u64, head: &Digest, time_ms: i64) -> Vec<u8> {
        let mut m = Vec::with_capacity(CHECKPOINT_TAG.len() + 48);
        m.extend_from_slice(CHECKPOINT_TAG);
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(&head.0);
        m.extend_from_slice(&time_ms.to_be_bytes());
        m
    }

    /// Signs the head (`seq`, `head`) at `time_ms` with `key`.
    pub fn sign(key: &SigningKey, seq: u64, head: Digest, time_ms: i64) -> Self {
        Self {
            seq,
            head,
            time_ms,
            signature: key.sign(&Self::message(seq, &head, time_ms)),
        }
    }

    /// Whether `key` signed this checkpoint.
    pub fn is_signed_by(&self, key: &PublicKey) -> bool {
        key.verifies(
            &Self::message(self.seq, &self.head, self.time_ms),
            &self.signature,
        )
    }
}

/// Bytes as lowercase hex in JSON and YAML.
mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}
