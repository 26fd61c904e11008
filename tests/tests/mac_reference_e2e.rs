//! MAC links checked against an independent implementation: both bank hosts
//! here compute and check their MACs with RustCrypto's `retail-mac` (ISO 9797-1
//! MAC algorithm 3 over DES, padding by hand as each link is configured), never
//! with `card-security`, which the switch uses. A fault shared by the switch and
//! the simulators (both on `card-security`) would pass every other MAC test;
//! here it cannot.
//!
//! The acquirer link uses padding method 2, the issuer link method 1. The
//! switch's sign-on, its forwarded request and its answer must verify under
//! the reference; the hosts' reference-sealed request and answer must be
//! accepted. A host whose key differs by one bit is refused (RC 63), and a
//! reference check with that key refuses the switch's MACs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use codecs::{Message, Spec};
use retail_mac::{KeyInit as _, Mac as _};
use tests::{accept, answer, bounded, national_rules, pan, purchase, start_switch, Peer};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(5);

/// Test keys (hex): K and K' of each link's MAC key.
const ACQ_MAC: &str = "0123456789ABCDEFFEDCBA9876543210";
const ISS_MAC: &str = "C4E6A8B0D2F41357ACE0BDF19275E3C6";

/// The acquiring bank (Morning Star) and the issuer (the Central Bank).
const ACQUIRER: &str = "940810";
const ISSUER: &str = "940800";

/// The length of a MAC.
const MAC_LEN: usize = 8;
/// Its length on the wire: iso87ascii writes binary fields (64 and 128
/// included) as hex text, upper case.
const WIRE_LEN: usize = 2 * MAC_LEN;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn key_bytes(hex: &str) -> [u8; 16] {
    let mut key = [0u8; 16];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    key
}

/// A bank host's MAC key and padding, computed with `retail-mac` only.
#[derive(Clone, Copy)]
struct Reference {
    key: [u8; 16],
    /// ISO 9797-1 padding method: 1 (zeros) or 2 (0x80 then zeros).
    padding: u8,
}

impl Reference {
    fn new(hex: &str, padding: u8) -> Reference {
        Reference {
            key: key_bytes(hex),
            padding,
        }
    }

    /// The same key with one bit flipped.
    fn corrupted(self) -> Reference {
        let mut key = self.key;
        key[3] ^= 0x04;
        Reference { key, ..self }
    }

    /// The retail MAC of `data`. `RetailMac` pads with zeros (method 1) itself;
    /// method 2 is method 1 after a 0x80 byte. Method 1 of empty data is one
    /// block of zeros, which a MAC'd ISO 8583 message never is.
    fn mac(&self, data: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = retail_mac::RetailMac::<des::Des>::new_from_slice(&self.key).unwrap();
        mac.update(data);
        if self.padding == 2 {
            mac.update(&[0x80]);
        }
        mac.finalize().into_bytes().into()
    }

    /// `msg` encoded with its MAC: field 128 when a secondary bitmap is needed,
    /// else 64; the MAC field is the last one, and the MAC covers everything
    /// before its value (MTI and bitmaps included), written as hex text.
    fn seal(&self, spec: &Spec, msg: &Message) -> Bytes {
        let mut m = msg.clone();
        m.remove(64);
        m.remove(128);
        let field = if m.field_numbers().any(|n| n > 64) {
            128
        } else {
            64
        };
        m.set_binary(field, &[0u8; MAC_LEN]);
        let mut body = spec.encode_to_bytes(&m).unwrap().to_vec();
        let at = body.len() - WIRE_LEN;
        assert_eq!(body[at..], [b'0'; WIRE_LEN], "field {field} is not last");
        let mac = self.mac(&body[..at]);
        body[at..].copy_from_slice(hex(&mac).as_bytes());
        Bytes::from(body)
    }

    /// Whether `body` (as received) ends with a MAC field (the decoded field
    /// 64 or 128, as hex text) that this key computes over the bytes before it.
    fn verifies(&self, body: &[u8], msg: &Message) -> bool {
        let field = if msg.has(128) { 128 } else { 64 };
        let Some(sent) = msg.get(field).map(|f| f.bytes().into_owned()) else {
            return false;
        };
        let at = body.len() - WIRE_LEN;
        sent.len() == MAC_LEN
            && body[at..] == *hex(&sent).as_bytes()
            && self.mac(&body[..at]) == sent[..]
    }
}

/// A bank host on a MAC link that uses only the reference implementation.
struct Host {
    peer: Peer,
    mac: Reference,
    spec: std::sync::Arc<Spec>,
}

impl Host {
    fn new(peer: Peer, mac: Reference) -> Host {
        Host {
            peer,
            mac,
            spec: Spec::builtin("iso87ascii").unwrap(),
        }
    }

