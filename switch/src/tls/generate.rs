//! `switch gen-certs`: a test CA, the switch's certificate and one per bank, and a
//! CRL, all made with rcgen (ECDSA P-256). Optionally the certificates the TLS tests
//! need: an expired one, a revoked one (listed in the CRL) and one from a CA the
//! switch does not trust. The files go where [`Layout`] says: the CA's key in a
//! folder of its own, one bundle per party. Private keys are written with mode
//! 0600. For tests and demos: a production network's certificates come from the
//! banks' own PKI.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::layout::Layout;
use super::settings::{default_identity, is_dns_name, DEFAULT_DOMAIN};
use crate::config::Config;
use crate::core::tokens::Caller;

/// Why certificates could not be generated: what was being made, or the file
/// that could not be written (never key bytes).
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// rcgen refused a key, a certificate or the CRL.
    #[error("{what}: {source}")]
    Rcgen {
        /// What was being made (`CA key`, `certificate for NAME`, ...).
        what: String,
        /// Why.
        #[source]
        source: rcgen::Error,
    },
    /// A folder or file could not be created or written.
    #[error("{}: cannot {action}: {source}", path.display())]
    File {
        /// The path.
        path: PathBuf,
        /// `create` or `write`.
        action: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The plan's test bank is not one of its banks.
    #[error("test bank {0} is not in the plan")]
    NotInPlan(String),
    /// A certificate with no name asked for.
    #[error("a certificate needs a name")]
    NoName,
}

/// A closure that names what rcgen was making when it failed.
fn making(what: impl Into<String>) -> impl FnOnce(rcgen::Error) -> GenerateError {
    let what = what.into();
    move |source| GenerateError::Rcgen { what, source }
}

