//! Core behaviour on virtual time, without sockets: every scenario feeds events
//! with an explicit `now` and inspects the actions.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use codecs::framing::LengthHeader;
use codecs::luhn::luhn_check_digit;
use codecs::{Message, Mti, ResponseCode, Spec};
use routing_rules::{RoutingTable, SharedRoutingTable};

use super::journal::FinalState;
use super::saf::SafQueue;
use super::*;
use crate::config::{Direction, LinkConfig, Role};

mod cluster;
mod pin_answers;
mod saf_store;
mod saf_window;
mod security_inputs;
mod stand_in;
mod stats;
mod timers;
mod tokens;
mod undelivered;

const ACQ: LinkId = 1;
const ISS: LinkId = 2;
const ISS2: LinkId = 3;

fn national() -> RoutingTable {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../routing-rules/rules/national.toml"
    );
    RoutingTable::load(Path::new(path)).unwrap().0
}

fn link_config(role: Role, bank: &str) -> Arc<LinkConfig> {
    Arc::new(LinkConfig {
        name: format!("{bank}-{role:?}"),
        role,
        bank: bank.into(),
        acquirers: vec![bank.into()],
        direction: Direction::Listen,
        address: "127.0.0.1:0".parse().unwrap(),
        spec: Spec::builtin("iso87ascii").unwrap(),
        framing: LengthHeader::Binary2,
        timeout: Duration::from_secs(10),
        cash_timeout: Duration::from_secs(25),
        echo_interval: Duration::from_secs(30),
        max_missed_echoes: 3,
        max_in_flight: 100,
        max_connections: 8,
        security: Default::default(),
    })
}

struct Harness {
    core: Core,
}

/// The store-and-forward items that `actions` pushed (for the store).
fn pushed(actions: &[Action]) -> Vec<u64> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Store(op) => op.pushed(),
            _ => None,
        })
        .collect()
}

/// Sends in `actions`, as (link, message).
fn sends(actions: &[Action]) -> Vec<(LinkId, Message)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { link, msg } => Some((*link, msg.clone())),
            _ => None,
        })
        .collect()
}

fn journal(actions: &[Action]) -> Vec<FinalState> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Journal(r) => Some(r.state),
            _ => None,
        })
        .collect()
}

/// The single message sent on `link`.
fn one_to(actions: &[Action], link: LinkId) -> Message {
    let s: Vec<_> = sends(actions)
        .into_iter()
        .filter(|(l, _)| *l == link)
        .collect();
    assert_eq!(s.len(), 1, "expected one message to link {link}, got {s:?}");
    s.into_iter().next().unwrap().1
}

fn rc(msg: &Message) -> String {
    msg.response_code().unwrap().into_owned()
}

impl Harness {
    /// Acquirer 940810 on link 1, Central Bank issuer (940800) on link 2, signed on.
    fn new() -> Harness {
        Harness::with_settings(CoreSettings::default())
    }

    /// [`Harness::new`] with `settings` (the epoch fixed).
    fn with_settings(settings: CoreSettings) -> Harness {
        let core = Core::new(
            CoreSettings {
                epoch_unix_ms: 1_795_602_600_000,
                ..settings
            },
            Arc::new(SharedRoutingTable::new(national())),
        );
        let h = Harness { core };
        assert!(h
            .core
            .on_link_up(Millis(0), ACQ, link_config(Role::Acquirer, "940810"))
            .is_empty());
        h.up_issuer(ISS, Millis(0));
        h
    }

    fn up_issuer(&self, id: LinkId, now: Millis) {
        let actions = self
            .core
            .on_link_up(now, id, link_config(Role::Issuer, "940800"));
        let signon = one_to(&actions, id);
        assert_eq!(signon.mti(), Mti::NETWORK_REQUEST);
        assert_eq!(signon.text(70).unwrap(), "001");
        assert!(!self.core.link_usable(id));
        let reply = answer(&signon, ResponseCode::APPROVED).unwrap();
        assert!(self.core.on_message(now, id, reply).is_empty());
        assert!(self.core.link_usable(id));
    }

    fn acquire(&self, now: Millis, msg: Message) -> Actions {
        self.core.on_message(now, ACQ, msg)
    }

    /// The core's store-and-forward queue.
    fn saf(&self) -> &SafQueue {
        &self.core.saf
    }

    /// The store made durable what `actions` pushed, and said so at `now`:
    /// the deliveries that follow.
    fn stored(&self, now: Millis, actions: &[Action]) -> Actions {
        self.core.on_saf_durable(now, &pushed(actions))
    }
}

fn pan(prefix: &str) -> String {
    let mut p = format!("{prefix:0<15}").into_bytes();
    p.push(luhn_check_digit(&p).unwrap());
    String::from_utf8(p).unwrap()
}

/// A purchase of `amount` minor units from acquirer 940810 with STAN `stan`.
fn purchase(stan: u32, pc: &str) -> Message {
    let mut m = Message::new(Mti::FINANCIAL_REQUEST);
    m.set(2, &pan("9408010000001"));
    m.set(3, pc);
    m.set(4, "000000150000");
    m.set(7, "1125103000");
    m.set_stan(stan);
    m.set(32, "940810");
    m.set(37, &format!("{stan:012}"));
    m.set(41, "TERM0001");
    m.set(49, "408");
    m
}

