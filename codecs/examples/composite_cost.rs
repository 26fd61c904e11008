//! What composite fields cost a decode: the same 0200 purchase (no fields 48
//! or 127) decoded under `iso87ascii` and under `samples/host-composite.toml`
//! (whose messages carry its composite layouts), and a purchase with fields 48
//! and 127 decoded with and without reading their subfields.
//!
//! `cargo run --release -p codecs --example composite_cost`: 7 rounds of
//! 200,000 decodes each; prints the median and the spread in ns per decode.

// A wall-clock measurement of real work: no paused clock to honour here.
#![allow(clippy::disallowed_types)]

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use codecs::{Message, Mti, Spec};

const ROUNDS: usize = 7;
const DECODES: u32 = 200_000;

fn purchase() -> Message {
    let mut m = Message::new(Mti::FINANCIAL_REQUEST);
    for (n, v) in [
        (2, "9408001234567896"),
        (3, "000000"),
        (4, "000000012500"),
        (7, "0612143015"),
        (11, "000123"),
        (12, "143015"),
        (13, "0612"),
        (14, "2912"),
        (22, "051"),
        (32, "940810"),
        (37, "000000000123"),
        (41, "TERM0001"),
        (42, "MERCHANT0000001"),
        (43, "CORNER SHOP              PYONGYANG    KP"),
        (49, "408"),
    ] {
        m.set(n, v);
    }
    m
}

/// Median and spread (min..max) in ns per call of `f` over the rounds.
fn measure(mut f: impl FnMut()) -> (f64, f64, f64) {
    let mut per: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..DECODES {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(DECODES)
        })
        .collect();
    per.sort_by(f64::total_cmp);
    (per[ROUNDS / 2], per[0], per[ROUNDS - 1])
}

fn report(what: &str, (median, lo, hi): (f64, f64, f64)) {
    println!("{what:<58} {median:>7.1} ns  ({lo:.1}..{hi:.1})");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/host-composite.toml");
    let host = codecs::spec::file::load(std::path::Path::new(path))?;
    let ascii = Spec::builtin("iso87ascii")?;
    let plain: Bytes = ascii.encode_to_bytes(&purchase())?;
    assert_eq!(plain, host.encode_to_bytes(&purchase())?);

    let mut with = purchase();
    with.set(48, "01007REF-77192004482177002ZZ");
    let f127 = host.composite(127).ok_or("127 is composite")?.write(
        127,
        &[
            (codecs::Key::Bit(2), b"ACQ-KEY-771"),
            (codecs::Key::Bit(3), b"000771"),
        ],
    )?;
    with.set_binary(127, &f127);
    let composite = host.encode_to_bytes(&with)?;

    report(
        "purchase, iso87ascii",
        measure(|| {
            black_box(ascii.decode(black_box(plain.clone())).ok());
        }),
    );
    report(
        "purchase, host-composite (layouts carried)",
        measure(|| {
            black_box(host.decode(black_box(plain.clone())).ok());
        }),
    );
    report(
        "purchase + 48 + 127, host-composite, subfields not read",
        measure(|| {
            black_box(host.decode(black_box(composite.clone())).ok());
        }),
    );
    report(
        "purchase + 48 + 127, host-composite, 48 and 127 read",
        measure(|| {
            if let Ok(m) = host.decode(black_box(composite.clone())) {
                black_box(m.composite(48).map(|p| p.map(|p| p.len()).ok()));
                black_box(m.composite(127).map(|p| p.map(|p| p.len()).ok()));
            }
        }),
    );
    Ok(())
}
