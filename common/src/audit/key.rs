//! The audit signing key: an ed25519 key of its own, in the component's data directory,
//! generated at first start (PKCS#8, mode 0600). It is neither the TLS key nor a domain's
//! manifest signing key, so each can be kept, rotated and revoked without the others.

use std::path::{Path, PathBuf};

use crate::manifest::{PublicKey, SigningKey};

/// Name of the private key file in the data directory.
pub const KEY_FILE: &str = "audit-signing.pk8";
/// Name of the public key file (64 hex digits) written beside it, for operators to copy.
pub const PUBLIC_KEY_FILE: &str = "audit-signing.pub";

/// The key that signs a component's audit checkpoints.
#[derive(Debug)]
pub struct AuditKey {
    key: SigningKey,
    path: PathBuf,
}

impl AuditKey {
    /// Reads `<dir>/audit-signing.pk8`, or creates it (mode 0600, never replacing a file) with
    /// `audit-signing.pub` beside it when there is none. The error names the file.
    pub fn load_or_generate(dir: &Path) -> Result<Self, String> {
        let path = dir.join(KEY_FILE);
        let shown = path.display().to_string();
        if !path.exists() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let (key, pkcs8) = SigningKey::generate().map_err(|e| format!("{shown}: {e}"))?;
            match crate::durable::write_file(&path, &pkcs8, 0o600, false) {
                Ok(()) => {
                    let public = dir.join(PUBLIC_KEY_FILE);
                    crate::durable::write_file(
                        &public,
                        format!("{}\n", key.public()).as_bytes(),
                        0o644,
                        true,
                    )
                    .map_err(|e| format!("{}: {e}", public.display()))?;
                    tracing::info!(file = %shown, public_key = %key.public(), "generated the audit signing key");
                    return Ok(Self { key, path });
                }
                // Another start made it first: use that one.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("{shown}: {e}")),
            }
        }
        warn_if_readable_by_others(&path);
        let key = SigningKey::load(&path).map_err(|e| e.to_string())?;
        Ok(Self { key, path })
    }

    /// The public half, which verifiers pin.
    pub fn public(&self) -> PublicKey {
        self.key.public()
    }

    /// The signing key.
    pub fn signing(&self) -> &SigningKey {
        &self.key
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(file = %path.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the audit signing key is readable by others than its owner; chmod 600 it");
    }
}
