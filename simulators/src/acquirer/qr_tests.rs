//! The QR channel of `sim acquirer` against a stand-in switch on 127.0.0.1:0
//! that checks every QR payment as the real one would (token in field 2, entry
//! mode 031, field 55's cryptogram under the token's key, a fresh ATC, no
//! track 2 or PIN block), answers with the token (now and then with a PAN, to
//! prove the acquirer counts it), and drops one answer so that its reversal
//! can be checked. Bounded in messages and time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use card_security::wallet::{CodeData, CodeKey, TokenKey};
use codecs::framing::Frame;
use codecs::mti::MessageClass;
use codecs::ResponseCode;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;

use crate::messages::response_to;
use crate::wallet::{Wallet, WalletToken};
use crate::wire::LinkFormat;

use super::{execute_with_wallets, AcquirerOptions};

/// What the stand-in saw.
#[derive(Default)]
struct Seen {
    card: u64,
    qr: u64,
    /// Highest ATC per token: each code must be new.
    atc: HashMap<String, u16>,
    bad: Vec<String>,
    reversal_field2: Vec<String>,
}

const TOKENS: [&str; 3] = ["9408990000000017", "9408990000000025", "9408990000000033"];

fn key(i: usize) -> TokenKey {
    TokenKey::from_bytes([i as u8 + 0x30; 16])
}

fn wallet() -> Arc<Wallet> {
    let mut w = Wallet::new("koryo-pay", "94000000001");
    for (i, t) in TOKENS.iter().enumerate() {
        w.tokens.push(WalletToken::new(
            t.to_string(),
            *b"2812",
            key(i),
            "940800******0001".into(),
            "940800".into(),
        ));
    }
    Arc::new(w)
}

/// Check one QR request; the problems found, if any.
fn check_qr(req: &codecs::Message, seen: &mut Seen) -> Result<(), String> {
    let token = req.text(2).ok_or("no field 2")?.into_owned();
    let i = TOKENS
        .iter()
        .position(|t| *t == token)
        .ok_or("field 2 is not a token")?;
    if req.has(35) || req.has(52) {
        return Err("track 2 or PIN block sent".into());
    }
    if req.text(14).as_deref() != Some("2812") {
        return Err("field 14 is not the token's expiry".into());
    }
    let data = CodeData::from_field55(&req.get(55).ok_or("no field 55")?.bytes())
        .map_err(|e| e.to_string())?;
    if !CodeKey::new(&key(i)).verify(&data.code_input(token.as_bytes()), &data.cryptogram) {
        return Err("cryptogram does not verify".into());
    }
    let last = seen.atc.entry(token).or_insert(0);
    if data.atc <= *last {
        return Err(format!("ATC {} not above {}", data.atc, last));
    }
    *last = data.atc;
    Ok(())
}

