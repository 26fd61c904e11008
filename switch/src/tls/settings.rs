//! The TLS part of the configuration: `[switch.tls]` (the switch's certificate and
//! key, the CAs and CRLs it trusts, the handshake deadline and cap) and which links
//! use TLS with which bank identities. Validation only; [`super::endpoint`] turns
//! the files into rustls configurations.
//!
//! ```toml
//! [switch.tls]
//! ca = ["certs/ca.pem"]            # CAs that sign bank certificates (a path or a list)
//! cert = "certs/switch.pem"        # the switch's chain, presented to banks
//! key = "certs/switch.key"         # its private key (keep it 0600, never commit it)
//! crl = ["certs/ca.crl"]           # optional; then every CA's CRL must be listed
//! handshake_timeout_ms = 5000      # a handshake not done by then is dropped
//! max_handshakes = 256             # sockets accepted, handshake not done, per listener
//! domain = "banks.test"            # default identity of bank B: "B.banks.test"
//! every_link = false               # true: TLS on every link unless it says tls = false
//!
//! [[link]]
//! tls = true
//! identity = "morning-star.example"   # SAN DNS name or subject CN of the bank's cert
//! identities = { "940851" = "sinuiju.example" }  # per bank, on links carrying several
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::endpoint::TlsMaterial;

/// `[switch.tls]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    ca: OneOrMany,
    cert: PathBuf,
    key: PathBuf,
    crl: Option<OneOrMany>,
    handshake_timeout_ms: Option<u64>,
    max_handshakes: Option<usize>,
    domain: Option<String>,
    identity: Option<String>,
    every_link: Option<bool>,
}

/// A path or a list of paths.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

impl OneOrMany {
    fn resolve(&self, base: &Path) -> Vec<PathBuf> {
        match self {
            OneOrMany::One(p) => vec![base.join(p)],
            OneOrMany::Many(ps) => ps.iter().map(|p| base.join(p)).collect(),
        }
    }
}

/// The TLS fields of one `[[link]]` as written.
pub(crate) struct RawLinkTls<'a> {
    pub(crate) tls: Option<bool>,
    pub(crate) identity: Option<&'a str>,
    pub(crate) identities: Option<&'a BTreeMap<String, String>>,
    /// The link's bank and, on acquirer links, the field-32 ids it may claim.
    pub(crate) banks: Vec<&'a str>,
}

/// The files of the switch's TLS (paths only: never their content).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificates that sign bank certificates (and the switch's).
    pub ca: Vec<PathBuf>,
    /// The switch's certificate chain (PEM).
    pub cert: PathBuf,
    /// The switch's private key (PEM).
    pub key: PathBuf,
    /// Certificate revocation lists (PEM or DER); when any is given, every CA's CRL
    /// must be, since a certificate whose revocation status is unknown is refused.
    pub crl: Vec<PathBuf>,
}

/// The switch's TLS configuration.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// Where the certificates, key and CRLs are.
    pub files: TlsFiles,
    /// A handshake not complete by then is dropped.
    pub handshake_timeout: Duration,
    /// Sockets accepted whose handshake is not done, per listener; at the bound
    /// the oldest is closed to admit the new one, so neither idle nor trickling
    /// sockets can keep a bank out. Established connections count against
    /// `max_connections` apart.
    pub max_handshakes: usize,
    /// Default identity domain: bank B's identity is `B.<domain>`.
    pub domain: String,
    /// The switch's own identity (the name banks verify): default `switch.<domain>`.
    pub identity: String,
    /// The links that use TLS, by link name.
    pub links: BTreeMap<String, LinkTls>,
    /// The loaded rustls configurations; None when the configuration was read
    /// without opening the files (`switch gen-certs`, which creates them).
    pub material: Option<TlsMaterial>,
}

/// One link's TLS: the identity each of its banks must present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkTls {
    /// (bank id, certificate identity), in configuration order; the link's own
    /// bank first.
    pub identities: Vec<(String, String)>,
}