    async fn send(&mut self, msg: &Message) {
        let body = self.mac.seal(&self.spec, msg);
        self.peer.send_raw(body).await;
    }

    /// The next message from the switch, with the frame it came in.
    async fn recv(&mut self) -> (Bytes, Message) {
        self.peer
            .recv_frame(WAIT)
            .await
            .expect("a message from the switch")
    }

    /// The next message, whose MAC must verify under this host's key.
    async fn recv_verified(&mut self) -> Message {
        let (body, msg) = self.recv().await;
        assert!(
            self.mac.verifies(&body, &msg),
            "{} from the switch fails the reference MAC check",
            msg.mti()
        );
        msg
    }
}

/// An acquirer link (padding 2) and an issuer link (padding 1) with MAC keys
/// from the environment (`tag`_ACQ_MAC, `tag`_ISS_MAC).
fn config(tag: &str, issuer: SocketAddr) -> String {
    std::env::set_var(format!("{tag}_ACQ_MAC"), ACQ_MAC);
    std::env::set_var(format!("{tag}_ISS_MAC"), ISS_MAC);
    format!(
        r#"
[switch]
institution_id = "940000"
rules = "{rules}"
read_timeout_ms = 2000

[[link]]
name = "{tag}-acquirer"
role = "acquirer"
bank = "{ACQUIRER}"
direction = "listen"
address = "127.0.0.1:0"
mac_key = {{ env = "{tag}_ACQ_MAC" }}
mac_padding = 2

[[link]]
name = "{tag}-issuer"
role = "issuer"
bank = "{ISSUER}"
direction = "dial"
address = "{issuer}"
timeout_ms = 2000
mac_key = {{ env = "{tag}_ISS_MAC" }}
mac_padding = 1
"#,
        rules = national_rules()
    )
}

/// The switch, its issuer link signed on (the sign-on checked under the
/// reference), and an acquirer connected with `acquirer_mac`.
async fn network(tag: &str, acquirer_mac: Reference) -> (switch::net::RunningSwitch, Host, Host) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sw = start_switch(&config(tag, listener.local_addr().unwrap())).await;
    let mut issuer = Host::new(accept(&listener, WAIT).await, Reference::new(ISS_MAC, 1));
    let (body, sign_on) = issuer.recv().await;
    assert_eq!(sign_on.mti().as_str(), "0800");
    // Field 70 sits in the secondary bitmap: the MAC is in field 128.
    assert!(sign_on.has(128) && !sign_on.has(64), "{sign_on:?}");
    assert!(issuer.mac.verifies(&body, &sign_on), "sign-on MAC");
    // The check is not vacuous: a key one bit off, or the other padding, refuses it.
    assert!(!issuer.mac.corrupted().verifies(&body, &sign_on));
    assert!(!Reference::new(ISS_MAC, 2).verifies(&body, &sign_on));
    issuer.send(&answer(&sign_on, "00")).await;
    tests::wait_for_sign_on(&sw, 1, WAIT).await;
    let acquirer = Host::new(
        Peer::connect(sw.listening[&format!("{tag}-acquirer")]).await,
        acquirer_mac,
    );
    (sw, acquirer, issuer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_switch_and_reference_hosts_agree_on_every_mac() {
    bounded(async {
        let (_sw, mut acq, mut iss) = network("MACRX", Reference::new(ACQ_MAC, 2)).await;
        let card = pan("940801");
        for stan in 1..=3u32 {
            // Amounts of different lengths of padding: the data length mod 8 varies.
            acq.send(&purchase(&card, ACQUIRER, stan, 1500 + u64::from(stan)))
                .await;
            let fwd = iss.recv_verified().await;
            assert_eq!(fwd.mti().as_str(), "0200");
            iss.send(&answer(&fwd, "00")).await;
            let r = acq.recv_verified().await;
            assert_eq!(r.mti().as_str(), "0210");
            assert_eq!(r.response_code().as_deref(), Some("00"), "{r:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_key_one_bit_off_is_refused_both_ways() {
    bounded(async {
        let right = Reference::new(ACQ_MAC, 2);
        let (_sw, mut acq, mut iss) = network("MACRXBAD", right.corrupted()).await;
        acq.send(&purchase(&pan("940801"), ACQUIRER, 7, 1500)).await;
        let (body, r) = acq.recv().await;
        assert_eq!(r.response_code().as_deref(), Some("63"), "{r:?}");
        // The switch sealed its refusal with the link's real key.
        assert!(right.verifies(&body, &r), "the refusal's MAC");
        assert!(!acq.mac.verifies(&body, &r), "checked with the wrong key");
        iss.peer
            .expect_silence(Duration::from_millis(300), "a refused request forwarded")
            .await;
    })
    .await;
}
