//! `sim soak`: the demo network under faults for a long run, checked as it ends.
//!
//! The traffic runs at twice the demo's rate by default while every issuer host
//! silently drops a share of its answers (the switch times those requests out,
//! answers RC 91 and reverses them through store-and-forward) and drops its link
//! periodically. Then the soak checks, and exits non-zero when any check fails:
//! - every request the acquirers sent has exactly one final state ([`super::finals`]),
//!   and the switch's journal records the same final answers ([`super::ledger`]);
//! - after the traffic and a grace period the switch holds nothing (no request
//!   waiting, nothing in flight, no reversal owed) and neither do the acquirers
//!   ([`super::drain`]);
//! - the resident memory sampled during the traffic is flat ([`super::memory`]);
//! - the demo's own consistency checks (acquirers' approvals against the issuers'
//!   books net of reversals, and against settlement) hold.
//!
//! The acquirers' timeout is set above the switch's longest issuer timeout, so
//! the switch's answer always comes first: an acquirer timeout would mean the
//! switch failed to answer at all.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};
use switch::config::{Config, Role};

use super::drain::SwitchDrain;
use super::finals::Finals;
use super::ledger::SwitchLedger;
use super::memory::{self, mib, Judgement, Verdict};
use super::{load_config, run_network, DemoArgs, NetworkArgs, Outcome, Variation, DEMO_RATE};
use crate::issuer::faults::parse_rate;

/// How much longer than the switch's longest issuer timeout the acquirers wait.
const ACQUIRER_MARGIN_MS: u64 = 5_000;
/// The shortest traffic whose memory series gets a verdict. At 4,000 TPS the
/// switch's duplicate index (5 minutes of requests, at most 1,000,000) fills in
/// about 250 s and the issuers' logs in about 240 s; the second third's median
/// (half-way through) sees them full only from 8 minutes on. A shorter run
/// prints the series without a verdict.
const MIN_VERDICT: Duration = Duration::from_secs(480);
/// Seconds of the whole network's traffic each issuer host's log of originals
/// holds. In the national network about 56 % of requests are approved; the
/// smallest issuer takes 15 % of those and fills its log in 20 / (0.56 * 0.15),
/// about 240 s (inside a 10-minute run's second third, so the memory verdict sees
/// full logs), while the largest (42 %) still finds an original for
/// 20 / (0.56 * 0.42), about 85 s: far beyond the issuer timeout and SAF retries
/// after which a reversal comes. (`sim issuer` keeps 1,000,000: a soak would
/// watch them fill for an hour.)
const TXN_LOG_SECS: f64 = 20.0;

/// Options of `sim soak`.
#[derive(clap::Args, Debug, Clone)]
pub struct SoakArgs {
    /// How long the traffic runs: 10m, 90s, 1h or a number of seconds.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub duration: Duration,
    /// Requests per second over the whole network (default: twice the demo's).
    #[arg(long, default_value_t = 2.0 * DEMO_RATE, value_name = "TPS")]
    pub rate: f64,
    /// Share of answers every issuer host never sends: the switch times those
    /// requests out (RC 91) and reverses them.
    #[arg(long, default_value = "0.01", value_name = "F", value_parser = parse_rate)]
    pub timeout_rate: f64,
    /// Every issuer host drops its link this long after it came up (0: never).
    /// The switch redials 100 ms after a link drops and signs on at once; the
    /// sign-on's answer is dropped like any other (1 in 100), and then the link
    /// stays unusable until the switch sends the sign-on again at the link's
    /// timeout (--issuer-timeout, 2 s). So a cycle leaves the issuer unreachable
    /// for 0.1 + 0.01 * 2 = 0.12 s on average: 0.12 / (12 + 0.12), about 1 % of
    /// the requests routed to it. The report gives the share measured.
    #[arg(long, default_value = "12s", value_name = "DURATION", value_parser = parse_duration)]
    pub disconnect_every: Duration,
    /// The switch's timeout on every issuer link, cash included (0: the
    /// configuration's). Shorter than --disconnect-every, so that most dropped
    /// answers time out at their deadline (here 90 %) instead of being cut short
    /// when the link drops, and both paths run.
    #[arg(long, default_value = "2s", value_name = "DURATION", value_parser = parse_duration)]
    pub issuer_timeout: Duration,
    /// Seconds between resident memory samples.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub sample_secs: f64,
    /// After the traffic, how long the switch may take to drain (answers, SAF).
    #[arg(long, default_value = "120s", value_name = "DURATION", value_parser = parse_duration)]
    pub grace: Duration,
    /// Output, seeds, bad requests and configuration, as in the demo.
    #[command(flatten)]
    pub network: NetworkArgs,
}

