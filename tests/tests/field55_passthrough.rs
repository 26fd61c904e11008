//! Field 55 (EMV chip data) through a real switch over loopback: the issuer gets
//! the acquirer's bytes untouched, and neither the journal (its database and
//! write-ahead log, where the store-and-forward queue lives too) nor the log
//! holds them, not even when a request times out (its reversal is queued) and
//! the issuer's late answer, with chip data of its own, is dropped and logged.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::time::Duration;

use codecs::content::to_hex;
use codecs::tlv::Element;
use codecs::{Message, Tag};
use tests::{
    accept, acquirer_and_issuer, answer, pan, purchase, start_switch, wait_until, LogCapture, Peer,
};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(5);

/// The issuer's timeout: short, so the second request times out quickly.
const TIMEOUT_MS: u64 = 400;

/// A terminal's chip data for `pan`: cryptogram, its information data, TVR, the
/// PAN (5A), track 2 equivalent (57), cardholder name, ATC.
fn icc_elements(pan: &str) -> Vec<(Tag, Vec<u8>)> {
    let packed = |digits: &str| codecs::content::from_hex(digits.as_bytes()).unwrap();
    let tag = |hex: &str| Tag::parse_hex(hex).unwrap();
    vec![
        (
            tag("9F26"),
            vec![0xC7, 0x3E, 0x51, 0x9A, 0x04, 0xB2, 0x6D, 0xE8],
        ),
        (tag("9F27"), vec![0x80]),
        (tag("95"), vec![0x00, 0x00, 0x00, 0x80, 0x00]),
        (tag("5A"), packed(pan)),
        (tag("57"), packed(&format!("{pan}D29122010000000F"))),
        (tag("5F20"), b"KIM/CHOL SU".to_vec()),
        (tag("9F36"), vec![0x00, 0x2A]),
    ]
}

fn with_icc(mut msg: Message, elements: &[(Tag, Vec<u8>)]) -> Message {
    msg.set_tlv(
        55,
        elements
            .iter()
            .map(|(tag, value)| Element { tag: *tag, value }),
    )
    .unwrap();
    msg
}

/// Every trace of `needle` (its bytes, and as hex text the way iso87ascii
/// writes `b` fields) in `haystack`.
fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    let hex = to_hex(needle);
    let contains = |n: &[u8]| !n.is_empty() && haystack.windows(n.len()).any(|w| w == n);
    contains(needle) || contains(hex.as_bytes()) || contains(hex.to_lowercase().as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_55_reaches_the_issuer_untouched_and_is_never_stored_or_logged() {
    let logs = LogCapture::global();
    let dir = std::env::temp_dir().join(format!("field55-passthrough-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("journal.db");
    std::env::set_var("FIELD55_TEST_PAN_KEY", "00112233445566778899aabbccddeeff");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let text = format!(
        "{}\n[journal]\npath = \"{}\"\ndurability = \"strict\"\n\
         pan_key = {{ env = \"FIELD55_TEST_PAN_KEY\" }}\n",
        acquirer_and_issuer(listener.local_addr().unwrap(), TIMEOUT_MS, ""),
        db.display()
    );
    let sw = start_switch(&text).await;
    let mut issuer = accept(&listener, WAIT).await;
    let signon = issuer.recv(WAIT).await.expect("sign-on");
    issuer.send(&answer(&signon, "00")).await;
    assert!(wait_until(WAIT, || (1..10).any(|id| sw.core().link_usable(id))).await);
    let mut acq = Peer::connect(sw.listening["morning-star"]).await;

    // 1. Approved: the forward carries the very bytes of field 55.
    let card = pan("9408010000055");
    let icc = icc_elements(&card);
    let request = with_icc(purchase(&card, "940810", 551, 4_200), &icc);
    acq.send(&request).await;
    let (_, fwd) = issuer.recv_frame(WAIT).await.expect("forwarded");
    assert_eq!(fwd.mti().as_str(), "0200");
    let sent = request.get(55).unwrap().bytes().into_owned();
    assert_eq!(
        fwd.get_wire_bytes(55).unwrap(),
        to_hex(&sent).as_bytes(),
        "field 55 as the issuer got it"
    );
    assert_eq!(fwd.tlv(55).unwrap().unwrap().len(), icc.len());
    issuer.send(&answer(&fwd, "00")).await;
    let resp = acq.recv(WAIT).await.expect("approval");
    assert_eq!(resp.text(39).as_deref(), Some("00"));

    // 2. Timed out: the 91 to the acquirer, a reversal queued for the issuer;
    // then the issuer's late answer, with chip data (an ARPC in 91, the PAN in
    // 5A), is dropped and logged.
    let card2 = pan("9408010000056");
    let icc2 = icc_elements(&card2);
    acq.send(&with_icc(purchase(&card2, "940810", 552, 4_300), &icc2))
        .await;
    let late = issuer.recv(WAIT).await.expect("second forward");
    let resp = acq.recv(WAIT).await.expect("91 after the timeout");
    assert_eq!(resp.text(39).as_deref(), Some("91"));
    let arpc = (
        Tag::parse_hex("91").unwrap(),
        vec![0x5C, 0x91, 0x0E, 0x2F, 0x7A, 0x33, 0xB8, 0x41, 0x30, 0x30],
    );
    let issuer_icc = vec![arpc.clone(), icc2[3].clone()];
    issuer
        .send(&with_icc(answer(&late, "00"), &issuer_icc))
        .await;
    let dropped = wait_until(WAIT, || {
        !logs
            .lines_with(&[
                "response dropped",
                &format!("stan={}", late.stan().unwrap()),
            ])
            .is_empty()
    })
    .await;
    sw.shutdown().await;

    // Nothing of either chip data in the journal's files.
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    // The scan sees what the journal keeps: the approved purchase's RRN.
    assert!(holds(&stored, b"000000000551"), "the journal holds the RRN");
    let log = logs.text();
    // Values of four bytes or more: shorter ones (9F27's one byte, the ATC's
    // two) turn up in any file by chance.
    for (tag, value) in icc.iter().chain(&icc2).chain([&arpc]) {
        if value.len() < 4 {
            continue;
        }
        assert!(
            !holds(&stored, value),
            "the journal holds tag {tag}'s value"
        );
        assert!(
            !holds(log.as_bytes(), value),
            "the log holds tag {tag}'s value"
        );
    }
    for whole in [&sent, &late.get(55).unwrap().bytes().into_owned()] {
        assert!(!holds(&stored, whole), "the journal holds field 55");
        assert!(!holds(log.as_bytes(), whole), "the log holds field 55");
    }
    assert!(!log.contains(card.as_str()) && !log.contains(card2.as_str()));
    // The dropped answer's log line shows its chip data masked by tag: the
    // ARPC by its length, the PAN as first 6 and last 4 digits.
    assert!(dropped, "the late answer was logged as dropped");
    let line = logs.lines_with(&["response dropped"]).join("\n");
    let masked_pan = format!("5A={}******{}", &card2[..6], &card2[12..]);
    assert!(
        line.contains("91=[10 bytes masked]") && line.contains(&masked_pan),
        "{line}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
