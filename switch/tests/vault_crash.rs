//! The token vault across a `kill -9`: the switch binary with a strict journal,
//! a token API and a Central Bank issuer simulator. An app enrols a card, pays
//! once by QR and suspends the token; the switch is killed and started again
//! with the same KEK (from its environment variable). The app must still see
//! its token, suspended; resumed, it must pay again with a new counter, and the
//! code of the payment before the crash must be refused as a replay (63: its
//! counter was kept).
//! Then neither the journal's database files (db, WAL, shared memory) nor the
//! switch's log may hold the card's PAN or the token's key (bytes, or hex in
//! either case).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use card_security::wallet::{CodeInput, CodeKey, QrPayload, TokenKey, QR_ENTRY_MODE};
use codecs::framing::{Frame, FrameCodec, LengthHeader, DEFAULT_MAX_FRAME};
use codecs::{Message, Mti, Spec};
use futures_util::{SinkExt, StreamExt};
use hyper::Method;
use routing_rules::RoutingTable;
use serde_json::json;
use simulators::cards::{Card, CardBase, CardStatus};
use simulators::issuer::{self, IssuerOptions};
use simulators::wallet::TokenApi;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

mod switch_process;
use switch_process::{free_port, wait_for_port, CrashConfig, RULES};

const ACQUIRER: &str = "940810";
const ISSUER: &str = "940800";
const KORYO_PAY: &str = "94000000001";
const SEED: u64 = 3;
const CARDS: usize = 50;
/// The environment variables the switch reads its keys from.
const KEK_VAR: &str = "VAULT_CRASH_TEST_KEK";
const PAN_KEY_VAR: &str = "VAULT_CRASH_TEST_PAN_KEY";
const KEK_HEX: &str = "8899aabbccddeeff00112233445566778899aabbccddeeff0011223344556677";
const PAN_KEY_HEX: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f";
/// The whole test's bound (it takes a few seconds).
const BOUND: Duration = Duration::from_secs(90);
const ANSWER: Duration = Duration::from_secs(10);

fn start_switch(config: &Path, log: &Path) -> Child {
    switch_process::start_switch(
        config,
        log,
        "debug",
        &[(KEK_VAR, KEK_HEX), (PAN_KEY_VAR, PAN_KEY_HEX)],
    )
}

/// A raw acquirer host (binary2 framing, iso87ascii).
struct Acquirer {
    framed: Framed<TcpStream, FrameCodec>,
    spec: std::sync::Arc<Spec>,
}

impl Acquirer {
    async fn connect(port: u16) -> Acquirer {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Acquirer {
            framed: Framed::new(
                stream,
                FrameCodec::new(LengthHeader::Binary2, false, DEFAULT_MAX_FRAME),
            ),
            spec: Spec::builtin("iso87ascii").unwrap(),
        }
    }

    /// Send `req`; the answer's response code.
    async fn rc(&mut self, req: &Message) -> String {
        let body = self.spec.encode_to_bytes(req).unwrap();
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
                assert_eq!(answer.text(11), req.text(11));
                return answer.text(39).unwrap().into_owned();
            }
        }
    }
}

/// The token as the app keeps it.
struct Token {
    number: String,
    expiry: [u8; 4],
    key: [u8; 16],
}

/// A QR purchase of 1,500.00 KPW with `token`'s code at counter `atc`.
fn qr_purchase(token: &Token, stan: u32, atc: u16) -> Message {
    let input = CodeInput {
        token: token.number.as_bytes(),
        expiry: token.expiry,
        atc,
        unpredictable: 0x5EED_0000 | u32::from(atc),
        requestor_id: KORYO_PAY.as_bytes(),
    };
    let code = QrPayload::sign(&CodeKey::new(&TokenKey::from_bytes(token.key)), &input);
    let mut m = Message::new(Mti::FINANCIAL_REQUEST);
    m.set(2, &token.number);
    m.set(3, "000000");
    m.set(4, "000000150000");
    m.set(7, &transmission_now());
    m.set_stan(stan);
    m.set(14, std::str::from_utf8(&token.expiry).unwrap());
    m.set(22, QR_ENTRY_MODE);
    m.set(32, ACQUIRER);
    m.set(37, &format!("{stan:012}"));
    m.set(41, "TERM0001");
    m.set(49, "408");
    m.set_binary(55, &code.field55());
    m
}

