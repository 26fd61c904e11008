//! 128-bit fingerprints of keys made of strings, so that the switch's memory of
//! what it has seen (duplicates, forwarded originals) holds 16 bytes per key
//! instead of the strings. One pass of SipHash-1-3 with a 128-bit output and a key
//! drawn at start: a peer cannot aim for collisions without the key, and the chance
//! that two different keys among a billion collide is about 1 in 10^20.
//!
//! The fingerprints are already keyed and uniform, so maps keyed by them use
//! [`FingerprintHasher`], which takes the fingerprint's bits as the hash instead of
//! hashing them again, and are split into [`Shards`] by them.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

/// A fingerprint: two 64-bit halves (not a `u128`, whose 16-byte alignment would
/// pad every map entry and queue slot that holds one).
pub type Fingerprint = (u64, u64);

/// Fingerprints with this process's random key.
pub struct Fingerprinter {
    k0: u64,
    k1: u64,
}

impl Default for Fingerprinter {
    fn default() -> Self {
        // Key material from the standard library's randomly keyed SipHash (the
        // workspace has no random-number crate of its own): its outputs for fixed
        // inputs under a secret random key are as unpredictable as the key.
        let random = std::collections::hash_map::RandomState::new();
        Fingerprinter {
            k0: random.hash_one(0u64),
            k1: random.hash_one(1u64),
        }
    }
}

impl Fingerprinter {
    /// The fingerprint of `key`: one SipHash-1-3-128 pass over what its `Hash`
    /// writes (so an owned key and its borrowed form with the same field order and
    /// types, e.g. `String` and `&str`, agree).
    pub fn of(&self, key: &impl Hash) -> Fingerprint {
        let mut h = Gather {
            buf: [0; GATHER],
            len: 0,
            sip: Sip128::<1, 3>::new(self.k0, self.k1),
        };
        key.hash(&mut h);
        h.sip.write(&h.buf[..h.len]);
        h.sip.finish128()
    }
}

/// Bytes gathered before hashing: a key's few short strings fit.
const GATHER: usize = 64;

/// Collects what a key's `Hash` writes (a string, a `0xff` separator, a class
/// byte, ...) into one buffer, so SipHash runs over whole 8-byte blocks instead
/// of assembling its tail piece by piece for each small write.
struct Gather {
    buf: [u8; GATHER],
    len: usize,
    sip: Sip128<1, 3>,
}

impl Hasher for Gather {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > GATHER {
            self.sip.write(&self.buf[..self.len]);
            self.len = 0;
            if bytes.len() > GATHER {
                self.sip.write(bytes);
                return;
            }
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.write(&[b]);
    }

    fn finish(&self) -> u64 {
        let mut sip = self.sip.clone();
        sip.write(&self.buf[..self.len]);
        sip.finish128().0
    }
}

/// Streaming SipHash-c-d with the 128-bit output (Aumasson and Bernstein's
/// reference `siphash.c` with `outlen == 16`).
#[derive(Clone)]
struct Sip128<const C: usize, const D: usize> {
    v: [u64; 4],
    /// Bytes not yet compressed (fewer than 8), little-endian in the low bytes.
    tail: u64,
    ntail: usize,
    length: usize,
}

impl<const C: usize, const D: usize> Sip128<C, D> {
    fn new(k0: u64, k1: u64) -> Self {
        Sip128 {
            v: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d ^ 0xee,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
            tail: 0,
            ntail: 0,
            length: 0,
        }
    }

    #[inline(always)]
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }

    #[inline(always)]
    fn compress(&mut self, m: u64) {
        self.v[3] ^= m;
        for _ in 0..C {
            Self::round(&mut self.v);
        }
        self.v[0] ^= m;
    }

    fn finish128(&self) -> Fingerprint {
        let mut s = self.clone();
        let b = ((s.length as u64) << 56) | s.tail;
        s.compress(b);
        s.v[2] ^= 0xee;
        for _ in 0..D {
            Self::round(&mut s.v);
        }
        let low = s.v[0] ^ s.v[1] ^ s.v[2] ^ s.v[3];
        s.v[1] ^= 0xdd;
        for _ in 0..D {
            Self::round(&mut s.v);
        }
        let high = s.v[0] ^ s.v[1] ^ s.v[2] ^ s.v[3];
        (low, high)
    }
}

impl<const C: usize, const D: usize> Hasher for Sip128<C, D> {
    fn write(&mut self, bytes: &[u8]) {
        self.length = self.length.wrapping_add(bytes.len());
        let mut rest = bytes;
        if self.ntail > 0 {
            let take = (8 - self.ntail).min(rest.len());
            for (i, &b) in rest[..take].iter().enumerate() {
                self.tail |= u64::from(b) << (8 * (self.ntail + i));
            }
            self.ntail += take;
            rest = &rest[take..];
            if self.ntail < 8 {
                return;
            }
            let m = self.tail;
            self.compress(m);
            self.tail = 0;
            self.ntail = 0;
        }
        let mut blocks = rest.chunks_exact(8);
        for block in &mut blocks {
            let mut word = [0u8; 8];
            word.copy_from_slice(block);
            self.compress(u64::from_le_bytes(word));
        }
        let rest = blocks.remainder();
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        self.tail = u64::from_le_bytes(word);
        self.ntail = rest.len();
    }

    fn finish(&self) -> u64 {
        self.finish128().0
    }
}