fn issuer_answer(forwarded: &Message, code: ResponseCode) -> Message {
    let mut r = answer(forwarded, code).unwrap();
    r.set(38, "A1B2C3");
    r
}

#[test]
fn a_response_is_matched_and_relayed_with_the_acquirers_keys() {
    let h = Harness::new();
    let actions = h.acquire(Millis(100), purchase(42, "000000"));
    let fwd = one_to(&actions, ISS);
    assert_ne!(fwd.stan(), Some(42), "the switch uses its own STAN");
    assert_eq!(fwd.text(33).unwrap(), "940000");
    assert_eq!(fwd.text(100).unwrap(), "940800");
    assert_eq!(h.core.in_flight(), 1);
    let actions = h.core.on_message(
        Millis(150),
        ISS,
        issuer_answer(&fwd, ResponseCode::APPROVED),
    );
    let resp = one_to(&actions, ACQ);
    assert_eq!(resp.mti().as_str(), "0210");
    assert_eq!(resp.stan(), Some(42));
    assert_eq!(resp.text(7).unwrap(), "1125103000");
    assert_eq!(resp.text(37).unwrap(), "000000000042");
    assert_eq!(resp.text(38).unwrap(), "A1B2C3");
    assert_eq!(rc(&resp), "00");
    assert_eq!(journal(&actions), vec![FinalState::Approved]);
    assert_eq!(h.core.in_flight(), 0);
}

#[test]
fn a_timeout_answers_91_and_queues_a_reversal_first() {
    let h = Harness::new();
    let fwd = one_to(&h.acquire(Millis(0), purchase(7, "000000")), ISS);
    assert!(sends(&h.core.on_tick(Millis(9_999))).is_empty());
    let actions = h.core.on_tick(Millis(10_000));
    let resp = one_to(&actions, ACQ);
    assert_eq!((rc(&resp), resp.stan()), ("91".into(), Some(7)));
    assert_eq!(journal(&actions), vec![FinalState::TimedOut]);
    assert_eq!(h.saf().depth(), 1);
    // The reversal is queued, and the barrier that makes it durable comes before
    // the 91 (the driver holds every later Send until the queue is durable; see
    // the journal-backed test in tests/tests/switch_faults_e2e.rs).
    let barrier = actions
        .iter()
        .position(|a| matches!(a, Action::SafBarrier))
        .expect("a barrier for the queued reversal");
    let answered = actions
        .iter()
        .position(|a| matches!(a, Action::Send { link, .. } if *link == ACQ))
        .expect("the 91");
    assert!(barrier < answered, "{actions:?}");
    // The push is handed to the store, before the barrier.
    let push = actions
        .iter()
        .position(|a| matches!(a, Action::Store(StoreOp::SafPush { .. })))
        .expect("the push for the store");
    assert!(push < barrier, "{actions:?}");
    // Not delivered before the store says the push is durable; then at once,
    // with field 90 naming the forwarded keys; only that delivery is in flight.
    assert!(sends(&actions).iter().all(|(l, _)| *l != ISS));
    assert_eq!(h.core.in_flight(), 0);
    let rev = one_to(&h.stored(Millis(10_001), &actions), ISS);
    assert_eq!(h.core.in_flight(), 1);
    assert_eq!(rev.mti(), Mti::REVERSAL_ADVICE);
    let f90 = rev.text(90).unwrap();
    assert_eq!(&f90[..4], "0200");
    assert_eq!(f90[4..10].parse::<u32>().unwrap(), fwd.stan().unwrap());
    assert_eq!(&f90[10..20], "1125103000");
    h.core.on_message(
        Millis(10_020),
        ISS,
        answer(&rev, ResponseCode::APPROVED).unwrap(),
    );
    assert_eq!(h.saf().depth(), 0);
    assert_eq!(h.core.in_flight(), 0);
}

#[test]
fn cash_withdrawals_wait_longer() {
    let h = Harness::new();
    h.acquire(Millis(0), purchase(8, "010000"));
    assert!(sends(&h.core.on_tick(Millis(10_000))).is_empty());
    assert_eq!(rc(&one_to(&h.core.on_tick(Millis(25_000)), ACQ)), "91");
}

#[test]
fn a_late_response_is_dropped() {
    let h = Harness::new();
    let fwd = one_to(&h.acquire(Millis(0), purchase(9, "000000")), ISS);
    let timed_out = h.core.on_tick(Millis(10_000));
    assert_eq!(rc(&one_to(&timed_out, ACQ)), "91");
    let before = h.core.stats();
    let actions = h.core.on_message(
        Millis(10_500),
        ISS,
        issuer_answer(&fwd, ResponseCode::APPROVED),
    );
    assert!(actions.is_empty(), "{actions:?}");
    let after = h.core.stats();
    assert_eq!(
        (
            after.late_responses - before.late_responses,
            after.unmatched_responses - before.unmatched_responses
        ),
        (1, 0),
        "dropped as late, not as unmatched"
    );
}

