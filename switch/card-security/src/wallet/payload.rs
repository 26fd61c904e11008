//! The QR payload an app shows and a merchant's reader scans: standard base64
//! of BER-TLV in the spirit of EMVCo's consumer-presented mode (CPM):
//!
//! ```text
//! 85 05 "CPV01"                        payload format indicator
//! 61 LL                                application template
//!    4F 07 A0000009408001              the national QR application
//!    5A    token, BCD, F-padded
//!    5F24 03 YYMM31                    token expiry
//!    9F19 06 requestor id, BCD, F-padded
//!    9F36 02 ATC   9F37 04 UN   9F26 08 cryptogram
//! ```
//!
//! Reading is strict and bounded: the text's length, every TLV length, one
//! application template, each element once; unknown tags inside the template
//! and templates other than 61 after it are skipped (CPM allows more).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::bcd::{pack_expiry, pack_padded, packed_len, unpack_padded};
use super::error::{QrError, Tag};
use super::field55::{CodeData, CodeFields};
use super::tlv::{self, Reader};
use super::token_key::{CodeInput, CodeKey};

/// The payload format indicator's value.
const FORMAT: &[u8] = b"CPV01";
/// The national QR application's identifier (RID A000000940, PIX 8001).
pub const QR_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x09, 0x40, 0x80, 0x01];
/// Longest payload text read: a payload written here is about 100 characters;
/// anything far past that is not one, and is refused before decoding.
pub const MAX_PAYLOAD_CHARS: usize = 512;
/// Token lengths accepted (ISO/IEC 7812 PAN lengths).
const TOKEN_DIGITS: std::ops::RangeInclusive<usize> = 8..=19;

/// A dynamic code as the app shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct QrPayload {
    /// The token (ASCII digits).
    pub token: String,
    /// The token's expiry, YYMM.
    pub expiry: [u8; 4],
    /// The application transaction counter.
    pub atc: u16,
    /// The unpredictable number.
    pub unpredictable: u32,
    /// The app's token requestor id (11 digits).
    pub requestor_id: String,
    /// The cryptogram over the above.
    pub cryptogram: [u8; 8],
}

impl QrPayload {
    /// The payload of a code computed under `key` (what an app shows).
    pub fn sign(key: &CodeKey, input: &CodeInput<'_>) -> QrPayload {
        QrPayload {
            token: String::from_utf8_lossy(input.token).into_owned(),
            expiry: input.expiry,
            atc: input.atc,
            unpredictable: input.unpredictable,
            requestor_id: String::from_utf8_lossy(input.requestor_id).into_owned(),
            cryptogram: key.cryptogram(input),
        }
    }

