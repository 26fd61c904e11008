//! Support for the mutual TLS tests: a certificate directory made by
//! `switch gen-certs` for the test banks, a switch configuration with a TLS
//! acquirer link and a TLS issuer link, a simulated issuer over TLS, and a framed
//! TLS client that presents a chosen certificate (or none).

#![allow(
    dead_code,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use codecs::framing::{Frame, FrameCodec, LengthHeader, DEFAULT_MAX_FRAME};
use codecs::{Message, Spec};
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use simulators::issuer::RunningIssuer;
use switch::tls::generate::{generate, CertPlan};
use switch::tls::layout::Layout;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_util::codec::Framed;

/// The bank on the acquirer link (its certificate is the good one).
pub const BANK_A: &str = "940810";
/// Another bank the acquirer link carries, with a certificate of its own.
pub const BANK_B: &str = "940820";
/// The issuer the switch dials.
pub const ISSUER: &str = "940800";
/// A card of the issuer's that the acquirers may use.
pub const CARD_PREFIX: &str = "9408010000001";

/// A certificate directory, removed on drop.
pub struct Pki {
    pub dir: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Pki {
    /// Certificates for the switch and banks A, B and the issuer, plus the test
    /// certificates (expired, revoked, unknown CA) for bank A.
    pub fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("tls-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let identity = |b: &str| vec![format!("{b}.banks.test")];
        let plan = CertPlan {
            switch_identity: "switch.banks.test".into(),
            banks: [BANK_A, BANK_B, ISSUER]
                .iter()
                .map(|b| (b.to_string(), identity(b)))
                .collect(),
            apps: Default::default(),
            test_bank: Some(BANK_A.into()),
        };
        generate(&dir, &plan).unwrap_or_else(|e| panic!("gen-certs: {e}"));
        Pki { dir }
    }

    pub fn layout(&self) -> Layout {
        Layout::new(&self.dir)
    }

    /// The switch configuration: acquirer link `acq` (banks A and B, each bound to
    /// its own certificate), issuer link `iss` dialing `issuer`.
    pub fn config(&self, issuer: SocketAddr, handshake_ms: u64, max_handshakes: usize) -> String {
        self.config_with(
            issuer,
            &Limits {
                handshake_ms,
                max_handshakes,
                first_byte_ms: None,
            },
        )
    }

    /// [`Pki::config`] with the listener's limits for pending sockets.
    pub fn config_with(&self, issuer: SocketAddr, limits: &Limits) -> String {
        let d = self.layout().switch().dir;
        let d = d.display();
        let Limits {
            handshake_ms,
            max_handshakes,
            first_byte_ms,
        } = limits;
        let first_byte = first_byte_ms
            .map(|ms| format!("first_byte_timeout_ms = {ms}"))
            .unwrap_or_default();
        format!(
            r#"
[switch]
institution_id = "940000"
rules = "{rules}"
read_timeout_ms = 5000
{first_byte}

[switch.tls]
ca = "{d}/ca.crt"
cert = "{d}/switch.crt"
key = "{d}/switch.key"
crl = "{d}/ca.crl"
handshake_timeout_ms = {handshake_ms}
max_handshakes = {max_handshakes}

[[link]]
name = "acq"
role = "acquirer"
bank = "{BANK_A}"
acquirers = ["{BANK_A}", "{BANK_B}"]
direction = "listen"
address = "127.0.0.1:0"
tls = true
max_connections = 16

[[link]]
name = "iss"
role = "issuer"
bank = "{ISSUER}"
direction = "dial"
address = "{issuer}"
tls = true
"#,
            rules = tests::national_rules(),
        )
    }

    /// The simulated issuer over TLS (its certificate, the switch's required),
    /// handed only its bank's bundle folder.
    pub async fn start_issuer(&self) -> RunningIssuer {
        let tls = simulators::tls::TlsOptions {
            tls_dir: Some(self.layout().bank(ISSUER).dir),
            ..Default::default()
        }
        .load(ISSUER)
        .unwrap_or_else(|e| panic!("issuer TLS: {e}"));
        let table = tests::national_table();
        simulators::issuer::start_with_tls(tests::issuer_options(ISSUER), &table, tls)
            .await
            .unwrap_or_else(|e| panic!("issuer: {e}"))
    }

    /// A client configuration trusting the test CA, presenting `cert`/`key` (None:
    /// no client certificate).
    pub fn client(&self, pair: Option<(PathBuf, PathBuf)>) -> Arc<ClientConfig> {
        let layout = self.layout();
        match pair {
            Some((cert, key)) => switch::tls::endpoint::client_from_files(
                &[layout.ca()],
                &[] as &[&Path],
                &cert,
                &key,
            )
            .unwrap_or_else(|e| panic!("client: {e}")),
            None => {
                let mut roots = RootCertStore::empty();
                for c in switch::tls::files::certificates(&layout.ca()).unwrap() {
                    roots.add(c).unwrap();
                }
                Arc::new(
                    ClientConfig::builder_with_provider(switch::tls::endpoint::provider())
                        .with_protocol_versions(switch::tls::endpoint::VERSIONS)
                        .unwrap()
                        .with_root_certificates(roots)
                        .with_no_client_auth(),
                )
            }
        }
    }

    /// A client configuration for bank `bank` that offers TLS 1.2 only (banks'
    /// hosts that have not moved to 1.3).
    pub fn client_tls12(&self, bank: &str) -> Arc<ClientConfig> {
        let layout = self.layout();
        let mut roots = RootCertStore::empty();
        for c in switch::tls::files::certificates(&layout.ca()).unwrap() {
            roots.add(c).unwrap();
        }
        let certs = switch::tls::files::certificates(&layout.bank(bank).cert()).unwrap();
        let key = switch::tls::files::private_key(&layout.bank(bank).key()).unwrap();
        Arc::new(
            ClientConfig::builder_with_provider(switch::tls::endpoint::provider())
                .with_protocol_versions(&[&rustls::version::TLS12])
                .unwrap()
                .with_root_certificates(roots)
                .with_client_auth_cert(certs, key)
                .unwrap(),
        )
    }

    /// Bank `bank`'s certificate and key.
    pub fn bank(&self, bank: &str) -> Option<(PathBuf, PathBuf)> {
        let l = self.layout();
        Some((l.bank(bank).cert(), l.bank(bank).key()))
    }

    /// A test certificate: `expired`, `revoked` or `unknown-ca`.
    pub fn test_cert(&self, kind: &str) -> Option<(PathBuf, PathBuf)> {
        Some(self.layout().test_pair(kind))
    }
}

/// A TLS listener's limits on sockets that have not finished their handshake.
pub struct Limits {
    /// `handshake_timeout_ms`.
    pub handshake_ms: u64,
    /// `max_handshakes`.
    pub max_handshakes: usize,
    /// `first_byte_timeout_ms` (None: the default).
    pub first_byte_ms: Option<u64>,
}

/// The framed TLS link of a [`TlsPeer`].
type FramedTls = Framed<TlsStream<TcpStream>, FrameCodec>;
/// Its sending half.
pub type FrameSink = futures_util::stream::SplitSink<FramedTls, Frame>;
/// Its receiving half.
pub type FrameStream = futures_util::stream::SplitStream<FramedTls>;

/// A framed ISO 8583 peer over TLS.
pub struct TlsPeer {
    framed: Framed<TlsStream<TcpStream>, FrameCodec>,
    spec: Arc<Spec>,
}

impl TlsPeer {
    /// Connect and handshake within 5 s; Err with the reason otherwise.
    pub async fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<TlsPeer, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from("switch.banks.test").unwrap();
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            TlsConnector::from(config).connect(name, tcp),
        )
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| e.to_string())?;
        Ok(TlsPeer {
            framed: Framed::new(
                stream,
                FrameCodec::new(LengthHeader::Binary2, false, DEFAULT_MAX_FRAME),
            ),
            spec: Spec::builtin("iso87ascii").unwrap(),
        })
    }

    /// The TLS version the handshake settled on.
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.framed.get_ref().get_ref().1.protocol_version()
    }

    /// Send a message; Err if the connection is gone.
    pub async fn send(&mut self, msg: &Message) -> Result<(), String> {
        let body = self.spec.encode_to_bytes(msg).unwrap();
        self.framed
            .send(Frame::Message { tpdu: None, body })
            .await
            .map_err(|e| e.to_string())
    }

    /// The next message within `within`: Err with the reason on timeout, close or error.
    pub async fn recv(&mut self, within: Duration) -> Result<Message, String> {
        loop {
            match tokio::time::timeout(within, self.framed.next()).await {
                Ok(Some(Ok(Frame::Message { body, .. }))) => {
                    return self.spec.decode(body).map_err(|e| e.to_string());
                }
                Ok(Some(Ok(Frame::KeepAlive))) => continue,
                Ok(Some(Err(e))) => return Err(format!("error: {e}")),
                Ok(None) => return Err("closed".into()),
                Err(_) => return Err("timeout".into()),
            }
        }
    }

    /// Split into a sender of frames and a receiver of frames (for load), with the spec.
    pub fn into_parts(self) -> (FrameSink, FrameStream, Arc<Spec>) {
        let (sink, stream) = self.framed.split();
        (sink, stream, self.spec)
    }
}

