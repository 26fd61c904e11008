//! Stand-in over real sockets (issue 18): the switch decides for an issuer that
//! cannot answer and tells it afterwards.
//!
//! - Issuer down (no signed-on link): approvals within the limits (38 from the
//!   switch's range, field 60 = STANDIN), every decline code stand-in gives, and
//!   what is declined before stand-in (bad Luhn, a currency the product does not
//!   hold); when the issuer comes up it receives one advice per decision, a repeat
//!   keeping the advice's field 11.
//! - Issuer timing out: the acquirer gets the stand-in decision at the timeout, the
//!   issuer the reversal of the forwarded request and then the advice; with the
//!   issuer simulator behind a relay that loses its answers, its books end holding
//!   what the acquirers were told (forced past the balance).
//! - A hot card added by 0302 from the issuer link is declined 41 in stand-in
//!   (and survives a restart), a delete takes it off; malformed or foreign
//!   updates are refused.
//! - An acquirer's reversal of a stand-in approval, before and after its advice
//!   is delivered: answered 00 at once, and the issuer simulator ends with neither.
//!
//! Only 127.0.0.1 and port 0 (an issuer that is "down" is a port reserved and
//! released; it comes up by listening there again); every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use codecs::framing::{Frame, FrameCodec, LengthHeader, DEFAULT_MAX_FRAME};
use codecs::luhn::luhn_check_digit;
use codecs::{Message, Mti, Spec};
use futures_util::{SinkExt, StreamExt};
use simulators::cards::{Card, CardBase, CardStatus};
use simulators::issuer::{self, report::Tally};
use switch::net::RunningSwitch;
use tests::{
    accept, answer, bounded, issuer_net, issuer_options, national_rules, national_table, pan,
    purchase, start_switch, start_switch_with, wait_until, Peer, CARDS_PER_RANGE,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::codec::Framed;

const WAIT: Duration = Duration::from_secs(5);
/// How long a redialing switch may take to find an issuer that came up (its
/// backoff is at most 5 s).
const REDIAL: Duration = Duration::from_secs(12);
const ACQUIRER: &str = "940810";
const CENTRAL_BANK: &str = "940800";
const MORNING_STAR: &str = "940810";
const HARBOUR: &str = "940830";
const STANDIN: &str = "STANDIN";
/// The journal's PAN-hash key and the vault's KEK of the runs that keep a journal.
const PAN_KEY: [u8; 16] = [0x5A; 16];
const KEK: [u8; 32] = [0x7E; 32];

/// A loopback address free a moment ago, where nothing listens: an issuer host
/// that is down. It comes up by binding the address again.
fn down_host() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The switch's configuration: acquirers Morning Star (940810) and the Central
/// Bank (940800) listening, and an
/// issuer link dialled for each (bank, address), `timeout_ms` each; `extra` is
/// appended (a `[journal]` table).
fn config(issuers: &[(&str, SocketAddr)], timeout_ms: u64, extra: &str) -> String {
    let mut text = format!(
        r#"
[switch]
institution_id = "940000"
rules = "{rules}"
saf_retry_ms = 200

{extra}

[[link]]
name = "acquirer"
role = "acquirer"
bank = "{ACQUIRER}"
direction = "listen"
address = "127.0.0.1:0"

[[link]]
name = "central-acquirer"
role = "acquirer"
bank = "{CENTRAL_BANK}"
direction = "listen"
address = "127.0.0.1:0"
"#,
        rules = national_rules()
    );
    for (bank, addr) in issuers {
        text.push_str(&format!(
            r#"
[[link]]
name = "issuer-{bank}"
role = "issuer"
bank = "{bank}"
direction = "dial"
address = "{addr}"
timeout_ms = {timeout_ms}
"#
        ));
    }
    text
}

/// A `[journal]` table for a database in `dir` (its key set by [`with_keys`]).
fn journal(dir: &std::path::Path) -> String {
    format!(
        "[journal]\npath = \"{}\"\ndurability = \"strict\"\npan_key = {{ env = \"STAND_IN_E2E_UNSET_VARIABLE\" }}\n",
        dir.join("journal.db").display()
    )
}

/// Start a switch with a journal: its PAN-hash key and the vault's KEK given
/// (stand-in needs the vault when it keeps a journal: the advices' cards are
/// sealed under it).
async fn start_with_keys(text: &str) -> RunningSwitch {
    start_switch_with(text, |options| {
        options.config.journal.as_mut().unwrap().pan_key =
            Some(switch::config::SecretKey::new(PAN_KEY.to_vec()));
        options.vault_kek = Some(card_security::KeyMaterial::new(KEK.to_vec()));
    })
    .await
}

/// A fresh directory for a test's journal.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stand-in-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Accept the switch's connection within `within` and answer its sign-on.
async fn signed_on_issuer(listener: &TcpListener, within: Duration) -> Peer {
    let mut issuer = accept(listener, within).await;
    let signon = issuer.recv(WAIT).await.expect("sign-on");
    assert_eq!(signon.mti().as_str(), "0800");
    issuer.send(&answer(&signon, "00")).await;
    issuer
}

/// Wait until the switch has no usable link (the issuer's host went down).
async fn wait_unlinked(sw: &RunningSwitch) {
    assert!(
        wait_until(WAIT, || !(1..=16).any(|id| sw.core().link_usable(id))).await,
        "an issuer link stayed usable"
    );
}

/// What the acquirer was told.
#[derive(Clone, Debug, PartialEq)]
struct Told {
    rc: String,
    auth: Option<String>,
    indicator: Option<String>,
}

/// Send `req` and wait for its answer (same STAN).
async fn ask(acq: &mut Peer, req: &Message) -> Told {
    acq.send(req).await;
    let resp = acq.recv(WAIT).await.expect("an answer");
    assert_eq!(resp.stan(), req.stan(), "the answer to {:?}", req.stan());
    Told {
        rc: resp.text(39).expect("field 39").into_owned(),
        auth: resp.text(38).map(|v| v.into_owned()),
        indicator: resp.text(60).map(|v| v.into_owned()),
    }
}

/// A 0200 for `kind` ([`PURCHASE`], [`CASH`], [`BALANCE`]).
fn request(card: &str, stan: u32, major: u64, kind: &str) -> Message {
    let mut m = purchase(card, ACQUIRER, stan, major * 100);
    m.set(3, kind);
    m
}

/// A Luhn-valid card number of `len` digits starting with `prefix`.
fn long_pan(prefix: &str, len: usize) -> String {
    let mut p = format!("{prefix:0<width$}", width = len - 1).into_bytes();
    p.push(luhn_check_digit(&p).unwrap());
    String::from_utf8(p).unwrap()
}

/// An approval in stand-in: 00, an authorization code of the switch's range
/// (900000-999999), the indicator.
fn assert_stand_in_approval(t: &Told, what: &str) {
    assert_eq!(
        (t.rc.as_str(), t.indicator.as_deref()),
        ("00", Some(STANDIN)),
        "{what}: {t:?}"
    );
    let code: u32 = t.auth.as_deref().expect("field 38").parse().unwrap();
    assert!((900_000..=999_999).contains(&code), "{what}: 38 = {code}");
}

/// A decline in stand-in with `rc`, no authorization code.
fn assert_stand_in_decline(t: &Told, rc: &str, what: &str) {
    assert_eq!(
        (t.rc.as_str(), t.auth.as_deref(), t.indicator.as_deref()),
        (rc, None, Some(STANDIN)),
        "{what}: {t:?}"
    );
}

/// 91 where stand-in is not allowed: the switch did not stand in.
fn assert_plain_91(t: &Told, what: &str) {
    assert_eq!(
        (t.rc.as_str(), t.auth.as_deref(), t.indicator.as_deref()),
        ("91", None, None),
        "{what}: {t:?}"
    );
}

/// Processing codes: a purchase, a cash withdrawal, a balance inquiry.
const PURCHASE: &str = "000000";
const CASH: &str = "010000";
const BALANCE: &str = "310000";

/// The acquirer's side of the issuer-down test: its requests, and what it was
/// told of each stand-in decision by RRN (field 37, from the STAN).
struct Decisions {
    acq: Peer,
    stan: u32,
    told: BTreeMap<String, Told>,
}

impl Decisions {
    /// The next request (its own STAN).
    fn next(&mut self, card: &str, major: u64, kind: &str) -> Message {
        self.stan += 1;
        request(card, self.stan, major, kind)
    }

    /// Send `req`, check that stand-in decided `rc`, keep what the acquirer was
    /// told; its RRN.
    async fn expect(&mut self, req: Message, rc: &str, what: &str) -> String {
        let t = ask(&mut self.acq, &req).await;
        if rc == "00" {
            assert_stand_in_approval(&t, what);
        } else {
            assert_stand_in_decline(&t, rc, what);
        }
        let rrn = req.text(37).unwrap().into_owned();
        self.told.insert(rrn.clone(), t);
        rrn
    }
}

/// Issuer down: approvals within the limits and every decline code, then the
/// advices when the issuer comes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_down_approvals_within_limits_every_decline_code_and_the_advices_after() {
    bounded(issuer_down()).await;
}

