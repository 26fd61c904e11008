//! Onboarding a bank host, end to end over loopback: the card catalogue is what
//! a real `sim issuer` approves and declines (also when served from a file),
//! and `sim certify` passes our own simulators in both directions while each
//! known defect (`--defect`) fails the case named for it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::time::Duration;

use codecs::{Message, Mti};
use rust_decimal::Decimal;
use simulators::acquirer::scripted::{run_script, AcquirerDefect, ScriptOptions};
use simulators::cards::{Card, CardStatus};
use simulators::catalogue::{self, file};
use simulators::certify::link::Conversation;
use simulators::certify::report::Report;
use simulators::certify::script::{AcquirerScript, IssuerScript};
use simulators::certify::{acquirer, issuer as certify_issuer};
use simulators::clock::now_fields;
use simulators::issuer::defects::IssuerDefect;
use simulators::issuer::{self, OnboardingOptions, RunningIssuer};
use simulators::messages::{request, RequestParams, TxnKind};
use simulators::wire::LinkFormat;
use tests::{acquirer_options, issuer_options, national_table, CARDS_PER_RANGE};

const ISSUER: &str = "940810"; // Morning Star Commercial Bank
const ACQUIRER: &str = "940830";
/// Every run here is over well within this (a bound, not a pause).
const RUN_LIMIT: Duration = Duration::from_secs(60);

fn format() -> LinkFormat {
    LinkFormat::from_names("iso87ascii", "binary2").unwrap()
}

async fn start_issuer(onboarding: OnboardingOptions) -> RunningIssuer {
    let stand_in = issuer::StandInOptions {
        stand_in_field: 60,
        stand_in_value: "STANDIN".into(),
    };
    issuer::start_onboarding(
        issuer_options(ISSUER),
        &national_table(),
        None,
        None,
        stand_in.indicator(),
        &onboarding,
    )
    .await
    .unwrap_or_else(|e| panic!("issuer: {e}"))
}

fn defects(list: &[IssuerDefect]) -> OnboardingOptions {
    OnboardingOptions {
        cards: None,
        defect: list.to_vec(),
    }
}

async fn connect(iss: &RunningIssuer) -> Conversation {
    let stream = tokio::net::TcpStream::connect(iss.addr.unwrap())
        .await
        .unwrap();
    Conversation::new(format(), stream)
}

