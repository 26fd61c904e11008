//! Single DES (FIPS 46-3) as the retail MAC needs it: a key schedule and the
//! sixteen rounds, fast enough that MACing every message costs the switch little.
//!
//! Why not RustCrypto's `des` alone: with it a MAC-checked transaction, sealed and
//! verified at both links, spends more time in DES than in everything else the
//! switch does (figures: the README's MAC section, `mac-compare`). This engine uses the classic combined S-box/permutation tables
//! (built once from the standard's tables at first use) and works in the
//! initial-permutation domain across a CBC chain, so a block costs 16 table
//! rounds and one byte-table permutation. It is checked bit for bit against
//! RustCrypto's `des` on random keys and blocks, and through the retail MAC
//! against ISO/IEC 9797-1's published vectors (see the tests here and in
//! [`crate::mac`]). Like `des`, it indexes tables with key-dependent data: DES
//! retail MACs are a compatibility algorithm, and a production switch computes
//! them in its HSM.

use std::sync::LazyLock;

/// The initial permutation IP (1-based source bit of each output bit, MSB first).
const IP: [u8; 64] = [
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6,
    64, 56, 48, 40, 32, 24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61,
    53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];

/// The final permutation IP⁻¹.
const FP: [u8; 64] = [
    40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22, 62, 30,
    37, 5, 45, 13, 53, 21, 61, 29, 36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27,
    34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25,
];

/// Permuted choice 1: the 56 key bits (parity bits dropped) as C‖D.
const PC1: [u8; 56] = [
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60,
    52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29,
    21, 13, 5, 28, 20, 12, 4,
];

/// Permuted choice 2: a round's 48 subkey bits from C‖D.
const PC2: [u8; 48] = [
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, 41, 52,
    31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];

/// The permutation P applied to the S-boxes' 32 output bits.
const P: [u8; 32] = [
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19,
    13, 30, 6, 22, 11, 4, 25,
];

/// Left rotations of C and D before each round.
const SHIFTS: [u32; 16] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

/// S1..S8, each 4 rows of 16 (row from the outer input bits, column from the inner).
const S: [[u8; 64]; 8] = [
    [
        14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12,
        11, 9, 5, 3, 8, 4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9,
        1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
    ],
    [
        15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1,
        10, 6, 9, 11, 5, 0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15,
        4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
    ],
    [
        10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5,
        14, 12, 11, 15, 1, 13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6,
        9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
    ],
    [
        7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2,
        12, 1, 10, 14, 9, 10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1,
        13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
    ],
    [
        2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15,
        10, 3, 9, 8, 6, 4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14,
        2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
    ],
    [
        12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13,
        14, 0, 11, 3, 8, 9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5,
        15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
    ],
    [
        4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5,
        12, 2, 15, 8, 6, 1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4,
        10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
    ],
    [
        13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6,
        11, 0, 14, 9, 2, 7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10,
        8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
    ],
];

/// `table` applied to the low `in_bits` bits of `x` (bit 1 of the standard = the
/// most significant of them); the result has `table.len()` bits.
fn permute(x: u64, in_bits: u32, table: &[u8]) -> u64 {
    let out_bits = table.len() as u32;
    table.iter().enumerate().fold(0, |acc, (i, &from)| {
        let bit = (x >> (in_bits - u32::from(from))) & 1;
        acc | (bit << (out_bits - 1 - i as u32))
    })
}

/// A permutation as one table per input byte: the result is the OR of each
/// byte's entry.
struct ByteTables<const BYTES: usize> {
    entries: [[u64; 256]; BYTES],
}

impl<const BYTES: usize> ByteTables<BYTES> {
    fn new(table: &[u8]) -> Box<ByteTables<BYTES>> {
        let in_bits = 8 * BYTES as u32;
        let mut t = Box::new(ByteTables {
            entries: [[0; 256]; BYTES],
        });
        for (at, entries) in t.entries.iter_mut().enumerate() {
            for (value, entry) in entries.iter_mut().enumerate() {
                let shifted = (value as u64) << (in_bits - 8 - 8 * at as u32);
                *entry = permute(shifted, in_bits, table);
            }
        }
        t
    }