async fn stand_in_switch() -> (SocketAddr, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = shared.clone();
            tokio::spawn(async move {
                let format = LinkFormat::from_names("iso87ascii", "binary2").unwrap();
                let (mut reader, mut writer) = format.split(stream);
                while let Some(Ok(Frame::Message { body, .. })) = reader.next().await {
                    let req = format.spec.decode(body).unwrap();
                    let mut answer = response_to(&req, ResponseCode::APPROVED);
                    {
                        let mut seen = seen.lock().unwrap();
                        if req.mti().class() == MessageClass::Reversal {
                            seen.reversal_field2
                                .push(req.text(2).unwrap_or_default().into_owned());
                        } else if req.text(22).as_deref() == Some("031") {
                            seen.qr += 1;
                            if let Err(e) = check_qr(&req, &mut seen) {
                                seen.bad.push(e);
                            }
                            match seen.qr {
                                // Dropped: the acquirer times out and reverses it.
                                5 => continue,
                                // A PAN where the token belongs: a leak to count.
                                7 => answer.set(2, "9408000000000018"),
                                _ => {}
                            }
                        } else {
                            seen.card += 1;
                        }
                    }
                    let out = format.encode(&answer).unwrap();
                    if writer
                        .send(Frame::Message {
                            tpdu: None,
                            body: out,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn qr_payments_carry_tokens_and_codes_and_are_counted_by_app() {
    let run = async {
        let (addr, seen) = stand_in_switch().await;
        let mut options = AcquirerOptions::defaults(&addr.to_string(), "940857").unwrap();
        options.rules = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../routing-rules/rules/national.toml"
        )
        .into();
        options.cards_per_range = 20;
        options.count = Some(200);
        options.concurrency = Some(4);
        options.timeout_ms = 300;
        let qr_run = super::qr::QrRun {
            wallets: vec![wallet()],
            share: 0.4,
            part: Default::default(),
        };
        let report = execute_with_wallets(&options, None, None, Some(qr_run), false)
            .await
            .unwrap();
        let seen = seen.lock().unwrap();
        assert!(seen.bad.is_empty(), "{:?}", seen.bad);
        let ch = &report.stats.channels;
        assert_eq!(ch.qr.sent, seen.qr);
        assert_eq!(ch.card.sent, seen.card);
        assert_eq!(ch.qr.sent + ch.card.sent, 200);
        // About 40 % by QR (a binomial draw of 200: well inside 25-55 %).
        assert!((50..=110).contains(&ch.qr.sent), "{}", ch.qr.sent);
        assert_eq!(ch.qr.answered, ch.qr.sent - 1);
        assert_eq!(ch.qr_by_app.len(), 1);
        assert_eq!(ch.qr_by_app[0], ch.qr);
        assert_eq!(ch.qr_field2_violations, 1);
        // The dropped QR payment was reversed with its token: the acquirer knows no PAN.
        assert_eq!(seen.reversal_field2.len(), 1);
        assert!(
            TOKENS.contains(&seen.reversal_field2[0].as_str()),
            "{:?}",
            seen.reversal_field2
        );
        assert_eq!(report.apps, ["koryo-pay"]);
        let json = report.to_json();
        assert_eq!(
            json["channels"]["qr"]["by_app"]["koryo-pay"]["sent"],
            ch.qr.sent
        );
        assert_eq!(json["channels"]["qr"]["field2_violations"], 1);
        assert!(report.to_text().contains("app koryo-pay: sent"));
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap();
}

/// Without wallets the card traffic is what it was: the same draws.
#[test]
fn card_draws_do_not_change_without_qr() {
    use super::traffic::{Mix, PlanOptions, TrafficPlan};
    let table = super::traffic::tests::national();
    let cards = Arc::new(crate::cards::CardBase::generate(&table, 1, 20));
    let options = PlanOptions {
        issuers: Vec::new(),
        mix: Mix::parse("purchase=70,cash=20,balance=10").unwrap(),
        invalid_rate: 0.1,
        currency: None,
        seed: 9,
    };
    let plain = TrafficPlan::new(&table, cards.clone(), &options).unwrap();
    let mut with_zero = TrafficPlan::new(&table, cards, &options).unwrap();
    with_zero
        .set_qr(super::qr::QrPlan::new(&table, vec![wallet()], Default::default(), 0.0).unwrap());
    let (mut a, mut b) = (plain.generator(0), with_zero.generator(0));
    for _ in 0..500 {
        assert_eq!(a.next(&plain), b.next(&with_zero));
    }
}

/// `--wallet`, `--qr-share`, `--wallet-part` on the command line: the files
/// are read, the share and part kept, and the counters saved back only when
/// the acquirer used whole wallets.
#[test]
fn command_line_wallet_options() {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: super::AcquirerArgs,
    }
    let dir = std::env::temp_dir().join(format!("acq-wallet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.json");
    wallet().save(&path).unwrap();
    let parse = |extra: &[&str]| {
        let mut argv = vec!["sim", "--connect", "127.0.0.1:1", "--bank", "940857"];
        argv.extend_from_slice(extra);
        <Cli as clap::Parser>::try_parse_from(argv).unwrap().args.qr
    };
    let file = path.to_str().unwrap();
    let split = parse(&[
        "--wallet",
        file,
        "--qr-share",
        "0.5",
        "--wallet-part",
        "1/2",
    ]);
    let wallets = split.load().unwrap();
    let run = split.run(&wallets).unwrap();
    assert_eq!((run.share, run.part.part, run.part.of), (0.5, 1, 2));
    wallets[0].next_payload(0).unwrap();
    split.save(&wallets).unwrap();
    assert_eq!(
        Wallet::load(&path).unwrap().tokens[0].next_atc(),
        1,
        "a part never writes"
    );
    let whole = parse(&["--wallet", file]);
    let wallets = whole.load().unwrap();
    assert_eq!(whole.run(&wallets).unwrap().share, 1.0);
    wallets[0].next_payload(0).unwrap();
    whole.save(&wallets).unwrap();
    assert_eq!(Wallet::load(&path).unwrap().tokens[0].next_atc(), 2);
    assert!(parse(&[]).run(&[]).is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}