/// The response code a real issuer gives `card` for a 0200 of `amount`.
async fn answer(
    link: &mut Conversation,
    card: &Card,
    kind: TxnKind,
    amount: Decimal,
    stan: u32,
) -> String {
    let msg: Message = request(&RequestParams {
        mti: Mti::FINANCIAL_REQUEST,
        card,
        kind,
        amount,
        currency: card.home_currency(),
        stan,
        rrn: &format!("{stan:012}"),
        acquirer: ACQUIRER,
        terminal: "TERM0001",
        merchant: "MERCHANT0000001",
        when: now_fields(),
    });
    let got = link
        .exchange(&msg, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("an answer");
    got.msg.response_code().unwrap().into_owned()
}

fn home_balance(card: &Card) -> Decimal {
    card.balances[0].1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_is_what_the_issuer_approves_and_declines() {
    let table = national_table();
    let banks = catalogue::holders(&table, ISSUER, &[]).unwrap();
    let cards = catalogue::generated(&table, &banks, 1, CARDS_PER_RANGE);
    let iss = start_issuer(OnboardingOptions::default()).await;
    let mut link = connect(&iss).await;
    let of = |status| cards.iter().filter(move |c: &&Card| c.status == status);
    let small = Decimal::new(1000, 2);
    let mut stan = 0;
    let mut next = || {
        stan += 1;
        stan
    };
    for card in of(CardStatus::Blocked).take(3) {
        assert_eq!(
            answer(&mut link, card, TxnKind::Purchase, small, next()).await,
            "62"
        );
    }
    for card in of(CardStatus::Expired).take(3) {
        assert_eq!(
            answer(&mut link, card, TxnKind::Purchase, small, next()).await,
            "54"
        );
    }
    let active: Vec<&Card> = of(CardStatus::Active).take(6).collect();
    for card in &active[..2] {
        assert_eq!(
            answer(&mut link, card, TxnKind::Purchase, small, next()).await,
            "00"
        );
        let over = home_balance(card).trunc() + Decimal::ONE;
        assert_eq!(
            answer(&mut link, card, TxnKind::Purchase, over, next()).await,
            "51"
        );
    }
    let rich = of(CardStatus::Active)
        .find(|c| home_balance(c) > c.daily_cash_limit + Decimal::TWO)
        .expect("a card richer than its cash limit");
    let over_limit = rich.daily_cash_limit + Decimal::ONE;
    assert_eq!(
        answer(&mut link, rich, TxnKind::Cash, over_limit, next()).await,
        "61"
    );
    iss.stop().await.unwrap();

    // Served from a file: the cards listed, and only those.
    let dir = std::env::temp_dir().join(format!("certify-cards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cards.csv");
    let listed: Vec<Card> = vec![
        active[2].clone(),
        of(CardStatus::Blocked).next().unwrap().clone(),
    ];
    std::fs::write(&path, file::to_csv(&table, &listed)).unwrap();
    let iss = start_issuer(OnboardingOptions {
        cards: Some(path.clone()),
        defect: Vec::new(),
    })
    .await;
    let mut link = connect(&iss).await;
    assert_eq!(
        answer(&mut link, &listed[0], TxnKind::Purchase, small, 1).await,
        "00"
    );
    assert_eq!(
        answer(&mut link, &listed[1], TxnKind::Purchase, small, 2).await,
        "62"
    );
    assert_eq!(
        answer(&mut link, active[3], TxnKind::Purchase, small, 3).await,
        "14"
    );
    iss.stop().await.unwrap();

    // A bad line is refused with its number and field, without the PAN.
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(",active,", ",lost,");
    std::fs::write(&path, text).unwrap();
    let mut opts = issuer_options(ISSUER);
    opts.cards_per_range = 1;
    let refused = issuer::start_onboarding(
        opts,
        &table,
        None,
        None,
        Default::default(),
        &OnboardingOptions {
            cards: Some(path.clone()),
            defect: Vec::new(),
        },
    )
    .await
    .err()
    .expect("refused");
    assert!(refused.contains("line 2, field status"), "{refused}");
    assert!(!refused.contains(listed[0].pan_str()), "{refused}");
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn certify_issuer_host(onboarding: OnboardingOptions) -> Report {
    let table = national_table();
    let banks = catalogue::holders(&table, ISSUER, &[]).unwrap();
    let cards = catalogue::generated(&table, &banks, 1, CARDS_PER_RANGE);
    let iss = start_issuer(onboarding).await;
    let mut link = connect(&iss).await;
    let run = certify_issuer::IssuerRun {
        cards: &cards,
        acquirer: ACQUIRER,
        limit: Duration::from_millis(500),
    };
    let report = tokio::time::timeout(RUN_LIMIT, run.certify(&mut link, &IssuerScript::default()))
        .await
        .expect("bounded");
    iss.stop().await.unwrap();
    eprintln!("{}", report.to_text());
    report
}

fn failed_with(report: &Report, case: &str, finding: &str) {
    let result = report
        .case(case)
        .unwrap_or_else(|| panic!("no case {case}"));
    assert!(
        result.findings.iter().any(|f| f.contains(finding)),
        "{case} should fail with {finding:?}:\n{}",
        report.to_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_issuer_passes_certification_and_each_defect_fails_its_case() {
    let report = certify_issuer_host(OnboardingOptions::default()).await;
    assert!(report.passed(), "{}", report.to_text());
    assert_eq!(report.cases.len(), IssuerScript::default().cases.len());

    let report = certify_issuer_host(defects(&[IssuerDefect::DropField37])).await;
    assert!(!report.passed());
    failed_with(&report, "purchase-approved", "field 37 not echoed");
    // Sign-on and echo carry no field 37: they still pass.
    assert!(
        report.case("echo").unwrap().passed(),
        "{}",
        report.to_text()
    );

    let report = certify_issuer_host(defects(&[IssuerDefect::IgnoreReversals])).await;
    failed_with(&report, "reversal", "no 0410 to the 0400 within 500 ms");
    failed_with(&report, "reversal-advice", "no 0430 to the 0420");
    assert!(
        report.case("purchase-approved").unwrap().passed(),
        "{}",
        report.to_text()
    );
    assert!(
        report.case("duplicate").unwrap().passed(),
        "{}",
        report.to_text()
    );
}

/// `sim certify acquirer` against `sim acquirer --script` with `defects`.
async fn certify_acquirer_host(defects: &[AcquirerDefect]) -> (Report, Vec<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let script = AcquirerScript::default();
    let fmt = format();
    // A short host timeout: the timeout case is over in about a second.
    let opts = acquirer_options(addr, ACQUIRER, &[ISSUER], 1, 1, 1, 300);
    let options = ScriptOptions {
        script: Some("default".into()),
        defect: defects.to_vec(),
    };
    let (report, host) = tokio::time::timeout(RUN_LIMIT, async {
        tokio::join!(
            acquirer::certify(listener, &script, &fmt, Duration::from_secs(20)),
            run_script(&opts, None, &options)
        )
    })
    .await
    .expect("bounded");
    let host = host.unwrap();
    eprintln!("{}\n{}", host.join("\n"), report.to_text());
    (report, host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_acquirer_passes_certification_and_each_defect_fails_its_case() {
    let (report, host) = certify_acquirer_host(&[]).await;
    assert!(report.passed(), "{}", report.to_text());
    assert!(report.unexpected.is_empty(), "{:?}", report.unexpected);
    // The timeout case: the request, the unanswered 0420, the answered 0421.
    let timeout: Vec<_> = host
        .iter()
        .filter(|l| l.starts_with("purchase-timeout:"))
        .collect();
    assert_eq!(timeout.len(), 3, "{timeout:?}");
    assert!(
        timeout[2].contains("0421") && timeout[2].contains("0430 RC 00"),
        "{timeout:?}"
    );

    let (report, _) = certify_acquirer_host(&[AcquirerDefect::NoField90]).await;
    failed_with(&report, "purchase-timeout", "field 90 missing");
    failed_with(&report, "purchase-cancelled", "field 90 missing");
    assert!(
        report.case("purchase-approved").unwrap().passed(),
        "{}",
        report.to_text()
    );

    let (report, _) = certify_acquirer_host(&[AcquirerDefect::ReuseStan]).await;
    failed_with(&report, "purchase-declined-51", "STAN");
    assert!(
        report.case("purchase-approved").unwrap().passed(),
        "{}",
        report.to_text()
    );
}
