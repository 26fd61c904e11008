//! Length-prefixed framing of messages on a byte stream (tokio-util codecs).
//!
//! This is the one module of the crate that deals with streams. A frame is a
//! length header (2-byte binary big-endian, 4 ASCII digits or 2 BCD bytes), an
//! optional 5-byte TPDU passed through untouched, and the message. The length covers
//! the TPDU and the message. The maximum frame size is enforced from the header,
//! before any of the body is buffered; a zero-length frame is a keep-alive.

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// The default maximum frame size (TPDU plus message), in bytes.
pub const DEFAULT_MAX_FRAME: usize = 8 * 1024;

/// Length of a TPDU header.
pub const TPDU_LEN: usize = 5;

/// How the length in front of each frame is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LengthHeader {
    /// Two bytes, unsigned big-endian (`binary2`).
    Binary2,
    /// Four ASCII decimal digits (`ascii4`).
    Ascii4,
    /// Two bytes of packed BCD, four digits (`bcd2`).
    Bcd2,
}

impl LengthHeader {
    /// Parse the command-line / configuration name.
    pub fn from_name(name: &str) -> Option<LengthHeader> {
        match name {
            "binary2" => Some(LengthHeader::Binary2),
            "ascii4" => Some(LengthHeader::Ascii4),
            "bcd2" => Some(LengthHeader::Bcd2),
            _ => None,
        }
    }

    /// Bytes of header.
    pub fn width(self) -> usize {
        match self {
            LengthHeader::Ascii4 => 4,
            LengthHeader::Binary2 | LengthHeader::Bcd2 => 2,
        }
    }

    /// The largest length the header can express.
    pub fn capacity(self) -> usize {
        match self {
            LengthHeader::Binary2 => 0xFFFF,
            LengthHeader::Ascii4 | LengthHeader::Bcd2 => 9999,
        }
    }
}

/// One unit read from or written to a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A zero-length frame: the peer is alive, there is nothing to process.
    KeepAlive,
    /// A message, with the TPDU if the link uses one.
    Message {
        /// The TPDU header, passed through untouched.
        tpdu: Option<[u8; TPDU_LEN]>,
        /// The encoded message, a zero-copy slice of the read buffer.
        body: Bytes,
    },
}

/// Framing failures; every one of them ends the connection.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    /// The header announces more than the maximum frame size.
    #[error("frame of {length} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Announced length.
        length: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The length header is not a number in its encoding.
    #[error("invalid length header")]
    BadHeader,
    /// The peer closed the stream with part of a frame unread.
    #[error("peer closed in the middle of a frame ({0} bytes unread)")]
    Truncated(usize),
    /// A non-empty frame too short to hold the TPDU.
    #[error("frame of {0} bytes is too short for its TPDU")]
    MissingTpdu(usize),
    /// The stream failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A tokio-util `Decoder`/`Encoder` for one link's framing.
#[derive(Debug)]
pub struct FrameCodec {
    header: LengthHeader,
    tpdu: bool,
    max_frame: usize,
    /// Used for `binary2`, which tokio-util's length-delimited codec expresses exactly.
    binary: Option<LengthDelimitedCodec>,
}

impl FrameCodec {
    /// A codec for `header` framing; `tpdu` when a 5-byte TPDU follows the header;
    /// frames longer than `max_frame` (capped to what the header can express) are refused.
    pub fn new(header: LengthHeader, tpdu: bool, max_frame: usize) -> FrameCodec {
        let max_frame = max_frame.min(header.capacity());
        let binary = (header == LengthHeader::Binary2).then(|| {
            LengthDelimitedCodec::builder()
                .length_field_length(2)
                .big_endian()
                .max_frame_length(max_frame)
                .new_codec()
        });
        FrameCodec {
            header,
            tpdu,
            max_frame,
            binary,
        }
    }

