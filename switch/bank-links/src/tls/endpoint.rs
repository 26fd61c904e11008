//! The rustls configurations of a link's two sides, built from PEM files: a
//! server side (a client certificate required, verified against the CAs and
//! CRLs) and a client side (our certificate presented, the peer's verified the
//! same way). The switch builds both once at load for every link; a bank host
//! builds its own from its bundle.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use super::{files, TlsFileError};

/// The crypto provider: ring (quick to build, no cmake), explicit so that another
/// crate enabling a second provider cannot make the choice ambiguous.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3 and 1.2.
pub const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Every certificate of every CA file as a trust anchor.
pub fn roots(paths: &[impl AsRef<Path>]) -> Result<RootCertStore, TlsFileError> {
    let mut store = RootCertStore::empty();
    for path in paths {
        let path = path.as_ref();
        for cert in files::certificates(path)? {
            store.add(cert).map_err(|source| TlsFileError::Anchor {
                path: path.to_path_buf(),
                source,
            })?;
        }
    }
    Ok(store)
}

/// Every revocation list of every CRL file.
pub fn crls(
    paths: &[impl AsRef<Path>],
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsFileError> {
    let mut all = Vec::new();
    for path in paths {
        all.extend(files::revocation_lists(path.as_ref())?);
    }
    Ok(all)
}

/// The error of the verifier of `side` certificates.
fn verifier(
    side: &'static str,
) -> impl FnOnce(rustls::server::VerifierBuilderError) -> TlsFileError {
    move |source| TlsFileError::Verifier { side, source }
}

/// Server side: a client certificate is mandatory.
pub fn server_config(
    roots: Arc<RootCertStore>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, TlsFileError> {
    let provider = provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
        .with_crls(crls)
        .build()
        .map_err(verifier("client"))?;
    Ok(ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?)
}

/// Client side: verifies the server's certificate, presents `chain`.
pub fn client_config(
    roots: Arc<RootCertStore>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ClientConfig, TlsFileError> {
    let provider = provider();
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .with_crls(crls)
        .build()
        .map_err(verifier("server"))?;
    Ok(ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(chain, key)?)
}

/// Build a client configuration from files (a bank host's side of a link).
pub fn client_from_files(
    ca: &[impl AsRef<Path>],
    crl: &[impl AsRef<Path>],
    cert: &Path,
    key: &Path,
) -> Result<Arc<ClientConfig>, TlsFileError> {
    let chain = files::certificates(cert)?;
    let key_der = files::private_key(key)?;
    client_config(Arc::new(roots(ca)?), crls(crl)?, chain, key_der)
        .map(Arc::new)
        .map_err(|e| e.of_pair(cert, key))
}

/// Build a server configuration from files (a bank host's side of a link).
pub fn server_from_files(
    ca: &[impl AsRef<Path>],
    crl: &[impl AsRef<Path>],
    cert: &Path,
    key: &Path,
) -> Result<Arc<ServerConfig>, TlsFileError> {
    let chain = files::certificates(cert)?;
    let key_der = files::private_key(key)?;
    server_config(Arc::new(roots(ca)?), crls(crl)?, chain, key_der)
        .map(Arc::new)
        .map_err(|e| e.of_pair(cert, key))
}
