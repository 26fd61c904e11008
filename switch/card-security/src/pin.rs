//! ISO 9564-1 PIN blocks: format 0 (8 bytes, enciphered with TDES) and format 4
//! (16 bytes, enciphered with AES), built from and read back to a clear PIN that
//! lives only in wiped buffers inside this module's callers (the software
//! security module and the simulators' PIN pads). Errors say what is wrong,
//! never with which digits.
//!
//! - Format 0: PIN field `0 N P…P F…F` XOR account field `0000` + the 12 PAN
//!   digits left of the check digit; one TDES-ECB block.
//! - Format 4: PIN field `4 N P…P A…A` (8 bytes) + 8 random bytes; PAN field
//!   `M` (PAN length − 12) + the PAN, zero filled; enciphered as
//!   AES(K, AES(K, PIN field) XOR PAN field).

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use serde::Deserialize;
use zeroize::Zeroizing;

/// Shortest and longest PIN (ISO 9564-1).
pub const PIN_DIGITS: std::ops::RangeInclusive<usize> = 4..=12;

/// A PIN block format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PinFormat {
    /// ISO 9564-1 format 0 under a double- or triple-length TDES key.
    #[default]
    Iso0,
    /// ISO 9564-1 format 4 under an AES key.
    Iso4,
}

impl PinFormat {
    /// The enciphered block's length in bytes.
    pub fn block_len(self) -> usize {
        match self {
            PinFormat::Iso0 => 8,
            PinFormat::Iso4 => 16,
        }
    }

    /// The name used in configuration (`iso0`, `iso4`).
    pub fn name(self) -> &'static str {
        match self {
            PinFormat::Iso0 => "iso0",
            PinFormat::Iso4 => "iso4",
        }
    }

    /// Whether `len` bytes is a usable key for this format.
    pub fn key_fits(self, len: usize) -> bool {
        match self {
            PinFormat::Iso0 => matches!(len, 16 | 24),
            PinFormat::Iso4 => matches!(len, 16 | 24 | 32),
        }
    }
}

/// Why a PIN block could not be made or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PinBlockError {
    /// Field 52 is not one block of the format.
    #[error("the PIN block is {got} bytes; format {format} takes {expected}")]
    Length {
        /// The format's name.
        format: &'static str,
        /// Its block length.
        expected: usize,
        /// What came.
        got: usize,
    },
    /// The block deciphers to something that is not a PIN block of the format
    /// (a wrong key, a wrong PAN or corrupted data).
    #[error("the PIN block does not decipher to a valid format {0} block")]
    Invalid(&'static str),
    /// The PAN has too few digits or non-digits.
    #[error("the PAN cannot be used in a PIN block")]
    Pan,
    /// The PIN has fewer than 4 or more than 12 digits, or non-digits.
    #[error("a PIN is 4 to 12 digits")]
    Pin,
    /// The key does not fit the format.
    #[error("a format {format} PIN key cannot be {len} bytes")]
    Key {
        /// The format's name.
        format: &'static str,
        /// The key's length.
        len: usize,
    },
    /// The operating system gave no random bytes (format 4 fill).
    #[error("no random bytes for the PIN block")]
    Random,
}

/// A clear PIN: digit values 0-9, wiped on drop. No `Debug`, no `Display`.
pub struct ClearPin {
    digits: Zeroizing<[u8; 12]>,
    len: usize,
}

impl ClearPin {
    /// From ASCII digits (the simulators' card base). Wipe the source yourself.
    pub fn from_ascii(text: &[u8]) -> Result<ClearPin, PinBlockError> {
        if !PIN_DIGITS.contains(&text.len()) || !text.iter().all(u8::is_ascii_digit) {
            return Err(PinBlockError::Pin);
        }
        let mut digits = Zeroizing::new([0u8; 12]);
        for (d, c) in digits.iter_mut().zip(text) {
            *d = c - b'0';
        }
        Ok(ClearPin {
            digits,
            len: text.len(),
        })
    }