#[test]
fn an_unsolicited_response_is_dropped_as_unmatched_every_time() {
    let h = Harness::new();
    // An answer to a STAN the switch never used on this link.
    let mut stray = purchase(77, "000000");
    stray.set_stan(654_321);
    for n in 1..=2u64 {
        let actions = h.core.on_message(
            Millis(100 * n),
            ISS,
            issuer_answer(&stray, ResponseCode::APPROVED),
        );
        assert!(actions.is_empty(), "{actions:?}");
        let stats = h.core.stats();
        assert_eq!(
            (stats.unmatched_responses, stats.late_responses),
            (n, 0),
            "a repeat of an unmatched answer is not taken for a late one"
        );
    }
    assert_eq!(h.core.in_flight(), 0);
}

#[test]
fn a_response_racing_the_timeout_has_exactly_one_outcome() {
    for response_first in [true, false] {
        let h = Harness::new();
        let fwd = one_to(&h.acquire(Millis(0), purchase(10, "000000")), ISS);
        let deadline = Millis(10_000);
        let (a, b) = if response_first {
            let a = h
                .core
                .on_message(deadline, ISS, issuer_answer(&fwd, ResponseCode::APPROVED));
            (a, h.core.on_tick(deadline))
        } else {
            let b = h.core.on_tick(deadline);
            (
                h.core
                    .on_message(deadline, ISS, issuer_answer(&fwd, ResponseCode::APPROVED)),
                b,
            )
        };
        let answers: Vec<_> = sends(&a)
            .into_iter()
            .chain(sends(&b))
            .filter(|(l, _)| *l == ACQ)
            .collect();
        assert_eq!(answers.len(), 1, "response_first={response_first}");
        let expected = if response_first { "00" } else { "91" };
        assert_eq!(rc(&answers[0].1), expected);
        assert_eq!(h.saf().depth(), usize::from(!response_first));
    }
}

#[test]
fn a_duplicate_gets_94_and_leaves_the_original_alone() {
    let h = Harness::new();
    let fwd = one_to(&h.acquire(Millis(0), purchase(11, "000000")), ISS);
    let dup = h.acquire(Millis(5), purchase(11, "000000"));
    let resp = one_to(&dup, ACQ);
    assert_eq!(rc(&resp), "94");
    assert_eq!(h.core.in_flight(), 1);
    let resp = one_to(
        &h.core
            .on_message(Millis(50), ISS, issuer_answer(&fwd, ResponseCode::APPROVED)),
        ACQ,
    );
    assert_eq!(rc(&resp), "00");
    // Another terminal with the same STAN is not a duplicate.
    let mut other = purchase(11, "000000");
    other.set(41, "TERM0002");
    assert_eq!(sends(&h.acquire(Millis(60), other))[0].0, ISS);
}

#[test]
fn losing_an_issuer_link_times_out_everything_on_it_at_once() {
    let h = Harness::new();
    for stan in 1..=5 {
        h.acquire(Millis(stan), purchase(stan as u32, "000000"));
    }
    assert_eq!(h.core.in_flight(), 5);
    let actions = h.core.on_link_down(Millis(100), ISS);
    let answers = sends(&actions);
    assert_eq!(answers.len(), 5);
    assert!(answers.iter().all(|(l, m)| *l == ACQ && rc(m) == "91"));
    assert_eq!(h.saf().depth(), 5);
    assert_eq!(h.core.in_flight(), 0);
    // With no issuer link, new requests get 91 at once.
    assert_eq!(
        rc(&one_to(&h.acquire(Millis(200), purchase(6, "000000")), ACQ)),
        "91"
    );
}

#[test]
fn requests_spread_over_links_and_fail_over() {
    let h = Harness::new();
    h.up_issuer(ISS2, Millis(0));
    let mut used = std::collections::HashSet::new();
    for stan in 1..=4 {
        used.insert(sends(&h.acquire(Millis(stan), purchase(stan as u32, "000000")))[0].0);
    }
    assert_eq!(used.len(), 2);
    h.core.on_link_down(Millis(10), ISS);
    for stan in 5..=8 {
        assert_eq!(
            sends(&h.acquire(Millis(20 + stan), purchase(stan as u32, "000000")))[0].0,
            ISS2
        );
    }
}

#[test]
fn reversals_repeat_as_0421_until_acknowledged() {
    let h = Harness::new();
    h.acquire(Millis(0), purchase(12, "000000"));
    // Timeout: RC 91, the reversal queued, and sent once its push is durable.
    let timed_out = h.core.on_tick(Millis(10_000));
    let first = one_to(&h.stored(Millis(10_000), &timed_out), ISS);
    assert_eq!(first.mti().as_str(), "0420");
    // Unanswered: its own deadline passes, then the retry comes as a repeat.
    assert!(sends(&h.core.on_tick(Millis(15_000))).is_empty());
    let mut now = 20_001;
    let second = loop {
        let s = sends(&h.core.on_tick(Millis(now)));
        if let Some((_, m)) = s.into_iter().find(|(l, _)| *l == ISS) {
            break m;
        }
        now += 500;
        assert!(now < 200_000, "no retry");
    };
    assert_eq!(second.mti().as_str(), "0421");
    assert_eq!(second.text(90), first.text(90));
    // Acknowledging the repeat empties the queue; the old attempt's late 0430 is ignored.
    h.core.on_message(
        Millis(now + 10),
        ISS,
        answer(&second, ResponseCode::APPROVED).unwrap(),
    );
    assert_eq!(h.saf().depth(), 0);
    assert!(h
        .core
        .on_message(
            Millis(now + 20),
            ISS,
            answer(&first, ResponseCode::APPROVED).unwrap()
        )
        .is_empty());
}

