//! ISO/IEC 9797-1 MAC algorithm 3 (the "retail MAC", ANSI X9.19) over single DES
//! with a double-length key K‖K', as RustCrypto's `retail-mac` computes it, with
//! ISO/IEC 9797-1 padding method 1 or 2. Pure computation on bytes: which bytes
//! of a message are authenticated is [`super::message`]'s business.

use retail_mac::{KeyInit, Mac};
use serde::Deserialize;

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

impl TryFrom<u8> for MacPadding {
    type Error = String;

    fn try_from(n: u8) -> Result<MacPadding, String> {
        match n {
            1 => Ok(MacPadding::Method1),
            2 => Ok(MacPadding::Method2),
            other => Err(format!(
                "mac_padding {other} (expected 1 or 2: ISO 9797-1 padding method)"
            )),
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

/// The retail MAC of `data` under `key` (K‖K') with `padding`.
pub fn retail_mac(
    key: &[u8],
    padding: MacPadding,
    data: &[u8],
) -> Result<[u8; MAC_LEN], BadMacKey> {
    let mut mac =
        retail_mac::RetailMac::<des::Des>::new_from_slice(key).map_err(|_| BadMacKey(key.len()))?;
    mac.update(data);
    if padding == MacPadding::Method2 {
        // The crate pads with zeros only when a block is left partial (method 1),
        // so method 2 is the 0x80 byte and the zeros written here.
        const PAD: [u8; MAC_LEN] = [0x80, 0, 0, 0, 0, 0, 0, 0];
        mac.update(&PAD[..MAC_LEN - data.len() % MAC_LEN]);
    }
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&mac.finalize().into_bytes());
    Ok(out)
}

/// Whether `mac` is the retail MAC of `data`, compared in constant time.
pub fn verify_retail_mac(
    key: &[u8],
    padding: MacPadding,
    data: &[u8],
    mac: &[u8],
) -> Result<bool, BadMacKey> {
    use subtle::ConstantTimeEq;
    let expected = retail_mac(key, padding, data)?;
    // Lengths are public; the bytes are compared without early exit.
    Ok(mac.len() == MAC_LEN && bool::from(expected.ct_eq(mac)))
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
}
