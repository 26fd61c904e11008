//! `routing-compare`: the compiled routing table at the national network's scale,
//! against a naive scan of the same table, in one run.
//!
//! `cargo run --release -p benches --bin routing-compare [--reps N] [--ops N]`
//! generates (deterministically, [`benches::routing`]) a configuration of 18 regions,
//! 30 banks, 300 card products, 100,000 BIN ranges of 6 to 11 digits under 9408
//! (nested, never overlapping within a length) and 200 rules, and prints one JSON line:
//!
//! - `load_ms`: `RoutingTable::from_toml` on the generated text (TOML parse, validation,
//!   BIN table and rule index compilation, shadowing check), median of 3 loads;
//! - `decide_ns`: nanoseconds per `table.decide(&tx)` over `ops` random transactions
//!   (default 1,000,000; Luhn-valid 16-digit PANs, 90% inside a configured range,
//!   the rest under 9408 or elsewhere; random acquirers, MTIs, processing codes,
//!   amounts, currency 408 mostly), median of `reps` passes (default 5), after one
//!   untimed warm-up pass. `lookup_ns` is the same for `table.bins().lookup` alone;
//! - `decide_hot_ns`: the same for the first 1,000 transactions decided over and over
//!   (30,000 passes), so the table's parts they touch stay in cache: the compute
//!   floor, against which `decide_ns` shows the cost of cache misses;
//! - `naive_decide_ns`: per decision, for the first 10,000 of those transactions, of
//!   the same checks with the BIN found by a linear scan of every configured range
//!   (`BinRange::contains`, longest wins) and the rule by walking the rules in order
//!   (`Rule::matches`), one pass ([`benches::routing::naive_decide`]). `mismatches`
//!   counts those transactions where the naive decision differs from `decide`'s in
//!   product, rule, routing bank, step or response code (must be 0);
//! - `table_bytes`: `table.heap_bytes()` (BIN table and rule index), `bytes_per_range`
//!   that over the number of ranges;
//! - `allocs_per_decide`: heap allocations per `decide` over one untimed pass, counted
//!   by a counting global allocator (must be 0);
//! - `steps` and `routed`: how the transactions were decided (share of each step, and
//!   of routes), to show the mix; `ranges_by_length`, `warnings` (rules the loader
//!   found shadowed) and `toml_bytes` describe the generated configuration;
//!   `naive_ratio` is `naive_decide_ns / decide_ns`.
//!
//! The process exits with failure (after printing the line) when `mismatches` or
//! `allocs_per_decide` is not 0. The targets (decide at most 100 ns, load under 1 s,
//! at most 64 bytes per range) are reported in `targets`, not enforced.

use std::hint::black_box;
use std::process::ExitCode;

use benches::measure::{
    allocs_per_op, parse_args, round, stats, CountingAlloc, Options, Stopwatch,
};
use benches::routing::{decision_indexes, generate_config, naive_decide, Shape, Traffic};
use benches::SetupError;
use routing_rules::{RoutingTable, Step, Transaction, Verdict};
use serde_json::{json, Map, Value};

/// Counts allocations for `allocs_per_decide` (see [`benches::measure`]).
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const USAGE: &str = "usage: routing-compare [--reps N] [--ops N]   (defaults: 5 and 1000000)";

const DEFAULTS: Options = Options {
    reps: 5,
    ops: 1_000_000,
};

/// Transactions the naive decision runs on (the first ones of the timed set).
const NAIVE_OPS: usize = 10_000;
/// Loads timed for `load_ms`.
const LOADS: usize = 3;
const HOT_PASSES: usize = 30000;
/// Seed of the traffic (the configuration has its own, in [`Shape::BENCHMARK`]).
const TRAFFIC_SEED: u64 = 0x0200_0000_0000_0408;

/// The targets.
const TARGET_DECIDE_NS: f64 = 100.0;
const TARGET_LOAD_MS: f64 = 1000.0;
const TARGET_BYTES_PER_RANGE: f64 = 64.0;

/// Nanoseconds per call of `op` over one pass of `txs`.
fn ns_per_pass<'a, R>(txs: &[Transaction<'a>], mut op: impl FnMut(&Transaction<'a>) -> R) -> f64 {
    let start = Stopwatch::start();
    for tx in txs {
        black_box(op(black_box(tx)));
    }
    start.elapsed_ns() / txs.len().max(1) as f64
}