    /// What the cryptogram covers.
    pub fn code_input(&self) -> CodeInput<'_> {
        CodeInput {
            token: self.token.as_bytes(),
            expiry: self.expiry,
            atc: self.atc,
            unpredictable: self.unpredictable,
            requestor_id: self.requestor_id.as_bytes(),
        }
    }

    /// The TLV (before base64).
    pub fn to_tlv(&self) -> Vec<u8> {
        let mut template = Vec::with_capacity(64);
        tlv::write(&mut template, Tag::AID, &QR_AID);
        let mut token = [0u8; 10];
        let token_len = packed_len(self.token.len()).min(token.len());
        pack_padded(self.token.as_bytes(), &mut token[..token_len]);
        tlv::write(&mut template, Tag::TOKEN, &token[..token_len]);
        tlv::write(&mut template, Tag::EXPIRY, &pack_expiry(self.expiry));
        let mut requestor = [0u8; 6];
        pack_padded(self.requestor_id.as_bytes(), &mut requestor);
        tlv::write(&mut template, Tag::REQUESTOR_ID, &requestor);
        tlv::write(&mut template, Tag::ATC, &self.atc.to_be_bytes());
        tlv::write(
            &mut template,
            Tag::UNPREDICTABLE,
            &self.unpredictable.to_be_bytes(),
        );
        tlv::write(&mut template, Tag::CRYPTOGRAM, &self.cryptogram);
        let mut out = Vec::with_capacity(template.len() + 9);
        tlv::write(&mut out, Tag::FORMAT_INDICATOR, FORMAT);
        tlv::write(&mut out, Tag::APPLICATION_TEMPLATE, &template);
        out
    }

    /// The payload as the QR code carries it: standard base64 of the TLV.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.to_tlv())
    }

    /// Read a scanned payload (strict; see the module doc).
    pub fn from_base64(text: &str) -> Result<QrPayload, QrError> {
        if text.len() > MAX_PAYLOAD_CHARS {
            return Err(QrError::TooLong {
                max: MAX_PAYLOAD_CHARS,
            });
        }
        let bytes = STANDARD.decode(text).map_err(|_| QrError::NotBase64)?;
        QrPayload::from_tlv(&bytes)
    }

    /// Read the TLV of a payload.
    pub fn from_tlv(bytes: &[u8]) -> Result<QrPayload, QrError> {
        let mut elements = Reader::new(bytes);
        match elements.next() {
            Some(Ok(first)) if first.tag == Tag::FORMAT_INDICATOR && first.value == FORMAT => {}
            Some(Err(e)) => return Err(e),
            _ => return Err(QrError::Format),
        }
        let mut template = None;
        for element in elements {
            let element = element?;
            if element.tag == Tag::APPLICATION_TEMPLATE {
                if template.is_some() {
                    return Err(QrError::Duplicate(Tag::APPLICATION_TEMPLATE));
                }
                template = Some(element.value);
            }
        }
        let template = template.ok_or(QrError::Missing(Tag::APPLICATION_TEMPLATE))?;
        read_template(template)
    }

    /// Field 55's value for the acquirer's 0200 (the code's data; the token
    /// goes in field 2).
    pub fn field55(&self) -> Vec<u8> {
        let mut requestor_id = [b'0'; 11];
        for (slot, digit) in requestor_id.iter_mut().zip(self.requestor_id.bytes()) {
            *slot = digit;
        }
        CodeData {
            cryptogram: self.cryptogram,
            atc: self.atc,
            unpredictable: self.unpredictable,
            requestor_id,
            expiry: self.expiry,
        }
        .to_field55()
    }
}

impl std::fmt::Debug for QrPayload {
    /// The token masked (first 6, last 4) and no cryptogram.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = match self
            .token
            .get(..6)
            .zip(self.token.get(self.token.len().saturating_sub(4)..))
        {
            Some((first, last)) if self.token.len() >= 13 => format!("{first}******{last}"),
            _ => "****".to_string(),
        };
        f.debug_struct("QrPayload")
            .field("token", &masked)
            .field("atc", &self.atc)
            .field("requestor_id", &self.requestor_id)
            .finish_non_exhaustive()
    }
}