/// `10m`, `90s`, `1h`, `250ms` or plain seconds (`600`, `1.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let scale = match unit.trim() {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{text:?}: give a number with ms, s, m or h")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration"))?;
    let secs = value * scale;
    if secs.is_finite() && (0.0..=86_400.0 * 7.0).contains(&secs) {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(format!("{text:?} is out of range (up to a week)"))
    }
}

/// The shortest and the longest response timeout of the configuration's issuer
/// links, in milliseconds.
fn issuer_timeouts(config: &Config) -> (u64, u64) {
    let timeouts = config
        .links
        .iter()
        .filter(|l| l.role == Role::Issuer)
        .flat_map(|l| [l.timeout, l.cash_timeout])
        .map(|d| d.as_millis() as u64);
    let (lo, hi) = timeouts.fold((u64::MAX, 0), |(lo, hi), t| (lo.min(t), hi.max(t)));
    (lo.min(hi), hi)
}

/// Run the soak; Err (non-zero exit) when it cannot run or any check fails.
pub async fn run(args: SoakArgs) -> Result<(), String> {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        return Err(format!("--rate {} is not a positive number", args.rate));
    }
    if !(args.sample_secs.is_finite() && args.sample_secs >= 0.1) {
        return Err("--sample-secs must be at least 0.1".into());
    }
    if args.duration.is_zero() {
        return Err("--duration must be positive".into());
    }
    let config = load_config(&args.network.config)?;
    let (shortest_ms, longest_ms) = if args.issuer_timeout.is_zero() {
        issuer_timeouts(&config)
    } else {
        let t = args.issuer_timeout.as_millis() as u64;
        (t, t)
    };
    // The soak's faults are on card traffic; app payments are the demo's.
    let demo = DemoArgs::card_traffic(args.network.clone(), args.duration.as_secs_f64(), args.rate);
    let variation = Variation {
        issuer_drop_rate: args.timeout_rate,
        issuer_disconnect_every: (!args.disconnect_every.is_zero())
            .then_some(args.disconnect_every),
        issuer_txn_log: Some((args.rate * TXN_LOG_SECS).ceil() as usize),
        issuer_timeout: (!args.issuer_timeout.is_zero()).then_some(args.issuer_timeout),
        acquirer_timeout_ms: Some(longest_ms + ACQUIRER_MARGIN_MS),
        drain_grace: Some(args.grace),
        sample_every: Some(Duration::from_secs_f64(args.sample_secs)),
    };
    let outcome = run_network(&demo, &variation).await?;
    let ledger = SwitchLedger::read(&outcome.journal.path, shortest_ms)?;
    let report = SoakReport::new(&args, &outcome, ledger);
    if args.network.json {
        println!("{}", report.json(&outcome));
    } else {
        print!("{}", outcome.summary.text);
        print!("{}", report.text());
    }
    let failed = report.failed();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("soak failed: {}", failed.join("; ")))
    }
}

/// The soak's figures and checks.
struct SoakReport {
    duration: Duration,
    rate: f64,
    timeout_rate: f64,
    disconnect_every: Duration,
    issuer_timeout: Duration,
    /// Requests sent per second of the traffic.
    achieved: f64,
    /// Open loop: requests due that were never sent (the load fell behind).
    unsent: u64,
    finals: Finals,
    ledger: SwitchLedger,
    /// Acquirers' answers by code equal the journal's.
    journal_agrees: bool,
    switch: SwitchDrain,
    memory: Vec<memory::Sample>,
    judgement: Judgement,
    consistent: bool,
}

