//! Each way a request can be malformed, over a real socket: the acquirer gets RC
//! 30 (with its STAN wherever the STAN can be read), the switch logs a line that
//! names the field at fault and never its content, and the connection goes on
//! serving good requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::time::Duration;

use bytes::Bytes;
use switch::net::RunningSwitch;
use tests::{
    accept, answer, national_rules, pan, purchase, start_switch, wait_for_sign_on, LogCapture, Peer,
};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(5);
const STAN: &str = "000321";

/// The acquirer's dialect: iso87ascii without field 60, so that a bit set for
/// field 60 is one for a field the link's spec does not define.
fn dialect_file(test: &str) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("malformed-e2e-{test}-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "name = \"no-field-60\"\nbase = \"iso87ascii\"\n\n[fields.60]\nremove = true\n",
    )
    .unwrap();
    path
}

fn config(issuer: std::net::SocketAddr, dialect: &std::path::Path, acquirer: &str) -> String {
    format!(
        r#"
[switch]
institution_id = "940000"
rules = "{rules}"

[[link]]
name = "{acquirer}"
role = "acquirer"
bank = "940810"
direction = "listen"
address = "127.0.0.1:0"
spec = "{dialect}"

[[link]]
name = "malformed-issuer"
role = "issuer"
bank = "940800"
direction = "dial"
address = "{issuer}"
timeout_ms = 5000

# The acquirer's dialect lacks field 60, the stand-in indicator: a switch
# standing in would refuse this link (it could not mark its decisions).
[stand_in]
enabled = false
"#,
        rules = national_rules(),
        dialect = dialect.display()
    )
}

/// An iso87ascii 0200 with the fields `(number, wire text)` in order (the bitmap
/// is made from their numbers; a secondary one when any is above 64).
fn frame(fields: &[(u8, String)]) -> Vec<u8> {
    let mut bitmap = [0u8; 16];
    for &(n, _) in fields {
        let bit = usize::from(n) - 1;
        bitmap[bit / 8] |= 0x80 >> (bit % 8);
    }
    let secondary = fields.iter().any(|&(n, _)| n > 64);
    if secondary {
        bitmap[0] |= 0x80;
    }
    let mut out = b"0200".to_vec();
    let bytes = if secondary { 16 } else { 8 };
    for b in &bitmap[..bytes] {
        out.extend_from_slice(format!("{b:02X}").as_bytes());
    }
    for (_, text) in fields {
        out.extend_from_slice(text.as_bytes());
    }
    out
}

/// A purchase's fields as iso87ascii text, with field 32 (LLVAR n..11) as given.
fn purchase_fields(f32: &str) -> Vec<(u8, String)> {
    let pan = pan("9408010000001");
    vec![
        (2, format!("{:02}{pan}", pan.len())),
        (3, "000000".into()),
        (4, "000000000100".into()),
        (7, "1206101500".into()),
        (11, STAN.into()),
        (32, f32.into()),
        (37, "000000000321".into()),
        (41, "TERM0001".into()),
        (49, "408".into()),
    ]
}

/// The malformed cases: (name, frame, the STAN is readable, what the log names).
fn cases() -> Vec<(&'static str, Vec<u8>, bool, &'static str)> {
    let mut undefined = purchase_fields("06940810");
    undefined.push((60, "003abc".into()));
    let truncated = {
        let mut f = frame(&purchase_fields("06940810"));
        // The primary bitmap announces a secondary one, which is cut short.
        f[4] = b'F';
        f.truncate(4 + 16 + 8);
        f
    };
    let mut trailing = frame(&purchase_fields("06940810"));
    trailing.extend_from_slice(b"XYZ");
    vec![
        (
            "LLVAR above its maximum",
            frame(&purchase_fields("12940810000000")),
            true,
            "field 32",
        ),
        (
            "length prefix +9",
            frame(&purchase_fields("+9940810000")),
            true,
            "field 32",
        ),
        (
            "length prefix -1",
            frame(&purchase_fields("-19")),
            true,
            "field 32",
        ),
        (
            "length prefix with a space",
            frame(&purchase_fields(" 9940810000")),
            true,
            "field 32",
        ),
        (
            "secondary bitmap truncated",
            truncated,
            false,
            "field 1 (secondary bitmap)",
        ),
        ("undefined field", frame(&undefined), true, "field 60"),
        (
            "trailing bytes",
            trailing,
            true,
            "3 bytes left over at the end",
        ),
    ]
}

