//! The manifest version counter: durable in the domain's sled, so a version never repeats, not
//! even across restarts or a push that failed after the version was taken.

const KEY: &[u8] = b"manifest_version";

/// Hands out manifest versions that only increase.
#[derive(Debug, Clone)]
pub struct VersionCounter {
    tree: sled::Tree,
}

impl VersionCounter {
    /// The counter kept in `tree`.
    pub fn new(tree: sled::Tree) -> Self {
        Self { tree }
    }

    /// The last version handed out (0 before the first).
    pub fn last(&self) -> Result<u64, sled::Error> {
        Ok(self
            .tree
            .get(KEY)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// A new version above the last one handed out and above `at_least` (e.g. the version the
    /// branch already holds, should the counter have been lost), flushed before it is returned.
    /// Blocking: call it on a blocking thread.
    pub fn next(&self, at_least: u64) -> Result<u64, sled::Error> {
        let next = self.last()?.max(at_least).saturating_add(1);
        self.tree.insert(KEY, &next.to_be_bytes())?;
        self.tree.flush()?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_only_increase_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = maestro_common::durable::open(dir.path()).unwrap();
            let c = VersionCounter::new(db.open_tree("t").unwrap());
            assert_eq!(c.next(0).unwrap(), 1);
            assert_eq!(c.next(0).unwrap(), 2);
            assert_eq!(c.next(10).unwrap(), 11, "the branch's version is passed");
        }
        let db = maestro_common::durable::open(dir.path()).unwrap();
        let c = VersionCounter::new(db.open_tree("t").unwrap());
        assert_eq!(c.last().unwrap(), 11);
        assert_eq!(c.next(3).unwrap(), 12);
    }
}
