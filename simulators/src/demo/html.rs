//! `sim demo --report-html FILE`: the demo's load as one HTML page, the page of
//! `sim acquirer --report-html` ([`crate::acquirer::report_html`]) over every
//! acquirer host together, embedding the demo's own `--json` report.
//!
//! The acquirer hosts start their load together (spawned at once, each after
//! dialing its links), so their seconds are added index by index: a second of
//! the page may span a few milliseconds of two hosts' clocks.

use std::path::Path;

use crate::acquirer::report_html::HtmlReport;
use crate::acquirer::series::Series;
use crate::acquirer::stats::latency_histogram;

use super::{DemoArgs, Outcome};

/// The demo's options that shape the load, as the page lists them.
fn parameters(args: &DemoArgs, acquirers: usize) -> Vec<(String, String)> {
    let mut p = vec![
        ("load", format!("open loop, {} TPS in all", args.rate)),
        ("length", format!("{} s", args.duration)),
        ("acquirer hosts", acquirers.to_string()),
        (
            "switch",
            match args.cluster {
                Some(n) => format!("{n} nodes on PostgreSQL"),
                None => "one node on SQLite".into(),
            },
        ),
        ("mutual TLS", args.tls.to_string()),
        ("MACs and PIN translation", args.security.to_string()),
        ("QR share of purchases", args.qr_share.to_string()),
        ("invalid share", args.network.invalid_rate.to_string()),
        ("seed", args.network.seed.to_string()),
        ("configuration", args.network.config.display().to_string()),
    ];
    for o in &args.issuer_outage {
        p.push((
            "issuer outage",
            format!("{} from {} s to {} s", o.bank, o.from, o.to),
        ));
    }
    p.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Write the page of `outcome` (a run of `args`) to `path`.
pub fn write(args: &DemoArgs, outcome: &Outcome, path: &Path) -> Result<(), String> {
    let mut latency = latency_histogram()?;
    let mut series = Series::default();
    for r in &outcome.results {
        // Clones of one template: adding cannot fail.
        latency
            .add(&r.report.stats.latency)
            .map_err(|e| format!("latency histograms do not add up: {e}"))?;
        series.merge(&r.report.stats.series);
    }
    HtmlReport {
        title: format!(
            "sim demo: {} s at {} TPS over {} acquirer hosts",
            args.duration,
            args.rate,
            outcome.results.len()
        ),
        parameters: parameters(args, outcome.results.len()),
        report: &outcome.summary.json,
        series: &series,
        latency: &latency,
    }
    .write(path)
}
