//! Forwards what the native processes write (their stdout/stderr files under the data dir) as
//! `log` records, from a persisted offset per file so nothing is sent twice after a restart.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::Error;
use crate::{Level, Recorder};

/// Most bytes read from one file per round.
const MAX_READ: u64 = 64 * 1024;
/// Longest line forwarded; longer lines are cut.
const MAX_LINE: usize = 4096;

/// Follows the output files of instances.
#[derive(Debug, Clone)]
pub struct OutputForwarder {
    dir: PathBuf,
    offsets: sled::Tree,
}

impl OutputForwarder {
    /// Follows files in `dir`, keeping offsets in `db`.
    pub fn open(db: &sled::Db, dir: &Path) -> Result<Self, Error> {
        Ok(Self {
            dir: dir.to_path_buf(),
            offsets: db.open_tree("output-offsets")?,
        })
    }

    /// The folder of the output files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sends the complete new lines of `<instance>.log` as log records of `blueprint`.
    pub fn forward(
        &self,
        recorder: &dyn Recorder,
        blueprint: &str,
        instance: &str,
    ) -> Result<usize, Error> {
        let path = self.dir.join(format!("{instance}.log"));
        let Ok(mut file) = std::fs::File::open(&path) else {
            return Ok(0);
        };
        let len = file
            .metadata()
            .map_err(|e| Error::io("reading log file metadata", e))?
            .len();
        let stored = self
            .offsets
            .get(instance.as_bytes())?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok());
        let mut offset = stored.map_or(0, u64::from_be_bytes);
        if offset > len {
            offset = 0; // rotated
        }
        if offset == len {
            return Ok(0);
        }
        let mut buf = Vec::new();
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io("seeking log file", e))?;
        file.take(MAX_READ)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("reading log file", e))?;
        // Only complete lines, unless one line alone exceeds the read window.
        let end = match buf.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None if buf.len() as u64 >= MAX_READ => buf.len(),
            None => return Ok(0),
        };
        let mut sent = 0;
        for line in buf[..end].split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let text = String::from_utf8_lossy(&line[..line.len().min(MAX_LINE)]).into_owned();
            recorder.log(Level::Info, blueprint, instance, &text);
            sent += 1;
        }
        self.offsets
            .insert(instance.as_bytes(), &(offset + end as u64).to_be_bytes())?;
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_complete_lines_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path().join("db")).unwrap();
        let recorder = crate::MemoryRecorder::default();
        let f = OutputForwarder::open(&db, dir.path()).unwrap();
        std::fs::write(dir.path().join("web-0.log"), "one\ntwo\npart").unwrap();
        assert_eq!(f.forward(&recorder, "web", "web-0").unwrap(), 2);
        assert_eq!(f.forward(&recorder, "web", "web-0").unwrap(), 0);
        std::fs::write(dir.path().join("web-0.log"), "one\ntwo\npartial done\n").unwrap();
        assert_eq!(f.forward(&recorder, "web", "web-0").unwrap(), 1);
        let lines: Vec<String> = recorder.lines().into_iter().map(|(_, _, m)| m).collect();
        assert_eq!(lines, ["one", "two", "partial done"]);
    }
}
