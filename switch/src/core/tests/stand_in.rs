//! Stand-in on virtual time: decisions when the issuer has no link and when it
//! does not answer in time, their answers, advices, journal records and limits;
//! reversals of stand-in approvals; 0302 negative-file updates.

use super::*;
use crate::config::StandInConfig;

/// The national debit card of the harness's purchases (issuer 940800).
fn card() -> String {
    pan("9408010000001")
}

fn stand_in_on() -> Harness {
    Harness::with_settings(CoreSettings {
        stand_in: StandInConfig::default(),
        ..CoreSettings::default()
    })
}

/// A purchase of `major` KPW (field 4 in minor units) with STAN `stan`.
fn purchase_of(stan: u32, major: u64) -> Message {
    let mut m = purchase(stan, "000000");
    m.set(4, &format!("{:012}", major * 100));
    m.set(14, "2912");
    m
}

/// The SAF pushes of `actions`: (id, message as stored, card kept apart).
fn saf_pushes(actions: &[Action]) -> Vec<(u64, Message, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Store(StoreOp::SafPush { id, msg, card, .. }) => {
                Some((*id, msg.clone(), card.is_some()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn with_stand_in_off_an_issuer_without_a_link_is_declined_91() {
    let h = Harness::new();
    h.core.on_link_down(Millis(0), ISS);
    let actions = h.acquire(Millis(10), purchase_of(1, 1_500));
    assert_eq!(rc(&one_to(&actions, ACQ)), "91");
    assert!(saf_pushes(&actions).is_empty(), "no advice");
}

#[test]
fn an_issuer_without_a_link_is_stood_in_for_and_advised() {
    let h = stand_in_on();
    h.core.on_link_down(Millis(0), ISS);
    let actions = h.acquire(Millis(10), purchase_of(1, 1_500));
    let resp = one_to(&actions, ACQ);
    assert_eq!(rc(&resp), "00");
    let code: u32 = resp
        .text(38)
        .expect("an authorization code")
        .parse()
        .unwrap();
    assert!((900_000..=999_999).contains(&code), "{code}");
    assert_eq!(resp.text(60).as_deref(), Some("STANDIN"));
    assert_eq!(resp.stan(), Some(1), "the acquirer's keys");

    // The record, then the advice (the card kept apart), both durable (fence)
    // before the answer.
    let barrier = actions
        .iter()
        .position(|a| matches!(a, Action::DecisionFence))
        .expect("a fence");
    let record_at = actions
        .iter()
        .position(|a| matches!(a, Action::Journal(_)))
        .unwrap();
    let push_at = actions
        .iter()
        .position(|a| matches!(a, Action::Store(StoreOp::SafPush { .. })))
        .unwrap();
    assert!(record_at < push_at && push_at < barrier);
    let answer_at = actions
        .iter()
        .position(|a| matches!(a, Action::Send { .. }))
        .unwrap();
    assert!(barrier < answer_at);
    let pushes = saf_pushes(&actions);
    assert_eq!(pushes.len(), 1);
    let (id, stored, with_card) = &pushes[0];
    assert!(with_card);
    assert!(!stored.has(2), "the stored message holds no card");
    assert_eq!(stored.mti().as_str(), "0220");
    assert_eq!(stored.text(39).as_deref(), Some("00"));
    assert_eq!(stored.text(38), resp.text(38));
    assert_eq!(stored.text(60).as_deref(), Some("STANDIN"));
    assert_eq!(stored.text(100).as_deref(), Some("940800"));
    assert!(!stored.has(90), "nothing was forwarded before it");

    let journal = records(&actions);
    assert_eq!(journal.len(), 1);
    let r = journal[0];
    assert_eq!(r.state, FinalState::Approved);
    let note = r.stand_in.as_ref().expect("a stand-in note");
    assert_eq!(note.check, "within-limits");
    assert_eq!(note.entry.as_deref(), Some("central-bank-debit"));
    assert_eq!(note.advice_saf, Some(*id));
    assert_eq!(r.switch_stan, stored.stan(), "the decision's STAN");
    assert_eq!(r.auth_code.as_deref(), resp.text(38).as_deref());

    // The issuer comes back: the advice goes with the card and its own STAN.
    h.up_issuer(3, Millis(20));
    let out = h.stored(Millis(30), &actions);
    let advice = one_to(&out, 3);
    assert_eq!(advice.text(2).as_deref(), Some(card().as_str()));
    assert_eq!(advice.stan(), stored.stan());
    assert_eq!(h.core.stats().bank("940800").stand_in, (1, 0));
}

#[test]
fn each_limit_declines_with_its_code() {
    let h = stand_in_on();
    h.core.on_link_down(Millis(0), ISS);
    // Above the per-transaction limit (500,000 KPW): 61.
    let over = h.acquire(Millis(1), purchase_of(1, 500_001));
    assert_eq!(rc(&one_to(&over, ACQ)), "61");
    assert_eq!(
        records(&over)[0].stand_in.as_ref().unwrap().check,
        "per-transaction"
    );
    // A decline is advised too.
    assert_eq!(saf_pushes(&over)[0].1.text(39).as_deref(), Some("61"));
    // Five approvals a day, the sixth declined 65.
    for stan in 2..7 {
        let ok = h.acquire(Millis(u64::from(stan)), purchase_of(stan, 1_000));
        assert_eq!(rc(&one_to(&ok, ACQ)), "00", "approval {stan}");
    }
    let sixth = h.acquire(Millis(10), purchase_of(7, 1_000));
    assert_eq!(rc(&one_to(&sixth, ACQ)), "65");
    assert_eq!(
        records(&sixth)[0].stand_in.as_ref().unwrap().check,
        "daily-count"
    );
    // An expired card: 54; a balance inquiry: 91 (never approved in stand-in).
    let mut expired = purchase_of(8, 10);
    expired.set(2, &pan("9408010000002"));
    expired.set(14, "2001");
    assert_eq!(rc(&one_to(&h.acquire(Millis(11), expired), ACQ)), "54");
    let mut balance = purchase_of(9, 0);
    balance.set(2, &pan("9408010000003"));
    balance.set(3, "310000");
    assert_eq!(rc(&one_to(&h.acquire(Millis(12), balance), ACQ)), "91");
    assert_eq!(
        h.core.stats().bank("940800").stand_in,
        (5, 3),
        "the 91 not-allowed is no stand-in decision"
    );
}

#[test]
fn the_daily_amount_counts_what_was_restored_and_a_new_day_starts_over() {
    let h = stand_in_on();
    h.core.on_link_down(Millis(0), ISS);
    h.core.set_business_day(20_000);
    let digest = routing_rules::pan_digest(card().as_bytes());
    // Counted under the card's keyed hash, or its digest without a key (here).
    let key = h.core.pan_tag(card().as_bytes()).unwrap_or(digest);
    // 900,000 KPW approved in stand-in today before a restart.
    h.core
        .restore_stand_in_usage(key, 408, false, rust_decimal::Decimal::from(900_000), 1);
    let over = h.acquire(Millis(1), purchase_of(1, 200_000));
    assert_eq!(rc(&one_to(&over, ACQ)), "61");
    assert_eq!(
        records(&over)[0].stand_in.as_ref().unwrap().check,
        "daily-amount"
    );
    assert_eq!(
        rc(&one_to(&h.acquire(Millis(2), purchase_of(2, 100_000)), ACQ)),
        "00"
    );
    h.core.set_business_day(20_001);
    assert_eq!(
        rc(&one_to(&h.acquire(Millis(3), purchase_of(3, 200_000)), ACQ)),
        "00"
    );
}

#[test]
fn a_timeout_is_reversed_first_and_then_decided_in_stand_in() {
    let h = stand_in_on();
    let fwd = one_to(&h.acquire(Millis(0), purchase_of(42, 1_500)), ISS);
    let actions = h.core.on_tick(Millis(10_000));
    let resp = one_to(&actions, ACQ);
    assert_eq!(rc(&resp), "00", "the stand-in decision, not 91");
    assert_eq!(resp.stan(), Some(42));
    assert_eq!(resp.text(60).as_deref(), Some("STANDIN"));
    let pushes = saf_pushes(&actions);
    assert_eq!(pushes.len(), 2);
    let (rev_id, rev, rev_card) = &pushes[0];
    let (adv_id, adv, adv_card) = &pushes[1];
    assert_eq!(rev.mti(), Mti::REVERSAL_ADVICE);
    assert!(!rev_card);
    assert_eq!(adv.mti().as_str(), "0220");
    assert!(adv_card);
    assert!(rev_id < adv_id);
    let forwarded_90 = field90(&fwd).unwrap();
    assert_eq!(rev.text(90).as_deref(), Some(forwarded_90.as_str()));
    assert_eq!(
        adv.text(90).as_deref(),
        Some(forwarded_90.as_str()),
        "the advice names the request it replaces"
    );
    assert_ne!(adv.stan(), fwd.stan(), "the decision has its own STAN");
    // The journal row of the forwarded request is completed with the decision.
    let r = records(&actions)[0];
    assert_eq!(r.state, FinalState::Approved);
    assert_eq!(r.switch_stan, adv.stan());
    assert_eq!(r.stand_in.as_ref().unwrap().advice_saf, Some(*adv_id));
    // Delivered in order: the reversal first, the advice held until it is answered.
    let out = h.stored(Millis(10_001), &actions);
    let first = one_to(&out, ISS);
    assert_eq!(first.mti(), Mti::REVERSAL_ADVICE);
    let ack = answer(&first, ResponseCode::APPROVED).unwrap();
    let out = h.core.on_message(Millis(10_002), ISS, ack);
    let second = one_to(&out, ISS);
    assert_eq!(second.mti().as_str(), "0220");
    assert_eq!(second.text(2).as_deref(), Some(card().as_str()));
    // A late answer to the original changes nothing.
    let late = h.core.on_message(
        Millis(10_003),
        ISS,
        issuer_answer(&fwd, ResponseCode::APPROVED),
    );
    assert!(sends(&late).iter().all(|(l, _)| *l != ACQ));
}

/// While the store is unavailable a forward may still wait for its record
/// (never sent), so its timeout says nothing of the issuer: no stand-in, a
/// plain timeout (91, its reversal queued).
#[test]
fn no_stand_in_after_a_timeout_while_the_store_is_unavailable() {
    let h = stand_in_on();
    one_to(&h.acquire(Millis(0), purchase_of(42, 1_500)), ISS);
    h.core.set_store_available(false);
    let actions = h.core.on_tick(Millis(10_000));
    assert_eq!(rc(&one_to(&actions, ACQ)), "91");
    let pushes = saf_pushes(&actions);
    assert_eq!(pushes.len(), 1, "the reversal, and no advice");
    assert_eq!(pushes[0].1.mti(), Mti::REVERSAL_ADVICE);
    assert_eq!(records(&actions)[0].state, FinalState::TimedOut);
}

#[test]
fn a_stand_in_advice_keeps_its_stan_when_repeated() {
    let h = stand_in_on();
    h.core.on_link_down(Millis(0), ISS);
    let actions = h.acquire(Millis(1), purchase_of(1, 1_500));
    let stan = saf_pushes(&actions)[0].1.stan();
    h.up_issuer(3, Millis(2));
    let first = one_to(&h.stored(Millis(3), &actions), 3);
    assert_eq!(first.stan(), stan);
    // No answer: it goes again once its backoff has passed, as 0221, same STAN.
    let mut repeat = None;
    for t in (10_000..=80_000).step_by(1_000) {
        let out = h.core.on_tick(Millis(t));
        if let Some((_, m)) = sends(&out).into_iter().find(|(l, _)| *l == 3) {
            repeat = Some(m);
            break;
        }
    }
    let repeat = repeat.expect("a repeat within 80 s");
    assert_eq!(repeat.mti().as_str(), "0221");
    assert_eq!(repeat.stan(), stan);
}

#[test]
fn a_reversal_of_a_stand_in_approval_is_answered_here_and_owed_after_the_advice() {
    let h = stand_in_on();
    h.core.on_link_down(Millis(0), ISS);
    let approved = h.acquire(Millis(1), purchase_of(7, 1_500));
    let advice = saf_pushes(&approved)[0].1.clone();
    h.stored(Millis(1), &approved);
    h.up_issuer(3, Millis(2));
    let mut rev = purchase_of(8, 1_500);
    rev.set_mti(Mti::REVERSAL_REQUEST);
    rev.set(
        90,
        &format!("0200{:06}{}{:0>11}{:0>11}", 7, "1125103000", "940810", "0"),
    );
    let actions = h.acquire(Millis(3), rev);
    let resp = one_to(&actions, ACQ);
    assert_eq!(resp.mti(), Mti::REVERSAL_RESPONSE);
    assert_eq!(rc(&resp), "00");
    let owed = saf_pushes(&actions);
    assert_eq!(owed.len(), 1);
    assert_eq!(owed[0].1.mti(), Mti::REVERSAL_ADVICE);
    let f90 = owed[0].1.text(90).unwrap().into_owned();
    assert_eq!(&f90[4..10], format!("{:06}", advice.stan().unwrap()));
    // Nothing forwarded online: the advice goes first, the reversal after it.
    assert!(sends(&actions).iter().all(|(l, _)| *l == ACQ));
}

/// A 0302 from the issuer on `link`.
fn file_update(pan: &str, code: &str, file: &str, reason: Option<&str>) -> Message {
    let mut m = Message::new(Mti::new(b"0302").unwrap());
    m.set(2, pan);
    m.set(7, "1125103000");
    m.set_stan(5);
    m.set(91, code);
    m.set(101, file);
    if let Some(r) = reason {
        m.set(48, r);
    }
    m
}

#[test]
fn a_hot_card_added_by_0302_is_declined_in_stand_in() {
    let h = stand_in_on();
    let card = pan("9408010000009");
    let actions = h.core.on_message(
        Millis(1),
        ISS,
        file_update(&card, "1", "NEGATIVE", Some("43")),
    );
    let resp = one_to(&actions, ISS);
    assert_eq!(resp.mti().as_str(), "0312");
    assert_eq!(rc(&resp), "00");
    assert!(
        actions
            .iter()
            .position(|a| matches!(a, Action::SafBarrier))
            .unwrap()
            < actions
                .iter()
                .position(|a| matches!(a, Action::Send { .. }))
                .unwrap(),
        "durable before the 0312"
    );
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Store(StoreOp::NegativeFile {
            reason: Some(routing_rules::HotReason::Stolen),
            ..
        })
    )));
    h.core.on_link_down(Millis(2), ISS);
    let mut buy = purchase_of(1, 100);
    buy.set(2, &card);
    assert_eq!(rc(&one_to(&h.acquire(Millis(3), buy.clone()), ACQ)), "43");
    // Taken off the file: approved again.
    h.up_issuer(3, Millis(4));
    let del = h
        .core
        .on_message(Millis(5), 3, file_update(&card, "3", "NEGATIVE", None));
    assert_eq!(rc(&one_to(&del, 3)), "00");
    h.core.on_link_down(Millis(6), 3);
    buy.set_stan(2);
    assert_eq!(rc(&one_to(&h.acquire(Millis(7), buy), ACQ)), "00");
}

#[test]
fn a_malformed_or_foreign_file_update_is_refused_with_its_code() {
    let h = stand_in_on();
    let ours = pan("9408010000009");
    let theirs = pan("9408100000009");
    for (msg, want) in [
        (file_update(&ours, "7", "NEGATIVE", None), "30"),
        (file_update(&ours, "1", "OTHERFILE", None), "30"),
        (file_update(&ours, "1", "NEGATIVE", Some("05")), "30"),
        (file_update(&theirs, "1", "NEGATIVE", None), "14"),
    ] {
        let actions = h.core.on_message(Millis(1), ISS, msg);
        assert_eq!(rc(&one_to(&actions, ISS)), want);
        assert!(
            !actions.iter().any(|a| matches!(a, Action::Store(_))),
            "nothing kept"
        );
    }
}

/// an acquirer's own 0220 that happens to carry the stand-in
/// indicator (field 60 is a private field acquirers use) reaches the issuer as
/// if it were the switch's stand-in advice: indicator kept, and the acquirer's
/// STAN kept on the issuer link instead of one of the switch's.
#[test]
fn an_acquirer_advice_never_passes_as_the_switchs_stand_in_advice() {
    let h = stand_in_on();
    let orig = purchase(50, "000000");
    let fwd = one_to(&h.acquire(Millis(0), orig.clone()), ISS);
    h.core
        .on_message(Millis(10), ISS, issuer_answer(&fwd, ResponseCode::APPROVED));
    let mut adv = Message::new(Mti::FINANCIAL_ADVICE);
    for n in [2u8, 3, 4, 32, 37, 41, 49] {
        adv.set(n, &orig.text(n).expect("set"));
    }
    adv.set(7, "1125103100");
    adv.set_stan(777_777);
    adv.set(39, "00");
    adv.set(60, "STANDIN");
    adv.set(
        90,
        &format!("0200{:06}1125103000{:0>11}{:0>11}", 50, "940810", ""),
    );
    let acked = h.acquire(Millis(20), adv);
    assert_eq!(rc(&one_to(&acked, ACQ)), "00");
    let out = h.stored(Millis(30), &acked);
    let owed = one_to(&out, ISS);
    assert_eq!(owed.mti().as_str(), "0220");
    assert_ne!(
        owed.stan(),
        Some(777_777),
        "the acquirer's STAN on the issuer link"
    );
    assert_ne!(
        owed.text(60).as_deref(),
        Some("STANDIN"),
        "the switch's stand-in indicator on a message the switch did not decide"
    );
}

/// the acquirer reverses a request still in flight (its own timeout
/// is shorter than the switch's); when the switch's timeout then fires, it must
/// not approve the reversed request in stand-in and advise the issuer to post it.
#[test]
fn a_request_the_acquirer_reversed_is_not_approved_in_stand_in() {
    let h = stand_in_on();
    let fwd = one_to(&h.acquire(Millis(0), purchase_of(42, 1_500)), ISS);
    let mut rev = purchase_of(43, 1_500);
    rev.set_mti(Mti::REVERSAL_REQUEST);
    rev.set(
        90,
        &format!("0200{:06}{}{:0>11}{:0>11}", 42, "1125103000", "940810", "0"),
    );
    let out = h.acquire(Millis(5_000), rev);
    let rev_fwd = one_to(&out, ISS);
    assert_eq!(rev_fwd.mti(), Mti::REVERSAL_REQUEST);
    // The issuer answers the reversal; the original stays unanswered.
    let ans = h.core.on_message(
        Millis(5_001),
        ISS,
        issuer_answer(&rev_fwd, ResponseCode::APPROVED),
    );
    assert_eq!(
        rc(&one_to(&ans, ACQ)),
        "00",
        "the acquirer holds it reversed"
    );
    let _ = fwd;
    let actions = h.core.on_tick(Millis(10_000));
    let approved_advices: Vec<_> = saf_pushes(&actions)
        .into_iter()
        .filter(|(_, m, _)| {
            m.text(60).as_deref() == Some("STANDIN") && m.text(39).as_deref() == Some("00")
        })
        .collect();
    assert!(
        approved_advices.is_empty(),
        "an approval advised for a request the acquirer already reversed: the issuer posts it, the acquirer never settles it"
    );
}

/// where stand-in is not allowed (no entry, or a kind never approved
/// in stand-in, here a balance inquiry) the switch does not stand in: a plain
/// 91 as before, no advice with the card sealed in the queue, no fence.
#[test]
fn where_stand_in_is_not_allowed_nothing_is_advised() {
    let h = stand_in_on();
    h.core.on_link_down(Millis(0), ISS);
    let mut balance = purchase_of(1, 0);
    balance.set(3, "310000");
    let actions = h.acquire(Millis(10), balance);
    let resp = one_to(&actions, ACQ);
    assert_eq!(rc(&resp), "91");
    assert_eq!(
        saf_pushes(&actions).len(),
        0,
        "an advice queued for a 91 the switch did not decide"
    );
    assert_eq!(resp.text(60), None, "marked as a stand-in decision");
}

#[test]
fn a_stand_in_advice_never_expires_while_other_owed_messages_do() {
    let h = stand_in_on();
    h.core.on_link_down(Millis(0), ISS);
    let decided = h.acquire(Millis(1), purchase_of(1, 1_500));
    h.stored(Millis(1), &decided);
    let mut reversal = purchase_of(2, 1_500);
    reversal.set_mti(Mti::REVERSAL_ADVICE);
    let owed = h.acquire(Millis(2), reversal);
    h.stored(Millis(2), &owed);
    assert_eq!(h.core.saf_depth(), 2);
    // A day and more later the acquirer's reversal advice has expired (alerted);
    // the stand-in decision's advice is still owed.
    h.core.on_tick(Millis(25 * 3_600_000));
    assert_eq!(h.core.saf_depth(), 1);
    assert_eq!(h.core.stats().bank("940800").saf_expired, 1);
}

#[test]
fn an_issuer_may_have_its_hot_cards_declined_while_it_is_up() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../routing-rules/rules/national.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    // Morning Star's lost test card of its negative file (rules/negative/940810.toml).
    let lost = "9408100000000106";
    for (apply_when_up, forwarded) in [(false, true), (true, false)] {
        let h = stand_in_on();
        let text = text.replace(
            "apply_when_up = false",
            &format!("apply_when_up = {apply_when_up}"),
        );
        let (table, _) = RoutingTable::from_toml(&text, path).unwrap();
        h.core.routing().replace(table);
        // Morning Star's host is up and signed on.
        let signon = one_to(
            &h.core
                .on_link_up(Millis(0), 5, link_config(Role::Issuer, "940810")),
            5,
        );
        h.core.on_message(
            Millis(0),
            5,
            answer(&signon, ResponseCode::APPROVED).unwrap(),
        );
        let mut buy = purchase_of(1, 100);
        buy.set(2, lost);
        let actions = h.acquire(Millis(1), buy);
        let to_issuer = sends(&actions).iter().any(|(l, _)| *l == 5);
        assert_eq!(to_issuer, forwarded, "apply_when_up = {apply_when_up}");
        if !forwarded {
            assert_eq!(rc(&one_to(&actions, ACQ)), "41");
            assert_eq!(records(&actions)[0].rule.as_deref(), Some("negative-file"));
        }
    }
}

