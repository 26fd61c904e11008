//! The connections the core knows: role, bank, sign-on and echo state, in-flight
//! count, the STAN sequence towards an issuer, and the timeout queues.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use dashmap::DashMap;

use super::action::LinkId;
use super::counters::BankCounters;
use super::id_hash::IdHasher;
use super::stan_range::StanRange;
use super::time::Millis;
use crate::config::{LinkConfig, Role};

/// Which timeout applies: POS traffic or cash (ATM) withdrawals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutClass {
    /// Purchases, balance inquiries, everything but cash.
    Pos = 0,
    /// Cash withdrawals (processing code 01).
    Cash = 1,
}

/// A pending deadline: (when, MTI class digit, switch STAN).
pub type Deadline = (Millis, u8, u32);

/// One live connection.
#[derive(Debug)]
pub struct Link {
    /// Its id.
    pub id: LinkId,
    /// Its configuration.
    pub config: Arc<LinkConfig>,
    /// Signed on (issuer links: our 0800/001 was answered 00).
    pub signed_on: AtomicBool,
    /// Connected (false once the driver reports it down).
    pub up: AtomicBool,
    /// Next STAN to try towards this link: one sequence per configured link, shared
    /// by its connections and kept across reconnects, so an issuer never sees a
    /// STAN come round again soon after it went out on an earlier connection.
    stan: Arc<AtomicU32>,
    /// The range `stan` wraps in (this node's STANs).
    stan_range: StanRange,
    /// Requests in flight on this link (store-and-forward deliveries included).
    pub in_flight: AtomicUsize,
    /// Store-and-forward deliveries in flight on this link (its SAF window in use).
    pub saf_in_flight: AtomicUsize,
    /// Last time a message arrived (ms).
    pub last_received: AtomicU64,
    /// Echoes sent without an answer, in a row.
    pub missed_echoes: AtomicU32,
    /// When an echo (0800/301) last went through, either way: ours answered or
    /// the peer's (ms + 1; 0 = none yet). The console's "last echo".
    pub last_echo: AtomicU64,
    /// STAN of the outstanding echo or sign-on, if any (0 = none).
    pub pending_network: AtomicU32,
    /// When the outstanding echo was sent.
    pub pending_network_at: AtomicU64,
    /// Field 70 of the outstanding network request (1 sign-on, 2 sign-off, 301 echo).
    pub pending_network_code: AtomicU32,
    /// STAN of the sign-on sent before the outstanding one and given up on (0 =
    /// none): its answer, should it come after all, still signs the link on.
    pub superseded_sign_on: AtomicU32,
    /// Deadlines per timeout class, in send order (so in deadline order).
    pub deadlines: Mutex<[VecDeque<Deadline>; 2]>,
    /// The counters of its bank, resolved once for the link (not looked up by
    /// the bank's id per message).
    pub(crate) counters: Arc<BankCounters>,
}

/// Take the STAN a sequence holds and advance it, wrapping inside `range`
/// (this node's STANs: 1-999999 for a single node).
pub(crate) fn take_stan(seq: &AtomicU32, range: StanRange) -> u32 {
    range.take(seq)
}

impl Link {
    /// A new link, not yet signed on.
    pub(crate) fn new(
        id: LinkId,
        config: Arc<LinkConfig>,
        now: Millis,
        stan: Arc<AtomicU32>,
        stan_range: StanRange,
        counters: Arc<BankCounters>,
    ) -> Link {
        Link {
            counters,
            id,
            config,
            signed_on: AtomicBool::new(false),
            up: AtomicBool::new(true),
            stan,
            stan_range,
            in_flight: AtomicUsize::new(0),
            saf_in_flight: AtomicUsize::new(0),
            last_received: AtomicU64::new(now.0),
            missed_echoes: AtomicU32::new(0),
            last_echo: AtomicU64::new(0),
            pending_network: AtomicU32::new(0),
            pending_network_at: AtomicU64::new(0),
            pending_network_code: AtomicU32::new(0),
            superseded_sign_on: AtomicU32::new(0),
            deadlines: Mutex::new([VecDeque::new(), VecDeque::new()]),
        }
    }

    /// The next STAN of this node's range (wrapping) for which `taken` is false.
    pub fn next_stan(&self, taken: impl Fn(u32) -> bool) -> u32 {
        loop {
            let s = take_stan(&self.stan, self.stan_range);
            if !taken(s) {
                return s;
            }
        }
    }

    /// Set the STAN sequence (tests: wrap-around).
    pub fn set_next_stan(&self, stan: u32) {
        self.stan.store(stan, Ordering::Relaxed);
    }

    /// Whether requests may be sent here.
    pub fn usable(&self) -> bool {
        self.up.load(Ordering::Relaxed) && self.signed_on.load(Ordering::Relaxed)
    }

    /// Add a deadline.
    pub fn push_deadline(&self, class: TimeoutClass, d: Deadline) {
        let mut q = self.deadlines.lock().unwrap_or_else(|p| p.into_inner());
        q[class as usize].push_back(d);
    }

