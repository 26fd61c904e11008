//! The final report, as text for people or as one JSON object (`--json`):
//!
//! ```json
//! {"sent":N,"answered":N,"timed_out":N,"tps":F,
//!  "latency_us":{"p50":..,"p90":..,"p99":..,"p999":..,"max":..},
//!  "response_codes":{"00":N,...},
//!  "approved":{"<issuer id>":{"count":N,"amount":"1250.00"}},
//!  "late":N,"reversals_sent":N,"reversals_acknowledged":N,"errors":N, ...,
//!  "channels":{"card":{"sent":N,"answered":N,"approved":N},
//!              "qr":{"sent":N,...,"by_app":{...},"response_codes":{...},"field2_violations":0}},
//!  "failovers":{"count":N,"answered":{"<address>":N,...}}}
//! ```
//!
//! `failovers` appears only with more than one `--connect` address: the
//! reconnections that landed on another node, and the answers each node gave.
//! `approved` holds approvals received in time (never reversed: only timed-out
//! requests are reversed), by the card's issuer; amounts are decimal strings in
//! major units with at least two decimals, like the issuer simulator's report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::stats::{ConnStats, Percentiles, Tally};

/// How the load was driven, for the report header.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadShape {
    /// `--rate`: requests per second in all.
    Open(f64),
    /// `--concurrency`: outstanding requests per connection.
    Closed(usize),
}

/// The run's results.
#[derive(Clone, Debug)]
pub struct Report {
    /// Counters of all connections.
    pub stats: ConnStats,
    /// Bank ids by index (to name issuers).
    pub bank_ids: Vec<String>,
    /// Time from the start of the load to its last send or in-time answer.
    pub window: Duration,
    /// Links used.
    pub connections: usize,
    /// Open or closed loop.
    pub shape: LoadShape,
    /// The apps of the wallets paid with (by wallet index; empty without QR).
    pub apps: Vec<String>,
    /// The `--connect` addresses (more than one: the report shows failovers).
    pub peers: Vec<String>,
}

/// `amount` with at least two decimals: `1250` → `"1250.00"`.
pub fn amount_text(amount: Decimal) -> String {
    let mut a = amount;
    if a.scale() < 2 {
        a.rescale(2);
    }
    a.to_string()
}

fn tally_json(t: &Tally) -> Value {
    let mut m = Map::new();
    m.insert("count".into(), t.count.into());
    m.insert("amount".into(), amount_text(t.amount).into());
    Value::Object(m)
}

fn percentiles_json(p: &Percentiles) -> Value {
    let mut m = Map::new();
    m.insert("p50".into(), p.p50.into());
    m.insert("p90".into(), p.p90.into());
    m.insert("p99".into(), p.p99.into());
    m.insert("p999".into(), p.p999.into());
    m.insert("max".into(), p.max.into());
    Value::Object(m)
}

