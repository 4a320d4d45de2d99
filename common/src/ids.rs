//! Stable identifiers derived from names.

use uuid::Uuid;

/// Highest generation of an intent: `i64::MAX`, the largest value every language and store
/// holds as a signed 64-bit integer. Domains refuse a higher one (a raw -1 from a signed client
/// is 2^64-1 on the wire); maestro never plans one.
pub const MAX_GENERATION: u64 = i64::MAX as u64;

const INTENT_NAMESPACE: Uuid = Uuid::from_u128(0x6d61_6573_7472_6f2d_696e_7465_6e74_0001);

/// The intent id of a service instance in a domain: the same (service, domain) always
/// gives the same id, so modify and delete orders address the intent the add created.
pub fn intent_id(service_name: &str, domain: &str) -> String {
    Uuid::new_v5(
        &INTENT_NAMESPACE,
        format!("{service_name}\u{0}{domain}").as_bytes(),
    )
    .to_string()
}

/// A fresh random id (orders, processes).
pub fn new_id() -> String {
    Uuid::new_v4().to_string()
}

/// True when `s` is a Git object id as written by Git: 40 (SHA-1) or 64 (SHA-256) lowercase hex
/// digits.
pub fn is_commit_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64)
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn commit_ids_are_forty_or_sixty_four_lowercase_hex_digits() {
        let a = "0123456789abcdef0123456789abcdef01234567";
        assert!(super::is_commit_id(a));
        assert!(super::is_commit_id(&format!("{a}{}", &a[..24])));
        for bad in [
            "",
            "main",
            &a[..39],
            &a.to_uppercase(),
            &format!("{a}0"),
            "../../etc/passwd",
        ] {
            assert!(!super::is_commit_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn intent_id_is_stable_and_distinct() {
        assert_eq!(
            super::intent_id("web", "north"),
            super::intent_id("web", "north")
        );
        assert_ne!(
            super::intent_id("web", "north"),
            super::intent_id("web", "south")
        );
        assert_ne!(
            super::intent_id("web-n", "orth"),
            super::intent_id("web", "n-orth")
        );
    }
}
