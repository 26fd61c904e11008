//! Store-and-forward windows on virtual time: how many go out at once per issuer
//! link, refills on answers, order per original transaction, backoff per item,
//! timeouts and the in-flight headroom left to live requests.

use super::*;

/// The issuer bank of [`Harness`]'s issuer links.
const ISSUER: &str = "940800";

/// A harness whose issuer links take `window` SAF messages at once, first retry
/// after `retry`.
fn harness(window: usize, retry: Duration) -> Harness {
    Harness::with_settings(CoreSettings {
        saf_window: window,
        saf_retry: retry,
        ..CoreSettings::default()
    })
}

/// The reversal owed for a purchase with STAN `stan` that the switch forwarded.
fn owed_reversal(stan: u32) -> Message {
    reversal_of(&purchase(stan, "000000")).expect("field 90")
}

/// Owe `msg` to the issuer from `now`, its push durable already.
fn owe(h: &Harness, msg: Message, now: Millis) {
    let id = h.saf().push(ISSUER, msg, now);
    h.saf().confirm(&[id]);
}

/// Queue `count` unrelated reversals (STANs from `first`) at `now`, durable.
fn queue_reversals(h: &Harness, first: u32, count: u32, now: Millis) {
    for stan in first..first + count {
        owe(h, owed_reversal(stan), now);
    }
}

/// Messages sent to the issuer link `link`, echoes left out.
fn to(actions: &[Action], link: LinkId) -> Vec<Message> {
    sends(actions)
        .into_iter()
        .filter(|(l, m)| *l == link && m.mti() != Mti::NETWORK_REQUEST)
        .map(|(_, m)| m)
        .collect()
}

/// The issuer's acknowledgement of a SAF message it received.
fn ack(msg: &Message) -> Message {
    answer(msg, ResponseCode::APPROVED).expect("an advice has a response MTI")
}

/// Field 90 of each message (which original it concerns).
fn originals(msgs: &[Message]) -> Vec<String> {
    msgs.iter()
        .map(|m| m.text(90).expect("field 90").into_owned())
        .collect()
}

#[test]
fn the_window_fills_to_its_size_and_no_more() {
    let h = harness(4, Duration::from_secs(2));
    queue_reversals(&h, 1, 10, Millis(0));
    let first = to(&h.core.on_tick(Millis(10)), ISS);
    assert_eq!(first.len(), 4, "a window of 4 outstanding");
    assert!(first.iter().all(|m| m.mti() == Mti::REVERSAL_ADVICE));
    // Oldest first.
    let expected: Vec<String> = (1..=4)
        .map(|s| owed_reversal(s).text(90).expect("field 90").into_owned())
        .collect();
    assert_eq!(originals(&first), expected);
    assert!(to(&h.core.on_tick(Millis(20)), ISS).is_empty(), "full");
    assert_eq!(h.saf().outstanding(), 4);
    assert_eq!(h.core.in_flight(), 4);
    // A second link to the issuer carries a window of its own.
    h.up_issuer(ISS2, Millis(30));
    assert_eq!(to(&h.core.on_tick(Millis(40)), ISS2).len(), 4);
    assert_eq!(h.saf().outstanding(), 8);
}

#[test]
fn an_answer_refills_the_window_at_once() {
    let h = harness(4, Duration::from_secs(2));
    queue_reversals(&h, 1, 10, Millis(0));
    let out = to(&h.core.on_tick(Millis(10)), ISS);
    // No tick between: the answer's own actions carry the next item.
    let refill = to(&h.core.on_message(Millis(30), ISS, ack(&out[0])), ISS);
    assert_eq!(refill.len(), 1);
    assert_eq!(originals(&refill), originals(&[owed_reversal(5)]));
    assert_eq!(h.saf().depth(), 9);
    assert_eq!(h.saf().outstanding(), 4);
    // Every answer refills until the queue runs dry; then the window drains.
    let mut pending: Vec<Message> = out[1..].iter().cloned().chain(refill).collect();
    let mut now = 40;
    while let Some(m) = pending.pop() {
        pending.extend(to(&h.core.on_message(Millis(now), ISS, ack(&m)), ISS));
        now += 1;
        assert!(now < 100, "bounded");
    }
    assert_eq!(h.saf().depth(), 0);
    assert_eq!(h.saf().outstanding(), 0);
    assert_eq!(h.core.in_flight(), 0);
}