impl LinkTls {
    /// The identity `bank` must present on this link.
    pub fn identity_of(&self, bank: &str) -> Option<&str> {
        self.identities
            .iter()
            .find(|(b, _)| b == bank)
            .map(|(_, i)| i.as_str())
    }
}

/// The default identity of `bank` under `domain`.
pub fn default_identity(bank: &str, domain: &str) -> String {
    format!("{bank}.{domain}")
}

/// Default handshake deadline.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default bound on handshakes in progress per listener: room for many banks
/// reconnecting at once; a flood beyond it evicts its own oldest sockets.
pub const DEFAULT_MAX_HANDSHAKES: usize = 256;
/// Default identity domain.
pub const DEFAULT_DOMAIN: &str = "banks.test";

/// A problem with `[switch.tls]` or a link's TLS fields.
#[derive(Debug, thiserror::Error)]
pub enum TlsSettingError {
    /// `domain` is not a DNS name.
    #[error("domain {0:?} is not a DNS name")]
    Domain(String),
    /// An identity that is neither a DNS name nor a CN.
    #[error("identity {0:?} is not a DNS name or CN")]
    SwitchIdentity(String),
    /// `ca = []`.
    #[error("ca: at least one CA certificate file is needed")]
    NoCa,
    /// A zero deadline or bound.
    #[error("max_handshakes and handshake_timeout_ms must be at least 1")]
    ZeroBound,
    /// `identity`/`identities` on a plain link.
    #[error("identity and identities need tls = true")]
    IdentityWithoutTls,
    /// `tls = true` without `[switch.tls]`.
    #[error("tls = true needs a [switch.tls] section (CA, certificate, key)")]
    NoSwitchTls,
    /// `identities` names a bank the link does not carry.
    #[error("identities: bank {0} is neither this link's bank nor one of its acquirers")]
    ForeignBank(String),
    /// A bank's identity is neither a DNS name nor a CN.
    #[error("identity {identity:?} of bank {bank} is not a DNS name or CN")]
    BankIdentity {
        /// The identity.
        identity: String,
        /// The bank.
        bank: String,
    },
}

impl TlsConfig {
    /// Validate `[switch.tls]`; paths resolve against `base` (the files are
    /// opened later, by [`TlsConfig::load_material`]).
    pub(crate) fn from_raw(raw: &RawTls, base: &Path) -> Result<TlsConfig, TlsSettingError> {
        let domain = raw.domain.clone().unwrap_or_else(|| DEFAULT_DOMAIN.into());
        if !is_dns_name(&domain) {
            return Err(TlsSettingError::Domain(domain));
        }
        let identity = raw
            .identity
            .clone()
            .unwrap_or_else(|| format!("switch.{domain}"));
        if !is_identity(&identity) {
            return Err(TlsSettingError::SwitchIdentity(identity));
        }
        let ca = raw.ca.resolve(base);
        if ca.is_empty() {
            return Err(TlsSettingError::NoCa);
        }
        let max_handshakes = raw.max_handshakes.unwrap_or(DEFAULT_MAX_HANDSHAKES);
        let handshake_timeout = raw
            .handshake_timeout_ms
            .map_or(DEFAULT_HANDSHAKE_TIMEOUT, Duration::from_millis);
        if max_handshakes == 0 || handshake_timeout.is_zero() {
            return Err(TlsSettingError::ZeroBound);
        }
        Ok(TlsConfig {
            files: TlsFiles {
                ca,
                cert: base.join(&raw.cert),
                key: base.join(&raw.key),
                crl: raw.crl.as_ref().map_or_else(Vec::new, |c| c.resolve(base)),
            },
            handshake_timeout,
            max_handshakes,
            domain,
            identity,
            links: BTreeMap::new(),
            material: None,
        })
    }

    /// Whether links use TLS unless they say otherwise.
    pub(crate) fn every_link(raw: &RawTls) -> bool {
        raw.every_link.unwrap_or(false)
    }

    /// Open the files and build the rustls configurations.
    pub fn load_material(&mut self) -> Result<(), bank_links::tls::TlsFileError> {
        self.material = Some(TlsMaterial::load(&self.files)?);
        Ok(())
    }
}

