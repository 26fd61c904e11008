//! One connection's outstanding business, keyed by STAN: requests waiting for their
//! answer, reversals waiting for their 0430, and recently timed-out STANs whose
//! answer would now be late. Owned by the connection task alone (no locks).
//!
//! Timeouts use a FIFO: every request has the same timeout, so deadlines come in
//! send order and a periodic sweep pops them from the front. Reversal repeats back
//! off, so they use a small heap. Pure: `now` is always passed in.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

use codecs::mti::MessageClass;
use codecs::{Message, Mti};
use tokio::time::Instant;

use super::request::RequestKeys;
use super::traffic::Draw;

/// A multiplicative hash for STANs (SipHash is needlessly slow for small integers
/// we choose ourselves).
#[derive(Default, Clone, Copy)]
pub struct StanHasher(u64);

impl Hasher for StanHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type StanMap<V> = HashMap<u32, V, BuildHasherDefault<StanHasher>>;

/// A request on its way.
#[derive(Clone, Debug)]
pub struct Sent {
    serial: u64,
    /// What was drawn.
    pub draw: Draw,
    /// Its STAN, RRN and time fields (to rebuild it for a reversal).
    pub keys: RequestKeys,
    /// Where its latency counts from: in open loop the intended send time, or the
    /// actual one if it left early; in closed loop the actual one.
    pub origin: Instant,
    /// The answer it expects (0210 for 0200, 0110 for 0100).
    pub response_mti: Mti,
}

/// A reversal advice waiting for its acknowledgement.
#[derive(Debug)]
pub struct PendingReversal {
    /// The 0420 (sent as 0421 from the second attempt on).
    pub message: Message,
    /// Transmissions so far.
    pub attempts: u32,
    /// When it was created (for the overall time bound).
    pub created: Instant,
    /// Waiting in the outbox for a transmission.
    queued: bool,
}

#[derive(Debug)]
enum Slot {
    Request(Sent),
    Reversal(PendingReversal),
    /// A timed-out request's STAN: an answer for it now is late.
    Late,
    /// A reversal acknowledged after repeats: another 0430 may still come.
    Acknowledged,
}

/// What a response turned out to be.
#[derive(Debug)]
pub enum Matched {
    /// The answer to a request, in time.
    Answered(Sent),
    /// The acknowledgement of a reversal (after this many transmissions).
    ReversalAcknowledged(u32),
    /// The answer to a request that had already timed out.
    Late,
    /// A second acknowledgement of a repeated reversal (one per transmission may come).
    DuplicateAcknowledgement,
    /// Its STAN is not outstanding.
    Unmatched,
    /// Its STAN is outstanding, but for another kind of message.
    WrongType,
}

/// A reversal that got no acknowledgement within the bounds.
#[derive(Debug)]
pub struct GaveUp {
    /// The reversal's STAN.
    pub stan: u32,
    /// Transmissions made.
    pub attempts: u32,
}

/// How reversal repeats are paced and bounded.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Wait after the first transmission; doubles after each repeat.
    pub first_wait: Duration,
    /// Longest wait between transmissions.
    pub max_wait: Duration,
    /// Most transmissions (the 0420 and its 0421 repeats).
    pub max_attempts: u32,
    /// Give up this long after the reversal was created.
    pub max_age: Duration,
}

impl RetryPolicy {
    /// The policy for a request timeout: repeats start after `min(timeout, 1 s)`,
    /// back off to 8 s at most, up to six transmissions within a minute.
    pub fn for_timeout(timeout: Duration) -> RetryPolicy {
        RetryPolicy {
            first_wait: timeout.clamp(Duration::from_millis(10), Duration::from_secs(1)),
            max_wait: Duration::from_secs(8),
            max_attempts: 6,
            max_age: Duration::from_secs(60),
        }
    }

    fn wait_after(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(16);
        (self.first_wait * (1u32 << doublings)).min(self.max_wait)
    }
}

/// The outstanding business of one connection.
#[derive(Debug)]
pub struct InFlight {
    slots: StanMap<Slot>,
    requests: usize,
    reversals: usize,
    next_serial: u64,
    timeout: Duration,
    late_window: Duration,
    policy: RetryPolicy,
    /// (deadline, STAN, serial) of requests in send order.
    deadlines: VecDeque<(Instant, u32, u64)>,
    /// (forget at, STAN) of late markers.
    late_expiry: VecDeque<(Instant, u32)>,
    /// (repeat at, STAN, attempts when scheduled) of transmitted reversals.
    retries: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    /// Reversals to transmit as soon as the link allows.
    outbox: VecDeque<u32>,
}