#[test]
fn after_a_restart_an_issuers_links_number_on_past_the_journals_last_stan() {
    let core = Core::new(
        CoreSettings::default(),
        Arc::new(SharedRoutingTable::new(national())),
    );
    core.continue_stans_after("940800", 500_000);
    core.continue_stans_after("940810", 995_000);
    // A later (older) row of the same issuer changes nothing: the newest comes first.
    core.continue_stans_after("940800", 7);
    let signon_stan = |id: LinkId, bank: &str| {
        one_to(
            &core.on_link_up(Millis(0), id, link_config(Role::Issuer, bank)),
            id,
        )
        .stan()
        .unwrap()
    };
    assert_eq!(signon_stan(2, "940800"), 500_000 + STAN_MARGIN);
    // Past 999999 the numbering wraps to 1.
    assert_eq!(signon_stan(3, "940810"), 995_000 + STAN_MARGIN - 999_999);
    // A bank the journal says nothing of starts from the epoch second.
    assert_eq!(signon_stan(4, "940820"), 1);
}

#[test]
fn stan_wraps_around_and_skips_values_in_flight() {
    let h = Harness::new();
    let link = h.core.links.get(ISS).unwrap();
    link.set_next_stan(1);
    let first = one_to(&h.acquire(Millis(0), purchase(100, "000000")), ISS)
        .stan()
        .unwrap();
    link.set_next_stan(999_998);
    let stans: Vec<u32> = (101..=103)
        .map(|s| {
            one_to(&h.acquire(Millis(1), purchase(s, "000000")), ISS)
                .stan()
                .unwrap()
        })
        .collect();
    assert_eq!(first, 1);
    // 999998, 999999, then 1 is still in flight: 2.
    assert_eq!(stans, vec![999_998, 999_999, 2]);
}

#[test]
fn a_reload_keeps_in_flight_transactions_and_applies_to_new_ones() {
    let h = Harness::new();
    let fwd = one_to(&h.acquire(Millis(0), purchase(20, "000000")), ISS);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../routing-rules/rules/national.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let text = text + "\n[[rule]]\nid = \"maintenance\"\nwhen = { acquirer = [\"940810\"] }\nthen = { decline = \"58\" }\n";
    // Named as the file it came from: its negative file is found beside it.
    let (t, _) = RoutingTable::from_toml(&text, path).unwrap();
    h.core.routing().replace(t);
    let resp = one_to(
        &h.core
            .on_message(Millis(10), ISS, issuer_answer(&fwd, ResponseCode::APPROVED)),
        ACQ,
    );
    assert_eq!(rc(&resp), "00");
    assert_eq!(
        rc(&one_to(&h.acquire(Millis(20), purchase(21, "000000")), ACQ)),
        "58"
    );
}

#[test]
fn the_switch_answers_what_it_can_decide_itself() {
    let h = Harness::new();
    let mut m = purchase(30, "000000");
    m.remove(41);
    assert_eq!(rc(&one_to(&h.acquire(Millis(0), m), ACQ)), "30");
    let mut m = purchase(31, "000000");
    m.set(32, "940830");
    assert_eq!(rc(&one_to(&h.acquire(Millis(0), m), ACQ)), "31");
    let mut m = purchase(32, "000000");
    m.set(2, &pan("9408980000001"));
    assert_eq!(rc(&one_to(&h.acquire(Millis(0), m), ACQ)), "15");
    let mut m = purchase(33, "000000");
    m.set(2, "9408010000001231");
    assert_eq!(rc(&one_to(&h.acquire(Millis(0), m), ACQ)), "14");
    let mut m = purchase(34, "000000");
    m.set(2, &pan("9408300000001")); // Harbour Trade: no link
    assert_eq!(rc(&one_to(&h.acquire(Millis(0), m), ACQ)), "91");
    let mut m = purchase(35, "200000"); // refund: not a known transaction type
    m.set(3, "200000");
    assert_eq!(rc(&one_to(&h.acquire(Millis(0), m), ACQ)), "12");
    let mut m = purchase(36, "000000");
    m.set(49, "999");
    assert_eq!(rc(&one_to(&h.acquire(Millis(0), m), ACQ)), "30");
    assert_eq!(h.core.in_flight(), 0);
}

#[test]
fn the_in_flight_cap_answers_91_at_once() {
    let h = Harness::new();
    for stan in 1..=100u32 {
        assert_eq!(
            sends(&h.acquire(Millis(0), purchase(stan, "000000")))[0].0,
            ISS
        );
    }
    assert_eq!(
        rc(&one_to(&h.acquire(Millis(0), purchase(101, "000000")), ACQ)),
        "91"
    );
}

