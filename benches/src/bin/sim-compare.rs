//! `sim-compare`: the two simulators against each other, and against a bare tokio
//! echo of the same frames, on this machine, in one run.
//!
//! `cargo run --release -p benches --bin sim-compare [--reps N] [--secs S]
//! [--connections C]` (defaults 3, 5 and 64) runs, in one process on one tokio
//! runtime (a worker per core), on 127.0.0.1, closed loop with C connections and one
//! request outstanding on each, S seconds per run:
//!
//! - `sim`: the acquirer simulator (`simulators::acquirer::execute`: 0200s of the
//!   default mix from bank 940857 for cards of bank 940810) against the issuer
//!   simulator of 940810 (`simulators::issuer::start`), started afresh for the run;
//! - `echo`: the same acquirer simulator against a bare tokio echo server that
//!   writes every whole frame back as soon as it has it, changing one byte: the
//!   MTI's function digit (0200 → 0210), so that the acquirer matches the echo as
//!   the answer to its request (an unchanged echo is a request, which it would not
//!   match, and a closed loop would stall). The acquirer decodes it, finds no field
//!   39 and counts it under response code `??`;
//! - `bare_echo`: the same echo server, unchanged frames, driven by a bare client
//!   ([`benches::loopback::echo_client`]): C connections each writing a request
//!   frame made by the acquirer simulator's own builder, reading the whole echoed
//!   frame, and again; the floor of what this machine does for 64 × 1 round trips.
//!
//! Each repetition runs `echo` and `sim` (in alternating order) then `bare_echo`.
//! TPS is answers over the load window (the acquirer report's `tps`), latencies
//! are percentiles of each request's round trip in microseconds (HdrHistogram, 3
//! significant digits). One JSON line: medians over the repetitions, `_min`/`_max`
//! the spread; `ratio` = median `sim_tps` / median `echo_tps`, `bare_ratio` the
//! same against `bare_echo_tps`; `ratio_min`/`ratio_max` over the repetitions'
//! pairs; `target` = the (`sim` at least 0.6 × `echo`; `bare_met` the
//! same against `bare_echo`), reported, not enforced; `*_cpu` the share of the machine's CPU this process used (1.0 = every
//! core) and `others_cpu_max` the largest share anything else used during a run,
//! with the load averages (on a shared machine other work skews the figures);
//! `runs` every run. The process fails when a run had errors or timeouts.

use std::process::ExitCode;
use std::time::Duration;

use benches::loopback::{
    acquirer_options, echo_client, echo_server, issuer_options, load_average, load_rules,
    traffic_plan, Figures, Load, RequestStream, RunWatch,
};
use benches::measure::{parse_named, positive, round, stats};
use serde_json::{json, Value};
use simulators::acquirer;
use simulators::issuer::{self, faults::Latency};

const USAGE: &str = "usage: sim-compare [--reps N] [--secs S] [--connections C]   \
                     (defaults: 3, 5, 64)";

/// The target: `sim` TPS at least this share of `echo` TPS.
const TARGET_RATIO: f64 = 0.6;
/// Request frames the bare client cycles through per connection.
const FRAMES_PER_CONNECTION: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Options {
    reps: usize,
    secs: f64,
    connections: usize,
}

const DEFAULTS: Options = Options {
    reps: 3,
    secs: 5.0,
    connections: 64,
};

fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let Some(flags) = parse_named(args, &["--reps", "--secs", "--connections"], USAGE)? else {
        return Ok(None);
    };
    let mut o = DEFAULTS;
    for (flag, value) in flags {
        match flag.as_str() {
            "--reps" => o.reps = positive::<u32>(&flag, &value)? as usize,
            "--secs" => o.secs = positive::<f64>(&flag, &value)?,
            _ => o.connections = positive::<u32>(&flag, &value)? as usize,
        }
    }
    if o.connections > 4096 {
        return Err(format!("--connections: at most 4096\n{USAGE}"));
    }
    Ok(Some(o))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Echo,
    Sim,
    BareEcho,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Echo => "echo",
            Kind::Sim => "sim",
            Kind::BareEcho => "bare_echo",
        }
    }
}

/// One run of `kind`.
async fn run_one(
    kind: Kind,
    o: &Options,
    table: &routing_rules::RoutingTable,
    frames: &[Vec<Vec<u8>>],
) -> Result<Figures, String> {
    let load = Load::Closed {
        connections: o.connections,
    };
    match kind {
        Kind::Echo => {
            let echo = echo_server(true).await?;
            let watch = RunWatch::start();
            let report =
                acquirer::execute(&acquirer_options(echo.addr, load, o.secs)?, false).await;
            let seen = watch.finish();
            drop(echo);
            Ok(Figures::of_report(&report?).watched(seen))
        }
        Kind::Sim => {
            let running = issuer::start(issuer_options(Latency::None)?, table).await?;
            let addr = running.addr.ok_or("the issuer has no address")?;
            let watch = RunWatch::start();
            let report = acquirer::execute(&acquirer_options(addr, load, o.secs)?, false).await;
            let seen = watch.finish();
            running.stop().await?;
            Ok(Figures::of_report(&report?).watched(seen))
        }
        Kind::BareEcho => {
            let echo = echo_server(false).await?;
            let watch = RunWatch::start();
            let load =
                echo_client(echo.addr, frames.to_vec(), Duration::from_secs_f64(o.secs)).await;
            let seen = watch.finish();
            Ok(Figures::of_load(&load?).watched(seen))
        }
    }
}

