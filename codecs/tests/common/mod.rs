//! Test support: a deterministic generator of random messages that are valid
//! under a spec, shared by the property and differential tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![allow(dead_code)] // each test binary uses a different part

use codecs::spec::{ContentClass, DataEncoding, FieldSpec, Length, Spec};
use codecs::{Message, Mti};

/// SplitMix64: tiny, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick(&mut self, chars: &[u8]) -> u8 {
        chars[self.below(chars.len() as u64) as usize]
    }
}

const DIGITS: &[u8] = b"0123456789";
const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz ";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ";
const SPECIAL_AND_DIGITS: &[u8] = b"0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
const TRACK: &[u8] = b"0123456789:;<=>?";

/// A value for `spec` (text for text classes, raw bytes for `b`), of a random
/// allowed length.
pub fn value_for(spec: &FieldSpec, rng: &mut Rng) -> FieldValue {
    let units = match spec.length {
        Length::Fixed(n) => n as usize,
        Length::Variable { max, .. } => {
            // Mostly short values, sometimes the maximum.
            match rng.below(10) {
                0 => max as usize,
                1 => 0,
                _ => rng.below(u64::from(max.min(40)) + 1) as usize,
            }
        }
    };
    if spec.class == ContentClass::B {
        let bytes = if spec.encoding == DataEncoding::Ascii {
            units / 2
        } else {
            units
        };
        return FieldValue::Binary((0..bytes).map(|_| rng.next() as u8).collect());
    }
    let chars: Vec<u8> = match spec.class {
        ContentClass::N => (0..units).map(|_| rng.pick(DIGITS)).collect(),
        ContentClass::A => (0..units).map(|_| rng.pick(LETTERS)).collect(),
        ContentClass::An => (0..units).map(|_| rng.pick(ALNUM)).collect(),
        ContentClass::Ans => (0..units).map(|_| 0x20 + rng.below(95) as u8).collect(),
        ContentClass::Ns => (0..units).map(|_| rng.pick(SPECIAL_AND_DIGITS)).collect(),
        ContentClass::Z => (0..units).map(|_| rng.pick(TRACK)).collect(),
        ContentClass::XN => (0..units)
            .map(|i| {
                if i == 0 {
                    rng.pick(b"CD")
                } else {
                    rng.pick(DIGITS)
                }
            })
            .collect(),
        ContentClass::B => unreachable!(),
    };
    FieldValue::Text(String::from_utf8(chars).unwrap())
}

/// A generated field value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldValue {
    Text(String),
    Binary(Vec<u8>),
}

impl FieldValue {
    /// As the JSON / `Field::text` form: text, or uppercase hex.
    pub fn text(&self) -> String {
        match self {
            FieldValue::Text(t) => t.clone(),
            FieldValue::Binary(b) => codecs::content::to_hex(b),
        }
    }
}

/// A random valid message: an MTI and a random subset of the fields `allowed`
/// (field numbers the spec defines).
pub fn random_message(
    spec: &Spec,
    allowed: &[u8],
    rng: &mut Rng,
) -> (Message, Vec<(u8, FieldValue)>) {
    const MTIS: [&[u8; 4]; 8] = [
        b"0100", b"0110", b"0200", b"0210", b"0420", b"0421", b"0800", b"0810",
    ];
    let mti = Mti::new(MTIS[rng.below(MTIS.len() as u64) as usize]).unwrap();
    let mut msg = Message::new(mti);
    let mut values = Vec::new();
    let density = 1 + rng.below(4); // 1 in 2..5 fields present
    for &n in allowed {
        if rng.below(density + 1) != 0 {
            continue;
        }
        let fs = spec.field(n).unwrap();
        let v = value_for(fs, rng);
        match &v {
            FieldValue::Text(t) => msg.set(n, t),
            FieldValue::Binary(b) => msg.set_binary(n, b),
        }
        values.push((n, v));
    }
    (msg, values)
}

/// Every data field number a spec defines.
pub fn defined_fields(spec: &Spec) -> Vec<u8> {
    (2..=192u8).filter(|&n| spec.field(n).is_some()).collect()
}

/// Decodes `wire` to the given MTI and field texts, and encodes back to the same
/// bytes; returns the decoded message.
pub fn assert_vector(spec: &Spec, wire: &[u8], mti: &str, fields: &[(u8, &str)]) -> Message {
    let msg = spec.decode(bytes::Bytes::copy_from_slice(wire)).unwrap();
    assert_eq!(msg.mti().as_str(), mti);
    let got: Vec<(u8, String)> = msg
        .fields()
        .map(|f| (f.number(), f.text().into_owned()))
        .collect();
    let want: Vec<(u8, String)> = fields.iter().map(|(n, v)| (*n, v.to_string())).collect();
    assert_eq!(got, want);
    assert_eq!(&spec.encode_to_bytes(&msg).unwrap()[..], wire);
    msg
}
