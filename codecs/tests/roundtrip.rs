//! Property tests: every message valid under a built-in spec survives
//! encode → decode → encode byte-identically with the same values, and arbitrary
//! bytes never panic the decoder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;

use bytes::{Bytes, BytesMut};
use codecs::spec::iso87::BUILTIN_NAMES;
use codecs::Spec;
use common::{defined_fields, random_message, Rng};
use proptest::prelude::*;

fn check_round_trip(spec_name: &str, seed: u64) {
    let spec = Spec::builtin(spec_name).unwrap();
    let fields = defined_fields(&spec);
    let mut rng = Rng::new(seed);
    let (msg, values) = random_message(&spec, &fields, &mut rng);

    let first = spec.encode_to_bytes(&msg).unwrap();
    let decoded = spec.decode(first.clone()).unwrap();
    assert_eq!(decoded.mti(), msg.mti());
    let got: Vec<u8> = decoded.field_numbers().collect();
    let want: Vec<u8> = values.iter().map(|(n, _)| *n).collect();
    assert_eq!(got, want, "{spec_name} seed {seed}");
    for (n, v) in &values {
        assert_eq!(
            decoded.text(*n).unwrap(),
            v.text(),
            "{spec_name} seed {seed} field {n}"
        );
    }
    let mut second = BytesMut::new();
    spec.encode(&decoded, &mut second).unwrap();
    assert_eq!(first, second.freeze(), "{spec_name} seed {seed}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn ascii_round_trip(seed in any::<u64>()) {
        check_round_trip("iso87ascii", seed);
    }

    #[test]
    fn binary_round_trip(seed in any::<u64>()) {
        check_round_trip("iso87binary", seed);
    }

    #[test]
    fn bcd_round_trip(seed in any::<u64>()) {
        check_round_trip("iso87bcd", seed);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        for name in BUILTIN_NAMES {
            let spec = Spec::builtin(name).unwrap();
            if let Ok(msg) = spec.decode(Bytes::from(data.clone())) {
                let _ = format!("{msg:?} {msg}");
                // Whatever decodes must encode again to the same bytes.
                let again = spec.encode_to_bytes(&msg).unwrap();
                let re = spec.decode(again.clone()).unwrap();
                prop_assert_eq!(spec.encode_to_bytes(&re).unwrap(), again);
            }
            let _ = spec.peek_mti_and_stan(&data);
        }
    }

    /// Valid MTI and bitmaps followed by noise: reaches the field parsers.
    #[test]
    fn noise_after_a_valid_start_never_panics(
        bitmap in any::<[u8; 8]>(),
        secondary in any::<[u8; 8]>(),
        tail in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let spec = Spec::builtin("iso87binary").unwrap();
        let mut frame = b"0200".to_vec();
        frame.extend_from_slice(&bitmap);
        frame.extend_from_slice(&secondary);
        frame.extend_from_slice(&tail);
        let _ = spec.decode(Bytes::from(frame.clone()));
        let spec = Spec::builtin("iso87bcd").unwrap();
        frame.drain(..2);
        frame[0] = 0x02;
        frame[1] = 0x00;
        let _ = spec.decode(Bytes::from(frame));
    }
}

/// A message decoded in one dialect re-encodes in another with the same values.
#[test]
fn cross_dialect_translation() {
    let fields: Vec<u8> = vec![
        2, 3, 4, 7, 11, 12, 13, 14, 22, 32, 35, 37, 41, 42, 43, 49, 52, 55, 90, 128,
    ];
    for seed in 0..200 {
        for (from, to) in [
            ("iso87bcd", "iso87ascii"),
            ("iso87ascii", "iso87bcd"),
            ("iso87binary", "iso87bcd"),
        ] {
            let src = Spec::builtin(from).unwrap();
            let dst = Spec::builtin(to).unwrap();
            let mut rng = Rng::new(seed);
            let (msg, values) = random_message(&src, &fields, &mut rng);
            let wire = src.encode_to_bytes(&msg).unwrap();
            let decoded = src.decode(wire).unwrap();
            let translated = dst.decode(dst.encode_to_bytes(&decoded).unwrap()).unwrap();
            for (n, v) in &values {
                assert_eq!(
                    translated.text(*n).unwrap(),
                    v.text(),
                    "{from}->{to} field {n}"
                );
            }
        }
    }
}
