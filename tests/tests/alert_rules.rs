//! The Prometheus and Grafana files in `ops/` against the switch they watch:
//! - promtool checks the alerting rules and runs their unit tests (skipped when
//!   promtool is missing, unless `PROMTOOL_REQUIRED=1`, which CI sets);
//! - the dashboard is JSON Grafana can import, every query on the templated
//!   data source `${DS_PROMETHEUS}`;
//! - every series the dashboard and the rules name is in what a running switch
//!   renders on /metrics, except those listed here with the condition the
//!   switch publishes them under (checked to exist in the switch's source).
//!
//! One test in this file installs the process's metrics recorder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use tests::{
    accept, acquirer_and_issuer, answer, pan, purchase, start_switch_with, wait_until, Peer,
};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(5);

/// Series the files name that this test's switch does not publish, and when a
/// switch does. Each must still appear in the switch's source.
const CONDITIONAL: [(&str, &str); 8] = [
    ("switch_cluster_lease_ok", "a [cluster] node only"),
    ("switch_stand_in_total", "after a stand-in decision"),
    ("switch_advices_total", "after an acquirer's advice"),
    (
        "switch_saf_expired_total",
        "after a queued message expires (saf_expiry_ms)",
    ),
    (
        "switch_journal_commit_errors_total",
        "after a failed commit",
    ),
    (
        "switch_journal_backlog_waits_total",
        "relaxed durability with the writer behind",
    ),
    ("switch_security_events_total", "after a security event"),
    ("switch_malformed_total", "after a malformed message"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// promtool, or None (printed) when it is missing and not required.
fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var("PROMTOOL_REQUIRED").as_deref() != Ok("1"),
            "promtool is required (PROMTOOL_REQUIRED=1): scripts/promtool.sh installs it"
        );
        println!("skipped: promtool not found (scripts/promtool.sh installs it)");
        return None;
    }
    Some("promtool")
}

fn run_promtool(args: &[&str]) {
    let Some(promtool) = promtool() else { return };
    let out = Command::new(promtool)
        .args(args)
        .current_dir(root())
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_checks_the_rules_and_runs_their_unit_tests() {
    run_promtool(&["check", "rules", "ops/prometheus/alerts.yml"]);
    run_promtool(&["test", "rules", "ops/prometheus/alerts_test.yml"]);
    run_promtool(&["check", "config", "ops/prometheus/prometheus.yml"]);
}

/// Every panel with its queries, rows' nested panels included.
fn queried_panels(dashboard: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        out.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            out.extend(nested);
        }
    }
    out.retain(|p| p["type"] != "row");
    out
}

#[test]
fn the_dashboard_queries_the_templated_data_source() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("ops/grafana/switch-dashboard.json")).expect("JSON");
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let variable = |name: &str| variables.iter().find(|v| v["name"] == name);
    assert_eq!(
        variable("DS_PROMETHEUS").map(|v| &v["type"]),
        Some(&serde_json::json!("datasource"))
    );
    assert!(variable("instance").is_some(), "a node variable");
    let panels = queried_panels(&dashboard);
    assert!(panels.len() > 10, "{} panels", panels.len());
    let mut ids = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(ids.insert(panel["id"].as_u64()), "{title}: id used twice");
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(
                expr.contains("instance=~\"$instance\""),
                "{title}: {expr} ignores the node variable"
            );
        }
    }
}

