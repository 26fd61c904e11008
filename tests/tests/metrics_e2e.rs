//! The core publishes nothing itself: the driver publishes `Core::stats()` once a
//! second. After an approved purchase and a routing decline over real loopback
//! sockets, /metrics (the Prometheus exporter's rendering) shows the core's main
//! series with their names, labels and values.
//!
//! One test in this file: it installs the process's metrics recorder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tests::{accept, acquirer_and_issuer, answer, pan, purchase, start_switch, wait_until, Peer};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(5);

/// The value of the series named `name` whose labels include every one of
/// `labels` (`key="value"`), as rendered.
fn value(rendered: &str, name: &str, labels: &[&str]) -> Option<f64> {
    rendered.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let rest = series.strip_prefix(name)?;
        let matches = if labels.is_empty() {
            rest.is_empty()
        } else {
            rest.starts_with('{') && labels.iter().all(|l| rest.contains(l))
        };
        if matches {
            value.parse().ok()
        } else {
            None
        }
    })
}

fn has(handle: &PrometheusHandle, name: &str, labels: &[&str], want: f64) -> bool {
    value(&handle.render(), name, labels) == Some(want)
}

#[tokio::test]
async fn metrics_show_the_cores_main_series() {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .expect("a metrics recorder");
    let issuer_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sw = start_switch(&acquirer_and_issuer(
        issuer_listener.local_addr().unwrap(),
        5000,
        "",
    ))
    .await;
    let mut iss = accept(&issuer_listener, WAIT).await;
    let signon = iss.recv(WAIT).await.expect("sign-on");
    iss.send(&answer(&signon, "00")).await;
    // Every configured link has a state from the start: the acquirer
    // listener nobody has connected to yet shows down (0), not absent.
    let before_anyone_connects = [
        (
            &[
                "link=\"morning-star\"",
                "bank=\"940810\"",
                "role=\"acquirer\"",
            ][..],
            0.0,
        ),
        (
            &[
                "link=\"central-bank-issuer\"",
                "bank=\"940800\"",
                "role=\"issuer\"",
            ][..],
            2.0,
        ),
    ];
    let states = || {
        before_anyone_connects
            .iter()
            .all(|(labels, want)| has(&handle, "switch_link_state", labels, *want))
    };
    assert!(wait_until(WAIT, states).await, "{}", handle.render());
    let mut acq = Peer::connect(sw.listening["morning-star"]).await;
    let core = sw.core();
    assert!(wait_until(WAIT, || (1..10).any(|id| core.link_usable(id))).await);

    acq.send(&purchase(&pan("9408010000001"), "940810", 1, 150_000))
        .await;
    let fwd = iss.recv(WAIT).await.expect("forwarded");
    iss.send(&answer(&fwd, "00")).await;
    assert_eq!(acq.recv(WAIT).await.unwrap().text(39).unwrap(), "00");
    // Unknown BIN: declined 15 by the switch.
    acq.send(&purchase(&pan("9408980000001"), "940810", 2, 100))
        .await;
    assert_eq!(acq.recv(WAIT).await.unwrap().text(39).unwrap(), "15");

    // Published within a second or so; polled, bounded by WAIT.
    let expected: [(&str, &[&str], f64); 11] = [
        (
            "switch_answers_by_acquirer_total",
            &["acquirer=\"940810\"", "rc=\"00\"", "decided_by=\"issuer\""],
            1.0,
        ),
        (
            "switch_answers_by_acquirer_total",
            &["acquirer=\"940810\"", "rc=\"15\"", "decided_by=\"switch\""],
            1.0,
        ),
        (
            "switch_answers_by_issuer_total",
            &["issuer=\"940800\"", "rc=\"00\"", "decided_by=\"issuer\""],
            1.0,
        ),
        (
            "switch_requests_total",
            &["mti=\"0200\"", "acquirer=\"940810\""],
            2.0,
        ),
        ("switch_responses_total", &["rc=\"00\""], 1.0),
        ("switch_responses_total", &["rc=\"15\""], 1.0),
        (
            "switch_issuer_latency_seconds_count",
            &["issuer=\"940800\""],
            1.0,
        ),
        ("switch_links_up", &["role=\"acquirer\""], 1.0),
        ("switch_links_up", &["role=\"issuer\""], 1.0),
        (
            "switch_link_state",
            &["link=\"morning-star\"", "role=\"acquirer\""],
            1.0,
        ),
        ("switch_in_flight", &[], 0.0),
    ];
    let all = || {
        expected
            .iter()
            .all(|(name, labels, want)| has(&handle, name, labels, *want))
    };
    assert!(wait_until(WAIT, all).await, "{}", handle.render());
    assert!(has(&handle, "switch_saf_depth", &[], 0.0));
    sw.shutdown().await;
}