#[test]
fn a_reversal_waits_for_the_advice_of_the_same_transaction() {
    let h = harness(8, Duration::from_secs(2));
    // An approved purchase; the acquirer then sends a completion advice and a
    // reversal of the same original, both owed to the issuer.
    let orig = purchase(50, "000000");
    let fwd = one_to(&h.acquire(Millis(0), orig.clone()), ISS);
    h.core
        .on_message(Millis(10), ISS, issuer_answer(&fwd, ResponseCode::APPROVED));
    let acquirer_f90 = format!("0200{:06}1125103000{:0>11}{:0>11}", 50, "940810", "");
    let owed_by_acquirer = |mti: Mti, stan: u32, f7: &str| {
        let mut m = Message::new(mti);
        for n in [2u8, 3, 4, 32, 37, 41, 49] {
            m.set(n, &orig.text(n).expect("set"));
        }
        m.set(7, f7);
        m.set_stan(stan);
        m.set(39, "00");
        m.set(90, &acquirer_f90);
        m
    };
    let advice = owed_by_acquirer(Mti::FINANCIAL_ADVICE, 51, "1125103100");
    let reversal = owed_by_acquirer(Mti::REVERSAL_ADVICE, 52, "1125103200");
    for (now, owed) in [(20, advice), (30, reversal)] {
        let acked = h.acquire(Millis(now), owed);
        assert_eq!(rc(&one_to(&acked, ACQ)), "00");
        // Durable before the tick below.
        h.saf().confirm(&pushed(&acked));
    }
    // A stand-in advice with no field 90, and a reversal naming that advice.
    let mut standin = purchase(70, "000000");
    standin.set_mti(Mti::FINANCIAL_ADVICE);
    let mut standin_reversal = owed_reversal(71);
    standin_reversal.set(90, field90(&standin).expect("keys").as_str());
    owe(&h, standin.clone(), Millis(40));
    owe(&h, standin_reversal, Millis(41));
    // And something unrelated behind them all.
    queue_reversals(&h, 80, 1, Millis(42));

    let out = to(&h.core.on_tick(Millis(50)), ISS);
    let mtis: Vec<Mti> = out.iter().map(Message::mti).collect();
    let (advice, reversal) = (Mti::FINANCIAL_ADVICE, Mti::REVERSAL_ADVICE);
    assert_eq!(mtis, vec![advice, advice, reversal], "both reversals held");
    assert_eq!(originals(&out[2..]), originals(&[owed_reversal(80)]));
    // Held, not blocked by the window: ticks do not send them either.
    assert!(to(&h.core.on_tick(Millis(60)), ISS).is_empty());
    // Each reversal goes in the very call that acknowledges its advice.
    let next = to(&h.core.on_message(Millis(70), ISS, ack(&out[0])), ISS);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].mti(), Mti::REVERSAL_ADVICE);
    assert_eq!(next[0].text(90), out[0].text(90), "the same original");
    let next = to(&h.core.on_message(Millis(80), ISS, ack(&out[1])), ISS);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].mti(), Mti::REVERSAL_ADVICE);
    assert_eq!(
        next[0].text(90).as_deref(),
        field90(&standin).as_ref().map(|f| f.as_str())
    );
}

#[test]
fn an_item_backing_off_does_not_hold_up_unrelated_ones() {
    let h = harness(4, Duration::from_secs(30));
    queue_reversals(&h, 1, 1, Millis(0));
    let first = to(&h.core.on_tick(Millis(0)), ISS);
    assert_eq!(first.len(), 1);
    // Unanswered: its slot is free at the deadline, but it backs off to 30 s.
    assert!(to(&h.core.on_tick(Millis(10_000)), ISS).is_empty());
    assert_eq!(h.saf().outstanding(), 0);
    // A later, unrelated reversal goes at once, ahead of it.
    queue_reversals(&h, 2, 1, Millis(11_000));
    let second = to(&h.core.on_tick(Millis(11_000)), ISS);
    assert_eq!(originals(&second), originals(&[owed_reversal(2)]));
    assert_eq!(second[0].mti(), Mti::REVERSAL_ADVICE);
    assert!(to(&h.core.on_tick(Millis(29_990)), ISS).is_empty());
    let retry = to(&h.core.on_tick(Millis(30_000)), ISS);
    assert_eq!(originals(&retry), originals(&first));
    assert_eq!(retry[0].mti(), Mti::REVERSAL_ADVICE_REPEAT);
}

#[test]
fn timed_out_items_free_their_slots_and_go_again_as_repeats() {
    let h = harness(2, Duration::from_secs(2));
    queue_reversals(&h, 1, 3, Millis(0));
    let first = to(&h.core.on_tick(Millis(0)), ISS);
    assert_eq!(first.len(), 2);
    // Both time out at 10 s (past their 2 s backoff): both go again, as 0421,
    // ahead of the third, which has never been sent.
    let again = to(&h.core.on_tick(Millis(10_000)), ISS);
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|m| m.mti() == Mti::REVERSAL_ADVICE_REPEAT));
    assert_eq!(originals(&again), originals(&first));
    assert_eq!(h.saf().outstanding(), 2);
    // The first attempts' answers are late (dropped); the repeats' count once.
    assert!(to(&h.core.on_message(Millis(10_010), ISS, ack(&first[0])), ISS).is_empty());
    assert_eq!(h.saf().depth(), 3);
    let third = to(&h.core.on_message(Millis(10_020), ISS, ack(&again[0])), ISS);
    assert_eq!(originals(&third), originals(&[owed_reversal(3)]));
    assert_eq!(third[0].mti(), Mti::REVERSAL_ADVICE, "a first attempt");
    assert_eq!(h.saf().depth(), 2);
    // A lost link frees its slots too; the items wait for their backoff.
    h.core.on_link_down(Millis(10_030), ISS);
    assert_eq!(h.saf().outstanding(), 0);
    h.up_issuer(ISS2, Millis(10_040));
    let moved = to(&h.core.on_tick(Millis(20_040)), ISS2);
    assert_eq!(moved.len(), 2);
    assert!(moved.iter().all(|m| m.mti() == Mti::REVERSAL_ADVICE_REPEAT));
}

#[test]
fn store_and_forward_leaves_live_requests_half_the_in_flight_cap() {
    // The harness's links allow 100 in flight: SAF may fill 50 of them.
    let h = harness(64, Duration::from_secs(2));
    queue_reversals(&h, 1, 100, Millis(0));
    assert_eq!(to(&h.core.on_tick(Millis(0)), ISS).len(), 50);
    for stan in 1..=50u32 {
        let actions = h.acquire(Millis(1), purchase(1000 + stan, "000000"));
        assert_eq!(to(&actions, ISS).len(), 1, "live request {stan} forwarded");
    }
    // Live traffic past half the cap: SAF takes no freed slot until it drops.
    let h = harness(64, Duration::from_secs(2));
    for stan in 1..=60u32 {
        h.acquire(Millis(0), purchase(stan, "000000"));
    }
    queue_reversals(&h, 1000, 10, Millis(0));
    assert!(to(&h.core.on_tick(Millis(10)), ISS).is_empty());
}