/// The application template's elements.
fn read_template(template: &[u8]) -> Result<QrPayload, QrError> {
    let mut code = CodeFields::default();
    let mut aid_seen = false;
    let mut token: Option<([u8; 20], usize)> = None;
    for element in Reader::new(template) {
        let element = element?;
        if code.accept(element)? {
            continue;
        }
        match element.tag {
            Tag::AID => {
                if aid_seen {
                    return Err(QrError::Duplicate(Tag::AID));
                }
                if element.value != QR_AID {
                    return Err(QrError::Application);
                }
                aid_seen = true;
            }
            Tag::TOKEN => {
                if token.is_some() {
                    return Err(QrError::Duplicate(Tag::TOKEN));
                }
                if element.value.len() > 10 {
                    return Err(QrError::TokenLength(Tag::TOKEN));
                }
                let mut digits = [0u8; 20];
                let count = unpack_padded(element.value, Tag::TOKEN, &mut digits)?;
                if !TOKEN_DIGITS.contains(&count) {
                    return Err(QrError::TokenLength(Tag::TOKEN));
                }
                token = Some((digits, count));
            }
            _ => {}
        }
    }
    if !aid_seen {
        return Err(QrError::Missing(Tag::AID));
    }
    let (digits, count) = token.ok_or(QrError::Missing(Tag::TOKEN))?;
    let data = code.finish()?;
    Ok(QrPayload {
        // Only ASCII digits were written into `digits`.
        token: digits[..count].iter().map(|&d| char::from(d)).collect(),
        expiry: data.expiry,
        atc: data.atc,
        unpredictable: data.unpredictable,
        requestor_id: data.requestor_id.iter().map(|&d| char::from(d)).collect(),
        cryptogram: data.cryptogram,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::wallet::TokenKey;

    fn sample() -> QrPayload {
        let key = CodeKey::new(&TokenKey::from_bytes([0x42; 16]));
        QrPayload::sign(
            &key,
            &CodeInput {
                token: b"9408990000000017",
                expiry: *b"2812",
                atc: 300,
                unpredictable: 0xDEAD_BEEF,
                requestor_id: b"94000000002",
            },
        )
    }

    #[test]
    fn round_trip_and_layout() {
        let payload = sample();
        let tlv = payload.to_tlv();
        assert_eq!(&tlv[..8], b"\x85\x05CPV01\x61");
        assert_eq!(usize::from(tlv[8]), tlv.len() - 9);
        assert_eq!(
            &tlv[9..18],
            &[0x4F, 0x07, 0xA0, 0, 0, 0x09, 0x40, 0x80, 0x01]
        );
        assert_eq!(
            &tlv[18..28],
            &[0x5A, 0x08, 0x94, 0x08, 0x99, 0, 0, 0, 0, 0x17]
        );
        assert_eq!(&tlv[28..34], &[0x5F, 0x24, 0x03, 0x28, 0x12, 0x31]);
        let text = payload.to_base64();
        assert_eq!(QrPayload::from_base64(&text).unwrap(), payload);
        // Field 55 carries the same code, which verifies under the key.
        let data = CodeData::from_field55(&payload.field55()).unwrap();
        let key = CodeKey::new(&TokenKey::from_bytes([0x42; 16]));
        assert!(key.verify(&data.code_input(b"9408990000000017"), &data.cryptogram));
        assert_eq!(data.requestor_id, *b"94000000002");
        // An odd-length token is F-padded and reads back.
        let odd = QrPayload {
            token: "940899000000003".into(),
            ..payload.clone()
        };
        assert_eq!(QrPayload::from_base64(&odd.to_base64()).unwrap(), odd);
        let shown = format!("{payload:?}");
        assert!(!shown.contains("9408990000000017"), "{shown}");
    }

    /// The template's elements with one changed, as a payload's base64.
    fn with_template(edit: impl FnOnce(&mut Vec<Vec<u8>>)) -> Result<QrPayload, QrError> {
        let tlv = sample().to_tlv();
        let mut parts: Vec<Vec<u8>> = Reader::new(&tlv[9..])
            .map(|e| {
                let e = e.unwrap();
                let mut out = Vec::new();
                tlv::write(&mut out, e.tag, e.value);
                out
            })
            .collect();
        edit(&mut parts);
        let mut out = Vec::new();
        tlv::write(&mut out, Tag::FORMAT_INDICATOR, FORMAT);
        tlv::write(&mut out, Tag::APPLICATION_TEMPLATE, &parts.concat());
        QrPayload::from_base64(&STANDARD.encode(out))
    }

    #[test]
    fn template_errors_name_the_tag() {
        assert_eq!(
            with_template(|p| {
                p.remove(1);
            }),
            Err(QrError::Missing(Tag::TOKEN))
        );
        assert_eq!(
            with_template(|p| {
                p.remove(0);
            }),
            Err(QrError::Missing(Tag::AID))
        );
        assert_eq!(
            with_template(|p| {
                p.remove(6);
            }),
            Err(QrError::Missing(Tag::CRYPTOGRAM))
        );
        assert_eq!(
            with_template(|p| p.push(p[4].clone())),
            Err(QrError::Duplicate(Tag::ATC))
        );
        assert_eq!(
            with_template(|p| p.push(p[1].clone())),
            Err(QrError::Duplicate(Tag::TOKEN))
        );
        assert_eq!(with_template(|p| p[0][3] = 0xB0), Err(QrError::Application));
        assert_eq!(
            with_template(|p| p[1] = vec![0x5A, 0x02, 0x12, 0x34]),
            Err(QrError::TokenLength(Tag::TOKEN))
        );
        // Unknown tags in the template (an application label) are skipped.
        let payload = with_template(|p| p.insert(1, b"\x50\x04KPAY".to_vec())).unwrap();
        assert_eq!(payload, sample());
    }

    #[test]
    fn envelope_errors() {
        let tlv = sample().to_tlv();
        assert_eq!(
            QrPayload::from_base64("not base64!"),
            Err(QrError::NotBase64)
        );
        assert_eq!(
            QrPayload::from_base64(&"A".repeat(MAX_PAYLOAD_CHARS + 4)),
            Err(QrError::TooLong {
                max: MAX_PAYLOAD_CHARS
            })
        );
        assert_eq!(QrPayload::from_tlv(&tlv[7..]), Err(QrError::Format));
        assert_eq!(QrPayload::from_tlv(&[]), Err(QrError::Format));
        assert_eq!(
            QrPayload::from_tlv(&tlv[..7]),
            Err(QrError::Missing(Tag::APPLICATION_TEMPLATE))
        );
        // Cut anywhere inside the template: refused, never a panic.
        for cut in 8..tlv.len() {
            assert!(QrPayload::from_tlv(&tlv[..cut]).is_err(), "{cut}");
        }
        let twice = [&tlv[..], &tlv[7..]].concat();
        assert_eq!(
            QrPayload::from_tlv(&twice),
            Err(QrError::Duplicate(Tag::APPLICATION_TEMPLATE))
        );
        // The template's length overlong, and of 2^63.
        let mut overlong = tlv.clone();
        overlong[8] += 1;
        assert_eq!(
            QrPayload::from_tlv(&overlong),
            Err(QrError::Overrun(Tag::APPLICATION_TEMPLATE))
        );
        let huge = [&tlv[..8], &[0x88, 0x80, 0, 0, 0, 0, 0, 0, 0], &tlv[9..]].concat();
        assert_eq!(
            QrPayload::from_tlv(&huge),
            Err(QrError::LengthForm(Tag::APPLICATION_TEMPLATE))
        );
        // Another template after 61 is skipped.
        let extra = [&tlv[..], &[0x62, 0x02, 0x50, 0x00]].concat();
        assert_eq!(QrPayload::from_tlv(&extra).unwrap(), sample());
    }

    proptest::proptest! {
        /// Random bytes, as TLV and as base64 text, and every one-byte change of
        /// a good payload: always an answer, never a panic; and a changed payload
        /// that still parses no longer verifies unless the change was in bytes
        /// the cryptogram does not cover.
        #[test]
        fn never_panics(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            text in "[A-Za-z0-9+/=]{0,200}",
            at in 0usize..200,
            value in proptest::num::u8::ANY,
        ) {
            let _ = QrPayload::from_tlv(&bytes);
            let _ = QrPayload::from_base64(&text);
            let _ = CodeData::from_field55(&bytes);
            let mut tlv = sample().to_tlv();
            let at = at % tlv.len();
            tlv[at] = value;
            let _ = QrPayload::from_tlv(&tlv);
            let mut field55 = sample().field55();
            let at = at % field55.len();
            field55[at] = value;
            if let Ok(data) = CodeData::from_field55(&field55) {
                let key = CodeKey::new(&TokenKey::from_bytes([0x42; 16]));
                let unchanged = data == CodeData::from_field55(&sample().field55()).unwrap();
                proptest::prop_assert_eq!(
                    key.verify(&data.code_input(b"9408990000000017"), &data.cryptogram),
                    unchanged
                );
            }
        }
    }
}