    #[inline]
    fn apply(&self, x: u64) -> u64 {
        let mut out = 0;
        for (at, entries) in self.entries.iter().enumerate() {
            let byte = (x >> (8 * (BYTES - 1 - at))) as u8;
            out |= entries[usize::from(byte)];
        }
        out
    }
}

/// Everything built from the standard's tables.
struct Tables {
    ip: Box<ByteTables<8>>,
    fp: Box<ByteTables<8>>,
    pc1: Box<ByteTables<8>>,
    pc2: Box<ByteTables<7>>,
    /// S-box `i` followed by P, for each 6-bit input.
    sp: [[u32; 64]; 8],
    /// The same, each entry rotated right by one bit: the single-chain rounds'
    /// domain (see [`feistel_one`]).
    sp_rotated: [[u32; 64]; 8],
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    let mut sp = [[0u32; 64]; 8];
    for (i, entries) in sp.iter_mut().enumerate() {
        for (input, entry) in entries.iter_mut().enumerate() {
            let row = ((input >> 4) & 2) | (input & 1);
            let column = (input >> 1) & 0xf;
            let out = u64::from(S[i][row * 16 + column]) << (28 - 4 * i);
            *entry = permute(out, 32, &P) as u32;
        }
    }
    let sp_rotated = sp.map(|entries| entries.map(|e| e.rotate_right(1)));
    Tables {
        ip: ByteTables::new(&IP),
        fp: ByteTables::new(&FP),
        pc1: ByteTables::new(&PC1),
        pc2: ByteTables::new(&PC2),
        sp,
        sp_rotated,
    }
});

/// A DES key's sixteen round keys, each as two words: the 6-bit inputs of the
/// even S-boxes (S1, S3, S5, S7) and of the odd ones, placed where [`feistel`]
/// finds the expanded half-block's groups; and the odd word again, rotated for
/// [`feistel_one`]. Wiped on drop.
pub struct DesKey {
    rounds: [[u32; 2]; 16],
    odd_rotated: [u32; 16],
}

impl Drop for DesKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.rounds);
        zeroize::Zeroize::zeroize(&mut self.odd_rotated);
    }
}

/// Where group `i` of a round (its 6-bit subkey piece and the expanded bits it
/// meets) sits in its word: groups 0, 2, 4, 6 in the first, 1, 3, 5, 7 in the
/// second, at bits 26, 18, 10 and 2.
const fn group_shift(i: usize) -> u32 {
    26 - 8 * (i as u32 / 2)
}

impl DesKey {
    /// The schedule of an 8-byte key (its parity bits are ignored).
    pub fn new(key: [u8; 8]) -> DesKey {
        let t = &*TABLES;
        let cd = t.pc1.apply(u64::from_be_bytes(key)); // 56 bits
        let (mut c, mut d) = ((cd >> 28) as u32, (cd & 0x0fff_ffff) as u32);
        let mut rounds = [[0u32; 2]; 16];
        for (round, shift) in rounds.iter_mut().zip(SHIFTS) {
            c = ((c << shift) | (c >> (28 - shift))) & 0x0fff_ffff;
            d = ((d << shift) | (d >> (28 - shift))) & 0x0fff_ffff;
            let sub = t.pc2.apply((u64::from(c) << 28) | u64::from(d)); // 48 bits
            for i in 0..8 {
                let six = ((sub >> (42 - 6 * i)) & 0x3f) as u32;
                round[i % 2] |= six << group_shift(i);
            }
        }
        // The odd groups are found in the half-block rotated left by four from
        // the single chain's domain; the key meets it before that rotation.
        let odd_rotated = rounds.map(|[_, odd]| odd.rotate_right(4));
        DesKey {
            rounds,
            odd_rotated,
        }
    }

