//! The journal's PAN-hash key is never written in a configuration in the clear:
//! a plain key is refused naming the field, a key from an unset variable lets the
//! configuration load (for `settle`, `cutover`) with a warning naming the
//! variable but keeps the switch from starting, and a key from the environment
//! is used.

use std::path::Path;

use switch::config::Config;

fn config_with(pan_key: &str) -> String {
    format!(
        r#"
[switch]
institution_id = "940000"
rules = "{rules}"

[journal]
path = "journal.db"
pan_key = {pan_key}

[[link]]
name = "acquirer"
role = "acquirer"
bank = "940857"
direction = "listen"
address = "127.0.0.1:0"
"#,
        rules = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../routing-rules/rules/national.toml"
        ),
    )
}

#[test]
fn a_plain_key_is_refused_naming_the_field() {
    let errors = Config::parse(
        &config_with("\"00112233445566778899aabbccddeeff\""),
        Path::new("plain.toml"),
    )
    .unwrap_err();
    let text = errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("pan_key"), "{text}");
    assert!(text.contains("not written in the clear"), "{text}");
    assert!(!text.contains("00112233"), "the key is echoed: {text}");
}

#[tokio::test]
async fn an_unset_variable_loads_but_does_not_start() {
    let config = Config::parse(
        &config_with("{ env = \"JOURNAL_KEY_TEST_UNSET_VARIABLE\" }"),
        Path::new("unset.toml"),
    )
    .expect("the configuration loads without the key");
    assert!(config.journal.as_ref().unwrap().pan_key.is_none());
    let why = config
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        why.contains("unset.toml: journal: pan_key")
            && why.contains("JOURNAL_KEY_TEST_UNSET_VARIABLE"),
        "{why}"
    );
    let routing = routing_rules::RoutingTable::load(&config.rules).unwrap().0;
    let started =
        switch::net::RunningSwitch::start(switch::net::SwitchOptions::new(config, routing)).await;
    let error = started.err().expect("no switch without its PAN key");
    assert!(error.to_string().contains("pan_key"), "{error}");
}

#[test]
fn a_key_from_the_environment_is_used() {
    std::env::set_var(
        "JOURNAL_KEY_TEST_SET_VARIABLE",
        "0f0e0d0c0b0a09080706050403020100",
    );
    let config = Config::parse(
        &config_with("{ env = \"JOURNAL_KEY_TEST_SET_VARIABLE\" }"),
        Path::new("set.toml"),
    )
    .unwrap();
    let key = config.journal.unwrap().pan_key.unwrap();
    assert_eq!(key.expose(), (0..16u8).rev().collect::<Vec<_>>());
}
