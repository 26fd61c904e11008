//! Running a configuration over mutual TLS with the certificates of a
//! `switch gen-certs` directory: every link uses TLS, banks keep the identities
//! their links name (default ones otherwise), and the switch presents the
//! certificate of its bundle (the directory's `switch/` folder, or that folder
//! given itself). Used by `switch run --tls-dir` and `sim demo --tls`.

use std::path::{Path, PathBuf};

use bank_links::tls::TlsFileError;

use super::layout::Bundle;
use super::settings::{
    default_identity, LinkTls, TlsConfig, TlsFiles, DEFAULT_DOMAIN, DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_MAX_HANDSHAKES,
};
use crate::config::Config;

/// Why a configuration could not be put on a generated directory's TLS.
#[derive(Debug, thiserror::Error)]
pub enum GeneratedTlsError {
    /// The directory holds no switch bundle.
    #[error(
        "no switch bundle (switch.crt, switch.key, ca.crt, ca.crl) in {}: give the \
         directory switch gen-certs wrote, or its switch/ folder",
        .0.display()
    )]
    NoBundle(PathBuf),
    /// The bundle's files are unusable.
    #[error(transparent)]
    Files(#[from] TlsFileError),
}

/// Put every link of `config` on TLS with the switch's bundle in `dir` (a
/// gen-certs directory or its `switch/` folder), and load it.
pub fn use_generated(config: &mut Config, dir: &Path) -> Result<(), GeneratedTlsError> {
    let bundle = Bundle::for_switch(dir);
    if !bundle.cert().is_file() {
        // A bank's folder, or a directory an older gen-certs wrote (switch.pem).
        return Err(GeneratedTlsError::NoBundle(bundle.dir));
    }
    let files = TlsFiles {
        ca: vec![bundle.ca()],
        cert: bundle.cert(),
        key: bundle.key(),
        crl: vec![bundle.crl()],
    };
    let mut tls = match config.tls.take() {
        Some(mut t) => {
            t.files = files;
            t.material = None;
            t
        }
        None => TlsConfig {
            files,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
            domain: DEFAULT_DOMAIN.into(),
            identity: format!("switch.{DEFAULT_DOMAIN}"),
            links: Default::default(),
            material: None,
        },
    };
    for link in &config.links {
        if tls.links.contains_key(&link.name) {
            continue;
        }
        let mut identities: Vec<(String, String)> = Vec::new();
        for bank in std::iter::once(&link.bank).chain(&link.acquirers) {
            if !identities.iter().any(|(b, _)| b == bank) {
                identities.push((bank.clone(), default_identity(bank, &tls.domain)));
            }
        }
        tls.links.insert(link.name.clone(), LinkTls { identities });
    }
    // The token APIs too: mutual TLS with the apps' and banks' certificates.
    for api in &mut config.token_apis {
        api.tls = true;
    }
    tls.load_material()?;
    config.tls = Some(tls);
    Ok(())
}
