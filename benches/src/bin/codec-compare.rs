//! `codec-compare`: our `iso87ascii` codec against i8583 0.1.0 on the same bytes.
//!
//! `cargo run --release -p benches --bin codec-compare [--reps N] [--ops N]` prints
//! one JSON line. `ours_decode_ns`, `ours_encode_ns`, `i8583_unpack_ns` and
//! `i8583_pack_ns` are nanoseconds per operation on the reference 0200 purchase
//! ([`benches::reference_message`]), each the median over `reps` repetitions
//! (default 5) of `ops` operations (default 200,000). A repetition runs the four
//! operations interleaved in rounds of [`ROUND`] operations each (the order rotating
//! from round to round) and adds up each one's time over its `ops` operations: on a
//! shared machine a busy spell of another process then slows all four alike instead
//! of whichever happened to be running (timing each operation's 200,000 calls in
//! one block made the figures bimodal from repetition to repetition when the other
//! core was busy). `*_min`/`*_max` are the fastest and slowest repetition.
//!
//! `ours_decode_icc_ns` is our decode of the same message with a 40-element
//! field 55 ([`benches::reference_message_with_icc`], 240 bytes of BER-TLV, 480
//! hex characters), timed in the same rounds as the four above, and
//! `icc_decode_ratio` is `ours_decode_icc_ns / ours_decode_ns` (target: under 2;
//! the decode does not parse the tags, it checks the field's hex like any `b`
//! field). `ours_icc_tags_ns`, timed apart after the rounds, is what reading the
//! 40 tags costs on top when someone asks for them (`Message::tlv` and a walk
//! over the elements of an already decoded message).
//!
//! `decode_ratio` is `ours_decode_ns / i8583_unpack_ns` (`encode_ratio` likewise with
//! pack), from the medians; `*_ratio_min`/`*_ratio_max` are the extremes of the
//! per-repetition ratios. `allocs_per_*` count heap allocations (`alloc`,
//! `alloc_zeroed` and `realloc` calls) per operation with a counting global
//! allocator, measured in a separate untimed pass.
//!
//! The operations are measured exactly as in the criterion bench (`benches/codec.rs`):
//! decode = `spec.decode(bytes.clone())` with the `Message` dropped inside the loop;
//! encode = into a fresh `BytesMut::with_capacity(1024)`; i8583 pack = into a fresh
//! `Vec::with_capacity(1024)`; i8583 unpack = a fresh `Unpacker` per operation.

use std::hint::black_box;
use std::process::ExitCode;

use benches::measure::{
    allocs_per_op, ns_per_op, parse_args, round, stats, CountingAlloc, Options,
};
use benches::{
    i8583_reference_spec, reference_message_with_icc, set_i8583_fields, Fixture, SetupError,
    ICC_ELEMENTS,
};
use bytes::BytesMut;
use i8583::{Packer, Unpacker};
use serde_json::json;

/// Counts allocations for `allocs_per_*` (see [`benches::measure`]).
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const USAGE: &str = "usage: codec-compare [--reps N] [--ops N]   (defaults: 5 and 200000)";

/// Operations of each kind per round of a repetition (about half a millisecond
/// each: shorter than a scheduler time slice, long beside the clock reads).
const ROUND: u64 = 2_000;

const DEFAULTS: Options = Options {
    reps: 5,
    ops: 200_000,
};

