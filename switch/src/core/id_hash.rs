//! A hasher for the maps keyed by ids the switch assigns itself (link ids, its
//! own STANs towards an issuer): small numbers no peer chooses, so no peer can
//! fill a map with colliding keys, and SipHash's protection buys nothing there.
//! Each integer written is mixed in by one multiplication (Fibonacci hashing),
//! which spreads sequential ids over the high bits the maps select on. These
//! maps are looked up several times per transaction.

use std::hash::{BuildHasherDefault, Hasher};

/// Builds [`IdKeyHasher`]s (for `HashMap`/`DashMap`'s hasher parameter).
pub type IdHasher = BuildHasherDefault<IdKeyHasher>;

/// See the module documentation.
#[derive(Clone, Copy, Default)]
pub struct IdKeyHasher(u64);

/// 2^64 / the golden ratio, odd.
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

impl IdKeyHasher {
    fn mix(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(29) ^ n).wrapping_mul(FIBONACCI);
    }
}

impl Hasher for IdKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.mix(u64::from(b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash(key: impl Hash) -> u64 {
        IdHasher::default().hash_one(key)
    }

    #[test]
    fn sequential_ids_differ_in_their_high_bits() {
        // DashMap picks its shard and hashbrown its control byte from the top bits.
        let tops: std::collections::HashSet<u64> = (1u32..=64).map(|id| hash(id) >> 57).collect();
        assert!(tops.len() > 32, "{} distinct top-7-bit values", tops.len());
        assert_ne!(hash((1u32, 2u8, 3u32)), hash((1u32, 2u8, 4u32)));
        assert_ne!(hash((1u32, 2u8, 3u32)), hash((3u32, 2u8, 1u32)));
    }
}
