//! A host dialect with composite fields on a link, end to end over loopback:
//! the acquirer and issuer links of a switch both take
//! `codecs/samples/host-composite.toml` as their `spec`, and a purchase with
//! field 3 and 43 in positional subfields, 48 as TLV subelements and 127 as a
//! bitmapped sub-message reaches the issuer with those fields intact and
//! their subfields readable; the issuer's own field 127 comes back to the
//! acquirer the same way. The log never holds the sub-message's card number.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::sync::Arc;
use std::time::Duration;

use codecs::composite::Key;
use codecs::spec::file;
use codecs::{Message, Spec};
use tests::{
    accept, acquirer_and_issuer, answer, pan, purchase, start_switch, wait_until, LogCapture, Peer,
};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(5);

const SPEC_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../codecs/samples/host-composite.toml"
);

fn host_spec() -> Arc<Spec> {
    Arc::new(file::load(std::path::Path::new(SPEC_FILE)).unwrap())
}

/// Field `n` written from `parts` under the host's layout.
fn composite(spec: &Spec, n: u8, parts: &[(Key, &[u8])]) -> Vec<u8> {
    spec.composite(n).unwrap().write(n, parts).unwrap()
}

/// The subfields of field `n` as the message reads them.
fn subfields(msg: &Message, n: u8) -> Vec<(Key, Vec<u8>)> {
    let parts = msg
        .composite(n)
        .expect("field present")
        .expect("well formed");
    parts.iter().map(|(k, v)| (k, v.to_vec())).collect()
}

fn tag(t: &str) -> Key {
    Key::Tag(codecs::composite::SubTag::new(t.as_bytes()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_fields_pass_a_link_configured_with_a_host_spec_file() {
    let logs = LogCapture::global();
    let spec = host_spec();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Both links speak the host dialect.
    let text = acquirer_and_issuer(listener.local_addr().unwrap(), 2_000, "")
        .replace(
            "role = \"acquirer\"",
            &format!("role = \"acquirer\"\nspec = \"{SPEC_FILE}\""),
        )
        .replace(
            "role = \"issuer\"",
            &format!("role = \"issuer\"\nspec = \"{SPEC_FILE}\""),
        );
    assert_eq!(text.matches(SPEC_FILE).count(), 2, "{text}");
    let sw = start_switch(&text).await;
    let mut issuer = accept(&listener, WAIT).await.with_spec(spec.clone());
    let signon = issuer.recv(WAIT).await.expect("sign-on");
    issuer.send(&answer(&signon, "00")).await;
    assert!(wait_until(WAIT, || (1..10).any(|id| sw.core().link_usable(id))).await);
    let mut acq = Peer::connect(sw.listening["morning-star"])
        .await
        .with_spec(spec.clone());

    let card = pan("9408010000077");
    let original_card = pan("9408010000078");
    let mut request = purchase(&card, "940810", 771, 6_500);
    let f3 = composite(
        &spec,
        3,
        &[
            (Key::Position(1), b"00"),
            (Key::Position(2), b"10"),
            (Key::Position(3), b"00"),
        ],
    );
    request.set(3, std::str::from_utf8(&f3).unwrap());
    let f43 = composite(
        &spec,
        43,
        &[
            (Key::Position(1), b"CORNER SHOP              "),
            (Key::Position(2), b"PYONGYANG    "),
            (Key::Position(3), b"KP"),
        ],
    );
    request.set(43, std::str::from_utf8(&f43).unwrap());
    let f48 = composite(
        &spec,
        48,
        &[
            (tag("01"), b"REF-771"),
            (tag("92"), b"4821"),
            (tag("77"), b"ZZ"),
        ],
    );
    request.set(48, std::str::from_utf8(&f48).unwrap());
    let f127 = composite(
        &spec,
        127,
        &[
            (Key::Bit(2), b"ACQ-KEY-771"),
            (Key::Bit(3), b"000771"),
            (Key::Bit(12), original_card.as_bytes()),
        ],
    );
    request.set_binary(127, &f127);
    acq.send(&request).await;

    let fwd = issuer.recv(WAIT).await.expect("forwarded");
    assert_eq!(fwd.mti().as_str(), "0200");
    // The fields as the acquirer sent them, and their subfields readable.
    assert_eq!(fwd.text(3).as_deref(), Some("001000"));
    assert_eq!(fwd.get(43).unwrap().bytes().as_ref(), &f43[..]);
    assert_eq!(fwd.get(48).unwrap().bytes().as_ref(), &f48[..]);
    assert_eq!(fwd.get(127).unwrap().bytes().as_ref(), &f127[..]);
    assert_eq!(subfields(&fwd, 3)[1], (Key::Position(2), b"10".to_vec()));
    assert_eq!(subfields(&fwd, 43)[2], (Key::Position(3), b"KP".to_vec()));
    assert_eq!(
        subfields(&fwd, 48),
        vec![
            (tag("01"), b"REF-771".to_vec()),
            (tag("92"), b"4821".to_vec()),
            (tag("77"), b"ZZ".to_vec()),
        ]
    );
    assert_eq!(
        subfields(&fwd, 127),
        vec![
            (Key::Bit(2), b"ACQ-KEY-771".to_vec()),
            (Key::Bit(3), b"000771".to_vec()),
            (Key::Bit(12), original_card.clone().into_bytes()),
        ]
    );

    // The issuer answers with a sub-message of its own in field 127.
    let mut reply = answer(&fwd, "00");
    let issuer_127 = composite(
        &spec,
        127,
        &[
            (Key::Bit(2), b"ISS-KEY-771"),
            (Key::Bit(22), b"<auth>ok</auth>"),
        ],
    );
    reply.set_binary(127, &issuer_127);
    issuer.send(&reply).await;
    let resp = acq.recv(WAIT).await.expect("approval");
    assert_eq!(resp.text(39).as_deref(), Some("00"));
    assert_eq!(
        subfields(&resp, 127),
        vec![
            (Key::Bit(2), b"ISS-KEY-771".to_vec()),
            (Key::Bit(22), b"<auth>ok</auth>".to_vec()),
        ]
    );
    sw.shutdown().await;
    let log = logs.text();
    assert!(!log.contains(original_card.as_str()) && !log.contains(card.as_str()));
}
