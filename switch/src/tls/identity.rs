//! Binding a verified peer certificate to banks: the certificate's names (SAN DNS
//! names and subject common names) are matched, exactly and ignoring ASCII case, to
//! the identities the link's configuration names per bank. The banks matched are the
//! only institutions the peer may claim in field 32 or 33.

use codecs::Message;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::settings::LinkTls;

/// The names a certificate presents: its SAN DNS names, then its subject CNs, each
/// once. A certificate usually repeats its name as CN and SAN; names are compared
/// ignoring ASCII case (as [`bind`] matches them), and the first spelling is kept.
pub fn certificate_names(der: &[u8]) -> Result<Vec<String>, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("certificate does not parse: {e}"))?;
    let mut names: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.to_string());
        }
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                add(dns);
            }
        }
    }
    for cn in cert.subject().iter_common_name() {
        if let Ok(text) = cn.as_str() {
            add(text);
        }
    }
    Ok(names)
}

/// What a verified peer may claim on its connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The certificate identity that matched (for logs).
    pub certificate: String,
    /// The banks bound to it on this link.
    pub banks: Vec<String>,
}

/// The peer's certificate names none of the link's bank identities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unbound {
    /// The names the certificate presents (for the security log).
    pub names: Vec<String>,
}

/// Bind the end-entity certificate `der` to the banks of `link`.
pub fn bind(link: &LinkTls, der: &[u8]) -> Result<Binding, Unbound> {
    let names = certificate_names(der).map_err(|_| Unbound { names: Vec::new() })?;
    let mut banks = Vec::new();
    let mut certificate = None;
    for (bank, identity) in &link.identities {
        if let Some(name) = names.iter().find(|n| n.eq_ignore_ascii_case(identity)) {
            banks.push(bank.clone());
            certificate.get_or_insert_with(|| name.clone());
        }
    }
    match certificate {
        Some(certificate) => Ok(Binding { certificate, banks }),
        None => Err(Unbound { names }),
    }
}

/// A request claims an institution the certificate is not bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The field: 32 (acquiring) or 33 (forwarding institution).
    pub field: u8,
    /// The institution id claimed.
    pub claimed: String,
}

impl Binding {
    /// Whether this peer may claim `bank`.
    pub fn allows(&self, bank: &str) -> bool {
        self.banks.iter().any(|b| b == bank)
    }

    /// The first of fields 32 and 33 present in `msg` that names a bank this peer
    /// is not bound to.
    pub fn check(&self, msg: &Message) -> Result<(), Mismatch> {
        for field in [32u8, 33] {
            if let Some(claimed) = msg.text(field) {
                if !self.allows(&claimed) {
                    return Err(Mismatch {
                        field,
                        claimed: claimed.into_owned(),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cert(sans: &[&str], cn: &str) -> Vec<u8> {
        let mut params =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn link() -> LinkTls {
        LinkTls {
            identities: vec![
                ("940851".into(), "sinuiju.example".into()),
                ("940852".into(), "Pyongsong Host".into()),
            ],
        }
    }

    #[test]
    fn names_are_sans_then_cns() {
        let der = cert(&["a.example", "b.example"], "C Host");
        assert_eq!(
            certificate_names(&der).unwrap(),
            vec!["a.example", "b.example", "C Host"]
        );
        assert!(certificate_names(b"\x30\x03junk").is_err());
    }

    #[test]
    fn each_name_is_listed_once_in_its_first_place_and_spelling() {
        // What gen-certs makes: the identity as SAN and as CN.
        let der = cert(&["940810.banks.test"], "940810.banks.test");
        assert_eq!(certificate_names(&der).unwrap(), vec!["940810.banks.test"]);
        let der = cert(
            &["b.example", "A.example", "b.example", "c.example"],
            "a.EXAMPLE",
        );
        assert_eq!(
            certificate_names(&der).unwrap(),
            vec!["b.example", "A.example", "c.example"]
        );
        // The names a refused certificate is logged with come from here.
        let u = bind(&link(), &cert(&["other.example"], "OTHER.example")).unwrap_err();
        assert_eq!(u.names, vec!["other.example"]);
    }

    #[test]
    fn binds_by_san_or_cn_ignoring_case() {
        let b = bind(&link(), &cert(&["SINUIJU.example"], "x")).unwrap();
        assert_eq!(b.banks, vec!["940851"]);
        assert_eq!(b.certificate, "SINUIJU.example");
        let b = bind(&link(), &cert(&[], "pyongsong host")).unwrap();
        assert_eq!(b.banks, vec!["940852"]);
        let u = bind(&link(), &cert(&["other.example"], "Other")).unwrap_err();
        assert_eq!(u.names, vec!["other.example", "Other"]);
        assert!(bind(&link(), b"junk").is_err());
    }

    #[test]
    fn claims_in_fields_32_and_33() {
        let b = Binding {
            certificate: "sinuiju.example".into(),
            banks: vec!["940851".into()],
        };
        let mut m = Message::new(codecs::Mti::FINANCIAL_REQUEST);
        m.set(32, "940851");
        assert_eq!(b.check(&m), Ok(()));
        m.set(33, "940852");
        assert_eq!(
            b.check(&m),
            Err(Mismatch {
                field: 33,
                claimed: "940852".into()
            })
        );
        m.set(32, "940800");
        assert_eq!(b.check(&m).unwrap_err().field, 32);
    }
}
