//! Criterion benchmarks of the codec on the reference 0200 purchase
//! ([`benches::reference_message`]): decode and encode under each built-in spec, and
//! i8583 0.1.0's unpack and pack of the very same `iso87ascii` bytes, in one group.
//!
//! - decode: `spec.decode(bytes.clone())`, with `bytes` made once outside the loop
//!   (the clone is a reference-count increment); the `Message` is dropped inside
//!   the measured routine;
//! - encode: the prepared message into a fresh `BytesMut::with_capacity(1024)` per
//!   iteration; i8583 packs into a fresh `Vec::with_capacity(1024)` per call;
//! - encode_forwarded: the same, for the decoded message with fields 11, 33 and 100
//!   set (a switch's forward: the untouched fields are spliced from the frame);
//! - i8583 unpack: a fresh `Unpacker` over the same bytes per iteration.
//!
//! Run with `cargo bench -p benches --bench codec`.

use std::hint::black_box;

use benches::{i8583_packed, i8583_reference_spec, set_i8583_fields, Fixture};
use bytes::BytesMut;
use codecs::spec::iso87::BUILTIN_NAMES;
use criterion::Criterion;
use i8583::{Packer, Unpacker};

/// Setup that cannot fail with the fixed reference data; if it does, the
/// benchmark must stop loudly rather than measure something else.
#[allow(clippy::expect_used)]
fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");

    for name in BUILTIN_NAMES {
        let fixture = Fixture::new(name).expect("reference message encodes and decodes");
        let spec = &*fixture.spec;
        let bytes = fixture.wire.clone();
        group.bench_function(format!("{name}_decode"), |b| {
            b.iter(|| black_box(spec).decode(black_box(&bytes).clone()))
        });
        let message = &fixture.message;
        group.bench_function(format!("{name}_encode"), |b| {
            b.iter(|| {
                let mut out = BytesMut::with_capacity(1024);
                let result = black_box(spec).encode(black_box(message), &mut out);
                (result, out)
            })
        });
        // What a switch encodes: the decoded request with three fields changed,
        // whose untouched fields are spliced from the frame.
        let mut forwarded = spec
            .decode(bytes.clone())
            .expect("reference message decodes");
        forwarded.set_stan(4218);
        forwarded.set(33, "940000");
        forwarded.set(100, "940810");
        group.bench_function(format!("{name}_encode_forwarded"), |b| {
            b.iter(|| {
                let mut out = BytesMut::with_capacity(1024);
                let result = black_box(spec).encode(black_box(&forwarded), &mut out);
                (result, out)
            })
        });
    }

    let i8583_spec = i8583_reference_spec();
    let ascii = Fixture::new("iso87ascii").expect("reference message encodes and decodes");
    assert_eq!(
        i8583_packed(&i8583_spec).expect("i8583 packs the reference message"),
        ascii.wire.as_ref(),
        "i8583 and iso87ascii must produce the same bytes"
    );
    let wire: &[u8] = &ascii.wire;
    group.bench_function("i8583_unpack", |b| {
        b.iter(|| {
            let mut unpacker = Unpacker::new(black_box(wire));
            // The result borrows the unpacker, so it is consumed here, not returned.
            let _ = black_box(unpacker.unpack(black_box(&i8583_spec)));
        })
    });
    let mut packer = Packer::new(&i8583_spec);
    set_i8583_fields(&mut packer).expect("i8583 accepts the reference fields");
    group.bench_function("i8583_pack", |b| {
        b.iter(|| black_box(&packer).pack(Vec::with_capacity(1024)))
    });

    group.finish();
}

// What `criterion_group!`/`criterion_main!` expand to, written out: the macro's
// generated `pub fn` has no doc comment and trips the workspace's `missing_docs`.
fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    codec(&mut criterion);
    criterion.final_summary();
}