/// A switch whose acquirer link `acquirer` speaks the dialect without field 60,
/// with its issuer link dialing the listener returned (and the dialect file, to
/// remove at the end).
async fn network(acquirer: &str) -> (RunningSwitch, TcpListener, std::path::PathBuf) {
    let issuer_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dialect = dialect_file(acquirer);
    let sw = start_switch(&config(
        issuer_listener.local_addr().unwrap(),
        &dialect,
        acquirer,
    ))
    .await;
    (sw, issuer_listener, dialect)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_malformed_request_gets_30_and_the_connection_goes_on() {
    let log = LogCapture::global();
    let (sw, issuer_listener, dialect) = network("malformed-acquirer").await;
    let mut issuer = accept(&issuer_listener, WAIT).await;
    let signon = issuer.recv(WAIT).await.expect("sign-on");
    issuer.send(&answer(&signon, "00")).await;
    // Signed on before the purchase: a purchase that wins the race is decided in
    // stand-in, whose answer carries the stand-in indicator in field 60, which
    // this acquirer's dialect does not define (so that answer is dropped).
    wait_for_sign_on(&sw, 1, WAIT).await;
    let mut acq = Peer::connect(sw.listening["malformed-acquirer"]).await;
    // The well-formed frame the cases break is itself approved end to end.
    acq.send_raw(Bytes::from(frame(&purchase_fields("06940810"))))
        .await;
    let fwd = issuer
        .recv(WAIT)
        .await
        .expect("the well-formed frame is forwarded");
    issuer.send(&answer(&fwd, "00")).await;
    let ok = acq.recv(WAIT).await.expect("an answer");
    assert_eq!(ok.text(39).as_deref(), Some("00"));

    for (i, (name, body, stan_readable, names)) in cases().into_iter().enumerate() {
        acq.send_raw(Bytes::from(body)).await;
        let resp = acq
            .recv(WAIT)
            .await
            .unwrap_or_else(|| panic!("{name}: no answer"));
        assert_eq!(resp.mti().as_str(), "0210", "{name}");
        assert_eq!(resp.text(39).as_deref(), Some("30"), "{name}");
        let expected_stan = stan_readable.then_some(321);
        assert_eq!(resp.stan(), expected_stan, "{name}");
        issuer
            .expect_silence(
                Duration::from_millis(50),
                "a malformed request reached the issuer",
            )
            .await;
        let lines = log.lines_with(&["malformed message", "malformed-acquirer"]);
        assert_eq!(
            lines.len(),
            i + 1,
            "{name}: one log line per malformed request"
        );
        let last = lines.last().map(String::as_str).unwrap_or_default();
        assert!(
            last.contains(names),
            "{name}: the log line does not name {names}: {last}"
        );
        // And the connection still serves a good request.
        let stan = 400 + i as u32;
        acq.send(&purchase(&pan("9408010000001"), "940810", stan, 100))
            .await;
        let fwd = issuer.recv(WAIT).await.expect("forwarded");
        issuer.send(&answer(&fwd, "00")).await;
        let good = acq.recv(WAIT).await.expect("the good request's answer");
        assert_eq!(
            (good.stan(), good.text(39).as_deref()),
            (Some(stan), Some("00")),
            "after {name}"
        );
    }
    sw.shutdown().await;
    let _ = std::fs::remove_file(&dialect);
}

/// A host that sends malformed requests as fast as it can gets every one answered
/// (RC 30), but writes only a few log lines per period: the rest are counted, and
/// the metric counts each one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_malformed_requests_is_answered_but_not_logged_line_by_line() {
    let log = LogCapture::global();
    let (sw, _issuer_listener, dialect) = network("flooding-acquirer").await;
    let mut acq = Peer::connect(sw.listening["flooding-acquirer"]).await;
    let bad = frame(&purchase_fields("-19"));
    const FLOOD: usize = 300;
    for _ in 0..FLOOD {
        acq.send_raw(Bytes::from(bad.clone())).await;
    }
    for n in 0..FLOOD {
        let resp = acq
            .recv(WAIT)
            .await
            .unwrap_or_else(|| panic!("answer {n} of {FLOOD} missing"));
        assert_eq!(resp.text(39).as_deref(), Some("30"));
    }
    let lines = log.lines_with(&["malformed message", "flooding-acquirer"]);
    assert!(
        !lines.is_empty() && lines.len() <= 10,
        "{} log lines for {FLOOD} malformed requests",
        lines.len()
    );
    sw.shutdown().await;
    let _ = std::fs::remove_file(&dialect);
}
