//! `manifest.sig`: detached ed25519 signatures of the bytes of `manifest.json`, one per key.

use super::keys::{PublicKey, SigningKey};
use super::{MAX_KEYS, MAX_SIGNATURES_BYTES};
use crate::FieldError;

/// Most signatures one file may hold.
const MAX_SIGNATURES: usize = 2 * MAX_KEYS;

/// One key's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureEntry {
    /// The key that signed.
    pub key: PublicKey,
    /// The signature (64 bytes).
    pub signature: Vec<u8>,
}

/// The signatures of one manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signatures {
    /// In the order they were made.
    pub signatures: Vec<SignatureEntry>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEntry {
    key: String,
    signature: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    signatures: Vec<WireEntry>,
}

impl Signatures {
    /// The signatures of `manifest` by each of `keys`.
    pub fn sign(manifest: &[u8], keys: &[SigningKey]) -> Self {
        Self {
            signatures: keys
                .iter()
                .map(|k| SignatureEntry {
                    key: k.public(),
                    signature: k.sign(manifest),
                })
                .collect(),
        }
    }

    /// The file's bytes (JSON, one signature per key).
    pub fn to_bytes(&self) -> Vec<u8> {
        let wire = Wire {
            signatures: self
                .signatures
                .iter()
                .map(|s| WireEntry {
                    key: s.key.to_string(),
                    signature: hex::encode(&s.signature),
                })
                .collect(),
        };
        let mut bytes = serde_json::to_vec_pretty(&wire).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Parses the file, bounded; the error names the field.
    pub fn parse(bytes: &[u8]) -> Result<Self, FieldError> {
        if bytes.len() > MAX_SIGNATURES_BYTES {
            return Err(FieldError::new(
                "",
                format!(
                    "{} bytes, over the limit of {MAX_SIGNATURES_BYTES}",
                    bytes.len()
                ),
            ));
        }
        let wire: Wire = serde_json::from_slice(bytes)
            .map_err(|e| FieldError::new("", format!("not a signatures file: {e}")))?;
        if wire.signatures.len() > MAX_SIGNATURES {
            return Err(FieldError::new(
                "signatures",
                format!("more than {MAX_SIGNATURES} signatures"),
            ));
        }
        let mut signatures = Vec::with_capacity(wire.signatures.len());
        for (i, w) in wire.signatures.iter().enumerate() {
            let key = PublicKey::parse(&format!("signatures[{i}].key"), &w.key)?;
            let field = format!("signatures[{i}].signature");
            if w.signature.len() != 128 {
                return Err(FieldError::new(
                    field,
                    "an ed25519 signature is 128 hex digits",
                ));
            }
            let signature =
                hex::decode(&w.signature).map_err(|_| FieldError::new(field, "not hex digits"))?;
            signatures.push(SignatureEntry { key, signature });
        }
        Ok(Self { signatures })
    }

    /// The keys that signed, in order.
    pub fn keys(&self) -> Vec<PublicKey> {
        self.signatures.iter().map(|s| s.key).collect()
    }
}