/// REVIEW: an acquirer's reversal of a stand-in approval, owed behind the
/// advice, must not expire while the advice (never expired) still waits: else the
/// issuer posts an approval the acquirer holds reversed.
#[test]
fn the_reversal_of_a_stand_in_approval_does_not_expire_before_its_advice() {
    let h = stand_in_on();
    h.core.on_link_down(Millis(0), ISS);
    let approved = h.acquire(Millis(1), purchase_of(7, 1_500));
    h.stored(Millis(1), &approved);
    let mut rev = purchase_of(8, 1_500);
    rev.set_mti(Mti::REVERSAL_REQUEST);
    rev.set(
        90,
        &format!("0200{:06}{}{:0>11}{:0>11}", 7, "1125103000", "940810", "0"),
    );
    let owed = h.acquire(Millis(60_000), rev);
    assert_eq!(saf_pushes(&owed).len(), 1);
    h.stored(Millis(60_000), &owed);
    assert_eq!(h.core.saf_depth(), 2);
    // The issuer's host stays down for a day and some minutes.
    h.core.on_tick(Millis(24 * 3_600_000 + 120_000));
    assert_eq!(
        h.core.saf_depth(),
        2,
        "the advice kept, the reversal that takes it back expired"
    );
}

/// REVIEW: after a timeout, the switch's 0420 of the forwarded request
/// is queued before the advice that names it; it must not expire while the
/// advice waits, else the advice reaches an issuer that may hold the original.
#[test]
fn the_timeout_reversal_does_not_expire_before_the_advice_behind_it() {
    let h = stand_in_on();
    let _fwd = one_to(&h.acquire(Millis(0), purchase_of(42, 1_500)), ISS);
    let actions = h.core.on_tick(Millis(10_000));
    assert_eq!(saf_pushes(&actions).len(), 2);
    h.core.on_link_down(Millis(10_000), ISS);
    h.stored(Millis(10_001), &actions);
    h.core.on_tick(Millis(10_001 + 24 * 3_600_000 + 1_000));
    assert_eq!(
        h.core.saf_depth(),
        2,
        "the advice kept, the reversal it must follow expired"
    );
}

