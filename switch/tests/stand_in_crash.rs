//! Stand-in's cumulative limits across a `kill -9`: the switch binary with a
//! strict journal and the vault's KEK (stand-in needs both: its advices keep the
//! card sealed), its Central Bank issuer down (nothing listens where it dials),
//! so every purchase is decided in stand-in. One card takes the day's count of
//! approvals (5), another 900,000.00 KPW of the 1,000,000.00 allowed; the switch
//! is killed and started again on the same journal. The counters must come back
//! from the journal: the first card's next purchase is declined 65 (count), the
//! second card's 200,000.00 is declined 61 (amount), and its 100,000.00, which
//! fits exactly, is approved (nothing was counted twice either).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use codecs::framing::{Frame, FrameCodec, LengthHeader, DEFAULT_MAX_FRAME};
use codecs::luhn::luhn_check_digit;
use codecs::{Message, Mti, Spec};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

mod switch_process;
use switch_process::{free_port, wait_for_port, CrashConfig};

const ACQUIRER: &str = "940810";
/// The Central Bank: its national debit cards (BIN 940801) have stand-in entry
/// `central-bank-debit` (purchases: 500,000 per transaction, 1,000,000 and 5
/// approvals a day).
const ISSUER: &str = "940800";
const KEK_VAR: &str = "STAND_IN_CRASH_TEST_KEK";
const PAN_KEY_VAR: &str = "STAND_IN_CRASH_TEST_PAN_KEY";
const KEK_HEX: &str = "0123456789abcdeffedcba98765432100123456789abcdeffedcba9876543210";
const PAN_KEY_HEX: &str = "00112233445566778899aabbccddeeff";
/// The whole test's bound (it takes a few seconds).
const BOUND: Duration = Duration::from_secs(90);
const ANSWER: Duration = Duration::from_secs(10);

fn start_switch(config: &Path, log: &Path) -> Child {
    switch_process::start_switch(
        config,
        log,
        "info",
        &[(KEK_VAR, KEK_HEX), (PAN_KEY_VAR, PAN_KEY_HEX)],
    )
}

/// A Luhn-valid 16-digit card number starting with `prefix`.
fn card(prefix: &str) -> String {
    let mut p = format!("{prefix:0<15}").into_bytes();
    p.push(luhn_check_digit(&p).unwrap());
    String::from_utf8(p).unwrap()
}

/// A raw acquirer host (binary2 framing, iso87ascii).
struct Acquirer {
    framed: Framed<TcpStream, FrameCodec>,
    spec: std::sync::Arc<Spec>,
    stan: u32,
}

impl Acquirer {
    async fn connect(port: u16, first_stan: u32) -> Acquirer {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Acquirer {
            framed: Framed::new(
                stream,
                FrameCodec::new(LengthHeader::Binary2, false, DEFAULT_MAX_FRAME),
            ),
            spec: Spec::builtin("iso87ascii").unwrap(),
            stan: first_stan,
        }
    }

    /// A purchase of `major` KPW with `pan`: the answer's (39, 60).
    async fn purchase(&mut self, pan: &str, major: u64) -> (String, Option<String>) {
        self.stan += 1;
        let mut req = Message::new(Mti::FINANCIAL_REQUEST);
        req.set(2, pan);
        req.set(3, "000000");
        req.set(4, &format!("{:012}", major * 100));
        req.set(7, "1206120000");
        req.set_stan(self.stan);
        req.set(32, ACQUIRER);
        req.set(37, &format!("{:012}", self.stan));
        req.set(41, "TERM0001");
        req.set(49, "408");
        let body = self.spec.encode_to_bytes(&req).unwrap();
        self.framed
            .send(Frame::Message { tpdu: None, body })
            .await
            .unwrap();
        loop {
            let frame = tokio::time::timeout(ANSWER, self.framed.next())
                .await
                .expect("an answer in time")
                .expect("the connection open")
                .unwrap();
            if let Frame::Message { body, .. } = frame {
                let answer = self.spec.decode(body).unwrap();
                assert_eq!(answer.stan(), Some(self.stan));
                return (
                    answer.text(39).unwrap().into_owned(),
                    answer.text(60).map(|v| v.into_owned()),
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stand_in_limits_hold_across_kill_9() {
    tokio::time::timeout(BOUND, run())
        .await
        .expect("the test took too long");
}

async fn run() {
    let dir = std::env::temp_dir().join(format!("switch-stand-in-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("switch.log");
    // The issuer's address: free, and nothing will listen there.
    let (acquirer_port, issuer_port) = (free_port(), free_port());
    let config = dir.join("switch.toml");
    std::fs::write(
        &config,
        CrashConfig {
            acquirer: ACQUIRER,
            acquirer_port,
            issuer: ISSUER,
            issuer_address: &format!("127.0.0.1:{issuer_port}"),
            pan_key_var: PAN_KEY_VAR,
            switch_extra: &format!("[switch.security]\nkek_env = \"{KEK_VAR}\""),
            issuer_extra: "timeout_ms = 2000",
            more: "",
        }
        .text(),
    )
    .unwrap();
    let counted = card("940801000000101");
    let summed = card("940801000000202");
    let standin = Some("STANDIN".to_string());

    let mut switch = start_switch(&config, &log);
    wait_for_port(acquirer_port).await;
    let mut acq = Acquirer::connect(acquirer_port, 100).await;
    for n in 0..5 {
        assert_eq!(
            acq.purchase(&counted, 100).await,
            ("00".to_string(), standin.clone()),
            "approval {n} within the day's count"
        );
    }
    assert_eq!(
        acq.purchase(&summed, 500_000).await,
        ("00".to_string(), standin.clone())
    );
    assert_eq!(
        acq.purchase(&summed, 400_000).await,
        ("00".to_string(), standin.clone())
    );

    // The approvals were answered: they are journaled (strict durability).
    switch.kill().unwrap();
    switch.wait().unwrap();
    drop(acq);
    let mut switch = start_switch(&config, &log);
    wait_for_port(acquirer_port).await;
    let mut acq = Acquirer::connect(acquirer_port, 200).await;
    assert_eq!(
        acq.purchase(&counted, 100).await,
        ("65".to_string(), standin.clone()),
        "the sixth approval of the day after the restart"
    );
    assert_eq!(
        acq.purchase(&summed, 200_000).await,
        ("61".to_string(), standin.clone()),
        "900,000 + 200,000 > 1,000,000 after the restart"
    );
    assert_eq!(
        acq.purchase(&summed, 100_000).await,
        ("00".to_string(), standin.clone()),
        "900,000 + 100,000 fits exactly: nothing was counted twice"
    );

    drop(acq);
    Command::new("kill")
        .args(["-TERM", &switch.id().to_string()])
        .status()
        .unwrap();
    let status = switch.wait().unwrap();
    assert!(status.success(), "switch exited with {status}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("stand-in on"), "stand-in was on");
    assert!(
        text.contains("stand-in usage and negative-file updates restored cards=2"),
        "the restart restored both cards' usage"
    );
    for pan in [&counted, &summed] {
        assert!(!text.contains(pan.as_str()), "a full PAN in the switch log");
    }
    // For the whole suite's scan (scripts/test.sh), the switch's log is kept.
    if let Some(suite) = std::env::var_os("SUITE_LOG_DIR") {
        let _ = std::fs::copy(&log, Path::new(&suite).join("stand-in-crash-switch.log"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
