//! `switch gen-certs`: a test CA, the switch's certificate and one per bank, and a
//! CRL, all made with rcgen (ECDSA P-256). Optionally the certificates the TLS tests
//! need: an expired one, a revoked one (listed in the CRL) and one from a CA the
//! switch does not trust. Private keys are written with mode 0600. For tests and
//! demos: a production network's certificates come from the banks' own PKI.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::settings::{default_identity, is_dns_name, DEFAULT_DOMAIN};
use crate::config::Config;

/// The files of a generated directory.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The directory.
    pub dir: PathBuf,
}

impl Layout {
    /// The layout under `dir`.
    pub fn new(dir: &Path) -> Layout {
        Layout {
            dir: dir.to_path_buf(),
        }
    }
    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// The CA certificate.
    pub fn ca(&self) -> PathBuf {
        self.file("ca.pem")
    }
    /// The CA's private key.
    pub fn ca_key(&self) -> PathBuf {
        self.file("ca.key")
    }
    /// The CA's revocation list.
    pub fn crl(&self) -> PathBuf {
        self.file("ca.crl")
    }
    /// The switch's certificate.
    pub fn switch_cert(&self) -> PathBuf {
        self.file("switch.pem")
    }
    /// The switch's private key.
    pub fn switch_key(&self) -> PathBuf {
        self.file("switch.key")
    }
    /// Bank `bank`'s certificate.
    pub fn bank_cert(&self, bank: &str) -> PathBuf {
        self.file(&format!("bank-{bank}.pem"))
    }
    /// Bank `bank`'s private key.
    pub fn bank_key(&self, bank: &str) -> PathBuf {
        self.file(&format!("bank-{bank}.key"))
    }
    /// A test certificate (`expired`, `revoked`, `unknown-ca`) and its key.
    pub fn test_pair(&self, kind: &str) -> (PathBuf, PathBuf) {
        (
            self.file(&format!("test-{kind}.pem")),
            self.file(&format!("test-{kind}.key")),
        )
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct CertPlan {
    /// The switch's identity (SAN DNS name and CN); `localhost` is added.
    pub switch_identity: String,
    /// Per bank, the identities its certificate carries.
    pub banks: BTreeMap<String, Vec<String>>,
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
        CertPlan {
            switch_identity: tls.map_or_else(|| format!("switch.{domain}"), |t| t.identity.clone()),
            banks,
            test_bank: None,
        }
    }
}

/// A certificate and its key, both PEM.
struct Issued {
    cert: String,
    key: String,
}

/// Generate the plan's certificates into `dir` (created if needed). Returns the
/// files written.
pub fn generate(dir: &Path, plan: &CertPlan) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    let layout = Layout::new(dir);
    let now = OffsetDateTime::now_utc();
    let mut written = Vec::new();
    let mut serial = 0u64;
    let mut next_serial = || {
        serial += 1;
        SerialNumber::from_slice(&serial.to_be_bytes())
    };

    let ca_key = KeyPair::generate().map_err(|e| format!("CA key: {e}"))?;
    let ca = CertifiedIssuer::self_signed(
        ca_params("Interbank switch test CA", now, next_serial()),
        ca_key,
    )
    .map_err(|e| format!("CA certificate: {e}"))?;
    write_public(&layout.ca(), &ca.pem(), &mut written)?;
    write_private(&layout.ca_key(), &ca.key().serialize_pem(), &mut written)?;

    let valid = (now - Duration::hours(1), now + Duration::days(825));
    let mut switch_names = vec![plan.switch_identity.clone()];
    switch_names.push("localhost".into());
    let switch = issue(&switch_names, valid, next_serial(), &ca)?;
    write_public(&layout.switch_cert(), &switch.cert, &mut written)?;
    write_private(&layout.switch_key(), &switch.key, &mut written)?;

    for (bank, identities) in &plan.banks {
        let issued = issue(identities, valid, next_serial(), &ca)?;
        write_public(&layout.bank_cert(bank), &issued.cert, &mut written)?;
        write_private(&layout.bank_key(bank), &issued.key, &mut written)?;
    }

    let mut revoked = Vec::new();
    if let Some(bank) = &plan.test_bank {
        let identities = plan
            .banks
            .get(bank)
            .cloned()
            .ok_or_else(|| format!("test bank {bank} is not in the plan"))?;
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
        let other_key = KeyPair::generate().map_err(|e| format!("CA key: {e}"))?;
        let other = CertifiedIssuer::self_signed(
            ca_params("Unknown test CA", now, next_serial()),
            other_key,
        )
        .map_err(|e| format!("CA certificate: {e}"))?;
        let foreign = issue(&identities, valid, next_serial(), &other)?;
        for (kind, issued) in [
            ("expired", expired),
            ("revoked", revoked_cert),
            ("unknown-ca", foreign),
        ] {
            let (cert, key) = layout.test_pair(kind);
            write_public(&cert, &issued.cert, &mut written)?;
            write_private(&key, &issued.key, &mut written)?;
        }
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
    .map_err(|e| format!("CRL: {e}"))?;
    write_public(&layout.crl(), &crl, &mut written)?;
    Ok(written)
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
) -> Result<Issued, String> {
    let first = names.first().ok_or("a certificate needs a name")?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, first.as_str());
    for name in names.iter().filter(|n| is_dns_name(n)) {
        let dns = name
            .clone()
            .try_into()
            .map_err(|e| format!("identity {name:?}: {e}"))?;
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
    let key = KeyPair::generate().map_err(|e| format!("key for {first}: {e}"))?;
    let cert = params
        .signed_by(&key, ca)
        .map_err(|e| format!("certificate for {first}: {e}"))?;
    Ok(Issued {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

fn write_public(path: &Path, pem: &str, written: &mut Vec<PathBuf>) -> Result<(), String> {
    std::fs::write(path, pem).map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    written.push(path.to_path_buf());
    Ok(())
}

/// Write a private key readable by its owner only (created 0600, never wider).
fn write_private(path: &Path, pem: &str, written: &mut Vec<PathBuf>) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: cannot write: {e}", path.display());
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
    let mut file = options.open(path).map_err(fail)?;
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
            test_bank: Some("940810".into()),
        };
        let files = generate(&dir, &plan).unwrap();
        let layout = Layout::new(&dir);
        for f in [
            layout.ca(),
            layout.crl(),
            layout.switch_key(),
            layout.bank_cert("940810"),
        ] {
            assert!(files.contains(&f), "{}", f.display());
        }
        assert_eq!(files.len(), 13);
        #[cfg(unix)]
        for key in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "key"))
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", key.display());
        }
        let der = crate::tls::files::certificates(&layout.bank_cert("940810")).unwrap();
        assert_eq!(
            crate::tls::identity::certificate_names(&der[0]).unwrap(),
            vec!["940810.banks.test", "940810.banks.test"]
        );
        assert_eq!(
            crate::tls::files::revocation_lists(&layout.crl())
                .unwrap()
                .len(),
            1
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
