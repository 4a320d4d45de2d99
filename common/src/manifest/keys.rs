//! Ed25519 keys: a domain's [`SigningKey`] (a PKCS#8 file, separate from its TLS key), the
//! [`PublicKey`]s sites pin, and the [`KeySet`] (keys and threshold) a manifest must satisfy.

use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use std::fmt;
use std::path::Path;

use super::signatures::Signatures;
use crate::FieldError;

/// Most keys in one key set.
pub const MAX_KEYS: usize = 16;
/// Most bytes of a key file (PKCS#8 of an ed25519 key is 83 bytes; a public key file 65).
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// A key file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a key of the expected kind.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The system's random source failed.
    #[error("generating a key failed")]
    Generate,
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, KeyError> {
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyError::Invalid {
            path: path.display().to_string(),
            reason: format!("{} bytes, over {MAX_KEY_FILE_BYTES}", meta.len()),
        });
    }
    std::fs::read(path).map_err(io)
}

/// An ed25519 public key (32 bytes), written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Parses 64 hex digits; the error names `field`.
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(FieldError::new(
                field,
                format!("an ed25519 public key is 64 hex digits, got {}", text.len()),
            ));
        }
        let mut key = [0u8; 32];
        hex::decode_to_slice(text, &mut key)
            .map_err(|_| FieldError::new(field, "not hex digits"))?;
        Ok(Self(key))
    }

    /// The key of 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Reads a public key file (`maestroctl keys generate` writes `<name>.pub`).
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let bytes = read_bounded(path)?;
        let invalid = |reason: String| KeyError::Invalid {
            path: path.display().to_string(),
            reason,
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| invalid("not text".into()))?;
        Self::parse("key", text).map_err(|e| invalid(e.reason))
    }

    /// The key's bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, signature)
            .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse("key", &text).map_err(|e| serde::de::Error::custom(e.reason))
    }
}

/// A domain's private signing key (ed25519, from a PKCS#8 v2 document).
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.public())
    }
}

impl SigningKey {
    /// A new random key and its PKCS#8 document (what a key file holds).
    pub fn generate() -> Result<(Self, Vec<u8>), KeyError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Generate)?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| KeyError::Generate)?;
        Ok((Self { pair }, pkcs8.as_ref().to_vec()))
    }

    /// The key of a PKCS#8 document.
    pub fn from_pkcs8(bytes: &[u8]) -> Result<Self, String> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes)
            .map(|pair| Self { pair })
            .map_err(|e| format!("not an ed25519 PKCS#8 key: {e}"))
    }

    /// Reads a PKCS#8 key file (DER).
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let bytes = read_bounded(path)?;
        Self::from_pkcs8(&bytes).map_err(|reason| KeyError::Invalid {
            path: path.display().to_string(),
            reason,
        })
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        let mut key = [0u8; 32];
        key.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey(key)
    }

    /// The signature of `message` (64 bytes).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

/// Keys and how many of them must sign: `threshold` of `keys`, each key counted once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySet {
    /// How many distinct keys of the set must have signed.
    pub threshold: u32,
    /// The keys, distinct.
    pub keys: Vec<PublicKey>,
}

impl KeySet {
    /// A set of `keys` of which `threshold` must sign, checked; the error names `field`.
    pub fn new(field: &str, threshold: u32, keys: Vec<PublicKey>) -> Result<Self, FieldError> {
        let set = Self { threshold, keys };
        set.validate(field)?;
        Ok(set)
    }

    /// Checks 1 ≤ threshold ≤ keys ≤ [`MAX_KEYS`] and that no key appears twice.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if self.keys.is_empty() || self.keys.len() > MAX_KEYS {
            return Err(FieldError::new(
                format!("{field}.keys"),
                format!("between 1 and {MAX_KEYS} keys, got {}", self.keys.len()),
            ));
        }
        for (i, k) in self.keys.iter().enumerate() {
            if self.keys[..i].contains(k) {
                return Err(FieldError::new(
                    format!("{field}.keys[{i}]"),
                    "the key is listed twice",
                ));
            }
        }
        if self.threshold == 0 || self.threshold as usize > self.keys.len() {
            return Err(FieldError::new(
                format!("{field}.threshold"),
                format!(
                    "must be between 1 and the number of keys ({}), got {}",
                    self.keys.len(),
                    self.threshold
                ),
            ));
        }
        Ok(())
    }

    /// How many distinct keys of this set signed `message` validly in `signatures`.
    pub fn valid_signers(&self, message: &[u8], signatures: &Signatures) -> u32 {
        let count = self
            .keys
            .iter()
            .filter(|k| {
                signatures
                    .signatures
                    .iter()
                    .any(|s| s.key == **k && k.verifies(message, &s.signature))
            })
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// Whether at least `threshold` distinct keys of this set signed `message`.
    pub fn is_satisfied(&self, message: &[u8], signatures: &Signatures) -> bool {
        self.valid_signers(message, signatures) >= self.threshold
    }

    /// A stable fingerprint (SHA-256 of the canonical JSON of the sorted set).
    pub fn fingerprint(&self) -> String {
        let mut sorted = self.clone();
        sorted.keys.sort();
        super::sha256_hex(&serde_json::to_vec(&sorted).unwrap_or_default())
    }
}
