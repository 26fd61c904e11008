//! The switch against itself (`--compare transport|journal|channel|stand-in`): two or three setups
//! of the switch ([`Variant`]s) run in turn, `--reps` times with the order rotated,
//! all in this process; one JSON line per mode with each setup's figures, the
//! ratios to the first setup, spreads, targets and every run.

use std::path::Path;

use benches::loopback::load_average;
use benches::measure::{round, stats};
use serde_json::{json, Map, Value};

use crate::args::{Mode, Options, Placement};
use crate::channel::{channel_rules, APP, CHANNEL_MIX, WALLET_CARDS};
use crate::cpu::process_cpu_us_per_txn;
use crate::fsync::fsync_latency;
use crate::runs::{run_in_child_on_rules, run_switch, SwitchRun};
use crate::setup::{load_of, Certs, Payments, SwitchSetup};
use crate::stand_in::{stand_in_rules, StandInCount, STAND_IN_MIX};
use crate::store::{run_nodes, PgServer};

/// `--compare transport` (issue 7): TLS+MAC TPS at least 0.7 × plain TCP in `closed64`.
const TARGET_SECURED_TPS_RATIO: f64 = 0.7;
/// `--compare journal` (issue 6): strict TPS at least 0.8 × no journal in `closed64`;
/// relaxed p99 at most 1.2 × no journal in `rate10k`.
const TARGET_STRICT_TPS_RATIO: f64 = 0.8;
const TARGET_RELAXED_P99_RATIO: f64 = 1.2;
/// `--compare channel` (issue 22): token (QR) TPS at least 0.9 × card TPS in `closed64`.
const TARGET_QR_TPS_RATIO: f64 = 0.9;
/// `--compare stand-in` (issue 18): stand-in TPS at least 0.9 × normal forwarding
/// TPS in `closed64`.
const TARGET_STAND_IN_TPS_RATIO: f64 = 0.9;

/// One of the switch setups a `--compare` run rotates through.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    /// Prefix of its figures in the JSON line (`plain`, `secured`; `none`, ...).
    pub label: &'static str,
    pub setup: SwitchSetup,
    /// The variant its ratios are over (0, the first, but in `--compare
    /// store`, where two nodes are compared with one).
    pub against: usize,
}

impl Variant {
    /// A variant compared with the first.
    pub fn new(label: &'static str, setup: SwitchSetup) -> Variant {
        Variant {
            label,
            setup,
            against: 0,
        }
    }
}

/// One run of a variant.
pub struct VariantRun {
    pub rep: usize,
    pub variant: usize,
    pub run: SwitchRun,
}

/// The runs of a rotation, and per variant why it could not run (a variant on
/// PostgreSQL whose server is missing or failed is left out of the
/// repetitions after its first failure; any other failure ends the rotation).
pub struct Rotation {
    pub runs: Vec<VariantRun>,
    pub failed: Vec<Option<String>>,
}