impl SoakReport {
    fn new(args: &SoakArgs, outcome: &Outcome, ledger: SwitchLedger) -> SoakReport {
        let mut finals = Finals::default();
        let mut unsent = 0;
        for r in &outcome.results {
            finals.add(&r.report.stats);
            unsent += r.report.stats.unsent;
        }
        let mut acquirer_codes = finals.declined.clone();
        if finals.approved > 0 {
            acquirer_codes.insert("00".into(), finals.approved);
        }
        let journal_agrees = ledger.unfinished() == 0
            && ledger.total() == finals.sent
            && ledger.by_code() == acquirer_codes;
        let series: Vec<u64> = outcome.memory.iter().map(|s| s.rss).collect();
        let mut judgement = memory::judge(&series);
        if args.duration < MIN_VERDICT {
            judgement.verdict = Verdict::TooShort;
        }
        SoakReport {
            duration: args.duration,
            rate: args.rate,
            timeout_rate: args.timeout_rate,
            disconnect_every: args.disconnect_every,
            issuer_timeout: args.issuer_timeout,
            achieved: finals.sent as f64 / args.duration.as_secs_f64(),
            unsent,
            journal_agrees,
            ledger,
            switch: outcome.drain.unwrap_or_default(),
            judgement,
            memory: outcome.memory.clone(),
            consistent: outcome.summary.consistent,
            finals,
        }
    }

    /// The acquirers hold nothing: every request answered or timed out, every
    /// reversal acknowledged.
    fn acquirers_drained(&self) -> bool {
        self.finals.abandoned == 0 && self.finals.unreversed == 0
    }

