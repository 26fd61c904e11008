//! The status document built from a configuration and a made-up snapshot:
//! link states, windows, who decided, and that it holds no card data.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::core::stats::{BankStats, LinkStats};

fn config() -> Config {
    let text = r#"
[switch]
institution_id = "940000"
rules = "../../routing-rules/rules/national.toml"

[[link]]
name = "morning-star-acq"
role = "acquirer"
bank = "940810"
direction = "listen"
address = "127.0.0.1:0"

[[link]]
name = "golden-valley-iss"
role = "issuer"
bank = "940820"
direction = "dial"
address = "127.0.0.1:9"

[[link]]
name = "harbour-iss"
role = "issuer"
bank = "940830"
direction = "dial"
address = "127.0.0.1:9"
"#;
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/test.toml"));
    Config::parse(text, path).expect("valid")
}

fn link(id: LinkId, name: &str, bank: &str, role: Role, state: u8) -> LinkStats {
    LinkStats {
        id,
        name: name.into(),
        bank: bank.into(),
        role,
        state,
        in_flight: 3,
        last_echo: Some(Millis(1_000)),
    }
}

#[test]
fn every_configured_link_with_its_state_and_windows() {
    let config = config();
    let mut stats = CoreStats {
        links: vec![
            link(7, "morning-star-acq", "940810", Role::Acquirer, 2),
            link(8, "morning-star-acq", "940810", Role::Acquirer, 2),
            link(9, "golden-valley-iss", "940820", Role::Issuer, 1),
        ],
        ..CoreStats::default()
    };
    let mut acq = BankStats::default();
    acq.answers_acquired
        .insert(("00".into(), Decider::Issuer), 120);
    acq.answers_acquired
        .insert(("57".into(), Decider::RegionRule), 6);
    acq.answers_acquired
        .insert(("05".into(), Decider::StandIn), 2);
    stats.banks.insert("940810".into(), acq);
    let mut iss = BankStats::default();
    iss.answers_issued
        .insert(("00".into(), Decider::Issuer), 120);
    iss.answers_issued
        .insert(("05".into(), Decider::StandIn), 2);
    iss.saf_expired = 4;
    stats.banks.insert("940820".into(), iss);
    let start = Instant::now();
    let mut history = History::new(start);
    history.record(
        start + Duration::from_secs(60),
        &stats,
        &[("940820".into(), vec![10, 20, 30])],
    );
    let certificates = HashMap::from([(7, "940810.banks.test".to_string())]);
    let status = build(Inputs {
        config: &config,
        stats: &stats,
        now: Millis(4_000),
        unix_ms: 1_800_000_000_000,
        certificates: &certificates,
        dialing: &["harbour-iss".to_string()],
        history: &history,
        saf: BTreeMap::from([("940820".to_string(), (5, 1_500))]),
        journal: None,
        business_day: Some(20_000),
        last_settlement: None,
    });
    let states: Vec<_> = status
        .links
        .iter()
        .map(|l| (l.name.as_str(), l.state, l.connections))
        .collect();
    assert_eq!(
        states,
        [
            ("morning-star-acq", "signed-on", 2),
            ("golden-valley-iss", "up", 1),
            ("harbour-iss", "connecting", 0),
        ]
    );
    let acq = &status.links[0];
    assert_eq!((acq.in_flight, acq.tps_1m), (6, 2.13));
    assert_eq!(acq.tls_identities, ["940810.banks.test"]);
    assert_eq!(acq.last_echo_ms_ago, Some(3_000));
    let iss = &status.links[1];
    // The issuer's own answers only: stand-in decisions are not its traffic.
    assert_eq!(iss.tps_1m, 2.0);
    let latency = iss.latency_ms.as_ref().expect("latency");
    assert_eq!((latency.p50, latency.p99, latency.samples), (20, 30, 3));
    assert!(status.links[2].latency_ms.is_none());
    let codes = &status.response_codes.by_acquirer["940810"];
    assert!(codes.contains(&CodeCount {
        rc: "57".into(),
        decided_by: "region-rule",
        count: 6
    }));
    assert!(
        status.response_codes.by_issuer["940820"].contains(&CodeCount {
            rc: "05".into(),
            decided_by: "stand-in",
            count: 2
        })
    );
    assert_eq!(status.saf.len(), 1);
    assert_eq!(
        (
            status.saf[0].depth,
            status.saf[0].oldest_ms,
            status.saf[0].expired
        ),
        (5, Some(1_500), 4)
    );
    assert_eq!(status.business_day.as_deref(), Some("2024-10-04"));
    assert_eq!(status.node.name, "940000");
    assert!(!status.node.cluster);

    let json = serde_json::to_value(&status).expect("json");
    for key in [
        "version",
        "generated_at_unix_ms",
        "node",
        "links",
        "response_codes",
        "saf",
        "journal",
        "business_day",
        "last_settlement",
    ] {
        assert!(json.get(key).is_some(), "{key} missing: {json}");
    }
    assert_eq!(json["links"][0]["state"], "signed-on");
}

#[test]
fn nothing_like_a_card_number_in_the_document() {
    let config = config();
    let stats = CoreStats::default();
    let history = History::new(Instant::now());
    let status = build(Inputs {
        config: &config,
        stats: &stats,
        now: Millis(0),
        unix_ms: 1_800_000_000_000,
        certificates: &HashMap::new(),
        dialing: &[],
        history: &history,
        saf: BTreeMap::new(),
        journal: None,
        business_day: None,
        last_settlement: None,
    });
    let text = serde_json::to_string(&status).expect("json");
    // The longest digit run is a Unix time (13 digits); a PAN has 16 to 19.
    let longest = text
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(longest < 16, "{text}");
    assert!(text.contains("\"state\":\"down\""), "{text}");
}