#[test]
fn an_approval_for_a_departed_acquirer_is_reversed() {
    let h = Harness::new();
    let fwd = one_to(&h.acquire(Millis(0), purchase(40, "000000")), ISS);
    assert!(h.core.on_link_down(Millis(1), ACQ).is_empty());
    let actions = h
        .core
        .on_message(Millis(2), ISS, issuer_answer(&fwd, ResponseCode::APPROVED));
    assert!(sends(&actions).is_empty());
    assert_eq!(journal(&actions), vec![FinalState::Reversed]);
    assert_eq!(h.saf().depth(), 1);
}

#[test]
fn idle_issuer_links_are_echoed_and_marked_down_after_missed_echoes() {
    let h = Harness::new();
    let echo = one_to(&h.core.on_tick(Millis(30_000)), ISS);
    assert_eq!(echo.text(70).unwrap(), "301");
    h.core.on_message(
        Millis(30_010),
        ISS,
        answer(&echo, ResponseCode::APPROVED).unwrap(),
    );
    assert!(h.core.link_usable(ISS));
    // Three unanswered echoes.
    let mut now = 60_100;
    let mut closed = false;
    for _ in 0..20 {
        let actions = h.core.on_tick(Millis(now));
        closed |= actions
            .iter()
            .any(|a| matches!(a, Action::Close { link: ISS, .. }));
        if closed {
            break;
        }
        now += 11_000;
    }
    assert!(closed);
    assert!(!h.core.link_usable(ISS));
}

#[test]
fn malformed_requests_get_30_and_network_requests_are_answered() {
    let h = Harness::new();
    let actions = h
        .core
        .on_malformed(Millis(0), ACQ, Mti::FINANCIAL_REQUEST, Some(77));
    let resp = one_to(&actions, ACQ);
    assert_eq!(
        (resp.mti().as_str(), resp.stan(), rc(&resp)),
        ("0210", Some(77), "30".into())
    );
    // No readable STAN: answered all the same, without one.
    let resp = one_to(
        &h.core
            .on_malformed(Millis(0), ACQ, Mti::FINANCIAL_REQUEST, None),
        ACQ,
    );
    assert_eq!(
        (resp.mti().as_str(), resp.stan(), rc(&resp)),
        ("0210", None, "30".into())
    );
    // An answer that does not decode is not answered.
    assert!(h
        .core
        .on_malformed(Millis(0), ACQ, Mti::FINANCIAL_RESPONSE, Some(78))
        .is_empty());
    let mut echo = Message::new(Mti::NETWORK_REQUEST);
    echo.set(7, "1125103000");
    echo.set_stan(5);
    echo.set(70, "301");
    let resp = one_to(&h.acquire(Millis(0), echo), ACQ);
    assert_eq!((resp.mti().as_str(), rc(&resp)), ("0810", "00".into()));
}

/// A purchase (STAN 50) forwarded at 0 and approved at 10, and the acquirer's
/// reversal advice of it (STAN 51): (the forwarded purchase, the advice).
fn approved_then_reversed(h: &Harness) -> (Message, Message) {
    let orig = purchase(50, "000000");
    let fwd = one_to(&h.acquire(Millis(0), orig.clone()), ISS);
    h.core
        .on_message(Millis(10), ISS, issuer_answer(&fwd, ResponseCode::APPROVED));
    let mut rev = Message::new(Mti::REVERSAL_ADVICE);
    for n in [2u8, 3, 4, 32, 37, 41, 49] {
        rev.set(n, &orig.text(n).unwrap());
    }
    rev.set(7, "1125103100");
    rev.set_stan(51);
    rev.set(
        90,
        &format!("0200{:06}1125103000{:0>11}{:0>11}", 50, "940810", ""),
    );
    (fwd, rev)
}

#[test]
fn acquirer_reversals_are_acknowledged_and_forwarded_with_the_issuers_keys() {
    let h = Harness::new();
    let (fwd, rev) = approved_then_reversed(&h);
    let acked = h.acquire(Millis(20), rev.clone());
    let ack = one_to(&acked, ACQ);
    assert_eq!((ack.mti().as_str(), rc(&ack)), ("0430", "00".into()));
    // A repeat is acknowledged but not queued twice.
    let mut repeat = rev.clone();
    repeat.set_mti(Mti::REVERSAL_ADVICE_REPEAT);
    assert_eq!(rc(&one_to(&h.acquire(Millis(30), repeat), ACQ)), "00");
    assert_eq!(h.saf().depth(), 1);
    // Queued, not delivered, until the store says its push is durable.
    assert!(sends(&h.core.on_tick(Millis(35))).is_empty());
    let out = one_to(&h.stored(Millis(40), &acked), ISS);
    assert_eq!(out.mti().as_str(), "0420");
    let f90 = out.text(90).unwrap();
    assert_eq!(
        f90[4..10].parse::<u32>().unwrap(),
        fwd.stan().unwrap(),
        "field 90 names the switch's STAN"
    );
}

