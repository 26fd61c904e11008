//! Fuzz target `roundtrip`: decode → encode → decode → encode under one spec.
//!
//! Input: byte 0 picks the built-in spec (modulo 5), the rest is the frame. Whenever
//! the first decode succeeds, the message must encode, the encoding must decode
//! again with the same MTI, header, field numbers and field text, and encoding that
//! second message must give exactly the bytes of the first encoding. (The first
//! encoding need not equal the input: a lowercase hex bitmap, say, comes out
//! uppercase.)
#![no_main]

use bytes::{Bytes, BytesMut};
use codecs_fuzz::spec_and_frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((spec, frame)) = spec_and_frame(data) else {
        return;
    };
    let Ok(first) = spec.decode(Bytes::copy_from_slice(frame)) else {
        return;
    };

    let mut encoded1 = BytesMut::new();
    if let Err(e) = spec.encode(&first, &mut encoded1) {
        panic!("{}: decoded message does not encode: {e}", spec.name);
    }
    let encoded1 = encoded1.freeze();
    let second = match spec.decode(encoded1.clone()) {
        Ok(m) => m,
        Err(e) => panic!("{}: own encoding does not decode: {e}", spec.name),
    };

    assert_eq!(first.mti(), second.mti(), "{}: MTI changed", spec.name);
    assert_eq!(
        first.header(),
        second.header(),
        "{}: header changed",
        spec.name
    );
    let numbers1: Vec<u8> = first.field_numbers().collect();
    let numbers2: Vec<u8> = second.field_numbers().collect();
    assert_eq!(numbers1, numbers2, "{}: field numbers changed", spec.name);
    for &n in &numbers1 {
        assert_eq!(
            first.text(n),
            second.text(n),
            "{}: field {n} text changed",
            spec.name
        );
    }

    let mut encoded2 = BytesMut::new();
    if let Err(e) = spec.encode(&second, &mut encoded2) {
        panic!("{}: re-decoded message does not encode: {e}", spec.name);
    }
    assert_eq!(
        encoded1[..],
        encoded2[..],
        "{}: second encoding differs from the first",
        spec.name
    );
});
