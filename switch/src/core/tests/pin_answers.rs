//! PIN translation as a request to the security module and its answer, on
//! virtual time: the answer in time forwards, a failure declines with its code,
//! no answer by the deadline declines 91 (journaled) and a late one is ignored.

use super::super::pin::tests::{core, module, request, ACQ_ZPK, PAN};
use super::*;
use crate::security::pin::{encipher, ClearPin, PinBlockError};
use crate::security::{PinFormat, SecurityError, SecurityModule};

/// The acquirer's PIN block for the test card.
fn block() -> Vec<u8> {
    let pin = ClearPin::from_ascii(b"2468").unwrap();
    encipher(PinFormat::Iso0, &ACQ_ZPK, &pin, PAN).unwrap()
}

/// The one translation `actions` ask for, and nothing else.
fn translation(actions: Actions) -> Box<super::super::pin::PinRequest> {
    assert_eq!(actions.len(), 1, "{actions:?}");
    match actions.into_iter().next() {
        Some(Action::TranslatePin(req)) => req,
        other => panic!("expected a PIN translation, got {other:?}"),
    }
}

/// The journal records in `actions`, as (state, response code).
fn outcomes(actions: &[Action]) -> Vec<(FinalState, String)> {
    records(actions)
        .into_iter()
        .map(|r| (r.state, r.response_code.to_string()))
        .collect()
}

#[test]
fn the_request_waits_for_the_answer_and_goes_on_with_it() {
    let core = core(true, true);
    let req = translation(core.on_message(Millis(1), 1, request(&block())));
    // Nothing is forwarded, journaled or answered while the module works.
    assert_eq!(core.pending_requests(), 1);
    assert_eq!(core.in_flight(), 0);
    let result = module().translate_pin(req.from(), req.to(), req.block(), req.pan());
    let actions = core.on_pin_translated(Millis(7), req.token, result);
    let fwd = one_to(&actions, 2);
    assert_ne!(fwd.get(52).unwrap().bytes().as_ref(), &block()[..]);
    assert_eq!(outcomes(&actions), [(FinalState::Forwarded, String::new())]);
    assert_eq!(core.in_flight(), 1);
    // The journal counts from the request's arrival.
    assert_eq!(records(&actions)[0].elapsed_ms, 6);
}

#[test]
fn an_unanswered_translation_is_declined_91_at_its_deadline_and_a_late_answer_ignored() {
    let core = core(true, true);
    let req = translation(core.on_message(Millis(1), 1, request(&block())));
    // The translation's deadline (2 s by default) is the earliest.
    assert_eq!(core.poll_timeout(), Some(Millis(2001)));
    assert!(sends(&core.on_tick(Millis(2000))).is_empty());
    let actions = core.on_tick(Millis(2001));
    assert_eq!(rc(&one_to(&actions, 1)), "91");
    assert_eq!(outcomes(&actions), [(FinalState::Declined, "91".into())]);
    assert_eq!(core.pending_requests(), 0);
    // The answer after the deadline changes nothing and is counted.
    let result = module().translate_pin(req.from(), req.to(), req.block(), req.pan());
    assert!(core
        .on_pin_translated(Millis(2002), req.token, result)
        .is_empty());
    let stats = core.stats();
    assert_eq!(stats.pin_late_answers, 1);
    assert_eq!(stats.pin_translations.get("timed out"), Some(&1));
    assert_eq!(core.in_flight(), 0);
}

#[test]
fn failed_translations_decline_with_their_codes() {
    let length = PinBlockError::Length {
        format: "0",
        expected: 8,
        got: 7,
    };
    let cases = [
        (SecurityError::PinBlock(length), "30"),
        (SecurityError::PinBlock(PinBlockError::Pan), "30"),
        (SecurityError::PinBlock(PinBlockError::Invalid("0")), "81"),
        (
            SecurityError::NoKey {
                zone: "iss".into(),
                purpose: "PIN",
            },
            "96",
        ),
        (
            SecurityError::BadKey {
                zone: "iss".into(),
                problem: "length".into(),
            },
            "96",
        ),
        (SecurityError::Unavailable("HSM down".into()), "91"),
    ];
    for (error, code) in cases {
        let core = core(true, true);
        let req = translation(core.on_message(Millis(1), 1, request(&block())));
        let actions = core.on_pin_translated(Millis(2), req.token, Err(error));
        assert_eq!(rc(&one_to(&actions, 1)), code);
        assert!(sends(&actions).iter().all(|(l, _)| *l == 1), "{code}");
        assert_eq!(outcomes(&actions), [(FinalState::Declined, code.into())]);
        assert_eq!(core.pending_requests(), 0);
    }
}

#[test]
fn an_issuer_link_lost_during_the_translation_declines_91() {
    let core = core(true, true);
    let req = translation(core.on_message(Millis(1), 1, request(&block())));
    core.on_link_down(Millis(2), 2);
    let result = module().translate_pin(req.from(), req.to(), req.block(), req.pan());
    let actions = core.on_pin_translated(Millis(3), req.token, result);
    assert_eq!(rc(&one_to(&actions, 1)), "91");
    assert_eq!(sends(&actions).len(), 1);
    assert_eq!(core.in_flight(), 0);
}

#[test]
fn the_request_shows_neither_pan_nor_block() {
    let core = core(true, true);
    let actions = core.on_message(Millis(1), 1, request(&block()));
    let shown = format!("{actions:?}");
    assert!(
        !shown.contains(std::str::from_utf8(PAN).unwrap()),
        "{shown}"
    );
    assert!(!shown.contains("9408010000"), "{shown}");
    let hex: String = block().iter().map(|b| format!("{b:02x}")).collect();
    assert!(!shown.to_lowercase().contains(&hex[..8]), "{shown}");
    assert!(!shown.contains(&format!("{:?}", &block()[..4])), "{shown}");
    assert!(shown.contains("TranslatePin"), "{shown}");
}

#[test]
fn shutdown_declines_what_waits_for_the_module() {
    let core = core(true, true);
    translation(core.on_message(Millis(1), 1, request(&block())));
    let actions = core.expire_all_requests(Millis(5));
    assert_eq!(rc(&one_to(&actions, 1)), "91");
    assert_eq!(core.pending_requests(), 0);
}

/// Review (issue 17): the acquirer's connection is gone by the time the module
/// answers. Nobody can hear the issuer's answer any more: forwarding would
/// have the issuer authorize (for cash: hold the funds) only for the switch to
/// queue a reversal when the approval comes back.
#[test]
fn a_translation_answered_after_the_acquirer_left_is_not_forwarded() {
    let core = core(true, true);
    let req = translation(core.on_message(Millis(1), 1, request(&block())));
    core.on_link_down(Millis(3), 1);
    let result = module().translate_pin(req.from(), req.to(), req.block(), req.pan());
    let actions = core.on_pin_translated(Millis(7), req.token, result);
    assert!(
        sends(&actions).iter().all(|(link, _)| *link != 2),
        "forwarded to the issuer: {actions:?}"
    );
    assert_eq!(core.in_flight(), 0);
}