impl InFlight {
    /// Requests time out after `timeout`; answers are recognised as late for
    /// `late_window` after that.
    pub fn new(timeout: Duration, late_window: Duration, policy: RetryPolicy) -> InFlight {
        InFlight {
            slots: StanMap::default(),
            requests: 0,
            reversals: 0,
            next_serial: 0,
            timeout,
            late_window,
            policy,
            deadlines: VecDeque::new(),
            late_expiry: VecDeque::new(),
            retries: BinaryHeap::new(),
            outbox: VecDeque::new(),
        }
    }

    /// Whether `stan` may be given to a new message.
    pub fn is_free(&self, stan: u32) -> bool {
        !self.slots.contains_key(&stan)
    }

    /// Requests waiting for their answer.
    pub fn requests(&self) -> usize {
        self.requests
    }

    /// Reversals waiting for their acknowledgement.
    pub fn reversals(&self) -> usize {
        self.reversals
    }

    /// Record a request sent at `sent_at` (its STAN must be free).
    pub fn insert_request(
        &mut self,
        draw: Draw,
        keys: RequestKeys,
        origin: Instant,
        sent_at: Instant,
        response_mti: Mti,
    ) {
        let serial = self.next_serial;
        self.next_serial += 1;
        self.deadlines
            .push_back((sent_at + self.timeout, keys.stan, serial));
        let sent = Sent {
            serial,
            draw,
            keys,
            origin,
            response_mti,
        };
        if let Some(old) = self.slots.insert(keys.stan, Slot::Request(sent)) {
            self.forget(&old);
        }
        self.requests += 1;
    }

    fn forget(&mut self, slot: &Slot) {
        match slot {
            Slot::Request(_) => self.requests -= 1,
            Slot::Reversal(_) => self.reversals -= 1,
            Slot::Late | Slot::Acknowledged => {}
        }
    }

    /// Match a response arriving at `now` by STAN, checking that its MTI is the
    /// answer expected.
    pub fn on_response(&mut self, stan: u32, mti: Mti, now: Instant) -> Matched {
        let expected = match self.slots.get(&stan) {
            None => return Matched::Unmatched,
            Some(Slot::Late) => true,
            Some(Slot::Request(sent)) => sent.response_mti == mti,
            Some(Slot::Reversal(_) | Slot::Acknowledged) => {
                mti.class() == MessageClass::Reversal && mti.is_response()
            }
        };
        if !expected {
            return Matched::WrongType;
        }
        match self.slots.remove(&stan) {
            Some(Slot::Request(sent)) => {
                self.requests -= 1;
                Matched::Answered(sent)
            }
            Some(Slot::Reversal(rev)) => {
                self.reversals -= 1;
                if rev.attempts > 1 {
                    // Each transmission may be answered: recognise the others.
                    self.slots.insert(stan, Slot::Acknowledged);
                    self.late_expiry.push_back((now + self.late_window, stan));
                }
                Matched::ReversalAcknowledged(rev.attempts)
            }
            Some(Slot::Late) => Matched::Late,
            Some(Slot::Acknowledged) => Matched::DuplicateAcknowledgement,
            None => Matched::Unmatched,
        }
    }

    /// The next request whose deadline has passed at `now`; its STAN stays
    /// reserved as a late marker. Answered requests at the front are dropped on the way.
    pub fn pop_expired(&mut self, now: Instant) -> Option<Sent> {
        while let Some(&(deadline, stan, serial)) = self.deadlines.front() {
            let live =
                matches!(self.slots.get(&stan), Some(Slot::Request(s)) if s.serial == serial);
            if live && deadline > now {
                return None;
            }
            self.deadlines.pop_front();
            if live {
                return self.expire(stan, now);
            }
        }
        None
    }

