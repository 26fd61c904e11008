//! Regenerate the committed seed corpus under `codecs/fuzz/corpus/`.
//!
//! Run from anywhere (stable Rust is enough):
//!
//! ```text
//! cargo run --manifest-path codecs/fuzz/Cargo.toml --example make-seeds
//! ```
//!
//! Every `seed-*` file in `corpus/decode`, `corpus/roundtrip`, `corpus/framing`
//! and `corpus/tlv` is deleted and written anew from `codecs_fuzz::seed_messages()`
//! (`seed_messages_1993()` under `iso93ascii`) and `icc_seeds()`; other corpus
//! files (those libFuzzer adds, ignored by git) are left alone. Each message is
//! encoded under each built-in spec and checked to decode and round-trip before it
//! is written, so a seed is always a valid message.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use codecs::framing::{Frame, FrameCodec, DEFAULT_MAX_FRAME};
use codecs::{Message, Spec};
use codecs_fuzz::{
    icc_seeds, seed_messages, seed_messages_1993, FramingInput, FRAMING_CONFIGS, SPEC_NAMES,
};
use tokio_util::codec::Encoder;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn encode(spec: &Spec, msg: &Message) -> Res<Bytes> {
    let bytes = spec.encode_to_bytes(msg)?;
    // Sanity: the seed decodes and re-encodes to the same bytes.
    let back = spec.decode(bytes.clone())?;
    let again = spec.encode_to_bytes(&back)?;
    if again != bytes {
        return Err(format!("{}: seed does not round-trip", spec.name).into());
    }
    Ok(bytes)
}

/// Delete the old `seed-*` files of one target and return its directory.
fn clean(corpus: &Path, target: &str) -> Res<PathBuf> {
    let dir = corpus.join(target);
    fs::create_dir_all(&dir)?;
    for entry in fs::read_dir(&dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with("seed-") {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(dir)
}

fn write(dir: &Path, name: &str, data: &[u8], count: &mut usize) -> Res<()> {
    fs::write(dir.join(format!("seed-{name}")), data)?;
    *count += 1;
    Ok(())
}

fn main() -> Res<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let messages = seed_messages();
    let mut count = 0;

    // decode and roundtrip: [spec index] + frame.
    for target in ["decode", "roundtrip"] {
        let dir = clean(&corpus, target)?;
        for (index, spec_name) in SPEC_NAMES.iter().enumerate() {
            let spec = Spec::builtin(spec_name)?;
            let version_messages = if spec_name.starts_with("iso93") {
                seed_messages_1993()
            } else {
                seed_messages()
            };
            for (msg_name, msg) in &version_messages {
                let mut input = vec![index as u8];
                input.extend_from_slice(&encode(&spec, msg)?);
                write(&dir, &format!("{spec_name}-{msg_name}"), &input, &mut count)?;
            }
        }
        // A valid but non-canonical frame: lowercase hex bitmaps (the encoder
        // writes uppercase), so encode(decode(x)) != x.
        let spec = Spec::builtin("iso87ascii")?;
        let (_, reversal) = &messages[5];
        let mut frame = encode(&spec, reversal)?.to_vec();
        frame[4..36].make_ascii_lowercase(); // primary and secondary bitmaps
        spec.decode(Bytes::from(frame.clone()))?;
        let mut input = vec![0u8];
        input.extend_from_slice(&frame);
        write(
            &dir,
            "iso87ascii-0420-lowercase-bitmaps",
            &input,
            &mut count,
        )?;
    }

    // framing: preamble + a stream of frames for each length header, with and
    // without TPDU: a keep-alive, an echo, a purchase, a keep-alive; and the same
    // stream under a 64-byte maximum (the purchase is too large).
    let dir = clean(&corpus, "framing")?;
    let ascii = Spec::builtin("iso87ascii")?;
    let binary = Spec::builtin("iso87binary")?;
    let echo = encode(&ascii, &messages[3].1)?;
    let purchase = encode(&binary, &messages[0].1)?;
    let tpdu = [0x60, 0x00, 0x01, 0x00, 0x00];
    for (config, &(header, with_tpdu)) in FRAMING_CONFIGS.iter().enumerate() {
        let name = format!(
            "{}{}",
            format!("{header:?}").to_lowercase(),
            if with_tpdu { "-tpdu" } else { "" }
        );
        let mut codec = FrameCodec::new(header, with_tpdu, DEFAULT_MAX_FRAME);
        let mut stream = BytesMut::new();
        for frame in [
            Frame::KeepAlive,
            Frame::Message {
                tpdu: with_tpdu.then_some(tpdu),
                body: echo.clone(),
            },
            Frame::Message {
                tpdu: with_tpdu.then_some(tpdu),
                body: purchase.clone(),
            },
            Frame::KeepAlive,
        ] {
            codec.encode(frame, &mut stream)?;
        }
        let config = config as u8;
        for (suffix, max, chunk_seed) in [
            ("", DEFAULT_MAX_FRAME as u16, config.wrapping_mul(37) + 1),
            ("-max64", 64, config.wrapping_mul(53) + 7),
        ] {
            let mut input = FramingInput::preamble(config, max, chunk_seed).to_vec();
            input.extend_from_slice(&stream);
            write(&dir, &format!("{name}{suffix}"), &input, &mut count)?;
        }
    }

    // tlv: field 55 values as they are.
    let dir = clean(&corpus, "tlv")?;
    for (name, data) in icc_seeds() {
        write(&dir, name, &data, &mut count)?;
    }

    println!("wrote {count} seed files under {}", corpus.display());
    Ok(())
}
