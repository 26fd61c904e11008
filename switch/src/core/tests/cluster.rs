//! A cluster node's core on virtual time: STANs from its slot's range, 96 at
//! once while the store is unavailable, 94 for a request another node claimed,
//! store-and-forward items adopted from a dead node and delivery paused.

use super::*;
use crate::config::StandInConfig;
use crate::core::saf::SafItem;
use crate::core::stan_range::StanRange;

fn node_of_slot(slot: u8) -> Harness {
    Harness::with_settings(CoreSettings {
        slot,
        ..CoreSettings::default()
    })
}

#[test]
fn a_node_forwards_signs_on_and_stands_in_with_stans_of_its_slot_only() {
    let range = StanRange::of_slot(4);
    let h = node_of_slot(4);
    let fwd = one_to(&h.acquire(Millis(1), purchase(11, "000000")), ISS);
    assert!(range.contains(fwd.stan().unwrap()), "{:?}", fwd.stan());
    // The sequence wraps inside the range, not at 999999.
    h.core.links.get(ISS).unwrap().set_next_stan(range.high());
    let last = one_to(&h.acquire(Millis(2), purchase(12, "000000")), ISS);
    let first = one_to(&h.acquire(Millis(3), purchase(13, "000000")), ISS);
    assert_eq!(last.stan(), Some(range.high()));
    assert_eq!(first.stan(), Some(range.low()));
    // Another issuer's link signs on inside the range too.
    let signon = one_to(
        &h.core
            .on_link_up(Millis(4), 9, link_config(Role::Issuer, "940810")),
        9,
    );
    assert!(range.contains(signon.stan().unwrap()));
    // Stand-in decisions number inside it.
    for _ in 0..3 {
        assert!(range.contains(h.core.stand_in.next_stan()));
    }
}

#[test]
fn after_a_restart_a_node_numbers_on_inside_its_slot() {
    let range = StanRange::of_slot(2);
    let core = Core::new(
        CoreSettings {
            slot: 2,
            ..CoreSettings::default()
        },
        Arc::new(SharedRoutingTable::new(national())),
    );
    core.continue_stans_after("940800", range.high() - 5);
    let signon = one_to(
        &core.on_link_up(Millis(0), 2, link_config(Role::Issuer, "940800")),
        2,
    );
    // Past the range's end it wraps to its start (not to 1, another slot's).
    assert_eq!(signon.stan(), Some(range.low() + STAN_MARGIN - 6));
}

#[test]
fn while_the_store_is_unavailable_requests_are_declined_96_at_once_and_not_held() {
    let h = Harness::with_settings(CoreSettings {
        stand_in: StandInConfig::default(),
        ..CoreSettings::default()
    });
    h.core.set_store_available(false);
    let actions = h.acquire(Millis(1), purchase(21, "000000"));
    assert_eq!(rc(&one_to(&actions, ACQ)), "96");
    assert!(
        sends(&actions).iter().all(|(l, _)| *l != ISS),
        "never forwarded"
    );
    assert!(
        journal(&actions).is_empty(),
        "no record the answer waits for"
    );
    let kept = records_of(&actions, true);
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (kept[0].state, kept[0].response_code.as_str()),
        (FinalState::Declined, "96")
    );
    assert_eq!(h.core.store_unavailable_declines(), 1);
    assert_eq!(h.core.in_flight(), 0);
    // Not stood in for either: the issuer is fine, the store is not.
    h.core.on_link_down(Millis(2), ISS);
    let actions = h.acquire(Millis(3), purchase(22, "000000"));
    assert_eq!(rc(&one_to(&actions, ACQ)), "96");
    assert_eq!(h.core.saf_depth(), 0, "no advice queued");
    // Back: forwarded as before.
    h.up_issuer(ISS, Millis(4));
    h.core.set_store_available(true);
    let actions = h.acquire(Millis(5), purchase(23, "000000"));
    one_to(&actions, ISS);
    assert_eq!(journal(&actions), [FinalState::Forwarded]);
}

#[test]
fn while_the_store_is_unavailable_reversals_and_advices_go_as_before() {
    let h = Harness::new();
    let (_, advice) = approved_then_reversed(&h);
    h.core.set_store_available(false);
    let request = reversal_request(&purchase(50, "000000"), 50, 52);
    one_to(&h.acquire(Millis(20), request), ISS);
    let acked = h.acquire(Millis(30), advice);
    assert_eq!(rc(&one_to(&acked, ACQ)), "00");
    assert_eq!(
        h.saf().depth(),
        1,
        "owed to the issuer once the store is back"
    );
    assert_eq!(h.core.store_unavailable_declines(), 0);
}

