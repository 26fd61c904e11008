//! BER-TLV (ISO/IEC 8825-1 as EMV Book 3 annex B uses it): the elements of field
//! 55, read as an ordered list of (tag, value) and written back from one.
//!
//! Reading is strict and never allocates beyond the list it returns:
//! - a tag is one byte, or, when the first byte's low five bits are all set, the
//!   bytes that follow while their high bit is set, then one more; at most four
//!   bytes (EMV's tags have at most three);
//! - a length is short (`00`-`7F`) or long with one to four length bytes
//!   (`81`-`84`); the indefinite form (`80`) and longer forms (`85`-`FF`, which
//!   could claim 2^63 bytes) are refused before any arithmetic on them;
//! - a value must lie inside the bytes left, and a list must end exactly at the
//!   end of its data: zero bytes after the last element (the padding some
//!   terminals add, and BER's end-of-contents marker) are refused.
//!
//! Constructed elements (templates such as `70` or `77`) are one element each,
//! their value unparsed. Errors are a small `Copy` value naming the tag and the
//! offset, never the value; the field is added by the caller that knows it
//! ([`TlvError::in_field`]). What is card data among the tags is [`crate::icc`]'s
//! concern, not this module's; its `Debug` output shows values as icc masks them.

use std::borrow::Cow;
use std::fmt;

/// A tag: its bytes as a big-endian number (`9F26` is `0x9F26`). Built from the
/// wire or from hex ([`Tag::parse_hex`]), so always a well-formed BER tag of
/// one to four bytes whose first byte is not zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(u32);

impl Tag {
    /// The longest tag read or written, in bytes.
    pub const MAX_LEN: usize = 4;

    /// A tag from its bytes as a number, for constants of well-formed tags.
    pub(crate) const fn from_u32(value: u32) -> Tag {
        Tag(value)
    }

    /// The tag as a number (`0x9F26`).
    pub fn value(self) -> u32 {
        self.0
    }

    /// The tag's bytes (buffer and how many of it, from the front).
    pub fn to_bytes(self) -> ([u8; 4], usize) {
        let all = self.0.to_be_bytes();
        let skip = all.iter().take_while(|&&b| b == 0).count().min(3);
        let mut out = [0u8; 4];
        out[..4 - skip].copy_from_slice(&all[skip..]);
        (out, 4 - skip)
    }

    /// The first byte (class, constructed bit, tag number or `1F`).
    fn first_byte(self) -> u8 {
        self.to_bytes().0[0]
    }

    /// Whether the element is constructed (a template of further elements).
    pub fn is_constructed(self) -> bool {
        self.first_byte() & 0x20 != 0
    }

    /// A tag from hex text (`"9F26"`, either case), checked to be one whole BER
    /// tag of at most four bytes. `00` is refused: BER's end-of-contents marker,
    /// which a list may not hold.
    pub fn parse_hex(text: &str) -> Option<Tag> {
        let bytes = crate::content::from_hex(text.as_bytes())?;
        if bytes.first() == Some(&0) {
            return None;
        }
        match read_tag(&bytes) {
            Ok((tag, used)) if used == bytes.len() => Some(tag),
            _ => None,
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (bytes, len) = self.to_bytes();
        bytes[..len].iter().try_for_each(|b| write!(f, "{b:02X}"))
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({self})")
    }
}

/// One element: its tag and its value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Element<'a> {
    /// The tag.
    pub tag: Tag,
    /// The value (a constructed element's nested elements, unparsed).
    pub value: &'a [u8],
}

/// Why BER-TLV data was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlvReason {
    /// The data ends inside a tag or a length.
    Truncated,
    /// A tag of more than [`Tag::MAX_LEN`] bytes.
    TagTooLong,
    /// The indefinite length form (`80`).
    IndefiniteLength,
    /// A long length form with more than four length bytes (`85`-`FF`).
    LengthForm {
        /// The number of length bytes it announces.
        bytes: u8,
    },
    /// A value longer than the bytes left.
    Overrun {
        /// The length the element claims.
        length: u32,
        /// The bytes left after its length.
        remaining: u32,
    },
    /// Zero bytes (padding, or an end-of-contents marker) after the last element.
    TrailingBytes {
        /// How many bytes are left.
        count: u32,
    },
    /// A value too long for any length form (encode side: over 4 GiB).
    ValueTooLong,
}

/// BER-TLV data was refused: which field (when the caller knows it), which tag
/// (when it was read), at which offset, and why. Holds no value bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub struct TlvError {
    /// The message field holding the data (added by [`TlvError::in_field`]).
    pub field: Option<u8>,
    /// The element's tag: the one being read, or for trailing bytes the last
    /// one read; None when the tag itself could not be read.
    pub tag: Option<Tag>,
    /// Where the element (or the trailing bytes) starts in the data.
    pub offset: u32,
    /// Why.
    pub reason: TlvReason,
}

