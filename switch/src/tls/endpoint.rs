//! The rustls configurations built from [`super::settings::TlsFiles`]: one server
//! side for listeners (client certificate required, verified against the CAs and
//! CRLs) and one client side for dialed links (the switch's certificate presented,
//! the bank's verified the same way). Built once at load and shared by every link.
//! How each side is built is `bank_links::tls::endpoint`'s (re-exported here),
//! which the bank simulators share.

use std::fmt;
use std::sync::Arc;

use rustls::{ClientConfig, ServerConfig};

pub use bank_links::tls::endpoint::*;

use super::files;
use super::settings::TlsFiles;
use bank_links::tls::TlsFileError;

/// The loaded TLS configurations (Debug shows neither keys nor certificates).
#[derive(Clone)]
pub struct TlsMaterial {
    /// For listeners: requires and verifies the bank's client certificate.
    pub server: Arc<ServerConfig>,
    /// For dialed links: presents the switch's certificate, verifies the bank's.
    pub client: Arc<ClientConfig>,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsMaterial { .. }")
    }
}

impl TlsMaterial {
    /// Read the files and build both sides. Errors name the file at fault.
    pub fn load(files: &TlsFiles) -> Result<TlsMaterial, TlsFileError> {
        let roots = Arc::new(roots(&files.ca)?);
        let crls = crls(&files.crl)?;
        let chain = files::certificates(&files.cert)?;
        let key = files::private_key(&files.key)?;
        let server = server_config(roots.clone(), crls.clone(), chain.clone(), key.clone_key())
            .map_err(|e| e.of_pair(&files.cert, &files.key))?;
        let client = client_config(roots, crls, chain, key)
            .map_err(|e| e.of_pair(&files.cert, &files.key))?;
        Ok(TlsMaterial {
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }
}