/// Median, min and max of one figure over the runs of a kind.
fn spread(runs: &[(Kind, Figures)], kind: Kind, f: impl Fn(&Figures) -> f64) -> (f64, f64, f64) {
    let values: Vec<f64> = runs
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, x)| f(x))
        .collect();
    stats(&values)
}

async fn run(o: &Options) -> Result<(Value, bool), String> {
    let table = load_rules()?;
    let plan = traffic_plan(&table)?;
    let mut frames = Vec::with_capacity(o.connections);
    for c in 0..o.connections {
        let mut s = RequestStream::new(plan.clone(), c, o.connections)?;
        frames.push(
            (0..FRAMES_PER_CONNECTION)
                .map(|_| s.next_frame())
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    drop(plan);

    let load_before = load_average();
    let mut runs: Vec<(Kind, Figures)> = Vec::new();
    let mut ratios = Vec::new();
    for rep in 0..o.reps {
        let order = if rep % 2 == 0 {
            [Kind::Echo, Kind::Sim, Kind::BareEcho]
        } else {
            [Kind::Sim, Kind::Echo, Kind::BareEcho]
        };
        let (mut echo_tps, mut sim_tps) = (0.0, 0.0);
        for kind in order {
            let figures = run_one(kind, o, &table, &frames).await?;
            eprintln!(
                "sim-compare: rep {} {:<9} {:>9.1} TPS  p50 {:>6} µs  p99 {:>6} µs  \
                 cpu {:.2} + others {:.2}",
                rep + 1,
                kind.name(),
                figures.tps,
                figures.p50_us,
                figures.p99_us,
                figures.cpu_self,
                figures.cpu_others
            );
            match kind {
                Kind::Echo => echo_tps = figures.tps,
                Kind::Sim => sim_tps = figures.tps,
                Kind::BareEcho => {}
            }
            runs.push((kind, figures));
        }
        ratios.push(sim_tps / echo_tps);
    }

    let tps = |k| spread(&runs, k, |f| f.tps);
    let p50 = |k| spread(&runs, k, |f| f.p50_us as f64).0;
    let p99 = |k| spread(&runs, k, |f| f.p99_us as f64).0;
    let (echo, sim, bare) = (tps(Kind::Echo), tps(Kind::Sim), tps(Kind::BareEcho));
    let ratio = sim.0 / echo.0;
    let (_, ratio_min, ratio_max) = stats(&ratios);
    let clean = runs
        .iter()
        .all(|(_, f)| f.errors == 0 && f.timed_out == 0 && f.answered > 0);
    let report = json!({
        "echo_tps": round(echo.0, 1),
        "sim_tps": round(sim.0, 1),
        "ratio": round(ratio, 3),
        "echo_p50_us": p50(Kind::Echo),
        "echo_p99_us": p99(Kind::Echo),
        "sim_p50_us": p50(Kind::Sim),
        "sim_p99_us": p99(Kind::Sim),
        "bare_echo_tps": round(bare.0, 1),
        "bare_echo_p50_us": p50(Kind::BareEcho),
        "bare_echo_p99_us": p99(Kind::BareEcho),
        "bare_ratio": round(sim.0 / bare.0, 3),
        "echo_tps_min": round(echo.1, 1),
        "echo_tps_max": round(echo.2, 1),
        "sim_tps_min": round(sim.1, 1),
        "sim_tps_max": round(sim.2, 1),
        "bare_echo_tps_min": round(bare.1, 1),
        "bare_echo_tps_max": round(bare.2, 1),
        "ratio_min": round(ratio_min, 3),
        "ratio_max": round(ratio_max, 3),
        "target": {
            "ratio": TARGET_RATIO,
            "met": ratio >= TARGET_RATIO,
            "bare_met": sim.0 / bare.0 >= TARGET_RATIO,
        },
        "echo_cpu": round(spread(&runs, Kind::Echo, |f| f.cpu_self).0, 3),
        "sim_cpu": round(spread(&runs, Kind::Sim, |f| f.cpu_self).0, 3),
        "bare_echo_cpu": round(spread(&runs, Kind::BareEcho, |f| f.cpu_self).0, 3),
        "others_cpu_max": round(runs.iter().map(|(_, f)| f.cpu_others).fold(0.0, f64::max), 3),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "connections": o.connections,
        "outstanding_per_connection": 1,
        "secs": o.secs,
        "reps": o.reps,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "runs": runs
            .iter()
            .map(|(k, f)| {
                let mut v = f.to_json();
                if let Some(m) = v.as_object_mut() {
                    m.insert("kind".into(), json!(k.name()));
                }
                v
            })
            .collect::<Vec<_>>(),
    });
    Ok((report, clean))
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("sim-compare: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sim-compare: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&options)) {
        Ok((report, clean)) => {
            println!("{report}");
            if clean {
                ExitCode::SUCCESS
            } else {
                eprintln!("sim-compare: a run had errors or timeouts (see runs)");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("sim-compare: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags() {
        assert_eq!(parse(args("")).unwrap(), Some(DEFAULTS));
        let o = parse(args("--reps 1 --secs=0.5 --connections 8"))
            .unwrap()
            .unwrap();
        assert_eq!((o.reps, o.secs, o.connections), (1, 0.5, 8));
        assert_eq!(parse(args("--help")).unwrap(), None);
        assert!(parse(args("--secs 0")).is_err());
        assert!(parse(args("--connections 5000")).is_err());
        assert!(parse(args("--rate 5")).is_err());
    }
}
