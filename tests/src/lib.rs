//! Test support for end-to-end tests over loopback sockets: start a switch from a
//! configuration text, play a bank host (acquirer client or issuer server) with
//! raw frames, and wait for messages with a bound on time.

// Test support: a helper fails the test by panicking, with a message saying what broke.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use codecs::framing::{Frame, FrameCodec, LengthHeader, DEFAULT_MAX_FRAME};
use codecs::luhn::luhn_check_digit;
use codecs::{Message, Mti, Spec};
use futures_util::{SinkExt, StreamExt};
use routing_rules::RoutingTable;
use switch::config::Config;
use switch::net::{RunningSwitch, SwitchOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

/// The national rules file.
pub fn national_rules() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../routing-rules/rules/national.toml"
    )
    .to_string()
}

/// Start a switch from configuration `text` (its `rules` path is used as given).
pub async fn start_switch(text: &str) -> RunningSwitch {
    let config =
        Config::parse(text, Path::new("/test.toml")).unwrap_or_else(|e| panic!("config: {e:?}"));
    let (routing, _) = RoutingTable::load(&config.rules).unwrap_or_else(|e| panic!("rules: {e}"));
    RunningSwitch::start(SwitchOptions {
        config,
        routing,
        saf: None,
        journal: None,
    })
    .await
    .unwrap_or_else(|e| panic!("start: {e}"))
}

/// A framed ISO 8583 peer (binary2 framing, iso87ascii).
pub struct Peer {
    framed: Framed<TcpStream, FrameCodec>,
    spec: std::sync::Arc<Spec>,
}

impl Peer {
    /// Connect to `addr`.
    pub async fn connect(addr: SocketAddr) -> Peer {
        let stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        Peer::from_stream(stream)
    }

    /// Wrap an accepted stream.
    pub fn from_stream(stream: TcpStream) -> Peer {
        Peer {
            framed: Framed::new(
                stream,
                FrameCodec::new(LengthHeader::Binary2, false, DEFAULT_MAX_FRAME),
            ),
            spec: Spec::builtin("iso87ascii").unwrap_or_else(|e| panic!("{e}")),
        }
    }

    /// Send a message.
    pub async fn send(&mut self, msg: &Message) {
        let body = self
            .spec
            .encode_to_bytes(msg)
            .unwrap_or_else(|e| panic!("encode: {e}"));
        self.send_raw(body).await;
    }

    /// Send a frame body as is.
    pub async fn send_raw(&mut self, body: Bytes) {
        self.framed
            .send(Frame::Message { tpdu: None, body })
            .await
            .unwrap_or_else(|e| panic!("send: {e}"));
    }

    /// Write raw bytes on the socket, bypassing framing.
    pub async fn write_bytes(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.framed
            .get_mut()
            .write_all(bytes)
            .await
            .unwrap_or_else(|e| panic!("write: {e}"));
    }

    /// The next message within `within`, or None on timeout or close.
    pub async fn recv(&mut self, within: Duration) -> Option<Message> {
        loop {
            match tokio::time::timeout(within, self.framed.next()).await {
                Ok(Some(Ok(Frame::Message { body, .. }))) => {
                    return Some(
                        self.spec
                            .decode(body)
                            .unwrap_or_else(|e| panic!("decode: {e}")),
                    );
                }
                Ok(Some(Ok(Frame::KeepAlive))) => continue,
                _ => return None,
            }
        }
    }

    /// Whether the other side closed the connection within `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        matches!(
            tokio::time::timeout(within, self.framed.next()).await,
            Ok(None) | Ok(Some(Err(_)))
        )
    }
}

/// Accept one connection on `listener` within `within`.
pub async fn accept(listener: &TcpListener, within: Duration) -> Peer {
    let (stream, _) = tokio::time::timeout(within, listener.accept())
        .await
        .unwrap_or_else(|_| panic!("no connection"))
        .unwrap_or_else(|e| panic!("accept: {e}"));
    Peer::from_stream(stream)
}

/// A Luhn-valid 16-digit PAN starting with `prefix`.
pub fn pan(prefix: &str) -> String {
    let mut p = format!("{prefix:0<15}").into_bytes();
    if let Some(d) = luhn_check_digit(&p) {
        p.push(d);
    }
    String::from_utf8(p).unwrap_or_default()
}

/// A 0200 purchase from `acquirer`.
pub fn purchase(pan: &str, acquirer: &str, stan: u32, amount_minor: u64) -> Message {
    let mut m = Message::new(Mti::FINANCIAL_REQUEST);
    m.set(2, pan);
    m.set(3, "000000");
    m.set(4, &format!("{amount_minor:012}"));
    m.set(7, "1125103000");
    m.set_stan(stan);
    m.set(32, acquirer);
    m.set(37, &format!("{stan:012}"));
    m.set(41, "TERM0001");
    m.set(49, "408");
    m
}

/// The answer an issuer gives to `req`, echoing its keys.
pub fn answer(req: &Message, rc: &str) -> Message {
    let mut m = Message::new(req.mti().response().unwrap_or(req.mti()));
    for n in [2u8, 3, 4, 7, 11, 32, 33, 37, 41, 49, 70, 90, 100] {
        if let Some(v) = req.text(n) {
            m.set(n, &v);
        }
    }
    m.set(39, rc);
    if rc == "00" {
        m.set(38, "AUTH01");
    }
    m
}