#[test]
fn a_request_claimed_by_another_node_is_answered_94_and_never_reaches_the_issuer() {
    let h = Harness::new();
    let actions = h.acquire(Millis(1), purchase(40, "000000"));
    let fwd = one_to(&actions, ISS);
    let stan = fwd.stan().unwrap();
    assert_eq!(h.core.in_flight(), 1);
    // An unknown STAN, or another issuer's: nothing.
    assert!(h
        .core
        .on_claim_refused(Millis(2), "940800", stan + 1)
        .is_empty());
    assert!(h
        .core
        .on_claim_refused(Millis(2), "940810", stan)
        .is_empty());
    let refused = h.core.on_claim_refused(Millis(3), "940800", stan);
    let resp = one_to(&refused, ACQ);
    assert_eq!(rc(&resp), "94");
    assert_eq!(resp.stan(), Some(40), "the acquirer's own STAN");
    assert!(sends(&refused).iter().all(|(l, _)| *l != ISS));
    let records = records(&refused);
    assert_eq!(records.len(), 1);
    assert_eq!(
        (
            records[0].state,
            records[0].response_code.as_str(),
            records[0].switch_stan
        ),
        (FinalState::Declined, "94", Some(stan))
    );
    assert_eq!(h.core.in_flight(), 0);
    assert_eq!(
        h.core
            .links
            .get(ISS)
            .unwrap()
            .in_flight
            .load(Ordering::Relaxed),
        0
    );
    // Its deadline passes with nothing to time out (no 91, no reversal).
    let tick = h.core.on_tick(Millis(20_000));
    assert!(sends(&tick).is_empty(), "{tick:?}");
    assert_eq!(h.core.saf_depth(), 0);
    // The forward is forgotten: a reversal of the request does not name, toward
    // the issuer, a STAN the issuer never saw.
    let orig = purchase(40, "000000");
    let reversal = h.acquire(Millis(20_001), reversal_request(&orig, 40, 41));
    let to_issuer = one_to(&reversal, ISS);
    assert!(
        !to_issuer.text(90).unwrap().contains(&format!("{stan:06}")),
        "{to_issuer:?}"
    );
}

/// A message `mti` whose own keys (7, 11, 32) are those of the original with
/// STAN `stan`, for 1,500.00.
fn keyed_as(mti: Mti, stan: u32) -> Message {
    let mut msg = Message::new(mti);
    msg.set(3, "000000");
    msg.set(4, "000000150000");
    msg.set(7, "1125103000");
    msg.set_stan(stan);
    msg.set(32, "940810");
    msg
}

/// A reversal owed to the harness's issuer, numbered `id`, for the original
/// with STAN `stan`.
fn owed(id: u64, stan: u32) -> SafItem {
    let mut msg = keyed_as(Mti::REVERSAL_ADVICE, stan);
    msg.set(39, "68");
    msg.set(
        90,
        &format!("0200{stan:06}1125103000{:0>11}{:0>11}", "940810", ""),
    );
    SafItem::durable(id, "940800", msg)
}

#[test]
fn adopted_items_are_delivered_in_id_order_and_the_nodes_own_numbering_goes_on() {
    let h = node_of_slot(1);
    let own_base = 1u64 << 48;
    h.core.restore_saf(Vec::new(), own_base + 5);
    let time_out = |stan: u32, at: u64| {
        one_to(&h.acquire(Millis(at), purchase(stan, "000000")), ISS);
        h.core.on_tick(Millis(at + 10_000))
    };
    let first = time_out(50, 0);
    assert_eq!(pushed(&first), [own_base + 6]);
    // Slot 3's queue, out of order, adopted while this node's push is not
    // durable yet: delivered at the next pass, lowest id first.
    let dead = 3u64 << 48;
    h.core
        .adopt_saf(vec![owed(dead + 9, 901), owed(dead + 2, 902)]);
    let originals = |actions: &[Action]| -> Vec<u32> {
        sends(actions)
            .iter()
            .filter(|(l, m)| *l == ISS && m.mti() == Mti::REVERSAL_ADVICE)
            .map(|(_, m)| m.text(90).unwrap()[4..10].parse().unwrap())
            .collect()
    };
    assert_eq!(originals(&h.core.on_tick(Millis(10_001))), [902, 901]);
    // This node's items are numbered after its own, not after the adopted, and
    // found in the queue when the store confirms them (ids kept in order).
    assert_eq!(originals(&h.stored(Millis(10_002), &first)).len(), 1);
    let second = time_out(51, 20_000);
    assert_eq!(pushed(&second), [own_base + 7]);
    assert_eq!(originals(&h.stored(Millis(30_001), &second)).len(), 1);
    assert_eq!(h.core.saf_depth(), 4);
    // The same adoption twice adds nothing.
    h.core.adopt_saf(vec![owed(dead + 2, 902)]);
    assert_eq!(h.core.saf_depth(), 4);
}