    fn expire(&mut self, stan: u32, now: Instant) -> Option<Sent> {
        let slot = self.slots.insert(stan, Slot::Late)?;
        self.late_expiry.push_back((now + self.late_window, stan));
        match slot {
            Slot::Request(sent) => {
                self.requests -= 1;
                Some(sent)
            }
            other => {
                // Not a request after all: put it back.
                self.slots.insert(stan, other);
                None
            }
        }
    }

    /// Every outstanding request, timed out at once (the link they went out on is gone).
    pub fn expire_all(&mut self, now: Instant) -> Vec<Sent> {
        let mut out = Vec::with_capacity(self.requests);
        while let Some((_, stan, serial)) = self.deadlines.pop_front() {
            if matches!(self.slots.get(&stan), Some(Slot::Request(s)) if s.serial == serial) {
                out.extend(self.expire(stan, now));
            }
        }
        out
    }

    /// Forget late markers older than the late window.
    pub fn forget_late(&mut self, now: Instant) {
        while let Some(&(at, stan)) = self.late_expiry.front() {
            if at > now {
                break;
            }
            self.late_expiry.pop_front();
            if matches!(self.slots.get(&stan), Some(Slot::Late | Slot::Acknowledged)) {
                self.slots.remove(&stan);
            }
        }
    }

    /// Register a reversal under its own (free) STAN; it waits in the outbox.
    pub fn add_reversal(&mut self, stan: u32, message: Message, now: Instant) {
        let rev = PendingReversal {
            message,
            attempts: 0,
            created: now,
            queued: true,
        };
        if let Some(old) = self.slots.insert(stan, Slot::Reversal(rev)) {
            self.forget(&old);
        }
        self.reversals += 1;
        self.outbox.push_back(stan);
    }

    /// The next reversal to transmit: its STAN, and the message with the MTI for
    /// this attempt (0420 first, 0421 after). Counts the attempt and schedules the
    /// next one.
    pub fn next_reversal_to_send(&mut self, now: Instant) -> Option<(u32, &Message)> {
        let policy = self.policy;
        while let Some(stan) = self.outbox.pop_front() {
            let Some(Slot::Reversal(rev)) = self.slots.get_mut(&stan) else {
                continue;
            };
            if !rev.queued {
                continue;
            }
            rev.queued = false;
            rev.attempts += 1;
            let mti = if rev.attempts == 1 {
                Mti::REVERSAL_ADVICE
            } else {
                Mti::REVERSAL_ADVICE_REPEAT
            };
            rev.message.set_mti(mti);
            let attempts = rev.attempts;
            self.retries
                .push(Reverse((now + policy.wait_after(attempts), stan, attempts)));
            let Some(Slot::Reversal(rev)) = self.slots.get(&stan) else {
                return None;
            };
            return Some((stan, &rev.message));
        }
        None
    }

