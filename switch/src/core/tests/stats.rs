//! `Core::stats` after a scripted exchange on virtual time: counts per response
//! code, per acquirer and MTI, per issuer (timeouts, unavailability), the issuer
//! answer times drained once, and the links.

use super::*;

#[test]
fn stats_count_a_scripted_exchange() {
    let h = Harness::new();
    // Approved after 150 ms.
    let fwd = one_to(&h.acquire(Millis(100), purchase(1, "000000")), ISS);
    let ok = h.core.on_message(
        Millis(250),
        ISS,
        issuer_answer(&fwd, ResponseCode::APPROVED),
    );
    assert_eq!(rc(&one_to(&ok, ACQ)), "00");
    // Declined 51 by the issuer after 40 ms.
    let fwd = one_to(&h.acquire(Millis(300), purchase(2, "000000")), ISS);
    let nsf = ResponseCode::new("51").expect("51");
    let declined = h
        .core
        .on_message(Millis(340), ISS, issuer_answer(&fwd, nsf));
    assert_eq!(rc(&one_to(&declined, ACQ)), "51");
    // Declined 30 by the switch itself (no field 41).
    let mut broken = purchase(3, "000000");
    broken.remove(41);
    assert_eq!(rc(&one_to(&h.acquire(Millis(400), broken), ACQ)), "30");
    // Timed out: 91, counted against the issuer.
    one_to(&h.acquire(Millis(500), purchase(4, "000000")), ISS);
    let timed_out = h.core.on_tick(Millis(10_500));
    assert_eq!(rc(&one_to(&timed_out, ACQ)), "91");
    // Its reversal's push is durable: delivered.
    one_to(&h.stored(Millis(10_500), &timed_out), ISS);

    let stats = h.core.stats();
    assert_eq!(stats.responses_with("00"), 1);
    assert_eq!(stats.responses_with("51"), 1);
    assert_eq!(stats.responses_with("30"), 1);
    assert_eq!(
        stats.responses_with("91"),
        0,
        "a timeout is counted as a timeout, not as an answer"
    );
    let acquirer = stats.bank("940810");
    assert_eq!(acquirer.requests.get("0200"), Some(&4));
    assert_eq!(acquirer.timeouts, 0);
    let issuer = stats.bank("940800");
    assert_eq!(issuer.timeouts, 1);
    assert!(issuer.requests.is_empty());
    assert!(issuer.unavailable.is_empty());
    assert_eq!((stats.late_responses, stats.unmatched_responses), (0, 0));
    assert_eq!(stats.links_up(Role::Acquirer), 1);
    assert_eq!(stats.links_up(Role::Issuer), 1);
    let issuer_link = stats
        .links
        .iter()
        .find(|l| l.role == Role::Issuer)
        .expect("the issuer link");
    // Signed on; carrying the reversal of the timed-out request.
    assert_eq!((issuer_link.state, issuer_link.in_flight), (2, 1));

    // The answer times, drained once.
    assert_eq!(
        h.core.take_issuer_latencies(),
        vec![("940800".to_string(), vec![150, 40])]
    );
    assert!(h.core.take_issuer_latencies().is_empty());

    // The issuer's only link goes down: the next request finds no link.
    h.core.on_link_down(Millis(10_600), ISS);
    let refused = h.acquire(Millis(10_700), purchase(5, "000000"));
    assert_eq!(rc(&one_to(&refused, ACQ)), "91");
    let stats = h.core.stats();
    assert_eq!(
        stats.bank("940800").unavailable.get("no signed-on link"),
        Some(&1)
    );
    assert_eq!(stats.responses_with("91"), 1);
    assert_eq!(stats.bank("940810").requests.get("0200"), Some(&5));
    assert_eq!(stats.links_up(Role::Issuer), 0);
}

#[test]
fn answers_are_counted_per_bank_by_who_decided_and_echoes_are_noted() {
    use crate::core::counters::Decider;
    let h = Harness::new();
    // The issuer approves.
    let fwd = one_to(&h.acquire(Millis(100), purchase(1, "000000")), ISS);
    h.core.on_message(
        Millis(150),
        ISS,
        issuer_answer(&fwd, ResponseCode::APPROVED),
    );
    // A rule of the routing rules declines a transfer (12).
    assert_eq!(
        rc(&one_to(&h.acquire(Millis(200), purchase(2, "400000")), ACQ)),
        "12"
    );
    // The switch itself: a request without field 41 (30), and a timeout (91).
    let mut broken = purchase(3, "000000");
    broken.remove(41);
    assert_eq!(rc(&one_to(&h.acquire(Millis(300), broken), ACQ)), "30");
    one_to(&h.acquire(Millis(400), purchase(4, "000000")), ISS);
    assert_eq!(rc(&one_to(&h.core.on_tick(Millis(10_400)), ACQ)), "91");

    let stats = h.core.stats();
    let acquired = &stats.bank("940810").answers_acquired;
    let count = |m: &std::collections::BTreeMap<(String, Decider), u64>, rc: &str, d| {
        m.get(&(rc.to_string(), d)).copied().unwrap_or(0)
    };
    assert_eq!(count(acquired, "00", Decider::Issuer), 1);
    assert_eq!(count(acquired, "12", Decider::RegionRule), 1);
    assert_eq!(count(acquired, "30", Decider::Switch), 1);
    assert_eq!(count(acquired, "91", Decider::Switch), 1);
    assert_eq!(acquired.len(), 4, "{acquired:?}");
    // The issuer's side: what was routed to it (the 30 never was).
    let issued = &stats.bank("940800").answers_issued;
    assert_eq!(count(issued, "00", Decider::Issuer), 1);
    assert_eq!(count(issued, "91", Decider::Switch), 1);
    assert_eq!(count(issued, "30", Decider::Switch), 0);

    // No echo yet; then the switch's echo is answered and noted.
    let issuer_link = |s: &CoreStats| {
        s.links
            .iter()
            .find(|l| l.role == Role::Issuer)
            .map(|l| l.last_echo)
            .expect("the issuer link")
    };
    assert_eq!(issuer_link(&stats), None);
    let echo = one_to(&h.core.on_tick(Millis(40_500)), ISS);
    assert_eq!(echo.text(70).unwrap(), "301");
    h.core.on_message(
        Millis(40_520),
        ISS,
        answer(&echo, ResponseCode::APPROVED).unwrap(),
    );
    assert_eq!(issuer_link(&h.core.stats()), Some(Millis(40_520)));
}
