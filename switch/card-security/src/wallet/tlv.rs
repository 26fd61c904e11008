//! Strict BER-TLV (EMV Book 3, annex B) over a borrowed slice: the reader
//! yields `(tag, value)` pairs without allocating and stops at the first
//! fault. Tags of up to three bytes; lengths in short form or with one or two
//! length bytes (no element here comes near 64 KiB, so longer forms and the
//! indefinite form are refused before any arithmetic on them); every value
//! must lie inside the data it was read from.

use super::error::{QrError, Tag};

/// One element: its tag and its value (a nested template's bytes unparsed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Element<'a> {
    /// The tag.
    pub tag: Tag,
    /// The value bytes.
    pub value: &'a [u8],
}

/// Iterator over the elements of `data`; after an error it yields nothing more.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Read the elements of `data`.
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { rest: data }
    }

    fn element(&mut self) -> Result<Element<'a>, QrError> {
        let (tag, after_tag) = read_tag(self.rest)?;
        let (len, value_and_rest) = read_length(after_tag, tag)?;
        if len > value_and_rest.len() {
            return Err(QrError::Overrun(tag));
        }
        let (value, rest) = value_and_rest.split_at(len);
        self.rest = rest;
        Ok(Element { tag, value })
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Element<'a>, QrError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let item = self.element();
        if item.is_err() {
            self.rest = &[];
        }
        Some(item)
    }
}

/// A tag: one byte, or when its low five bits are all set, the bytes that follow
/// while their high bit says another follows (at most three bytes in all).
fn read_tag(data: &[u8]) -> Result<(Tag, &[u8]), QrError> {
    let (&first, mut rest) = data.split_first().ok_or(QrError::Truncated)?;
    let mut tag = u32::from(first);
    if first & 0x1F == 0x1F {
        let mut more = 0;
        loop {
            let (&b, after) = rest.split_first().ok_or(QrError::Truncated)?;
            rest = after;
            more += 1;
            if more > 2 {
                return Err(QrError::TagTooLong);
            }
            tag = tag << 8 | u32::from(b);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    Ok((Tag(tag), rest))
}

/// A length: short form (< 0x80), or 0x81/0x82 followed by one or two bytes.
fn read_length(data: &[u8], tag: Tag) -> Result<(usize, &[u8]), QrError> {
    let (&first, rest) = data.split_first().ok_or(QrError::Truncated)?;
    let bytes = match first {
        0..=0x7F => return Ok((usize::from(first), rest)),
        0x81 => 1,
        0x82 => 2,
        _ => return Err(QrError::LengthForm(tag)),
    };
    if rest.len() < bytes {
        return Err(QrError::Truncated);
    }
    let (len_bytes, rest) = rest.split_at(bytes);
    let len = len_bytes
        .iter()
        .fold(0usize, |acc, &b| acc << 8 | usize::from(b));
    Ok((len, rest))
}

/// Append one element to `out` (tag bytes as given, minimal length form).
pub fn write(out: &mut Vec<u8>, tag: Tag, value: &[u8]) {
    let tag_bytes = tag.0.to_be_bytes();
    let skip = tag_bytes.iter().take_while(|&&b| b == 0).count().min(3);
    out.extend_from_slice(&tag_bytes[skip..]);
    match value.len() {
        len @ 0..=0x7F => out.push(len as u8),
        len @ 0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        len => {
            // Callers write small elements; a value over 64 KiB is cut to keep the
            // length honest rather than wrap it.
            let len = len.min(0xFFFF);
            out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
            out.extend_from_slice(&value[..len]);
            return;
        }
    }
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn all(data: &[u8]) -> Result<Vec<(u32, Vec<u8>)>, QrError> {
        Reader::new(data)
            .map(|e| e.map(|e| (e.tag.0, e.value.to_vec())))
            .collect()
    }

    #[test]
    fn reads_short_long_and_multibyte_tags() {
        let mut data = vec![0x9F, 0x36, 0x02, 0x00, 0x07, 0x5A, 0x81, 0x01, 0x12];
        data.extend_from_slice(&[0xDF, 0x81, 0x01, 0x82, 0x00, 0x01, 0xAA]);
        assert_eq!(
            all(&data).unwrap(),
            vec![
                (0x9F36, vec![0x00, 0x07]),
                (0x5A, vec![0x12]),
                (0xDF8101, vec![0xAA]),
            ]
        );
    }

    #[test]
    fn refuses_every_malformed_shape() {
        // Cut inside a tag, inside a length, inside a value.
        assert_eq!(all(&[0x9F]), Err(QrError::Truncated));
        assert_eq!(all(&[0x9F, 0x36]), Err(QrError::Truncated));
        assert_eq!(all(&[0x5A, 0x82, 0x00]), Err(QrError::Truncated));
        assert_eq!(all(&[0x5A, 0x03, 0x01]), Err(QrError::Overrun(Tag(0x5A))));
        // A length past the data, in long form.
        assert_eq!(
            all(&[0x5A, 0x82, 0xFF, 0xFF, 0x01]),
            Err(QrError::Overrun(Tag(0x5A)))
        );
        // A length of 2^63 (eight length bytes) and the indefinite form.
        let mut huge = vec![0x5A, 0x88, 0x80];
        huge.extend_from_slice(&[0; 7]);
        assert_eq!(all(&huge), Err(QrError::LengthForm(Tag(0x5A))));
        assert_eq!(
            all(&[0x61, 0x80, 0x00, 0x00]),
            Err(QrError::LengthForm(Tag(0x61)))
        );
        // A four-byte tag.
        assert_eq!(
            all(&[0xDF, 0x81, 0x81, 0x01, 0x00]),
            Err(QrError::TagTooLong)
        );
    }

    #[test]
    fn writes_minimal_lengths() {
        let mut out = Vec::new();
        write(&mut out, Tag::ATC, &[0, 1]);
        write(&mut out, Tag(0x5A), &[0u8; 0x90]);
        assert_eq!(&out[..5], &[0x9F, 0x36, 0x02, 0, 1]);
        assert_eq!(&out[5..8], &[0x5A, 0x81, 0x90]);
        assert_eq!(all(&out).unwrap().len(), 2);
    }
}
