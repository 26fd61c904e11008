//! No card secret gets out: every log line (down to `trace`), error message and
//! `Debug` output of a run with MACs and PIN translation is scanned for full
//! PANs, PIN blocks, keys and track data. The run covers the happy path (the
//! simulators through the switch, with some deliberately bad requests), a wrong
//! MAC, a wrong PIN, an undecipherable PIN block, track 2 and ICC data in a
//! request, and configuration errors about keys.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use codecs::luhn::luhn_valid;
use codecs::Spec;
use simulators::security::HostSecurity;
use switch::config::Config;
use switch::security::{KeyMaterial, MacPadding, PinFormat};
use tests::{national_rules, purchase, start_switch, LogCapture, Peer};

const WAIT: Duration = Duration::from_secs(5);

const KEK: &str = "8C1F5A3E7B2D9C4F6A0E1B8D3C7F2A5E9B4D6C1F8A3E5B7D2C9F4A6E1B0D8C3F";
const ACQ_MAC: &str = "9A8B7C6D5E4F30211F2E3D4C5B6A7988";
const ACQ_ZPK: &str = "3C5E7A9B1D2F4C6E8A0B3D5F7C9E1A2B";
const ISS_MAC: &str = "E1D2C3B4A5968778695A4B3C2D1E0F01";
const ISS_ZPK: &str = "6F4E2D0C8B7A5938172635445362718A";
const TRACK2: &str = "9408010000001238D29121010000012300000";

fn key(hex: &str) -> KeyMaterial {
    KeyMaterial::from_hex(hex).unwrap()
}

fn host(mac: &str, zpk: &str) -> HostSecurity {
    HostSecurity::new(
        Some((key(mac), MacPadding::Method2)),
        Some((key(zpk), PinFormat::Iso0)),
    )
    .unwrap()
}

fn config_text(issuer: std::net::SocketAddr) -> String {
    let wrap = |hex: &str| switch::security::kek::wrap(&key(KEK), &key(hex)).unwrap();
    format!(
        r#"
[switch]
institution_id = "940000"
rules = "{rules}"
[switch.security]
kek_env = "SCAN_KEK"

[[link]]
name = "scan-acquirer"
role = "acquirer"
bank = "940810"
direction = "listen"
address = "127.0.0.1:0"
mac_key = {{ wrapped = "{acq_mac}" }}
pin_key = {{ wrapped = "{acq_zpk}" }}

[[link]]
name = "scan-issuer"
role = "issuer"
bank = "940800"
direction = "dial"
address = "{issuer}"
mac_key = {{ env = "SCAN_ISS_MAC" }}
pin_key = {{ env = "SCAN_ISS_ZPK" }}
"#,
        rules = national_rules(),
        acq_mac = wrap(ACQ_MAC),
        acq_zpk = wrap(ACQ_ZPK),
    )
}

/// Runs of 13-19 digits that are Luhn-valid PANs of the national prefix.
fn full_pans(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for run in text.split(|c: char| !c.is_ascii_digit()) {
        if (13..=19).contains(&run.len()) && run.starts_with("9408") && luhn_valid(run.as_bytes()) {
            found.push(run.to_string());
        }
    }
    found
}

/// Configuration errors about keys (their messages are scanned too).
fn config_errors() -> Vec<String> {
    let base = format!(
        "[switch]\ninstitution_id = \"940000\"\nrules = \"{}\"\n[switch.security]\nkek_env = \"SCAN_KEK\"\n\
         [[link]]\nname = \"x\"\nrole = \"acquirer\"\nbank = \"940810\"\ndirection = \"listen\"\naddress = \"127.0.0.1:0\"\n",
        national_rules()
    );
    std::env::set_var("SCAN_SHORT", &ACQ_MAC[..16]);
    std::env::set_var("SCAN_NOT_HEX", format!("{}ZZ", &ACQ_ZPK[..30]));
    let wrong_kek =
        switch::security::kek::wrap(&key(&KEK.replace('8', "7")), &key(ACQ_MAC)).unwrap();
    let mut errors = Vec::new();
    for line in [
        format!("mac_key = \"{ACQ_MAC}\""),
        "mac_key = { env = \"SCAN_SHORT\" }".to_string(),
        "pin_key = { env = \"SCAN_NOT_HEX\" }".to_string(),
        format!("mac_key = {{ wrapped = \"{wrong_kek}\" }}"),
        format!(
            "pin_key = {{ wrapped = \"{}\", env = \"SCAN_SHORT\" }}",
            &ACQ_ZPK
        ),
    ] {
        let text = format!("{base}{line}\n");
        match Config::parse(&text, Path::new("/scan.toml")) {
            Ok(_) => panic!("accepted: {line}"),
            Err(e) => errors.extend(e.iter().map(|e| e.to_string())),
        }
    }
    errors
}