/// Validate one link's TLS fields. `tls` is the switch's TLS section, if any;
/// `every_link` its default. Ok(None): the link is plain TCP.
pub(crate) fn link_tls(
    raw: &RawLinkTls<'_>,
    tls: Option<&TlsConfig>,
    every_link: bool,
) -> Result<Option<LinkTls>, TlsSettingError> {
    let wants = raw.tls.unwrap_or(every_link);
    if !wants {
        if raw.identity.is_some() || raw.identities.is_some() {
            return Err(TlsSettingError::IdentityWithoutTls);
        }
        return Ok(None);
    }
    let Some(tls) = tls else {
        return Err(TlsSettingError::NoSwitchTls);
    };
    if let Some(map) = raw.identities {
        if let Some(bank) = map.keys().find(|b| !raw.banks.contains(&b.as_str())) {
            return Err(TlsSettingError::ForeignBank(bank.clone()));
        }
    }
    let mut identities = Vec::with_capacity(raw.banks.len());
    for bank in &raw.banks {
        let identity = raw
            .identities
            .and_then(|m| m.get(*bank).cloned())
            .or_else(|| raw.identity.map(str::to_string))
            .unwrap_or_else(|| default_identity(bank, &tls.domain));
        if !is_identity(&identity) {
            return Err(TlsSettingError::BankIdentity {
                identity,
                bank: bank.to_string(),
            });
        }
        if !identities.iter().any(|(b, _): &(String, String)| b == bank) {
            identities.push((bank.to_string(), identity));
        }
    }
    Ok(Some(LinkTls { identities }))
}

/// A DNS name as certificates carry it: labels of letters, digits and hyphens.
pub fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// An identity a configuration may name: a DNS name, or a printable CN without
/// control characters (matched exactly, ignoring ASCII case).
fn is_identity(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tls() -> TlsConfig {
        let raw: RawTls =
            toml::from_str("ca = \"ca.pem\"\ncert = \"s.pem\"\nkey = \"s.key\"").unwrap();
        TlsConfig::from_raw(&raw, Path::new("/etc/switch")).unwrap()
    }

    #[test]
    fn defaults_and_paths() {
        let t = tls();
        assert_eq!(t.files.ca, vec![PathBuf::from("/etc/switch/ca.pem")]);
        assert_eq!(t.identity, "switch.banks.test");
        assert_eq!(t.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT);
    }

    #[test]
    fn identities_per_bank() {
        let t = tls();
        let map: BTreeMap<String, String> =
            [("940852".to_string(), "pyongsong.example".to_string())].into();
        let raw = RawLinkTls {
            tls: Some(true),
            identity: None,
            identities: Some(&map),
            banks: vec!["940851", "940851", "940852"],
        };
        let l = link_tls(&raw, Some(&t), false).unwrap().unwrap();
        assert_eq!(l.identity_of("940851"), Some("940851.banks.test"));
        assert_eq!(l.identity_of("940852"), Some("pyongsong.example"));
        assert_eq!(l.identities.len(), 2);
    }

    #[test]
    fn problems_are_named() {
        let map: BTreeMap<String, String> = [("1".to_string(), "x".to_string())].into();
        let raw = RawLinkTls {
            tls: Some(true),
            identity: None,
            identities: Some(&map),
            banks: vec!["940851"],
        };
        assert!(link_tls(&raw, Some(&tls()), false)
            .unwrap_err()
            .to_string()
            .contains("bank 1"));
        let raw = RawLinkTls {
            tls: Some(true),
            identity: None,
            identities: None,
            banks: vec!["940851"],
        };
        assert!(link_tls(&raw, None, false)
            .unwrap_err()
            .to_string()
            .contains("[switch.tls]"));
        let raw = RawLinkTls {
            tls: None,
            identity: Some("a.example"),
            identities: None,
            banks: vec!["940851"],
        };
        assert!(link_tls(&raw, Some(&tls()), false)
            .unwrap_err()
            .to_string()
            .contains("tls = true"));
        assert!(!is_dns_name("a..b") && is_dns_name("bank-1.example"));
    }
}
