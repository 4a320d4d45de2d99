//! Byte layouts of the sled keys and values. Strings are length-prefixed so no separator byte
//! can make two different keys collide.

/// Key of `records` and value of the indexes: the big-endian sequence, so keys sort in order.
pub(super) fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Reads a big-endian u64 from exactly 8 bytes.
pub(super) fn read_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    // Names and streams are far shorter than u16::MAX; saturate rather than panic.
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..usize::from(len)]);
}

/// Key of the dedupe index: `(site, stream, sender_sequence)`.
pub(super) fn dedupe_key(site: &str, stream: &str, sender_sequence: u64) -> Vec<u8> {
    let mut k = dedupe_prefix(site, stream);
    k.extend_from_slice(&sender_sequence.to_be_bytes());
    k
}

/// Prefix of every dedupe key of `(site, stream)`; the keys under it sort by sender sequence.
pub(super) fn dedupe_prefix(site: &str, stream: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + site.len() + stream.len() + 8);
    push_str(&mut k, site);
    push_str(&mut k, stream);
    k
}

/// Key of the dedupe floor of `(site, stream)`: sender sequence 0, which no record has (senders
/// start at 1). Its value is the highest sender sequence whose entry retention dropped.
pub(super) fn dedupe_floor_key(site: &str, stream: &str) -> Vec<u8> {
    dedupe_key(site, stream, 0)
}

/// Sender sequence of a dedupe key (its last 8 bytes).
pub(super) fn dedupe_sender_sequence(key: &[u8]) -> Option<u64> {
    read_u64(key.get(key.len().checked_sub(8)?..)?)
}

/// Key of the latest-status index: `(site, blueprint)`.
pub(super) fn status_key(site: &str, blueprint: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + site.len() + blueprint.len());
    push_str(&mut k, site);
    push_str(&mut k, blueprint);
    k
}

/// Value of the latest-status index: the sender sequence that decides "latest", then the record.
pub(super) fn status_value(sender_sequence: u64, seq: u64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&sender_sequence.to_be_bytes());
    v[8..].copy_from_slice(&seq.to_be_bytes());
    v
}

/// Splits a latest-status value into `(sender_sequence, sequence)`.
pub(super) fn read_status_value(bytes: &[u8]) -> Option<(u64, u64)> {
    if bytes.len() != 16 {
        return None;
    }
    Some((read_u64(&bytes[..8])?, read_u64(&bytes[8..])?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefix_keeps_keys_apart() {
        assert_ne!(dedupe_key("ab", "c", 1), dedupe_key("a", "bc", 1));
        assert_ne!(status_key("ab", "c"), status_key("a", "bc"));
    }

    #[test]
    fn sequence_keys_sort_numerically() {
        assert!(seq_key(9) < seq_key(10));
        assert!(seq_key(255) < seq_key(256));
        assert_eq!(read_u64(&seq_key(42)), Some(42));
        assert_eq!(read_u64(b"short"), None);
    }

    #[test]
    fn dedupe_keys_of_a_stream_share_a_prefix_and_sort_by_sender_sequence() {
        let p = dedupe_prefix("s", "log");
        assert!(dedupe_key("s", "log", 7).starts_with(&p));
        assert!(!dedupe_key("s", "logs", 7).starts_with(&p));
        assert!(dedupe_floor_key("s", "log") < dedupe_key("s", "log", 1));
        assert!(dedupe_key("s", "log", 255) < dedupe_key("s", "log", 256));
        assert_eq!(
            dedupe_sender_sequence(&dedupe_key("s", "log", 42)),
            Some(42)
        );
        assert_eq!(dedupe_sender_sequence(b"short"), None);
    }

    #[test]
    fn status_values_round_trip() {
        assert_eq!(read_status_value(&status_value(5, 9)), Some((5, 9)));
        assert_eq!(read_status_value(&[1, 2]), None);
    }
}