/// Field 7 now, as an acquirer host sends it. (A fixed one would make the
/// issuer see the payment after the restart as a duplicate of the one before:
/// the restarted switch may give it the same STAN, see the kill below.)
fn transmission_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    String::from_utf8_lossy(&codecs::datetime::fields_at_unix(secs).transmission).into_owned()
}

/// Sleep into the next second of the wall clock.
async fn next_second() {
    let into = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1000 - into) + 20)).await;
}

/// Enrol `card` for Koryo Pay, retrying while the switch is not yet signed on
/// to the issuer (503).
async fn enrol(api: &mut TokenApi, card: &Card) -> Token {
    let body = json!({
        "pan": card.pan_str(),
        "expiry": String::from_utf8_lossy(&card.expiry),
    });
    for _ in 0..100 {
        let answer = api
            .call(Method::POST, "/v1/tokens", Some(&body))
            .await
            .unwrap();
        match answer.status.as_u16() {
            503 => tokio::time::sleep(Duration::from_millis(100)).await,
            201 => {
                let key = TokenKey::from_hex(answer.body["key"].as_str().unwrap()).unwrap();
                return Token {
                    number: answer.body["token"].as_str().unwrap().to_string(),
                    expiry: answer.body["token_expiry"]
                        .as_str()
                        .unwrap()
                        .as_bytes()
                        .try_into()
                        .unwrap(),
                    key: *key.as_bytes(),
                };
            }
            _ => panic!("enrolment refused: {}", answer.refusal()),
        }
    }
    panic!("the switch never reached the issuer to enrol");
}

