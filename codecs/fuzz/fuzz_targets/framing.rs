//! Fuzz target `framing`: `codecs::framing::FrameCodec` as a tokio-util `Decoder`
//! on a stream that arrives in arbitrary chunks.
//!
//! Input (see `codecs_fuzz::FramingInput`): byte 0 picks the length header
//! (`binary2`, `ascii4`, `bcd2`) and whether a TPDU follows (modulo 6), bytes 1-2
//! the maximum frame size, byte 3 the chunking, the rest is the stream.
//!
//! Checked: no panic; no frame larger than the codec's maximum (which never
//! exceeds the one asked for or the header's capacity); a TPDU exactly when the
//! link has them; the same frames, error and leftover whether the stream arrives
//! whole or in chunks; and re-encoding the frames gives back the stream's bytes.
#![no_main]

use bytes::BytesMut;
use codecs::framing::{Frame, FrameCodec, TPDU_LEN};
use codecs_fuzz::FramingInput;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

/// What one pass over the stream produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    frames: Vec<Frame>,
    /// The error that ended the connection, rendered.
    error: Option<String>,
    /// Bytes left in the buffer at end of stream (when no error ended it).
    leftover: usize,
}

fn check_frame(input: &FramingInput<'_>, max: usize, frame: &Frame) {
    if let Frame::Message { tpdu, body } = frame {
        assert_eq!(
            tpdu.is_some(),
            input.tpdu,
            "TPDU presence differs from the link"
        );
        let size = body.len() + if tpdu.is_some() { TPDU_LEN } else { 0 };
        assert!(
            size <= max,
            "frame of {size} bytes exceeds the maximum of {max}"
        );
        assert!(size > 0, "an empty frame must be a keep-alive");
    }
}

fn run(input: &FramingInput<'_>, chunks: &[&[u8]]) -> Outcome {
    let mut codec = FrameCodec::new(input.header, input.tpdu, input.max_frame);
    let max = codec.max_frame();
    assert!(max <= input.max_frame && max <= input.header.capacity());
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    check_frame(input, max, &frame);
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(e) => {
                    return Outcome {
                        frames,
                        error: Some(e.to_string()),
                        leftover: 0,
                    }
                }
            }
        }
    }
    let leftover = buf.len();
    // End of stream: every complete frame is already out, so this yields nothing
    // or reports the bytes left over.
    match codec.decode_eof(&mut buf) {
        Ok(None) => assert_eq!(leftover, 0, "decode_eof accepted leftover bytes"),
        Ok(Some(frame)) => panic!("decode_eof produced a frame decode did not: {frame:?}"),
        Err(_) => assert!(leftover > 0, "decode_eof failed on an empty buffer"),
    }
    Outcome {
        frames,
        error: None,
        leftover,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = FramingInput::parse(data) else {
        return;
    };
    let whole = run(&input, &[input.stream]);
    let chunked = run(&input, &input.chunks());
    assert_eq!(
        whole, chunked,
        "result depends on how the stream was chunked"
    );

    // The frames re-encode to the bytes they came from.
    let mut codec = FrameCodec::new(input.header, input.tpdu, input.max_frame);
    let mut encoded = BytesMut::new();
    for frame in whole.frames {
        if let Err(e) = codec.encode(frame, &mut encoded) {
            panic!("a decoded frame does not encode: {e}");
        }
    }
    assert!(
        input.stream.starts_with(&encoded),
        "re-encoded frames differ from the stream"
    );
    assert!(encoded.len() + whole.leftover <= input.stream.len());
    if whole.error.is_none() && input.header != codecs::framing::LengthHeader::Binary2 {
        // ascii4 and bcd2 consume nothing of an incomplete frame.
        assert_eq!(encoded.len() + whole.leftover, input.stream.len());
    }
});