/// A closure that names the file that could not be created or written.
fn file(path: &Path, action: &'static str) -> impl Fn(std::io::Error) -> GenerateError {
    let path = path.to_path_buf();
    move |source| GenerateError::File {
        path: path.clone(),
        action,
        source,
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct CertPlan {
    /// The switch's identity (SAN DNS name and CN); `localhost` is added.
    pub switch_identity: String,
    /// Per bank, the identities its certificate carries.
    pub banks: BTreeMap<String, Vec<String>>,
    /// Per payment app (its token API), the identities its certificate carries.
    pub apps: BTreeMap<String, Vec<String>>,
    /// Also the test certificates, for this bank's first identity.
    pub test_bank: Option<String>,
}

impl CertPlan {
    /// Every bank of `config` with the identities its links name (default ones
    /// where a link does not use TLS).
    pub fn from_config(config: &Config) -> CertPlan {
        let tls = config.tls.as_ref();
        let domain = tls.map_or(DEFAULT_DOMAIN, |t| t.domain.as_str());
        let mut banks: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut add = |bank: &str, identity: String| {
            let ids = banks.entry(bank.to_string()).or_default();
            if !ids.contains(&identity) {
                ids.push(identity);
            }
        };
        for link in &config.links {
            match tls.and_then(|t| t.links.get(&link.name)) {
                Some(l) => {
                    for (bank, identity) in &l.identities {
                        add(bank, identity.clone());
                    }
                }
                None => {
                    add(&link.bank, default_identity(&link.bank, domain));
                    for a in &link.acquirers {
                        add(a, default_identity(a, domain));
                    }
                }
            }
        }
        // Token APIs: an app's certificate of its own; a bank's API takes the
        // bank's certificate, with the API's identity added if it names another.
        let mut apps: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for api in &config.token_apis {
            match api.participant() {
                Caller::App(app) => {
                    let ids = apps.entry(app.clone()).or_default();
                    if !ids.contains(&api.identity) {
                        ids.push(api.identity.clone());
                    }
                }
                Caller::Bank(bank) => add(bank, api.identity.clone()),
            }
        }
        CertPlan {
            switch_identity: tls.map_or_else(|| format!("switch.{domain}"), |t| t.identity.clone()),
            banks,
            apps,
            test_bank: None,
        }
    }
}

/// A certificate and its key, both PEM.
struct Issued {
    cert: String,
    key: String,
}

/// Generate the plan's certificates into `dir` (created if needed), laid out as
/// [`Layout`] says. Returns the files written.
pub fn generate(dir: &Path, plan: &CertPlan) -> Result<Vec<PathBuf>, GenerateError> {
    create_folder(dir, false)?;
    let layout = Layout::new(dir);
    let now = OffsetDateTime::now_utc();
    let mut written = Vec::new();
    let mut serial = 0u64;
    let mut next_serial = || {
        serial += 1;
        SerialNumber::from_slice(&serial.to_be_bytes())
    };

    let ca_key = KeyPair::generate().map_err(making("CA key"))?;
    let ca = CertifiedIssuer::self_signed(
        ca_params("Interbank switch test CA", now, next_serial()),
        ca_key,
    )
    .map_err(making("CA certificate"))?;

    let valid = (now - Duration::hours(1), now + Duration::days(825));
    let switch_names = [plan.switch_identity.clone(), "localhost".into()];
    let mut parties = vec![(
        layout.switch(),
        issue(&switch_names, valid, next_serial(), &ca)?,
    )];
    for (bank, identities) in &plan.banks {
        let issued = issue(identities, valid, next_serial(), &ca)?;
        parties.push((layout.bank(bank), issued));
    }
    for (app, identities) in &plan.apps {
        let issued = issue(identities, valid, next_serial(), &ca)?;
        parties.push((layout.app(app), issued));
    }

    let mut revoked = Vec::new();
    let mut tests = Vec::new();
    if let Some(bank) = &plan.test_bank {
        let identities = plan
            .banks
            .get(bank)
            .cloned()
            .ok_or_else(|| GenerateError::NotInPlan(bank.clone()))?;
        let expired = issue(
            &identities,
            (now - Duration::days(30), now - Duration::days(1)),
            next_serial(),
            &ca,
        )?;
        let revoked_serial = next_serial();
        let revoked_cert = issue(&identities, valid, revoked_serial.clone(), &ca)?;
        revoked.push(RevokedCertParams {
            serial_number: revoked_serial,
            revocation_time: now - Duration::minutes(1),
            reason_code: Some(RevocationReason::KeyCompromise),
            invalidity_date: None,
        });
        // The same identity under a CA nobody configured.
        let other_key = KeyPair::generate().map_err(making("CA key"))?;
        let other = CertifiedIssuer::self_signed(
            ca_params("Unknown test CA", now, next_serial()),
            other_key,
        )
        .map_err(making("CA certificate"))?;
        let foreign = issue(&identities, valid, next_serial(), &other)?;
        tests = vec![
            ("expired", expired),
            ("revoked", revoked_cert),
            ("unknown-ca", foreign),
        ];
    }

    let crl = CertificateRevocationListParams {
        this_update: now - Duration::minutes(1),
        next_update: now + Duration::days(30),
        crl_number: SerialNumber::from_slice(&[1]),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&ca)
    .and_then(|c| c.pem())
    .map_err(making("CRL"))?;

    // The CA's key in a folder of its own, which no bundle is ever made from.
    create_folder(&layout.ca_dir(), true)?;
    write_private(&layout.ca_key(), &ca.key().serialize_pem(), &mut written)?;
    write_public(&layout.ca(), &ca.pem(), &mut written)?;
    write_public(&layout.crl(), &crl, &mut written)?;
    for (bundle, issued) in &parties {
        create_folder(&bundle.dir, false)?;
        write_private(&bundle.key(), &issued.key, &mut written)?;
        write_public(&bundle.cert(), &issued.cert, &mut written)?;
        write_public(&bundle.ca(), &ca.pem(), &mut written)?;
        write_public(&bundle.crl(), &crl, &mut written)?;
    }
    if !tests.is_empty() {
        create_folder(&layout.test_dir(), false)?;
    }
    for (kind, issued) in &tests {
        let (cert, key) = layout.test_pair(kind);
        write_public(&cert, &issued.cert, &mut written)?;
        write_private(&key, &issued.key, &mut written)?;
    }
    Ok(written)
}

/// Private keys at the top of `dir`: an older `gen-certs` wrote every key there,
/// the CA's included, and a new run leaves them behind.
pub fn stale_keys(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut keys: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "key"))
        .collect();
    keys.sort();
    keys
}

