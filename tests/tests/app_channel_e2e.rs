//! The app channel end to end (issue 22's proof): a switch with a strict
//! journal and token APIs for three apps and one issuer, real `sim issuer`s of
//! the Central Bank (940800) and Morning Star (940810) behind wiretaps, apps
//! speaking through the wallet's HTTP client, and a raw acquirer peer (Morning
//! Star) whose exact bytes are checked.
//!
//! - enrolment: a usable card gets a token, a blocked card is refused with its
//!   issuer's code, a card of a bank the app did not join is refused by rule
//!   before any issuer hears of it;
//! - a QR payment: the issuer gets the card (and the token's indication), books
//!   it, the acquirer gets its token back and no card number in any byte, the
//!   journal says channel `wallet-qr` and the app;
//! - refusals: replayed counter, another token's cryptogram, another app's
//!   code, a token keyed at a terminal, suspensions (by the app, by the
//!   issuer), deletion; a reversal of an earlier payment after the deletion;
//! - every test ends with a scan of its log (everything down to trace) and the
//!   journal's database files for the cards' PANs and the per-token keys.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::time::Duration;

use card_security::wallet::{CodeInput, CodeKey, QrPayload, TokenKey, QR_ENTRY_MODE};
use codecs::luhn::luhn_valid;
use codecs::{Message, Mti};
use hyper::Method;
use routing_rules::RoutingTable;
use serde_json::{json, Value};
use simulators::cards::{Card, CardBase, CardStatus};
use simulators::issuer::{self, RunningIssuer};
use simulators::wallet::enrol::bank_id;
use simulators::wallet::{Answer, TokenApi, Wallet, WalletToken};
use switch::config::SecretKey;
use switch::net::RunningSwitch;
use tests::tap::IssuerTap;
use tests::*;

/// The acquirer of every payment here (Morning Star, in the capital).
const ACQUIRER: &str = "940810";
const CENTRAL_BANK: &str = "940800";
const MORNING_STAR: &str = "940810";
const KORYO_PAY: &str = "94000000001";
const JONSONG: &str = "94000000002";
/// 1,500.00 KPW: within every limit of a national debit card and of the apps.
const AMOUNT_MINOR: u64 = 150_000;
/// How long an answer may take on the shared test machine.
const ANSWER: Duration = Duration::from_secs(10);

/// The vault's key-encryption key and the journal's PAN-hash key of these runs.
const KEK: [u8; 32] = [0x3C; 32];
const PAN_KEY: [u8; 32] = [0x5D; 32];

/// One network: the switch, two issuers behind wiretaps, their catalogue.
struct Network {
    switch: Option<RunningSwitch>,
    issuers: Vec<(String, RunningIssuer, IssuerTap)>,
    capture: LogCapture,
    cards: CardBase,
    table: RoutingTable,
    dir: PathBuf,
    db: PathBuf,
}