/// Pay with `token` from counter `atc` on until an answer other than 91 (the
/// issuer's link not yet up after a start): that answer, and the counter used.
async fn pay_when_linked(
    acq: &mut Acquirer,
    token: &Token,
    stan: &mut u32,
    atc: u16,
) -> (String, u16) {
    for atc in atc..atc + 100 {
        *stan += 1;
        let rc = acq.rc(&qr_purchase(token, *stan, atc)).await;
        if rc != "91" {
            return (rc, atc);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the switch never reached the issuer to pay");
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// What must not be in the files: the PAN, and the key in bytes or hex.
fn assert_clean(path: &Path, card: &Card, key: &[u8; 16]) {
    let Ok(bytes) = std::fs::read(path) else {
        return; // the WAL and shared memory go at a clean close
    };
    let what = path.display();
    assert!(!contains(&bytes, &card.pan), "{what} holds the card's PAN");
    assert!(!contains(&bytes, key), "{what} holds the token's key");
    let lower: String = key.iter().map(|b| format!("{b:02x}")).collect();
    for hex in [lower.to_uppercase(), lower] {
        assert!(
            !contains(&bytes, hex.as_bytes()),
            "{what} holds the token's key in hex"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vault_survives_kill_9_with_its_counters() {
    tokio::time::timeout(BOUND, run())
        .await
        .expect("the test took too long");
}

async fn run() {
    let dir = std::env::temp_dir().join(format!("switch-vault-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("switch.log");

    let (table, _) = RoutingTable::load(Path::new(RULES)).unwrap();
    let cards = CardBase::generate(&table, SEED, CARDS);
    let card = cards
        .cards()
        .iter()
        .find(|c| {
            c.status == CardStatus::Active
                && table.products()[usize::from(c.product)].id == "national-debit"
        })
        .expect("a usable national debit card")
        .clone();
    let issuer = issuer::start(
        IssuerOptions {
            rules: PathBuf::from(RULES),
            seed: SEED,
            cards_per_range: CARDS,
            ..IssuerOptions::defaults(ISSUER).unwrap()
        },
        &table,
    )
    .await
    .unwrap();
    let (acquirer_port, api_port) = (free_port(), free_port());
    let config = dir.join("switch.toml");
    std::fs::write(
        &config,
        CrashConfig {
            acquirer: ACQUIRER,
            acquirer_port,
            issuer: ISSUER,
            issuer_address: &issuer.addr.unwrap().to_string(),
            pan_key_var: PAN_KEY_VAR,
            switch_extra: &format!("[switch.security]\nkek_env = \"{KEK_VAR}\""),
            issuer_extra: "timeout_ms = 5000",
            more: &format!(
                "[[token_api]]\nname = \"koryo-pay-api\"\napp = \"koryo-pay\"\naddress = \"127.0.0.1:{api_port}\""
            ),
        }
        .text(),
    )
    .unwrap();
    let api_addr = format!("127.0.0.1:{api_port}");

    // Before the crash: a token, and one payment with counter 1.
    let mut switch = start_switch(&config, &log);
    wait_for_port(acquirer_port).await;
    wait_for_port(api_port).await;
    let mut api = TokenApi::connect(&api_addr, None).await.unwrap();
    let token = enrol(&mut api, &card).await;
    let mut acq = Acquirer::connect(acquirer_port).await;
    let mut stan = 100;
    let (rc, used) = pay_when_linked(&mut acq, &token, &mut stan, 1).await;
    assert_eq!(rc, "00", "the payment before the crash");
    let before_crash = qr_purchase(&token, 900, used);
    // The app suspends the token (its user lost the phone): once the API said
    // so, the suspension must survive the kill.
    let suspended = api
        .call(
            Method::POST,
            &format!("/v1/tokens/{}/suspend", token.number),
            None,
        )
        .await
        .unwrap();
    assert_eq!(suspended.status.as_u16(), 200, "{}", suspended.body);

    switch.kill().unwrap();
    switch.wait().unwrap();
    drop((api, acq));
    // What the kill left: the write-ahead log holds the latest pages.
    for file in ["journal.db", "journal.db-wal", "journal.db-shm"] {
        assert_clean(&dir.join(file), &card, &token.key);
    }
    // The switch's STANs toward issuers start from the clock's second: a
    // restart within the second of the last run's payment could give the next
    // payment that one's STAN and field 7, which the issuer refuses (94).
    next_second().await;
    let mut switch = start_switch(&config, &log);
    wait_for_port(acquirer_port).await;
    wait_for_port(api_port).await;

    // The vault came back: the app sees its token, it pays with a new counter,
    // and the counter used before the crash is a replay.
    let mut api = TokenApi::connect(&api_addr, None).await.unwrap();
    let view = api
        .call(Method::GET, &format!("/v1/tokens/{}", token.number), None)
        .await
        .unwrap();
    assert_eq!(view.status.as_u16(), 200, "{}", view.body);
    assert_eq!(view.body["status"], "suspended", "the suspension was kept");
    let resumed = api
        .call(
            Method::POST,
            &format!("/v1/tokens/{}/resume", token.number),
            None,
        )
        .await
        .unwrap();
    assert_eq!(resumed.body["status"], "active", "{}", resumed.body);
    let mut acq = Acquirer::connect(acquirer_port).await;
    let (rc, _) = pay_when_linked(&mut acq, &token, &mut stan, used + 1).await;
    assert_eq!(rc, "00", "the payment after the restart");
    assert_eq!(
        acq.rc(&before_crash).await,
        "63",
        "the counter of the payment before the crash"
    );
    let books = issuer.totals();
    assert_eq!(books.token_payments.count, 2, "{:?}", books);

    // A graceful stop, then nothing on disk or in the log.
    drop((api, acq));
    Command::new("kill")
        .args(["-TERM", &switch.id().to_string()])
        .status()
        .unwrap();
    let status = switch.wait().unwrap();
    assert!(status.success(), "switch exited with {status}");
    issuer.stop().await.unwrap();
    for file in [
        "journal.db",
        "journal.db-wal",
        "journal.db-shm",
        "switch.log",
    ] {
        assert_clean(&dir.join(file), &card, &token.key);
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("token vault loaded tokens=1"),
        "the vault's load"
    );
    assert!(
        text.contains("reason=\"counter replayed\""),
        "the refusal after the restart was not the counter's"
    );
    // For the whole suite's scan (scripts/test.sh), the switch's log is kept.
    if let Some(suite) = std::env::var_os("SUITE_LOG_DIR") {
        let _ = std::fs::copy(&log, Path::new(&suite).join("vault-crash-switch.log"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
