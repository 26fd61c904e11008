//! ISO/IEC 9797-1 MAC algorithm 3 (the "retail MAC", ANSI X9.19) over single DES
//! with a double-length key K‖K' (checked against RustCrypto's `retail-mac`), with
//! ISO/IEC 9797-1 padding method 1 or 2. Pure computation on bytes: which bytes
//! of a message are authenticated is [`crate::message`]'s business.

use serde::Deserialize;

use crate::des_engine::{to_output, to_rounds, DesKey};

/// The MAC length in bytes (one DES block, carried whole in field 64/128).
pub const MAC_LEN: usize = 8;

/// The length of a MAC key: K and K', 8 bytes each.
pub const MAC_KEY_LEN: usize = 16;

/// How the data is padded to whole 8-byte blocks (ISO/IEC 9797-1 §6.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "u8")]
pub enum MacPadding {
    /// Method 1: zero bytes up to the block boundary (none if already aligned).
    Method1,
    /// Method 2: a 0x80 byte, then zero bytes up to the block boundary. The
    /// default: unlike method 1 it tells "AB" from "AB\0".
    #[default]
    Method2,
}

/// A padding method number that is not 1 or 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("mac_padding {0} (expected 1 or 2: ISO 9797-1 padding method)")]
pub struct UnknownPadding(pub u8);

impl TryFrom<u8> for MacPadding {
    type Error = UnknownPadding;

    fn try_from(n: u8) -> Result<MacPadding, UnknownPadding> {
        match n {
            1 => Ok(MacPadding::Method1),
            2 => Ok(MacPadding::Method2),
            other => Err(UnknownPadding(other)),
        }
    }
}

impl MacPadding {
    /// The method's number (1 or 2).
    pub fn number(self) -> u8 {
        match self {
            MacPadding::Method1 => 1,
            MacPadding::Method2 => 2,
        }
    }
}

/// A problem with the key (never with the data: any data can be MACed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a retail MAC key is 16 bytes (K and K'); this one is {0}")]
pub struct BadMacKey(pub usize);

/// A retail MAC key (K‖K') with its two DES key schedules prepared, so that each
/// MAC costs only the blocks (preparing the schedules is about a fifth of a
/// 200-byte message's MAC). The schedules are wiped on drop.
pub struct RetailMacKey {
    k: DesKey,
    k2: DesKey,
}

impl std::fmt::Debug for RetailMacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RetailMacKey(..)")
    }
}

impl RetailMacKey {
    /// The schedules of a 16-byte key.
    pub fn new(key: &[u8]) -> Result<RetailMacKey, BadMacKey> {
        if key.len() != MAC_KEY_LEN {
            return Err(BadMacKey(key.len()));
        }
        let (k, k2) = key.split_at(MAC_LEN);
        Ok(RetailMacKey {
            k: DesKey::new(block_of(k)),
            k2: DesKey::new(block_of(k2)),
        })
    }

    /// The retail MAC of `data` with `padding`: CBC over single DES under K, then
    /// the last block decrypted under K' and encrypted under K again. Computed with
    /// [`crate::des_engine`] (RustCrypto's `retail-mac` is the reference it is
    /// tested against); the chain stays in DES's initial-permutation domain from
    /// block to block, so each block costs one IP and the rounds.
    pub fn mac(&self, padding: MacPadding, data: &[u8]) -> [u8; MAC_LEN] {
        let [mac] = self.mac_lanes(padding, [data]);
        mac
    }

    /// The MACs of `L` messages computed together: their CBC chains advance
    /// side by side, a block of each per step, so that the DES rounds of one
    /// fill the time the others wait on table lookups (see
    /// [`DesKey::rounds_lanes`]). A lane whose message is shorter stops early.
    pub fn mac_lanes<const L: usize>(
        &self,
        padding: MacPadding,
        data: [&[u8]; L],
    ) -> [[u8; MAC_LEN]; L] {
        let (k, k2) = (&self.k, &self.k2);
        let lanes = data.map(|d| PaddedBlocks::new(padding, d));
        let steps = lanes.iter().map(|b| b.count).max().unwrap_or(0);
        let mut state = [0u64; L]; // IP(H_i) of each lane, as the rounds see it
        for step in 0..steps {
            let input: [u64; L] =
                std::array::from_fn(|l| state[l] ^ to_rounds(lanes[l].block(step)));
            let next = k.rounds_lanes(input, false);
            for (l, lane) in lanes.iter().enumerate() {
                if step < lane.count {
                    state[l] = next[l];
                }
            }
        }
        // Output transformation 3: decrypt under K', encrypt under K, then IP⁻¹ once.
        let out = k.rounds_lanes(k2.rounds_lanes(state, true), false);
        out.map(|s| to_output(s).to_be_bytes())
    }

