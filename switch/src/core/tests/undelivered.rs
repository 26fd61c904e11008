//! An approval whose answer never reached the acquirer (its connection gone
//! when the commit released the answer): reversed at the issuer on the
//! acquirer's behalf, and journaled as a reversal of the original.

use super::*;

/// The 0420s `actions` queue for the issuer.
fn queued_reversals(actions: &[Action]) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Store(StoreOp::SafPush { msg, .. }) if msg.mti() == Mti::REVERSAL_ADVICE => {
                Some(msg.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn an_approval_never_delivered_is_reversed_at_the_issuer_once() {
    let h = Harness::new();
    let fwd = one_to(&h.acquire(Millis(0), purchase(40, "000000")), ISS);
    let answered = h
        .core
        .on_message(Millis(2), ISS, issuer_answer(&fwd, ResponseCode::APPROVED));
    let answer = one_to(&answered, ACQ);
    assert_eq!((rc(&answer).as_str(), answer.stan()), ("00", Some(40)));
    // Its acquirer's connection is gone when the commit releases it.
    let actions = h.core.on_answer_undelivered(Millis(3), ACQ, &answer);
    let reversals = queued_reversals(&actions);
    assert_eq!(reversals.len(), 1, "{actions:?}");
    let reversal = &reversals[0];
    assert_eq!(
        reversal.text(90).as_deref(),
        crate::core::field90::field90(&fwd)
            .as_ref()
            .map(|f| f.as_str()),
        "field 90 names the original as the issuer knows it"
    );
    assert_eq!(reversal.text(100).as_deref(), Some("940800"), "the issuer");
    assert_eq!(reversal.text(4), fwd.text(4));
    // Journaled as a reversal of the original, in the acquirer's terms, which
    // settlement nets out.
    let record = records(&actions)[0];
    assert_eq!(record.mti.as_str(), "0420");
    assert_eq!(record.state, FinalState::Approved);
    let reverses = record.reverses.clone().expect("names its original");
    assert_eq!(
        (reverses.0.as_str(), reverses.1.as_str()),
        (answer.text(7).unwrap().as_ref(), "000040")
    );
    assert!(
        sends(&actions).is_empty(),
        "nothing to the acquirer: it is gone"
    );
    assert_eq!(h.saf().depth(), 1);
    // Released twice (or reversed by the acquirer meanwhile): once only.
    assert!(h
        .core
        .on_answer_undelivered(Millis(4), ACQ, &answer)
        .is_empty());
    assert_eq!(h.saf().depth(), 1);
}

#[test]
fn an_undelivered_decline_or_an_approval_already_reversed_is_left_alone() {
    let h = Harness::new();
    let fwd = one_to(&h.acquire(Millis(0), purchase(41, "000000")), ISS);
    let declined = h.core.on_message(
        Millis(2),
        ISS,
        issuer_answer(&fwd, ResponseCode::INSUFFICIENT_FUNDS),
    );
    let answer = one_to(&declined, ACQ);
    assert!(h
        .core
        .on_answer_undelivered(Millis(3), ACQ, &answer)
        .is_empty());
    // The acknowledgement (0230, 00) of an advice that repeats its original's
    // keys approves nothing.
    let h = Harness::new();
    let fwd = one_to(&h.acquire(Millis(0), purchase(42, "000000")), ISS);
    let approved = h
        .core
        .on_message(Millis(2), ISS, issuer_answer(&fwd, ResponseCode::APPROVED));
    let mut acknowledgement = one_to(&approved, ACQ);
    acknowledgement.set_mti(Mti::new(b"0230").unwrap());
    assert!(!crate::core::undelivered::is_approval(&acknowledgement));
    assert!(h
        .core
        .on_answer_undelivered(Millis(3), ACQ, &acknowledgement)
        .is_empty());
    // The acquirer reversed the approval before its answer was released
    // (the same answer is reversed when it has not).
    let answer = {
        let mut a = purchase(50, "000000");
        a.set_mti(Mti::FINANCIAL_RESPONSE);
        a.set(39, "00");
        a
    };
    let not_reversed = Harness::new();
    approved_then_reversed(&not_reversed);
    let actions = not_reversed
        .core
        .on_answer_undelivered(Millis(21), ACQ, &answer);
    assert_eq!(queued_reversals(&actions).len(), 1);
    let h = Harness::new();
    let (_, rev) = approved_then_reversed(&h);
    h.acquire(Millis(20), rev);
    let depth = h.saf().depth();
    assert!(h
        .core
        .on_answer_undelivered(Millis(21), ACQ, &answer)
        .is_empty());
    assert_eq!(h.saf().depth(), depth, "not reversed twice");
}

#[test]
fn an_answer_that_left_out_the_amount_gets_the_requests_and_so_does_its_reversal() {
    let h = Harness::new();
    let mut request = purchase(42, "000000");
    request.set(42, "MERCHANT0000001");
    let fwd = one_to(&h.acquire(Millis(0), request.clone()), ISS);
    // An issuer that echoes little: no processing code, amount, card acceptor
    // or currency in its approval.
    let mut terse = issuer_answer(&fwd, ResponseCode::APPROVED);
    for n in [3u8, 4, 42, 49] {
        assert!(fwd.get(n).is_some(), "the request carries field {n}");
        terse.remove(n);
    }
    let answer = one_to(&h.core.on_message(Millis(2), ISS, terse), ACQ);
    for n in [3u8, 4, 42, 49] {
        assert_eq!(answer.text(n), request.text(n), "field {n} filled");
    }
    let reversals = queued_reversals(&h.core.on_answer_undelivered(Millis(3), ACQ, &answer));
    assert_eq!(reversals.len(), 1);
    assert_eq!(reversals[0].text(4), fwd.text(4), "the reversal's amount");

    // An amount the issuer answered with (a partial approval) is kept.
    let fwd = one_to(&h.acquire(Millis(10), purchase(43, "000000")), ISS);
    let mut partial = issuer_answer(&fwd, ResponseCode::APPROVED);
    partial.set(4, "000000000100");
    let answer = one_to(&h.core.on_message(Millis(12), ISS, partial), ACQ);
    assert_eq!(answer.text(4).as_deref(), Some("000000000100"));
}
