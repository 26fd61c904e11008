//! The app channel of the demo: before the traffic, each app of the routing
//! rules that has a token API listener enrols a wallet of cards drawn from the
//! whole catalogue (so some are of banks it did not join, refused by rule, and
//! some blocked or expired, declined by their issuer); the acquirers then pay a
//! share of purchases by QR with those tokens (the wallets shared in memory, so
//! counters never collide). Afterwards: the channel report, transactions and
//! approvals by channel and by app, the QR response codes (the region rules at
//! work on the app channel), enrolments by outcome, and answers to QR payments
//! that carried anything but the token (a PAN leak: must be 0).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use routing_rules::RoutingTable;
use serde_json::{json, Map, Value};
use switch::config::Config;
use switch::core::tokens::Caller;

use crate::acquirer::channels::ChannelStats;
use crate::cards::CardBase;
use crate::tls::HostTls;
use crate::wallet::{enrol, pick_cards, EnrolSummary, TokenApi, Wallet};

use super::settlement::RuleDeclines;
use super::AcquirerResult;

/// An app's token API as the demo reaches it.
#[derive(Clone, Debug)]
pub struct AppApi {
    /// The app's id.
    pub app: String,
    /// Its listener.
    pub address: SocketAddr,
    /// Whether it wants mutual TLS (with the app's certificate).
    pub tls: bool,
}

/// Give every token API listener a free loopback port (as the demo does for
/// links) and return the apps' ones.
pub fn free_token_api_ports(config: &mut Config) -> Result<Vec<AppApi>, String> {
    let mut apps = Vec::new();
    // Held until every port is chosen (a port released at once could be handed
    // out again), then released: the switch binds them a moment later.
    let mut held = Vec::with_capacity(config.token_apis.len());
    for api in &mut config.token_apis {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("no free port for {}: {e}", api.name))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("no free port for {}: {e}", api.name))?;
        held.push(listener);
        api.address = port;
        if let Caller::App(app) = api.participant() {
            apps.push(AppApi {
                app: app.clone(),
                address: port,
                tls: api.tls,
            });
        }
    }
    Ok(apps)
}

/// The wallets enrolled, and what became of the enrolments.
#[derive(Debug, Default)]
pub struct DemoApps {
    /// One wallet per app that enrolled (some may hold no token).
    pub wallets: Vec<Arc<Wallet>>,
    /// Enrolments by app, in the rules' order.
    pub enrolments: Vec<(String, EnrolSummary)>,
    /// Why app payments are off, when they are.
    pub off: Option<String>,
}

impl DemoApps {
    /// App payments off for `reason`.
    pub fn off(reason: String) -> DemoApps {
        DemoApps {
            off: Some(reason),
            ..DemoApps::default()
        }
    }

    /// The wallets with at least one token (what the acquirers pay with).
    pub fn usable_wallets(&self) -> Vec<Arc<Wallet>> {
        self.wallets
            .iter()
            .filter(|w| !w.tokens.is_empty())
            .cloned()
            .collect()
    }
}

/// Enrol `cards` cards of the catalogue for every app of `table` that has a
/// token API in `apis`. A token API that cannot be reached turns app payments
/// off (said in the report) rather than failing the demo.
/// `app_tls` gives an app's side of mutual TLS, for listeners that want it.
pub async fn enrol_apps(
    table: &RoutingTable,
    apis: &[AppApi],
    app_tls: impl Fn(&str) -> Result<Option<Arc<HostTls>>, String>,
    base: &CardBase,
    seed: u64,
    cards: usize,
) -> DemoApps {
    let mut out = DemoApps::default();
    for (n, app) in table.apps().iter().enumerate() {
        let Some(api) = apis.iter().find(|a| a.app == app.id) else {
            continue;
        };
        let tls = match api.tls.then(|| app_tls(&app.id)).transpose() {
            Ok(tls) => tls.flatten(),
            Err(e) => return DemoApps::off(format!("{}: {e}", app.id)),
        };
        // Each app its own users: another draw of the catalogue.
        let drawn = pick_cards(base, table, seed ^ ((n as u64 + 1) << 32), cards, &[]);
        let mut client = match TokenApi::connect(&api.address.to_string(), tls).await {
            Ok(c) => c,
            Err(e) => return DemoApps::off(e.to_string()),
        };
        match enrol(&mut client, &app.id, &drawn, table).await {
            Ok((wallet, summary)) => {
                out.wallets.push(Arc::new(wallet));
                out.enrolments.push((app.id.clone(), summary));
            }
            Err(e) => return DemoApps::off(e.to_string()),
        }
    }
    if out.wallets.iter().all(|w| w.tokens.is_empty()) && out.off.is_none() {
        out.off = Some("no app enrolled a card (no token API for the rules' apps?)".into());
    }
    out
}

