//! Relay vs switch (`closed64`, `rate10k`): the plain frame relay and the switch
//! carry the same load in turn, `--reps` times (the order alternated), and one
//! JSON line sums the mode up: medians, spreads, the targets, every run.

use benches::loopback::{load_average, Figures};
use benches::measure::{round, stats};
use serde_json::{json, Value};

use crate::args::{Mode, Options};
use crate::runs::{run_one, Middle, Run};
use crate::setup::load_of;

/// The targets: switch TPS at least 0.8 × the relay's in `closed64`,
/// switch p99 at most 1.5 × the relay's in `rate10k`.
const TARGET_TPS_RATIO: f64 = 0.8;
const TARGET_P99_RATIO: f64 = 1.5;

/// Relay and switch, alternating, `reps` times; the mode's JSON line and whether
/// every run was clean.
pub async fn compare(
    mode: Mode,
    o: &Options,
    table: &routing_rules::RoutingTable,
) -> Result<(Value, bool), String> {
    let load = load_of(mode, o);
    let load_before = load_average();
    let mut runs = Vec::new();
    for rep in 0..o.reps {
        let order = if rep % 2 == 0 {
            [Middle::Relay, Middle::Switch]
        } else {
            [Middle::Switch, Middle::Relay]
        };
        for middle in order {
            let run = run_one(middle, load, o, table).await?;
            let f = &run.figures;
            eprintln!(
                "switch-compare: {} rep {} {:<6} {:>9.1} TPS  p50 {:>6} µs  p99 {:>6} µs  \
                 cpu {:.2} + others {:.2}  {} {:.1} µs/txn{}{}",
                mode.name(),
                rep + 1,
                middle.name(),
                f.tps,
                f.p50_us,
                f.p99_us,
                f.cpu_self,
                f.cpu_others,
                o.middle.name(),
                run.cpu_us_per_txn,
                f.send_lag_p99_us
                    .map(|l| format!("  send lag p99 {l} µs"))
                    .unwrap_or_default(),
                run.added
                    .map(|(p50, p99)| format!("  (switch added p50 {p50} µs p99 {p99} µs per hop)"))
                    .unwrap_or_default()
            );
            runs.push(run);
        }
    }
    let pick = |m: Middle, f: &dyn Fn(&Run) -> f64| {
        let v: Vec<f64> = runs.iter().filter(|r| r.middle == m).map(f).collect();
        stats(&v)
    };
    let tps = |m| pick(m, &|r: &Run| r.figures.tps);
    let p50 = |m| pick(m, &|r: &Run| r.figures.p50_us as f64);
    let p99 = |m| pick(m, &|r: &Run| r.figures.p99_us as f64);
    let (rt, st) = (tps(Middle::Relay), tps(Middle::Switch));
    let (r50, s50) = (p50(Middle::Relay), p50(Middle::Switch));
    let (r99, s99) = (p99(Middle::Relay), p99(Middle::Switch));
    let added50 = pick(Middle::Switch, &|r: &Run| {
        r.added.map_or(f64::NAN, |a| a.0 as f64)
    });
    let added99 = pick(Middle::Switch, &|r: &Run| {
        r.added.map_or(f64::NAN, |a| a.1 as f64)
    });
    // Open loop: the acquirer's own lateness (median over the runs of its p99).
    let lag = |m| {
        let v = pick(m, &|r: &Run| {
            r.figures.send_lag_p99_us.map_or(f64::NAN, |l| l as f64)
        });
        if v.0.is_nan() {
            Value::Null
        } else {
            json!(v.0)
        }
    };
    // Share of the answers that came from the issuer (1.0: the middle declined nothing itself).
    let share = |m| {
        pick(m, &|r: &Run| {
            r.issuer_answered as f64 / r.figures.answered.max(1) as f64
        })
        .0
    };
    let tps_ratio = st.0 / rt.0;
    let p99_ratio = s99.0 / r99.0;
    // The same ratios within each repetition (its relay and switch runs are adjacent).
    let pair = |f: &dyn Fn(&Run) -> f64| {
        let v: Vec<f64> = runs
            .chunks(2)
            .filter_map(|c| {
                let relay = c.iter().find(|r| r.middle == Middle::Relay)?;
                let switch = c.iter().find(|r| r.middle == Middle::Switch)?;
                Some(f(switch) / f(relay))
            })
            .collect();
        stats(&v)
    };
    let of_figures = |f: fn(&Figures) -> f64| move |r: &Run| f(&r.figures);
    let tps_pairs = pair(&of_figures(|f| f.tps));
    let p99_pairs = pair(&of_figures(|f| f.p99_us as f64));
    // The middle's CPU per transaction (see `--middle`) and the switch's over the relay's.
    let cpu_us = |r: &Run| r.cpu_us_per_txn;
    let (rc, sc) = (pick(Middle::Relay, &cpu_us), pick(Middle::Switch, &cpu_us));
    let cpu_pairs = pair(&cpu_us);
    let (target, met) = match mode {
        Mode::Closed64 => (
            json!({"tps_ratio_at_least": TARGET_TPS_RATIO}),
            tps_ratio >= TARGET_TPS_RATIO,
        ),
        _ => (
            json!({"p99_ratio_at_most": TARGET_P99_RATIO}),
            p99_ratio <= TARGET_P99_RATIO,
        ),
    };
    let codes = |m: Middle| {
        runs.iter()
            .find(|r| r.middle == m)
            .map(|r| json!(r.figures.codes))
            .unwrap_or(Value::Null)
    };
    let clean = runs
        .iter()
        .all(|r| r.figures.errors == 0 && r.figures.timed_out == 0 && r.figures.answered > 0);
    let others_max = runs
        .iter()
        .map(|r| r.figures.cpu_others)
        .fold(0.0, f64::max);
    let mut line = json!({
        "mode": mode.name(),
        "relay_tps": round(rt.0, 1),
        "switch_tps": round(st.0, 1),
        "tps_ratio": round(tps_ratio, 3),
        "relay_p50_us": r50.0,
        "switch_p50_us": s50.0,
        "relay_p99_us": r99.0,
        "switch_p99_us": s99.0,
        "p99_ratio": round(p99_ratio, 3),
        "tps_ratio_min": round(tps_pairs.1, 3),
        "tps_ratio_max": round(tps_pairs.2, 3),
        "p99_ratio_min": round(p99_pairs.1, 3),
        "p99_ratio_max": round(p99_pairs.2, 3),
        "relay_tps_min": round(rt.1, 1),
        "relay_tps_max": round(rt.2, 1),
        "switch_tps_min": round(st.1, 1),
        "switch_tps_max": round(st.2, 1),
        "relay_p99_us_min": r99.1,
        "relay_p99_us_max": r99.2,
        "switch_p99_us_min": s99.1,
        "switch_p99_us_max": s99.2,
        "relay_send_lag_p99_us": lag(Middle::Relay),
        "switch_send_lag_p99_us": lag(Middle::Switch),
        "switch_added_p50_us": added50.0,
        "switch_added_p99_us": added99.0,
        "relay_issuer_share": round(share(Middle::Relay), 4),
        "switch_issuer_share": round(share(Middle::Switch), 4),
        "relay_codes": codes(Middle::Relay),
        "switch_codes": codes(Middle::Switch),
        "target": target,
        "met": met,
        "relay_cpu": round(pick(Middle::Relay, &|r: &Run| r.figures.cpu_self).0, 3),
        "switch_cpu": round(pick(Middle::Switch, &|r: &Run| r.figures.cpu_self).0, 3),
        "others_cpu_max": round(others_max, 3),
        "middle": o.middle.name(),
        "relay_cpu_us_per_txn": round(rc.0, 2),
        "switch_cpu_us_per_txn": round(sc.0, 2),
        "cpu_ratio": round(sc.0 / rc.0, 3),
        "cpu_ratio_min": round(cpu_pairs.1, 3),
        "cpu_ratio_max": round(cpu_pairs.2, 3),
        "relay_cpu_us_per_txn_min": round(rc.1, 2),
        "relay_cpu_us_per_txn_max": round(rc.2, 2),
        "switch_cpu_us_per_txn_min": round(sc.1, 2),
        "switch_cpu_us_per_txn_max": round(sc.2, 2),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "journal": o.journal,
        "connections": o.connections,
        "secs": o.secs,
        "reps": o.reps,
    });
    if let Some(m) = line.as_object_mut() {
        if mode == Mode::Rate10k {
            m.insert("rate".into(), json!(o.rate));
        }
        m.insert(
            "runs".into(),
            runs.iter()
                .map(|r| {
                    let mut v = r.figures.to_json();
                    if let Some(m) = v.as_object_mut() {
                        m.insert("middle".into(), json!(r.middle.name()));
                        m.insert("cpu_us_per_txn".into(), json!(round(r.cpu_us_per_txn, 2)));
                        m.remove("codes");
                    }
                    v
                })
                .collect::<Vec<_>>()
                .into(),
        );
    }
    Ok((line, clean))
}