    /// The sixteen rounds on a block already through IP, leaving it before IP⁻¹
    /// (halves swapped as the standard ends); `decrypt` runs the keys backwards.
    ///
    /// A block alone (a CBC chain has nothing to interleave with) waits on each
    /// round's chain of dependent steps, so this path is built for latency: the
    /// halves live rotated right by one bit (in and out once per block, not twice
    /// per round; see [`feistel_one`]).
    #[inline]
    pub fn rounds(&self, block: u64, decrypt: bool) -> u64 {
        let sp = &TABLES.sp_rotated;
        let mut l = ((block >> 32) as u32).rotate_right(1);
        let mut r = (block as u32).rotate_right(1);
        let keys = self.rounds.iter().zip(&self.odd_rotated);
        if decrypt {
            for (&[even, _], &odd) in keys.rev() {
                (l, r) = (r, l ^ feistel_one(sp, r, even, odd));
            }
        } else {
            for (&[even, _], &odd) in keys {
                (l, r) = (r, l ^ feistel_one(sp, r, even, odd));
            }
        }
        (u64::from(r.rotate_left(1)) << 32) | u64::from(l.rotate_left(1))
    }

    /// [`DesKey::rounds`] on `L` independent blocks at once, round by round.
    ///
    /// A DES round is a chain of dependent steps (table lookups, then XORs), so
    /// one block leaves most of the processor idle waiting on each lookup; the
    /// rounds of independent blocks interleaved fill that time, and two blocks
    /// cost about what one does (see the MAC batch benchmark in `benches`). This
    /// is how several MACs (different messages) are computed together.
    ///
    /// One lane is [`DesKey::rounds`]; several are bound by how many operations
    /// they issue, not by one round's latency, and take the standard domain.
    #[inline]
    pub fn rounds_lanes<const L: usize>(&self, blocks: [u64; L], decrypt: bool) -> [u64; L] {
        if L == 1 {
            return blocks.map(|b| self.rounds(b, decrypt));
        }
        let sp = &TABLES.sp;
        let mut l = blocks.map(|b| (b >> 32) as u32);
        let mut r = blocks.map(|b| b as u32);
        // Plain loops over an always-inlined round: a closure called from both
        // directions' loops was compiled as a call per round, which kept
        // successive rounds (and the lanes) from overlapping.
        if decrypt {
            for k in self.rounds.iter().rev() {
                lanes_round(sp, &mut l, &mut r, k);
            }
        } else {
            for k in &self.rounds {
                lanes_round(sp, &mut l, &mut r, k);
            }
        }
        std::array::from_fn(|lane| (u64::from(r[lane]) << 32) | u64::from(l[lane]))
    }

    /// One block encrypted (the whole cipher, IP and IP⁻¹ included).
    pub fn encrypt(&self, block: u64) -> u64 {
        to_output(self.rounds(to_rounds(block), false))
    }

    /// One block decrypted.
    pub fn decrypt(&self, block: u64) -> u64 {
        to_output(self.rounds(to_rounds(block), true))
    }
}

/// One round on every lane: each (L, R) becomes (R, L ⊕ f(R, k)).
#[inline(always)]
fn lanes_round<const L: usize>(
    sp: &[[u32; 64]; 8],
    l: &mut [u32; L],
    r: &mut [u32; L],
    k: &[u32; 2],
) {
    for lane in 0..L {
        let next = l[lane] ^ feistel(sp, r[lane], k);
        l[lane] = r[lane];
        r[lane] = next;
    }
}

/// DES's round function f on the half-block `r` with round key `k`. E's eight
/// overlapping 6-bit groups: R rotated right by one holds groups 0, 2, 4, 6 at
/// bits 26, 18, 10, 2; rotated left by three, groups 1, 3, 5, 7 at the same
/// places. Each group meets its subkey bits there, and one lookup does the S-box
/// and P.
#[inline(always)]
fn feistel(sp: &[[u32; 64]; 8], r: u32, k: &[u32; 2]) -> u32 {
    let even = r.rotate_right(1) ^ k[0];
    let odd = r.rotate_left(3) ^ k[1];
    let at = |w: u32, i: usize| sp[i][((w >> group_shift(i)) & 0x3f) as usize];
    at(even, 0)
        ^ at(even, 2)
        ^ at(even, 4)
        ^ at(even, 6)
        ^ at(odd, 1)
        ^ at(odd, 3)
        ^ at(odd, 5)
        ^ at(odd, 7)
}

