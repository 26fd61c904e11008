//! Why TLS material could not be had from its files: each error names the file
//! (or the certificate and key pair) and what is wrong, never key bytes (the
//! PEM parser's and rustls' errors do not quote the content).

use std::io;
use std::path::PathBuf;

/// A TLS file, or the rustls configuration built from them, is unusable.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    /// The file cannot be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not PEM of the kind expected, or has none of it.
    #[error("{}: {problem}", path.display())]
    Content {
        /// The file.
        path: PathBuf,
        /// What is wrong (`no CERTIFICATE section found`, ...).
        problem: String,
    },
    /// A CA certificate rustls refuses as a trust anchor.
    #[error("{}: not a usable CA certificate: {source}", path.display())]
    Anchor {
        /// The CA file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::Error,
    },
    /// The verifier of the peer's certificates cannot be built (`client` or
    /// `server` certificates).
    #[error("{side} certificate verifier: {source}")]
    Verifier {
        /// Whose certificates it verifies.
        side: &'static str,
        /// Why.
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    /// rustls refused the versions, the chain or the key.
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
    /// The certificate and key do not make a configuration together.
    #[error("{} with {}: {source}", cert.display(), key.display())]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        #[source]
        source: Box<TlsFileError>,
    },
}

impl TlsFileError {
    /// This error, as the pair `cert` and `key` failed.
    pub fn of_pair(self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsFileError {
        TlsFileError::Pair {
            cert: cert.into(),
            key: key.into(),
            source: Box::new(self),
        }
    }
}
