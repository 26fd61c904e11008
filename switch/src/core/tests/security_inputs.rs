//! The driver's verdicts on authenticity as inputs: a request with a bad MAC or
//! an institution not bound to the peer's certificate is answered 63 and
//! journaled; an issuer's answer with a bad MAC is dropped (its request times
//! out); network management is only answered.

use super::*;
use crate::security::message::MacFailure;

#[test]
fn a_request_with_a_bad_mac_is_answered_63_and_journaled() {
    let h = Harness::new();
    let actions = h.core.on_message_with(
        Millis(1),
        ACQ,
        purchase(1, "000000"),
        Verdict::BadMac(MacFailure::Mismatch(64)),
    );
    assert_eq!(rc(&one_to(&actions, ACQ)), "63");
    assert!(sends(&actions).iter().all(|(l, _)| *l == ACQ));
    let journaled = records(&actions);
    assert_eq!(journaled.len(), 1);
    assert_eq!(journaled[0].state, FinalState::Declined);
    assert_eq!(&*journaled[0].response_code, "63");
    assert_eq!(h.core.stats().security_events.get("mac mismatch"), Some(&1));
    assert_eq!(h.core.in_flight(), 0);
}

#[test]
fn a_missing_mac_and_an_unbound_institution_are_refused_alike() {
    let h = Harness::new();
    for (stan, verdict, event) in [
        (1, Verdict::BadMac(MacFailure::Missing(64)), "mac missing"),
        (
            2,
            Verdict::UnboundInstitution { field: 32 },
            "identity mismatch",
        ),
    ] {
        let actions = h
            .core
            .on_message_with(Millis(1), ACQ, purchase(stan, "000000"), verdict);
        assert_eq!(rc(&one_to(&actions, ACQ)), "63");
        assert_eq!(journal(&actions), [FinalState::Declined]);
        assert_eq!(h.core.stats().security_events.get(event), Some(&1));
    }
    // An authentic one goes through.
    let actions = h
        .core
        .on_message_with(Millis(2), ACQ, purchase(3, "000000"), Verdict::Ok);
    assert_eq!(one_to(&actions, ISS).mti(), Mti::FINANCIAL_REQUEST);
}

#[test]
fn an_answer_with_a_bad_mac_is_dropped_and_its_request_times_out() {
    let h = Harness::new();
    let fwd = one_to(&h.acquire(Millis(1), purchase(1, "000000")), ISS);
    let answer = issuer_answer(&fwd, ResponseCode::APPROVED);
    let actions = h.core.on_message_with(
        Millis(5),
        ISS,
        answer,
        Verdict::BadMac(MacFailure::Mismatch(64)),
    );
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(h.core.in_flight(), 1);
    let actions = h.core.on_tick(Millis(10_001));
    assert_eq!(rc(&one_to(&actions, ACQ)), "91");
    assert_eq!(h.saf().depth(), 1, "the reversal is owed");
}

#[test]
fn a_network_request_with_a_bad_mac_is_answered_63_unjournaled() {
    let h = Harness::new();
    let mut echo = Message::new(Mti::NETWORK_REQUEST);
    echo.set(7, "1125103000");
    echo.set_stan(9);
    echo.set(70, "301");
    let actions = h.core.on_message_with(
        Millis(1),
        ACQ,
        echo,
        Verdict::BadMac(MacFailure::Misplaced(64)),
    );
    assert_eq!(rc(&one_to(&actions, ACQ)), "63");
    assert!(journal(&actions).is_empty());
}