/// A frame body for `msg` (iso87ascii).
pub fn encode(spec: &Spec, msg: &Message) -> Bytes {
    spec.encode_to_bytes(msg).unwrap()
}

/// Start the issuer and the switch; wait for the sign-on over TLS.
pub async fn network(
    pki: &Pki,
    handshake_ms: u64,
    max_handshakes: usize,
) -> (RunningIssuer, switch::net::RunningSwitch, SocketAddr) {
    let limits = Limits {
        handshake_ms,
        max_handshakes,
        first_byte_ms: None,
    };
    network_with(pki, &limits).await
}

/// [`network`] with the acquirer listener's limits for pending sockets.
pub async fn network_with(
    pki: &Pki,
    limits: &Limits,
) -> (RunningIssuer, switch::net::RunningSwitch, SocketAddr) {
    // What the switch logs is captured (and, under scripts/test.sh, scanned).
    let _ = tests::LogCapture::global();
    let issuer = pki.start_issuer().await;
    let addr = issuer.addr.unwrap();
    let sw = tests::start_switch(&pki.config_with(addr, limits)).await;
    tests::wait_for_sign_on(&sw, 1, Duration::from_secs(10)).await;
    let acq = sw.listening["acq"];
    (issuer, sw, acq)
}

/// An active card of the issuer's, in a BIN range the test acquirers may use, with
/// a KPW balance (the issuer simulator's card base: seed 1).
pub fn active_card() -> String {
    use simulators::cards::{CardBase, CardStatus};
    let table = tests::national_table();
    let idx = table.bank_index(ISSUER.as_bytes()).unwrap();
    let base = CardBase::generate(&table, 1, tests::CARDS_PER_RANGE);
    base.cards()
        .iter()
        .find(|c| {
            c.issuer == idx
                && c.status == CardStatus::Active
                && c.pan_str().starts_with(&CARD_PREFIX[..6])
                && c.balances
                    .iter()
                    .any(|&(cur, bal)| cur == 408 && !bal.is_zero())
        })
        .map(|c| c.pan_str().to_string())
        .expect("an active KPW card")
}