async fn issuer_down() {
    let morning = down_host();
    let harbour = down_host();
    // No journal: stand-in is on without the vault (nothing is kept on disk).
    let sw = start_switch(&config(
        &[(MORNING_STAR, morning), (HARBOUR, harbour)],
        2000,
        "",
    ))
    .await;
    let mut d = Decisions {
        acq: Peer::connect(sw.listening["acquirer"]).await,
        stan: 0,
        told: BTreeMap::new(),
    };

    // Morning Star debit (entry morning-star-debit): purchases 500,000 per
    // transaction, 1,000,000 and 5 a day; cash 200,000, 400,000 and 2.
    let (counted, summed, cash) = (
        pan("9408100000011"),
        pan("9408100000022"),
        pan("9408100000033"),
    );
    let mut cases: Vec<(String, u64, &str, &str, String)> = (0..5)
        .map(|n| {
            (
                counted.clone(),
                100,
                PURCHASE,
                "00",
                format!("approval {n} of the count"),
            )
        })
        .collect();
    let named = |card: &str, major, kind, rc, what: &str| {
        (card.to_string(), major, kind, rc, what.to_string())
    };
    cases.extend([
        named(&counted, 100, PURCHASE, "65", "the sixth of the day"),
        named(
            &summed,
            500_000,
            PURCHASE,
            "00",
            "at the per-transaction limit",
        ),
        named(&summed, 500_000, PURCHASE, "00", "up to the daily amount"),
        named(&summed, 1, PURCHASE, "61", "past the daily amount"),
        named(
            &cash,
            200_001,
            CASH,
            "61",
            "cash past its per-transaction limit",
        ),
        named(&cash, 1_000, CASH, "00", "cash 1"),
        named(&cash, 1_000, CASH, "00", "cash 2"),
        named(&cash, 1_000, CASH, "65", "cash past its daily count"),
        // The product allows 2,000,000 at once, stand-in 500,000.
        named(
            &pan("9408100000044"),
            500_001,
            PURCHASE,
            "61",
            "past the per-transaction limit",
        ),
        // The negative file of national.toml (rules/negative/940810.toml): three
        // hashed cards and a range of 19-digit cards.
        named("9408100000000106", 100, PURCHASE, "41", "a lost card"),
        named("9408100000000205", 100, PURCHASE, "43", "a stolen card"),
        named("9408110000000303", 100, PURCHASE, "62", "a restricted card"),
        named(
            &long_pan("940810990000000012", 19),
            100,
            PURCHASE,
            "43",
            "a card of a stolen range",
        ),
    ]);
    for (card, major, kind, rc, what) in &cases {
        let req = d.next(card, *major, kind);
        d.expect(req, rc, what).await;
    }
    // Expired (field 14 in the past).
    let mut req = d.next(&pan("9408100000055"), 100, PURCHASE);
    req.set(14, "2001");
    d.expect(req, "54", "expired").await;
    // An authorization (0100) is approved the same way and advised as an 0120.
    let mut req = d.next(&pan("9408100000121"), 2_500, PURCHASE);
    req.set_mti(Mti::AUTH_REQUEST);
    let authorization = d.expect(req, "00", "an authorization").await;

    // Where stand-in is not allowed the switch does not stand in: 91 as before,
    // without the indicator, nothing advised. A balance inquiry is never
    // approved in stand-in; Harbour Trade's foreign-currency card has no
    // stand-in entry (only the Central Bank's and Harbour Trade's terminals
    // take it).
    let balance = d.next(&pan("9408100000066"), 0, BALANCE);
    let t = ask(&mut d.acq, &balance).await;
    assert_plain_91(&t, "a balance inquiry");
    let mut acq_central = Peer::connect(sw.listening["central-acquirer"]).await;
    let mut req = purchase(&pan("940831"), CENTRAL_BANK, 1, 1_000);
    req.set(49, "840");
    let t = ask(&mut acq_central, &req).await;
    assert_plain_91(&t, "a product without stand-in");

    // Declined before stand-in, as while the issuer is up: Golden Valley's
    // withdrawn legacy card (62), a bad check digit (14) and a currency the
    // product does not hold (57) are the routing's answers; stand-in is not
    // asked, nothing is advised.
    let good = pan("9408100000077");
    let mut bad = good.clone().into_bytes();
    let last = bad.len() - 1;
    bad[last] = b'0' + (bad[last] - b'0' + 1) % 10;
    let mut foreign = d.next(&good, 100, PURCHASE);
    foreign.set(49, "840");
    for (req, rc, what) in [
        (
            d.next(&pan("94082099000"), 100, PURCHASE),
            "62",
            "the withdrawn legacy card",
        ),
        (
            d.next(std::str::from_utf8(&bad).unwrap(), 100, PURCHASE),
            "14",
            "a bad check digit",
        ),
        (foreign, "57", "a currency the product does not hold"),
    ] {
        let t = ask(&mut d.acq, &req).await;
        assert_eq!(
            (t.rc.as_str(), &t.auth, &t.indicator),
            (rc, &None, &None),
            "{what}"
        );
    }
    let decided = d.told;

    // The approvals' authorization codes are distinct.
    let mut codes: Vec<&str> = decided.values().filter_map(|t| t.auth.as_deref()).collect();
    let approvals = codes.len();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), approvals, "authorization codes repeat");

    // Morning Star comes up: one advice per decision, in any window order; the
    // first is left unanswered and comes again as a repeat with its field 11.
    let listener = TcpListener::bind(morning).await.unwrap();
    let mut issuer = signed_on_issuer(&listener, REDIAL).await;
    let mut advised: BTreeMap<String, Message> = BTreeMap::new();
    let mut first: Option<(u32, String)> = None;
    let mut repeated = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while (advised.len() < decided.len() || !repeated) && Instant::now() < deadline {
        let Some(msg) = issuer.recv(Duration::from_secs(2)).await else {
            continue;
        };
        let mti = msg.mti().as_str().to_string();
        let rrn = msg.text(37).expect("field 37").into_owned();
        let stan = msg.stan().expect("field 11");
        let advice_mti = if rrn == authorization { "0120" } else { "0220" };
        match &first {
            None => {
                assert_eq!(mti, advice_mti, "the first advice");
                first = Some((stan, rrn.clone()));
                advised.insert(rrn, msg);
                continue; // unanswered: it must come again
            }
            Some((first_stan, first_rrn)) if *first_rrn == rrn => {
                assert_eq!(
                    mti,
                    format!("{}1", &advice_mti[..3]),
                    "the first advice again"
                );
                assert_eq!(stan, *first_stan, "a repeat keeps the advice's field 11");
                repeated = true;
            }
            Some(_) => {
                assert_eq!(mti, advice_mti, "an advice");
                assert!(
                    advised.insert(rrn.clone(), msg.clone()).is_none(),
                    "advice of {rrn} twice"
                );
            }
        }
        issuer.send(&answer(&msg, "00")).await;
    }
    assert!(repeated, "the unanswered advice came again");
    assert_eq!(
        advised.keys().collect::<Vec<_>>(),
        decided.keys().collect::<Vec<_>>(),
        "one advice per decision"
    );
    let mut stans = Vec::new();
    for (rrn, advice) in &advised {
        let told = &decided[rrn];
        assert_eq!(
            (
                advice.text(39).as_deref(),
                advice.text(38).as_deref(),
                advice.text(60).as_deref(),
                advice.text(100).as_deref(),
                advice.text(33).as_deref(),
            ),
            (
                Some(told.rc.as_str()),
                told.auth.as_deref(),
                Some(STANDIN),
                Some(MORNING_STAR),
                Some("940000"),
            ),
            "the advice of {rrn}"
        );
        assert!(advice.has(2) && advice.has(4), "the card and amount");
        assert!(
            !advice.has(90),
            "no reversal precedes an advice of a decision taken at once"
        );
        stans.push(advice.stan().unwrap());
    }
    stans.sort_unstable();
    stans.dedup();
    assert_eq!(stans.len(), advised.len(), "each advice has its own STAN");
    assert!(
        wait_until(WAIT, || sw.core().saf_depth() == 0).await,
        "Morning Star's advices delivered, none owed to Harbour Trade (depth {})",
        sw.core().saf_depth()
    );
    issuer
        .expect_silence(Duration::from_millis(500), "anything more")
        .await;
    sw.shutdown().await;
}

