//! The acquirer-side session on its own, without sockets: which case a message
//! is taken for, what is answered, and what fails a case.

use std::time::Duration;

use codecs::{Message, Mti};
use rust_decimal::Decimal;

use super::acquirer::Session;
use super::script::{acquirer_case as case, AcquirerScript, HostSends, NO_ANSWER};
use crate::cards::{Card, CardStatus};
use crate::clock::now_fields;
use crate::messages::{network_request, request, reversal_for, RequestParams, TxnKind};

fn purchase(stan: u32, minor: i64) -> Message {
    let card = Card {
        pan: *b"9408010000001238",
        expiry: *b"2912",
        status: CardStatus::Active,
        issuer: 0,
        product: 0,
        balances: vec![(408, Decimal::from(100_000))],
        daily_cash_limit: Decimal::from(1_000),
    };
    request(&RequestParams {
        mti: Mti::FINANCIAL_REQUEST,
        card: &card,
        kind: TxnKind::Purchase,
        amount: Decimal::new(minor, 2),
        currency: 408,
        stan,
        rrn: &format!("{stan:012}"),
        acquirer: "940830",
        terminal: "TERM0001",
        merchant: "MERCHANT0000001",
        when: now_fields(),
    })
}

fn rc(answer: Option<Message>) -> String {
    answer
        .and_then(|a| a.response_code().map(|c| c.into_owned()))
        .unwrap_or_else(|| "none".into())
}

#[test]
fn a_skipped_case_fails_alone_and_each_case_gets_its_answer() {
    let script = AcquirerScript {
        cases: vec![
            case("sign-on", HostSends::SignOn, None, "00"),
            case("first", HostSends::Purchase, Some(100), "00"),
            case("second", HostSends::Purchase, Some(200), "51"),
        ],
    };
    let mut s = Session::new(&script);
    let signed_on = s.on_message(&network_request("001", 1, &now_fields()), None);
    assert_eq!(rc(signed_on), "00");
    // The host skips "first": its purchase of 2.00 is "second" all the same.
    assert_eq!(rc(s.on_message(&purchase(2, 200), None)), "51");
    assert!(!s.done());
    let report = s.finish(Duration::ZERO);
    assert!(report.case("sign-on").unwrap().passed());
    assert!(
        report.case("second").unwrap().passed(),
        "{}",
        report.to_text()
    );
    assert_eq!(
        report.case("first").unwrap().findings,
        ["its message never came"]
    );
}

#[test]
fn a_timeout_wants_a_reversal_then_a_repeat() {
    let script = AcquirerScript {
        cases: vec![case("timeout", HostSends::Purchase, None, NO_ANSWER)],
    };
    let original = purchase(1, 500);
    let first = reversal_for(&original, 2, &now_fields()).unwrap();
    let mut repeat = first.clone();
    repeat.set_mti(Mti::REVERSAL_ADVICE_REPEAT);

    let mut s = Session::new(&script);
    assert!(s.on_message(&original, None).is_none(), "no answer");
    assert!(
        s.on_message(&first, None).is_none(),
        "the first reversal left unanswered"
    );
    let ack = s.on_message(&repeat, None).unwrap();
    assert_eq!(
        (ack.mti(), rc(Some(ack.clone()))),
        (Mti::REVERSAL_ADVICE_RESPONSE, "00".into())
    );
    assert!(s.done());
    assert!(s.finish(Duration::ZERO).passed());

    // A second 0420 instead of the repeat, without field 90: found by its RRN.
    let mut s = Session::new(&script);
    s.on_message(&original, None);
    let mut bare = first.clone();
    bare.remove(90);
    assert!(s.on_message(&bare, None).is_none());
    assert!(s.on_message(&bare, None).is_some());
    let report = s.finish(Duration::ZERO);
    let findings = &report.case("timeout").unwrap().findings;
    assert!(
        findings
            .iter()
            .any(|f| f.starts_with("0420: field 90 missing")),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f.contains("instead of a repeat (0421)")),
        "{findings:?}"
    );
    assert!(
        findings.iter().all(|f| !f.contains("9408010000001238")),
        "{findings:?}"
    );
}
