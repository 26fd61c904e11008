//! The `cluster:` section of `sim demo --cluster N` (JSON `cluster`): what the
//! failures did ([`FaultLog`]), how long each acquirer host went unanswered
//! (its longest silence: the failover), the 96 answers of a database outage,
//! and the books after the drain: for every bank pair the issuer host's
//! approvals net of reversals equal the settlement, no reversal applied twice,
//! no transaction approved by two nodes. Each check is a line of the verdict
//! and counts toward the demo's `consistent`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};
use switch::store::settlement::Settlement;

use super::check::Total;
use super::cluster_faults::FaultLog;
use super::{AcquirerResult, Summary};
use crate::acquirer::report::amount_text;
use crate::issuer::report::Snapshot;

/// One bank pair's books.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairBooks {
    /// Acquiring bank.
    pub acquirer: String,
    /// The issuer host that authorizes the pair's cards.
    pub issuer: String,
    /// The settlement's net (all currencies, all business days of the run).
    pub settled: Total,
    /// The issuer host's approvals from that acquirer, less its reversals.
    pub issuer_net: Total,
    /// Reversals the issuer host applied for that acquirer.
    pub reversed: u64,
    /// Approvals it booked from that acquirer.
    pub approved: u64,
}

impl PairBooks {
    /// Settlement and issuer agree.
    pub fn agrees(&self) -> bool {
        self.settled == self.issuer_net
    }
}

/// Every pair seen in the settlement or in an issuer host's books. `hosts`
/// maps a bank to the host that authorizes its cards (when not its own).
pub fn pair_books(
    settlements: &[Settlement],
    issuers: &BTreeMap<String, Snapshot>,
    hosts: &BTreeMap<String, String>,
) -> Vec<PairBooks> {
    let mut pairs: BTreeMap<(String, String), PairBooks> = BTreeMap::new();
    for s in settlements {
        for p in &s.pairs {
            let host = hosts.get(&p.issuer).unwrap_or(&p.issuer);
            pair(&mut pairs, &p.acquirer, host)
                .settled
                .add(p.count.max(0) as u64, p.amount);
        }
    }
    for (host, snap) in issuers {
        for (acquirer, t) in &snap.approved {
            let pair = pair(&mut pairs, acquirer, host);
            pair.issuer_net.add(t.count, t.amount);
            pair.approved += t.count;
        }
        for (acquirer, t) in &snap.reversed_by_acquirer {
            let pair = pair(&mut pairs, acquirer, host);
            pair.issuer_net.count = pair.issuer_net.count.saturating_sub(t.count);
            pair.issuer_net.amount -= t.amount;
            pair.reversed += t.count;
        }
    }
    pairs.into_values().collect()
}

fn pair<'a>(
    pairs: &'a mut BTreeMap<(String, String), PairBooks>,
    acquirer: &str,
    issuer: &str,
) -> &'a mut PairBooks {
    pairs
        .entry((acquirer.to_owned(), issuer.to_owned()))
        .or_insert_with(|| PairBooks {
            acquirer: acquirer.to_owned(),
            issuer: issuer.to_owned(),
            settled: Total::default(),
            issuer_net: Total::default(),
            reversed: 0,
            approved: 0,
        })
}

/// What the cluster section reports.
pub struct ClusterRun<'a> {
    /// The failures and what the watch saw.
    pub log: &'a FaultLog,
    /// The acquirer hosts.
    pub results: &'a [AcquirerResult],
    /// The books of every pair.
    pub pairs: &'a [PairBooks],
    /// Reversals the issuer hosts received for originals already reversed.
    pub reversal_repeats: u64,
    /// Transactions approved in the journal by more than one node (Err: not read).
    pub cross_node_duplicates: Result<u64, String>,
}

impl ClusterRun<'_> {
    /// The longest silence of any acquirer host, ms, and whose.
    fn longest_silence(&self) -> Option<(&str, f64)> {
        self.results
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.report.stats.longest_silence_us as f64 / 1000.0,
                )
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// 96 answers the acquirers received.
    fn answers_96(&self) -> u64 {
        self.results
            .iter()
            .flat_map(|r| r.report.response_codes())
            .filter(|(code, _)| code == "96")
            .map(|(_, n)| n)
            .sum()
    }

    /// Every check, as (what, holds).
    pub fn verdicts(&self) -> Vec<(&'static str, bool)> {
        let books = self.pairs.iter().all(PairBooks::agrees);
        let once = self.pairs.iter().all(|p| p.reversed <= p.approved);
        let mut checks = vec![
            ("books agree for every bank pair", books),
            ("no reversal applied twice", once),
            (
                "no duplicate approved across nodes",
                self.cross_node_duplicates == Ok(0),
            ),
            ("store-and-forward drained", self.log.drained.is_some()),
        ];
        if self.log.killed.is_some() {
            checks.push((
                "the killed node was taken over",
                self.log.taken_over.is_some(),
            ));
        }
        if self.log.halted.is_some() {
            checks.push((
                "answers resumed after the outage",
                self.log.store_back.is_some(),
            ));
        }
        checks
    }
}

