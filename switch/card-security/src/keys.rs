//! Key material in memory: bytes that are wiped when dropped and never shown.
//! `Debug` prints only the length and the key check value (KCV), the standard
//! way operators compare keys without revealing them. Also hex parsing of keys
//! (errors never echo the text) and random keys from the operating system.

use std::fmt;

use des::cipher::{BlockCipherEncrypt, KeyInit};
use zeroize::{Zeroize, Zeroizing};

use crate::key_error::KeyError;

/// Secret key bytes (a DES/TDES or AES key, or a KEK). Wiped on drop; `Debug`
/// shows the length and KCV only; there is no `Display`.
#[derive(Clone)]
pub struct KeyMaterial(Zeroizing<Vec<u8>>);

impl KeyMaterial {
    /// Take ownership of `bytes` (the caller's copy should be wiped by the caller).
    pub fn new(bytes: Vec<u8>) -> KeyMaterial {
        KeyMaterial(Zeroizing::new(bytes))
    }

    /// `len` random bytes from the operating system's generator.
    pub fn random(len: usize) -> Result<KeyMaterial, KeyError> {
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        getrandom::fill(&mut bytes).map_err(KeyError::Random)?;
        Ok(KeyMaterial(bytes))
    }

    /// Parse hex text (spaces ignored). The error never contains the text.
    pub fn from_hex(text: &str) -> Result<KeyMaterial, KeyError> {
        let digits: Zeroizing<Vec<u8>> =
            Zeroizing::new(text.bytes().filter(|b| !b.is_ascii_whitespace()).collect());
        if digits.is_empty() || digits.len() % 2 != 0 {
            return Err(KeyError::OddHex);
        }
        let mut out = Zeroizing::new(Vec::with_capacity(digits.len() / 2));
        for pair in digits.chunks_exact(2) {
            match (hex_value(pair[0]), hex_value(pair[1])) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(KeyError::NotHex),
            }
        }
        Ok(KeyMaterial(out))
    }

    /// The bytes (for the cipher that uses them; never log them).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key check value: the first 3 bytes of a zero block enciphered under
    /// the key (TDES for 16/24-byte keys, which is how ISO 9564 and ANSI X9.24 tools
    /// show it), as 6 hex digits. `None` for lengths that are not TDES keys.
    pub fn check_value(&self) -> Option<String> {
        let mut block = [0u8; 8];
        match self.0.len() {
            16 => des::TdesEde2::new_from_slice(&self.0)
                .ok()?
                .encrypt_block((&mut block).into()),
            24 => des::TdesEde3::new_from_slice(&self.0)
                .ok()?
                .encrypt_block((&mut block).into()),
            _ => return None,
        }
        Some(to_hex(&block[..3]))
    }

    /// Uppercase hex of the key (for `switch wrap-key`'s own output and the demo's
    /// environment; never for logs).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(to_hex(&self.0))
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.check_value() {
            Some(kcv) => write!(f, "KeyMaterial({} bytes, KCV {kcv})", self.0.len()),
            None => write!(f, "KeyMaterial({} bytes)", self.0.len()),
        }
    }
}

impl PartialEq for KeyMaterial {
    /// Constant time in the bytes (lengths are not secret).
    fn eq(&self, other: &KeyMaterial) -> bool {
        use subtle::ConstantTimeEq;
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for KeyMaterial {}

impl Drop for KeyMaterial {
    fn drop(&mut self) {
        // Zeroizing wipes the bytes; wiping the capacity too costs nothing here.
        self.0.zeroize();
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Uppercase hex.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xF)]));
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hex_debug_and_kcv() {
        let k = KeyMaterial::from_hex("0123456789ABCDEF FEDCBA9876543210").unwrap();
        assert_eq!(k.len(), 16);
        // The KCV of this well-known test key (TDES, zero block): 08D7B4.
        assert_eq!(k.check_value().as_deref(), Some("08D7B4"));
        let shown = format!("{k:?}");
        assert!(
            !shown.contains("0123") && shown.contains("16 bytes"),
            "{shown}"
        );
        let e = KeyMaterial::from_hex("0123456789ABCDEZ").unwrap_err();
        assert!(!e.to_string().contains("0123"), "{e}");
        assert!(KeyMaterial::from_hex("abc").is_err());
        assert_eq!(&*k.to_hex(), "0123456789ABCDEFFEDCBA9876543210");
        let r = KeyMaterial::random(32).unwrap();
        assert_eq!(r.len(), 32);
        assert_ne!(r, KeyMaterial::random(32).unwrap());
        assert_eq!(
            k,
            KeyMaterial::from_hex("0123456789abcdeffedcba9876543210").unwrap()
        );
    }
}