/// Field 90 naming `msg` (MTI 0200, STAN, 7, 32 and 33 zero-padded), as the
/// switch names a forwarded request and an acquirer its original.
fn field90_naming(msg: &Message) -> String {
    format!(
        "0200{:06}{}{:0>11}{:0>11}",
        msg.stan().unwrap(),
        msg.text(7).unwrap(),
        msg.text(32).unwrap_or_default(),
        msg.text(33).unwrap_or_default()
    )
}

/// The issuer does not answer in time: the stand-in decision at the timeout,
/// then the reversal of the forwarded request, then the advice naming it; a late
/// answer changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_timing_out_gets_the_reversal_then_the_advice() {
    bounded(issuer_timing_out()).await;
}

async fn issuer_timing_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sw = start_switch(&config(
        &[(CENTRAL_BANK, listener.local_addr().unwrap())],
        400,
        "",
    ))
    .await;
    let mut issuer = signed_on_issuer(&listener, WAIT).await;
    tests::wait_for_sign_on(&sw, 1, WAIT).await;
    let mut acq = Peer::connect(sw.listening["acquirer"]).await;
    let req = request(&pan("9408010000088"), 501, 1_234, PURCHASE);
    let sent = Instant::now();
    acq.send(&req).await;
    let fwd = issuer.recv(WAIT).await.expect("forwarded");
    assert_eq!(fwd.mti().as_str(), "0200");
    let resp = acq.recv(WAIT).await.expect("the stand-in decision");
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "decided after {waited:?}, before the timeout"
    );
    let told = Told {
        rc: resp.text(39).unwrap().into_owned(),
        auth: resp.text(38).map(|v| v.into_owned()),
        indicator: resp.text(60).map(|v| v.into_owned()),
    };
    assert_eq!(resp.stan(), Some(501));
    assert_stand_in_approval(&told, "after the timeout (not 91)");

    let rev = issuer.recv(WAIT).await.expect("the reversal first");
    let f90 = field90_naming(&fwd);
    assert_eq!(
        (rev.mti().as_str(), rev.text(90).as_deref(), rev.text(4)),
        ("0420", Some(f90.as_str()), fwd.text(4)),
        "the reversal of the forwarded request"
    );
    issuer.send(&answer(&rev, "00")).await;
    let advice = issuer.recv(WAIT).await.expect("then the advice");
    assert_eq!(advice.mti().as_str(), "0220");
    assert_eq!(
        advice.text(90).as_deref(),
        Some(f90.as_str()),
        "the advice names the reversed request"
    );
    assert_ne!(advice.stan(), fwd.stan(), "the advice has its own STAN");
    assert_ne!(advice.stan(), rev.stan());
    assert_eq!(
        (
            advice.text(39).as_deref(),
            advice.text(38).as_deref(),
            advice.text(60).as_deref(),
            advice.text(4).as_deref(),
        ),
        (
            Some("00"),
            told.auth.as_deref(),
            Some(STANDIN),
            fwd.text(4).as_deref()
        )
    );
    issuer.send(&answer(&advice, "00")).await;
    // The issuer's late answer: nothing more reaches the acquirer.
    issuer.send(&answer(&fwd, "05")).await;
    acq.expect_silence(Duration::from_millis(500), "a second answer")
        .await;
    assert!(
        wait_until(WAIT, || sw.core().saf_depth() == 0
            && sw.core().in_flight() == 0)
        .await,
        "SAF depth {}, in flight {}",
        sw.core().saf_depth(),
        sw.core().in_flight()
    );
    issuer
        .expect_silence(Duration::from_millis(300), "anything more")
        .await;
    sw.shutdown().await;
}

