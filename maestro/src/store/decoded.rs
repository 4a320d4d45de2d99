//! Decoded values kept beside the exact bytes they were decoded from, so that a record read
//! again unchanged is not decoded again. A roll-up reads its order (up to three times) and every
//! status of the order's intents; without this, each read decoded JSON whose size grows with
//! the number of domains the order spans.
//!
//! A kept value is only ever returned for the very bytes it came from: the bytes just read from
//! the database are compared with the kept ones, so a write by anyone (another store over the
//! same database, a transaction that raced) can at worst cost a decode, never return a stale
//! value. What is kept is bounded by the size of the bytes; past the bound, entries go.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Decoded values by key, each with the bytes it was decoded from.
#[derive(Debug)]
pub(super) struct Decoded<T> {
    kept: Mutex<Kept<T>>,
    /// Most bytes (of the encoded records) kept at once.
    budget: usize,
}

#[derive(Debug)]
struct Kept<T> {
    entries: HashMap<String, Entry<T>>,
    bytes: usize,
}

#[derive(Debug)]
struct Entry<T> {
    raw: sled::IVec,
    value: Arc<T>,
}

impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Self {
            raw: self.raw.clone(),
            value: Arc::clone(&self.value),
        }
    }
}

impl<T> Decoded<T> {
    /// Keeps at most `budget` bytes of records.
    pub(super) fn new(budget: usize) -> Self {
        Self {
            kept: Mutex::new(Kept {
                entries: HashMap::new(),
                bytes: 0,
            }),
            budget,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept<T>> {
        // A panic elsewhere cannot leave the map inconsistent: every change is one call on it.
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What `raw`, the record stored under `key`, decodes to: the kept value when it was
    /// decoded from the same bytes, otherwise `decode(raw)`, then kept.
    pub(super) fn decode<E>(
        &self,
        key: &str,
        raw: &sled::IVec,
        decode: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        let kept = self.lock().entries.get(key).cloned();
        if let Some(entry) = kept.filter(|e| e.raw == *raw) {
            return Ok(entry.value);
        }
        let value = Arc::new(decode(raw)?);
        self.keep(key, raw.clone(), Arc::clone(&value));
        Ok(value)
    }

    /// Keeps `value` as what `raw`, just written under `key`, decodes to.
    pub(super) fn keep(&self, key: &str, raw: sled::IVec, value: Arc<T>) {
        let mut kept = self.lock();
        if let Some(old) = kept.entries.remove(key) {
            kept.bytes -= old.raw.len();
        }
        if raw.len() > self.budget {
            return;
        }
        while kept.bytes + raw.len() > self.budget {
            let Some(victim) = kept.entries.keys().next().cloned() else {
                break;
            };
            if let Some(old) = kept.entries.remove(&victim) {
                kept.bytes -= old.raw.len();
            }
        }
        kept.bytes += raw.len();
        kept.entries.insert(key.to_string(), Entry { raw, value });
    }

    /// Drops what is kept for `key` (its record is no longer read often).
    pub(super) fn forget(&self, key: &str) {
        let mut kept = self.lock();
        if let Some(old) = kept.entries.remove(key) {
            kept.bytes -= old.raw.len();
        }
    }

    /// How many bytes of records are kept.
    #[cfg(test)]
    pub(super) fn kept_bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::Decoded;
    use std::cell::Cell;

    fn parse(calls: &Cell<u32>) -> impl FnOnce(&[u8]) -> Result<String, String> + '_ {
        move |raw| {
            calls.set(calls.get() + 1);
            String::from_utf8(raw.to_vec()).map_err(|e| e.to_string())
        }
    }

    #[test]
    fn the_same_bytes_are_decoded_once_and_other_bytes_again() {
        let cache = Decoded::new(1024);
        let calls = Cell::new(0);
        let a = sled::IVec::from(&b"first"[..]);
        assert_eq!(*cache.decode("k", &a, parse(&calls)).unwrap(), "first");
        assert_eq!(
            *cache.decode("k", &a.clone(), parse(&calls)).unwrap(),
            "first"
        );
        assert_eq!(calls.get(), 1);
        // The same key with other bytes (someone wrote it): decoded, never the kept value.
        let b = sled::IVec::from(&b"second"[..]);
        assert_eq!(*cache.decode("k", &b, parse(&calls)).unwrap(), "second");
        assert_eq!(calls.get(), 2);
        // The same bytes under another key are that key's own entry.
        assert_eq!(*cache.decode("other", &b, parse(&calls)).unwrap(), "second");
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn a_value_kept_at_a_write_is_returned_for_exactly_its_bytes() {
        let cache = Decoded::new(1024);
        let calls = Cell::new(0);
        let raw = sled::IVec::from(&b"written"[..]);
        cache.keep("k", raw.clone(), std::sync::Arc::new("written".to_string()));
        assert_eq!(*cache.decode("k", &raw, parse(&calls)).unwrap(), "written");
        assert_eq!(calls.get(), 0);
        // A keep that raced with a later write holds older bytes: the read decodes.
        let later = sled::IVec::from(&b"later"[..]);
        assert_eq!(*cache.decode("k", &later, parse(&calls)).unwrap(), "later");
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn a_decode_error_keeps_nothing_and_forget_drops_the_entry() {
        let cache: Decoded<String> = Decoded::new(1024);
        let calls = Cell::new(0);
        let bad = sled::IVec::from(&[0xff_u8, 0xfe][..]);
        assert!(cache.decode("k", &bad, parse(&calls)).is_err());
        assert_eq!(cache.kept_bytes(), 0);
        let raw = sled::IVec::from(&b"v"[..]);
        cache.decode("k", &raw, parse(&calls)).unwrap();
        assert_eq!(cache.kept_bytes(), 1);
        cache.forget("k");
        assert_eq!(cache.kept_bytes(), 0);
        cache.decode("k", &raw, parse(&calls)).unwrap();
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn what_is_kept_stays_within_the_budget() {
        let cache = Decoded::new(10);
        let calls = Cell::new(0);
        for key in ["a", "b", "c", "d"] {
            cache
                .decode(key, &sled::IVec::from(&b"four"[..]), parse(&calls))
                .unwrap();
            assert!(
                cache.kept_bytes() <= 10,
                "{} bytes kept",
                cache.kept_bytes()
            );
        }
        assert_eq!(cache.kept_bytes(), 8);
        // A record larger than the budget is decoded every time and never kept.
        let big = sled::IVec::from(&b"eleven-byte"[..]);
        cache.decode("big", &big, parse(&calls)).unwrap();
        cache.decode("big", &big, parse(&calls)).unwrap();
        assert_eq!(calls.get(), 6);
        // Rewriting a key replaces its bytes in the count.
        cache.keep("a", sled::IVec::from(&b"xy"[..]), "xy".to_string().into());
        assert!(cache.kept_bytes() <= 10);
    }
}