    /// The MACs of every message in `data`, in order, computed up to
    /// [`MAC_LANES`] at a time (see [`RetailMacKey::mac_lanes`]).
    pub fn mac_batch(&self, padding: MacPadding, data: &[&[u8]]) -> Vec<[u8; MAC_LEN]> {
        let mut out = Vec::with_capacity(data.len());
        let mut groups = data.chunks_exact(MAC_LANES);
        for group in &mut groups {
            let lanes: [&[u8]; MAC_LANES] = std::array::from_fn(|l| group[l]);
            out.extend(self.mac_lanes(padding, lanes));
        }
        match *groups.remainder() {
            [a] => out.push(self.mac(padding, a)),
            [a, b] => out.extend(self.mac_lanes(padding, [a, b])),
            [a, b, c] => out.extend(self.mac_lanes(padding, [a, b, c])),
            _ => {}
        }
        out
    }

    /// Whether `mac` is the retail MAC of `data`, compared in constant time.
    pub fn verify(&self, padding: MacPadding, data: &[u8], mac: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.mac(padding, data);
        // Lengths are public; the bytes are compared without early exit.
        mac.len() == MAC_LEN && bool::from(expected.ct_eq(mac))
    }
}

/// The retail MAC of `data` under `key` (K‖K') with `padding` (see
/// [`RetailMacKey::mac`]; a caller that MACs many messages under one key keeps a
/// [`RetailMacKey`]).
pub fn retail_mac(
    key: &[u8],
    padding: MacPadding,
    data: &[u8],
) -> Result<[u8; MAC_LEN], BadMacKey> {
    Ok(RetailMacKey::new(key)?.mac(padding, data))
}

/// How many messages [`RetailMacKey::mac_batch`] MACs together.
pub const MAC_LANES: usize = 4;

/// A message as the retail MAC's blocks: its whole blocks, then the padded last
/// one. Method 1 zero-fills a partial block (an empty message is one zero
/// block) and adds nothing to a whole one; method 2 always adds 0x80 then zeros.
struct PaddedBlocks<'a> {
    whole: &'a [u8],
    last: Option<[u8; MAC_LEN]>,
    count: usize,
}