#[test]
fn while_paused_nothing_is_delivered_nor_expired() {
    let h = Harness::with_settings(CoreSettings {
        saf_expiry: Duration::from_secs(60),
        ..CoreSettings::default()
    });
    h.core.adopt_saf(vec![owed(7, 907)]);
    h.core.set_saf_paused(true);
    let reversals = |actions: &[Action]| {
        sends(actions)
            .into_iter()
            .filter(|(_, m)| m.mti() == Mti::REVERSAL_ADVICE)
            .count()
    };
    let tick = h.core.on_tick(Millis(1_000));
    assert_eq!(reversals(&tick), 0, "{tick:?}");
    let tick = h.core.on_tick(Millis(120_000));
    assert_eq!(reversals(&tick), 0);
    assert!(
        !tick
            .iter()
            .any(|a| matches!(a, Action::Store(StoreOp::SafExpired { .. }))),
        "not expired while paused: {tick:?}"
    );
    assert_eq!(h.core.saf_depth(), 1);
    h.core.set_saf_paused(false);
    // Resumed: delivered again.
    let tick = h.core.on_tick(Millis(120_001));
    assert_eq!(reversals(&tick), 1, "{tick:?}");
}

#[test]
fn a_reversal_whose_original_another_node_forwarded_reaches_the_issuer_in_its_terms() {
    let h = node_of_slot(2);
    let orig = purchase(60, "000000");
    let rev = reversal_request(&orig, 60, 61);
    // Unknown here: the driver is to look it up by field 90's keys, then its own.
    let keys = h.core.unknown_original(ACQ, &rev).expect("a lookup is due");
    let named: Vec<(u32, &str)> = keys
        .iter()
        .map(|k| (k.stan, k.transmission.as_str()))
        .collect();
    assert_eq!(named, [(60, "1125103000"), (61, "1125103100")]);
    assert!(keys.iter().all(|k| k.acquirer == "940810"));
    // Only an acquirer's reversal or advice, and only in a cluster.
    assert!(h.core.unknown_original(ISS, &rev).is_none());
    assert!(h.core.unknown_original(ACQ, &orig).is_none());
    assert!(Harness::new().core.unknown_original(ACQ, &rev).is_none());
    // Node 1 forwarded it under its STAN 12: found in the shared journal.
    h.core
        .remember_forwarded(&crate::core::recent::ForwardedRow {
            acquirer: "940810".into(),
            transmission: "1125103000".into(),
            stan: "000060".into(),
            issuer: "940800".into(),
            mti: "0200".into(),
            switch_stan: 12,
            stand_in: false,
        });
    assert!(h.core.unknown_original(ACQ, &rev).is_none(), "known now");
    let out = one_to(&h.acquire(Millis(1), rev), ISS);
    assert_eq!(out.mti(), Mti::REVERSAL_REQUEST);
    assert_eq!(
        &out.text(90).unwrap()[..10],
        "0200000012",
        "field 90 names the other node's STAN"
    );
}

/// Issue 19's outage test: the shared journal cannot be read, so the original
/// of a reversal is neither found nor known absent. Handled as unknown, it
/// would reach the issuer in the acquirer's terms (which the issuer cannot
/// match); instead an advice gets no answer (its acquirer repeats it) and a
/// reversal request 96 at once, neither forwarded nor queued.
#[test]
fn a_reversal_whose_original_cannot_be_looked_up_is_left_for_the_acquirer_to_repeat() {
    let h = node_of_slot(2);
    let orig = purchase(60, "000000");
    let rev = reversal_request(&orig, 60, 61);
    let mut advice = rev.clone();
    advice.set_mti(Mti::REVERSAL_ADVICE);
    assert!(h
        .core
        .original_unreadable(Millis(1), ACQ, &advice)
        .is_empty());
    let actions = h.core.original_unreadable(Millis(1), ACQ, &rev);
    let answer = one_to(&actions, ACQ);
    assert_eq!(answer.mti(), Mti::REVERSAL_RESPONSE);
    assert_eq!(answer.text(39).as_deref(), Some("96"));
    assert!(records(&actions).is_empty(), "the answer waits for nothing");
    assert_eq!(records_of(&actions, true).len(), 1);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Send { link, .. } if *link == ISS)),
        "nothing to the issuer"
    );
    assert_eq!(h.core.saf_depth(), 0, "nothing owed to the issuer");
}

