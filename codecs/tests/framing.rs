//! Framing vectors: each length header form, TPDU pass-through, keep-alives,
//! partial reads, and refusal of oversized or malformed headers before buffering.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use bytes::{Bytes, BytesMut};
use codecs::framing::{Frame, FrameCodec, FramingError, LengthHeader, DEFAULT_MAX_FRAME};
use tokio_util::codec::{Decoder, Encoder};

fn message(body: &'static [u8]) -> Frame {
    Frame::Message {
        tpdu: None,
        body: Bytes::from_static(body),
    }
}

/// Feed `wire` one byte at a time; collect every frame.
fn decode_bytewise(codec: &mut FrameCodec, wire: &[u8]) -> Vec<Frame> {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for &b in wire {
        buf.extend_from_slice(&[b]);
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            frames.push(f);
        }
    }
    assert!(buf.is_empty());
    frames
}

#[test]
fn each_header_form_round_trips() {
    let cases: [(LengthHeader, &[u8]); 3] = [
        (
            LengthHeader::Binary2,
            &[0x00, 0x03, b'a', b'b', b'c', 0x00, 0x00],
        ),
        (LengthHeader::Ascii4, b"0003abc0000"),
        (
            LengthHeader::Bcd2,
            &[0x00, 0x03, b'a', b'b', b'c', 0x00, 0x00],
        ),
    ];
    for (header, wire) in cases {
        let mut codec = FrameCodec::new(header, false, DEFAULT_MAX_FRAME);
        let frames = decode_bytewise(&mut codec, wire);
        assert_eq!(
            frames,
            vec![message(b"abc"), Frame::KeepAlive],
            "{header:?}"
        );
        let mut out = BytesMut::new();
        for f in frames {
            codec.encode(f, &mut out).unwrap();
        }
        assert_eq!(&out[..], wire, "{header:?}");
    }
}

#[test]
fn bcd_and_ascii_lengths_are_decimal() {
    let mut body = vec![0u8; 1234];
    body[0] = 1;
    let mut wire = vec![0x12, 0x34];
    wire.extend_from_slice(&body);
    let mut codec = FrameCodec::new(LengthHeader::Bcd2, false, DEFAULT_MAX_FRAME);
    let frame = codec
        .decode(&mut BytesMut::from(&wire[..]))
        .unwrap()
        .unwrap();
    assert!(matches!(frame, Frame::Message { body: b, .. } if b.len() == 1234));
    let mut wire = b"1234".to_vec();
    wire.extend_from_slice(&body);
    let mut codec = FrameCodec::new(LengthHeader::Ascii4, false, DEFAULT_MAX_FRAME);
    let frame = codec
        .decode(&mut BytesMut::from(&wire[..]))
        .unwrap()
        .unwrap();
    assert!(matches!(frame, Frame::Message { body: b, .. } if b.len() == 1234));
}

#[test]
fn tpdu_is_passed_through() {
    let wire = [0x00, 0x08, 0x60, 0x00, 0x01, 0x00, 0x00, b'a', b'b', b'c'];
    let mut codec = FrameCodec::new(LengthHeader::Binary2, true, DEFAULT_MAX_FRAME);
    let frames = decode_bytewise(&mut codec, &wire);
    let expected = Frame::Message {
        tpdu: Some([0x60, 0x00, 0x01, 0x00, 0x00]),
        body: Bytes::from_static(b"abc"),
    };
    assert_eq!(frames, vec![expected.clone()]);
    let mut out = BytesMut::new();
    codec.encode(expected, &mut out).unwrap();
    assert_eq!(&out[..], &wire[..]);
    let mut short = BytesMut::from(&[0x00, 0x03, 1, 2, 3][..]);
    assert!(matches!(
        codec.decode(&mut short),
        Err(FramingError::MissingTpdu(3))
    ));
}

