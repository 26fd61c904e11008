//! `[[token_api]]`: a token API listener (see [`crate::token_api`]), one per
//! participant: a payment-app operator (`app`) enrols cards and manages its
//! tokens; an issuer (`bank`) suspends and resumes its cards' tokens.
//!
//! ```toml
//! [[token_api]]
//! name = "koryo-pay-api"
//! app = "koryo-pay"              # an [[app]] id of the routing rules; or bank = "940810"
//! address = "127.0.0.1:7301"
//! tls = true                     # mutual TLS with [switch.tls] (default false)
//! identity = "koryo-pay.apps.test"   # the client certificate's name (this is the default)
//! max_connections = 64           # connections at once (the default)
//! ```
//!
//! Without TLS the listener's participant is whoever connects: fit for loopback
//! and tests only, so a plain listener beyond loopback is a warning. Whether the
//! app exists in the routing rules is checked where the rules are loaded, with
//! [`TokenApiConfig::participant`].

use std::collections::HashSet;
use std::net::SocketAddr;

use serde::Deserialize;

use super::error::{ConfigError, ConfigWarning, Problems};
use super::switch_section::is_institution_id;
use crate::core::tokens::Caller;
use crate::tls::settings::{default_identity, is_dns_name, DEFAULT_DOMAIN};

/// Connections at once on one token API listener by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// The domain of the default identity of an app: `<app>.apps.test`.
pub const APP_IDENTITY_DOMAIN: &str = "apps.test";

/// One `[[token_api]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTokenApi {
    name: String,
    app: Option<String>,
    bank: Option<String>,
    address: String,
    tls: Option<bool>,
    identity: Option<String>,
    max_connections: Option<usize>,
}

/// One token API listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenApiConfig {
    /// Name used in logs and metrics (`api`).
    pub name: String,
    /// Who calls on it.
    participant: Caller,
    /// Where it listens.
    pub address: SocketAddr,
    /// Mutual TLS with `[switch.tls]`: the client certificate must name `identity`.
    pub tls: bool,
    /// The name (SAN DNS name or CN) the caller's certificate must present.
    pub identity: String,
    /// Connections at once; more wait to be accepted.
    pub max_connections: usize,
}

impl TokenApiConfig {
    /// A listener for `participant` (tests and tools; files go through
    /// validation).
    pub fn new(name: &str, participant: Caller, address: SocketAddr) -> TokenApiConfig {
        let identity = default_participant_identity(&participant, DEFAULT_DOMAIN);
        TokenApiConfig {
            name: name.to_string(),
            participant,
            address,
            tls: false,
            identity,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }

    /// The participant behind every request on this listener. The caller checks
    /// that an app exists in the routing rules (and a bank is an issuer).
    pub fn participant(&self) -> &Caller {
        &self.participant
    }
}

/// `<app>.apps.test` for an app, `<bank>.<domain>` for a bank (as for links).
fn default_participant_identity(participant: &Caller, bank_domain: &str) -> String {
    match participant {
        Caller::App(app) => format!("{app}.{APP_IDENTITY_DOMAIN}"),
        Caller::Bank(bank) => default_identity(bank, bank_domain),
    }
}

/// An app id as the routing rules spell it: lowercase letters, digits and
/// inner hyphens, starting with a letter, at most 32 characters (it is also the
/// first label of the app's default certificate name).
pub fn is_app_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    (1..=32).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && !id.ends_with('-')
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// What the validation of the token APIs needs from the rest of the file.
pub(crate) struct TokenApiContext<'a> {
    pub(crate) file: &'a str,
    /// `[switch.tls]` is configured.
    pub(crate) has_tls: bool,
    /// Its identity domain for banks.
    pub(crate) bank_domain: &'a str,
    /// The links' addresses (a token API may not take one: a listener's is
    /// taken, and a dialed one is a bank's).
    pub(crate) link_addresses: Vec<SocketAddr>,
}

