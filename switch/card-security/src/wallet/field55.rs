//! The dynamic code's data in field 55, as the switch reads it on every token
//! payment: five BER-TLV elements (`9F26` cryptogram, `9F36` ATC, `9F37`
//! unpredictable number, `9F19` requestor id, `5F24` expiry) in any order,
//! other tags skipped, each exactly once and of its fixed length. Parsed into
//! fixed arrays: no allocation.

use super::bcd::{pack_expiry, pack_padded, unpack_expiry, unpack_padded};
use super::error::{QrError, Tag};
use super::tlv::{self, Element, Reader};
use super::token_key::CodeInput;

/// A dynamic code's data (everything but the token, which is field 2).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CodeData {
    /// The cryptogram (tag 9F26).
    pub cryptogram: [u8; 8],
    /// The application transaction counter (9F36).
    pub atc: u16,
    /// The unpredictable number (9F37).
    pub unpredictable: u32,
    /// The app's token requestor id, 11 ASCII digits (9F19).
    pub requestor_id: [u8; 11],
    /// The token's expiry, YYMM in ASCII (5F24, day left out).
    pub expiry: [u8; 4],
}

impl CodeData {
    /// Parse field 55's value (strict; see the module doc).
    pub fn from_field55(data: &[u8]) -> Result<CodeData, QrError> {
        let mut fields = CodeFields::default();
        for element in Reader::new(data) {
            fields.accept(element?)?;
        }
        fields.finish()
    }

    /// What the cryptogram covers, with the token from field 2.
    pub fn code_input<'a>(&'a self, token: &'a [u8]) -> CodeInput<'a> {
        CodeInput {
            token,
            expiry: self.expiry,
            atc: self.atc,
            unpredictable: self.unpredictable,
            requestor_id: &self.requestor_id,
        }
    }

    /// Field 55's value: `9F26`, `9F36`, `9F37`, `9F19`, `5F24`, in that order.
    pub fn to_field55(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(42);
        tlv::write(&mut out, Tag::CRYPTOGRAM, &self.cryptogram);
        tlv::write(&mut out, Tag::ATC, &self.atc.to_be_bytes());
        tlv::write(
            &mut out,
            Tag::UNPREDICTABLE,
            &self.unpredictable.to_be_bytes(),
        );
        let mut requestor = [0u8; 6];
        pack_padded(&self.requestor_id, &mut requestor);
        tlv::write(&mut out, Tag::REQUESTOR_ID, &requestor);
        tlv::write(&mut out, Tag::EXPIRY, &pack_expiry(self.expiry));
        out
    }
}

impl std::fmt::Debug for CodeData {
    /// The cryptogram is left out (ICC cryptograms are never logged).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeData")
            .field("atc", &self.atc)
            .field("requestor_id", &String::from_utf8_lossy(&self.requestor_id))
            .field("expiry", &String::from_utf8_lossy(&self.expiry))
            .finish_non_exhaustive()
    }
}

/// The five code elements collected from a TLV list (field 55, or the QR
/// payload's application template).
#[derive(Default)]
pub(crate) struct CodeFields {
    cryptogram: Option<[u8; 8]>,
    atc: Option<u16>,
    unpredictable: Option<u32>,
    requestor_id: Option<[u8; 11]>,
    expiry: Option<[u8; 4]>,
}

impl CodeFields {
    /// Take `element` if it is one of the five (a second one is an error);
    /// other tags are left to the caller.
    pub(crate) fn accept(&mut self, element: Element<'_>) -> Result<bool, QrError> {
        let Element { tag, value } = element;
        match tag {
            Tag::CRYPTOGRAM => set(&mut self.cryptogram, tag, fixed::<8>(tag, value)?),
            Tag::ATC => set(
                &mut self.atc,
                tag,
                u16::from_be_bytes(fixed::<2>(tag, value)?),
            ),
            Tag::UNPREDICTABLE => set(
                &mut self.unpredictable,
                tag,
                u32::from_be_bytes(fixed::<4>(tag, value)?),
            ),
            Tag::REQUESTOR_ID => set(&mut self.requestor_id, tag, requestor_id(value)?),
            Tag::EXPIRY => set(&mut self.expiry, tag, unpack_expiry(value)?),
            _ => return Ok(false),
        }?;
        Ok(true)
    }

    /// The code's data, or the first missing element (in field 55's order).
    pub(crate) fn finish(self) -> Result<CodeData, QrError> {
        Ok(CodeData {
            cryptogram: self.cryptogram.ok_or(QrError::Missing(Tag::CRYPTOGRAM))?,
            atc: self.atc.ok_or(QrError::Missing(Tag::ATC))?,
            unpredictable: self
                .unpredictable
                .ok_or(QrError::Missing(Tag::UNPREDICTABLE))?,
            requestor_id: self
                .requestor_id
                .ok_or(QrError::Missing(Tag::REQUESTOR_ID))?,
            expiry: self.expiry.ok_or(QrError::Missing(Tag::EXPIRY))?,
        })
    }
}