#[test]
fn oversized_headers_are_refused_before_the_body_arrives() {
    for (header, wire) in [
        (LengthHeader::Binary2, &[0x20, 0x01][..]),
        (LengthHeader::Ascii4, b"8193"),
        (LengthHeader::Bcd2, &[0x81, 0x93]),
    ] {
        let mut codec = FrameCodec::new(header, false, DEFAULT_MAX_FRAME);
        let mut buf = BytesMut::from(wire);
        match codec.decode(&mut buf) {
            Err(FramingError::TooLarge {
                length: 8193,
                max: 8192,
            }) => {}
            other => panic!("{header:?}: {other:?}"),
        }
        assert!(buf.capacity() < 4096, "{header:?} buffered the body");
    }
    let mut codec = FrameCodec::new(LengthHeader::Binary2, false, 100);
    let err = codec.encode(
        Frame::Message {
            tpdu: None,
            body: Bytes::from(vec![0; 101]),
        },
        &mut BytesMut::new(),
    );
    assert!(matches!(
        err,
        Err(FramingError::TooLarge {
            length: 101,
            max: 100
        })
    ));
}

#[test]
fn malformed_decimal_headers_are_errors() {
    let mut codec = FrameCodec::new(LengthHeader::Ascii4, false, DEFAULT_MAX_FRAME);
    assert!(matches!(
        codec.decode(&mut BytesMut::from(&b"00a3abc"[..])),
        Err(FramingError::BadHeader)
    ));
    let mut codec = FrameCodec::new(LengthHeader::Bcd2, false, DEFAULT_MAX_FRAME);
    assert!(matches!(
        codec.decode(&mut BytesMut::from(&[0x00, 0x3A][..])),
        Err(FramingError::BadHeader)
    ));
}

#[tokio::test]
async fn frames_over_a_stream() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_util::codec::{FramedRead, FramedWrite};
    let (client, server) = tokio::io::duplex(64);
    let mut writer = FramedWrite::new(
        client,
        FrameCodec::new(LengthHeader::Ascii4, false, DEFAULT_MAX_FRAME),
    );
    let mut reader = FramedRead::new(
        server,
        FrameCodec::new(LengthHeader::Ascii4, false, DEFAULT_MAX_FRAME),
    );
    let big: &'static [u8] = Box::leak(vec![b'x'; 500].into_boxed_slice());
    tokio::spawn(async move {
        for f in [message(b"one"), Frame::KeepAlive, message(big)] {
            writer.send(f).await.unwrap();
        }
    });
    assert_eq!(reader.next().await.unwrap().unwrap(), message(b"one"));
    assert_eq!(reader.next().await.unwrap().unwrap(), Frame::KeepAlive);
    assert_eq!(reader.next().await.unwrap().unwrap(), message(big));
    assert!(reader.next().await.is_none());
}

#[test]
fn end_of_stream_mid_frame_is_named() {
    for header in [
        LengthHeader::Binary2,
        LengthHeader::Ascii4,
        LengthHeader::Bcd2,
    ] {
        let mut codec = FrameCodec::new(header, false, DEFAULT_MAX_FRAME);
        let mut buf = BytesMut::new();
        codec
            .encode(
                Frame::Message {
                    tpdu: None,
                    body: Bytes::from_static(b"0800abc"),
                },
                &mut buf,
            )
            .unwrap();
        // A whole frame at the end is still delivered; a clean end is None.
        let mut whole = buf.clone();
        assert!(matches!(codec.decode_eof(&mut whole), Ok(Some(_))));
        assert!(matches!(codec.decode_eof(&mut whole), Ok(None)));
        // Half of one is an error naming what was left.
        let mut half = buf.split_to(buf.len() - 3);
        let left = half.len();
        match codec.decode_eof(&mut half) {
            // (binary2 has already taken its 2-byte header off the buffer)
            Err(FramingError::Truncated(n)) => assert!(n > 0 && n <= left, "{header:?}: {n}"),
            other => panic!("{header:?}: {other:?}"),
        }
    }
}
