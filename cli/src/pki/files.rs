//! Writing PKI files: all targets checked before anything is written, each file written to a
//! temporary file with its final mode, fsynced, then moved into place (never half-written, a key
//! never readable by others even for a moment).

use crate::error::{CliError, CliResult};
use std::fs;
use std::path::{Path, PathBuf};

/// Mode of private keys.
pub const KEY_MODE: u32 = 0o600;
/// Mode of certificates and metadata.
pub const PUBLIC_MODE: u32 = 0o644;

/// One file to write.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// Where.
    pub path: PathBuf,
    /// What.
    pub contents: Vec<u8>,
    /// Unix permission bits.
    pub mode: u32,
}

impl PlannedFile {
    /// A file with `contents` and `mode` at `path`.
    pub fn new(path: PathBuf, contents: impl Into<Vec<u8>>, mode: u32) -> Self {
        Self {
            path,
            contents: contents.into(),
            mode,
        }
    }
}

/// Refuses (exit 4) when one of `paths` exists and `force` is not set, naming every such file.
pub fn refuse_existing(paths: &[&Path], force: bool) -> CliResult<()> {
    if force {
        return Ok(());
    }
    let existing: Vec<String> = paths
        .iter()
        .filter(|p| p.symlink_metadata().is_ok())
        .map(|p| p.display().to_string())
        .collect();
    if existing.is_empty() {
        Ok(())
    } else {
        Err(CliError::Invalid(format!(
            "{} already exists; not overwritten (use --force to replace)",
            existing.join(", ")
        )))
    }
}

/// Writes every file in order (keys first is the caller's choice), after checking that none exists
/// unless `force`.
pub fn write_all(files: &[PlannedFile], force: bool) -> CliResult<()> {
    let paths: Vec<&Path> = files.iter().map(|f| f.path.as_path()).collect();
    refuse_existing(&paths, force)?;
    for f in files {
        write_atomic(&f.path, &f.contents, f.mode, force)?;
    }
    Ok(())
}

/// Writes `contents` to `path` with `mode`: a temporary file created with that mode in the same
/// directory, fsynced, then renamed over `path` (with `replace`) or hard-linked to it (without, so
/// a file that appeared meanwhile is never clobbered); the directory is fsynced last.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32, replace: bool) -> CliResult<()> {
    maestro_common::durable::write_file(path, contents, mode, replace).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => CliError::Invalid(format!(
            "{} already exists; not overwritten (use --force to replace)",
            path.display()
        )),
        std::io::ErrorKind::InvalidInput => {
            CliError::Invalid(format!("{} names no file", path.display()))
        }
        _ => CliError::Failed(format!("writing {}: {e}", path.display())),
    })
}

/// Reads a whole file; a missing file is "not found" (exit 3).
pub fn read(path: &Path) -> CliResult<Vec<u8>> {
    fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            CliError::NotFound(format!("{}: no such file", path.display()))
        }
        _ => CliError::Failed(format!("reading {}: {e}", path.display())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn keys_are_private_and_nothing_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        let cert = dir.path().join("c.pem");
        write_all(
            &[
                PlannedFile::new(key.clone(), "secret", KEY_MODE),
                PlannedFile::new(cert.clone(), "public", PUBLIC_MODE),
            ],
            false,
        )
        .unwrap();
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&cert), 0o644);
        assert_eq!(fs::read_to_string(&key).unwrap(), "secret");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn existing_files_are_kept_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.pem");
        let b = dir.path().join("b.pem");
        fs::write(&b, "old").unwrap();
        let plan = [
            PlannedFile::new(a.clone(), "new a", KEY_MODE),
            PlannedFile::new(b.clone(), "new b", KEY_MODE),
        ];
        let err = write_all(&plan, false).unwrap_err();
        assert_eq!(err.exit_code(), 4);
        assert!(err.to_string().contains("b.pem"), "{err}");
        // Nothing was written: the check precedes every write.
        assert!(!a.exists());
        assert_eq!(fs::read_to_string(&b).unwrap(), "old");
        // Without --force, a file that appears after the check is not clobbered either.
        let err = write_atomic(&b, b"new", KEY_MODE, false).unwrap_err();
        assert_eq!(err.exit_code(), 4);
        assert_eq!(fs::read_to_string(&b).unwrap(), "old");
        write_all(&plan, true).unwrap();
        assert_eq!(fs::read_to_string(&b).unwrap(), "new b");
        assert_eq!(mode(&b), 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