/// A stand-in advice for the original with STAN `stan` (its own keys), owed
/// to the harness's issuer, numbered `id`.
fn stand_in_advice(id: u64, stan: u32) -> SafItem {
    let advice = keyed_as(Mti::FINANCIAL_ADVICE, stan);
    let mut item = SafItem::durable(id, "940800", advice);
    item.stand_in_advice = true;
    item
}

/// The MTIs `queue` offers its issuer now, one at a time (each acknowledged
/// before the next is asked for: a window of one).
fn delivery_order(queue: &crate::core::saf::SafQueue) -> Vec<Mti> {
    let mut order = Vec::new();
    for at in 2..10 {
        let Some(item) = queue.take_due("940800", Millis(at), 1).pop() else {
            break;
        };
        order.push(item.msg.mti());
        queue.acknowledge("940800", item.id);
    }
    order
}

/// Review of issue 19 (docs/cluster.md section 6, item 2): queue order was id
/// order, and ids of two slots say nothing about which item was owed first: a
/// survivor whose slot is below the dead node's delivered its own reversal of
/// an adopted stand-in approval before the adopted advice (live, and again
/// after a restart: the queue is read back in id order), so the issuer was
/// asked to reverse an original it had not seen, then posted the advice.
#[test]
fn an_adopted_stand_in_advice_goes_before_a_reversal_of_it_queued_here() {
    use crate::core::saf::SafQueue;
    // This node has slot 1; the dead node had slot 3, so its ids are above ours.
    let queue = SafQueue::default();
    queue.add_restored(Vec::new(), (1u64 << 48) + 5);
    // The dead node stood in for the original (STAN 700) and owed its advice.
    let adopted = stand_in_advice((3u64 << 48) + 2, 700);
    queue.adopt(vec![adopted.clone()]);
    // The acquirer reverses it here: the reversal is owed after the advice.
    let reversal = owed(0, 700).msg;
    let id = queue.push("940800", reversal.clone(), Millis(1));
    queue.confirm(&[id]);
    let first: Vec<Mti> = queue
        .take_due("940800", Millis(2), 10)
        .iter()
        .map(|i| i.msg.mti())
        .collect();
    assert_eq!(
        first,
        [Mti::FINANCIAL_ADVICE],
        "the issuer must get the advice before the reversal that names it"
    );
    // Restarted with both queued (read back in id order): the same order.
    let restarted = SafQueue::restore(vec![SafItem::durable(id, "940800", reversal), adopted]);
    assert_eq!(
        delivery_order(&restarted),
        [Mti::FINANCIAL_ADVICE, Mti::REVERSAL_ADVICE]
    );
}

/// The other way round: a survivor whose slot is above the dead node's stood
/// in here, the acquirer moved to the other node and reversed there, and that
/// node died: the adopted reversal (numbered in the dead node's lower slot)
/// still waits for the advice queued here.
#[test]
fn an_adopted_reversal_waits_for_the_stand_in_advice_queued_here() {
    use crate::core::saf::SafQueue;
    let queue = SafQueue::default();
    queue.add_restored(Vec::new(), (3u64 << 48) + 5);
    let id = queue.push_stand_in_advice("940800", stand_in_advice(0, 700).msg, Millis(1));
    queue.confirm(&[id]);
    queue.adopt(vec![owed((1u64 << 48) + 2, 700)]);
    assert_eq!(
        delivery_order(&queue),
        [Mti::FINANCIAL_ADVICE, Mti::REVERSAL_ADVICE]
    );
}