#[tokio::test]
async fn no_pan_pin_block_key_or_track_data_in_logs_and_errors() {
    let capture = LogCapture::default();
    let _guard = capture.install();
    std::env::set_var("SCAN_KEK", KEK);
    std::env::set_var("SCAN_ISS_MAC", ISS_MAC);
    std::env::set_var("SCAN_ISS_ZPK", ISS_ZPK);
    let mut errors = config_errors();

    let table = tests::national_table();
    let issuer = simulators::issuer::start_secured(
        tests::issuer_options("940800"),
        &table,
        None,
        Some(Arc::new(host(ISS_MAC, ISS_ZPK))),
    )
    .await
    .unwrap();
    let text = config_text(issuer.addr.unwrap());
    let config = Config::parse(&text, Path::new("/scan.toml")).unwrap();
    let mut shown = vec![
        format!("{config:?}"),
        format!("{:?}", host(ACQ_MAC, ACQ_ZPK)),
    ];
    shown.push(format!(
        "{:?}",
        switch::security::SoftwareSecurityModule::from_config(&config.security)
    ));
    let sw = start_switch(&text).await;
    tests::wait_for_sign_on(&sw, 1, WAIT).await;
    let addr = sw.listening["scan-acquirer"];

    // The simulators, with some bad requests (bad Luhn, unknown BIN, malformed).
    let mut opts = tests::acquirer_options(addr, "940810", &["940800"], 300, 1, 4, 5000);
    opts.invalid_rate = 0.1;
    let report = simulators::acquirer::execute_secured(
        &opts,
        None,
        Some(Arc::new(host(ACQ_MAC, ACQ_ZPK))),
        false,
    )
    .await
    .unwrap();
    assert_eq!(report.stats.answered, report.stats.sent);

    // Scripted: a wrong MAC, a wrong PIN, an undecipherable PIN block, and track 2
    // and ICC data riding along.
    let spec = Spec::builtin("iso87ascii").unwrap();
    let acq = host(ACQ_MAC, ACQ_ZPK);
    let mut peer = Peer::connect(addr).await;
    let card = tests::pan("9408010000001");
    let mut blocks = Vec::new();
    let mut pans = vec![card.clone()];
    for (stan, pin, garble, mac_ok) in [
        (800_001u32, *b"0000", false, true),
        (800_002, *b"1234", true, true),
        (800_003, *b"4321", false, false),
    ] {
        let mut m = purchase(&card, "940810", stan, 2500);
        m.set(35, TRACK2);
        m.set_binary(
            55,
            &[
                0x9F, 0x26, 0x08, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x07, 0x18,
            ],
        );
        let block = if garble {
            vec![0x3D; 8]
        } else {
            acq.pin_block(&pin, card.as_bytes()).unwrap().unwrap()
        };
        blocks.push(block.clone());
        m.set_binary(52, &block);
        let mut body = acq.encode(&spec, &m).unwrap().to_vec();
        if !mac_ok {
            let last = body.len() - 1;
            body[last] ^= 0x01;
        }
        peer.send_raw(body.into()).await;
        let (_, r) = peer.recv_frame(WAIT).await.expect("an answer");
        assert!(r.response_code().is_some());
    }
    pans.extend(
        simulators::cards::CardBase::generate(&table, 1, tests::CARDS_PER_RANGE)
            .cards()
            .iter()
            .map(|c| c.pan_str().to_string()),
    );
    sw.shutdown().await;
    if let Err(e) = issuer.stop().await {
        errors.push(e);
    }

    let mut everything = capture.text();
    for e in errors.iter().chain(&shown) {
        everything.push('\n');
        everything.push_str(e);
    }
    assert!(
        everything.contains("security event"),
        "the run logged its refusals"
    );
    assert!(
        everything.lines().count() > 100,
        "trace-level logs captured"
    );
    let upper = everything.to_ascii_uppercase();
    let mut secrets: Vec<(String, &str)> = vec![
        (KEK.into(), "the KEK"),
        (ACQ_MAC.into(), "a MAC key"),
        (ACQ_ZPK.into(), "a PIN key"),
        (ISS_MAC.into(), "a MAC key"),
        (ISS_ZPK.into(), "a PIN key"),
        (ACQ_MAC[..16].into(), "half a MAC key"),
        (ACQ_ZPK[..16].into(), "half a PIN key"),
        (TRACK2.into(), "track 2 data"),
        ("9F2608A1B2C3D4E5F6".into(), "ICC data"),
    ];
    for b in &blocks {
        secrets.push((
            b.iter().map(|x| format!("{x:02X}")).collect(),
            "a PIN block",
        ));
    }
    for (secret, what) in &secrets {
        assert!(
            !upper.contains(secret.as_str()),
            "{what} in the logs or errors"
        );
    }
    let leaked = full_pans(&everything);
    assert!(
        leaked.is_empty(),
        "{} full PANs in the logs or errors",
        leaked.len()
    );
    let known: Vec<&String> = pans
        .iter()
        .filter(|p| everything.contains(p.as_str()))
        .collect();
    assert!(
        known.is_empty(),
        "{} card numbers in the logs or errors",
        known.len()
    );
}