/// Add the `cluster:` section and its verdict to `summary`.
pub fn add_section(summary: &mut Summary, run: &ClusterRun<'_>) {
    let log = run.log;
    let text = &mut summary.text;
    let secs = |t: Option<f64>| t.map_or("-".to_owned(), |t| format!("{t:.2} s"));
    let _ = writeln!(
        text,
        "
cluster:"
    );
    if let Some((node, at)) = &log.killed {
        let _ = writeln!(text, "  kill -9 {node} at {at:.2} s into the traffic");
        if let Some((who, ms)) = run.longest_silence() {
            let _ = writeln!(
                text,
                "  acquirers answered again through another node within {ms:.0} ms (longest silence, {who})"
            );
        }
        match &log.taken_over {
            Some((by, at)) => {
                let _ = writeln!(
                    text,
                    "  {by} took it over at {at:.2} s ({:.2} s after the kill): {} store-and-forward items, {} reversals adopted",
                    at - log.killed.as_ref().map_or(0.0, |k| k.1),
                    log.adopted_saf,
                    log.adopted_reversals
                );
            }
            None => {
                let _ = writeln!(text, "  NOT taken over (within the drain's bound)");
            }
        }
    }
    if let Some(halted) = log.halted {
        let _ = writeln!(
            text,
            "  PostgreSQL halted at {halted:.2} s, restarted at {} (accepting connections at {}): {} answers 96; every node's store available again at {}",
            secs(log.restarting),
            secs(log.resumed),
            run.answers_96(),
            secs(log.store_back)
        );
    }
    let _ = writeln!(
        text,
        "  store-and-forward drained after the traffic: {}",
        secs(log.drained)
    );
    for e in &log.errors {
        let _ = writeln!(text, "  error: {e}");
    }
    let _ = writeln!(
        text,
        "\n  {:<8} {:<8} {:>22} {:>22} {:>9}",
        "acquirer", "issuer", "settled", "issuer net", "reversed"
    );
    for p in run.pairs {
        let _ = writeln!(
            text,
            "  {:<8} {:<8} {:>22} {:>22} {:>9} {}",
            p.acquirer,
            p.issuer,
            format!("{} / {}", p.settled.count, amount_text(p.settled.amount)),
            format!(
                "{} / {}",
                p.issuer_net.count,
                amount_text(p.issuer_net.amount)
            ),
            p.reversed,
            if p.agrees() { "ok" } else { "MISMATCH" }
        );
    }
    let duplicates = match &run.cross_node_duplicates {
        Ok(n) => n.to_string(),
        Err(e) => format!("not read ({e})"),
    };
    let _ = writeln!(
        text,
        "  reversal repeats acknowledged without applying: {}; approved by two nodes: {duplicates}",
        run.reversal_repeats
    );
    let verdicts = run.verdicts();
    let line: Vec<String> = verdicts
        .iter()
        .map(|(what, ok)| format!("{what}: {}", if *ok { "yes" } else { "NO" }))
        .collect();
    let _ = writeln!(text, "  {}", line.join("; "));
    let all = verdicts.iter().all(|(_, ok)| *ok);
    summary.consistent &= all;
    if let Value::Object(m) = &mut summary.json {
        m.insert("cluster".into(), to_json(run, &verdicts));
        m.insert("consistent".into(), summary.consistent.into());
    }
}

fn to_json(run: &ClusterRun<'_>, verdicts: &[(&str, bool)]) -> Value {
    let log = run.log;
    let silence: serde_json::Map<String, Value> = run
        .results
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                json!((r.report.stats.longest_silence_us as f64 / 1000.0).round()),
            )
        })
        .collect();
    json!({
        "kill": log.killed.as_ref().map(|(node, at)| json!({"node": node, "at_s": at})),
        "longest_silence_ms": silence,
        "longest_silence_max_ms": run.longest_silence().map(|(_, ms)| ms.round()),
        "take_over": log.taken_over.as_ref().map(|(by, at)| json!({
            "by": by,
            "at_s": at,
            "after_kill_s": log.killed.as_ref().map(|k| at - k.1),
            "saf_adopted": log.adopted_saf,
            "reversals_adopted": log.adopted_reversals,
        })),
        "postgres_outage": log.halted.map(|h| json!({
            "halted_s": h,
            "restarted_s": log.restarting,
            "resumed_s": log.resumed,
            "answers_96": run.answers_96(),
            "store_back_s": log.store_back,
            "store_back_after_restart_s": log.store_back.zip(log.resumed).map(|(b, r)| b - r),
        })),
        "drained_s": log.drained,
        "pairs": run.pairs.iter().map(|p| json!({
            "acquirer": p.acquirer,
            "issuer": p.issuer,
            "settled": {"count": p.settled.count, "amount": amount_text(p.settled.amount)},
            "issuer_net": {"count": p.issuer_net.count, "amount": amount_text(p.issuer_net.amount)},
            "reversed": p.reversed,
            "agrees": p.agrees(),
        })).collect::<Vec<_>>(),
        "reversal_repeats": run.reversal_repeats,
        "cross_node_duplicates": run.cross_node_duplicates.as_ref().ok(),
        "errors": log.errors,
        "verdict": verdicts.iter().map(|(what, ok)| json!({"check": what, "holds": ok})).collect::<Vec<_>>(),
    })
}