/// Validate every `[[token_api]]`: each on its own, then names and addresses
/// unique (among them and against the links).
pub(crate) fn validate_token_apis(
    raw: &[RawTokenApi],
    cx: &TokenApiContext<'_>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Vec<TokenApiConfig>, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut names = HashSet::new();
    let mut addresses: HashSet<SocketAddr> = cx.link_addresses.iter().copied().collect();
    let mut apis = Vec::with_capacity(raw.len());
    for entry in raw {
        let mut p = Problems::new(cx.file, format!("token_api {}", entry.name));
        let api = entry.validate(cx, &mut p, warnings);
        if !names.insert(entry.name.as_str()) {
            p.push("another [[token_api]] has this name");
        }
        // Port 0 (tests: the system picks one) never collides.
        if let Some(api) = api.as_ref().filter(|a| a.address.port() != 0) {
            if !addresses.insert(api.address) {
                p.push(format!(
                    "address {} is taken by another listener",
                    api.address
                ));
            }
        }
        match (api, p.is_empty()) {
            (Some(api), true) => apis.push(api),
            _ => errors.extend(p.into_errors()),
        }
    }
    if errors.is_empty() {
        Ok(apis)
    } else {
        Err(errors)
    }
}

impl RawTokenApi {
    fn validate(
        &self,
        cx: &TokenApiContext<'_>,
        p: &mut Problems<'_>,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Option<TokenApiConfig> {
        if self.name.is_empty() {
            p.push("name must not be empty");
        }
        let participant = match (&self.app, &self.bank) {
            (Some(app), None) if is_app_id(app) => Some(Caller::App(app.clone())),
            (Some(app), None) => {
                p.push(format!(
                    "app {app:?} is not an app id (lowercase letters, digits and hyphens, starting with a letter, at most 32)"
                ));
                None
            }
            (None, Some(bank)) if is_institution_id(bank) => Some(Caller::Bank(bank.clone())),
            (None, Some(_)) => {
                p.push("bank must be an institution id (1-11 digits)");
                None
            }
            _ => {
                p.push("give exactly one of app (an [[app]] id) or bank (an issuer's id)");
                None
            }
        };
        let address = match self.address.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                p.push(format!(
                    "address {:?} is not an address (host:port)",
                    self.address
                ));
                None
            }
        };
        let tls = self.tls.unwrap_or(false);
        if tls && !cx.has_tls {
            p.push("tls = true needs [switch.tls]");
        }
        let max_connections = self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if max_connections == 0 {
            p.push("max_connections must be at least 1");
        }
        if let Some(identity) = &self.identity {
            if !is_dns_name(identity) {
                p.push(format!("identity {identity:?} is not a DNS name"));
            }
            if !tls {
                warnings.push(p.warning("identity is used only with tls = true"));
            }
        }
        let (participant, address) = (participant?, address?);
        if !tls && !address.ip().is_loopback() {
            warnings.push(p.warning(format!(
                "a plain token API listens beyond loopback ({address}): anyone who reaches it acts as {}; set tls = true",
                match &participant {
                    Caller::App(app) => format!("app {app}"),
                    Caller::Bank(bank) => format!("bank {bank}"),
                }
            )));
        }
        let identity = self
            .identity
            .clone()
            .unwrap_or_else(|| default_participant_identity(&participant, cx.bank_domain));
        Some(TokenApiConfig {
            name: self.name.clone(),
            participant,
            address,
            tls,
            identity,
            max_connections,
        })
    }
}