/// Create `folder` and its parents; `private`: readable by its owner only.
fn create_folder(folder: &Path, private: bool) -> Result<(), GenerateError> {
    let fail = file(folder, "create");
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    }
    builder.create(folder).map_err(&fail)?;
    #[cfg(unix)]
    if private {
        // An existing folder keeps its mode through create(): narrow it too.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    }
    Ok(())
}

fn ca_params(name: &str, now: OffsetDateTime, serial: SerialNumber) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(3650);
    params.serial_number = Some(serial);
    params
}

/// A leaf certificate for `names` (DNS names go in the SAN; the first is the CN),
/// usable as client and as server.
fn issue(
    names: &[String],
    (not_before, not_after): (OffsetDateTime, OffsetDateTime),
    serial: SerialNumber,
    ca: &CertifiedIssuer<'_, KeyPair>,
) -> Result<Issued, GenerateError> {
    let first = names.first().ok_or(GenerateError::NoName)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, first.as_str());
    for name in names.iter().filter(|n| is_dns_name(n)) {
        let dns = name
            .clone()
            .try_into()
            .map_err(making(format!("identity {name:?}")))?;
        params.subject_alt_names.push(SanType::DnsName(dns));
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::ServerAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(serial);
    let key = KeyPair::generate().map_err(making(format!("key for {first}")))?;
    let cert = params
        .signed_by(&key, ca)
        .map_err(making(format!("certificate for {first}")))?;
    Ok(Issued {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

fn write_public(path: &Path, pem: &str, written: &mut Vec<PathBuf>) -> Result<(), GenerateError> {
    std::fs::write(path, pem).map_err(file(path, "write"))?;
    written.push(path.to_path_buf());
    Ok(())
}

/// Write a private key readable by its owner only (created 0600, never wider).
fn write_private(path: &Path, pem: &str, written: &mut Vec<PathBuf>) -> Result<(), GenerateError> {
    let fail = file(path, "write");
    // Replace, not truncate, so an existing wider-permission file cannot leak it.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(&fail)?;
    file.write_all(pem.as_bytes()).map_err(fail)?;
    written.push(path.to_path_buf());
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn writes_every_file_keys_private() {
        let dir = std::env::temp_dir().join(format!("gen-certs-{}", std::process::id()));
        let plan = CertPlan {
            switch_identity: "switch.banks.test".into(),
            banks: [("940810".to_string(), vec!["940810.banks.test".to_string()])].into(),
            apps: Default::default(),
            test_bank: Some("940810".into()),
        };
        let files = generate(&dir, &plan).unwrap();
        let layout = Layout::new(&dir);
        let mut expected = vec![layout.ca_key(), layout.ca(), layout.crl()];
        expected.extend(layout.switch().files());
        expected.extend(layout.bank("940810").files());
        for kind in ["expired", "revoked", "unknown-ca"] {
            let (cert, key) = layout.test_pair(kind);
            expected.extend([cert, key]);
        }
        for f in &expected {
            assert!(files.contains(f), "{}", f.display());
        }
        assert_eq!(files.len(), expected.len());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            for key in files
                .iter()
                .filter(|f| f.extension().is_some_and(|e| e == "key"))
            {
                assert_eq!(mode(key), 0o600, "{}", key.display());
            }
            assert_eq!(mode(&layout.ca_dir()), 0o700);
        }
        let der = crate::tls::files::certificates(&layout.bank("940810").cert()).unwrap();
        assert_eq!(
            crate::tls::identity::certificate_names(&der[0]).unwrap(),
            vec!["940810.banks.test"]
        );
        let bundle = layout.bank("940810");
        assert_eq!(
            std::fs::read(bundle.crl()).unwrap(),
            std::fs::read(layout.crl()).unwrap()
        );
        assert_eq!(
            crate::tls::files::revocation_lists(&bundle.crl())
                .unwrap()
                .len(),
            1
        );
        assert!(stale_keys(&dir).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