#[test]
fn only_the_settlement_agent_cuts_over_and_a_repeat_does_not_cut_over_twice() {
    let h = Harness::new();
    let cutover = |stan: u32| {
        let mut m = Message::new(Mti::NETWORK_REQUEST);
        m.set(7, "1125235959");
        m.set_stan(stan);
        m.set(70, "201");
        m
    };
    let cuts = |actions: &[Action]| {
        actions
            .iter()
            .filter(|a| matches!(a, Action::Cutover))
            .count()
    };
    // A commercial bank (940810) may not close the business day.
    let actions = h.core.on_message(Millis(10), ACQ, cutover(1));
    assert_eq!(cuts(&actions), 0);
    assert_eq!(rc(&one_to(&actions, ACQ)), "12");
    // The central bank (940800, the settlement agent) may, once per request.
    let actions = h.core.on_message(Millis(20), ISS, cutover(2));
    assert_eq!(cuts(&actions), 1);
    assert_eq!(rc(&one_to(&actions, ISS)), "00");
    let actions = h.core.on_message(Millis(30), ISS, cutover(2));
    assert_eq!(cuts(&actions), 0, "a repeat closes no second day");
    assert_eq!(rc(&one_to(&actions, ISS)), "00");
    let actions = h.core.on_message(Millis(40), ISS, cutover(3));
    assert_eq!(cuts(&actions), 1, "a new request closes the next day");
}

/// The journal records among `actions`.
fn records(actions: &[Action]) -> Vec<&crate::core::journal::JournalRecord> {
    records_of(actions, false)
}

/// The journal records among `actions` that the answer waits for (`unheld`
/// false) or not ([`Action::JournalUnheld`]).
fn records_of(actions: &[Action], unheld: bool) -> Vec<&crate::core::journal::JournalRecord> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Journal(r) if !unheld => Some(&**r),
            Action::JournalUnheld(r) if unheld => Some(&**r),
            _ => None,
        })
        .collect()
}

#[test]
fn declines_are_journaled_with_the_rule_that_decided_and_repeats_too() {
    let h = Harness::new();
    // A transfer (processing code 40): not a known transaction type.
    let actions = h.acquire(Millis(0), purchase(30, "400000"));
    assert_eq!(rc(&one_to(&actions, ACQ)), "12");
    let declined = records(&actions);
    assert_eq!(declined.len(), 1);
    assert_eq!(declined[0].state, FinalState::Declined);
    assert_eq!(declined[0].rule.as_deref(), Some("known-transaction-types"));
    assert_eq!(declined[0].response_code.as_str(), "12");

    // A repeat of a transaction in flight: answered 94, journaled as declined 94.
    let first = h.acquire(Millis(10), purchase(31, "000000"));
    assert_eq!(records(&first)[0].state, FinalState::Forwarded);
    let repeat = h.acquire(Millis(20), purchase(31, "000000"));
    assert_eq!(rc(&one_to(&repeat, ACQ)), "94");
    let repeated = records(&repeat);
    assert_eq!(repeated.len(), 1);
    assert_eq!(repeated[0].response_code.as_str(), "94");
    assert_ne!(repeated[0].id, records(&first)[0].id, "a record of its own");

    // A frame that did not decode, from the acquirer: answered 30 and journaled.
    let actions = h
        .core
        .on_malformed(Millis(30), ACQ, Mti::FINANCIAL_REQUEST, Some(32));
    assert_eq!(rc(&one_to(&actions, ACQ)), "30");
    let malformed = records(&actions);
    assert_eq!(malformed.len(), 1);
    assert_eq!(
        (malformed[0].acquirer.as_str(), malformed[0].stan.as_str()),
        ("940810", "000032")
    );
}

/// What a real issuer host echoes: its request's matching fields, including the
/// switch's 33, 90 and 100.
fn issuer_echo(forwarded: &Message, code: ResponseCode) -> Message {
    let mut r = issuer_answer(forwarded, code);
    for n in [33u8, 90, 100] {
        if let Some(v) = forwarded.text(n) {
            r.set(n, &v);
        }
    }
    r
}

#[test]
fn an_answer_carries_no_routing_field_the_acquirer_did_not_send() {
    let h = Harness::new();
    let fwd = one_to(&h.acquire(Millis(0), purchase(60, "000000")), ISS);
    assert!(fwd.has(33) && fwd.has(100), "the issuer's side is routed");
    let resp = one_to(
        &h.core
            .on_message(Millis(5), ISS, issuer_echo(&fwd, ResponseCode::APPROVED)),
        ACQ,
    );
    for n in [33u8, 90, 100] {
        assert!(!resp.has(n), "field {n} was not in the acquirer's request");
    }
    assert_eq!(resp.text(32).unwrap(), "940810");

    // An acquirer that names its own forwarding institution gets it back.
    let mut own = purchase(61, "000000");
    own.set(33, "940811");
    let fwd = one_to(&h.acquire(Millis(10), own), ISS);
    assert_eq!(fwd.text(33).unwrap(), "940000");
    let resp = one_to(
        &h.core
            .on_message(Millis(15), ISS, issuer_echo(&fwd, ResponseCode::APPROVED)),
        ACQ,
    );
    assert_eq!(resp.text(33).unwrap(), "940811");
    assert!(!resp.has(100));
}