impl Network {
    /// Start a network whose logs go to `capture` (installed by the caller on
    /// this thread: every task of a current-thread runtime runs on it).
    async fn start(name: &str, capture: LogCapture) -> Network {
        let table = national_table();
        let dir =
            std::env::temp_dir().join(format!("app-channel-e2e-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("journal.db");
        let mut issuers = Vec::new();
        for bank in [CENTRAL_BANK, MORNING_STAR] {
            let running = issuer::start(issuer_options(bank), &table).await.unwrap();
            let tap = IssuerTap::start(running.addr.unwrap()).await;
            issuers.push((bank.to_string(), running, tap));
        }
        let text = format!(
            r#"
[switch]
institution_id = "940000"
rules = "{rules}"

[journal]
path = "{db}"
durability = "strict"
pan_key = {{ env = "APP_CHANNEL_E2E_UNSET_VARIABLE" }}

[[link]]
name = "morning-star"
role = "acquirer"
bank = "{ACQUIRER}"
direction = "listen"
address = "127.0.0.1:0"

[[link]]
name = "central-bank-issuer"
role = "issuer"
bank = "{CENTRAL_BANK}"
direction = "dial"
address = "{central}"
timeout_ms = 5000

[[link]]
name = "morning-star-issuer"
role = "issuer"
bank = "{MORNING_STAR}"
direction = "dial"
address = "{morning}"
timeout_ms = 5000

[[token_api]]
name = "koryo-pay-api"
app = "koryo-pay"
address = "127.0.0.1:0"

[[token_api]]
name = "jonsong-api"
app = "jonsong"
address = "127.0.0.1:0"

[[token_api]]
name = "manmulsang-api"
app = "manmulsang"
address = "127.0.0.1:0"

[[token_api]]
name = "central-bank-api"
bank = "{CENTRAL_BANK}"
address = "127.0.0.1:0"
"#,
            rules = national_rules(),
            db = db.display(),
            central = issuers[0].2.addr,
            morning = issuers[1].2.addr,
        );
        let switch = start_switch_with(&text, |options| {
            // The journal's key as the environment would give it, the KEK as a
            // test's own (SwitchOptions::vault_kek).
            options.config.journal.as_mut().unwrap().pan_key =
                Some(SecretKey::new(PAN_KEY.to_vec()));
            options.vault_kek = Some(card_security::KeyMaterial::new(KEK.to_vec()));
        })
        .await;
        wait_for_sign_on(&switch, 2, ANSWER).await;
        Network {
            switch: Some(switch),
            issuers,
            capture,
            cards: simulators::cards::CardBase::generate(&table, 1, CARDS_PER_RANGE),
            table,
            dir,
            db,
        }
    }

    fn switch(&self) -> &RunningSwitch {
        self.switch.as_ref().unwrap()
    }

    fn addr(&self, name: &str) -> std::net::SocketAddr {
        *self
            .switch()
            .listening
            .get(name)
            .unwrap_or_else(|| panic!("no listener {name}"))
    }

    async fn api(&self, name: &str) -> TokenApi {
        TokenApi::connect(&self.addr(name).to_string(), None)
            .await
            .unwrap()
    }

    async fn acquirer(&self) -> Peer {
        Peer::connect(self.addr("morning-star")).await
    }

    fn issuer(&self, bank: &str) -> (&RunningIssuer, &IssuerTap) {
        let (_, running, tap) = self.issuers.iter().find(|(b, _, _)| b == bank).unwrap();
        (running, tap)
    }

    /// The first card of the catalogue issued by `bank` in `product` (any
    /// product when None) with `status`.
    fn card(&self, bank: &str, product: Option<&str>, status: CardStatus, skip: usize) -> Card {
        self.cards
            .cards()
            .iter()
            .filter(|c| bank_id(&self.table, c) == bank && c.status == status)
            .filter(|c| {
                product.is_none_or(|p| self.table.products()[usize::from(c.product)].id == p)
            })
            .nth(skip)
            .unwrap_or_else(|| panic!("no card {skip} of {bank} {product:?} {status:?}"))
            .clone()
    }

    /// Stop the switch (its journal flushed), then scan the log and the
    /// database files for `pans` and `keys`, and stop the issuers.
    async fn finish(mut self, pans: &[&Card], keys: &[[u8; 16]]) {
        // While it runs, the database's write-ahead log holds the latest pages.
        assert_no_secrets_on_disk(&self.db, pans, keys);
        self.switch.take().unwrap().shutdown().await;
        assert_no_secrets_on_disk(&self.db, pans, keys);
        let log = self.capture.text();
        // A scan of an empty capture would prove nothing.
        assert!(
            log.contains("token issued"),
            "the switch's log was not captured"
        );
        assert_no_secrets_in(&log, "the log", pans, keys);
        for (_, running, _) in self.issuers.drain(..) {
            running.stop().await.unwrap();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Fails when `text` (`what`) holds any of `pans` or any of `keys` in hex (either
/// case), or anything the suite's log scan would call a PAN, track 2 or a key.
fn assert_no_secrets_in(text: &str, what: &str, pans: &[&Card], keys: &[[u8; 16]]) {
    for card in pans {
        assert!(
            !text.contains(card.pan_str()),
            "{what} holds the PAN of {}",
            card.masked()
        );
    }
    for key in keys {
        for hex in hex_both(key) {
            assert!(!text.contains(&hex), "{what} holds a per-token key");
        }
    }
    let found = tests::secrets::findings(text);
    assert!(found.is_empty(), "{what}: {found:?}");
}

/// Fails when the database, its write-ahead log or its shared memory holds a
/// PAN or a per-token key (in bytes, or hex of either case).
fn assert_no_secrets_on_disk(db: &Path, pans: &[&Card], keys: &[[u8; 16]]) {
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", db.display()));
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            // The WAL and SHM files go at a clean close; the database stays.
            Err(_) if !suffix.is_empty() => continue,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        let what = path.display();
        for card in pans {
            assert!(
                !contains(&bytes, &card.pan),
                "{what} holds the PAN of {}",
                card.masked()
            );
        }
        for key in keys {
            assert!(!contains(&bytes, key), "{what} holds a per-token key");
            for hex in hex_both(key) {
                assert!(
                    !contains(&bytes, hex.as_bytes()),
                    "{what} holds a per-token key in hex"
                );
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn hex_both(key: &[u8; 16]) -> [String; 2] {
    let lower: String = key.iter().map(|b| format!("{b:02x}")).collect();
    [lower.to_uppercase(), lower]
}

/// An enrolled token, as its app keeps it.
struct Enrolled {
    view: Value,
    token: String,
    expiry: [u8; 4],
    key: [u8; 16],
}

impl Enrolled {
    fn code_key(&self) -> CodeKey {
        CodeKey::new(&TokenKey::from_bytes(self.key))
    }

    /// A signed code of this token at counter `atc`, for requestor `requestor`
    /// (its own app's, or not).
    fn code(&self, atc: u16, requestor: &str) -> QrPayload {
        let input = CodeInput {
            token: self.token.as_bytes(),
            expiry: self.expiry,
            atc,
            unpredictable: 0x0BAD_CAFE ^ u32::from(atc),
            requestor_id: requestor.as_bytes(),
        };
        QrPayload::sign(&self.code_key(), &input)
    }

    /// The token in a wallet of `app`, as `sim wallet` keeps it.
    fn wallet(&self, app: &str, requestor: &str, card: &Card, issuer: &str) -> Wallet {
        let mut wallet = Wallet::new(app, requestor);
        wallet.tokens.push(WalletToken::new(
            self.token.clone(),
            self.expiry,
            TokenKey::from_bytes(self.key),
            card.masked(),
            issuer.to_string(),
        ));
        wallet
    }
}

async fn enrol_call(api: &mut TokenApi, card: &Card) -> Answer {
    let body = json!({
        "pan": card.pan_str(),
        "expiry": String::from_utf8_lossy(&card.expiry),
    });
    api.call(Method::POST, "/v1/tokens", Some(&body))
        .await
        .unwrap()
}

/// Enrol `card` through `api`; it must succeed.
async fn enrol(api: &mut TokenApi, card: &Card) -> Enrolled {
    let answer = enrol_call(api, card).await;
    assert_eq!(answer.status.as_u16(), 201, "{}", answer.refusal());
    let body = answer.body;
    let token = body["token"].as_str().unwrap().to_string();
    let expiry: [u8; 4] = body["token_expiry"]
        .as_str()
        .unwrap()
        .as_bytes()
        .try_into()
        .unwrap();
    let key = TokenKey::from_hex(body["key"].as_str().unwrap()).unwrap();
    let key: [u8; 16] = *key.as_bytes();
    Enrolled {
        view: body,
        token,
        expiry,
        key,
    }
}

/// A QR purchase with `token`: field 2 the token, 14 its expiry, 22 QR entry,
/// 55 the code's data as the merchant's reader reads it from the base64.
fn qr_purchase(token: &Enrolled, stan: u32, code: &QrPayload) -> Message {
    let shown = code.to_base64();
    let read = QrPayload::from_base64(&shown).unwrap();
    let mut m = purchase(&token.token, ACQUIRER, stan, AMOUNT_MINOR);
    m.set(14, std::str::from_utf8(&token.expiry).unwrap());
    m.set(22, QR_ENTRY_MODE);
    m.set_binary(55, &read.field55());
    m
}

/// Send `req` and return the answer and its raw bytes.
async fn exchange(acq: &mut Peer, req: &Message) -> (Vec<u8>, Message) {
    acq.send(req).await;
    let (raw, answer) = acq
        .recv_frame(ANSWER)
        .await
        .unwrap_or_else(|| panic!("no answer to STAN {:?}", req.text(11)));
    assert_eq!(answer.text(11), req.text(11));
    (raw.to_vec(), answer)
}

async fn rc_of(acq: &mut Peer, req: &Message) -> String {
    exchange(acq, req).await.1.text(39).unwrap().into_owned()
}

async fn lifecycle(api: &mut TokenApi, method: Method, path: &str) -> Answer {
    api.call(method, path, None).await.unwrap()
}

fn journal_row(db: &Path, stan: u32) -> (String, Option<String>, String, String) {
    let conn = switch::store::open_connection(db).unwrap();
    conn.query_row(
        "SELECT channel, app, response_code, pan_first6 FROM journal
         WHERE acquirer = ?1 AND stan = ?2",
        [ACQUIRER.to_string(), format!("{stan:06}")],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .unwrap()
}

// ------------------------------------------------------------- enrolment

#[tokio::test(flavor = "current_thread")]
async fn enrolment_tokens_usable_cards_of_joined_banks_only() {
    let capture = LogCapture::default();
    let _log = capture.install();
    let net = Network::start("enrolment", capture).await;
    let usable = net.card(CENTRAL_BANK, Some("national-debit"), CardStatus::Active, 0);
    let blocked = net.card(CENTRAL_BANK, None, CardStatus::Blocked, 0);
    let not_joined = net.card(MORNING_STAR, None, CardStatus::Active, 0);
    let mut keys = Vec::new();
    bounded(async {
        let mut koryo = net.api("koryo-pay-api").await;
        let token = enrol(&mut koryo, &usable).await;
        keys.push(token.key);
        assert!(token.token.starts_with("940899"), "{}", token.view);
        assert_eq!(token.token.len(), 16);
        assert!(luhn_valid(token.token.as_bytes()));
        assert_eq!(token.view["status"], "active");
        assert_eq!(token.view["app"], "koryo-pay");
        assert_eq!(token.view["requestor_id"], KORYO_PAY);
        assert_eq!(token.view["issuer"], CENTRAL_BANK);
        assert_eq!(token.view["pan_last4"], &usable.pan_str()[12..]);
        assert!(!token.view.to_string().contains(usable.pan_str()));
        // The issuer checked the card (an account verification, amount zero).
        let (central, central_tap) = net.issuer(CENTRAL_BANK);
        let checks = central_tap.seen_of("0100");
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].text(2).unwrap(), usable.pan_str());
        assert_eq!(checks[0].text(4).unwrap(), "000000000000");
        assert_eq!(checks[0].text(25).unwrap(), "51");
        // The app sees its token; the view holds no PAN.
        let seen = lifecycle(
            &mut koryo,
            Method::GET,
            &format!("/v1/tokens/{}", token.token),
        )
        .await;
        assert_eq!(seen.status.as_u16(), 200);
        assert_eq!(seen.body["status"], "active");

        // A blocked card: the issuer's decline, its code.
        let answer = enrol_call(&mut koryo, &blocked).await;
        assert_eq!(
            (answer.status.as_u16(), answer.refusal()),
            (422, "declined 62".to_string()),
            "{}",
            answer.body
        );
        assert_eq!(central_tap.seen_of("0100").len(), 2);
        let verified = central.totals().account_verifications;
        assert_eq!(verified.get("62"), Some(&1), "{verified:?}");

        // Manmulsang joined the Central Bank only: a Morning Star card is refused
        // by rule, and Morning Star never hears of it.
        let mut manmulsang = net.api("manmulsang-api").await;
        let answer = enrol_call(&mut manmulsang, &not_joined).await;
        assert_eq!(
            (answer.status.as_u16(), answer.refusal()),
            (422, "not_permitted 57 app-accepts-joined-banks".to_string()),
            "{}",
            answer.body
        );
        let (morning, morning_tap) = net.issuer(MORNING_STAR);
        assert!(morning_tap.seen_of("0100").is_empty());
        assert!(morning.totals().account_verifications.is_empty());
        // ... while Koryo Pay, which Morning Star joined, gets a token for it.
        let other = enrol(&mut koryo, &not_joined).await;
        keys.push(other.key);
        assert_eq!(morning_tap.seen_of("0100").len(), 1);
    })
    .await;
    net.finish(&[&usable, &blocked, &not_joined], &keys).await;
}

// ------------------------------------------------------------- payment

#[tokio::test(flavor = "current_thread")]
async fn a_qr_payment_reaches_the_issuer_with_the_card_and_the_acquirer_with_the_token() {
    let capture = LogCapture::default();
    let _log = capture.install();
    let net = Network::start("payment", capture).await;
    let card = net.card(CENTRAL_BANK, Some("national-debit"), CardStatus::Active, 1);
    let mut keys = Vec::new();
    bounded(async {
        let mut koryo = net.api("koryo-pay-api").await;
        let token = enrol(&mut koryo, &card).await;
        keys.push(token.key);
        // The app shows its next code; the reader reads it; the acquirer sends it.
        let wallet = token.wallet("koryo-pay", KORYO_PAY, &card, CENTRAL_BANK);
        let code = wallet.next_payload(0).unwrap();
        let req = qr_purchase(&token, 1001, &code);
        let mut acq = net.acquirer().await;
        let (raw, answer) = exchange(&mut acq, &req).await;
        assert_eq!(answer.mti(), Mti::FINANCIAL_RESPONSE);
        assert_eq!(answer.text(39).unwrap(), "00", "{answer:?}");
        assert_eq!(answer.text(2).unwrap(), token.token);
        assert_eq!(
            answer.text(14).as_deref(),
            Some(std::str::from_utf8(&token.expiry).unwrap())
        );
        assert!(!answer.has(55) && !answer.has(35) && !answer.has(48));
        assert!(!contains(&raw, &card.pan), "the PAN reached the acquirer");
        assert!(
            !contains(&raw, &card.pan[6..]),
            "the PAN's account digits reached the acquirer"
        );

        // The issuer got the card, its expiry, the token's indication, no code.
        let (central, tap) = net.issuer(CENTRAL_BANK);
        let paid = tap.seen_of("0200");
        assert_eq!(paid.len(), 1);
        assert_eq!(paid[0].text(2).unwrap(), card.pan_str());
        assert_eq!(
            paid[0].text(14).unwrap(),
            std::str::from_utf8(&card.expiry).unwrap()
        );
        assert_eq!(
            paid[0].text(48).unwrap(),
            format!("TK016{}AP011{KORYO_PAY}", token.token)
        );
        assert!(!paid[0].has(55));
        // ... and booked it, as a token payment of Koryo Pay.
        let report = central.totals();
        let approved = report.approved.get(ACQUIRER).copied().unwrap_or_default();
        assert_eq!(
            (approved.count, approved.amount.to_string()),
            (1, "1500.00".into())
        );
        assert_eq!(report.token_payments.count, 1);
        assert_eq!(report.token_by_app.get(KORYO_PAY), Some(&1));

        // The journal: the app's channel and the app, the card masked.
        let (channel, app, rc, first6) = journal_row(&net.db, 1001);
        assert_eq!(channel, "wallet-qr");
        assert_eq!(app.as_deref(), Some("koryo-pay"));
        assert_eq!(rc, "00");
        assert_eq!(
            first6,
            card.pan_str()[..6],
            "the card, masked, as at terminals"
        );
    })
    .await;
    net.finish(&[&card], &keys).await;
}

// ------------------------------------------------------------- refusals

#[tokio::test(flavor = "current_thread")]
async fn forged_misused_suspended_and_deleted_tokens_are_refused_with_their_codes() {
    let capture = LogCapture::default();
    let _log = capture.install();
    let net = Network::start("refusals", capture).await;
    let card = net.card(CENTRAL_BANK, Some("national-debit"), CardStatus::Active, 2);
    let second = net.card(CENTRAL_BANK, Some("national-debit"), CardStatus::Active, 3);
    let mut keys = Vec::new();
    bounded(async {
        let mut koryo = net.api("koryo-pay-api").await;
        let mut bank = net.api("central-bank-api").await;
        let token = enrol(&mut koryo, &card).await;
        let other = enrol(&mut koryo, &second).await;
        keys.extend([token.key, other.key]);
        let mut acq = net.acquirer().await;
        let mut stan = 2000;
        let mut next = |code: &QrPayload, t: &Enrolled| {
            stan += 1;
            qr_purchase(t, stan, code)
        };

        // A good payment, then the same code again: a replayed counter.
        let first = next(&token.code(1, KORYO_PAY), &token);
        assert_eq!(rc_of(&mut acq, &first).await, "00");
        let replay = next(&token.code(1, KORYO_PAY), &token);
        assert_eq!(rc_of(&mut acq, &replay).await, "63", "replayed counter");
        // Another token's code (its own cryptogram) with this token's number.
        let borrowed = next(&other.code(7, KORYO_PAY), &token);
        assert_eq!(
            rc_of(&mut acq, &borrowed).await,
            "63",
            "another token's cryptogram"
        );
        // This token's key, but the code names Jonsong: another app's use.
        let elsewhere = next(&token.code(8, JONSONG), &token);
        assert_eq!(rc_of(&mut acq, &elsewhere).await, "58", "another app");
        // Keyed in at a POS terminal (a good code, but not a QR entry).
        let mut keyed = next(&token.code(9, KORYO_PAY), &token);
        keyed.set(22, "012");
        assert_eq!(rc_of(&mut acq, &keyed).await, "58", "keyed at a terminal");

        // Suspended by the app: 62; resumed by the app: pays again.
        let path = format!("/v1/tokens/{}", token.token);
        let answer = lifecycle(&mut koryo, Method::POST, &format!("{path}/suspend")).await;
        assert_eq!(
            (
                answer.status.as_u16(),
                &answer.body["status"],
                &answer.body["suspended_by"]
            ),
            (200, &json!("suspended"), &json!("app"))
        );
        let suspended = next(&token.code(10, KORYO_PAY), &token);
        assert_eq!(
            rc_of(&mut acq, &suspended).await,
            "62",
            "suspended by the app"
        );
        let answer = lifecycle(&mut koryo, Method::POST, &format!("{path}/resume")).await;
        assert_eq!(
            (answer.status.as_u16(), &answer.body["status"]),
            (200, &json!("active"))
        );
        let resumed = next(&token.code(11, KORYO_PAY), &token);
        assert_eq!(rc_of(&mut acq, &resumed).await, "00", "resumed by the app");

        // Suspended by the issuer (its cards' tokens): 62, and the app may not
        // resume it (409); the issuer may.
        let answer = bank
            .call(
                Method::POST,
                "/v1/cards/suspend",
                Some(&json!({ "pan": card.pan_str() })),
            )
            .await
            .unwrap();
        assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
        let tokens = answer.body["tokens"].as_array().unwrap();
        assert_eq!(tokens.len(), 1, "{}", answer.body);
        assert_eq!(tokens[0]["suspended_by"], "issuer");
        assert!(!answer.body.to_string().contains(card.pan_str()));
        let by_issuer = next(&token.code(12, KORYO_PAY), &token);
        assert_eq!(
            rc_of(&mut acq, &by_issuer).await,
            "62",
            "suspended by the issuer"
        );
        let answer = lifecycle(&mut koryo, Method::POST, &format!("{path}/resume")).await;
        assert_eq!(
            (answer.status.as_u16(), answer.refusal()),
            (409, "conflict".to_string()),
            "{}",
            answer.body
        );
        let still = next(&token.code(13, KORYO_PAY), &token);
        assert_eq!(
            rc_of(&mut acq, &still).await,
            "62",
            "the app did not resume it"
        );
        let answer = lifecycle(&mut bank, Method::POST, &format!("{path}/resume")).await;
        assert_eq!(
            (answer.status.as_u16(), &answer.body["status"]),
            (200, &json!("active"))
        );

        // Deleted by the app: 14, and it cannot come back.
        let answer = lifecycle(&mut koryo, Method::DELETE, &path).await;
        assert_eq!(
            (answer.status.as_u16(), &answer.body["status"]),
            (200, &json!("deleted"))
        );
        let deleted = next(&token.code(14, KORYO_PAY), &token);
        assert_eq!(rc_of(&mut acq, &deleted).await, "14", "deleted");
        let answer = lifecycle(&mut koryo, Method::POST, &format!("{path}/resume")).await;
        assert_eq!(answer.status.as_u16(), 409, "{}", answer.body);

        // Only the two good payments reached the issuer.
        let (central, tap) = net.issuer(CENTRAL_BANK);
        assert_eq!(tap.seen_of("0200").len(), 2);
        assert_eq!(central.totals().token_payments.count, 2);

        // A reversal of the first payment, after the deletion: to the issuer,
        // with the card; the acquirer's answer with the token.
        let mut reversal = Message::new(Mti::REVERSAL_REQUEST);
        for n in [2u8, 3, 4, 14, 22, 32, 37, 41, 49] {
            if let Some(v) = first.text(n) {
                reversal.set(n, &v);
            }
        }
        reversal.set(7, "1125103100");
        reversal.set_stan(2999);
        reversal.set(
            90,
            &format!(
                "0200{}{}{:0>11}{:0>11}",
                first.text(11).unwrap(),
                first.text(7).unwrap(),
                ACQUIRER,
                ""
            ),
        );
        let (raw, answer) = exchange(&mut acq, &reversal).await;
        assert_eq!(answer.mti(), Mti::REVERSAL_RESPONSE);
        assert_eq!(answer.text(39).unwrap(), "00", "{answer:?}");
        assert_eq!(answer.text(2).unwrap(), token.token);
        assert!(!contains(&raw, &card.pan));
        let reversed = tap.seen_of("0400");
        assert_eq!(reversed.len(), 1, "the reversal reached the issuer");
        assert_eq!(reversed[0].text(2).unwrap(), card.pan_str());
        let report = central.totals();
        assert_eq!(
            (report.reversed.count, report.reversed.amount.to_string()),
            (1, "1500.00".into())
        );
    })
    .await;
    net.finish(&[&card, &second], &keys).await;
}
