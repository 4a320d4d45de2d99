//! The managed directory on disk: files written atomically (temporary file, fsync, rename,
//! fsync of the directory), never through a symbolic link, never outside the directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::spec::sha256_hex;

/// What a managed path holds on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnDisk {
    /// SHA-256 of the content.
    pub sha256: String,
    /// Permission bits.
    pub mode: u32,
    /// Size in bytes.
    pub bytes: u64,
}

/// The directory the config file reconciler owns. Paths given to it are relative and validated
/// ([`super::spec::validate_path`]).
#[derive(Debug, Clone)]
pub struct ManagedDir {
    root: PathBuf,
}

impl ManagedDir {
    /// The directory `root` (created when missing).
    pub fn open(root: &Path) -> std::io::Result<Self> {
        fs::create_dir_all(root)?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path of `rel`, after checking that no existing component below the root is
    /// a symbolic link or a non-directory (so nothing is written or removed outside the root).
    fn resolve(&self, rel: &str) -> Result<PathBuf, String> {
        let parts: Vec<&str> = rel.split('/').collect();
        let mut at = self.root.clone();
        for (i, part) in parts.iter().enumerate() {
            if part.is_empty() || *part == "." || *part == ".." || part.contains('\0') {
                return Err(format!("{rel}: not a managed path"));
            }
            at.push(part);
            match fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(format!(
                        "{rel}: {} is a symbolic link; not followed",
                        at.display()
                    ));
                }
                Ok(m) if i + 1 < parts.len() && !m.is_dir() => {
                    return Err(format!("{rel}: {} is not a directory", at.display()));
                }
                Ok(m) if i + 1 == parts.len() && !m.is_file() => {
                    return Err(format!("{rel}: {} is not a regular file", at.display()));
                }
                _ => {}
            }
        }
        Ok(at)
    }

    /// What `rel` holds: `None` when it does not exist.
    pub fn read(&self, rel: &str) -> Result<Option<OnDisk>, String> {
        let path = self.resolve(rel)?;
        match fs::read(&path) {
            Ok(bytes) => {
                let meta = fs::metadata(&path).map_err(|e| format!("{rel}: {e}"))?;
                Ok(Some(OnDisk {
                    sha256: sha256_hex(&bytes),
                    mode: meta.permissions().mode() & 0o7777,
                    bytes: bytes.len() as u64,
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("reading {rel}: {e}")),
        }
    }

    /// Writes `content` to `rel` with `mode` atomically: a reader sees the old file or the new
    /// one, never a part; after a crash the file is the old or the new one.
    pub fn write(&self, rel: &str, content: &[u8], mode: u32) -> Result<(), String> {
        let path = self.resolve(rel)?;
        let parent = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&parent).map_err(|e| format!("creating the folder of {rel}: {e}"))?;
        // Created folders are checked again: nothing may have become a link meanwhile.
        let path = self.resolve(rel)?;
        maestro_common::durable::write_file(&path, content, mode, true)
            .map_err(|e| format!("writing {rel}: {e}"))
    }

    /// Removes `rel` (true when it existed) and then every folder on its way that became empty
    /// (never the root).
    pub fn remove(&self, rel: &str) -> Result<bool, String> {
        let path = self.resolve(rel)?;
        let existed = match fs::remove_file(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(format!("removing {rel}: {e}")),
        };
        let mut dir = path.parent().map(Path::to_path_buf);
        while let Some(d) = dir {
            if d == self.root || !d.starts_with(&self.root) || fs::remove_dir(&d).is_err() {
                break;
            }
            dir = d.parent().map(Path::to_path_buf);
        }
        if existed && let Some(p) = path.parent() {
            let _ = fs::File::open(p).and_then(|f| f.sync_all());
        }
        Ok(existed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_with_mode_and_removes_with_empty_folders() {
        let dir = tempfile::tempdir().unwrap();
        let m = ManagedDir::open(&dir.path().join("files")).unwrap();
        m.write("gw/conf/app.conf", b"a=1\n", 0o640).unwrap();
        let on = m.read("gw/conf/app.conf").unwrap().unwrap();
        assert_eq!(on.mode, 0o640);
        assert_eq!(on.sha256, sha256_hex(b"a=1\n"));
        m.write("gw/conf/app.conf", b"a=2\n", 0o600).unwrap();
        assert_eq!(
            fs::read_to_string(m.root().join("gw/conf/app.conf")).unwrap(),
            "a=2\n"
        );
        let leftovers: Vec<_> = fs::read_dir(m.root().join("gw/conf")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left");
        assert!(m.remove("gw/conf/app.conf").unwrap());
        assert!(!m.root().join("gw").exists(), "empty folders pruned");
        assert!(m.root().exists(), "the root stays");
        assert!(!m.remove("gw/conf/app.conf").unwrap());
    }

    #[test]
    fn never_follows_a_symbolic_link_out_of_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("victim"), "keep").unwrap();
        let m = ManagedDir::open(&dir.path().join("files")).unwrap();
        std::os::unix::fs::symlink(&outside, m.root().join("link")).unwrap();
        assert!(
            m.write("link/victim", b"pwned", 0o644)
                .unwrap_err()
                .contains("symbolic link")
        );
        assert!(m.remove("link/victim").is_err());
        std::os::unix::fs::symlink(outside.join("victim"), m.root().join("file")).unwrap();
        assert!(m.write("file", b"pwned", 0o644).is_err());
        assert_eq!(fs::read_to_string(outside.join("victim")).unwrap(), "keep");
    }
}