    /// The checks that failed, named.
    fn failed(&self) -> Vec<&'static str> {
        let mut failed = Vec::new();
        if !self.finals.exactly_one_each() {
            failed.push("a request has no final state or more than one");
        }
        if !self.journal_agrees {
            failed.push("the switch's journal disagrees with the acquirers");
        }
        if !self.switch.drained() {
            failed.push("the switch did not drain");
        }
        if !self.acquirers_drained() {
            failed.push("the acquirers did not drain");
        }
        if self.judgement.verdict == Verdict::Growing {
            failed.push("resident memory grows");
        }
        if !self.consistent {
            failed.push("the network is not consistent");
        }
        failed
    }

    fn text(&self) -> String {
        let f = &self.finals;
        let l = &self.ledger;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nSoak: {} s at {} TPS; issuers drop {:.2} % of answers and their link every {} s; switch's issuer timeout {}",
            self.duration.as_secs_f64(),
            self.rate,
            100.0 * self.timeout_rate,
            self.disconnect_every.as_secs_f64(),
            if self.issuer_timeout.is_zero() {
                "as configured".to_string()
            } else {
                format!("{} s", self.issuer_timeout.as_secs_f64())
            }
        );
        let _ = writeln!(
            out,
            "rate achieved: {:.1} TPS sent ({} requests due never sent)",
            self.achieved, self.unsent
        );
        let declined: u64 = f.declined.values().sum();
        let _ = writeln!(
            out,
            "final states: sent {} = approved {} + declined {} + timed out and reversed {} + timed out, reversal owed {}",
            f.sent, f.approved, declined, f.reversed, f.unreversed
        );
        let codes: Vec<String> = f
            .declined
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        let _ = writeln!(out, "  declined by code: {}", codes.join(", "));
        let _ = writeln!(
            out,
            "  no final state {}; a second answer {} (late {}, unmatched {}, wrong type {}): {}",
            f.missing(),
            f.twice(),
            f.late,
            f.unmatched,
            f.wrong_type,
            ok(f.exactly_one_each())
        );
        let _ = writeln!(
            out,
            "switch journal: {} records, {} unfinished; same final answers as the acquirers: {}",
            l.total(),
            l.unfinished(),
            ok(self.journal_agrees)
        );
        let _ = writeln!(
            out,
            "  RC 91: issuer link down {}, cut by a disconnect {}, issuer silent (timed out) {}",
            l.issuer_down, l.cut_by_disconnect, l.silent_issuer
        );
        let _ = writeln!(
            out,
            "  of {} requests routed to an issuer: {:.2} % found its link down, {:.2} % met a disconnect (down, or in flight when it dropped), {:.2} % timed out at the deadline",
            l.routed(),
            l.percent_of_routed(l.issuer_down),
            l.percent_of_routed(l.met_disconnect()),
            l.percent_of_routed(l.silent_issuer)
        );
        let s = &self.switch;
        let _ = writeln!(
            out,
            "drained after the traffic (waited {:.1} s): switch requests {}, in flight {}, SAF owed {}; acquirers in flight {}, reversals owed {}: {}",
            s.waited.as_secs_f64(),
            s.pending_requests,
            s.in_flight,
            s.saf_depth,
            f.abandoned,
            f.unreversed,
            ok(s.drained() && self.acquirers_drained())
        );
        let series: Vec<String> = self
            .memory
            .iter()
            .map(|m| format!("{:.0}", mib(m.rss)))
            .collect();
        let step = self.memory.get(1).map_or(0.0, |m| {
            m.at.as_secs_f64() - self.memory[0].at.as_secs_f64()
        });
        let _ = writeln!(
            out,
            "resident memory every {step:.0} s (MiB): {}",
            series.join(" ")
        );
        let j = &self.judgement;
        let _ = writeln!(
            out,
            "  min {:.1}  median {:.1}  max {:.1} MiB; median of the second third {:.1}, of the last third {:.1}: {}",
            mib(j.min),
            mib(j.median),
            mib(j.max),
            mib(j.second_third),
            mib(j.last_third),
            j.verdict.name()
        );
        let failed = self.failed();
        let _ = writeln!(
            out,
            "soak: {}",
            if failed.is_empty() {
                "passed".to_string()
            } else {
                format!("FAILED ({})", failed.join("; "))
            }
        );
        out
    }

    fn json(&self, outcome: &Outcome) -> Value {
        let f = &self.finals;
        let s = &self.switch;
        let j = &self.judgement;
        json!({
            "soak": {
                "duration_s": self.duration.as_secs_f64(),
                "rate": self.rate,
                "timeout_rate": self.timeout_rate,
                "disconnect_every_s": self.disconnect_every.as_secs_f64(),
                "issuer_timeout_s": self.issuer_timeout.as_secs_f64(),
                "achieved_tps": (self.achieved * 10.0).round() / 10.0,
                "unsent": self.unsent,
                "finals": f.to_json(),
                "journal": self.ledger.to_json(),
                "journal_agrees": self.journal_agrees,
                "issuer_link_down_percent": self.ledger.percent_of_routed(self.ledger.issuer_down),
                "met_disconnect_percent": self.ledger.percent_of_routed(self.ledger.met_disconnect()),
                "timed_out_percent": self.ledger.percent_of_routed(self.ledger.silent_issuer),
                "drain": {
                    "waited_s": s.waited.as_secs_f64(),
                    "switch_pending_requests": s.pending_requests,
                    "switch_in_flight": s.in_flight,
                    "switch_saf_owed": s.saf_depth,
                    "acquirers_in_flight": f.abandoned,
                    "acquirers_reversals_owed": f.unreversed,
                    "drained": s.drained() && self.acquirers_drained(),
                },
                "memory": {
                    "rss_bytes": self.memory.iter().map(|m| json!([m.at.as_secs_f64(), m.rss])).collect::<Vec<_>>(),
                    "min": j.min,
                    "median": j.median,
                    "max": j.max,
                    "second_third_median": j.second_third,
                    "last_third_median": j.last_third,
                    "verdict": j.verdict.name(),
                },
                "failed": self.failed(),
                "passed": self.failed().is_empty(),
            },
            "network": outcome.summary.json,
        })
    }
}

fn ok(b: bool) -> &'static str {
    if b {
        "ok"
    } else {
        "FAILED"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        let secs = |t: &str| parse_duration(t).map(|d| d.as_secs_f64());
        assert_eq!(secs("10m"), Ok(600.0));
        assert_eq!(secs("90s"), Ok(90.0));
        assert_eq!(secs("600"), Ok(600.0));
        assert_eq!(secs("1.5"), Ok(1.5));
        assert_eq!(secs("1h"), Ok(3600.0));
        assert_eq!(secs("250ms"), Ok(0.25));
        assert_eq!(secs("0"), Ok(0.0));
        for bad in ["", "m", "10x", "1..2s", "-5", "9999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn acquirers_wait_longer_than_every_issuer_link() {
        let path = std::path::Path::new(super::super::default_config());
        let config = Config::load(path).expect("the national configuration loads");
        assert_eq!(issuer_timeouts(&config), (10_000, 25_000));
    }
}