impl Report {
    /// Answers in time per second of the load window.
    pub fn tps(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            self.stats.answered as f64 / secs
        } else {
            0.0
        }
    }

    /// Response codes in code order.
    pub fn response_codes(&self) -> BTreeMap<String, u64> {
        self.stats
            .codes
            .iter()
            .map(|(rc, n)| (String::from_utf8_lossy(rc).into_owned(), *n))
            .collect()
    }

    /// Approved totals by issuer id, for issuers with at least one approval.
    pub fn approved(&self) -> BTreeMap<String, Tally> {
        let mut out: BTreeMap<String, Tally> = self
            .stats
            .approved
            .iter()
            .enumerate()
            .filter(|(_, t)| t.count > 0)
            .map(|(i, t)| {
                let id = self
                    .bank_ids
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("bank#{i}"));
                (id, *t)
            })
            .collect();
        if self.stats.approved_unknown.count > 0 {
            out.insert("unknown".into(), self.stats.approved_unknown);
        }
        out
    }

    /// The JSON object.
    pub fn to_json(&self) -> Value {
        let s = &self.stats;
        let mut m = Map::new();
        m.insert("sent".into(), s.sent.into());
        m.insert("answered".into(), s.answered.into());
        m.insert("timed_out".into(), s.timed_out.into());
        let tps = (self.tps() * 100.0).round() / 100.0;
        m.insert("tps".into(), tps.into());
        m.insert(
            "latency_us".into(),
            percentiles_json(&Percentiles::of(&s.latency)),
        );
        m.insert(
            "response_codes".into(),
            Value::Object(
                self.response_codes()
                    .into_iter()
                    .map(|(rc, n)| (rc, Value::from(n)))
                    .collect(),
            ),
        );
        m.insert(
            "approved".into(),
            Value::Object(
                self.approved()
                    .iter()
                    .map(|(id, t)| (id.clone(), tally_json(t)))
                    .collect(),
            ),
        );
        m.insert("late".into(), s.late.into());
        m.insert("reversals_sent".into(), s.reversals_sent.into());
        m.insert(
            "reversals_acknowledged".into(),
            s.reversals_acknowledged.into(),
        );
        m.insert("errors".into(), s.errors().into());
        m.insert("reversal_repeats".into(), s.reversal_repeats.into());
        m.insert(
            "reversals_unacknowledged".into(),
            s.reversals_unacknowledged.into(),
        );
        m.insert(
            "duplicate_acknowledgements".into(),
            s.duplicate_acknowledgements.into(),
        );
        m.insert("unmatched".into(), s.unmatched.into());
        m.insert("wrong_type".into(), s.wrong_type.into());
        m.insert("undecodable".into(), s.undecodable.into());
        m.insert("unauthenticated".into(), s.unauthenticated.into());
        m.insert("disconnects".into(), s.disconnects.into());
        m.insert("encode_failures".into(), s.encode_failures.into());
        if let LoadShape::Open(_) = self.shape {
            m.insert("unsent".into(), s.unsent.into());
            let lag = s.send_lag.as_ref().map(Percentiles::of).unwrap_or_default();
            m.insert("send_lag_us".into(), percentiles_json(&lag));
        }
        m.insert(
            "window_s".into(),
            ((self.window.as_secs_f64() * 1000.0).round() / 1000.0).into(),
        );
        m.insert("connections".into(), self.connections.into());
        m.insert("channels".into(), s.channels.to_json(&self.apps));
        if self.peers.len() > 1 {
            m.insert("failovers".into(), self.failovers_json());
        }
        Value::Object(m)
    }

    /// The text report.
    pub fn to_text(&self) -> String {
        let s = &self.stats;
        let mut out = String::new();
        let shape = match self.shape {
            LoadShape::Open(rate) => format!("open loop at {rate} TPS"),
            LoadShape::Closed(n) => format!("closed loop, {n} outstanding per connection"),
        };
        let _ = writeln!(
            out,
            "load: {shape} over {} connection(s), {:.3} s",
            self.connections,
            self.window.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "sent {}  answered {}  timed out {}  late {}  tps {:.1}",
            s.sent,
            s.answered,
            s.timed_out,
            s.late,
            self.tps()
        );
        let p = Percentiles::of(&s.latency);
        let _ = writeln!(
            out,
            "latency us: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            p.p50, p.p90, p.p99, p.p999, p.max
        );
        if let LoadShape::Open(_) = self.shape {
            let lag = s.send_lag.as_ref().map(Percentiles::of).unwrap_or_default();
            let _ = writeln!(
                out,
                "send lag us: p50 {}  p99 {}  max {}  (unsent {})",
                lag.p50, lag.p99, lag.max, s.unsent
            );
        }
        let codes: Vec<String> = self
            .response_codes()
            .iter()
            .map(|(rc, n)| format!("{rc}: {n}"))
            .collect();
        let _ = writeln!(out, "response codes: {}", codes.join("  "));
        let _ = writeln!(out, "approved by issuer:");
        let approved = self.approved();
        if approved.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for (id, t) in &approved {
            let _ = writeln!(out, "  {id}: {} for {}", t.count, amount_text(t.amount));
        }
        let _ = writeln!(
            out,
            "reversals: sent {}  repeats {}  acknowledged {} (duplicate acks {})  unacknowledged {}",
            s.reversals_sent,
            s.reversal_repeats,
            s.reversals_acknowledged,
            s.duplicate_acknowledgements,
            s.reversals_unacknowledged
        );
        let _ = writeln!(
            out,
            "errors {}: unmatched {}  wrong type {}  undecodable {}  bad MAC {}  disconnects {}  unencodable {}",
            s.errors(),
            s.unmatched,
            s.wrong_type,
            s.undecodable,
            s.unauthenticated,
            s.disconnects,
            s.encode_failures
        );
        out.push_str(&s.channels.text(&self.apps));
        if self.peers.len() > 1 {
            let answered: Vec<String> = self
                .answered_by_peer()
                .map(|(peer, n)| format!("{peer}: {n}"))
                .collect();
            let _ = writeln!(
                out,
                "failovers {}: answered by address  {}",
                s.failovers,
                answered.join("  ")
            );
        }
        out
    }

    /// Answers in time by `--connect` address, in the order given.
    pub fn answered_by_peer(&self) -> impl Iterator<Item = (&str, u64)> {
        self.peers.iter().enumerate().map(|(i, peer)| {
            let n = self.stats.answered_by_peer.get(i).copied().unwrap_or(0);
            (peer.as_str(), n)
        })
    }

    /// `{"count":N,"answered":{"<address>":N,...}}`.
    fn failovers_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("count".into(), self.stats.failovers.into());
        let answered: Map<String, Value> = self
            .answered_by_peer()
            .map(|(peer, n)| (peer.to_owned(), Value::from(n)))
            .collect();
        m.insert("answered".into(), Value::Object(answered));
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquirer::stats::latency_histogram;

    fn report(shape: LoadShape) -> Report {
        let mut s = ConnStats::new(&latency_histogram().unwrap(), 2, true);
        s.sent = 10;
        s.answered = 9;
        s.timed_out = 1;
        s.reversals_sent = 1;
        s.reversals_acknowledged = 1;
        for v in [100, 200, 300] {
            s.record_latency(v);
        }
        s.record_code(*b"51");
        s.record_code(*b"00");
        s.record_approval(Some(1), 125_000, 2);
        s.record_approval(Some(1), 0, 2);
        Report {
            stats: s,
            bank_ids: vec!["940800".into(), "940810".into()],
            window: Duration::from_millis(1500),
            connections: 2,
            shape,
            apps: Vec::new(),
            peers: vec!["127.0.0.1:1".into()],
        }
    }

    #[test]
    fn json_has_the_issue_keys() {
        let v = report(LoadShape::Closed(1)).to_json();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys[..11],
            [
                "sent",
                "answered",
                "timed_out",
                "tps",
                "latency_us",
                "response_codes",
                "approved",
                "late",
                "reversals_sent",
                "reversals_acknowledged",
                "errors"
            ]
        );
        assert_eq!(v["sent"], 10);
        assert_eq!(v["tps"], 6.0);
        let lat = v["latency_us"].as_object().unwrap();
        assert_eq!(
            lat.keys().map(String::as_str).collect::<Vec<_>>(),
            ["p50", "p90", "p99", "p999", "max"]
        );
        assert_eq!(v["latency_us"]["p50"], 200);
        assert_eq!(v["response_codes"]["00"], 1);
        assert_eq!(v["response_codes"]["51"], 1);
        assert_eq!(
            v["approved"].to_string(),
            r#"{"940810":{"count":2,"amount":"1250.00"}}"#
        );
        assert!(v.get("send_lag_us").is_none());
        let open = report(LoadShape::Open(100.0)).to_json();
        assert!(open["send_lag_us"]["p99"].is_u64());
        // One line, parseable.
        let line = open.to_string();
        assert!(!line.contains('\n'));
        serde_json::from_str::<Value>(&line).unwrap();
    }

    #[test]
    fn text_names_every_figure() {
        let t = report(LoadShape::Open(50.0)).to_text();
        for needle in [
            "sent 10",
            "answered 9",
            "timed out 1",
            "p99.9",
            "00: 1",
            "940810: 2 for 1250.00",
            "acknowledged 1",
            "send lag",
        ] {
            assert!(t.contains(needle), "{needle:?} missing from\n{t}");
        }
        assert!(
            !t.contains("failovers"),
            "one address: no failover line\n{t}"
        );
        assert_eq!(amount_text(Decimal::from(1500)), "1500.00");
    }

    #[test]
    fn several_addresses_show_failovers_and_answers_by_address() {
        let mut r = report(LoadShape::Closed(1));
        assert!(r.to_json().get("failovers").is_none());
        r.peers = vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()];
        r.stats.failovers = 2;
        r.stats.record_peer_answer(1);
        assert_eq!(
            r.to_json()["failovers"].to_string(),
            r#"{"count":2,"answered":{"127.0.0.1:1":0,"127.0.0.1:2":1}}"#
        );
        let t = r.to_text();
        assert!(
            t.contains("failovers 2: answered by address  127.0.0.1:1: 0  127.0.0.1:2: 1"),
            "{t}"
        );
        assert_eq!(amount_text(Decimal::new(1, 3)), "0.001");
    }
}
