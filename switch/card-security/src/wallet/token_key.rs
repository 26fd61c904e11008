//! The per-token key and the cryptogram of a dynamic code: AES-128-CMAC
//! (NIST SP 800-38B, RFC 4493) under the token's key over a fixed 24-byte
//! layout of the code's data, cut to its first 8 bytes.
//!
//! MAC input (24 bytes): the token, BCD right-padded with `F` to 10 bytes; the
//! expiry YYMM, BCD (2); the ATC, big-endian (2); the unpredictable number,
//! big-endian (4); the requestor id, BCD right-padded with `F` (6). Fixed
//! widths, so no two inputs share a layout.

use std::fmt;

use aes::Aes128;
use cmac::{Cmac, KeyInit, Mac};
use zeroize::Zeroize;

use super::bcd::pack_padded;
use crate::key_error::KeyError;
use crate::keys::KeyMaterial;

/// A token's AES-128 key (16 bytes): wiped on drop; `Debug` shows its length and
/// check value only.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenKey([u8; 16]);

impl TokenKey {
    /// The key of these bytes (the caller wipes its own copy).
    pub fn from_bytes(bytes: [u8; 16]) -> TokenKey {
        TokenKey(bytes)
    }

    /// A fresh key from the operating system's generator.
    pub fn random() -> Result<TokenKey, KeyError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(KeyError::Random)?;
        Ok(TokenKey(bytes))
    }

    /// Parse 32 hex digits. The error never contains the text.
    pub fn from_hex(text: &str) -> Result<TokenKey, KeyError> {
        let material = KeyMaterial::from_hex(text)?;
        let bytes: [u8; 16] = material.expose().try_into().map_err(|_| KeyError::Length {
            expected: 16,
            found: material.len(),
        })?;
        Ok(TokenKey(bytes))
    }

    /// Uppercase hex (for the token API's one answer to the app, and the test
    /// wallet's file; never for logs).
    pub fn to_hex(&self) -> String {
        crate::keys::to_hex(&self.0)
    }

    /// The bytes (for the cipher and the vault's encryption; never log them).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Key check value: the first 3 bytes of the CMAC of a zero block under the
    /// key (ANSI X9.24-1's AES KCV), as 6 hex digits.
    pub fn check_value(&self) -> String {
        let mut mac = CodeKey::new(self).mac;
        mac.update(&[0u8; 16]);
        crate::keys::to_hex(&mac.finalize().into_bytes()[..3])
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenKey(16 bytes, KCV {})", self.check_value())
    }
}

impl Drop for TokenKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// What a cryptogram covers. `token` and `requestor_id` are ASCII digits (the
/// token's up to 19, the requestor id's 11); `expiry` is YYMM in ASCII.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeInput<'a> {
    /// The token (field 2 at the switch, tag 5A in the payload).
    pub token: &'a [u8],
    /// The token's expiry, YYMM.
    pub expiry: [u8; 4],
    /// The application transaction counter.
    pub atc: u16,
    /// The unpredictable number.
    pub unpredictable: u32,
    /// The app's token requestor id (11 digits).
    pub requestor_id: &'a [u8],
}

impl CodeInput<'_> {
    /// The 24 bytes the CMAC runs over (layout in the module doc).
    pub fn mac_input(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        pack_padded(self.token, &mut out[..10]);
        pack_padded(&self.expiry, &mut out[10..12]);
        out[12..14].copy_from_slice(&self.atc.to_be_bytes());
        out[14..18].copy_from_slice(&self.unpredictable.to_be_bytes());
        pack_padded(self.requestor_id, &mut out[18..24]);
        out
    }
}

/// A token key prepared for cryptograms: the AES key schedule and the CMAC
/// subkeys are computed once (the switch keeps one per token in memory), each
/// cryptogram then costs a copy of that state and two AES blocks.
#[derive(Clone)]
pub struct CodeKey {
    mac: Cmac<Aes128>,
}

impl CodeKey {
    /// Prepare `key`.
    pub fn new(key: &TokenKey) -> CodeKey {
        CodeKey {
            mac: Cmac::<Aes128>::new(&key.0.into()),
        }
    }

    /// The cryptogram of `input`: the first 8 bytes of its CMAC.
    pub fn cryptogram(&self, input: &CodeInput<'_>) -> [u8; 8] {
        let mut mac = self.mac.clone();
        mac.update(&input.mac_input());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 8];
        out.copy_from_slice(&full[..8]);
        out
    }

    /// Whether `cryptogram` is the one of `input` (compared in constant time; a
    /// cryptogram of any length but 8 is false).
    pub fn verify(&self, input: &CodeInput<'_>, cryptogram: &[u8]) -> bool {
        if cryptogram.len() != 8 {
            return false;
        }
        let mut mac = self.mac.clone();
        mac.update(&input.mac_input());
        mac.verify_truncated_left(cryptogram).is_ok()
    }
}

