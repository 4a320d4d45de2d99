//! A small disk a test can fill: a size-capped tmpfs mounted on a fresh directory (needs the
//! right to mount, as root in CI has; a test that needs one fails loudly without it), with a
//! balloon file that takes every free byte until it is let go. Unmounted when dropped.

use anyhow::Context;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A mounted, size-capped tmpfs.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB on a new temporary directory.
    pub fn mount(mib: u64) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let options = format!("size={mib}m,mode=0755");
        mount(
            Some("tmpfs"),
            dir.path(),
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(options.as_str()),
        )
        .with_context(|| {
            format!(
                "mounting a {mib} MiB tmpfs on {} (the disk-full tests need to mount)",
                dir.path().display()
            )
        })?;
        Ok(Self { dir })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn balloon(&self) -> PathBuf {
        self.dir.path().join("balloon")
    }

    /// Fills the disk: writes a balloon file until the kernel says there is no space left.
    /// Returns the bytes it took.
    pub fn fill(&self) -> anyhow::Result<u64> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.balloon())?;
        let chunk = vec![0u8; 64 * 1024];
        let mut taken = 0u64;
        // Bounded by the mount's size: every turn takes a chunk or ends the loop.
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(n) => taken += n as u64,
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => break,
                Err(e) => return Err(e.into()),
            }
        }
        // Smaller writes take what a whole chunk could not.
        loop {
            match f.write(&chunk[..512]) {
                Ok(0) => break,
                Ok(n) => taken += n as u64,
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(taken)
    }

    /// Lets the balloon go: the space is free again.
    pub fn free(&self) -> anyhow::Result<()> {
        match std::fs::remove_file(self.balloon()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a process still holding a file in it must not keep the mount alive or fail
        // the drop.
        let _ = umount2(self.dir.path(), MntFlags::MNT_DETACH);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_tmpfs_refuses_writes_until_freed() {
        let fs = Tmpfs::mount(2).unwrap();
        let taken = fs.fill().unwrap();
        assert!(taken > 1024 * 1024, "took {taken} bytes");
        let err = std::fs::write(fs.path().join("more"), vec![1u8; 8192]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(nix::libc::ENOSPC), "{err}");
        fs.free().unwrap();
        std::fs::write(fs.path().join("more"), vec![1u8; 8192]).unwrap();
    }
}