/// A 0400 from acquirer 940810 reversing its purchase with STAN `original_stan`.
fn reversal_request(orig: &Message, original_stan: u32, stan: u32) -> Message {
    let mut rev = Message::new(Mti::REVERSAL_REQUEST);
    for n in [2u8, 3, 4, 32, 37, 41, 49] {
        rev.set(n, &orig.text(n).unwrap());
    }
    rev.set(7, "1125103100");
    rev.set_stan(stan);
    rev.set(
        90,
        &format!(
            "0200{original_stan:06}1125103000{:0>11}{:0>11}",
            "940810", ""
        ),
    );
    rev
}

#[test]
fn a_reversal_answer_carries_the_acquirers_own_field_90() {
    let h = Harness::new();
    let orig = purchase(70, "000000");
    let fwd = one_to(&h.acquire(Millis(0), orig.clone()), ISS);
    h.core
        .on_message(Millis(5), ISS, issuer_echo(&fwd, ResponseCode::APPROVED));

    let rev = reversal_request(&orig, 70, 71);
    let actions = h.acquire(Millis(10), rev.clone());
    let to_issuer = one_to(&actions, ISS);
    assert_ne!(to_issuer.text(90), rev.text(90), "the issuer's terms");
    let forwarded = records(&actions);
    assert_eq!(
        forwarded[0]
            .reverses
            .as_ref()
            .map(|(t, s)| (t.as_str(), s.as_str())),
        Some(("1125103000", "000070")),
        "journaled against the original in the acquirer's terms"
    );
    let actions = h.core.on_message(
        Millis(15),
        ISS,
        issuer_echo(&to_issuer, ResponseCode::APPROVED),
    );
    let answer = one_to(&actions, ACQ);
    assert_eq!(answer.mti().as_str(), "0410");
    assert_eq!(answer.text(90), rev.text(90), "the acquirer's own field 90");
    assert_eq!(answer.stan(), Some(71));
    assert_eq!(answer.text(7).unwrap(), "1125103100");
    assert!(!answer.has(33) && !answer.has(100));
    assert_eq!(
        records(&actions)[0]
            .reverses
            .as_ref()
            .map(|(t, s)| (t.as_str(), s.as_str())),
        Some(("1125103000", "000070"))
    );

    // Timed out: the 91 carries the acquirer's field 90 too.
    let rev = reversal_request(&orig, 70, 72);
    let to_issuer = one_to(&h.acquire(Millis(20), rev.clone()), ISS);
    assert!(to_issuer.has(90));
    let answer = one_to(&h.core.on_tick(Millis(20_000)), ACQ);
    assert_eq!((answer.mti().as_str(), rc(&answer)), ("0410", "91".into()));
    assert_eq!(answer.text(90), rev.text(90));
    assert!(!answer.has(33) && !answer.has(100));
}

#[test]
fn a_lost_sign_on_answer_is_retried_after_the_link_timeout() {
    let h = Harness::new();
    let quick = Arc::new(LinkConfig {
        timeout: Duration::from_secs(2),
        ..(*link_config(Role::Issuer, "940800")).clone()
    });
    let signon = one_to(&h.core.on_link_up(Millis(0), ISS2, quick.clone()), ISS2);
    assert_eq!(signon.text(70).unwrap(), "001");
    // Its answer never comes: the sign-on goes again at the link's timeout, not
    // after the 10 s an echo may wait.
    let to_iss2 = |actions: &[Action]| {
        sends(actions)
            .into_iter()
            .filter(|(l, _)| *l == ISS2)
            .count()
    };
    assert_eq!(to_iss2(&h.core.on_tick(Millis(1_999))), 0);
    let again = one_to(&h.core.on_tick(Millis(2_000)), ISS2);
    assert_eq!(
        (again.mti(), again.text(70).unwrap().as_ref()),
        (Mti::NETWORK_REQUEST, "001")
    );
    assert_ne!(again.stan(), signon.stan());
    let reply = answer(&again, ResponseCode::APPROVED).unwrap();
    assert!(h.core.on_message(Millis(2_010), ISS2, reply).is_empty());
    assert!(h.core.link_usable(ISS2));

    // A slow issuer: the first sign-on's answer comes after the repeat went out.
    // It signs the link on all the same; the repeat's answer is then dropped.
    const ISS3: LinkId = 4;
    let first = one_to(&h.core.on_link_up(Millis(10_000), ISS3, quick), ISS3);
    let repeat = one_to(&h.core.on_tick(Millis(12_000)), ISS3);
    assert_eq!(repeat.text(70).unwrap(), "001");
    assert!(!h.core.link_usable(ISS3));
    let late = answer(&first, ResponseCode::APPROVED).unwrap();
    assert!(h.core.on_message(Millis(12_100), ISS3, late).is_empty());
    assert!(
        h.core.link_usable(ISS3),
        "the late answer signs the link on"
    );
    let second = answer(&repeat, ResponseCode::APPROVED).unwrap();
    assert!(h.core.on_message(Millis(12_200), ISS3, second).is_empty());
    assert!(h.core.link_usable(ISS3));
    // No missed echo is counted against it afterwards.
    assert_eq!(to_iss2(&h.core.on_tick(Millis(14_500))), 0);
    assert!(h.core.link_usable(ISS3));
}