/// What is wrong with the token APIs of a configuration against the routing
/// rules it names: an app the rules do not define, a bank that issues no cards,
/// or token APIs without a token range to number tokens in. Empty when all is
/// well. `switch check-config` prints these; the switch does not start with any.
pub fn problems_with_rules(
    apis: &[TokenApiConfig],
    table: &routing_rules::RoutingTable,
) -> Vec<String> {
    let mut problems = Vec::new();
    for api in apis {
        match api.participant() {
            Caller::App(app) if table.app(app).is_none() => problems.push(format!(
                "token_api {}: app {app} is not an [[app]] of the routing rules",
                api.name
            )),
            Caller::Bank(bank) if !table.bank(bank).is_some_and(|b| b.issuer) => {
                problems.push(format!(
                    "token_api {}: bank {bank} is not an issuing bank of the routing rules",
                    api.name
                ))
            }
            _ => {}
        }
    }
    if !apis.is_empty() && table.token_ranges().is_empty() {
        problems.push(
            "token_api: the routing rules define no [[token_range]] to number tokens in".into(),
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn raw(text: &str) -> Vec<RawTokenApi> {
        #[derive(Deserialize)]
        struct File {
            token_api: Vec<RawTokenApi>,
        }
        toml::from_str::<File>(text).unwrap().token_api
    }

    fn cx(has_tls: bool) -> TokenApiContext<'static> {
        TokenApiContext {
            file: "switch.toml",
            has_tls,
            bank_domain: "banks.test",
            link_addresses: vec!["127.0.0.1:7001".parse().unwrap()],
        }
    }

    #[test]
    fn apps_and_banks_with_their_default_identities() {
        let mut warnings = Vec::new();
        let apis = validate_token_apis(
            &raw(r#"
                [[token_api]]
                name = "koryo-pay-api"
                app = "koryo-pay"
                address = "127.0.0.1:7301"
                tls = true
                [[token_api]]
                name = "issuer-940810"
                bank = "940810"
                address = "127.0.0.1:7310"
                max_connections = 8
            "#),
            &cx(true),
            &mut warnings,
        )
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(apis[0].participant(), &Caller::App("koryo-pay".into()));
        assert_eq!(apis[0].identity, "koryo-pay.apps.test");
        assert!(apis[0].tls);
        assert_eq!(apis[0].max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(apis[1].participant(), &Caller::Bank("940810".into()));
        assert_eq!(apis[1].identity, "940810.banks.test");
        assert_eq!(apis[1].max_connections, 8);
    }

    #[test]
    fn every_problem_names_the_file_and_the_entry() {
        let mut warnings = Vec::new();
        let errors = validate_token_apis(
            &raw(r#"
                [[token_api]]
                name = "both"
                app = "koryo-pay"
                bank = "940810"
                address = "127.0.0.1:7301"
                [[token_api]]
                name = "bad-app"
                app = "Koryo_Pay"
                address = "nowhere"
                tls = true
                max_connections = 0
                [[token_api]]
                name = "taken"
                bank = "940820"
                address = "127.0.0.1:7001"
                [[token_api]]
                name = "taken"
                bank = "94082x"
                address = "127.0.0.1:7302"
            "#),
            &cx(false),
            &mut warnings,
        )
        .unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let expect = [
            "switch.toml: token_api both: give exactly one of app",
            "switch.toml: token_api bad-app: app \"Koryo_Pay\" is not an app id",
            "switch.toml: token_api bad-app: address \"nowhere\" is not an address",
            "switch.toml: token_api bad-app: tls = true needs [switch.tls]",
            "switch.toml: token_api bad-app: max_connections must be at least 1",
            "switch.toml: token_api taken: address 127.0.0.1:7001 is taken",
            "switch.toml: token_api taken: bank must be an institution id",
            "switch.toml: token_api taken: another [[token_api]] has this name",
        ];
        for e in expect {
            assert!(text.iter().any(|t| t.starts_with(e)), "{e}\nin {text:#?}");
        }
        assert_eq!(text.len(), expect.len(), "{text:#?}");
    }

    #[test]
    fn a_plain_listener_beyond_loopback_is_a_warning() {
        let mut warnings = Vec::new();
        let apis = validate_token_apis(
            &raw(r#"
                [[token_api]]
                name = "open"
                app = "jonsong"
                address = "0.0.0.0:7302"
            "#),
            &cx(false),
            &mut warnings,
        )
        .unwrap();
        assert_eq!(apis.len(), 1);
        assert_eq!(warnings.len(), 1);
        let w = warnings[0].to_string();
        assert!(
            w.starts_with("switch.toml: token_api open: a plain token API listens beyond loopback"),
            "{w}"
        );
    }

    #[test]
    fn app_ids() {
        for ok in ["koryo-pay", "jonsong", "a1", "x"] {
            assert!(is_app_id(ok), "{ok}");
        }
        for bad in [
            "",
            "Koryo",
            "-pay",
            "pay-",
            "koryo_pay",
            "1pay",
            &"a".repeat(33),
        ] {
            assert!(!is_app_id(bad), "{bad}");
        }
    }

    #[test]
    fn the_national_configuration_has_an_api_per_app_and_issuer() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/national.toml");
        let config = crate::config::Config::load_without_tls_files(&path).unwrap();
        let ports: Vec<(String, u16)> = config
            .token_apis
            .iter()
            .map(|a| {
                let who = match a.participant() {
                    Caller::App(id) | Caller::Bank(id) => id.clone(),
                };
                (who, a.address.port())
            })
            .collect();
        let expected = [
            ("koryo-pay", 7301),
            ("jonsong", 7302),
            ("manmulsang", 7303),
            ("940800", 7300),
            ("940810", 7310),
            ("940820", 7320),
            ("940830", 7330),
            ("940840", 7340),
        ];
        assert_eq!(
            ports,
            expected.map(|(w, p)| (w.to_string(), p)).to_vec(),
            "{ports:?}"
        );
        assert!(
            !config
                .warnings
                .iter()
                .any(|w| w.0.entry.starts_with("token_api")),
            "{:?}",
            config.warnings
        );
    }
}
