//! The app channel in the core: enrolment (the rules, the issuer's account
//! verification, the token kept before the app hears of it), QR payments (the
//! checks, the swap token -> card toward the issuer and back toward the
//! acquirer), and the token's life (suspension, deletion, reversals after them).

use card_security::wallet::{CodeInput, CodeKey, QrPayload, TokenKey, QR_ENTRY_MODE};

use super::*;
use crate::core::tokens::{
    Caller, EnrolOutcome, EnrolRequest, LifecycleOp, SecretPan, TokenSecret, TokenSeed, TokenStatus,
};

const KORYO: &str = "94000000001";
const JONSONG: &str = "94000000002";

fn enrol_request(id: u64, app: &str, pan: &str, seed: u64) -> EnrolRequest {
    EnrolRequest {
        id,
        app: app.into(),
        pan: SecretPan::new(pan).unwrap(),
        expiry: *b"2912",
        seed: TokenSeed {
            number: seed,
            key: TokenSecret::from_bytes([seed as u8; 16]),
        },
        unix_ms: 1_795_602_600_000,
    }
}

fn outcome(actions: &[Action]) -> Option<&EnrolOutcome> {
    actions.iter().find_map(|a| match a {
        Action::EnrolmentDone { outcome, .. } => Some(&**outcome),
        _ => None,
    })
}

/// A token for a national debit card, issued to `app` (the issuer approves the
/// account verification with 85).
fn enrolled(h: &Harness, app: &str, seed: u64) -> (String, CodeKey, String) {
    let actions = h.core.enrol(
        Millis(1),
        enrol_request(seed, app, &pan("9408010000001"), seed),
    );
    let av = one_to(&actions, ISS);
    assert_eq!(av.mti(), Mti::AUTH_REQUEST);
    assert_eq!(av.text(4).unwrap(), "000000000000");
    assert_eq!(av.text(25).unwrap(), "51");
    assert!(outcome(&actions).is_none(), "waits for the issuer");
    let answered = h.core.on_message(
        Millis(2),
        ISS,
        issuer_answer(&av, ResponseCode::new("85").unwrap()),
    );
    // The token is kept before the app hears of it.
    let put = answered
        .iter()
        .position(|a| matches!(a, Action::Store(StoreOp::TokenPut(_))))
        .expect("the token kept");
    let barrier = answered
        .iter()
        .position(|a| matches!(a, Action::SafBarrier))
        .expect("a barrier");
    let done = answered
        .iter()
        .position(|a| matches!(a, Action::EnrolmentDone { .. }))
        .expect("the outcome");
    assert!(put < barrier && barrier < done, "{answered:?}");
    let Some(EnrolOutcome::Enrolled { view, key }) = outcome(&answered) else {
        panic!("not enrolled: {answered:?}");
    };
    assert!(view.token.starts_with("940899"));
    assert!(codecs::luhn::luhn_valid(view.token.as_bytes()));
    assert_eq!(view.status, TokenStatus::Active);
    let requestor = view.requestor_id.clone();
    let key = CodeKey::new(&TokenKey::from_bytes(*key.expose()));
    let mut expiry = [0u8; 4];
    expiry.copy_from_slice(view.token_expiry.as_bytes());
    EXPIRY.with(|e| e.set(expiry));
    (view.token.clone(), key, requestor)
}

thread_local! {
    /// The expiry of the tokens issued in this test (they all share one).
    static EXPIRY: std::cell::Cell<[u8; 4]> = const { std::cell::Cell::new(*b"0000") };
}

/// A QR payment of 1,500.00 KPW with `token` at counter `atc`, its code
/// computed with `key` for requestor `requestor`.
fn qr_purchase(stan: u32, token: &str, key: &CodeKey, requestor: &str, atc: u16) -> Message {
    let input = CodeInput {
        token: token.as_bytes(),
        expiry: EXPIRY.with(|e| e.get()),
        atc,
        unpredictable: 0x1234_5678 ^ u32::from(atc),
        requestor_id: requestor.as_bytes(),
    };
    let code = QrPayload::sign(key, &input);
    let mut m = purchase(stan, "000000");
    m.set(2, token);
    m.set(14, std::str::from_utf8(&input.expiry).unwrap());
    m.set(22, QR_ENTRY_MODE);
    m.set_binary(55, &code.field55());
    m
}

#[test]
fn an_enrolment_checks_the_card_with_its_issuer_and_issues_a_token() {
    let h = Harness::new();
    let (token, _, requestor) = enrolled(&h, "koryo-pay", 7);
    assert_eq!(requestor, KORYO);
    let view = h
        .core
        .token_view(&Caller::App("koryo-pay".into()), &token)
        .unwrap();
    assert_eq!(view.pan_last4.len(), 4);
    // Another app does not see it; the card's issuer does.
    assert!(h
        .core
        .token_view(&Caller::App("jonsong".into()), &token)
        .is_err());
    assert!(h
        .core
        .token_view(&Caller::Bank("940800".into()), &token)
        .is_ok());
}