    /// Remove and return every deadline at or before `now`.
    pub fn expired(&self, now: Millis) -> Vec<Deadline> {
        let mut q = self.deadlines.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for queue in q.iter_mut() {
            while queue.front().is_some_and(|d| d.0 <= now) {
                out.extend(queue.pop_front());
            }
        }
        out
    }

    /// The earliest deadline queued (answered ones included until pruned).
    pub fn next_deadline(&self) -> Option<Millis> {
        let q = self.deadlines.lock().unwrap_or_else(|p| p.into_inner());
        q.iter()
            .filter_map(|queue| queue.front().map(|d| d.0))
            .min()
    }

    /// Drop from the front of each queue the deadlines `live` says are no longer
    /// wanted (their request was answered), up to the first that is. Answers do
    /// not dequeue their deadline, so without this the front would always be an
    /// answered request's and [`super::Core::poll_timeout`] would ask for a tick
    /// every millisecond under load; pruned, it is the oldest request still
    /// waiting. A deadline is pushed only after its entry is in flight, so one
    /// being forwarded is never taken for answered. A chunk at a time under
    /// the lock: a forward on this link waits microseconds at most.
    pub fn prune(&self, live: impl Fn(&Deadline) -> bool) {
        const CHUNK: usize = 256;
        for class in 0..2 {
            loop {
                let mut q = self.deadlines.lock().unwrap_or_else(|p| p.into_inner());
                let queue = &mut q[class];
                let mut dropped = 0;
                while dropped < CHUNK && queue.front().is_some_and(|d| !live(d)) {
                    queue.pop_front();
                    dropped += 1;
                }
                if dropped < CHUNK {
                    break;
                }
            }
        }
    }

    /// Remove and return every deadline (the link went down).
    pub fn drain_deadlines(&self) -> Vec<Deadline> {
        let mut q = self.deadlines.lock().unwrap_or_else(|p| p.into_inner());
        q.iter_mut().flat_map(|queue| queue.drain(..)).collect()
    }
}

/// Every live link, and the issuer links of each bank.
#[derive(Default)]
pub struct Links {
    by_id: DashMap<LinkId, Arc<Link>, IdHasher>,
    issuer_links: RwLock<Vec<(String, Vec<LinkId>)>>,
    rotor: AtomicUsize,
}

impl Links {
    /// Register a new connection.
    pub fn add(&self, link: Arc<Link>) {
        if link.config.role == Role::Issuer {
            let mut g = self.issuer_links.write().unwrap_or_else(|p| p.into_inner());
            match g.iter_mut().find(|(b, _)| *b == link.config.bank) {
                Some((_, ids)) => ids.push(link.id),
                None => g.push((link.config.bank.clone(), vec![link.id])),
            }
        }
        self.by_id.insert(link.id, link);
    }

    /// Forget a connection.
    pub fn remove(&self, id: LinkId) -> Option<Arc<Link>> {
        let (_, link) = self.by_id.remove(&id)?;
        if link.config.role == Role::Issuer {
            let mut g = self.issuer_links.write().unwrap_or_else(|p| p.into_inner());
            for (_, ids) in g.iter_mut() {
                ids.retain(|&i| i != id);
            }
        }
        Some(link)
    }

    /// A link by id.
    pub fn get(&self, id: LinkId) -> Option<Arc<Link>> {
        self.by_id.get(&id).map(|l| l.clone())
    }

    /// Every link.
    pub fn all(&self) -> Vec<Arc<Link>> {
        self.by_id.iter().map(|e| e.value().clone()).collect()
    }

    /// The usable issuer link for `bank` with room for another request, spreading
    /// load: starting from a rotating position, the first with the fewest in flight.
    /// `Err(true)` if links exist but all are full, `Err(false)` if none is usable.
    pub fn pick_issuer(&self, bank: &str) -> Result<Arc<Link>, bool> {
        // Read under the lock (no copy of the ids per request): `add` and `remove`
        // never hold it while they touch `by_id`, so the order is always this one.
        let g = self.issuer_links.read().unwrap_or_else(|p| p.into_inner());
        let Some((_, ids)) = g.iter().find(|(b, _)| b == bank) else {
            return Err(false);
        };
        let start = self.rotor.fetch_add(1, Ordering::Relaxed);
        let mut best: Option<Arc<Link>> = None;
        let mut any_usable = false;
        for k in 0..ids.len() {
            let Some(link) = self.get(ids[(start + k) % ids.len()]) else {
                continue;
            };
            if !link.usable() {
                continue;
            }
            any_usable = true;
            let load = link.in_flight.load(Ordering::Relaxed);
            if load >= link.config.max_in_flight {
                continue;
            }
            if best
                .as_ref()
                .is_none_or(|b| load < b.in_flight.load(Ordering::Relaxed))
            {
                best = Some(link);
            }
        }
        best.ok_or(any_usable)
    }

    /// Usable links to `bank`.
    pub fn usable_issuer_links(&self, bank: &str) -> Vec<Arc<Link>> {
        let g = self.issuer_links.read().unwrap_or_else(|p| p.into_inner());
        g.iter()
            .filter(|(b, _)| b == bank)
            .flat_map(|(_, ids)| ids.iter().filter_map(|&id| self.get(id)))
            .filter(|l| l.usable())
            .collect()
    }
}