    fn digits(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    /// Whether two PINs are equal, in constant time for equal lengths.
    pub fn matches(&self, other: &ClearPin) -> bool {
        use subtle::ConstantTimeEq;
        self.len == other.len && bool::from(self.digits().ct_eq(other.digits()))
    }
}

/// The PAN's digits as values, checked.
fn pan_digits(pan: &[u8]) -> Result<Vec<u8>, PinBlockError> {
    if pan.len() < 2 || pan.len() > 19 || !pan.iter().all(u8::is_ascii_digit) {
        return Err(PinBlockError::Pan);
    }
    Ok(pan.iter().map(|c| c - b'0').collect())
}

/// Put nibble `v` at nibble position `i` of `out`.
fn set_nibble(out: &mut [u8], i: usize, v: u8) {
    let byte = &mut out[i / 2];
    if i % 2 == 0 {
        *byte = (*byte & 0x0F) | (v << 4);
    } else {
        *byte = (*byte & 0xF0) | (v & 0x0F);
    }
}

fn nibble(block: &[u8], i: usize) -> u8 {
    let b = block[i / 2];
    if i % 2 == 0 {
        b >> 4
    } else {
        b & 0x0F
    }
}

/// The format 0 account field: 0000 and the 12 PAN digits left of the check digit.
fn format0_pan_field(pan: &[u8]) -> Result<[u8; 8], PinBlockError> {
    let digits = pan_digits(pan)?;
    let body = &digits[..digits.len() - 1];
    let take = body.len().min(12);
    let mut field = [0u8; 8];
    for (k, &d) in body[body.len() - take..].iter().enumerate() {
        set_nibble(&mut field, 4 + (12 - take) + k, d);
    }
    Ok(field)
}

/// The format 4 PAN field: M, the PAN (left-padded to 12 digits), zeros.
fn format4_pan_field(pan: &[u8]) -> Result<[u8; 16], PinBlockError> {
    let digits = pan_digits(pan)?;
    let mut field = [0u8; 16];
    let (m, pad) = if digits.len() >= 12 {
        (digits.len() - 12, 0)
    } else {
        (0, 12 - digits.len())
    };
    set_nibble(&mut field, 0, m as u8);
    for (k, &d) in digits.iter().enumerate() {
        set_nibble(&mut field, 1 + pad + k, d);
    }
    Ok(field)
}

/// The PIN field `C N P…P fill…` over the first 16 nibbles of `out`.
fn pin_field(out: &mut [u8], control: u8, pin: &ClearPin, fill: u8) {
    set_nibble(out, 0, control);
    set_nibble(out, 1, pin.len as u8);
    for i in 0..14 {
        let v = pin.digits().get(i).copied().unwrap_or(fill);
        set_nibble(out, 2 + i, v);
    }
}

/// Read a PIN field back (control nibble, length, digits, fill), or `Invalid`.
fn read_pin_field(
    field: &[u8],
    control: u8,
    fill: u8,
    format: &'static str,
) -> Result<ClearPin, PinBlockError> {
    let invalid = PinBlockError::Invalid(format);
    let len = usize::from(nibble(field, 1));
    // Examine every nibble whatever the outcome, so timing says little.
    let mut ok = nibble(field, 0) == control && PIN_DIGITS.contains(&len);
    let mut digits = Zeroizing::new([0u8; 12]);
    for i in 0..14 {
        let v = nibble(field, 2 + i);
        if i < len {
            ok &= v <= 9;
            if let Some(d) = digits.get_mut(i) {
                *d = v;
            }
        } else {
            ok &= v == fill;
        }
    }
    if ok {
        Ok(ClearPin { digits, len })
    } else {
        Err(invalid)
    }
}

fn check_len(format: PinFormat, block: &[u8]) -> Result<(), PinBlockError> {
    if block.len() == format.block_len() {
        Ok(())
    } else {
        Err(PinBlockError::Length {
            format: format.name(),
            expected: format.block_len(),
            got: block.len(),
        })
    }
}

/// Encipher (or decipher) one TDES block under a 16- or 24-byte key.
fn tdes(key: &[u8], block: &mut [u8; 8], decipher: bool) -> Result<(), PinBlockError> {
    let bad = PinBlockError::Key {
        format: PinFormat::Iso0.name(),
        len: key.len(),
    };
    match key.len() {
        16 => {
            let c = des::TdesEde2::new_from_slice(key).map_err(|_| bad)?;
            if decipher {
                c.decrypt_block(block.into());
            } else {
                c.encrypt_block(block.into());
            }
        }
        24 => {
            let c = des::TdesEde3::new_from_slice(key).map_err(|_| bad)?;
            if decipher {
                c.decrypt_block(block.into());
            } else {
                c.encrypt_block(block.into());
            }
        }
        _ => return Err(bad),
    }
    Ok(())
}

/// An AES key schedule of any of the three sizes.
enum Aes {
    K128(aes::Aes128),
    K192(aes::Aes192),
    K256(aes::Aes256),
}

impl Aes {
    fn new(key: &[u8]) -> Result<Aes, PinBlockError> {
        let bad = PinBlockError::Key {
            format: PinFormat::Iso4.name(),
            len: key.len(),
        };
        Ok(match key.len() {
            16 => Aes::K128(aes::Aes128::new_from_slice(key).map_err(|_| bad)?),
            24 => Aes::K192(aes::Aes192::new_from_slice(key).map_err(|_| bad)?),
            32 => Aes::K256(aes::Aes256::new_from_slice(key).map_err(|_| bad)?),
            _ => return Err(bad),
        })
    }

