//! The core's timers on virtual time: `poll_timeout` gives the earliest thing
//! due, a tick then does it; answered requests' deadlines do not keep the
//! timer busy; an event that brings the next tick closer asks for a wake.

use super::*;

#[test]
fn the_earliest_deadline_is_polled_and_a_tick_at_it_times_the_request_out() {
    let h = Harness::new();
    h.core.on_tick(Millis(0));
    // Idle: the issuer link's echo (30 s after its last message) is next.
    assert_eq!(h.core.poll_timeout(), Some(Millis(30_000)));
    let fwd = one_to(&h.acquire(Millis(100), purchase(1, "000000")), ISS);
    assert_eq!(fwd.mti(), Mti::FINANCIAL_REQUEST);
    assert_eq!(h.core.poll_timeout(), Some(Millis(10_100)));
    assert!(sends(&h.core.on_tick(Millis(10_099))).is_empty());
    let actions = h.core.on_tick(Millis(10_100));
    assert_eq!(rc(&one_to(&actions, ACQ)), "91");
}

#[test]
fn answered_requests_do_not_hold_the_timer() {
    let h = Harness::new();
    for stan in 1..=50 {
        let fwd = one_to(
            &h.acquire(Millis(stan), purchase(stan as u32, "000000")),
            ISS,
        );
        let answer = issuer_answer(&fwd, ResponseCode::APPROVED);
        h.core.on_message(Millis(stan + 1), ISS, answer);
    }
    // One still waiting, sent last.
    one_to(&h.acquire(Millis(60), purchase(99, "000000")), ISS);
    h.core.on_tick(Millis(61));
    // Not the first answered request's deadline (10 001): the waiting one's.
    assert_eq!(h.core.poll_timeout(), Some(Millis(10_060)));
}

#[test]
fn a_nearer_deadline_asks_for_a_wake_once() {
    let h = Harness::new();
    h.core.on_tick(Millis(0));
    assert_eq!(h.core.arm(Millis(30_000)), Millis(30_000));
    assert!(!h.core.take_wake());
    one_to(&h.acquire(Millis(5), purchase(1, "000000")), ISS);
    assert!(h.core.take_wake(), "10 005 is before 30 000");
    assert!(!h.core.take_wake());
    // A later deadline than the one now set: no wake.
    one_to(&h.acquire(Millis(6), purchase(2, "000000")), ISS);
    assert!(!h.core.take_wake());
    // While a tick runs, deadlines are folded into the next arm instead.
    h.core.on_tick(Millis(7));
    one_to(&h.acquire(Millis(8), purchase(3, "000000")), ISS);
    assert!(!h.core.take_wake());
    assert_eq!(h.core.arm(Millis(30_000)), Millis(10_008));
}

#[test]
fn queued_store_and_forward_goes_once_durable_then_waits_for_its_answer() {
    let h = Harness::new();
    h.core.on_tick(Millis(0));
    let fwd = one_to(&h.acquire(Millis(1), purchase(1, "000000")), ISS);
    // Answered after the acquirer left: the approval is queued for reversal.
    h.core.on_link_down(Millis(2), ACQ);
    let queued = h
        .core
        .on_message(Millis(3), ISS, issuer_answer(&fwd, ResponseCode::APPROVED));
    assert_eq!(h.saf().depth(), 1);
    // Not durable yet: nothing to poll for it (the store's answer delivers it).
    assert!(h.core.poll_timeout() > Some(Millis(10)));
    assert!(sends(&h.core.on_tick(Millis(10))).is_empty());
    let actions = h.stored(Millis(12), &queued);
    assert_eq!(one_to(&actions, ISS).mti(), Mti::REVERSAL_ADVICE);
    // Out and awaiting its answer, it keeps no pace: next is its delivery's
    // deadline (the link's 10 s timeout).
    assert_eq!(h.core.poll_timeout(), Some(Millis(10_012)));
}

#[test]
fn a_refused_sign_on_is_repeated_after_a_pause_not_every_tick() {
    let h = Harness::new();
    let actions = h
        .core
        .on_link_up(Millis(0), ISS2, link_config(Role::Issuer, "940800"));
    let signon = one_to(&actions, ISS2);
    let refused = answer(&signon, ResponseCode::SYSTEM_MALFUNCTION).unwrap();
    h.core.on_message(Millis(5), ISS2, refused);
    assert!(sends(&h.core.on_tick(Millis(15))).is_empty());
    assert!(h.core.poll_timeout() <= Some(Millis(1000)));
    let again = one_to(&h.core.on_tick(Millis(1000)), ISS2);
    assert_eq!(again.text(70).unwrap(), "001");
}

#[test]
fn a_refused_sign_on_wakes_the_timer_for_the_next_one() {
    let h = Harness::new();
    let actions = h
        .core
        .on_link_up(Millis(0), ISS2, link_config(Role::Issuer, "940800"));
    let signon = one_to(&actions, ISS2);
    h.core.on_tick(Millis(1));
    assert_eq!(h.core.arm(Millis(30_000)), Millis(30_000));
    assert!(!h.core.take_wake());
    let refused = answer(&signon, ResponseCode::SYSTEM_MALFUNCTION).unwrap();
    h.core.on_message(Millis(5), ISS2, refused);
    assert!(
        h.core.take_wake(),
        "the next sign-on is due within a second, before the timer's 30 s"
    );
}