#[test]
fn a_reversal_that_reached_the_request_while_its_timeout_was_decided_is_owed_after_the_advice() {
    let h = stand_in_on();
    let fwd = one_to(&h.acquire(Millis(0), purchase_of(42, 1_500)), ISS);
    let key = inflight::InFlightKey {
        link: ISS,
        class: 2,
        stan: fwd.stan().unwrap(),
    };
    let entry = h.core.inflight.take(&key).expect("in flight");
    // The acquirer's reversal found the forwarded request (and marked it) after
    // the timeout had looked, before the decision replaced it.
    h.core.recent.mark_reversed(recent::AcquirerKeyRef {
        acquirer: "940810",
        stan: 42,
        transmission: "1125103000",
    });
    let mut actions = Vec::new();
    let case = crate::core::stand_in::decide::StandInCase {
        acquirer_link: ACQ,
        request: &entry.forwarded,
        issuer: &entry.issuer,
        rule: None,
        channel: entry.channel,
        token: None,
        timed_out: Some(&entry),
    };
    assert!(h.core.stand_in(Millis(10_000), case, &mut actions));
    let pushes = saf_pushes(&actions);
    assert_eq!(pushes.len(), 2, "the advice, then its reversal");
    let (advice, reversal) = (&pushes[0].1, &pushes[1].1);
    assert_eq!(advice.mti().as_str(), "0220");
    assert_eq!(reversal.mti(), Mti::REVERSAL_ADVICE);
    assert_eq!(
        reversal.text(90).as_deref(),
        field90(advice).as_ref().map(|f| f.as_str()),
        "the reversal names the advice"
    );
}