    /// The maximum frame size in force.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    fn parse_header(&self, raw: &[u8]) -> Result<usize, FramingError> {
        match self.header {
            LengthHeader::Binary2 => Ok(usize::from(u16::from_be_bytes([raw[0], raw[1]]))),
            LengthHeader::Ascii4 => raw.iter().try_fold(0usize, |acc, &c| {
                if c.is_ascii_digit() {
                    Ok(acc * 10 + usize::from(c - b'0'))
                } else {
                    Err(FramingError::BadHeader)
                }
            }),
            LengthHeader::Bcd2 => raw.iter().try_fold(0usize, |acc, &b| {
                let (hi, lo) = (b >> 4, b & 0x0F);
                if hi > 9 || lo > 9 {
                    return Err(FramingError::BadHeader);
                }
                Ok(acc * 100 + usize::from(hi * 10 + lo))
            }),
        }
    }

    fn frame_from_body(&self, mut body: BytesMut) -> Result<Frame, FramingError> {
        if body.is_empty() {
            return Ok(Frame::KeepAlive);
        }
        let tpdu = if self.tpdu {
            if body.len() < TPDU_LEN {
                return Err(FramingError::MissingTpdu(body.len()));
            }
            let mut t = [0u8; TPDU_LEN];
            body.copy_to_slice(&mut t);
            Some(t)
        } else {
            None
        };
        Ok(Frame::Message {
            tpdu,
            body: body.freeze(),
        })
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FramingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FramingError> {
        if let Some(binary) = self.binary.as_mut() {
            return match binary.decode(src) {
                Ok(Some(body)) => self.frame_from_body(body).map(Some),
                Ok(None) => Ok(None),
                // tokio-util reports an oversized header as InvalidData; name it.
                Err(e) if e.kind() == io::ErrorKind::InvalidData && src.len() >= 2 => {
                    let length = usize::from(u16::from_be_bytes([src[0], src[1]]));
                    Err(FramingError::TooLarge {
                        length,
                        max: self.max_frame,
                    })
                }
                Err(e) => Err(e.into()),
            };
        }
        let width = self.header.width();
        if src.len() < width {
            return Ok(None);
        }
        let length = self.parse_header(&src[..width])?;
        if length > self.max_frame {
            return Err(FramingError::TooLarge {
                length,
                max: self.max_frame,
            });
        }
        if src.len() < width + length {
            src.reserve(width + length - src.len());
            return Ok(None);
        }
        src.advance(width);
        let body = src.split_to(length);
        self.frame_from_body(body).map(Some)
    }

    /// At the end of the stream: the last whole frame, or an error naming the
    /// leftover bytes of a half-sent one.
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FramingError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FramingError::Truncated(src.len())),
        }
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FramingError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FramingError> {
        let (tpdu, body) = match &frame {
            Frame::KeepAlive => (None, &[][..]),
            Frame::Message { tpdu, body } => (tpdu.as_ref(), &body[..]),
        };
        let tpdu_len = match (self.tpdu, tpdu, &frame) {
            (_, _, Frame::KeepAlive) => 0,
            (true, Some(_), _) => TPDU_LEN,
            (true, None, _) => TPDU_LEN, // a link with TPDUs always carries one: zeros
            (false, _, _) => 0,
        };
        let length = tpdu_len + body.len();
        if length > self.max_frame {
            return Err(FramingError::TooLarge {
                length,
                max: self.max_frame,
            });
        }
        dst.reserve(self.header.width() + length);
        match self.header {
            LengthHeader::Binary2 => dst.put_u16(length as u16),
            LengthHeader::Ascii4 => {
                let digits = [1000, 100, 10, 1].map(|d| b'0' + (length / d % 10) as u8);
                dst.put_slice(&digits);
            }
            LengthHeader::Bcd2 => {
                let d = [1000, 100, 10, 1].map(|d| (length / d % 10) as u8);
                dst.put_u8(d[0] << 4 | d[1]);
                dst.put_u8(d[2] << 4 | d[3]);
            }
        }
        if tpdu_len > 0 {
            dst.put_slice(tpdu.map_or(&[0u8; TPDU_LEN][..], |t| &t[..]));
        }
        dst.put_slice(body);
        Ok(())
    }
}
