//! 128-bit fingerprints of keys made of strings, so that the switch's memory of
//! what it has seen (duplicates, forwarded originals) holds 16 bytes per key
//! instead of the strings. Two SipHash-1-3 hashes with keys drawn at start: the
//! chance that two different keys among a billion collide is about 1 in 10^20.

use std::hash::{BuildHasher, Hash};

/// A fingerprint: two 64-bit halves (not a `u128`, whose 16-byte alignment would
/// pad every map entry and queue slot that holds one).
pub type Fingerprint = (u64, u64);

/// Fingerprints with this process's random keys.
pub struct Fingerprinter {
    low: std::collections::hash_map::RandomState,
    high: std::collections::hash_map::RandomState,
}

impl Default for Fingerprinter {
    fn default() -> Self {
        Fingerprinter {
            low: std::collections::hash_map::RandomState::new(),
            high: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl Fingerprinter {
    /// The fingerprint of `key`.
    pub fn of(&self, key: &impl Hash) -> Fingerprint {
        (self.high.hash_one(key), self.low.hash_one(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_agree_and_different_ones_differ() {
        let f = Fingerprinter::default();
        assert_eq!(
            f.of(&("940800", 2u8, "000001")),
            f.of(&("940800", 2u8, "000001"))
        );
        assert_ne!(
            f.of(&("940800", 2u8, "000001")),
            f.of(&("940800", 2u8, "000002"))
        );
        // Field boundaries count: ("ab", "c") is not ("a", "bc").
        assert_ne!(f.of(&("ab", "c")), f.of(&("a", "bc")));
    }
}