/// Every variant once per repetition, the order rotated from one repetition to
/// the next (with two: alternated), so that none always runs first. `pg`: the
/// server of `--compare store` (or why there is none).
pub async fn rotate_variants(
    mode: Mode,
    variants: &[Variant],
    o: &Options,
    table: &routing_rules::RoutingTable,
    certs: Option<&Certs>,
    rules: Option<&Path>,
    pg: Option<&PgServer>,
) -> Result<Rotation, String> {
    let load = load_of(mode, o);
    let mut runs = Vec::new();
    let mut failed: Vec<Option<String>> = vec![None; variants.len()];
    for rep in 0..o.reps {
        for k in 0..variants.len() {
            let variant = (k + rep) % variants.len();
            let v = &variants[variant];
            if failed[variant].is_some() {
                continue;
            }
            // `--compare store` runs its nodes in processes of their own;
            // `--compare channel` and `stand-in` (those with rules of their
            // own) honour `--middle`; the other compares always run in this
            // process.
            let run = match (v.setup.store, rules, o.middle) {
                (Some(store), _, _) => {
                    match run_nodes(&v.setup, store, pg, load, o, table).await {
                        Ok(run) => run,
                        // A PostgreSQL setup's failure is its own (the
                        // server is outside this program): said, and the
                        // other setups go on.
                        Err(e) if store.on_postgres() => {
                            eprintln!(
                                "switch-compare: {} rep {} {}: FAILED: {e}",
                                mode.name(),
                                rep + 1,
                                v.label
                            );
                            failed[variant] = Some(e);
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
                (None, Some(rules), Placement::Process) => {
                    run_in_child_on_rules(&v.setup, load, o, table, rules).await?
                }
                _ => run_switch(&v.setup, load, o, table, certs, rules).await?,
            };
            let f = &run.figures;
            eprintln!(
                "switch-compare: {} rep {} {:<8} {:>9.1} TPS  p50 {:>6} µs  p99 {:>6} µs  \
                 cpu {:.2} + others {:.2}{}  (switch added p50 {} µs p99 {} µs per hop){}{}{}",
                mode.name(),
                rep + 1,
                v.label,
                f.tps,
                f.p50_us,
                f.p99_us,
                f.cpu_self,
                f.cpu_others,
                f.send_lag_p99_us
                    .map(|l| format!("  send lag p99 {l} µs"))
                    .unwrap_or_default(),
                run.added.0,
                run.added.1,
                run.switch_cpu_us_per_txn
                    .map(|c| format!("  switch process {c:.1} µs/txn"))
                    .unwrap_or_default(),
                run.db_cpu_us_per_txn
                    .map(|c| format!(" + database {c:.1} µs/txn"))
                    .unwrap_or_default(),
                run.txn_per_commit
                    .map(|t| format!("  {t:.1} txn/commit"))
                    .unwrap_or_default(),
            );
            if let Some(c) = run.stand_in.filter(|c| c.decisions() > 0) {
                eprintln!(
                    "switch-compare: {} rep {} {:<8} stand-in {} approved, {} declined; \
                     {} in store-and-forward",
                    mode.name(),
                    rep + 1,
                    v.label,
                    c.approved,
                    c.declined,
                    c.saf_depth
                );
            }
            runs.push(VariantRun { rep, variant, run });
        }
    }
    Ok(Rotation { runs, failed })
}

/// The figures of a rotation, variant by variant (`{label}_tps`, ...), with the
/// ratios of each variant to the first, or the one it is `against`
/// (`{label}_tps_ratio`, or `tps_ratio` when there are two variants): medians
/// over the repetitions, then the spreads (the ratios' over each repetition's
/// pair). Returns the fields and whether every run was clean.
pub fn variant_fields(variants: &[Variant], runs: &[VariantRun]) -> (Map<String, Value>, bool) {
    let of = |i: usize, f: &dyn Fn(&SwitchRun) -> f64| {
        let v: Vec<f64> = runs
            .iter()
            .filter(|r| r.variant == i)
            .map(|r| f(&r.run))
            .collect();
        stats(&v)
    };
    // Per repetition, variant `i`'s figure over the one it is against.
    let pairs = |i: usize, f: &dyn Fn(&SwitchRun) -> f64| {
        let v: Vec<f64> = (0..runs.iter().map(|r| r.rep + 1).max().unwrap_or(0))
            .filter_map(|rep| {
                let find = |v: usize| runs.iter().find(|r| r.rep == rep && r.variant == v);
                Some(f(&find(i)?.run) / f(&find(variants[i].against)?.run))
            })
            .collect();
        stats(&v)
    };
    let tps = |r: &SwitchRun| r.figures.tps;
    let p50 = |r: &SwitchRun| r.figures.p50_us as f64;
    let p99 = |r: &SwitchRun| r.figures.p99_us as f64;
    let ratio_key = |i: usize, what: &str| {
        if variants.len() == 2 {
            format!("{what}_ratio")
        } else {
            format!("{}_{what}_ratio", variants[i].label)
        }
    };
    let mut m = Map::new();
    let mut put = |k: String, v: Value| {
        m.insert(k, v);
    };
    for (i, v) in variants.iter().enumerate() {
        put(format!("{}_tps", v.label), json!(round(of(i, &tps).0, 1)));
    }
    for (i, v) in variants.iter().enumerate().skip(1) {
        let base = v.against;
        put(
            ratio_key(i, "tps"),
            json!(round(of(i, &tps).0 / of(base, &tps).0, 3)),
        );
    }
    for (i, v) in variants.iter().enumerate() {
        put(format!("{}_p50_us", v.label), json!(of(i, &p50).0));
    }
    for (i, v) in variants.iter().enumerate() {
        put(format!("{}_p99_us", v.label), json!(of(i, &p99).0));
    }
    for (i, v) in variants.iter().enumerate().skip(1) {
        let base = v.against;
        put(
            ratio_key(i, "p50"),
            json!(round(of(i, &p50).0 / of(base, &p50).0, 3)),
        );
        put(
            ratio_key(i, "p99"),
            json!(round(of(i, &p99).0 / of(base, &p99).0, 3)),
        );
    }
    for i in 1..variants.len() {
        for (what, f) in [("tps", &tps as &dyn Fn(&SwitchRun) -> f64), ("p99", &p99)] {
            let (_, lo, hi) = pairs(i, f);
            let key = ratio_key(i, what);
            put(format!("{key}_min"), json!(round(lo, 3)));
            put(format!("{key}_max"), json!(round(hi, 3)));
        }
    }
    for (i, v) in variants.iter().enumerate() {
        let (_, lo, hi) = of(i, &tps);
        put(format!("{}_tps_min", v.label), json!(round(lo, 1)));
        put(format!("{}_tps_max", v.label), json!(round(hi, 1)));
        let (_, lo, hi) = of(i, &p99);
        put(format!("{}_p99_us_min", v.label), json!(lo));
        put(format!("{}_p99_us_max", v.label), json!(hi));
    }
    for (i, v) in variants.iter().enumerate() {
        let lag = of(i, &|r: &SwitchRun| {
            r.figures.send_lag_p99_us.map_or(f64::NAN, |l| l as f64)
        })
        .0;
        if !lag.is_nan() {
            put(format!("{}_send_lag_p99_us", v.label), json!(lag));
        }
    }
    for (i, v) in variants.iter().enumerate() {
        put(
            format!("{}_added_p50_us", v.label),
            json!(of(i, &|r: &SwitchRun| r.added.0 as f64).0),
        );
        put(
            format!("{}_added_p99_us", v.label),
            json!(of(i, &|r: &SwitchRun| r.added.1 as f64).0),
        );
    }
    for (i, v) in variants.iter().enumerate() {
        let share = of(i, &|r: &SwitchRun| {
            r.issuer_answered as f64 / r.figures.answered.max(1) as f64
        });
        put(
            format!("{}_issuer_share", v.label),
            json!(round(share.0, 4)),
        );
    }
    for (i, v) in variants.iter().enumerate() {
        let codes = runs
            .iter()
            .find(|r| r.variant == i)
            .map_or(Value::Null, |r| json!(r.run.figures.codes));
        put(format!("{}_codes", v.label), codes);
    }
    for (i, v) in variants.iter().enumerate() {
        let cpu = of(i, &|r: &SwitchRun| r.figures.cpu_self).0;
        put(format!("{}_cpu", v.label), json!(round(cpu, 3)));
    }
    // The process's CPU time per answered transaction (switch and simulators
    // together, every core counted): steadier than TPS on a noisy machine, and
    // what bounds TPS once the CPU is the limit. `*_cpu_efficiency` is the
    // first variant's cost over this one's, per repetition: the TPS ratio the
    // CPU cost alone would allow.
    let cpu_us_per_txn = |r: &SwitchRun| process_cpu_us_per_txn(&r.figures);
    for (i, v) in variants.iter().enumerate() {
        put(
            format!("{}_cpu_us_per_txn", v.label),
            json!(round(of(i, &cpu_us_per_txn).0, 2)),
        );
    }
    for (i, v) in variants.iter().enumerate().skip(1) {
        let (median, lo, hi) = pairs(i, &|r: &SwitchRun| 1.0 / cpu_us_per_txn(r));
        put(
            format!("{}_cpu_efficiency", v.label),
            json!(round(median, 3)),
        );
        put(
            format!("{}_cpu_efficiency_min", v.label),
            json!(round(lo, 3)),
        );
        put(
            format!("{}_cpu_efficiency_max", v.label),
            json!(round(hi, 3)),
        );
    }
    let others_max = runs
        .iter()
        .map(|r| r.run.figures.cpu_others)
        .fold(0.0, f64::max);
    put("others_cpu_max".into(), json!(round(others_max, 3)));
    // With the switch in a process of its own: its CPU per transaction apart.
    let switch_cpu = |r: &SwitchRun| r.switch_cpu_us_per_txn.unwrap_or(f64::NAN);
    if runs.iter().any(|r| r.run.switch_cpu_us_per_txn.is_some()) {
        for (i, v) in variants.iter().enumerate() {
            let key = format!("{}_switch_cpu_us_per_txn", v.label);
            put_spread(&mut m, &key, of(i, &switch_cpu), 2);
        }
        for i in 1..variants.len() {
            put_spread(
                &mut m,
                &ratio_key(i, "switch_cpu"),
                pairs(i, &switch_cpu),
                3,
            );
        }
    }
    let clean = runs.iter().all(|r| {
        let f = &r.run.figures;
        f.errors == 0 && f.timed_out == 0 && f.answered > 0
    });
    (m, clean)
}

/// `key`, `key_min` and `key_max`: a median and its spread, rounded to `digits`.
pub fn put_spread(
    m: &mut Map<String, Value>,
    key: &str,
    (median, lo, hi): (f64, f64, f64),
    digits: i32,
) {
    m.insert(key.into(), json!(round(median, digits)));
    m.insert(format!("{key}_min"), json!(round(lo, digits)));
    m.insert(format!("{key}_max"), json!(round(hi, digits)));
}

/// Every run of a rotation as JSON, with its variant's label.
pub fn runs_json(variants: &[Variant], runs: &[VariantRun]) -> Value {
    runs.iter()
        .map(|r| {
            let mut v = r.run.figures.to_json();
            if let Some(m) = v.as_object_mut() {
                m.insert("variant".into(), json!(variants[r.variant].label));
                m.insert("rep".into(), json!(r.rep + 1));
                m.remove("codes");
            }
            v
        })
        .collect::<Vec<_>>()
        .into()
}

/// `target` and `met` of a compare whose target is a `tps_ratio` of at least
/// `at_least` in `closed64` (its issue sets no latency target: `rate10k`
/// reports the p99 ratio, target and met null).
fn put_tps_target(m: &mut Map<String, Value>, mode: Mode, at_least: f64) {
    let ratio = m
        .get("tps_ratio")
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN);
    let (target, met) = match mode {
        Mode::Closed64 => (
            json!({"tps_ratio_at_least": at_least}),
            json!(ratio >= at_least),
        ),
        _ => (Value::Null, Value::Null),
    };
    m.insert("target".into(), target);
    m.insert("met".into(), met);
}

/// The run's settings at the end of a line.
pub fn settings(m: &mut Map<String, Value>, mode: Mode, o: &Options, load_before: Option<f64>) {
    m.insert("load_average_before".into(), json!(load_before));
    m.insert("load_average_after".into(), json!(load_average()));
    m.insert("connections".into(), json!(o.connections));
    if mode == Mode::Rate10k {
        m.insert("rate".into(), json!(o.rate));
    }
    m.insert("secs".into(), json!(o.secs));
    m.insert("reps".into(), json!(o.reps));
}

/// `--compare transport`: the switch over plain TCP and over `--transport`,
/// alternated; the mode's JSON line and whether every run was clean.
pub async fn compare_transport(
    mode: Mode,
    o: &Options,
    table: &routing_rules::RoutingTable,
    certs: Option<&Certs>,
) -> Result<(Value, bool), String> {
    let variants = [
        Variant::new("plain", SwitchSetup::plain(o.journal)),
        Variant::new(
            "secured",
            SwitchSetup {
                tls: o.transport.tls(),
                mac: o.transport.mac(),
                ..SwitchSetup::plain(o.journal)
            },
        ),
    ];
    let load_before = load_average();
    let runs = rotate_variants(mode, &variants, o, table, certs, None, None)
        .await?
        .runs;
    let (fields, clean) = variant_fields(&variants, &runs);
    let mut m = Map::new();
    m.insert("mode".into(), json!(mode.name()));
    m.insert("compare".into(), json!("transport"));
    m.insert("transport".into(), json!(o.transport.name()));
    m.extend(fields);
    put_tps_target(&mut m, mode, TARGET_SECURED_TPS_RATIO);
    m.insert("journal".into(), json!(o.journal));
    settings(&mut m, mode, o, load_before);
    m.insert("runs".into(), runs_json(&variants, &runs));
    Ok((Value::Object(m), clean))
}

/// `--compare journal`: the switch without a journal, with a relaxed one and a
/// strict one, rotated, and the fsync latency of the journal's directory measured
/// just before; the mode's JSON line and whether every run was clean.
pub async fn compare_journal(
    mode: Mode,
    o: &Options,
    table: &routing_rules::RoutingTable,
) -> Result<(Value, bool), String> {
    let variant = |journal: &'static str| Variant::new(journal, SwitchSetup::plain(journal));
    let variants = [variant("none"), variant("relaxed"), variant("strict")];
    let load_before = load_average();
    let dir = std::env::temp_dir();
    let fsyncs = {
        let (dir, n) = (dir.clone(), o.fsyncs);
        tokio::task::spawn_blocking(move || fsync_latency(&dir, n))
            .await
            .map_err(|e| format!("fsync task: {e}"))??
    };
    eprintln!(
        "switch-compare: {} fsync of 4 KiB in {}: p50 {} µs  p99 {} µs  max {} µs",
        mode.name(),
        dir.display(),
        fsyncs.p50_us,
        fsyncs.p99_us,
        fsyncs.max_us
    );
    let runs = rotate_variants(mode, &variants, o, table, None, None, None)
        .await?
        .runs;
    let (fields, clean) = variant_fields(&variants, &runs);
    let mut m = Map::new();
    m.insert("mode".into(), json!(mode.name()));
    m.insert("compare".into(), json!("journal"));
    for (k, v) in fields {
        let beside_strict_p99 = k == "strict_p99_us";
        m.insert(k, v);
        if beside_strict_p99 {
            m.insert("fsync_p50_us".into(), json!(fsyncs.p50_us));
            m.insert("fsync_p99_us".into(), json!(fsyncs.p99_us));
        }
    }
    let get = |k: &str| m.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    let (target, met) = match mode {
        Mode::Closed64 => (
            json!({"strict_tps_ratio_at_least": TARGET_STRICT_TPS_RATIO}),
            get("strict_tps_ratio") >= TARGET_STRICT_TPS_RATIO,
        ),
        _ => (
            json!({"relaxed_p99_ratio_at_most": TARGET_RELAXED_P99_RATIO}),
            get("relaxed_p99_ratio") <= TARGET_RELAXED_P99_RATIO,
        ),
    };
    m.insert("target".into(), target);
    m.insert("met".into(), json!(met));
    m.insert(
        "fsync".into(),
        json!({
            "what": "append 4 KiB, then fdatasync",
            "dir": dir.display().to_string(),
            "count": o.fsyncs,
            "p50_us": fsyncs.p50_us,
            "p99_us": fsyncs.p99_us,
            "max_us": fsyncs.max_us,
        }),
    );
    settings(&mut m, mode, o, load_before);
    m.insert("runs".into(), runs_json(&variants, &runs));
    Ok((Value::Object(m), clean))
}

/// `--compare channel`: card purchases against token purchases by QR (every
/// purchase by app, from a wallet enrolled for the run), alternated, on the
/// national rules with the app purchase limit raised (see [`crate::channel`]);
/// the mode's JSON line and whether every run was clean.
pub async fn compare_channel(
    mode: Mode,
    o: &Options,
    table: &routing_rules::RoutingTable,
) -> Result<(Value, bool), String> {
    let variant = |label: &'static str, payments: Payments| {
        Variant::new(
            label,
            SwitchSetup {
                payments,
                ..SwitchSetup::plain("none")
            },
        )
    };
    let variants = [
        variant("card", Payments::CardPurchases),
        variant("qr", Payments::QrPurchases),
    ];
    let rules = channel_rules()?;
    let load_before = load_average();
    let runs = rotate_variants(mode, &variants, o, table, None, Some(&rules.path), None)
        .await?
        .runs;
    let (fields, clean) = variant_fields(&variants, &runs);
    let mut m = Map::new();
    m.insert("mode".into(), json!(mode.name()));
    m.insert("compare".into(), json!("channel"));
    m.extend(fields);
    let get = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_f64);
    // The CPU a token payment adds, this whole process's (switch, acquirer and
    // issuer simulators together: the app's code and the reader's parsing too).
    if let (Some(card), Some(qr)) = (get(&m, "card_cpu_us_per_txn"), get(&m, "qr_cpu_us_per_txn")) {
        m.insert("qr_cpu_us_added_per_txn".into(), json!(round(qr - card, 2)));
    }
    let enrolled: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.run.enrolment.as_ref())
        .map(|e| e.enrolled as f64)
        .collect();
    let (tokens, tokens_min, tokens_max) = stats(&enrolled);
    m.insert("qr_tokens".into(), json!(tokens));
    m.insert("qr_tokens_min".into(), json!(tokens_min));
    m.insert("qr_tokens_max".into(), json!(tokens_max));
    let enrolment = runs
        .iter()
        .find_map(|r| r.run.enrolment.as_ref())
        .map_or(Value::Null, |e| e.to_json());
    m.insert("qr_enrolment".into(), enrolment);
    put_tps_target(&mut m, mode, TARGET_QR_TPS_RATIO);
    m.insert("middle".into(), json!(o.middle.name()));
    m.insert("app".into(), json!(APP));
    m.insert("wallet_cards".into(), json!(WALLET_CARDS));
    m.insert("mix".into(), json!(CHANNEL_MIX));
    m.insert(
        "rules".into(),
        json!("national, app-purchase-limit raised to 2,000,000 KPW"),
    );
    // The token's counters are durable only with a journal; without one (as
    // in the other compares) the vault and the counters live in memory.
    m.insert("journal".into(), json!("none"));
    settings(&mut m, mode, o, load_before);
    m.insert("runs".into(), runs_json(&variants, &runs));
    Ok((Value::Object(m), clean))
}

