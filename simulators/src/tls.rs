//! Mutual TLS for the simulators' links: `--tls-dir DIR` (this bank's bundle from
//! `switch gen-certs`: its key and certificate, the CA certificate and the CRL) or
//! the files one by one.
//! An acquirer, or an issuer that dials, is the TLS client and verifies the switch's
//! name; an issuer that listens is the TLS server and requires the switch's client
//! certificate. Handshakes have a deadline (`bank_links::handshake`, as the
//! switch's).

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bank_links::handshake::{accept_until, connect_within};
use bank_links::stream::LinkStream;
use bank_links::tls::endpoint::{client_from_files, server_from_files};
use bank_links::tls::layout::Bundle;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The name the switch's certificate presents unless `--tls-server-name` says otherwise.
pub const DEFAULT_SERVER_NAME: &str = "switch.banks.test";
/// How long a handshake may take.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(5);

/// `--tls-*` options. TLS is on when `--tls-dir` or `--tls-cert` is given.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TlsOptions {
    /// Mutual TLS with this bank's bundle from `switch gen-certs`: the folder
    /// DIR/banks/BANK (BANK.key, BANK.crt, ca.crt, ca.crl), or the gen-certs
    /// directory DIR itself, whose banks/BANK is then used.
    #[arg(long, value_name = "DIR")]
    pub tls_dir: Option<PathBuf>,
    /// CA certificate(s) that sign the switch's certificate (repeatable).
    #[arg(long, value_name = "PATH")]
    pub tls_ca: Vec<PathBuf>,
    /// Certificate revocation list(s) (repeatable).
    #[arg(long, value_name = "PATH")]
    pub tls_crl: Vec<PathBuf>,
    /// This bank's certificate chain (PEM).
    #[arg(long, value_name = "PATH")]
    pub tls_cert: Option<PathBuf>,
    /// This bank's private key (PEM).
    #[arg(long, value_name = "PATH")]
    pub tls_key: Option<PathBuf>,
    /// The name the switch's certificate must present [default: switch.banks.test].
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
}

/// A host's TLS, both sides (an issuer may listen or dial).
pub struct HostTls {
    /// For dialing: verifies the switch's certificate, presents ours.
    pub connector: TlsConnector,
    /// The name the switch must present.
    pub server_name: ServerName<'static>,
    /// For listening: requires and verifies the switch's client certificate.
    pub acceptor: TlsAcceptor,
}

impl std::fmt::Debug for HostTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostTls {{ server_name: {:?} }}", self.server_name)
    }
}

impl TlsOptions {
    /// Whether TLS was asked for.
    pub fn enabled(&self) -> bool {
        self.tls_dir.is_some() || self.tls_cert.is_some()
    }

    /// Load the files for bank `bank`; None when TLS is off.
    pub fn load(&self, bank: &str) -> Result<Option<Arc<HostTls>>, HostTlsError> {
        self.load_bundle(bank, Bundle::for_bank)
    }

    /// Load the files for payment app `app` (its bundle is `DIR/apps/APP` of
    /// `switch gen-certs`); None when TLS is off.
    pub fn load_app(&self, app: &str) -> Result<Option<Arc<HostTls>>, HostTlsError> {
        self.load_bundle(app, Bundle::for_app)
    }

    fn load_bundle(
        &self,
        bank: &str,
        for_party: fn(&std::path::Path, &str) -> Bundle,
    ) -> Result<Option<Arc<HostTls>>, HostTlsError> {
        if !self.enabled() {
            return Ok(None);
        }
        let bundle = self.tls_dir.as_deref().map(|dir| for_party(dir, bank));
        if let (Some(b), None) = (&bundle, &self.tls_cert) {
            // The likeliest mistake: another bank's folder, or a folder of old files.
            if !b.cert().is_file() {
                return Err(HostTlsError::NotThisBank {
                    dir: b.dir.clone(),
                    file: b
                        .cert()
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                    bank: bank.to_string(),
                });
            }
        }
        let pick =
            |given: &Option<PathBuf>, from_bundle: fn(&Bundle) -> PathBuf, what: &'static str| {
                given
                    .clone()
                    .or_else(|| bundle.as_ref().map(from_bundle))
                    .ok_or(HostTlsError::Needed(what))
            };
        let cert = pick(&self.tls_cert, Bundle::cert, "cert")?;
        let key = pick(&self.tls_key, Bundle::key, "key")?;
        let mut ca = self.tls_ca.clone();
        let mut crl = self.tls_crl.clone();
        if let Some(b) = &bundle {
            if ca.is_empty() {
                ca.push(b.ca());
            }
            if crl.is_empty() {
                crl.push(b.crl());
            }
        }
        if ca.is_empty() {
            return Err(HostTlsError::Needed("ca"));
        }
        let name = self
            .tls_server_name
            .clone()
            .unwrap_or_else(|| DEFAULT_SERVER_NAME.into());
        let server_name = ServerName::try_from(name.clone())
            .map_err(|_| HostTlsError::ServerName(name.clone()))?;
        Ok(Some(Arc::new(HostTls {
            connector: TlsConnector::from(client_from_files(&ca, &crl, &cert, &key)?),
            server_name,
            acceptor: TlsAcceptor::from(server_from_files(&ca, &crl, &cert, &key)?),
        })))
    }
}

/// Why a host's TLS could not be set up from its options.
#[derive(Debug, thiserror::Error)]
pub enum HostTlsError {
    /// `--tls-dir` is not this bank's folder (nor the directory holding it).
    #[error(
        "--tls-dir {}: no {file} here: give {bank}'s folder from switch gen-certs \
         (DIR/banks/{bank} for a bank, DIR/apps/{bank} for an app) or the gen-certs directory DIR",
        dir.display()
    )]
    NotThisBank {
        /// The folder given.
        dir: PathBuf,
        /// The certificate file looked for.
        file: String,
        /// The bank.
        bank: String,
    },
    /// An option is missing (`cert`, `key`, `ca`).
    #[error("--tls-{0} is needed (or --tls-dir)")]
    Needed(&'static str),
    /// The server name is not a DNS name.
    #[error("--tls-server-name {0:?} is not a DNS name")]
    ServerName(String),
    /// The files are unusable.
    #[error(transparent)]
    Files(#[from] bank_links::tls::TlsFileError),
}

impl HostTls {
    /// Client side of a handshake on a dialed connection.
    pub async fn connect(&self, tcp: TcpStream) -> io::Result<LinkStream> {
        let _ = tcp.set_nodelay(true);
        let name = self.server_name.clone();
        let stream = connect_within(&self.connector, name, tcp, HANDSHAKE_DEADLINE).await?;
        Ok(LinkStream::Tls(Box::new(stream)))
    }

    /// Server side of a handshake on an accepted connection.
    pub async fn accept(&self, tcp: TcpStream) -> io::Result<LinkStream> {
        let _ = tcp.set_nodelay(true);
        let until = Instant::now() + HANDSHAKE_DEADLINE;
        let stream = accept_until(&self.acceptor, tcp, until).await?;
        Ok(LinkStream::Tls(Box::new(stream)))
    }
}

/// Secure `tcp` with `tls` when given.
pub async fn secure_client(tls: Option<&HostTls>, tcp: TcpStream) -> io::Result<LinkStream> {
    match tls {
        Some(t) => t.connect(tcp).await,
        None => Ok(LinkStream::Plain(tcp)),
    }
}
