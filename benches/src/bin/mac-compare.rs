//! `mac-compare`: the retail MAC (ISO 9797-1 algorithm 3) one message at a time
//! against several messages computed together, in one run.
//!
//! `cargo run --release -p benches --bin mac-compare [--reps N] [--ops N]` MACs
//! 200-byte messages (about what a financial request is on the wire) and prints
//! one JSON line: `one_ns` (nanoseconds per MAC, one message at a time, as
//! `RetailMacKey::mac`), `lanes2_ns`, `lanes3_ns`, `lanes4_ns` (per MAC, when 2, 3
//! or 4 messages go through `RetailMacKey::mac_lanes` together), `batch_ns` (per
//! MAC through `mac_batch`, the switch's and simulators' batch call) and each one's
//! ratio to `one_ns`; medians of `reps` passes (default 5) of `ops` MACs each
//! (default 200,000), with the spread. `rustcrypto_ns` is RustCrypto's
//! `retail-mac` on the same messages, the reference implementation.

use std::hint::black_box;
use std::process::ExitCode;

use benches::measure::{parse_args, round, stats, Options, Stopwatch};
use serde_json::{json, Map, Value};
use switch::security::mac::{RetailMacKey, MAC_LANES};
use switch::security::MacPadding;

const USAGE: &str = "usage: mac-compare [--reps N] [--ops N]   (defaults: 5 and 200000)";

const DEFAULTS: Options = Options {
    reps: 5,
    ops: 200_000,
};

/// The message length timed.
const MESSAGE_BYTES: usize = 200;
/// Distinct messages cycled through (so no lane sees the same data twice in a row).
const MESSAGES: usize = 64;

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1), DEFAULTS, USAGE) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mac-compare: {e}");
            return ExitCode::from(2);
        }
    };
    let key_bytes: [u8; 16] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let key = match RetailMacKey::new(&key_bytes) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("mac-compare: {e}");
            return ExitCode::FAILURE;
        }
    };
    let messages: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|m| (0..MESSAGE_BYTES).map(|i| (i * 31 + m * 7) as u8).collect())
        .collect();
    let slices: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let padding = MacPadding::Method2;
    let ops = options.ops as usize;

    // Each measurement returns nanoseconds per MAC for one pass of `ops` MACs.
    let one = || {
        let start = Stopwatch::start();
        for i in 0..ops {
            black_box(key.mac(padding, black_box(slices[i % MESSAGES])));
        }
        start.elapsed_ns() / ops as f64
    };
    fn lanes<const L: usize>(key: &RetailMacKey, slices: &[&[u8]], ops: usize) -> f64 {
        let start = Stopwatch::start();
        let groups = ops / L;
        for g in 0..groups {
            let group: [&[u8]; L] = std::array::from_fn(|l| slices[(g * L + l) % MESSAGES]);
            black_box(key.mac_lanes(MacPadding::Method2, black_box(group)));
        }
        start.elapsed_ns() / (groups * L) as f64
    }
    let batch = || {
        let start = Stopwatch::start();
        let mut done = 0;
        while done < ops {
            black_box(key.mac_batch(padding, black_box(&slices)));
            done += MESSAGES;
        }
        start.elapsed_ns() / done as f64
    };
    let rustcrypto = || {
        use retail_mac::{KeyInit as _, Mac as _};
        let start = Stopwatch::start();
        let n = ops / 4;
        for i in 0..n {
            let Ok(mut mac) = retail_mac::RetailMac::<des::Des>::new_from_slice(&key_bytes) else {
                return f64::NAN;
            };
            mac.update(black_box(slices[i % MESSAGES]));
            mac.update(&[0x80]);
            black_box(mac.finalize());
        }
        start.elapsed_ns() / n.max(1) as f64
    };

    // Warm-up, then the passes interleaved so drift hits every variant alike.
    black_box(one());
    let mut samples: [Vec<f64>; 6] = Default::default();
    for _ in 0..options.reps {
        samples[0].push(one());
        samples[1].push(lanes::<2>(&key, &slices, ops));
        samples[2].push(lanes::<3>(&key, &slices, ops));
        samples[3].push(lanes::<4>(&key, &slices, ops));
        samples[4].push(batch());
        samples[5].push(rustcrypto());
    }
    let names = ["one", "lanes2", "lanes3", "lanes4", "batch", "rustcrypto"];
    let (one_median, _, _) = stats(&samples[0]);
    let mut line = Map::new();
    line.insert("message_bytes".into(), json!(MESSAGE_BYTES));
    line.insert("batch_lanes".into(), json!(MAC_LANES));
    for (name, values) in names.iter().zip(&samples) {
        let (median, min, max) = stats(values);
        line.insert(format!("{name}_ns"), json!(round(median, 1)));
        line.insert(format!("{name}_ns_min"), json!(round(min, 1)));
        line.insert(format!("{name}_ns_max"), json!(round(max, 1)));
        if *name != "one" {
            line.insert(
                format!("{name}_ratio"),
                json!(round(median / one_median, 3)),
            );
        }
    }
    line.insert("reps".into(), json!(options.reps));
    line.insert("ops".into(), json!(options.ops));
    println!("{}", Value::Object(line));
    ExitCode::SUCCESS
}
