//! Whole-file tests of the two stages: defaults, the deprecated `_secs` names,
//! and that no key material reaches `Debug`.

use std::path::Path;
use std::time::Duration;

use super::*;

/// `[switch]` with `extra` lines, next to the shipped configuration.
fn parse_switch(extra: &str) -> Result<Config, Vec<ConfigError>> {
    let text = format!(
        "[switch]\ninstitution_id = \"940000\"\nrules = \"../../routing-rules/rules/national.toml\"\n{extra}"
    );
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/test.toml"));
    Config::parse(&text, path)
}

#[test]
fn the_saf_window_defaults_to_32_and_must_be_at_least_1() {
    assert_eq!(parse_switch("").expect("valid").saf_window, 32);
    assert_eq!(parse_switch("saf_window = 1").expect("valid").saf_window, 1);
    let errors = parse_switch("saf_window = 0").expect_err("invalid");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].entry, "switch");
    assert!(errors[0].message.contains("saf_window"), "{}", errors[0]);
}

#[test]
fn durations_are_milliseconds() {
    let c = parse_switch(
        "duplicate_window_ms = 1500\nshutdown_grace_ms = 250\nread_timeout_ms = 2500\n\
         saf_expiry_ms = 60000\n\n[[link]]\nrole = \"issuer\"\nbank = \"940810\"\n\
         direction = \"dial\"\naddress = \"127.0.0.1:7110\"\necho_interval_ms = 750\n",
    )
    .expect("valid");
    assert_eq!(c.duplicate_window, Duration::from_millis(1500));
    assert_eq!(c.shutdown_grace, Duration::from_millis(250));
    assert_eq!(c.read_timeout, Duration::from_millis(2500));
    assert_eq!(c.saf_expiry, Duration::from_secs(60));
    assert_eq!(c.links[0].echo_interval, Duration::from_millis(750));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn the_old_secs_names_load_with_a_warning_naming_file_key_and_new_name() {
    let c = parse_switch(
        "duplicate_window_secs = 300\nshutdown_grace_secs = 2\nread_timeout_secs = 60\n\
         saf_expiry_secs = 3600\n\n[[link]]\nname = \"issuer\"\nrole = \"issuer\"\n\
         bank = \"940810\"\ndirection = \"dial\"\naddress = \"127.0.0.1:7110\"\n\
         echo_interval_secs = 10\n",
    )
    .expect("the old names still load");
    assert_eq!(c.duplicate_window, Duration::from_secs(300));
    assert_eq!(c.shutdown_grace, Duration::from_secs(2));
    assert_eq!(c.read_timeout, Duration::from_secs(60));
    assert_eq!(c.saf_expiry, Duration::from_secs(3600));
    assert_eq!(c.links[0].echo_interval, Duration::from_secs(10));
    let warnings: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 5, "{warnings:?}");
    for (entry, old, new) in [
        (
            "switch",
            "duplicate_window_secs",
            "duplicate_window_ms = 300000",
        ),
        ("switch", "shutdown_grace_secs", "shutdown_grace_ms = 2000"),
        ("switch", "read_timeout_secs", "read_timeout_ms = 60000"),
        ("switch", "saf_expiry_secs", "saf_expiry_ms = 3600000"),
        (
            "link issuer",
            "echo_interval_secs",
            "echo_interval_ms = 10000",
        ),
    ] {
        assert!(
            warnings.iter().any(|w| w.contains("config/test.toml")
                && w.contains(&format!(": {entry}: {old} is deprecated"))
                && w.contains(new)),
            "no warning for {old}: {warnings:?}"
        );
    }
}

#[test]
fn an_old_and_a_new_name_together_are_an_error() {
    let errors = parse_switch("read_timeout_secs = 30\nread_timeout_ms = 30000")
        .expect_err("both spellings");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].entry, "switch");
    assert!(
        errors[0]
            .message
            .contains("read_timeout_ms and read_timeout_secs"),
        "{}",
        errors[0]
    );
    let errors = parse_switch(
        "[[link]]\nrole = \"issuer\"\nbank = \"940810\"\ndirection = \"dial\"\n\
         address = \"127.0.0.1:7110\"\necho_interval_secs = 30\necho_interval_ms = 30000\n",
    )
    .expect_err("both spellings");
    assert_eq!(errors[0].entry, "link issuer-940810");
    assert!(
        errors[0].message.contains("echo_interval_ms"),
        "{}",
        errors[0]
    );
}

#[test]
fn debug_of_a_config_never_shows_its_keys() {
    const MAC: &str = "0123456789ABCDEFFEDCBA9876543210";
    const PAN: &str = "A1B2C3D4E5F60718293A4B5C6D7E8F90";
    std::env::set_var("CONFIG_DEBUG_TEST_MAC", MAC);
    std::env::set_var("CONFIG_DEBUG_TEST_PAN", PAN);
    let c = parse_switch(
        "\n[journal]\npath = \"j.db\"\npan_key = { env = \"CONFIG_DEBUG_TEST_PAN\" }\n\n\
         [[link]]\nrole = \"acquirer\"\nbank = \"940810\"\ndirection = \"listen\"\n\
         address = \"127.0.0.1:0\"\nmac_key = { env = \"CONFIG_DEBUG_TEST_MAC\" }\n",
    )
    .expect("valid");
    assert_eq!(
        c.journal
            .as_ref()
            .and_then(|j| j.pan_key.as_ref())
            .map(|k| k.expose().len()),
        Some(16)
    );
    assert!(c.security.keys.contains_key("acquirer-940810"));
    let shown = format!("{c:?} {c:#?}");
    for key in [MAC, PAN] {
        for hex in [key.to_string(), key.to_lowercase()] {
            assert!(!shown.contains(&hex), "Debug shows a key");
            // Nor a recognisable part of it.
            assert!(!shown.contains(&hex[..12]), "Debug shows part of a key");
        }
    }
    // The bytes as a list of numbers (a derived Debug of Vec<u8>) neither.
    assert!(
        !shown.contains("161, 178, 195"),
        "Debug shows the PAN key's bytes"
    );
}