impl TlvError {
    fn new(tag: Option<Tag>, offset: usize, reason: TlvReason) -> TlvError {
        TlvError {
            field: None,
            tag,
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
            reason,
        }
    }

    /// The same error, naming the field the data came from.
    pub fn in_field(self, field: u8) -> TlvError {
        TlvError {
            field: Some(field),
            ..self
        }
    }
}

impl fmt::Display for TlvReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlvReason::Truncated => f.write_str("data ends inside a tag or a length"),
            TlvReason::TagTooLong => write!(f, "tag longer than {} bytes", Tag::MAX_LEN),
            TlvReason::IndefiniteLength => f.write_str("indefinite length (80) not allowed"),
            TlvReason::LengthForm { bytes } => {
                write!(f, "length of {bytes} length bytes (at most 4)")
            }
            TlvReason::Overrun { length, remaining } => {
                write!(f, "length {length} exceeds the {remaining} bytes left")
            }
            TlvReason::TrailingBytes { count } => {
                write!(f, "{count} zero bytes after the last element")
            }
            TlvReason::ValueTooLong => f.write_str("value too long for a BER length"),
        }
    }
}

impl fmt::Display for TlvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BER-TLV error")?;
        if let Some(n) = self.field {
            write!(f, " in field {n}")?;
        }
        match self.tag {
            Some(tag) => write!(f, " at tag {tag}")?,
            None => f.write_str(" at a tag")?,
        }
        write!(f, " (offset {}): {}", self.offset, self.reason)
    }
}

/// Read one tag from the front of `data`: the tag and its byte count.
fn read_tag(data: &[u8]) -> Result<(Tag, usize), TlvReason> {
    let (&first, _) = data.split_first().ok_or(TlvReason::Truncated)?;
    let mut value = u32::from(first);
    if first & 0x1F != 0x1F {
        return Ok((Tag(value), 1));
    }
    let mut used = 1;
    loop {
        let &b = data.get(used).ok_or(TlvReason::Truncated)?;
        used += 1;
        if used > Tag::MAX_LEN {
            return Err(TlvReason::TagTooLong);
        }
        value = value << 8 | u32::from(b);
        if b & 0x80 == 0 {
            return Ok((Tag(value), used));
        }
    }
}

/// Read one length from the front of `data`: the length and its byte count.
fn read_length(data: &[u8]) -> Result<(u32, usize), TlvReason> {
    let (&first, rest) = data.split_first().ok_or(TlvReason::Truncated)?;
    let count = match first {
        0..=0x7F => return Ok((u32::from(first), 1)),
        0x80 => return Err(TlvReason::IndefiniteLength),
        0x81..=0x84 => usize::from(first & 0x7F),
        _ => {
            return Err(TlvReason::LengthForm {
                bytes: first & 0x7F,
            })
        }
    };
    let bytes = rest.get(..count).ok_or(TlvReason::Truncated)?;
    let length = bytes.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b));
    Ok((length, 1 + count))
}

/// The elements of `data` in order, read as they are asked for; after an error
/// nothing more. Allocates nothing.
#[derive(Clone)]
pub struct Elements<'a> {
    data: &'a [u8],
    at: usize,
    last: Option<Tag>,
}

/// Iterate over the elements of `data` (see [`Elements`]).
pub fn elements(data: &[u8]) -> Elements<'_> {
    Elements {
        data,
        at: 0,
        last: None,
    }
}

impl<'a> Elements<'a> {
    fn element(&mut self) -> Result<Element<'a>, TlvError> {
        let start = self.at;
        let rest = self.data.get(start..).unwrap_or(&[]);
        if rest[0] == 0 {
            let count = u32::try_from(rest.len()).unwrap_or(u32::MAX);
            return Err(TlvError::new(
                self.last,
                start,
                TlvReason::TrailingBytes { count },
            ));
        }
        let (tag, tag_len) = read_tag(rest).map_err(|r| TlvError::new(None, start, r))?;
        let fail = |reason| TlvError::new(Some(tag), start, reason);
        let after_tag = &rest[tag_len..];
        let (length, length_len) = read_length(after_tag).map_err(fail)?;
        let after_length = &after_tag[length_len..];
        let value = usize::try_from(length)
            .ok()
            .and_then(|len| after_length.get(..len))
            .ok_or_else(|| {
                fail(TlvReason::Overrun {
                    length,
                    remaining: u32::try_from(after_length.len()).unwrap_or(u32::MAX),
                })
            })?;
        self.at = start + tag_len + length_len + value.len();
        self.last = Some(tag);
        Ok(Element { tag, value })
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<Element<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.data.len() {
            return None;
        }
        let item = self.element();
        if item.is_err() {
            self.at = self.data.len();
        }
        Some(item)
    }
}

