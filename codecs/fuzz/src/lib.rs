//! Shared support for the codec fuzz targets and the seed generator.
//!
//! The fuzz inputs have small, documented layouts so that seeds can be written by
//! hand or by `examples/make-seeds.rs`:
//!
//! - `decode` and `roundtrip`: byte 0 picks the built-in spec
//!   ([`SPEC_NAMES`]`[byte % 5]`), the rest is one frame (no length header).
//! - `tlv`: the whole input is field 55's value (BER-TLV).
//! - `composite`: byte 0 picks a composite field of `samples/host-composite.toml`
//!   ([`COMPOSITE_FIELDS`]`[byte % 4]`), the rest is its value.
//! - `framing`: byte 0 picks the framing ([`FRAMING_CONFIGS`]`[byte % 6]`), bytes
//!   1-2 are the requested maximum frame size (big-endian), byte 3 seeds the chunk
//!   sizes the stream is fed in, the rest is the byte stream.
//!
//! [`seed_messages`] (1987) and [`seed_messages_1993`] are the valid messages
//! the seed corpus is made of; [`icc_seeds`] the field 55 values of `tlv`'s.

use std::sync::Arc;

use codecs::framing::LengthHeader;
use codecs::{Message, Mti, Spec};

/// The built-in specs, indexed by the first input byte modulo 5.
pub const SPEC_NAMES: [&str; 5] = codecs::spec::builtin::NAMES;

/// Split a `decode`/`roundtrip` input into its spec and frame.
pub fn spec_and_frame(data: &[u8]) -> Option<(Arc<Spec>, &[u8])> {
    let (&selector, frame) = data.split_first()?;
    let name = SPEC_NAMES[usize::from(selector) % SPEC_NAMES.len()];
    // The built-in names always resolve; a failure here is a codec bug worth a crash.
    let spec = Spec::builtin(name).unwrap_or_else(|e| panic!("built-in spec {name}: {e}"));
    Some((spec, frame))
}

/// The composite fields of the `composite` target's spec.
pub const COMPOSITE_FIELDS: [u8; 4] = [3, 43, 48, 127];

/// The `composite` target's spec: the sample host dialect, built in so the
/// target reads no file.
pub fn composite_spec() -> Spec {
    let text = include_str!("../../samples/host-composite.toml");
    // The sample is checked by the codec's tests; a failure here is a bug.
    codecs::spec::file::parse(text, false, "host-composite.toml")
        .unwrap_or_else(|e| panic!("sample spec: {e}"))
}

/// Split a `composite` input into its field and value.
pub fn composite_input(data: &[u8]) -> Option<(u8, &[u8])> {
    let (&selector, value) = data.split_first()?;
    Some((
        COMPOSITE_FIELDS[usize::from(selector) % COMPOSITE_FIELDS.len()],
        value,
    ))
}

/// Every framing the `framing` target covers: each length header, without and
/// with a TPDU. Indexed by the first input byte modulo 6.
pub const FRAMING_CONFIGS: [(LengthHeader, bool); 6] = [
    (LengthHeader::Binary2, false),
    (LengthHeader::Ascii4, false),
    (LengthHeader::Bcd2, false),
    (LengthHeader::Binary2, true),
    (LengthHeader::Ascii4, true),
    (LengthHeader::Bcd2, true),
];

/// Bytes in front of the stream in a `framing` input.
pub const FRAMING_PREAMBLE_LEN: usize = 4;

/// A parsed `framing` input.
#[derive(Clone, Copy, Debug)]
pub struct FramingInput<'a> {
    /// The length header.
    pub header: LengthHeader,
    /// Whether a TPDU follows the header.
    pub tpdu: bool,
    /// The maximum frame size asked of the codec (it may cap it further).
    pub max_frame: usize,
    /// Seeds the sizes of the chunks the stream is fed in.
    pub chunk_seed: u8,
    /// The bytes arriving on the link.
    pub stream: &'a [u8],
}