/// Hashes for maps keyed by [`Fingerprint`]s: the fingerprint's own (keyed,
/// uniform) bits, not a second hash of them.
#[derive(Clone, Copy, Default)]
pub struct FingerprintHasher;

impl BuildHasher for FingerprintHasher {
    type Hasher = PassThrough;

    fn build_hasher(&self) -> PassThrough {
        PassThrough(0)
    }
}

/// See [`FingerprintHasher`]. A `(u64, u64)` writes its halves as two `u64`s; they
/// are folded together (each alone is uniform already). Other writes (never made
/// by a fingerprint) are folded in byte by byte, so the hasher stays correct if
/// used for something else, only not fast.
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(23) ^ n;
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Keys per shard below which a store is not split further: small stores (tests,
/// small configurations) keep one shard, so one strict oldest-first order.
const MIN_PER_SHARD: usize = 1024;

/// A fingerprint-keyed store split into shards, each behind its own lock, so that
/// requests on different links do not queue on one global lock. A power of two of
/// shards, four per core like `dashmap`, fewer when each would hold under
/// [`MIN_PER_SHARD`] keys; the capacity is split between them exactly (the
/// remainder to the first ones). (Here rather than in a module of its own for
/// now: it serves only the stores of fingerprints.)
pub struct Shards<S> {
    shards: Box<[Mutex<S>]>,
}

impl<S> Shards<S> {
    /// Shards sharing `capacity`, each made by `make` from its own capacity.
    pub fn new(capacity: usize, make: impl Fn(usize) -> S) -> Shards<S> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut count = (cores * 4).next_power_of_two();
        while count > 1 && capacity / count < MIN_PER_SHARD {
            count /= 2;
        }
        let shards = (0..count)
            .map(|i| Mutex::new(make(capacity / count + usize::from(i < capacity % count))))
            .collect();
        Shards { shards }
    }

    /// The shard of `fp`, locked. Chosen by bits the map hash of [`PassThrough`]
    /// leaves to the buckets.
    #[inline]
    pub fn of(&self, fp: &Fingerprint) -> MutexGuard<'_, S> {
        let i = (fp.1 >> 40) as usize & (self.shards.len() - 1);
        lock(&self.shards[i])
    }

    /// Every shard, locked one after the other.
    pub fn each(&self) -> impl Iterator<Item = MutexGuard<'_, S>> + '_ {
        self.shards.iter().map(lock)
    }

    /// How many shards.
    pub fn count(&self) -> usize {
        self.shards.len()
    }
}

/// A panic elsewhere while holding a shard leaves plain data: go on with it.
fn lock<S>(shard: &Mutex<S>) -> MutexGuard<'_, S> {
    shard.lock().unwrap_or_else(|p| p.into_inner())
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
        // Owned and borrowed strings write the same bytes.
        assert_eq!(f.of(&(String::from("940800"), 2u8)), f.of(&("940800", 2u8)));
        // Gathered or streamed, long or short: the same hash of the same bytes.
        let long = "x".repeat(100);
        for key in [
            ("940800", 2u8, "000001"),
            (long.as_str(), 3u8, long.as_str()),
        ] {
            let mut plain = Sip128::<1, 3>::new(f.k0, f.k1);
            key.hash(&mut plain);
            assert_eq!(f.of(&key), plain.finish128());
        }
        // Two fingerprinters have different keys.
        assert_ne!(Fingerprinter::default().of(&"x"), f.of(&"x"));
    }

    /// SipHash-2-4-128 reference vectors (`vectors_sip128` of the reference
    /// implementation: key 00 01 .. 0f, message 00 01 .. len-1), fed in pieces of
    /// every size so the streaming tail is exercised.
    #[test]
    fn the_reference_vectors_hold() {
        let k0 = 0x0706_0504_0302_0100;
        let k1 = 0x0f0e_0d0c_0b0a_0908;
        let expected: [[u8; 16]; 3] = [
            [
                0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55,
                0x02, 0x93,
            ],
            [
                0xda, 0x87, 0xc1, 0xd8, 0x6b, 0x99, 0xaf, 0x44, 0x34, 0x76, 0x59, 0x11, 0x9b, 0x22,
                0xfc, 0x45,
            ],
            [
                0x81, 0x77, 0x22, 0x8d, 0xa4, 0xa4, 0x5d, 0xc7, 0xfc, 0xa3, 0x8b, 0xde, 0xf6, 0x0a,
                0xff, 0xe4,
            ],
        ];
        for (len, want) in expected.iter().enumerate() {
            let message: Vec<u8> = (0..len as u8).collect();
            let mut h = Sip128::<2, 4>::new(k0, k1);
            h.write(&message);
            let (low, high) = h.finish128();
            let mut got = [0u8; 16];
            got[..8].copy_from_slice(&low.to_le_bytes());
            got[8..].copy_from_slice(&high.to_le_bytes());
            assert_eq!(&got, want, "length {len}");
        }
        // Longer messages in pieces of every size agree with one write.
        let message: Vec<u8> = (0..63u8).collect();
        let mut whole = Sip128::<1, 3>::new(k0, k1);
        whole.write(&message);
        for piece in 1..=9 {
            let mut h = Sip128::<1, 3>::new(k0, k1);
            for chunk in message.chunks(piece) {
                h.write(chunk);
            }
            assert_eq!(h.finish128(), whole.finish128(), "pieces of {piece}");
        }
    }
}
