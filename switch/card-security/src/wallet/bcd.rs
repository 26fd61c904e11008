//! Packed BCD as the wallet code uses it: ASCII digits two to a byte, high
//! nibble first, right-padded with `F` (EMV's "cn" format for the token and the
//! requestor id; plain "n" for the date). Reading is strict: every nibble a
//! digit, `F` only as padding at the end.

use super::error::{QrError, Tag};

/// Bytes needed for `digits` digits.
pub const fn packed_len(digits: usize) -> usize {
    digits.div_ceil(2)
}

/// Pack ASCII `digits` into `out`, right-padded with `F`. Digits beyond
/// `2 * out.len()` are left out (callers size `out` for their longest value);
/// a byte that is not a digit packs as its low nibble (callers pass digits:
/// the switch checks field 2, the payload parser yields only digits).
pub fn pack_padded(digits: &[u8], out: &mut [u8]) {
    out.fill(0xFF);
    for (i, d) in digits.iter().take(out.len() * 2).enumerate() {
        let nibble = d.wrapping_sub(b'0') & 0x0F;
        let byte = &mut out[i / 2];
        *byte = if i % 2 == 0 {
            (*byte & 0x0F) | (nibble << 4)
        } else {
            (*byte & 0xF0) | nibble
        };
    }
}

/// Unpack `bytes` into ASCII digits in `out`; the last nibble may be the `F`
/// pad. Returns the number of digits. `out` must hold `2 * bytes.len()`.
pub fn unpack_padded(bytes: &[u8], tag: Tag, out: &mut [u8]) -> Result<usize, QrError> {
    if out.len() < bytes.len() * 2 {
        return Err(QrError::WrongLength {
            tag,
            expected: out.len() / 2,
            found: bytes.len(),
        });
    }
    let nibbles = bytes.len() * 2;
    let mut count = 0;
    for i in 0..nibbles {
        let byte = bytes[i / 2];
        let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0x0F };
        match nibble {
            0..=9 => {
                out[count] = b'0' + nibble;
                count += 1;
            }
            0x0F if i == nibbles - 1 => {}
            _ => return Err(QrError::NotDigits(tag)),
        }
    }
    Ok(count)
}

/// The expiry as the payload and field 55 carry it: YYMM plus day 31, BCD
/// (the token is good to the end of its month).
pub fn pack_expiry(yymm: [u8; 4]) -> [u8; 3] {
    let mut out = [0u8; 3];
    pack_padded(&[yymm[0], yymm[1], yymm[2], yymm[3], b'3', b'1'], &mut out);
    out
}

/// YYMM of a 3-byte BCD date (YYMMDD; every nibble a digit).
pub fn unpack_expiry(bytes: &[u8]) -> Result<[u8; 4], QrError> {
    if bytes.len() != 3 {
        return Err(QrError::WrongLength {
            tag: Tag::EXPIRY,
            expected: 3,
            found: bytes.len(),
        });
    }
    let mut digits = [0u8; 6];
    if unpack_padded(bytes, Tag::EXPIRY, &mut digits)? != 6 {
        return Err(QrError::NotDigits(Tag::EXPIRY));
    }
    Ok([digits[0], digits[1], digits[2], digits[3]])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pack_and_unpack() {
        let mut out = [0u8; 6];
        pack_padded(b"94000000001", &mut out);
        assert_eq!(out, [0x94, 0x00, 0x00, 0x00, 0x00, 0x1F]);
        let mut digits = [0u8; 12];
        let n = unpack_padded(&out, Tag::REQUESTOR_ID, &mut digits).unwrap();
        assert_eq!(&digits[..n], b"94000000001");

        let mut wide = [0u8; 10];
        pack_padded(b"9408990000000017", &mut wide);
        assert_eq!(
            wide,
            [0x94, 0x08, 0x99, 0x00, 0x00, 0x00, 0x00, 0x17, 0xFF, 0xFF]
        );
        assert_eq!(pack_expiry(*b"2812"), [0x28, 0x12, 0x31]);
        assert_eq!(unpack_expiry(&[0x28, 0x12, 0x31]).unwrap(), *b"2812");
    }

    #[test]
    fn padding_only_at_the_end_and_digits_only() {
        let mut digits = [0u8; 8];
        assert_eq!(
            unpack_padded(&[0x1F, 0x23], Tag::TOKEN, &mut digits),
            Err(QrError::NotDigits(Tag::TOKEN))
        );
        assert_eq!(
            unpack_padded(&[0x1A], Tag::TOKEN, &mut digits),
            Err(QrError::NotDigits(Tag::TOKEN))
        );
        assert_eq!(
            unpack_expiry(&[0x28, 0x12, 0x3F]),
            Err(QrError::NotDigits(Tag::EXPIRY))
        );
        assert!(unpack_expiry(&[0x28, 0x12]).is_err());
    }
}