#[test]
fn an_entry_forwarded_on_a_link_that_went_down_meanwhile_times_out_at_once() {
    let h = Harness::new();
    // The forward picked the link; the link goes down (its sweep finds nothing
    // of this request yet); then the forward tracks its request.
    let link = h.core.links.get(ISS).expect("the issuer link");
    assert!(h.core.on_link_down(Millis(5), ISS).is_empty());
    let fwd = purchase(90, "000000");
    let key = InFlightKey {
        link: ISS,
        class: 2,
        stan: 4242,
    };
    let entry = inflight::InFlightEntry {
        txn_id: 1,
        purpose: Purpose::Request,
        acquirer_link: ACQ,
        forwarded: fwd,
        acquirer_f7: None,
        acquirer_f11: None,
        acquirer_routing: None,
        issuer: "940800".into(),
        rule: None,
        started: Millis(5),
        deadline: Millis(10_005),
        channel: routing_rules::Channel::Terminal,
        token: None,
    };
    let mut actions = Vec::new();
    h.core.track_in_flight(
        Millis(6),
        &link,
        key,
        entry,
        super::links::TimeoutClass::Pos,
        &mut actions,
    );
    assert_eq!(
        h.core.in_flight(),
        0,
        "nothing waits on a link that is gone"
    );
    assert_eq!(rc(&one_to(&actions, ACQ)), "91");
    assert_eq!(h.saf().depth(), 1, "the reversal is owed");
}

/// Forwards on one thread while the issuer's link drops and comes back on
/// another: whatever the interleaving, once every link is down nothing is left
/// in flight (an entry inserted after its link's sweep used to stay forever).
#[test]
fn forwards_racing_link_drops_leave_nothing_in_flight() {
    let h = Harness::new();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for stan in 1..=20_000u32 {
                h.acquire(
                    Millis(u64::from(stan)),
                    purchase(stan % 999_999 + 1, "000000"),
                );
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        s.spawn(|| {
            let mut id = 100;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                h.core.on_link_down(Millis(1), ISS);
                h.core.on_link_down(Millis(1), id);
                id += 1;
                h.up_issuer(id, Millis(1));
            }
        });
    });
    for id in [ISS, 100] {
        h.core.on_link_down(Millis(30_000), id);
    }
    let ids: Vec<LinkId> = h.core.links.all().iter().map(|l| l.id).collect();
    for id in ids {
        h.core.on_link_down(Millis(30_000), id);
    }
    assert_eq!(h.core.in_flight(), 0);
}

#[test]
fn without_a_journal_the_core_builds_no_records_and_answers_the_same() {
    let h = Harness::with_settings(CoreSettings {
        journal: false,
        ..CoreSettings::default()
    });
    let forwarded = h.acquire(Millis(100), purchase(42, "000000"));
    assert!(journal(&forwarded).is_empty(), "{forwarded:?}");
    let fwd = one_to(&forwarded, ISS);
    let answered = h.core.on_message(
        Millis(150),
        ISS,
        issuer_answer(&fwd, ResponseCode::APPROVED),
    );
    assert!(journal(&answered).is_empty());
    assert_eq!(rc(&one_to(&answered, ACQ)), "00");
    // A decline (a repeat) and a timeout: answered, not journaled; the timeout
    // still owes its reversal.
    let repeat = h.acquire(Millis(200), purchase(42, "000000"));
    assert_eq!(rc(&one_to(&repeat, ACQ)), "94");
    assert!(journal(&repeat).is_empty());
    h.acquire(Millis(300), purchase(43, "000000"));
    let expired = h.core.on_tick(Millis(10_300));
    assert_eq!(rc(&one_to(&expired, ACQ)), "91");
    assert!(journal(&expired).is_empty());
    assert_eq!(h.saf().depth(), 1);
}

#[test]
fn the_forwarded_record_carries_the_request_the_owed_reversal_is_made_from() {
    let h = Harness::new();
    // The expiry date and POS entry mode are forwarded, never stored.
    let mut request = purchase(42, "000000");
    request.set(14, "2812");
    request.set(22, "051");
    let actions = h.acquire(Millis(100), request);
    let fwd = one_to(&actions, ISS);
    let record = records(&actions)[0];
    assert_eq!(record.state, FinalState::Forwarded);
    let kept = record.forwarded.as_ref().expect("the request as forwarded");
    let kept_fields: Vec<u8> = kept.field_numbers().collect();
    assert_eq!(
        kept_fields,
        [3, 4, 7, 11, 32, 33, 37, 41, 49, 100],
        "no PAN"
    );
    assert_eq!(kept.stan(), fwd.stan());
    let owed = crate::core::reversal_of(kept).expect("a reversal");
    let on_timeout = crate::core::reversal_of(&fwd).expect("a reversal");
    assert_eq!(owed.text(90), on_timeout.text(90));
    assert_eq!(owed.mti(), Mti::REVERSAL_ADVICE);
}