    /// Whether reversals wait for a transmission.
    pub fn has_reversals_to_send(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Queue unacknowledged reversals whose repeat is due; give up on those past
    /// their bounds (returned, and their STANs freed).
    pub fn due_repeats(&mut self, now: Instant) -> Vec<GaveUp> {
        let mut gave_up = Vec::new();
        while let Some(Reverse((at, stan, attempts))) = self.retries.peek().copied() {
            if at > now {
                break;
            }
            self.retries.pop();
            let Some(Slot::Reversal(rev)) = self.slots.get_mut(&stan) else {
                continue;
            };
            if rev.queued || rev.attempts != attempts {
                continue; // a stale timer: the reversal was sent again since
            }
            if rev.attempts >= self.policy.max_attempts
                || now.saturating_duration_since(rev.created) >= self.policy.max_age
            {
                gave_up.push(GaveUp {
                    stan,
                    attempts: rev.attempts,
                });
                self.slots.remove(&stan);
                self.reversals -= 1;
            } else {
                rev.queued = true;
                self.outbox.push_back(stan);
            }
        }
        gave_up
    }

    /// The link went down: every unacknowledged reversal goes out again on the next one.
    pub fn requeue_reversals(&mut self) {
        for (&stan, slot) in self.slots.iter_mut() {
            if let Slot::Reversal(rev) = slot {
                if !rev.queued {
                    rev.queued = true;
                    self.outbox.push_back(stan);
                }
            }
        }
    }

    /// The run is over: give up on every reversal still unacknowledged.
    pub fn abandon_reversals(&mut self) -> Vec<GaveUp> {
        let mut out = Vec::new();
        self.slots.retain(|&stan, slot| match slot {
            Slot::Reversal(rev) => {
                out.push(GaveUp {
                    stan,
                    attempts: rev.attempts,
                });
                false
            }
            _ => true,
        });
        self.reversals = 0;
        self.outbox.clear();
        self.retries.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::TxnKind;

    const MS: Duration = Duration::from_millis(1);

    fn draw() -> Draw {
        Draw {
            eligible: 0,
            kind: TxnKind::Purchase,
            amount_minor: 100,
            defect: None,
            unknown_pan: 0,
            terminal: 0,
            qr: None,
        }
    }

    fn keys(stan: u32) -> RequestKeys {
        RequestKeys {
            stan,
            rrn: u64::from(stan),
            when: codecs::datetime::fields_at_unix(0),
        }
    }

    fn inflight() -> InFlight {
        InFlight::new(
            100 * MS,
            1000 * MS,
            RetryPolicy {
                first_wait: 50 * MS,
                max_wait: 150 * MS,
                max_attempts: 4,
                max_age: Duration::from_secs(10),
            },
        )
    }

    fn send(f: &mut InFlight, stan: u32, at: Instant) {
        assert!(f.is_free(stan));
        f.insert_request(draw(), keys(stan), at, at, Mti::FINANCIAL_RESPONSE);
    }

    #[test]
    fn answers_match_by_stan_and_mti() {
        let t0 = Instant::now();
        let mut f = inflight();
        send(&mut f, 1, t0);
        send(&mut f, 2, t0);
        assert_eq!(f.requests(), 2);
        assert!(matches!(
            f.on_response(9, Mti::FINANCIAL_RESPONSE, t0),
            Matched::Unmatched
        ));
        assert!(matches!(
            f.on_response(1, Mti::AUTH_RESPONSE, t0),
            Matched::WrongType
        ));
        assert!(matches!(
            f.on_response(1, Mti::REVERSAL_ADVICE_RESPONSE, t0),
            Matched::WrongType
        ));
        match f.on_response(1, Mti::FINANCIAL_RESPONSE, t0) {
            Matched::Answered(s) => assert_eq!(s.keys.stan, 1),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            f.on_response(1, Mti::FINANCIAL_RESPONSE, t0),
            Matched::Unmatched
        ));
        assert_eq!(f.requests(), 1);
        assert!(f.is_free(1) && !f.is_free(2));
    }

    #[test]
    fn timeouts_come_in_send_order_and_later_answers_are_late() {
        let t0 = Instant::now();
        let mut f = inflight();
        for (i, stan) in [5u32, 3, 8].into_iter().enumerate() {
            send(&mut f, stan, t0 + 10 * MS * i as u32);
        }
        // Answered ones are skipped on the way.
        assert!(matches!(
            f.on_response(3, Mti::FINANCIAL_RESPONSE, t0),
            Matched::Answered(_)
        ));
        assert!(f.pop_expired(t0 + 99 * MS).is_none());
        assert_eq!(f.pop_expired(t0 + 100 * MS).unwrap().keys.stan, 5);
        assert!(f.pop_expired(t0 + 100 * MS).is_none());
        assert_eq!(f.pop_expired(t0 + 120 * MS).unwrap().keys.stan, 8);
        assert_eq!(f.requests(), 0);
        // A timed-out STAN stays reserved; its answer is late, once.
        assert!(!f.is_free(5));
        assert!(matches!(
            f.on_response(5, Mti::FINANCIAL_RESPONSE, t0),
            Matched::Late
        ));
        assert!(f.is_free(5));
        // Late markers are forgotten after the window.
        f.forget_late(t0 + 1_119 * MS);
        assert!(!f.is_free(8));
        f.forget_late(t0 + 1_120 * MS);
        assert!(f.is_free(8));
    }

    #[test]
    fn a_reused_stan_is_not_timed_out_by_its_predecessor() {
        let t0 = Instant::now();
        let mut f = inflight();
        send(&mut f, 7, t0);
        assert!(matches!(
            f.on_response(7, Mti::FINANCIAL_RESPONSE, t0),
            Matched::Answered(_)
        ));
        send(&mut f, 7, t0 + 80 * MS);
        assert!(f.pop_expired(t0 + 150 * MS).is_none());
        assert_eq!(f.pop_expired(t0 + 180 * MS).unwrap().keys.stan, 7);
    }

    fn reversal() -> Message {
        Message::new(Mti::REVERSAL_ADVICE)
    }

    #[test]
    fn reversals_repeat_with_backoff_then_give_up() {
        let t0 = Instant::now();
        let mut f = inflight();
        f.add_reversal(40, reversal(), t0);
        assert!(!f.is_free(40) && f.has_reversals_to_send());
        let (stan, m) = f.next_reversal_to_send(t0).unwrap();
        assert_eq!((stan, m.mti()), (40, Mti::REVERSAL_ADVICE));
        assert!(f.next_reversal_to_send(t0).is_none());
        // Waits 50, 100, 150 (capped), 150 ms between transmissions.
        let mut at = t0;
        for wait in [50u32, 100, 150] {
            assert!(f.due_repeats(at + (wait - 1) * MS).is_empty());
            assert!(!f.has_reversals_to_send());
            at += wait * MS;
            assert!(f.due_repeats(at).is_empty());
            let (_, m) = f.next_reversal_to_send(at).unwrap();
            assert_eq!(m.mti(), Mti::REVERSAL_ADVICE_REPEAT);
        }
        let gave_up = f.due_repeats(at + 150 * MS);
        assert_eq!(gave_up.len(), 1);
        assert_eq!((gave_up[0].stan, gave_up[0].attempts), (40, 4));
        assert_eq!(f.reversals(), 0);
        assert!(f.is_free(40));
    }

    #[test]
    fn acknowledgements_of_repeats_and_link_loss() {
        let t0 = Instant::now();
        let mut f = inflight();
        f.add_reversal(1, reversal(), t0);
        f.add_reversal(2, reversal(), t0);
        f.next_reversal_to_send(t0).unwrap();
        f.next_reversal_to_send(t0).unwrap();
        // The link drops: both go out again, as repeats, exactly once each.
        f.requeue_reversals();
        f.requeue_reversals();
        let a = f.next_reversal_to_send(t0 + MS).unwrap().1.mti();
        let b = f.next_reversal_to_send(t0 + MS).unwrap().1.mti();
        assert_eq!(
            (a, b),
            (Mti::REVERSAL_ADVICE_REPEAT, Mti::REVERSAL_ADVICE_REPEAT)
        );
        assert!(f.next_reversal_to_send(t0 + MS).is_none());
        // The first timer (attempt 1) is stale now.
        assert!(f.due_repeats(t0 + 50 * MS).is_empty());
        assert!(!f.has_reversals_to_send());
        // Both transmissions of reversal 1 are answered: one acknowledgement, one duplicate.
        let ack = Mti::REVERSAL_ADVICE_RESPONSE;
        assert!(matches!(
            f.on_response(1, ack, t0),
            Matched::ReversalAcknowledged(2)
        ));
        assert!(matches!(
            f.on_response(1, ack, t0),
            Matched::DuplicateAcknowledgement
        ));
        assert!(matches!(
            f.on_response(2, Mti::FINANCIAL_RESPONSE, t0),
            Matched::WrongType
        ));
        assert_eq!(f.reversals(), 1);
        let left = f.abandon_reversals();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].stan, 2);
        assert_eq!(f.reversals(), 0);
    }

    #[test]
    fn link_loss_times_out_everything_in_flight() {
        let t0 = Instant::now();
        let mut f = inflight();
        for stan in 1..=5 {
            send(&mut f, stan, t0);
        }
        assert!(matches!(
            f.on_response(2, Mti::FINANCIAL_RESPONSE, t0),
            Matched::Answered(_)
        ));
        let lost: Vec<u32> = f.expire_all(t0).iter().map(|s| s.keys.stan).collect();
        assert_eq!(lost, [1, 3, 4, 5]);
        assert_eq!(f.requests(), 0);
        assert!(f.pop_expired(t0 + Duration::from_secs(1)).is_none());
    }

    #[test]
    fn stan_hasher_spreads_sequential_keys() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..10_000u32 {
            let mut h = StanHasher::default();
            h.write_u32(n);
            seen.insert(h.finish() >> 57);
        }
        assert_eq!(seen.len(), 128, "all tag values in use");
    }
}