/// Every element of `data`, in order, or the first fault.
pub fn decode(data: &[u8]) -> Result<Vec<Element<'_>>, TlvError> {
    elements(data).collect()
}

/// Check that `data` is a well-formed list of elements; returns their count.
pub fn validate(data: &[u8]) -> Result<usize, TlvError> {
    elements(data).try_fold(0, |count, e| e.map(|_| count + 1))
}

/// Append one element to `out`: the tag's bytes, the shortest length form, the
/// value.
pub fn encode_element(tag: Tag, value: &[u8], out: &mut Vec<u8>) -> Result<(), TlvError> {
    let (bytes, len) = tag.to_bytes();
    let length = u32::try_from(value.len())
        .map_err(|_| TlvError::new(Some(tag), out.len(), TlvReason::ValueTooLong))?;
    out.extend_from_slice(&bytes[..len]);
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let be = length.to_be_bytes();
        let skip = be.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
    out.extend_from_slice(value);
    Ok(())
}

/// Append the elements to `out` in the order given (see [`encode_element`]).
pub fn encode<'v>(
    elements: impl IntoIterator<Item = Element<'v>>,
    out: &mut Vec<u8>,
) -> Result<(), TlvError> {
    elements
        .into_iter()
        .try_for_each(|e| encode_element(e.tag, e.value, out))
}

/// A field's BER-TLV elements, checked whole when read: an ordered list of
/// (tag, value) borrowed from the message where its wire form is raw bytes.
#[derive(Clone)]
pub struct TlvList<'a> {
    data: Cow<'a, [u8]>,
    count: usize,
}

// Debug shows values as [`crate::icc`] masks them: field 55 carries the PAN
// (5A) and track 2 (57), and a derived Debug would print them in full.
impl fmt::Debug for Element<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Element")
            .field("tag", &self.tag)
            .field(
                "value",
                &format_args!("{}", crate::icc::masked_value(self.tag, self.value)),
            )
            .finish()
    }
}

impl fmt::Debug for TlvList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = crate::icc::masked_list(&self.data)
            .unwrap_or_else(|| format!("[{} bytes masked]", self.data.len()));
        write!(f, "TlvList({shown})")
    }
}

impl<'a> TlvList<'a> {
    pub(crate) fn read(data: Cow<'a, [u8]>) -> Result<TlvList<'a>, TlvError> {
        let count = validate(&data)?;
        Ok(TlvList { data, count })
    }

    /// The elements in order.
    pub fn iter(&self) -> impl Iterator<Item = Element<'_>> + '_ {
        // Checked in `read`: every element is well-formed.
        elements(&self.data).filter_map(Result::ok)
    }

    /// The value of the first element with `tag`.
    pub fn get(&self, tag: Tag) -> Option<&[u8]> {
        self.iter().find(|e| e.tag == tag).map(|e| e.value)
    }

    /// How many elements.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded elements, as they are in the field.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn tags(data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, TlvError> {
        decode(data).map(|v| {
            v.into_iter()
                .map(|e| (e.tag.to_string(), e.value.to_vec()))
                .collect()
        })
    }

    fn reason(data: &[u8]) -> (Option<String>, u32, TlvReason) {
        let e = decode(data).unwrap_err();
        (e.tag.map(|t| t.to_string()), e.offset, e.reason)
    }

    #[test]
    fn short_long_and_multibyte() {
        // 9F26 (two-byte tag), 5A with a one-byte long length, DF8101 (three-byte
        // tag) with a two-byte long length, 70 (constructed) holding 57.
        let data = [
            0x9F, 0x26, 0x02, 0xAB, 0xCD, //
            0x5A, 0x81, 0x01, 0x12, //
            0xDF, 0x81, 0x01, 0x82, 0x00, 0x01, 0xAA, //
            0x70, 0x03, 0x57, 0x01, 0x99,
        ];
        assert_eq!(
            tags(&data).unwrap(),
            vec![
                ("9F26".into(), vec![0xAB, 0xCD]),
                ("5A".into(), vec![0x12]),
                ("DF8101".into(), vec![0xAA]),
                ("70".into(), vec![0x57, 0x01, 0x99]),
            ]
        );
        assert_eq!(validate(&data), Ok(4));
        assert!(Tag::parse_hex("70").unwrap().is_constructed());
        assert!(!Tag::parse_hex("9f26").unwrap().is_constructed());
        // An empty list is a list.
        assert_eq!(tags(&[]).unwrap(), vec![]);
    }