/// The report, and whether the checks (mismatches, allocations) passed.
fn run(options: &Options) -> Result<(Value, bool), SetupError> {
    let shape = Shape::BENCHMARK;
    let text = generate_config(&shape)?;

    let mut load_ms = Vec::with_capacity(LOADS);
    let mut loaded = None;
    for _ in 0..LOADS {
        let start = Stopwatch::start();
        let result = RoutingTable::from_toml(&text, "generated.toml");
        load_ms.push(start.elapsed_ns() / 1e6);
        // The previous table is dropped here, outside the timing.
        loaded = Some(result?);
    }
    let (table, warnings) = loaded.ok_or("no load")?;
    let ranges = table.bins().ranges().len();
    if ranges != shape.ranges || table.rules().len() != shape.rules {
        return Err(format!(
            "generated {} ranges and {} rules, expected {} and {}",
            ranges,
            table.rules().len(),
            shape.ranges,
            shape.rules
        )
        .into());
    }

    let ops = usize::try_from(options.ops)?;
    let traffic = Traffic::generate(&table, ops, TRAFFIC_SEED);
    let txs = traffic.transactions();

    // Warm caches and branch predictors, then alternate decide and lookup passes.
    let decide = |tx: &Transaction<'_>| table.decide(tx);
    let lookup = |tx: &Transaction<'_>| table.bins().lookup(tx.pan);
    ns_per_pass(&txs, decide);
    let mut decide_ns = Vec::with_capacity(options.reps);
    let mut lookup_ns = Vec::with_capacity(options.reps);
    for _ in 0..options.reps {
        decide_ns.push(ns_per_pass(&txs, decide));
        lookup_ns.push(ns_per_pass(&txs, lookup));
    }

    // The same decisions with the data in cache: the first 1,000 transactions, over and over.
    let hot = &txs[..1000.min(txs.len())];
    let hot_ns = {
        let start = Stopwatch::start();
        for _ in 0..HOT_PASSES {
            for tx in hot {
                black_box(table.decide(black_box(tx)));
            }
        }
        start.elapsed_ns() / (HOT_PASSES * hot.len().max(1)) as f64
    };

    // Allocations, over one untimed pass.
    let mut cycle = txs.iter().cycle();
    let allocs_per_decide = allocs_per_op(options.ops, || {
        if let Some(tx) = cycle.next() {
            black_box(table.decide(black_box(tx)));
        }
    });

    // The naive decision, one pass, then the comparison (untimed).
    let naive_txs = &txs[..NAIVE_OPS.min(txs.len())];
    let mut naive = Vec::with_capacity(naive_txs.len());
    let start = Stopwatch::start();
    for tx in naive_txs {
        naive.push(black_box(naive_decide(black_box(&table), black_box(tx))));
    }
    let naive_ns = start.elapsed_ns() / naive_txs.len().max(1) as f64;
    let mismatches = naive_txs
        .iter()
        .zip(&naive)
        .filter(|(tx, n)| decision_indexes(&table, &table.decide(tx)) != **n)
        .count();

    // How the transactions were decided.
    let all_steps = [
        Step::Pan,
        Step::Bin,
        Step::Acquirer,
        Step::Rule,
        Step::Default,
        Step::ProductCurrency,
        Step::ProductLimit,
    ];
    let mut counts = [0usize; 7];
    let mut routed = 0usize;
    for tx in &txs {
        let d = table.decide(tx);
        if let Some(i) = all_steps.iter().position(|&s| s == d.step) {
            counts[i] += 1;
        }
        routed += usize::from(d.verdict == Verdict::Route);
    }
    let share = |n: usize| round(n as f64 / txs.len().max(1) as f64, 4);
    let steps: Map<String, Value> = all_steps
        .iter()
        .zip(counts)
        .map(|(s, n)| (s.name().to_string(), json!(share(n))))
        .collect();

    let mut by_length = Map::new();
    for len in 6..=11u8 {
        let n = table
            .bins()
            .ranges()
            .iter()
            .filter(|r| r.len == len)
            .count();
        by_length.insert(len.to_string(), json!(n));
    }

    let (d, l, lo) = (stats(&decide_ns), stats(&lookup_ns), stats(&load_ms));
    let table_bytes = table.heap_bytes();
    let bins_bytes = table.bins().heap_bytes();
    let bytes_per_range = table_bytes as f64 / ranges as f64;
    let ok = mismatches == 0 && allocs_per_decide == 0.0;
    let report = json!({
        "ranges": ranges,
        "rules": table.rules().len(),
        "load_ms": round(lo.0, 1),
        "decide_ns": round(d.0, 1),
        "naive_decide_ns": round(naive_ns, 1),
        "table_bytes": table_bytes,
        "bytes_per_range": round(bytes_per_range, 2),
        "mismatches": mismatches,
        "allocs_per_decide": allocs_per_decide,
        "naive_ratio": round(naive_ns / d.0, 1),
        "lookup_ns": round(l.0, 1),
        "decide_hot_ns": round(hot_ns, 1),
        "decide_ns_min": round(d.1, 1),
        "decide_ns_max": round(d.2, 1),
        "lookup_ns_min": round(l.1, 1),
        "lookup_ns_max": round(l.2, 1),
        "load_ms_min": round(lo.1, 1),
        "load_ms_max": round(lo.2, 1),
        "bins_bytes": bins_bytes,
        "index_bytes": table_bytes - bins_bytes,
        "ranges_by_length": by_length,
        "toml_bytes": text.len(),
        "regions": table.regions().len(),
        "banks": table.banks().len(),
        "products": table.products().len(),
        "warnings": warnings.len(),
        "routed": share(routed),
        "steps": steps,
        "targets": {
            "decide_ns": TARGET_DECIDE_NS,
            "load_ms": TARGET_LOAD_MS,
            "bytes_per_range": TARGET_BYTES_PER_RANGE,
            "met": d.0 <= TARGET_DECIDE_NS
                && lo.0 < TARGET_LOAD_MS
                && bytes_per_range <= TARGET_BYTES_PER_RANGE,
        },
        "naive_ops": naive_txs.len(),
        "reps": options.reps,
        "ops": options.ops,
    });
    Ok((report, ok))
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1), DEFAULTS, USAGE) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("routing-compare: {message}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok((report, ok)) => {
            println!("{report}");
            if ok {
                ExitCode::SUCCESS
            } else {
                eprintln!("routing-compare: mismatches or allocations in decide (see the report)");
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("routing-compare: {error}");
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
        assert_eq!((o.reps, o.ops), (5, 1_000_000));
    }
}