/// A relay between the switch and an issuer host that loses the host's answers
/// to requests (01x0, 02x0: the host never answers in time) and passes
/// everything else (sign-on, reversals' and advices' answers) both ways.
async fn losing_relay(host: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((switch_side, _)) = listener.accept().await {
            let Ok(host_side) = TcpStream::connect(host).await else {
                continue;
            };
            let codec = || FrameCodec::new(LengthHeader::Binary2, false, DEFAULT_MAX_FRAME);
            let (mut to_switch, mut from_switch) = Framed::new(switch_side, codec()).split();
            let (mut to_host, mut from_host) = Framed::new(host_side, codec()).split();
            tokio::spawn(async move {
                while let Some(Ok(frame)) = from_switch.next().await {
                    if to_host.send(frame).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let spec = Spec::builtin("iso87ascii").unwrap();
                while let Some(Ok(frame)) = from_host.next().await {
                    if let Frame::Message { body, .. } = &frame {
                        let mti = spec.decode(body.clone()).map(|m| m.mti());
                        if matches!(mti, Ok(m) if m == Mti::FINANCIAL_RESPONSE || m.as_str() == "0110")
                        {
                            continue;
                        }
                    }
                    if to_switch.send(frame).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Minor units of a tally's amount (KPW: 2 decimals).
fn minor(t: &Tally) -> i128 {
    let scale = t.amount.scale();
    let mantissa = t.amount.mantissa();
    match scale {
        0..=2 => mantissa * 10i128.pow(2 - scale),
        s => mantissa / 10i128.pow(s - 2),
    }
}

/// The whole major units of an amount.
fn whole(amount: &impl ToString) -> u64 {
    let text = amount.to_string();
    text.split('.').next().unwrap().parse().unwrap()
}

/// Active cards of `product` from the simulators' card base.
fn cards_of(base: &CardBase, product: &str) -> Vec<Card> {
    let table = national_table();
    base.cards()
        .iter()
        .filter(|c| {
            c.status == CardStatus::Active && table.products()[usize::from(c.product)].id == product
        })
        .cloned()
        .collect()
}

/// With the issuer simulator timing out (its answers lost): the acquirer is told
/// the stand-in decision, and the simulator's books end holding exactly that:
/// the forwarded requests it approved are reversed, the advices are posted once,
/// one past the card's balance (a forced post).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_simulator_timing_out_ends_with_the_books_the_acquirer_was_told() {
    bounded(simulator_timing_out()).await;
}

async fn simulator_timing_out() {
    let table = national_table();
    let sim = issuer::start(issuer_options(CENTRAL_BANK), &table)
        .await
        .unwrap();
    let relay = losing_relay(sim.addr.unwrap()).await;
    let sw = start_switch(&config(&[(CENTRAL_BANK, relay)], 400, "")).await;
    tests::wait_for_sign_on(&sw, 1, WAIT).await;
    let mut acq = Peer::connect(sw.listening["acquirer"]).await;
    let base = CardBase::generate(&table, 1, CARDS_PER_RANGE);
    let cards = cards_of(&base, "national-debit");
    // One card whose balance is below the stand-in limit: its purchase of more
    // than the balance is declined by the simulator (lost) and approved in
    // stand-in, then forced past the balance by the advice.
    let poor = cards
        .iter()
        .find(|c| whole(&c.balances[0].1) < 400_000)
        .expect("a card with less than 400,000 KPW");
    let over = whole(&poor.balances[0].1) + 1;
    let mut approved_minor: i128 = 0;
    let mut approvals = 0u64;
    let mut plan: Vec<(&str, u64)> = vec![(poor.pan_str(), over)];
    for c in cards.iter().filter(|c| c.pan != poor.pan).take(3) {
        plan.push((c.pan_str(), 250));
    }
    for (n, (card, major)) in plan.iter().enumerate() {
        let req = request(card, 600 + n as u32, *major, PURCHASE);
        let t = ask(&mut acq, &req).await;
        assert_stand_in_approval(&t, &format!("purchase {n} after the timeout"));
        approvals += 1;
        approved_minor += i128::from(*major) * 100;
    }
    let core = sw.core();
    assert!(
        wait_until(Duration::from_secs(15), || core.saf_depth() == 0).await,
        "the reversals and advices delivered (SAF depth {})",
        core.saf_depth()
    );
    let books = sim.totals();
    let net = issuer_net(&books);
    assert_eq!(
        (net.count, minor(&net)),
        (approvals, approved_minor),
        "the issuer's books net of reversals = what the acquirer was told: {books:?}"
    );
    assert_eq!(books.stand_in.advices, approvals, "{books:?}");
    assert_eq!(
        (books.stand_in.approved.count, books.stand_in.not_posted),
        (approvals, 0),
        "each advice posted once, the one past the balance too: {books:?}"
    );
    sw.shutdown().await;
    sim.stop().await.unwrap();
}

/// A 0302 from the issuer for `card`: field 91 `code`, 101 the file, 48 `reason`.
fn file_update(card: &str, stan: u32, code: &str, reason: Option<&str>) -> Message {
    let mut m = Message::new(Mti::new(b"0302").unwrap());
    m.set(2, card);
    m.set(7, "1206120000");
    m.set_stan(stan);
    m.set(91, code);
    m.set(101, "NEGATIVE");
    if let Some(r) = reason {
        m.set(48, r);
    }
    m
}

/// Send a 0302 on the issuer link; the 0312's response code.
async fn update(issuer: &mut Peer, msg: &Message) -> String {
    issuer.send(msg).await;
    let resp = issuer.recv(WAIT).await.expect("the 0312");
    assert_eq!(resp.mti().as_str(), "0312");
    assert_eq!(resp.stan(), msg.stan());
    resp.text(39).expect("field 39").into_owned()
}

/// A hot card added by 0302 is declined 41 in stand-in (62 when field 48 says
/// restricted), across a restart; a delete takes it off; a foreign card gets 14 and a bad field 91 gets 30.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_card_added_by_0302_is_declined_41_in_stand_in_across_a_restart() {
    bounded(hot_card_by_0302()).await;
}

async fn hot_card_by_0302() {
    let dir = temp_dir("hot-card");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap();
    let text = config(&[(MORNING_STAR, host)], 2000, &journal(&dir));
    let sw = start_with_keys(&text).await;
    let mut issuer = signed_on_issuer(&listener, WAIT).await;
    tests::wait_for_sign_on(&sw, 1, WAIT).await;
    let hot = pan("9408100000099");
    assert_eq!(
        update(&mut issuer, &file_update(&hot, 1, "1", None)).await,
        "00"
    );
    let restricted = pan("9408100000097");
    assert_eq!(
        update(&mut issuer, &file_update(&restricted, 5, "1", Some("62"))).await,
        "00"
    );
    assert_eq!(
        update(
            &mut issuer,
            &file_update(&pan("9408010000099"), 2, "1", None)
        )
        .await,
        "14",
        "a card of another bank"
    );
    assert_eq!(
        update(&mut issuer, &file_update(&hot, 3, "9", None)).await,
        "30",
        "a bad field 91"
    );
    // The host goes down.
    drop((issuer, listener));
    wait_unlinked(&sw).await;
    let mut acq = Peer::connect(sw.listening["acquirer"]).await;
    let t = ask(&mut acq, &request(&hot, 11, 100, PURCHASE)).await;
    assert_stand_in_decline(&t, "41", "the card added by 0302");
    let t = ask(&mut acq, &request(&restricted, 13, 100, PURCHASE)).await;
    assert_stand_in_decline(&t, "62", "the card added by 0302 as restricted");
    let other = pan("9408100000098");
    let t = ask(&mut acq, &request(&other, 12, 100, PURCHASE)).await;
    assert_stand_in_approval(&t, "a card not on the file");

    // The update survives a restart on the same journal.
    drop(acq);
    sw.shutdown().await;
    let sw = start_with_keys(&text).await;
    let mut acq = Peer::connect(sw.listening["acquirer"]).await;
    let t = ask(&mut acq, &request(&hot, 21, 100, PURCHASE)).await;
    assert_stand_in_decline(&t, "41", "the card added by 0302, after a restart");

    // The host comes up: the advices (41, 62, 00, 41), then the delete.
    let listener = TcpListener::bind(host).await.unwrap();
    let mut issuer = signed_on_issuer(&listener, REDIAL).await;
    let mut codes = Vec::new();
    while codes.len() < 4 {
        let advice = issuer.recv(WAIT).await.expect("an advice");
        assert_eq!(advice.text(60).as_deref(), Some(STANDIN));
        codes.push(advice.text(39).unwrap().into_owned());
        issuer.send(&answer(&advice, "00")).await;
    }
    codes.sort();
    assert_eq!(codes, ["00", "41", "41", "62"]);
    assert_eq!(
        update(&mut issuer, &file_update(&hot, 4, "3", None)).await,
        "00"
    );
    drop((issuer, listener));
    wait_unlinked(&sw).await;
    let t = ask(&mut acq, &request(&hot, 22, 100, PURCHASE)).await;
    assert_stand_in_approval(&t, "the card deleted from the file");
    drop(acq);
    sw.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reversal from the acquirer (0400 or 0420) of approval `orig`.
fn reversal(orig: &Message, mti: &[u8; 4], stan: u32) -> Message {
    let mut m = orig.clone();
    m.set_mti(Mti::new(mti).unwrap());
    m.set_stan(stan);
    m.set(90, &field90_naming(orig));
    m
}

/// Reversals of stand-in approvals, one before its advice is delivered (0400),
/// one after (0420): answered 00 at once, and the issuer simulator ends with
/// neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquirer_reversals_of_stand_in_approvals_before_and_after_the_advice() {
    bounded(reversals()).await;
}

async fn reversals() {
    let table = national_table();
    let host = down_host();
    let sw = start_switch(&config(&[(CENTRAL_BANK, host)], 2000, "")).await;
    let mut acq = Peer::connect(sw.listening["acquirer"]).await;
    let base = CardBase::generate(&table, 1, CARDS_PER_RANGE);
    let cards = cards_of(&base, "national-debit");
    let first = request(cards[0].pan_str(), 701, 300, PURCHASE);
    let second = request(cards[1].pan_str(), 702, 400, PURCHASE);
    for req in [&first, &second] {
        let t = ask(&mut acq, req).await;
        assert_stand_in_approval(&t, "issuer down");
    }
    // Before its advice is delivered.
    let t = ask(&mut acq, &reversal(&first, b"0400", 703)).await;
    assert_eq!(t.rc, "00", "the 0400 before the advice");

    let mut options = issuer_options(CENTRAL_BANK);
    options.listen = Some(host.to_string());
    let sim = issuer::start(options, &table).await.unwrap();
    let core = sw.core();
    assert!(
        wait_until(REDIAL + WAIT, || core.saf_depth() == 0).await,
        "advices and the reversal delivered (SAF depth {})",
        core.saf_depth()
    );
    let books = sim.totals();
    assert_eq!(
        (books.stand_in.advices, books.stand_in.reversed.count),
        (2, 1),
        "{books:?}"
    );
    // After its advice is delivered: answered at once, owed to the issuer.
    let t = ask(&mut acq, &reversal(&second, b"0420", 704)).await;
    assert_eq!(t.rc, "00", "the 0420 after the advice");
    assert!(
        wait_until(WAIT, || core.saf_depth() == 0
            && sim.totals().stand_in.reversed.count == 2)
        .await,
        "the second reversal applied: {:?}",
        sim.totals()
    );
    let books = sim.totals();
    let net = issuer_net(&books);
    assert_eq!(
        (net.count, minor(&net)),
        (0, 0),
        "books net zero: {books:?}"
    );
    sw.shutdown().await;
    sim.stop().await.unwrap();
}