    #[test]
    fn every_malformed_shape_is_a_typed_error() {
        let t = |s: &str| Some(s.to_string());
        // A two-byte tag cut after its first byte; a tag with no length.
        assert_eq!(reason(&[0x9F]), (None, 0, TlvReason::Truncated));
        assert_eq!(
            reason(&[0x5A, 0x01, 0x00, 0x9F, 0x36]),
            (t("9F36"), 3, TlvReason::Truncated)
        );
        // A long length cut short.
        assert_eq!(
            reason(&[0x5A, 0x82, 0x01]),
            (t("5A"), 0, TlvReason::Truncated)
        );
        // A length that claims more than remains, in short and long form.
        assert_eq!(
            reason(&[0x9F, 0x26, 0x08, 0x01]),
            (
                t("9F26"),
                0,
                TlvReason::Overrun {
                    length: 8,
                    remaining: 1
                }
            )
        );
        assert_eq!(
            reason(&[0x57, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            (
                t("57"),
                0,
                TlvReason::Overrun {
                    length: u32::MAX,
                    remaining: 1
                }
            )
        );
        // A length of 2^63: eight length bytes, refused before it is read.
        let mut huge = vec![0x5A, 0x88, 0x80];
        huge.extend_from_slice(&[0; 7]);
        assert_eq!(
            reason(&huge),
            (t("5A"), 0, TlvReason::LengthForm { bytes: 8 })
        );
        // The indefinite form.
        assert_eq!(
            reason(&[0x70, 0x80, 0x5A, 0x00, 0x00, 0x00]),
            (t("70"), 0, TlvReason::IndefiniteLength)
        );
        // A five-byte tag.
        assert_eq!(
            reason(&[0xDF, 0x81, 0x81, 0x81, 0x01, 0x00]),
            (None, 0, TlvReason::TagTooLong)
        );
        // Zero padding after the last element names the tag it follows.
        assert_eq!(
            reason(&[0x9F, 0x27, 0x01, 0x80, 0x00, 0x00]),
            (t("9F27"), 4, TlvReason::TrailingBytes { count: 2 })
        );
        let shown = decode(&[0x9F, 0x26, 0x08, 0x01])
            .unwrap_err()
            .in_field(55)
            .to_string();
        assert_eq!(
            shown,
            "BER-TLV error in field 55 at tag 9F26 (offset 0): length 8 exceeds the 1 bytes left"
        );
    }

    #[test]
    fn encodes_the_shortest_length_and_round_trips() {
        let big = vec![0x11; 0x1_0000];
        let items = [
            Element {
                tag: Tag::parse_hex("9F36").unwrap(),
                value: &[0x00, 0x07],
            },
            Element {
                tag: Tag::parse_hex("5A").unwrap(),
                value: &[0x22; 0x90],
            },
            Element {
                tag: Tag::parse_hex("DF8101").unwrap(),
                value: &big,
            },
        ];
        let mut out = Vec::new();
        encode(items, &mut out).unwrap();
        assert_eq!(&out[..5], &[0x9F, 0x36, 0x02, 0x00, 0x07]);
        assert_eq!(&out[5..8], &[0x5A, 0x81, 0x90]);
        let third = 5 + 3 + 0x90;
        assert_eq!(
            &out[third..third + 7],
            &[0xDF, 0x81, 0x01, 0x83, 0x01, 0x00, 0x00]
        );
        assert_eq!(decode(&out).unwrap(), items.to_vec());
    }

    #[test]
    fn tags_from_hex_are_whole_ber_tags() {
        assert_eq!(Tag::parse_hex("9F26").map(Tag::value), Some(0x9F26));
        assert_eq!(Tag::parse_hex("df8101").map(Tag::value), Some(0xDF8101));
        for bad in ["", "9F", "5A5A", "9F2601", "DF818181", "0", "ZZ", "00"] {
            assert_eq!(Tag::parse_hex(bad), None, "{bad}");
        }
    }

    #[test]
    fn debug_masks_card_data() {
        // 5A (PAN) and 57 (track 2) must not appear in full in Debug output.
        let data = [
            0x5A, 0x08, 0x94, 0x08, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34, //
            0x57, 0x0A, 0x94, 0x08, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0xD2, 0x91,
        ];
        let list = TlvList::read(Cow::Borrowed(&data[..])).expect("well-formed");
        let shown = format!("{list:?} {:?}", decode(&data).expect("well-formed"));
        for full in ["9408123456781234", "148, 8, 18, 52", "[148, 8"] {
            assert!(!shown.contains(full), "{shown}");
        }
        assert!(shown.contains("940812******1234"), "{shown}");
    }
}