/// The channel report of the run: text, JSON, and whether no answer to a QR
/// payment carried anything but its token. `booked`: the approvals the issuers
/// counted as token payments (gross: a QR payment the acquirer timed out and
/// reversed is among them, so this is at least the acquirers' QR approvals).
pub fn channel_report(
    results: &[AcquirerResult],
    apps: &DemoApps,
    booked: u64,
    rules: &[RuleDeclines],
) -> (String, Value, bool) {
    let mut channels = ChannelStats::default();
    let mut app_names: Vec<String> = Vec::new();
    for r in results {
        // Every acquirer was given the same wallets in the same order.
        if app_names.len() < r.report.apps.len() {
            app_names.clone_from(&r.report.apps);
        }
        channels.merge(&r.report.stats.channels);
    }
    let clean = channels.qr_field2_violations == 0;
    let mut text = String::from("\napp channel:\n");
    if let Some(reason) = &apps.off {
        text.push_str(&format!("  app payments off: {reason}\n"));
    }
    for (app, summary) in &apps.enrolments {
        text.push_str(&format!("  enrolment {}\n", summary.line(app)));
    }
    for line in channels.text(&app_names).lines() {
        text.push_str(&format!("  {line}\n"));
    }
    if channels.qr.sent > 0 {
        text.push_str(&format!(
            "  issuers booked {booked} token payments (field 48), acquirers saw {} QR approvals\n",
            channels.qr.approved
        ));
    }
    if !rules.is_empty() {
        let by_rule: Vec<String> = rules
            .iter()
            .map(|r| format!("{} {}: {}", r.rule, r.response_code, r.count))
            .collect();
        text.push_str(&format!(
            "  QR payments declined by the rules (journal): {}\n",
            by_rule.join(", ")
        ));
    }
    let enrolments: Map<String, Value> = apps
        .enrolments
        .iter()
        .map(|(app, s)| (app.clone(), s.to_json()))
        .collect();
    let json = json!({
        "off": apps.off,
        "enrolments": enrolments,
        "channels": channels.to_json(&app_names),
        "issuers_booked_token_payments": booked,
        "qr_declines_by_rule": rules.iter().map(|r| json!({
            "rule": r.rule, "response_code": r.response_code, "count": r.count,
        })).collect::<Vec<_>>(),
    });
    (text, json, clean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquirer::channels::Channel;
    use crate::acquirer::report::{LoadShape, Report};
    use crate::acquirer::stats::{latency_histogram, ConnStats};

    #[test]
    fn every_token_api_gets_a_free_loopback_port() {
        let mut config =
            super::super::load_config(std::path::Path::new(super::super::default_config()))
                .unwrap();
        let apis = free_token_api_ports(&mut config).unwrap();
        let ids: Vec<&str> = apis.iter().map(|a| a.app.as_str()).collect();
        assert_eq!(ids, ["koryo-pay", "jonsong", "manmulsang"]);
        let ports: std::collections::HashSet<u16> =
            config.token_apis.iter().map(|a| a.address.port()).collect();
        assert_eq!(ports.len(), config.token_apis.len());
        assert!(config
            .token_apis
            .iter()
            .all(|a| a.address.ip().is_loopback() && !(7300..=7340).contains(&a.address.port())));
    }

    fn result(channel: Channel, rc: [u8; 2], field2_ok: bool) -> AcquirerResult {
        let mut stats = ConnStats::new(&latency_histogram().unwrap(), 1, false);
        stats.channels.record_sent(channel);
        stats.channels.record_answer(channel, rc, field2_ok);
        AcquirerResult {
            name: "acq".into(),
            bank: "940857".into(),
            report: Report {
                stats,
                bank_ids: vec!["940800".into()],
                window: std::time::Duration::from_secs(1),
                connections: 1,
                shape: LoadShape::Closed(1),
                apps: vec!["koryo-pay".into(), "jonsong".into()],
                peers: vec!["127.0.0.1:1".into()],
            },
        }
    }

    #[test]
    fn channel_report_adds_acquirers_and_flags_a_pan_in_an_answer() {
        let apps = DemoApps {
            wallets: Vec::new(),
            enrolments: vec![(
                "jonsong".into(),
                EnrolSummary {
                    enrolled: 7,
                    refused: [("not_permitted 57 app-accepts-joined-banks".to_string(), 3)].into(),
                },
            )],
            off: None,
        };
        let results = [
            result(Channel::Card, *b"00", true),
            result(Channel::Qr(1), *b"57", true),
            result(Channel::Qr(1), *b"00", true),
        ];
        let rules = [RuleDeclines {
            rule: "app-accepts-joined-banks".into(),
            response_code: "57".into(),
            count: 3,
        }];
        let (text, json, clean) = channel_report(&results, &apps, 1, &rules);
        assert!(text.contains("app-accepts-joined-banks 57: 3"), "{text}");
        assert_eq!(json["qr_declines_by_rule"][0]["count"], 3);
        assert!(clean);
        assert!(
            text.contains("enrolment jonsong: enrolled 7, refused 3"),
            "{text}"
        );
        assert!(
            text.contains("app jonsong: sent 2  answered 2  approved 1"),
            "{text}"
        );
        assert_eq!(json["channels"]["qr"]["response_codes"]["57"], 1);
        assert_eq!(json["enrolments"]["jonsong"]["enrolled"], 7);
        let leaked = [result(Channel::Qr(0), *b"00", false)];
        assert!(text.contains("issuers booked 1 token payments"), "{text}");
        assert!(!channel_report(&leaked, &apps, 1, &[]).2);
    }
}