impl<'a> PaddedBlocks<'a> {
    fn new(padding: MacPadding, data: &'a [u8]) -> PaddedBlocks<'a> {
        let split = data.len() - data.len() % MAC_LEN;
        let (whole, rest) = data.split_at(split);
        let last =
            (!rest.is_empty() || padding == MacPadding::Method2 || data.is_empty()).then(|| {
                let mut last = [0u8; MAC_LEN];
                last[..rest.len()].copy_from_slice(rest);
                if padding == MacPadding::Method2 {
                    last[rest.len()] = 0x80;
                }
                last
            });
        PaddedBlocks {
            whole,
            last,
            count: whole.len() / MAC_LEN + usize::from(last.is_some()),
        }
    }

    /// Block `i` (zero past the end: a lane that has finished ignores it).
    #[inline]
    fn block(&self, i: usize) -> u64 {
        let at = i * MAC_LEN;
        match self.whole.get(at..at + MAC_LEN) {
            Some(b) => u64::from_be_bytes(block_of(b)),
            None if at == self.whole.len() => self.last.map_or(0, u64::from_be_bytes),
            None => 0,
        }
    }
}

/// The first 8 bytes of `bytes` as a block (callers pass exactly 8).
fn block_of(bytes: &[u8]) -> [u8; MAC_LEN] {
    let mut b = [0u8; MAC_LEN];
    for (to, from) in b.iter_mut().zip(bytes) {
        *to = *from;
    }
    b
}

/// Whether `mac` is the retail MAC of `data` under `key`, compared in constant time.
pub fn verify_retail_mac(
    key: &[u8],
    padding: MacPadding,
    data: &[u8],
    mac: &[u8],
) -> Result<bool, BadMacKey> {
    Ok(RetailMacKey::new(key)?.verify(padding, data, mac))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use des::cipher::{BlockCipherDecrypt, BlockCipherEncrypt};

    /// ISO/IEC 9797-1 Annex B.4 (MAC algorithm 3): K = 0123456789ABCDEF,
    /// K' = FEDCBA9876543210.
    const KEY: [u8; 16] = [
        0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32,
        0x10,
    ];

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn published_vectors() {
        let cases = [
            (
                "Now is the time for all ",
                MacPadding::Method1,
                "A1C72E74EA3FA9B6",
            ),
            (
                "Now is the time for it",
                MacPadding::Method1,
                "2E2B1428CC78254F",
            ),
            (
                "Now is the time for all ",
                MacPadding::Method2,
                "E9086230CA3BE796",
            ),
            (
                "Now is the time for it",
                MacPadding::Method2,
                "5A692CE64F404145",
            ),
        ];
        for (data, padding, expected) in cases {
            let mac = retail_mac(&KEY, padding, data.as_bytes()).unwrap();
            assert_eq!(mac.to_vec(), hex(expected), "{data:?} {padding:?}");
            assert!(verify_retail_mac(&KEY, padding, data.as_bytes(), &mac).unwrap());
            let mut bad = mac;
            bad[7] ^= 1;
            assert!(!verify_retail_mac(&KEY, padding, data.as_bytes(), &bad).unwrap());
            assert!(!verify_retail_mac(&KEY, padding, data.as_bytes(), &mac[..7]).unwrap());
        }
        assert_eq!(
            retail_mac(&KEY[..8], MacPadding::Method2, b"x"),
            Err(BadMacKey(8))
        );
    }

    /// The same algorithm written out with the DES block cipher, for lengths
    /// around the block boundaries.
    #[test]
    fn agrees_with_the_algorithm_written_out() {
        use des::cipher::KeyInit as _;
        let k = des::Des::new_from_slice(&KEY[..8]).unwrap();
        let k2 = des::Des::new_from_slice(&KEY[8..]).unwrap();
        for len in 0..40usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            for padding in [MacPadding::Method1, MacPadding::Method2] {
                let mut padded = data.clone();
                if padding == MacPadding::Method2 {
                    padded.push(0x80);
                }
                while padded.len() % 8 != 0 || padded.is_empty() {
                    padded.push(0);
                }
                let mut state = [0u8; 8];
                for block in padded.chunks(8) {
                    for (s, b) in state.iter_mut().zip(block) {
                        *s ^= b;
                    }
                    k.encrypt_block((&mut state).into());
                }
                k2.decrypt_block((&mut state).into());
                k.encrypt_block((&mut state).into());
                if len == 0 && padding == MacPadding::Method1 {
                    continue; // ISO pads empty data to one block; messages are never empty
                }
                assert_eq!(
                    retail_mac(&KEY, padding, &data).unwrap(),
                    state,
                    "{len} {padding:?}"
                );
            }
        }
    }

    proptest::proptest! {
        /// Bit for bit what RustCrypto's `retail-mac` computes (method 1 is its
        /// own padding; method 2 is the 0x80 byte and zeros fed to it).
        #[test]
        fn agrees_with_rustcrypto_retail_mac(
            key: [u8; 16],
            data in proptest::collection::vec(proptest::num::u8::ANY, 1..300),
        ) {
            use retail_mac::{KeyInit as _, Mac as _};
            for padding in [MacPadding::Method1, MacPadding::Method2] {
                let mut reference = retail_mac::RetailMac::<des::Des>::new_from_slice(&key).unwrap();
                reference.update(&data);
                if padding == MacPadding::Method2 {
                    const PAD: [u8; MAC_LEN] = [0x80, 0, 0, 0, 0, 0, 0, 0];
                    reference.update(&PAD[..MAC_LEN - data.len() % MAC_LEN]);
                }
                let expected: [u8; MAC_LEN] = reference.finalize().into_bytes().into();
                proptest::prop_assert_eq!(retail_mac(&key, padding, &data).unwrap(), expected);
            }
        }

        /// MACs computed together (lanes of different lengths, empty messages
        /// included) are each what the message alone gives.
        #[test]
        fn batches_agree_with_one_at_a_time(
            key: [u8; 16],
            messages in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..120), 0..7),
        ) {
            let k = RetailMacKey::new(&key).unwrap();
            let slices: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            for padding in [MacPadding::Method1, MacPadding::Method2] {
                let batch = k.mac_batch(padding, &slices);
                proptest::prop_assert_eq!(batch.len(), slices.len());
                for (one, got) in slices.iter().zip(&batch) {
                    proptest::prop_assert_eq!(retail_mac(&key, padding, one).unwrap(), *got);
                }
                if let [a, b, c, ..] = slices[..] {
                    let three = k.mac_lanes(padding, [a, b, c]);
                    proptest::prop_assert_eq!(&three[..], &batch[..3]);
                }
            }
        }
    }
}