/// `--compare stand-in`: the same purchases and cash withdrawals forwarded to
/// an issuer that answers (`normal`) and answered by the switch in stand-in for
/// the same issuer taken down before the load (`stand_in`), alternated; both
/// with the journal (`--journal`, relaxed by default) and the vault's key, so
/// that stand-in is on, on the national rules with the stand-in daily limits
/// raised (see [`crate::stand_in`]). The mode's JSON line and whether every run
/// was clean (and every stand-in run answered from stand-in only).
pub async fn compare_stand_in(
    mode: Mode,
    o: &Options,
    table: &routing_rules::RoutingTable,
) -> Result<(Value, bool), String> {
    let variant = |label: &'static str, issuer_down: bool| {
        Variant::new(
            label,
            SwitchSetup {
                payments: Payments::PurchasesAndCash,
                kek: true,
                issuer_down,
                ..SwitchSetup::plain(o.journal)
            },
        )
    };
    let variants = [variant("normal", false), variant("stand_in", true)];
    let rules = stand_in_rules()?;
    let load_before = load_average();
    let runs = rotate_variants(mode, &variants, o, table, None, Some(&rules.path), None)
        .await?
        .runs;
    let (fields, mut clean) = variant_fields(&variants, &runs);
    let mut m = Map::new();
    m.insert("mode".into(), json!(mode.name()));
    m.insert("compare".into(), json!("stand-in"));
    m.extend(fields);
    // The stand-in runs' decisions per answer, the approvals' share of them
    // and the advices owed at the end of a run.
    let of = |f: &dyn Fn(StandInCount, f64) -> f64| {
        let values: Vec<f64> = runs
            .iter()
            .filter(|r| variants[r.variant].setup.issuer_down)
            .map(|r| {
                let answered = r.run.figures.answered.max(1) as f64;
                f(r.run.stand_in.unwrap_or_default(), answered)
            })
            .collect();
        stats(&values)
    };
    let decided = of(&|c, answered| c.decisions() as f64 / answered);
    put_spread(&mut m, "stand_in_decided_share", decided, 4);
    let approved = of(&|c, _| c.approved as f64 / c.decisions().max(1) as f64);
    put_spread(&mut m, "stand_in_approved_share", approved, 4);
    m.insert(
        "stand_in_saf_depth".into(),
        json!(of(&|c, _| c.saf_depth as f64).0),
    );
    // A stand-in run must not have reached the issuer, nor a normal one have
    // stood in: either would compare something else.
    clean &= runs.iter().all(|r| {
        let decisions = r.run.stand_in.map_or(0, |c| c.decisions());
        match variants[r.variant].setup.issuer_down {
            true => r.run.issuer_answered == 0 && decisions >= r.run.figures.answered,
            false => decisions == 0,
        }
    });
    put_tps_target(&mut m, mode, TARGET_STAND_IN_TPS_RATIO);
    m.insert("middle".into(), json!(o.middle.name()));
    m.insert("mix".into(), json!(STAND_IN_MIX));
    m.insert(
        "rules".into(),
        json!("national, stand-in daily counts and amounts raised"),
    );
    m.insert("journal".into(), json!(o.journal));
    settings(&mut m, mode, o, load_before);
    m.insert("runs".into(), runs_json(&variants, &runs));
    Ok((Value::Object(m), clean))
}