#[test]
fn the_security_module_deadline_defaults_to_2_s_and_must_be_at_least_1_ms() {
    let default = parse_switch("").expect("valid").hsm_timeout;
    assert_eq!(default, Duration::from_secs(2));
    let set = parse_switch("hsm_timeout_ms = 350").expect("valid");
    assert_eq!(set.hsm_timeout, Duration::from_millis(350));
    let errors = parse_switch("hsm_timeout_ms = 0").expect_err("invalid");
    assert!(
        errors[0].message.contains("hsm_timeout_ms"),
        "{}",
        errors[0]
    );
}

/// `[journal]` with `url` (PostgreSQL) instead of `path`.
fn journal_with(keys: &str) -> Result<Config, Vec<ConfigError>> {
    std::env::set_var("CONFIG_PG_TEST_PAN", "A1B2C3D4E5F60718293A4B5C6D7E8F90");
    parse_switch(&format!(
        "\n[journal]\n{keys}\npan_key = {{ env = \"CONFIG_PG_TEST_PAN\" }}\n"
    ))
}

#[test]
fn a_journal_url_selects_postgresql_and_its_password_comes_from_the_environment() {
    let c = journal_with(
        "url = \"postgres://switch@127.0.0.1:5432/switch\"\npassword_env = \"CONFIG_PG_TEST_PW\"",
    )
    .expect("valid");
    let journal = c.journal.expect("journal");
    let pg = journal.postgres.as_ref().expect("postgres");
    assert_eq!(pg.password_env, "CONFIG_PG_TEST_PW");
    assert!(journal
        .backend()
        .starts_with("postgresql postgres://switch@127.0.0.1"));
    std::env::set_var("CONFIG_PG_TEST_PW", "s3cret");
    let client = pg.client_config().expect("client config");
    assert_eq!(client.get_password(), Some(&b"s3cret"[..]));
    assert_eq!(client.get_dbname(), Some("switch"));
    let default_env = journal_with("url = \"postgres://switch@127.0.0.1:5432/switch\"")
        .expect("valid")
        .journal
        .and_then(|j| j.postgres)
        .expect("postgres");
    assert_eq!(default_env.password_env, "PGPASSWORD");
}

#[test]
fn a_password_in_the_journal_url_is_refused_naming_the_field() {
    let errors = journal_with("url = \"postgres://switch:hunter2@127.0.0.1:5432/switch\"")
        .expect_err("refused");
    let shown = format!("{errors:?}");
    assert!(shown.contains("url must not hold a password"), "{shown}");
    assert!(shown.contains("password_env"), "{shown}");
    assert!(
        !shown.contains("hunter2"),
        "the error must not repeat the password"
    );
    let both = journal_with("path = \"j.db\"\nurl = \"postgres://switch@127.0.0.1/switch\"")
        .expect_err("refused");
    assert!(format!("{both:?}").contains("not both"));
    let neither = journal_with("durability = \"strict\"").expect_err("refused");
    assert!(format!("{neither:?}").contains("path (SQLite) or url (PostgreSQL)"));
}

/// A link whose dialect cannot carry the stand-in indicator is refused while
/// stand-in is on (a decision's answer would be dropped, its advice never
/// delivered), and accepted with stand-in off or the indicator in a field the
/// dialect has.
#[test]
fn a_link_whose_spec_cannot_carry_the_stand_in_indicator_is_refused() {
    let dir = std::env::temp_dir().join(format!("switch-spec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let spec = dir.join("no60.toml");
    std::fs::write(
        &spec,
        "name = \"no60\"\nbase = \"iso87ascii\"\n\n[fields.60]\nremove = true\n",
    )
    .expect("spec written");
    let link = format!(
        "\n[[link]]\nrole = \"acquirer\"\nbank = \"940800\"\ndirection = \"listen\"\n\
         address = \"127.0.0.1:0\"\nspec = \"{}\"\n",
        spec.display()
    );
    let errors = parse_switch(&link).expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].entry, "link acquirer-940800");
    let message = &errors[0].message;
    assert!(
        message.contains("no60") && message.contains("indicator_field 60"),
        "{message}"
    );
    // A dialect with a fixed header carries it (the header is not the point).
    let headed = dir.join("headed.toml");
    std::fs::write(
        &headed,
        "name = \"headed\"\nbase = \"iso87ascii\"\nheader_len = 5\n",
    )
    .expect("spec written");
    parse_switch(&link.replace(&spec.display().to_string(), &headed.display().to_string()))
        .expect("a dialect with a header");
    parse_switch(&format!("{link}\n[stand_in]\nenabled = false\n")).expect("stand-in off");
    parse_switch(&format!("{link}\n[stand_in]\nindicator_field = 61\n")).expect("field 61");
    std::fs::remove_dir_all(&dir).ok();
}