impl<'a> FramingInput<'a> {
    /// Parse a `framing` input; `None` when it is shorter than the preamble.
    pub fn parse(data: &'a [u8]) -> Option<FramingInput<'a>> {
        if data.len() < FRAMING_PREAMBLE_LEN {
            return None;
        }
        let (header, tpdu) = FRAMING_CONFIGS[usize::from(data[0]) % FRAMING_CONFIGS.len()];
        Some(FramingInput {
            header,
            tpdu,
            max_frame: usize::from(u16::from_be_bytes([data[1], data[2]])),
            chunk_seed: data[3],
            stream: &data[FRAMING_PREAMBLE_LEN..],
        })
    }

    /// The preamble that selects `config` (an index into [`FRAMING_CONFIGS`]).
    pub fn preamble(config: u8, max_frame: u16, chunk_seed: u8) -> [u8; FRAMING_PREAMBLE_LEN] {
        let [hi, lo] = max_frame.to_be_bytes();
        [config, hi, lo, chunk_seed]
    }

    /// The stream cut into chunks of 1-48 bytes, sizes drawn from a small PRNG
    /// seeded by [`FramingInput::chunk_seed`] (deterministic for a given input).
    pub fn chunks(&self) -> Vec<&'a [u8]> {
        let mut state = u32::from(self.chunk_seed).wrapping_mul(0x9E37_79B9) | 1;
        let mut rest = self.stream;
        let mut out = Vec::new();
        while !rest.is_empty() {
            // xorshift32
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let len = (1 + state as usize % 48).min(rest.len());
            let (chunk, tail) = rest.split_at(len);
            out.push(chunk);
            rest = tail;
        }
        out
    }
}

fn mti(digits: &str) -> Mti {
    Mti::new(digits.as_bytes()).unwrap_or_else(|| panic!("bad seed MTI {digits}"))
}

/// The valid messages the seed corpus is built from, by name. Each encodes under
/// every built-in spec.
pub fn seed_messages() -> Vec<(&'static str, Message)> {
    let pin_block = [0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0];
    let icc = [
        0x9F, 0x26, 0x08, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x9F, 0x27, 0x01, 0x80,
        0x95, 0x05, 0x00, 0x00, 0x00, 0x80, 0x00,
    ];
    let mac = [0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x07, 0x18];

    let mut purchase = Message::new(mti("0200"));
    purchase.set(2, "4761739001010010");
    purchase.set(3, "000000");
    purchase.set(4, "000000012500");
    purchase.set(7, "0612143015");
    purchase.set(11, "000123");
    purchase.set(12, "143015");
    purchase.set(13, "0612");
    purchase.set(14, "2712");
    purchase.set(18, "5999");
    purchase.set(22, "051");
    purchase.set(23, "001");
    purchase.set(25, "00");
    purchase.set(32, "123456");
    purchase.set(35, "4761739001010010=27122011143804400000");
    purchase.set(37, "000000000123");
    purchase.set(41, "TERM0001");
    purchase.set(42, "MERCHANT0000001");
    purchase.set(
        43,
        &format!("{:<40}", "ACME STORE          SPRINGFIELD    US"),
    );
    purchase.set(49, "840");
    purchase.set_binary(52, &pin_block);
    purchase.set_binary(55, &icc);

    let mut response = Message::new(mti("0210"));
    for (n, v) in [
        (2, "4761739001010010"),
        (3, "000000"),
        (4, "000000012500"),
        (7, "0612143015"),
        (11, "000123"),
        (12, "143015"),
        (13, "0612"),
        (37, "000000000123"),
        (38, "A1B2C3"),
        (39, "00"),
        (41, "TERM0001"),
        (49, "840"),
    ] {
        response.set(n, v);
    }

    // Odd digit counts (BCD pad nibbles), an x+n amount and LLL text fields.
    let mut auth = Message::new(mti("0100"));
    auth.set(2, "6011000990139424123");
    auth.set(3, "300000");
    auth.set(4, "000000000001");
    auth.set(11, "999999");
    auth.set(28, "D00000150");
    auth.set(32, "12345678901");
    auth.set(35, "6011000990139424123D2712101");
    auth.set(41, "TERM 002");
    auth.set(44, "ADDITIONAL RESPONSE 01");
    auth.set(48, "private data: key=value; other=1");
    auth.set(49, "978");
    auth.set(54, "1001840C000000012345");

    let mut echo = Message::new(mti("0800"));
    echo.set(7, "0612143015");
    echo.set(11, "000001");
    echo.set(70, "301");

    let mut echo_response = Message::new(mti("0810"));
    echo_response.set(7, "0612143015");
    echo_response.set(11, "000001");
    echo_response.set(39, "00");
    echo_response.set(70, "301");

    // Secondary bitmap: original data elements, receiving institution, MAC.
    let mut reversal = Message::new(mti("0420"));
    reversal.set(2, "4761739001010010");
    reversal.set(3, "000000");
    reversal.set(4, "000000012500");
    reversal.set(7, "0612143115");
    reversal.set(11, "000124");
    reversal.set(32, "123456");
    reversal.set(37, "000000000123");
    reversal.set(39, "68");
    reversal.set(41, "TERM0001");
    reversal.set(49, "840");
    reversal.set(90, "020000012306121430150000012345600000000000");
    reversal.set(100, "654321");
    reversal.set_binary(128, &mac);

    // Tertiary bitmap: private fields behind bit 65.
    let mut tertiary = Message::new(mti("0200"));
    tertiary.set(3, "000000");
    tertiary.set(4, "000000000500");
    tertiary.set(11, "000777");
    tertiary.set(41, "TERM0003");
    tertiary.set(100, "99");
    tertiary.set(130, "TERTIARY FIELD 130");
    tertiary.set(192, "LAST");

    vec![
        ("0200-purchase", purchase),
        ("0210-response", response),
        ("0100-auth-odd-digits", auth),
        ("0800-echo", echo),
        ("0810-echo-response", echo_response),
        ("0420-reversal-secondary", reversal),
        ("0200-tertiary", tertiary),
    ]
}

