//! ColonyOS signing: secp256k1 ECDSA over SHA3-256, recoverable signatures and identities.
//!
//! The signed data is SHA3-256 of the ASCII bytes of the base64 payload string. A signature is
//! `R(32) || S(32) || V(1)` as 130 lowercase hex characters with a low S. An identity is
//! `hex(SHA3-256(ascii(lowercase_hex(0x04 || X || Y))))`.

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use sha3::{Digest, Sha3_256};

/// Errors raised while parsing keys or verifying signatures.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The private key is not 64 hex characters of a valid secp256k1 scalar.
    #[error("invalid private key: {0}")]
    InvalidPrivateKey(String),
    /// The signature is not 130 hex characters, has a bad recovery id or a bad R/S.
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    /// The signature has a high S value; ColonyOS only accepts low-S signatures.
    #[error("signature has a high S value")]
    HighS,
    /// No public key could be recovered or it does not verify the signature.
    #[error("signature verification failed")]
    VerificationFailed,
}

/// A secp256k1 private key used to sign ColonyOS requests.
#[derive(Clone)]
pub struct PrivateKey {
    key: SigningKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("id", &self.id())
            .finish()
    }
}

impl PrivateKey {
    /// Generates a fresh random key from the operating system's RNG.
    pub fn generate() -> Self {
        Self {
            key: SigningKey::random(&mut rand::rngs::OsRng),
        }
    }

    /// Parses a 64-character hex private key.
    pub fn from_hex(hex_key: &str) -> Result<Self, CryptoError> {
        let bytes = hex::decode(hex_key.trim())
            .map_err(|e| CryptoError::InvalidPrivateKey(e.to_string()))?;
        if bytes.len() != 32 {
            return Err(CryptoError::InvalidPrivateKey(format!(
                "expected 32 bytes, got {}",
                bytes.len()
            )));
        }
        let key = SigningKey::from_slice(&bytes)
            .map_err(|e| CryptoError::InvalidPrivateKey(e.to_string()))?;
        Ok(Self { key })
    }

    /// The private key as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.key.to_bytes())
    }

    /// The uncompressed public key `04 || X || Y` as lowercase hex.
    pub fn public_key_hex(&self) -> String {
        public_key_hex(self.key.verifying_key())
    }

    /// The ColonyOS identity of this key.
    pub fn id(&self) -> String {
        id_of(self.key.verifying_key())
    }

    /// Signs a base64 payload string; returns 130 hex characters `R || S || V` with low S.
    pub fn sign(&self, payload_b64: &str) -> String {
        let digest = Sha3_256::digest(payload_b64.as_bytes());
        // Signing a 32-byte prehash cannot fail for a valid key; fall back defensively anyway.
        let (sig, recid) = match self.key.sign_prehash_recoverable(&digest) {
            Ok(pair) => pair,
            Err(_) => return String::new(),
        };
        let (sig, recid) = match sig.normalize_s() {
            Some(low) => (
                low,
                RecoveryId::new(!recid.is_y_odd(), recid.is_x_reduced()),
            ),
            None => (sig, recid),
        };
        let mut out = Vec::with_capacity(65);
        out.extend_from_slice(&sig.to_bytes());
        out.push(recid.to_byte());
        hex::encode(out)
    }
}

/// Recovers the signer's identity from a base64 payload string and a 130-hex-character signature.
/// Rejects high-S signatures and signatures that do not verify.
pub fn recover_id(payload_b64: &str, signature_hex: &str) -> Result<String, CryptoError> {
    let bytes =
        hex::decode(signature_hex).map_err(|e| CryptoError::InvalidSignature(e.to_string()))?;
    if bytes.len() != 65 {
        return Err(CryptoError::InvalidSignature(format!(
            "expected 65 bytes, got {}",
            bytes.len()
        )));
    }
    let sig = Signature::from_slice(&bytes[..64])
        .map_err(|e| CryptoError::InvalidSignature(e.to_string()))?;
    if sig.normalize_s().is_some() {
        return Err(CryptoError::HighS);
    }
    let v = bytes[64];
    let v = if v >= 27 { v - 27 } else { v };
    let recid = RecoveryId::from_byte(v)
        .ok_or_else(|| CryptoError::InvalidSignature(format!("bad recovery id {v}")))?;
    let digest = Sha3_256::digest(payload_b64.as_bytes());
    // `recover_from_prehash` verifies the signature with the key it recovered before returning
    // it (ecdsa 0.16): a signature that does not verify is an error here.
    let key = VerifyingKey::recover_from_prehash(&digest, &sig, recid)
        .map_err(|_| CryptoError::VerificationFailed)?;
    Ok(id_of(&key))
}