/// DES's round function f for a chain alone, in its domain: `x` is the
/// half-block R rotated right by one bit, and so is the result (`sp` holds the
/// rotated entries), so that L ⊕ f(R) stays in the domain with one XOR.
///
/// In `x`, E's groups 0, 2, 4, 6 sit at bits 26, 18, 10, 2 (as in [`feistel`]),
/// and groups 1, 3, 5, 7 at bits 22, 14, 6 and, wrapping around, 1..0 with
/// 31..28 (`odd` is that word's subkey, stored rotated to match). No rotation
/// precedes the lookups but group 7's, and the eight entries are combined as a
/// tree, not a chain: each S-box's outputs land on bits of their own after P,
/// so OR, addition and XOR of entries agree, and mixing them keeps the compiler
/// from reassociating the tree into a chain of eight dependent XORs (which it
/// does with XORs alone). Three steps follow the last lookup instead of up to
/// eight.
#[inline(always)]
fn feistel_one(sp: &[[u32; 64]; 8], x: u32, even: u32, odd: u32) -> u32 {
    let even = x ^ even;
    let odd = x ^ odd;
    let at = |i: usize, index: u32| sp[i][(index & 0x3f) as usize];
    let s1_s3 = at(0, even >> 26) | at(2, even >> 18);
    let s5_s7 = at(4, even >> 10) | at(6, even >> 2);
    let s2_s4 = at(1, odd >> 22) | at(3, odd >> 14);
    let s6_s8 = at(5, odd >> 6) | at(7, odd.rotate_left(2));
    // Disjoint bits: the additions carry nothing.
    s1_s3.wrapping_add(s5_s7) ^ s2_s4.wrapping_add(s6_s8)
}

/// IP: a block as the rounds take it.
#[inline]
pub fn to_rounds(block: u64) -> u64 {
    TABLES.ip.apply(block)
}

/// IP⁻¹: the rounds' result as the cipher's output.
#[inline]
pub fn to_output(state: u64) -> u64 {
    TABLES.fp.apply(state)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use des::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
    use proptest::prelude::*;

    fn reference(key: [u8; 8], block: u64, decrypt: bool) -> u64 {
        let cipher = des::Des::new_from_slice(&key).unwrap();
        let mut b = block.to_be_bytes();
        if decrypt {
            cipher.decrypt_block((&mut b).into());
        } else {
            cipher.encrypt_block((&mut b).into());
        }
        u64::from_be_bytes(b)
    }

    /// FIPS 81 / the classic "Now is t" example: key 0123456789ABCDEF.
    #[test]
    fn known_answer() {
        let key = DesKey::new(0x0123_4567_89AB_CDEF_u64.to_be_bytes());
        let plain = u64::from_be_bytes(*b"Now is t");
        assert_eq!(key.encrypt(plain), 0x3FA4_0E8A_984D_4815);
        assert_eq!(key.decrypt(0x3FA4_0E8A_984D_4815), plain);
    }

    #[test]
    fn ip_and_fp_are_inverse() {
        for x in [0u64, 1, u64::MAX, 0x0123_4567_89AB_CDEF, 1 << 63] {
            assert_eq!(to_output(to_rounds(x)), x);
            assert_eq!(to_rounds(to_output(x)), x);
        }
    }

    proptest! {
        #[test]
        fn agrees_with_rustcrypto_des(key: [u8; 8], block: u64) {
            let k = DesKey::new(key);
            prop_assert_eq!(k.encrypt(block), reference(key, block, false));
            prop_assert_eq!(k.decrypt(block), reference(key, block, true));
        }

        #[test]
        fn lanes_agree_with_one_block_at_a_time(key: [u8; 8], blocks: [u64; 3], decrypt: bool) {
            let k = DesKey::new(key);
            let together = k.rounds_lanes(blocks, decrypt);
            for (block, got) in blocks.iter().zip(together) {
                prop_assert_eq!(got, k.rounds(*block, decrypt));
            }
        }
    }
}