impl fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeKey(..)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Test vectors in hex (the key parser reads any even run of hex digits).
    fn hex(text: &str) -> Vec<u8> {
        KeyMaterial::from_hex(text).unwrap().expose().to_vec()
    }

    /// RFC 4493 section 4: AES-128 CMAC of the empty message and of 16, 40 and
    /// 64 bytes, under the key 2b7e1516...: the CMAC this module builds on.
    #[test]
    fn rfc4493_vectors() {
        let key = TokenKey::from_hex("2b7e151628aed2a6abf7158809cf4f3c").unwrap();
        let message = hex(concat!(
            "6bc1bee22e409f96e93d7e117393172a",
            "ae2d8a571e03ac9c9eb76fac45af8e51",
            "30c81c46a35ce411e5fbc1191a0a52ef",
            "f69f2445df4f9b17ad2b417be66c3710"
        ));
        let cases = [
            (0, "bb1d6929e95937287fa37d129b756746"),
            (16, "070a16b46b4d4144f79bdd9dd04a287c"),
            (40, "dfa66747de9ae63030ca32611497c827"),
            (64, "51f0bebf7e3b9d92fc49741779363cfe"),
        ];
        let prepared = CodeKey::new(&key);
        for (len, expected) in cases {
            let mut mac = prepared.mac.clone();
            mac.update(&message[..len]);
            assert_eq!(mac.finalize().into_bytes().to_vec(), hex(expected), "{len}");
        }
    }

    fn sample_input() -> CodeInput<'static> {
        CodeInput {
            token: b"9408990000000017",
            expiry: *b"2812",
            atc: 7,
            unpredictable: 0x1234_5678,
            requestor_id: b"94000000001",
        }
    }

    /// The layout of the MAC input and a fixed cryptogram, computed apart from
    /// this code with OpenSSL:
    /// `echo -n 9408990000000017FFFF281200071234567894000000001F | xxd -r -p |
    ///  openssl dgst -mac cmac -macopt cipher:aes-128-cbc
    ///  -macopt hexkey:000102030405060708090a0b0c0d0e0f`.
    #[test]
    fn cryptogram_known_answer() {
        let input = sample_input();
        assert_eq!(
            input.mac_input().to_vec(),
            hex("9408990000000017ffff281200071234567894000000001f")
        );
        let key = TokenKey::from_hex("000102030405060708090A0B0C0D0E0F").unwrap();
        let code = CodeKey::new(&key);
        let cryptogram = code.cryptogram(&input);
        assert_eq!(cryptogram.to_vec(), hex(KNOWN_CRYPTOGRAM));
        assert!(code.verify(&input, &cryptogram));
    }

    /// The first 8 bytes of OpenSSL's `feb975ddef91c4e4ea9b2b6be59df5ca`.
    const KNOWN_CRYPTOGRAM: &str = "feb975ddef91c4e4";

    #[test]
    fn verify_refuses_any_change() {
        let key = TokenKey::from_bytes([7; 16]);
        let code = CodeKey::new(&key);
        let input = sample_input();
        let good = code.cryptogram(&input);
        assert!(code.verify(&input, &good));
        assert!(!code.verify(&input, &good[..7]));
        assert!(!code.verify(&input, &[]));
        let mut flipped = good;
        flipped[7] ^= 1;
        assert!(!code.verify(&input, &flipped));
        for changed in [
            CodeInput { atc: 8, ..input },
            CodeInput {
                unpredictable: 1,
                ..input
            },
            CodeInput {
                expiry: *b"2811",
                ..input
            },
            CodeInput {
                token: b"9408990000000025",
                ..input
            },
            CodeInput {
                requestor_id: b"94000000002",
                ..input
            },
        ] {
            assert!(!code.verify(&changed, &good), "{changed:?}");
        }
        // Another token's key does not make this token's cryptogram.
        let other = CodeKey::new(&TokenKey::from_bytes([8; 16]));
        assert!(!other.verify(&input, &good));
    }

    #[test]
    fn keys_never_show() {
        let key = TokenKey::from_hex("000102030405060708090A0B0C0D0E0F").unwrap();
        let shown = format!("{key:?} {:?}", CodeKey::new(&key));
        assert!(
            !shown.contains("0001") && !shown.contains("0E0F"),
            "{shown}"
        );
        assert!(shown.contains("16 bytes"), "{shown}");
        assert_eq!(key.to_hex(), "000102030405060708090A0B0C0D0E0F");
        assert_eq!(
            TokenKey::from_hex("0011"),
            Err(KeyError::Length {
                expected: 16,
                found: 2
            })
        );
        let e = TokenKey::from_hex("000102030405060708090A0B0C0D0E0Z").unwrap_err();
        assert!(!e.to_string().contains("0001"));
        assert_ne!(TokenKey::random().unwrap(), TokenKey::random().unwrap());
    }
}