fn set<T>(slot: &mut Option<T>, tag: Tag, value: T) -> Result<(), QrError> {
    if slot.is_some() {
        return Err(QrError::Duplicate(tag));
    }
    *slot = Some(value);
    Ok(())
}

fn fixed<const N: usize>(tag: Tag, value: &[u8]) -> Result<[u8; N], QrError> {
    value.try_into().map_err(|_| QrError::WrongLength {
        tag,
        expected: N,
        found: value.len(),
    })
}

/// 11 digits and the `F` pad in 6 bytes.
fn requestor_id(value: &[u8]) -> Result<[u8; 11], QrError> {
    let packed = fixed::<6>(Tag::REQUESTOR_ID, value)?;
    let mut digits = [0u8; 12];
    let count = unpack_padded(&packed, Tag::REQUESTOR_ID, &mut digits)?;
    if count != 11 {
        return Err(QrError::NotDigits(Tag::REQUESTOR_ID));
    }
    let mut out = [0u8; 11];
    out.copy_from_slice(&digits[..11]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> CodeData {
        CodeData {
            cryptogram: [1, 2, 3, 4, 5, 6, 7, 8],
            atc: 0x0102,
            unpredictable: 0xA1B2_C3D4,
            requestor_id: *b"94000000003",
            expiry: *b"2901",
        }
    }

    #[test]
    fn round_trip_in_the_designs_order() {
        let data = sample();
        let bytes = data.to_field55();
        assert_eq!(
            bytes,
            [
                &[0x9F, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8][..],
                &[0x9F, 0x36, 0x02, 0x01, 0x02],
                &[0x9F, 0x37, 0x04, 0xA1, 0xB2, 0xC3, 0xD4],
                &[0x9F, 0x19, 0x06, 0x94, 0x00, 0x00, 0x00, 0x00, 0x3F],
                &[0x5F, 0x24, 0x03, 0x29, 0x01, 0x31],
            ]
            .concat()
        );
        assert_eq!(CodeData::from_field55(&bytes).unwrap(), data);
        let shown = format!("{data:?}");
        assert!(!shown.contains("cryptogram"), "{shown}");
    }

    /// Each element of `bytes`, encoded on its own.
    fn elements(bytes: &[u8]) -> Vec<(Tag, Vec<u8>)> {
        Reader::new(bytes)
            .map(|e| {
                let e = e.unwrap();
                let mut out = Vec::new();
                tlv::write(&mut out, e.tag, e.value);
                (e.tag, out)
            })
            .collect()
    }

    #[test]
    fn any_order_and_unknown_tags_skipped() {
        let data = sample();
        let mut parts: Vec<Vec<u8>> = elements(&data.to_field55())
            .into_iter()
            .map(|(_, bytes)| bytes)
            .collect();
        parts.reverse();
        // An unknown primitive and an unknown constructed tag among them.
        parts.insert(2, vec![0x95, 0x05, 0, 0, 0, 0, 0]);
        parts.push(vec![0x70, 0x03, 0x5A, 0x01, 0x11]);
        assert_eq!(CodeData::from_field55(&parts.concat()).unwrap(), data);
    }

    #[test]
    fn refuses_missing_duplicate_and_wrong_lengths() {
        let bytes = sample().to_field55();
        // Each element left out in turn is named.
        let parts = elements(&bytes);
        assert_eq!(parts.len(), 5);
        for (i, (tag, _)) in parts.iter().enumerate() {
            let without: Vec<u8> = parts
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, (_, b))| b.clone())
                .collect();
            assert_eq!(
                CodeData::from_field55(&without),
                Err(QrError::Missing(*tag))
            );
        }
        let twice = [&bytes[..], &[0x9F, 0x36, 0x02, 0, 9]].concat();
        assert_eq!(
            CodeData::from_field55(&twice),
            Err(QrError::Duplicate(Tag::ATC))
        );
        let mut short = bytes.clone();
        short[2] = 0x07; // 9F26 of 7 bytes: the next byte starts the next tag
        assert!(CodeData::from_field55(&short).is_err());
        let odd_atc = [&bytes[..11], &[0x9F, 0x36, 0x01, 0x00], &bytes[16..]].concat();
        assert_eq!(
            CodeData::from_field55(&odd_atc),
            Err(QrError::WrongLength {
                tag: Tag::ATC,
                expected: 2,
                found: 1
            })
        );
        // A requestor id whose last nibble is a digit, not the pad.
        let mut unpadded = bytes.clone();
        let at = bytes.len() - 7;
        unpadded[at] = 0x39;
        assert_eq!(
            CodeData::from_field55(&unpadded),
            Err(QrError::NotDigits(Tag::REQUESTOR_ID))
        );
        assert_eq!(
            CodeData::from_field55(&[]),
            Err(QrError::Missing(Tag::CRYPTOGRAM))
        );
    }
}