/// The metric names `text` mentions (`switch_` and word characters).
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("switch_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

/// Every series name in a Prometheus text rendering.
fn rendered_names(rendered: &str) -> BTreeSet<String> {
    rendered
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// The text of every file under `dir`.
fn source_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            text.push_str(&source_text(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            text.push_str(&std::fs::read_to_string(&path).expect("source"));
        }
    }
    text
}

/// A switch with a journal, an issuer that answers once, lets one request time
/// out and then goes away, and an acquirer whose third request finds no
/// signed-on link: the series of answers, timeouts, unavailability, links,
/// store-and-forward and the journal are all published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_series_the_dashboard_and_rules_name_is_published() {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .expect("a metrics recorder");
    let dir = std::env::temp_dir().join(format!("alert-rules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let text = format!(
        "{}\n[journal]\npath = \"{}\"\npan_key = {{ env = \"ALERT_RULES_UNSET_VARIABLE\" }}\n",
        acquirer_and_issuer(listener.local_addr().unwrap(), 300, ""),
        dir.join("journal.db").display()
    );
    let sw = start_switch_with(&text, |options| {
        options.config.journal.as_mut().unwrap().pan_key =
            Some(switch::config::SecretKey::new(vec![0x5A; 16]));
    })
    .await;
    let mut issuer = accept(&listener, WAIT).await;
    let signon = issuer.recv(WAIT).await.expect("sign-on");
    issuer.send(&answer(&signon, "00")).await;
    let core = sw.core();
    assert!(wait_until(WAIT, || (1..10).any(|id| core.link_usable(id))).await);
    let mut acq = Peer::connect(sw.listening["morning-star"]).await;
    let card = pan("9408010000001");
    acq.send(&purchase(&card, "940810", 1, 100)).await;
    let fwd = issuer.recv(WAIT).await.expect("forwarded");
    issuer.send(&answer(&fwd, "00")).await;
    assert_eq!(acq.recv(WAIT).await.unwrap().text(39).unwrap(), "00");
    // Not answered: times out after 300 ms, 91, a reversal queued.
    acq.send(&purchase(&card, "940810", 2, 100)).await;
    issuer.recv(WAIT).await.expect("forwarded");
    assert_eq!(acq.recv(WAIT).await.unwrap().text(39).unwrap(), "91");
    // The issuer goes: no signed-on link for the next request.
    drop(issuer);
    assert!(wait_until(WAIT, || !(1..10).any(|id| core.link_usable(id))).await);
    acq.send(&purchase(&card, "940810", 3, 100)).await;
    assert_eq!(acq.recv(WAIT).await.unwrap().text(39).unwrap(), "91");

    let switch_source = source_text(&root().join("switch/src"));
    let mut named = names_in(&read("ops/grafana/switch-dashboard.json"));
    named.extend(names_in(&read("ops/prometheus/alerts.yml")));
    // Once proposed (see ops/README.md), now a series like any other: it must
    // be named and published, and no rule may be marked a proposal any more.
    assert!(named.contains("switch_business_day_opened_timestamp_seconds"));
    assert!(!read("ops/prometheus/alerts.yml").contains("proposed_metric"));
    for (name, when) in CONDITIONAL {
        assert!(named.remove(name), "{name} is no longer used");
        assert!(
            switch_source.contains(&format!("\"{name}\"")),
            "{name} (published {when}) is not in the switch's source"
        );
    }
    // Published once a second: wait for the timeout's and the unavailable
    // request's counters, then compare.
    let missing = || {
        let rendered = rendered_names(&handle.render());
        named
            .iter()
            .filter(|n| !rendered.contains(*n))
            .cloned()
            .collect::<Vec<_>>()
    };
    let published = wait_until(WAIT, || missing().is_empty()).await;
    let rendered = handle.render();
    assert!(
        published,
        "named in ops/ but not published: {:?}\n{rendered}",
        missing()
    );
    check_metrics(&rendered, &dir);
    sw.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `promtool check metrics` on the rendering: its findings (naming lints,
/// missing HELP) are printed, not failed on.
fn check_metrics(rendered: &str, dir: &Path) {
    let Some(promtool) = promtool() else { return };
    // promtool reads the metrics on its standard input.
    let file = dir.join("metrics.txt");
    std::fs::write(&file, rendered).unwrap();
    let out = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .expect("promtool runs");
    println!(
        "promtool check metrics: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