/// 1993 messages for `iso93ascii`'s seeds (the 1987 ones do not fit its table:
/// field 12 is twelve digits there, field 90 ten): a 1200 purchase with ICC data,
/// a 1814 echo answer and a 1420 reversal advice with field 56.
pub fn seed_messages_1993() -> Vec<(&'static str, Message)> {
    let mut purchase = Message::new(mti("1200"));
    for (n, v) in [
        (2, "4761739001010010"),
        (3, "000000"),
        (4, "000000012500"),
        (11, "000123"),
        (12, "261206143015"),
        (22, "510101511344"),
        (24, "200"),
        (43, "ACME STORE SPRINGFIELD US"),
        (49, "840"),
    ] {
        purchase.set(n, v);
    }
    purchase.set_binary(55, &icc_seeds()[0].1);
    let mut echo = Message::new(mti("1814"));
    for (n, v) in [(7, "1206143015"), (11, "000042"), (24, "831"), (39, "800")] {
        echo.set(n, v);
    }
    let mut reversal = Message::new(mti("1420"));
    for (n, v) in [
        (11, "000124"),
        (24, "400"),
        (56, "120000012326120614301506123456"),
        (100, "654321"),
    ] {
        reversal.set(n, v);
    }
    vec![
        ("1200-purchase", purchase),
        ("1814-echo-response", echo),
        ("1420-reversal-secondary", reversal),
    ]
}

/// Field 55 values for `tlv`'s seeds: a terminal's request data (one- and
/// two-byte tags, card data among them), a 40-element list, long length forms
/// and a three-byte tag, a constructed template, and three malformed ones.
pub fn icc_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let request = vec![
        0x9F, 0x26, 0x08, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // cryptogram
        0x9F, 0x27, 0x01, 0x80, // cryptogram information data
        0x95, 0x05, 0x00, 0x00, 0x00, 0x80, 0x00, // TVR
        0x5A, 0x08, 0x47, 0x61, 0x73, 0x90, 0x01, 0x01, 0x00, 0x10, // PAN
        0x57, 0x0B, 0x47, 0x61, 0x73, 0x90, 0x01, 0x01, 0x00, 0x10, 0xD2, 0x71,
        0x2F, // track 2
        0x5F, 0x20, 0x03, b'B', b'O', b'B', // cardholder name
        0x9F, 0x36, 0x02, 0x00, 0x07, // ATC
    ];
    let mut forty = Vec::new();
    for i in 0..40u8 {
        forty.extend_from_slice(&[0x9F, 0x01 + i, 0x02, i, 0xFF - i]);
    }
    let long_forms = vec![
        0x5A, 0x81, 0x02, 0x12, 0x34, // one length byte where none was needed
        0xDF, 0x81, 0x01, 0x82, 0x00, 0x01, 0xAA, // three-byte tag, two length bytes
    ];
    let template = vec![0x70, 0x07, 0x57, 0x02, 0x12, 0x3D, 0x9F, 0x27, 0x00];
    vec![
        ("request", request),
        ("forty-tags", forty),
        ("long-forms", long_forms),
        ("template", template),
        ("overrun", vec![0x9F, 0x26, 0x08, 0x01]),
        ("length-2-to-the-63", {
            let mut v = vec![0x5A, 0x88, 0x80];
            v.extend_from_slice(&[0; 7]);
            v
        }),
        ("zero-padding", vec![0x9F, 0x27, 0x01, 0x80, 0x00, 0x00]),
    ]
}