/// A cluster node's stand-in approval takes the request's claim (its journal
/// record's); when another node holds it, the approval is undone here: 94 to
/// the acquirer, the advice out of the queue, the card's usage as before.
#[test]
fn a_stand_in_approval_whose_claim_another_node_holds_is_answered_94_and_advises_nothing() {
    let h = Harness::with_settings(CoreSettings {
        slot: 2,
        stand_in: StandInConfig::default(),
        ..CoreSettings::default()
    });
    h.core.on_link_down(Millis(0), ISS);
    let mut request = purchase(70, "000000");
    request.set(14, "2912");
    let decided = h.acquire(Millis(1), request.clone());
    assert_eq!(rc(&one_to(&decided, ACQ)), "00");
    let record = records(&decided)[0].clone();
    assert!(record.takes_cluster_claim(), "{record:?}");
    let advice = record.stand_in.as_ref().and_then(|n| n.advice_saf).unwrap();
    assert_eq!(h.core.stand_in_awaiting_claims(), 1);
    // The store refused the claim (the row declined 94, the advice's row gone).
    let refused = h
        .core
        .on_claim_refused(Millis(2), "940800", record.switch_stan.unwrap());
    let resp = one_to(&refused, ACQ);
    assert_eq!((rc(&resp).as_str(), resp.stan()), ("94", Some(70)));
    assert!(journal(&refused).is_empty(), "the store declined the row");
    assert!(
        refused
            .iter()
            .any(|a| matches!(a, Action::Store(StoreOp::SafWithdrawn { id }) if *id == advice)),
        "the advice's row deleted, whichever commit its push came in: {refused:?}"
    );
    assert_eq!(h.core.saf_depth(), 0, "advice {advice} withdrawn");
    assert_eq!(h.core.stand_in_awaiting_claims(), 0);
    // Nothing counted: the same card's next request is decided afresh, and
    // an approval whose advice is durable (its claim held) waits no more.
    let mut next = purchase(71, "000000");
    next.set(14, "2912");
    let again = h.acquire(Millis(3), next);
    assert_eq!(rc(&one_to(&again, ACQ)), "00");
    h.stored(Millis(4), &again);
    assert_eq!(h.core.stand_in_awaiting_claims(), 0);
    // A single node's approvals wait for no claim.
    let single = Harness::with_settings(CoreSettings {
        stand_in: StandInConfig::default(),
        ..CoreSettings::default()
    });
    single.core.on_link_down(Millis(0), ISS);
    let mut request = purchase(72, "000000");
    request.set(14, "2912");
    single.acquire(Millis(1), request);
    assert_eq!(single.core.stand_in_awaiting_claims(), 0);
}

/// After a timeout the stand-in approval completes the forward's row, under
/// the forward's claim. That forward may have timed out waiting for its
/// commit, never sent; if its claim is refused, the store refuses the
/// approval with it (by transaction), and the approval is undone as a fresh
/// one is: 94 to the acquirer (its own STAN), the advice withdrawn, the
/// reversal of the forward still owed (the issuer acknowledges a reversal of
/// what it never saw).
#[test]
fn a_stand_in_approval_after_a_timeout_is_undone_when_its_claim_is_refused() {
    let h = Harness::with_settings(CoreSettings {
        slot: 2,
        stand_in: StandInConfig::default(),
        ..CoreSettings::default()
    });
    let mut request = purchase(42, "000000");
    request.set(14, "2912");
    let fwd = one_to(&h.acquire(Millis(0), request), ISS);
    let decided = h.core.on_tick(Millis(10_000));
    let resp = one_to(&decided, ACQ);
    assert_eq!((rc(&resp).as_str(), resp.stan()), ("00", Some(42)));
    let record = records(&decided)[0].clone();
    assert!(record.takes_cluster_claim(), "{record:?}");
    let decision_stan = record.switch_stan.unwrap();
    assert_ne!(Some(decision_stan), fwd.stan());
    let advice = record.stand_in.as_ref().and_then(|n| n.advice_saf).unwrap();
    assert_eq!(h.core.stand_in_awaiting_claims(), 1);
    assert_eq!(h.core.saf_depth(), 2, "the forward's reversal, the advice");
    // The forward's refusal (no longer in flight) changes nothing here...
    let forward_refused = h
        .core
        .on_claim_refused(Millis(10_001), "940800", fwd.stan().unwrap());
    assert!(forward_refused.is_empty(), "{forward_refused:?}");
    // ...the approval's undoes it.
    let refused = h
        .core
        .on_claim_refused(Millis(10_002), "940800", decision_stan);
    let resp = one_to(&refused, ACQ);
    assert_eq!((rc(&resp).as_str(), resp.stan()), ("94", Some(42)));
    assert!(
        refused
            .iter()
            .any(|a| matches!(a, Action::Store(StoreOp::SafWithdrawn { id }) if *id == advice)),
        "{refused:?}"
    );
    assert_eq!(h.core.stand_in_awaiting_claims(), 0);
    assert_eq!(h.core.saf_depth(), 1, "the reversal still owed");
}