fn run(options: &Options) -> Result<serde_json::Value, SetupError> {
    let fixture = Fixture::new("iso87ascii")?;
    let spec = &*fixture.spec;
    let message = &fixture.message;
    let bytes = fixture.wire.clone();
    let wire: &[u8] = &fixture.wire;
    let i8583_spec = i8583_reference_spec();
    let mut packer = Packer::new(&i8583_spec);
    set_i8583_fields(&mut packer)?;

    // Both sides must read and write the same bytes, or the comparison is void.
    if packer.pack(Vec::with_capacity(1024))?.as_slice() != wire {
        return Err("i8583 packs different bytes than iso87ascii encodes".into());
    }
    Unpacker::new(wire).unpack(&i8583_spec)?;
    spec.decode(bytes.clone())?;
    let icc_bytes = spec.encode_to_bytes(&reference_message_with_icc())?;
    let icc_message = spec.decode(icc_bytes.clone())?;
    let tag_count = || {
        icc_message
            .tlv(55)
            .and_then(Result::ok)
            .map(|l| l.iter().count())
    };
    if tag_count() != Some(usize::from(ICC_ELEMENTS)) {
        return Err("the message with chip data does not read back its 40 tags".into());
    }

    let mut ours_decode = || {
        let _ = black_box(black_box(spec).decode(black_box(&bytes).clone()));
    };
    let mut ours_encode = || {
        let mut out = BytesMut::with_capacity(1024);
        let _ = black_box(black_box(spec).encode(black_box(message), &mut out));
        black_box(out);
    };
    let mut i8583_unpack = || {
        let mut unpacker = Unpacker::new(black_box(wire));
        let _ = black_box(unpacker.unpack(black_box(&i8583_spec)));
    };
    let mut i8583_pack = || {
        let _ = black_box(black_box(&packer).pack(Vec::with_capacity(1024)));
    };
    let mut ours_decode_icc = || {
        let _ = black_box(black_box(spec).decode(black_box(&icc_bytes).clone()));
    };
    let mut ours_icc_tags = || {
        let count = black_box(&icc_message)
            .tlv(55)
            .and_then(Result::ok)
            .map(|l| l.iter().count());
        black_box(count);
    };

    // Warm caches, branch predictors and the `Bytes` (its first clone may
    // promote it to a shared buffer, an allocation that is not the decoder's).
    let warm = (options.ops / 4).max(1);
    ns_per_op(warm, &mut ours_decode);
    ns_per_op(warm, &mut i8583_unpack);
    ns_per_op(warm, &mut ours_encode);
    ns_per_op(warm, &mut i8583_pack);
    ns_per_op(warm, &mut ours_decode_icc);

    let ops = options.ops;
    // Per repetition: ours decode, i8583 unpack, ours encode, i8583 pack, ours
    // decode with chip data.
    let mut samples: [Vec<f64>; 5] = Default::default();
    for _ in 0..options.reps {
        let mut total_ns = [0f64; 5];
        let mut done = 0;
        let mut round = 0;
        while done < ops {
            let batch = ROUND.min(ops - done);
            for k in 0..5 {
                let which = (k + round) % 5;
                // Each arm its own loop over a concrete closure (no dynamic call).
                let ns = match which {
                    0 => ns_per_op(batch, &mut ours_decode),
                    1 => ns_per_op(batch, &mut i8583_unpack),
                    2 => ns_per_op(batch, &mut ours_encode),
                    3 => ns_per_op(batch, &mut i8583_pack),
                    _ => ns_per_op(batch, &mut ours_decode_icc),
                };
                total_ns[which] += ns * batch as f64;
            }
            done += batch;
            round += 1;
        }
        for (s, total) in samples.iter_mut().zip(total_ns) {
            s.push(total / ops.max(1) as f64);
        }
    }
    let ratios =
        |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| x / y).collect() };
    let decode_ratios = ratios(&samples[0], &samples[1]);
    let encode_ratios = ratios(&samples[2], &samples[3]);
    let icc_ratios = ratios(&samples[4], &samples[0]);
    let tags_ns: Vec<f64> = (0..options.reps)
        .map(|_| ns_per_op(ops / 4 + 1, &mut ours_icc_tags))
        .collect();

    let alloc_ops = 10_000;
    let allocs_decode = allocs_per_op(alloc_ops, &mut ours_decode);
    let allocs_encode = allocs_per_op(alloc_ops, &mut ours_encode);
    let allocs_unpack = allocs_per_op(alloc_ops, &mut i8583_unpack);
    let allocs_pack = allocs_per_op(alloc_ops, &mut i8583_pack);

    let [d, u, e, p, icc] = samples.each_ref().map(|s| stats(s));
    let (_, dr_min, dr_max) = stats(&decode_ratios);
    let (_, er_min, er_max) = stats(&encode_ratios);
    let (_, ir_min, ir_max) = stats(&icc_ratios);
    let tags = stats(&tags_ns);
    Ok(json!({
        "ours_decode_ns": round(d.0, 1),
        "ours_encode_ns": round(e.0, 1),
        "i8583_unpack_ns": round(u.0, 1),
        "i8583_pack_ns": round(p.0, 1),
        "decode_ratio": round(d.0 / u.0, 3),
        "encode_ratio": round(e.0 / p.0, 3),
        "decode_ratio_min": round(dr_min, 3),
        "decode_ratio_max": round(dr_max, 3),
        "encode_ratio_min": round(er_min, 3),
        "encode_ratio_max": round(er_max, 3),
        "ours_decode_ns_min": round(d.1, 1),
        "ours_decode_ns_max": round(d.2, 1),
        "ours_encode_ns_min": round(e.1, 1),
        "ours_encode_ns_max": round(e.2, 1),
        "i8583_unpack_ns_min": round(u.1, 1),
        "i8583_unpack_ns_max": round(u.2, 1),
        "i8583_pack_ns_min": round(p.1, 1),
        "i8583_pack_ns_max": round(p.2, 1),
        "ours_decode_icc_ns": round(icc.0, 1),
        "ours_decode_icc_ns_min": round(icc.1, 1),
        "ours_decode_icc_ns_max": round(icc.2, 1),
        "icc_decode_ratio": round(icc.0 / d.0, 3),
        "icc_decode_ratio_min": round(ir_min, 3),
        "icc_decode_ratio_max": round(ir_max, 3),
        "ours_icc_tags_ns": round(tags.0, 1),
        "ours_icc_tags_ns_min": round(tags.1, 1),
        "ours_icc_tags_ns_max": round(tags.2, 1),
        "icc_wire_bytes": icc_bytes.len(),
        "allocs_per_decode": allocs_decode,
        "allocs_per_encode": allocs_encode,
        "allocs_per_i8583_unpack": allocs_unpack,
        "allocs_per_i8583_pack": allocs_pack,
        "spec": spec.name,
        "wire_bytes": wire.len(),
        "reps": options.reps,
        "ops": ops,
    }))
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1), DEFAULTS, USAGE) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("codec-compare: {message}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("codec-compare: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_flags() {
        let o = parse_args(Vec::new(), DEFAULTS, USAGE).unwrap().unwrap();
        assert_eq!((o.reps, o.ops), (5, 200_000));
    }
}
