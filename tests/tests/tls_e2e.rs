//! Mutual TLS (1.3, and 1.2 for banks that offer only it) end to end over
//! loopback: the switch with a TLS acquirer listener and
//! a TLS issuer link (to the issuer simulator). A bank with a valid certificate is
//! served; no certificate, an unknown CA, an expired or a revoked certificate, a
//! certificate of a bank the link does not carry, and plaintext are refused; a bank
//! claiming another bank's id in field 32 or 33 gets RC 63 and a security event
//! in the log, without card data.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod tls_support;

use std::time::Duration;

use codecs::framing::{Frame, FrameCodec, LengthHeader, DEFAULT_MAX_FRAME};
use codecs::Spec;
use futures_util::{SinkExt, StreamExt};
use tests::{bounded, pan, purchase, wait_until, LogCapture};
use tls_support::{active_card, network, Pki, TlsPeer, BANK_A, BANK_B, CARD_PREFIX, ISSUER};
use tokio_util::codec::Framed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_bank_is_served_and_bound_to_its_identity() {
    bounded(async {
        let log = LogCapture::global();
        let pki = Pki::new("bound");
        let (issuer, sw, acq) = network(&pki, 2000, 64).await;
        let card = active_card();

        // Bank A as itself: forwarded over TLS to the issuer and approved.
        let mut a = TlsPeer::connect(acq, pki.client(pki.bank(BANK_A)))
            .await
            .unwrap();
        a.send(&purchase(&card, BANK_A, 1, 1500)).await.unwrap();
        let r = a.recv(Duration::from_secs(5)).await.unwrap();
        assert_eq!(r.response_code().as_deref(), Some("00"), "{r:?}");

        // Bank A's certificate claiming bank B (which the link carries): RC 63.
        a.send(&purchase(&card, BANK_B, 2, 1500)).await.unwrap();
        let r = a.recv(Duration::from_secs(5)).await.unwrap();
        assert_eq!(r.response_code().as_deref(), Some("63"));
        assert_eq!(r.stan(), Some(2));
        // ... and naming bank B as the forwarding institution (field 33): RC 63.
        let mut fwd = purchase(&card, BANK_A, 3, 1500);
        fwd.set(33, BANK_B);
        a.send(&fwd).await.unwrap();
        let r = a.recv(Duration::from_secs(5)).await.unwrap();
        assert_eq!(r.response_code().as_deref(), Some("63"));
        // The connection stays up and serves bank A.
        a.send(&purchase(&card, BANK_A, 4, 1500)).await.unwrap();
        let r = a.recv(Duration::from_secs(5)).await.unwrap();
        assert_eq!(r.response_code().as_deref(), Some("00"));

        // Bank B with its own certificate on the same link is not refused.
        let mut b = TlsPeer::connect(acq, pki.client(pki.bank(BANK_B)))
            .await
            .unwrap();
        b.send(&purchase(&card, BANK_B, 5, 1500)).await.unwrap();
        let r = b.recv(Duration::from_secs(5)).await.unwrap();
        assert_eq!(r.response_code().as_deref(), Some("00"), "{r:?}");

        // Only the three proper requests reached the issuer.
        assert_eq!(issuer.totals().approved_total().count, 3);

        let lines = log.lines_with(&["security event", "claimed", "940810.banks.test"]);
        assert!(lines.len() >= 2, "security events: {lines:?}");
        assert!(lines
            .iter()
            .any(|l| l.contains("field=32") && l.contains("claimed=940820")));
        assert!(lines
            .iter()
            .any(|l| l.contains("field=33") && l.contains("claimed=940820")));
        assert!(lines
            .iter()
            .all(|l| l.contains("acq") && l.contains("WARN")));
        let text = log.text();
        assert!(!text.contains(&card), "the full PAN is in the log");
        sw.shutdown().await;
        let _ = issuer.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_on_tls_1_2_is_served_and_one_on_1_3_too() {
    bounded(async {
        let pki = Pki::new("tls12");
        let (issuer, sw, acq) = network(&pki, 2000, 64).await;
        let card = active_card();
        let mut old = TlsPeer::connect(acq, pki.client_tls12(BANK_A))
            .await
            .unwrap();
        assert_eq!(
            old.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_2)
        );
        old.send(&purchase(&card, BANK_A, 1, 1500)).await.unwrap();
        let r = old.recv(Duration::from_secs(5)).await.unwrap();
        assert_eq!(r.response_code().as_deref(), Some("00"), "{r:?}");
        // The certificate binds the bank on 1.2 as on 1.3.
        old.send(&purchase(&card, BANK_B, 2, 1500)).await.unwrap();
        let r = old.recv(Duration::from_secs(5)).await.unwrap();
        assert_eq!(r.response_code().as_deref(), Some("63"));
        let mut new = TlsPeer::connect(acq, pki.client(pki.bank(BANK_A)))
            .await
            .unwrap();
        assert_eq!(
            new.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        new.send(&purchase(&card, BANK_A, 3, 1500)).await.unwrap();
        let r = new.recv(Duration::from_secs(5)).await.unwrap();
        assert_eq!(r.response_code().as_deref(), Some("00"), "{r:?}");
        sw.shutdown().await;
        let _ = issuer.stop().await;
    })
    .await;
}

/// Connect with `client` and send a request: the switch must refuse (handshake
/// error or the connection closed without an answer).
async fn assert_refused(
    acq: std::net::SocketAddr,
    client: std::sync::Arc<rustls::ClientConfig>,
    what: &str,
) {
    match TlsPeer::connect(acq, client).await {
        Err(e) => println!("{what}: refused in the handshake: {e}"),
        Ok(mut peer) => {
            // TLS 1.3: the client finishes before the server has checked its
            // certificate; the refusal arrives as an alert on the next read.
            let _ = peer
                .send(&purchase(&pan(CARD_PREFIX), BANK_A, 9, 100))
                .await;
            match peer.recv(Duration::from_secs(5)).await {
                Ok(m) => panic!("{what}: answered {m:?}"),
                Err(e) => println!("{what}: refused: {e}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_certificates_are_refused() {
    bounded(async {
        let log = LogCapture::global();
        let pki = Pki::new("refused");
        let (issuer, sw, acq) = network(&pki, 2000, 64).await;

        let cases = [
            ("no client certificate", None, "peer sent no certificates"),
            ("unknown CA", pki.test_cert("unknown-ca"), "UnknownIssuer"),
            ("expired", pki.test_cert("expired"), "certificate expired"),
            ("revoked", pki.test_cert("revoked"), "Revoked"),
        ];
        for (what, pair, reason) in cases {
            assert_refused(acq, pki.client(pair), what).await;
            let found = wait_until(Duration::from_secs(3), || {
                !log.lines_with(&["security event: peer certificate refused", reason])
                    .is_empty()
            })
            .await;
            assert!(
                found,
                "{what}: no security event naming {reason:?} in the log: {:?}",
                log.lines_with(&["security event"])
            );
        }
        // A valid certificate of a bank this link does not carry (the issuer's).
        assert_refused(acq, pki.client(pki.bank(ISSUER)), "unbound identity").await;
        assert!(
            wait_until(Duration::from_secs(3), || {
                !log.lines_with(&["not bound to this link", "940800.banks.test"])
                    .is_empty()
            })
            .await,
            "no security event for the unbound identity"
        );
        // Nothing got through to the issuer; a good bank is still served.
        assert_eq!(issuer.totals().approved_total().count, 0);
        let mut a = TlsPeer::connect(acq, pki.client(pki.bank(BANK_A)))
            .await
            .unwrap();
        a.send(&purchase(&active_card(), BANK_A, 1, 100))
            .await
            .unwrap();
        assert_eq!(
            a.recv(Duration::from_secs(5))
                .await
                .unwrap()
                .response_code()
                .as_deref(),
            Some("00")
        );
        sw.shutdown().await;
        let _ = issuer.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_to_a_tls_port_is_closed_unanswered() {
    bounded(async {
        let pki = Pki::new("plain");
        let (issuer, sw, acq) = network(&pki, 2000, 64).await;
        let tcp = tokio::net::TcpStream::connect(acq).await.unwrap();
        let mut plain = Framed::new(
            tcp,
            FrameCodec::new(LengthHeader::Binary2, false, DEFAULT_MAX_FRAME),
        );
        let spec = Spec::builtin("iso87ascii").unwrap();
        let body = spec
            .encode_to_bytes(&purchase(&pan(CARD_PREFIX), BANK_A, 1, 100))
            .unwrap();
        plain
            .send(Frame::Message { tpdu: None, body })
            .await
            .unwrap();
        // The switch answers with a TLS alert at most, never an ISO 8583 message,
        // and closes.
        let mut closed = false;
        for _ in 0..4 {
            match tokio::time::timeout(Duration::from_secs(3), plain.next()).await {
                Ok(None) | Ok(Some(Err(_))) => {
                    closed = true;
                    break;
                }
                Ok(Some(Ok(Frame::Message { body, .. }))) => {
                    assert!(
                        spec.decode(body).is_err(),
                        "an ISO 8583 answer to plaintext"
                    );
                }
                Ok(Some(Ok(Frame::KeepAlive))) => {}
                Err(_) => break,
            }
        }
        assert!(closed, "the plaintext connection was not closed");
        assert_eq!(issuer.totals().approved_total().count, 0);
        sw.shutdown().await;
        let _ = issuer.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_presenting_another_identity_is_not_signed_on() {
    bounded(async {
        let log = LogCapture::global();
        let pki = Pki::new("dial");
        // The issuer host presents bank A's certificate: the switch, dialing the
        // issuer link of 940800, must refuse it.
        let tls = simulators::tls::TlsOptions {
            tls_ca: vec![pki.layout().ca()],
            tls_cert: Some(pki.layout().bank(BANK_A).cert()),
            tls_key: Some(pki.layout().bank(BANK_A).key()),
            ..Default::default()
        }
        .load(ISSUER)
        .unwrap();
        let table = tests::national_table();
        let issuer = simulators::issuer::start_with_tls(tests::issuer_options(ISSUER), &table, tls)
            .await
            .unwrap();
        let sw = tests::start_switch(&pki.config(issuer.addr.unwrap(), 2000, 64)).await;
        let refused = wait_until(Duration::from_secs(5), || {
            !log.lines_with(&["security event: peer certificate refused", "iss"])
                .is_empty()
        })
        .await;
        assert!(
            refused,
            "the switch did not refuse the issuer's certificate"
        );
        assert!(!(1..=16).any(|id| sw.core().link_usable(id)));
        sw.shutdown().await;
        let _ = issuer.stop().await;
    })
    .await;
}
