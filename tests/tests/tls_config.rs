//! TLS configuration errors name the file, the entry and the problem, and never
//! show key material.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod tls_support;

use std::path::Path;

use switch::config::Config;
use tls_support::Pki;

fn config(tls_section: &str, link_extra: &str) -> String {
    format!(
        r#"
[switch]
institution_id = "940000"
rules = "{rules}"
{tls_section}

[[link]]
name = "acq"
role = "acquirer"
bank = "940810"
direction = "listen"
address = "127.0.0.1:0"
{link_extra}
"#,
        rules = tests::national_rules()
    )
}

fn errors(text: &str) -> Vec<String> {
    match Config::parse(text, Path::new("/etc/switch/test.toml")) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

/// A `[switch.tls]` section with the CA and CRL of `pki` and `cert`, `key` (paths
/// under its directory).
fn section(pki: &Pki, cert: &str, key: &str) -> String {
    let (ca, crl) = (pki.layout().ca(), pki.layout().crl());
    let (ca, crl, d) = (ca.display(), crl.display(), pki.dir.display());
    format!("[switch.tls]\nca = \"{ca}\"\ncert = \"{d}/{cert}\"\nkey = \"{d}/{key}\"\ncrl = [\"{crl}\"]\n")
}

#[test]
fn a_valid_tls_configuration_loads() {
    let pki = Pki::new("config-ok");
    let c = Config::parse(
        &config(
            &section(&pki, "switch/switch.crt", "switch/switch.key"),
            "tls = true\nidentity = \"940810.banks.test\"",
        ),
        Path::new("/etc/switch/test.toml"),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let tls = c.tls.as_ref().unwrap();
    assert!(tls.material.is_some());
    assert_eq!(
        tls.links["acq"].identity_of("940810"),
        Some("940810.banks.test")
    );
    // Debug output of the whole configuration shows no key.
    let key = std::fs::read_to_string(pki.layout().switch().key()).unwrap();
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    let debug = format!("{c:?}");
    assert!(!debug.contains(&body[..20]), "key material in Debug output");
}

#[test]
fn missing_and_mismatched_files_are_named() {
    let pki = Pki::new("config-bad");
    let e = errors(&config(
        &section(&pki, "nowhere.pem", "switch/switch.key"),
        "tls = true",
    ));
    assert!(
        e.iter().any(|m| m.contains("test.toml: switch.tls:")
            && m.contains("nowhere.pem")
            && m.contains("cannot read")),
        "{e:?}"
    );
    // A certificate with somebody else's key: both files named.
    let e = errors(&config(
        &section(&pki, "switch/switch.crt", "banks/940810/940810.key"),
        "tls = true",
    ));
    assert!(
        e.iter()
            .any(|m| m.contains("switch.crt") && m.contains("940810.key")),
        "{e:?}"
    );
    // A CA file that is not PEM.
    let junk = pki.dir.join("junk.pem");
    std::fs::write(&junk, "hello\n").unwrap();
    let d = pki.dir.display();
    let e = errors(&config(
        &format!("[switch.tls]\nca = \"{d}/junk.pem\"\ncert = \"{d}/switch/switch.crt\"\nkey = \"{d}/switch/switch.key\"\n"),
        "tls = true",
    ));
    assert!(
        e.iter()
            .any(|m| m.contains("junk.pem") && m.contains("no CERTIFICATE")),
        "{e:?}"
    );
    // No error ever quotes a key.
    let key = std::fs::read_to_string(pki.layout().bank("940810").key()).unwrap();
    assert!(e
        .iter()
        .all(|m| !m.contains("PRIVATE KEY") && !key.lines().nth(1).is_some_and(|l| m.contains(l))));
}

#[test]
fn link_problems_name_the_link() {
    let e = errors(&config("", "tls = true"));
    assert!(
        e.iter()
            .any(|m| m.contains("link acq:") && m.contains("[switch.tls]")),
        "{e:?}"
    );
    let e = errors(&config("", "identity = \"x.example\""));
    assert!(
        e.iter()
            .any(|m| m.contains("link acq:") && m.contains("tls = true")),
        "{e:?}"
    );
    let pki = Pki::new("config-link");
    let e = errors(&config(
        &section(&pki, "switch/switch.crt", "switch/switch.key"),
        "tls = true\nidentities = { \"940899\" = \"x.example\" }",
    ));
    assert!(
        e.iter()
            .any(|m| m.contains("link acq:") && m.contains("940899")),
        "{e:?}"
    );
    let e = errors(&config(
        &format!(
            "{}handshake_timeout_ms = 0\n",
            section(&pki, "switch/switch.crt", "switch/switch.key")
        ),
        "tls = true",
    ));
    assert!(
        e.iter()
            .any(|m| m.contains("switch.tls:") && m.contains("handshake_timeout_ms")),
        "{e:?}"
    );
}

#[test]
fn the_example_configuration_loads_with_generated_certificates() {
    use switch::tls::generate::{generate, CertPlan};
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../switch/config/tls-example.toml"
    );
    let text = std::fs::read_to_string(example).unwrap().replace(
        "../../routing-rules/rules/national.toml",
        &tests::national_rules(),
    );
    let dir = std::env::temp_dir().join(format!("tls-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tls-example.toml");
    std::fs::write(&path, text).unwrap();
    // As `switch gen-certs DIR --config PATH` does it.
    let plan = CertPlan::from_config(&Config::load_without_tls_files(&path).unwrap());
    assert_eq!(plan.banks["940852"], vec!["pyongsong.central-bank.example"]);
    generate(&dir.join("certs"), &plan).unwrap();
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(config.tls.unwrap().links.len(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}