    fn encrypt(&self, block: &mut [u8; 16]) {
        match self {
            Aes::K128(c) => c.encrypt_block(block.into()),
            Aes::K192(c) => c.encrypt_block(block.into()),
            Aes::K256(c) => c.encrypt_block(block.into()),
        }
    }

    fn decrypt(&self, block: &mut [u8; 16]) {
        match self {
            Aes::K128(c) => c.decrypt_block(block.into()),
            Aes::K192(c) => c.decrypt_block(block.into()),
            Aes::K256(c) => c.decrypt_block(block.into()),
        }
    }
}

fn xor<const N: usize>(a: &mut [u8; N], b: &[u8; N]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// Read the clear PIN out of an enciphered `block` of `format` for card `pan`
/// (ASCII digits) under `key`.
pub fn decipher(
    format: PinFormat,
    key: &[u8],
    block: &[u8],
    pan: &[u8],
) -> Result<ClearPin, PinBlockError> {
    check_len(format, block)?;
    match format {
        PinFormat::Iso0 => {
            let pan_field = format0_pan_field(pan)?;
            let mut clear = Zeroizing::new([0u8; 8]);
            clear.copy_from_slice(block);
            tdes(key, &mut clear, true)?;
            xor(&mut clear, &pan_field);
            read_pin_field(&*clear, 0, 0xF, format.name())
        }
        PinFormat::Iso4 => {
            let pan_field = format4_pan_field(pan)?;
            let aes = Aes::new(key)?;
            let mut clear = Zeroizing::new([0u8; 16]);
            clear.copy_from_slice(block);
            aes.decrypt(&mut clear);
            xor(&mut clear, &pan_field);
            aes.decrypt(&mut clear);
            read_pin_field(&*clear, 4, 0xA, format.name())
        }
    }
}

/// Encipher `pin` for card `pan` (ASCII digits) under `key` as a block of `format`.
/// Format 4's random half comes from `fill` (the OS generator in production use).
pub fn encipher_with(
    format: PinFormat,
    key: &[u8],
    pin: &ClearPin,
    pan: &[u8],
    fill: impl FnOnce(&mut [u8]) -> Result<(), PinBlockError>,
) -> Result<Vec<u8>, PinBlockError> {
    match format {
        PinFormat::Iso0 => {
            let pan_field = format0_pan_field(pan)?;
            let mut block = Zeroizing::new([0u8; 8]);
            pin_field(&mut *block, 0, pin, 0xF);
            xor(&mut block, &pan_field);
            tdes(key, &mut block, false)?;
            Ok(block.to_vec())
        }
        PinFormat::Iso4 => {
            let pan_field = format4_pan_field(pan)?;
            let aes = Aes::new(key)?;
            let mut block = Zeroizing::new([0u8; 16]);
            pin_field(&mut *block, 4, pin, 0xA);
            fill(&mut block[8..])?;
            aes.encrypt(&mut block);
            xor(&mut block, &pan_field);
            aes.encrypt(&mut block);
            Ok(block.to_vec())
        }
    }
}

/// [`encipher_with`] with format 4's fill from the operating system's generator.
pub fn encipher(
    format: PinFormat,
    key: &[u8],
    pin: &ClearPin,
    pan: &[u8],
) -> Result<Vec<u8>, PinBlockError> {
    encipher_with(format, key, pin, pan, |buf| {
        getrandom::fill(buf).map_err(|_| PinBlockError::Random)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const ZPK: &str = "0123456789ABCDEFFEDCBA9876543210";

    #[test]
    fn format0_known_block() {
        // PIN 1234, PAN 43219876543210987: clear block 0412AC89ABCDEF67 (the
        // textbook example), enciphered with TDES-ECB under the test key
        // (checked against OpenSSL's des-ede).
        let pin = ClearPin::from_ascii(b"1234").unwrap();
        let pan = b"43219876543210987";
        assert_eq!(
            format0_pan_field(pan).unwrap().to_vec(),
            hex("0000987654321098")
        );
        let block = encipher(PinFormat::Iso0, &hex(ZPK), &pin, pan).unwrap();
        assert_eq!(block, hex("C967C8198151A458"));
        let back = decipher(PinFormat::Iso0, &hex(ZPK), &block, pan).unwrap();
        assert!(back.matches(&pin));
        // Another card, or another key: not a valid block (or another PIN).
        let other = decipher(PinFormat::Iso0, &hex(ZPK), &block, b"43219876543210995");
        assert!(other.is_err() || !other.unwrap().matches(&pin));
        let mut key = hex(ZPK);
        key[0] ^= 0x10;
        assert_eq!(
            decipher(PinFormat::Iso0, &key, &block, pan).err(),
            Some(PinBlockError::Invalid("iso0"))
        );
        assert!(matches!(
            decipher(PinFormat::Iso0, &hex(ZPK), &block[..7], pan),
            Err(PinBlockError::Length {
                expected: 8,
                got: 7,
                ..
            })
        ));
    }

    #[test]
    fn format4_fields_and_round_trip() {
        // ANSI X9.24-3:2017 supplement: PIN 1234 → PIN field 441234AAAAAAAAAA…,
        // PAN 4111111111111111 → PAN field 44111111111111111000000000000000.
        let pin = ClearPin::from_ascii(b"1234").unwrap();
        let mut field = [0u8; 16];
        pin_field(&mut field, 4, &pin, 0xA);
        assert_eq!(field[..8].to_vec(), hex("441234AAAAAAAAAA"));
        assert_eq!(
            format4_pan_field(b"4111111111111111").unwrap().to_vec(),
            hex("44111111111111111000000000000000")
        );
        assert_eq!(
            format4_pan_field(b"123456789").unwrap().to_vec(),
            hex("00001234567890000000000000000000")
        );
        // A fixed fill gives a known block: checked against AES-ECB in Python's
        // `cryptography` (AES(K, AES(K, PIN field) XOR PAN field)).
        let key = hex("00112233445566778899AABBCCDDEEFF");
        let fixed = |b: &mut [u8]| {
            b.copy_from_slice(&hex("0123456789ABCDEF"));
            Ok(())
        };
        let block = encipher_with(PinFormat::Iso4, &key, &pin, b"4111111111111111", fixed).unwrap();
        assert_eq!(block, hex(FORMAT4_EXPECTED));
        let back = decipher(PinFormat::Iso4, &key, &block, b"4111111111111111").unwrap();
        assert!(back.matches(&pin));
        let random = encipher(PinFormat::Iso4, &key, &pin, b"4111111111111111").unwrap();
        assert_ne!(random, block, "format 4 blocks differ every time");
        assert!(
            decipher(PinFormat::Iso4, &key, &random, b"4111111111111111")
                .unwrap()
                .matches(&pin)
        );
        assert_eq!(
            decipher(PinFormat::Iso4, &key, &block, b"4111111111111129").err(),
            Some(PinBlockError::Invalid("iso4"))
        );
    }

    /// Computed with Python's `cryptography` (see the test above).
    const FORMAT4_EXPECTED: &str = "F4DF86A4AE200E19E0F01167BD3DEFD9";

    #[test]
    fn every_pin_length_and_bad_input() {
        let key = hex(ZPK);
        for len in 4..=12 {
            let digits: Vec<u8> = (0..len).map(|i| b'0' + (i * 7 % 10) as u8).collect();
            let pin = ClearPin::from_ascii(&digits).unwrap();
            for pan in [&b"9408010000001238"[..], b"9408010000000012345"] {
                let block = encipher(PinFormat::Iso0, &key, &pin, pan).unwrap();
                assert!(decipher(PinFormat::Iso0, &key, &block, pan)
                    .unwrap()
                    .matches(&pin));
            }
        }
        assert!(ClearPin::from_ascii(b"123").is_err());
        assert!(ClearPin::from_ascii(b"12a4").is_err());
        assert!(ClearPin::from_ascii(b"1234567890123").is_err());
        let pin = ClearPin::from_ascii(b"1234").unwrap();
        assert_eq!(
            encipher(PinFormat::Iso0, &key, &pin, b"94080100x0001238").err(),
            Some(PinBlockError::Pan)
        );
        assert!(matches!(
            encipher(PinFormat::Iso0, &key[..8], &pin, b"9408010000001238"),
            Err(PinBlockError::Key { len: 8, .. })
        ));
        // Any 8 bytes: an error or a PIN, never a panic.
        for seed in 0..2000u32 {
            let block: Vec<u8> = (0..8)
                .map(|i| (seed.wrapping_mul(2654435761) >> i) as u8)
                .collect();
            let _ = decipher(PinFormat::Iso0, &key, &block, b"9408010000001238");
        }
    }
}
