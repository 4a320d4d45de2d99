//! Signing key files of a domain: generation (ed25519, PKCS#8 written atomically with mode
//! 0600, and the public key as hex), reading the public half of either file, and the `signing`
//! section a domain needs to announce a rotation.

use maestro_common::manifest::{KeySet, PublicKey, SigningKey};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The files `generate` wrote.
#[derive(Debug, Clone)]
pub struct GeneratedKey {
    /// The private key (PKCS#8 DER, 0600).
    pub private: PathBuf,
    /// The public key (64 hex digits and a newline).
    pub public_file: PathBuf,
    /// The public key.
    pub public: PublicKey,
}

/// Creates `<dir>/<name>.pk8` and `<dir>/<name>.pub`; existing files are kept unless `force`.
pub fn generate(dir: &Path, name: &str, force: bool) -> Result<GeneratedKey, String> {
    maestro_common::names::validate_name("--name", name).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let private = dir.join(format!("{name}.pk8"));
    let public_file = dir.join(format!("{name}.pub"));
    for p in [&private, &public_file] {
        if p.exists() && !force {
            return Err(format!(
                "{} exists (use --force to replace it)",
                p.display()
            ));
        }
    }
    let (key, pkcs8) = SigningKey::generate().map_err(|e| e.to_string())?;
    let write = |path: &Path, bytes: &[u8], mode: u32| {
        maestro_common::durable::write_file(path, bytes, mode, true)
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    write(&private, &pkcs8, 0o600)?;
    let public = key.public();
    write(&public_file, format!("{public}\n").as_bytes(), 0o644)?;
    Ok(GeneratedKey {
        private,
        public_file,
        public,
    })
}

/// The public key of a `.pub` file or of a PKCS#8 private key file.
pub fn public_key(file: &Path) -> Result<PublicKey, String> {
    match PublicKey::load(file) {
        Ok(k) => Ok(k),
        Err(_) => SigningKey::load(file)
            .map(|k| k.public())
            .map_err(|e| format!("{e} (neither a public key file nor a PKCS#8 ed25519 key)")),
    }
}

/// The `signing` section of a domain that signs with `keys` and announces `announce` with
/// `threshold`; refused when the domain would not hold `threshold` keys of the new set.
pub fn rotation_section(
    keys: &[PathBuf],
    announce: &[PathBuf],
    threshold: u32,
) -> Result<Value, String> {
    let mut held = Vec::new();
    for k in keys {
        held.push(SigningKey::load(k).map_err(|e| e.to_string())?.public());
    }
    let announced = announce
        .iter()
        .map(|f| public_key(f))
        .collect::<Result<Vec<_>, _>>()?;
    let set = KeySet::new("--announce", threshold, announced).map_err(|e| e.to_string())?;
    let signing = set.keys.iter().filter(|k| held.contains(k)).count();
    if (signing as u64) < u64::from(threshold) {
        return Err(format!(
            "the domain would hold {signing} key(s) of the new set but {threshold} must sign; add them with --key"
        ));
    }
    Ok(json!({
        "signing": {
            "keys": keys,
            "key_set": {
                "threshold": threshold,
                "keys": set.keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_read_back_and_a_rotation_needs_the_new_keys() {
        let dir = tempfile::tempdir().unwrap();
        let old = generate(dir.path(), "old", false).unwrap();
        let new = generate(dir.path(), "new", false).unwrap();
        assert!(
            generate(dir.path(), "old", false)
                .unwrap_err()
                .contains("exists")
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&old.private)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(public_key(&old.private).unwrap(), old.public);
        assert_eq!(public_key(&old.public_file).unwrap(), old.public);
        let section = rotation_section(
            &[old.private.clone(), new.private.clone()],
            std::slice::from_ref(&new.public_file),
            1,
        )
        .unwrap();
        assert_eq!(
            section["signing"]["key_set"]["keys"][0],
            new.public.to_string()
        );
        let e = rotation_section(
            std::slice::from_ref(&old.private),
            std::slice::from_ref(&new.public_file),
            1,
        )
        .unwrap_err();
        assert!(e.contains("0 key(s) of the new set"), "{e}");
        assert!(public_key(&dir.path().join("missing")).is_err());
    }
}