/// SHA3-256 (FIPS 202) of `data` as lowercase hex.
pub fn sha3_256_hex(data: &[u8]) -> String {
    hex::encode(Sha3_256::digest(data))
}

fn public_key_hex(key: &VerifyingKey) -> String {
    hex::encode(key.to_encoded_point(false).as_bytes())
}

fn id_of(key: &VerifyingKey) -> String {
    sha3_256_hex(public_key_hex(key).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY1: &str = "6d2fb6f546bacfd98c68769e61e0b44a697a30596c018a50e28200aa59b01c0a";
    const PUB1: &str = "0408e903276ee7973666dceeefa5335e5c4b6b5989821906db98f8de8acf8f853824ca3234a8602200baa2d75f30cb2050cda18602824c3eb2da654a93a01a7ad4";
    const ID1: &str = "4fef2b5a82d134d058c1883c72d6d9caf77cd59ca82d73105017590dea3dcb87";
    const KEY2: &str = "d6eb959e9aec2e6fdc44b5862b269e987b8a4d6f2baca542d8acaa97ee5e74f6";
    const SIG2: &str = "997eca36736d465e0e8d64e6d657ff4c939c8f5cad4272797ea0fe372bfd8d0953d21b3d06ded5dd80aee8cfa3a9be7ce615ce690eb64184fe15962943fe541300";

    #[test]
    fn sha3_vector() {
        assert_eq!(
            sha3_256_hex(b"hello world"),
            "644bcc7e564373040999aac89e7622f3ca71fba1d972fd94a31c3bfbf24e3938"
        );
    }

    #[test]
    fn public_key_and_id_vector() {
        let key = PrivateKey::from_hex(KEY1).unwrap();
        assert_eq!(key.public_key_hex(), PUB1);
        assert_eq!(key.id(), ID1);
        assert_eq!(key.to_hex(), KEY1);
    }

    #[test]
    fn upstream_signature_recovers_signer() {
        let key = PrivateKey::from_hex(KEY2).unwrap();
        assert_eq!(recover_id("hello", SIG2).unwrap(), key.id());
    }

    #[test]
    fn own_signature_roundtrip_is_low_s() {
        let key = PrivateKey::generate();
        for payload in ["hello", "eyJtc2d0eXBlIjoidmVyc2lvbm1zZyJ9", ""] {
            let sig = key.sign(payload);
            assert_eq!(sig.len(), 130);
            assert_eq!(recover_id(payload, &sig).unwrap(), key.id());
        }
        let key2 = PrivateKey::from_hex(KEY2).unwrap();
        assert_eq!(recover_id("hello", &key2.sign("hello")).unwrap(), key2.id());
    }

    #[test]
    fn high_s_is_rejected() {
        let key = PrivateKey::generate();
        let sig = hex::decode(key.sign("payload")).unwrap();
        let parsed = Signature::from_slice(&sig[..64]).unwrap();
        let (r, s) = parsed.split_scalars();
        let high = Signature::from_scalars(r, -*s).unwrap();
        let mut bytes = high.to_bytes().to_vec();
        bytes.push(sig[64] ^ 1);
        assert_eq!(
            recover_id("payload", &hex::encode(bytes)),
            Err(CryptoError::HighS)
        );
    }

    #[test]
    fn tampered_payload_recovers_other_id_and_garbage_is_rejected() {
        let key = PrivateKey::generate();
        let sig = key.sign("a");
        assert_ne!(recover_id("b", &sig).ok(), Some(key.id()));
        assert!(recover_id("a", "zz").is_err());
        assert!(recover_id("a", &"00".repeat(65)).is_err());
        assert!(PrivateKey::from_hex("abcd").is_err());
        assert!(PrivateKey::from_hex(&"00".repeat(32)).is_err());
    }
}
