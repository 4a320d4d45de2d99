//! The `signing` section of the domain orchestrator's config.

use maestro_common::FieldError;
use maestro_common::manifest::{KeySet, PublicKey, SigningKey};
use std::path::PathBuf;

/// Default validity of a manifest: 7 days.
pub const DEFAULT_VALIDITY_SECS: u64 = 7 * 24 * 3600;
/// Default time before expiry at which a manifest is re-signed: 3 days.
pub const DEFAULT_RENEW_BEFORE_SECS: u64 = 3 * 24 * 3600;

/// How the domain signs what it publishes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigningSettings {
    /// PKCS#8 files of the ed25519 keys that sign every manifest (`maestroctl keys generate`);
    /// separate from the TLS key. Empty: commits are published unsigned (a warning at start;
    /// sites that verify refuse them).
    pub keys: Vec<PathBuf>,
    /// The key set every manifest announces, i.e. what sites trust from then on. Absent: the
    /// public keys of `keys`, all of them required. A set that differs from the one sites trust
    /// is a rotation (see `docs/security.md`).
    pub key_set: Option<KeySetSettings>,
    /// How long a manifest is valid after it was signed.
    pub validity_secs: u64,
    /// A manifest closer than this to its expiry is re-signed (with a new version).
    pub renew_before_secs: u64,
}

impl Default for SigningSettings {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            key_set: None,
            validity_secs: DEFAULT_VALIDITY_SECS,
            renew_before_secs: DEFAULT_RENEW_BEFORE_SECS,
        }
    }
}

/// A key set as configured: public keys (64 hex digits, or the path of a `.pub` file) and a
/// threshold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySetSettings {
    /// How many distinct keys must sign.
    pub threshold: u32,
    /// Public keys: 64 hex digits or a public key file.
    pub keys: Vec<String>,
}

/// A public key given as hex digits or as the path of a public key file.
pub fn public_key(field: &str, text: &str) -> Result<PublicKey, FieldError> {
    let is_hex = text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex {
        return PublicKey::parse(field, text);
    }
    PublicKey::load(std::path::Path::new(text)).map_err(|e| FieldError::new(field, e.to_string()))
}

impl KeySetSettings {
    /// The configured set, keys read and checked; the error names the field under `field`.
    pub fn resolve(&self, field: &str) -> Result<KeySet, FieldError> {
        let keys = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| public_key(&format!("{field}.keys[{i}]"), k))
            .collect::<Result<Vec<_>, _>>()?;
        KeySet::new(field, self.threshold, keys)
    }
}

impl SigningSettings {
    /// Checks what can be checked without reading files; the error names the key.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if self.validity_secs == 0 {
            return Err(FieldError::new(
                format!("{field}.validity_secs"),
                "must be greater than 0",
            ));
        }
        if self.renew_before_secs >= self.validity_secs {
            return Err(FieldError::new(
                format!("{field}.renew_before_secs"),
                "must be less than validity_secs",
            ));
        }
        if self.keys.is_empty() && self.key_set.is_some() {
            return Err(FieldError::new(
                format!("{field}.keys"),
                "required when key_set is set",
            ));
        }
        Ok(())
    }

    /// Reads the signing keys and resolves the announced key set (None when unsigned). Every
    /// announced key must be usable: the domain must hold at least `threshold` of its keys,
    /// otherwise no manifest it signs would satisfy the set it announces.
    pub fn load(&self, field: &str) -> Result<Option<(Vec<SigningKey>, KeySet)>, FieldError> {
        if self.keys.is_empty() {
            return Ok(None);
        }
        let mut keys = Vec::new();
        for (i, path) in self.keys.iter().enumerate() {
            let key = SigningKey::load(path)
                .map_err(|e| FieldError::new(format!("{field}.keys[{i}]"), e.to_string()))?;
            if keys.iter().any(|k: &SigningKey| k.public() == key.public()) {
                return Err(FieldError::new(
                    format!("{field}.keys[{i}]"),
                    "the same key is listed twice",
                ));
            }
            keys.push(key);
        }
        let set = match &self.key_set {
            Some(s) => s.resolve(&format!("{field}.key_set"))?,
            None => {
                let publics: Vec<PublicKey> = keys.iter().map(SigningKey::public).collect();
                let threshold = u32::try_from(publics.len()).unwrap_or(u32::MAX);
                KeySet::new(&format!("{field}.keys"), threshold, publics)?
            }
        };
        let held = set
            .keys
            .iter()
            .filter(|k| keys.iter().any(|s| s.public() == **k))
            .count();
        if (held as u64) < u64::from(set.threshold) {
            return Err(FieldError::new(
                format!("{field}.key_set"),
                format!(
                    "the domain holds {held} of its keys but {} must sign",
                    set.threshold
                ),
            ));
        }
        Ok(Some((keys, set)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_file(dir: &std::path::Path, name: &str) -> (PathBuf, PublicKey) {
        let (key, pkcs8) = SigningKey::generate().unwrap();
        let path = dir.join(format!("{name}.pk8"));
        std::fs::write(&path, pkcs8).unwrap();
        (path, key.public())
    }

    #[test]
    fn keys_are_loaded_and_the_announced_set_must_be_signable() {
        let dir = tempfile::tempdir().unwrap();
        let (a, a_pub) = key_file(dir.path(), "a");
        let (b, b_pub) = key_file(dir.path(), "b");
        let unsigned = SigningSettings::default();
        assert!(unsigned.load("signing").unwrap().is_none());
        let one = SigningSettings {
            keys: vec![a.clone()],
            ..SigningSettings::default()
        };
        let (keys, set) = one.load("signing").unwrap().unwrap();
        assert_eq!(
            (keys.len(), set.threshold, set.keys.clone()),
            (1, 1, vec![a_pub])
        );
        // A rotation: signs with both, announces the new one (as hex or as a file).
        let pub_file = dir.path().join("b.pub");
        std::fs::write(&pub_file, format!("{b_pub}\n")).unwrap();
        let rotating = SigningSettings {
            keys: vec![a.clone(), b.clone()],
            key_set: Some(KeySetSettings {
                threshold: 1,
                keys: vec![pub_file.display().to_string()],
            }),
            ..SigningSettings::default()
        };
        assert_eq!(
            rotating.load("signing").unwrap().unwrap().1.keys,
            vec![b_pub]
        );
        let field = |s: &SigningSettings| s.load("signing").unwrap_err().field;
        // Announcing a set the domain cannot sign is refused at start.
        let unsignable = SigningSettings {
            keys: vec![a.clone()],
            ..rotating.clone()
        };
        assert_eq!(field(&unsignable), "signing.key_set");
        let twice = SigningSettings {
            keys: vec![a.clone(), a.clone()],
            ..SigningSettings::default()
        };
        assert_eq!(field(&twice), "signing.keys[1]");
        let missing = SigningSettings {
            keys: vec![dir.path().join("none.pk8")],
            ..SigningSettings::default()
        };
        assert_eq!(field(&missing), "signing.keys[0]");
        let not_a_key = SigningSettings {
            keys: vec![pub_file],
            ..SigningSettings::default()
        };
        assert_eq!(field(&not_a_key), "signing.keys[0]");
        assert_eq!(
            SigningSettings {
                key_set: rotating.key_set,
                ..SigningSettings::default()
            }
            .validate("signing")
            .unwrap_err()
            .field,
            "signing.keys"
        );
    }
}