#[test]
fn an_enrolment_the_issuer_declines_or_the_rules_refuse_issues_no_token() {
    let h = Harness::new();
    let actions = h.core.enrol(
        Millis(1),
        enrol_request(1, "koryo-pay", &pan("9408010000002"), 1),
    );
    let av = one_to(&actions, ISS);
    let answered = h.core.on_message(
        Millis(2),
        ISS,
        issuer_answer(&av, ResponseCode::RESTRICTED_CARD),
    );
    assert!(matches!(
        outcome(&answered),
        Some(EnrolOutcome::Declined { response_code }) if response_code.as_str() == "62"
    ));
    assert_eq!(h.core.token_count(), 0);
    // Manmulsang joined only the Central Bank: a Morning Star card is refused
    // by rule before any issuer is asked.
    let refused = h.core.enrol(
        Millis(3),
        enrol_request(2, "manmulsang", &pan("9408100000001"), 2),
    );
    assert!(sends(&refused).is_empty());
    match outcome(&refused) {
        Some(EnrolOutcome::NotPermitted {
            response_code,
            rule,
        }) => {
            assert_eq!(response_code.as_str(), "57");
            assert_eq!(rule.as_deref(), Some("app-accepts-joined-banks"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_qr_payment_reaches_the_issuer_with_the_card_and_the_acquirer_with_the_token() {
    let h = Harness::new();
    let (token, key, requestor) = enrolled(&h, "koryo-pay", 9);
    let card = pan("9408010000001");
    let actions = h.acquire(Millis(10), qr_purchase(50, &token, &key, &requestor, 1));
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::Store(StoreOp::TokenAtc { atc, .. }) if atc.high == 1)));
    let fwd = one_to(&actions, ISS);
    assert_eq!(fwd.text(2).unwrap(), card);
    assert_eq!(fwd.text(14).unwrap(), "2912");
    assert!(!fwd.has(55), "the code means nothing to the issuer");
    assert_eq!(fwd.text(48).unwrap(), format!("TK016{token}AP011{KORYO}"));
    let records = records(&actions);
    assert_eq!(records[0].channel, routing_rules::Channel::WalletQr);
    assert_eq!(records[0].app.as_deref(), Some("koryo-pay"));
    let mut answer = issuer_answer(&fwd, ResponseCode::APPROVED);
    answer.set(48, "TK016XXXX");
    let answered = h.core.on_message(Millis(20), ISS, answer);
    let resp = one_to(&answered, ACQ);
    assert_eq!(rc(&resp), "00");
    assert_eq!(resp.text(2).unwrap(), token);
    assert!(!resp.has(48));
    for n in resp.field_numbers() {
        if let Some(text) = resp.text(n) {
            assert!(!text.contains(&card), "field {n} carries the card");
        }
    }
}

#[test]
fn replayed_counters_foreign_codes_and_wrong_domains_are_refused() {
    let h = Harness::new();
    let (token, key, requestor) = enrolled(&h, "koryo-pay", 11);
    let (other_token, other_key, _) = enrolled(&h, "koryo-pay", 12);
    assert_ne!(token, other_token);
    let first = h.acquire(Millis(10), qr_purchase(60, &token, &key, &requestor, 5));
    assert!(sends(&first).iter().any(|(l, _)| *l == ISS));
    let cases: [(u32, Message, &str); 5] = [
        // The same counter again.
        (61, qr_purchase(61, &token, &key, &requestor, 5), "63"),
        // Another token's key.
        (62, qr_purchase(62, &token, &other_key, &requestor, 6), "63"),
        // Presented under another app's requestor id.
        (63, qr_purchase(63, &token, &key, JONSONG, 7), "58"),
        // Keyed at a terminal.
        (
            64,
            {
                let mut m = qr_purchase(64, &token, &key, &requestor, 8);
                m.set(22, "011");
                m
            },
            "58",
        ),
        // Without its code.
        (
            65,
            {
                let mut m = qr_purchase(65, &token, &key, &requestor, 9);
                m.remove(55);
                m
            },
            "30",
        ),
    ];
    for (stan, msg, expected) in cases {
        let actions = h.acquire(Millis(20 + u64::from(stan)), msg);
        let resp = one_to(&actions, ACQ);
        assert_eq!(rc(&resp), expected, "case {stan}");
        assert_eq!(resp.text(2).unwrap(), token);
        assert!(
            sends(&actions).iter().all(|(l, _)| *l == ACQ),
            "case {stan} forwarded"
        );
    }
    let events = h.core.stats().security_events;
    assert_eq!(events.get("token counter replayed"), Some(&1));
    assert_eq!(events.get("token cryptogram wrong"), Some(&1));
    assert_eq!(events.get("token outside its domain"), Some(&2));
    // A QR entry with a card number is no app payment.
    let mut card_by_qr = purchase(70, "000000");
    card_by_qr.set(22, QR_ENTRY_MODE);
    assert_eq!(rc(&one_to(&h.acquire(Millis(90), card_by_qr), ACQ)), "58");
}

#[test]
fn suspended_and_deleted_tokens_decline_but_their_reversals_still_reach_the_card() {
    let h = Harness::new();
    let (token, key, requestor) = enrolled(&h, "koryo-pay", 13);
    let app = Caller::App("koryo-pay".into());
    let paid = h.acquire(Millis(10), qr_purchase(80, &token, &key, &requestor, 1));
    let fwd = one_to(&paid, ISS);
    h.core
        .on_message(Millis(11), ISS, issuer_answer(&fwd, ResponseCode::APPROVED));

    let (result, kept) =
        h.core
            .change_token(&Caller::Bank("940800".into()), &token, LifecycleOp::Suspend);
    assert_eq!(result.unwrap().status.name(), "suspended");
    assert!(kept
        .iter()
        .any(|a| matches!(a, Action::Store(StoreOp::TokenStatus { .. }))));
    let declined = h.acquire(Millis(20), qr_purchase(81, &token, &key, &requestor, 2));
    assert_eq!(rc(&one_to(&declined, ACQ)), "62");
    // The app cannot lift the issuer's suspension.
    assert!(h
        .core
        .change_token(&app, &token, LifecycleOp::Resume)
        .0
        .is_err());
    assert!(h
        .core
        .change_token(&Caller::Bank("940800".into()), &token, LifecycleOp::Resume)
        .0
        .is_ok());
    assert!(h
        .core
        .change_token(&app, &token, LifecycleOp::Delete)
        .0
        .is_ok());
    let declined = h.acquire(Millis(30), qr_purchase(82, &token, &key, &requestor, 3));
    assert_eq!(rc(&one_to(&declined, ACQ)), "14");

    // The acquirer reverses the first payment: it reaches the card's issuer.
    let mut reversal = qr_purchase(83, &token, &key, &requestor, 1);
    reversal.set_mti(Mti::REVERSAL_REQUEST);
    reversal.remove(55);
    reversal.set(
        90,
        &format!("0200{:06}{}{:0>11}{:0>11}", 80, "1125103000", "940810", ""),
    );
    let actions = h.acquire(Millis(40), reversal);
    let fwd = one_to(&actions, ISS);
    assert_eq!(fwd.mti(), Mti::REVERSAL_REQUEST);
    assert_eq!(fwd.text(2).unwrap(), pan("9408010000001"));
}

#[test]
fn a_timed_out_token_payment_answers_91_with_the_token_and_reverses_the_card() {
    let h = Harness::new();
    let (token, key, requestor) = enrolled(&h, "koryo-pay", 14);
    let paid = h.acquire(Millis(10), qr_purchase(90, &token, &key, &requestor, 1));
    one_to(&paid, ISS);
    let actions = h.core.on_tick(Millis(10_010));
    let resp = one_to(&actions, ACQ);
    assert_eq!(rc(&resp), "91");
    assert_eq!(resp.text(2).unwrap(), token);
    assert_eq!(
        h.saf().depth(),
        1,
        "the card's payment is reversed at its issuer"
    );
}

#[test]
fn an_enrolment_whose_issuer_is_silent_ends_unavailable() {
    let h = Harness::new();
    let actions = h.core.enrol(
        Millis(0),
        enrol_request(3, "koryo-pay", &pan("9408010000003"), 3),
    );
    one_to(&actions, ISS);
    let lapsed = h.core.on_tick(Millis(10_000));
    assert!(matches!(
        outcome(&lapsed),
        Some(EnrolOutcome::Unavailable { response_code }) if response_code.as_str() == "91"
    ));
    assert_eq!(h.saf().depth(), 0, "an account verification moves no money");
}

#[test]
fn a_token_payment_declined_before_its_issuer_keeps_its_channel_and_app() {
    let h = Harness::new();
    let (token, key, requestor) = enrolled(&h, "koryo-pay", 15);
    h.core.on_link_down(Millis(5), ISS);
    let actions = h.acquire(Millis(10), qr_purchase(95, &token, &key, &requestor, 1));
    let resp = one_to(&actions, ACQ);
    assert_eq!(
        (rc(&resp), resp.text(2).unwrap().into_owned()),
        ("91".into(), token.clone())
    );
    let records = records(&actions);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].channel, routing_rules::Channel::WalletQr);
    assert_eq!(records[0].app.as_deref(), Some("koryo-pay"));
    // A PIN block on a token payment is refused (the app verifies its user).
    let mut with_pin = qr_purchase(96, &token, &key, &requestor, 2);
    with_pin.set_binary(52, &[0x11; 8]);
    assert_eq!(rc(&one_to(&h.acquire(Millis(11), with_pin), ACQ)), "58");
}

#[test]
fn an_enrolment_owes_no_reversal_at_a_restart() {
    let h = Harness::new();
    let actions = h.core.enrol(
        Millis(0),
        enrol_request(4, "koryo-pay", &pan("9408010000004"), 4),
    );
    let forwarded = records(&actions);
    assert_eq!(forwarded.len(), 1);
    assert!(
        forwarded[0].forwarded.is_none(),
        "no reversal source for an account verification"
    );
}
