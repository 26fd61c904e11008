//! Store-and-forward: reversals and advices owed to issuers, delivered with a
//! window of several outstanding per issuer link and repeated until acknowledged.
//! This module is the core's own queue, in memory; what the store must keep of it
//! leaves the core as [`super::store_op::StoreOp`]s, and `super::saf_delivery`
//! decides what goes out when.
//!
//! An item pushed by the core is not offered for delivery until the driver says
//! its push is durable ([`SafQueue::confirm`]): an issuer must never acknowledge
//! a message that a crash before the commit would lose (or, queued again from the
//! journal at restart, deliver twice). Items restored at start are durable.
//!
//! Order is kept only where it matters: an item is held while an item before it
//! for the same original transaction is still queued (an advice and the reversal
//! that takes it back), so a reversal never overtakes what it reverses. Unrelated
//! items pass each other, and one backing off holds up nothing behind it.
//!
//! "Before" is not id order alone: the message an original's keys are (a
//! stand-in advice, whose own fields 7, 11 and 32 the issuer will know it by)
//! goes before every other item concerning that original, whatever their ids;
//! the others go in id order. Ids order one node's items by when they were
//! queued, but not a cluster node's items against those it adopted from a dead
//! node (numbered in that node's slot): a survivor's own 0420 of an adopted
//! stand-in approval may be numbered below the adopted 0220, or above it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use codecs::mti::MessageClass;
use codecs::Message;

use super::time::Millis;

/// One queued message.
#[derive(Clone, Debug)]
pub struct SafItem {
    /// Queue-wide sequence number.
    pub id: u64,
    /// The issuer bank it is owed to.
    pub issuer: String,
    /// The message (0420 or 0120/0220); resent as the repeat MTI (0421, ...).
    pub msg: Message,
    /// When it was queued (for an item restored at start: the start).
    pub queued_at: Millis,
    /// For an item restored at start: how long it had waited already, in
    /// milliseconds, so that its expiry counts from when it was first queued.
    pub waited_before_ms: u64,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Not before this time (backoff).
    pub next_attempt: Millis,
    /// The advice of a stand-in decision: the issuer's liability, delivered
    /// however long it waits (never expired: an approval the acquirer was told
    /// of and settlement counts must reach the issuer's books).
    pub stand_in_advice: bool,
}

impl SafItem {
    /// An item owed to `issuer`, never attempted and due at once, with no
    /// waiting counted before (built so by tests and fakes).
    pub fn durable(id: u64, issuer: &str, msg: Message) -> SafItem {
        SafItem {
            id,
            issuer: issuer.to_string(),
            msg,
            queued_at: Millis(0),
            waited_before_ms: 0,
            attempts: 0,
            next_attempt: Millis(0),
            stand_in_advice: false,
        }
    }
}

/// The keys of an original transaction as field 90 names it: STAN, transmission
/// date-time, acquiring institution (zero-padded as in field 90).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct OriginalKeys {
    stan: u32,
    transmission: [u8; 10],
    acquirer: [u8; 11],
}

impl OriginalKeys {
    /// From field 90 (MTI 4, STAN 6, transmission 10, acquirer 11, forwarding 11);
    /// the original's MTI is left out: an advice (0220) and its reversal (0420)
    /// name the same authorization (0100/0200) with their own MTIs.
    fn of_field90(f90: &[u8]) -> Option<OriginalKeys> {
        let stan = std::str::from_utf8(f90.get(4..10)?).ok()?.parse().ok()?;
        Some(OriginalKeys {
            stan,
            transmission: f90.get(10..20)?.try_into().ok()?,
            acquirer: f90.get(20..31)?.try_into().ok()?,
        })
    }

    /// A message's own keys (fields 11, 7, 32), in field 90's layout (7 and 32
    /// zero-padded on the left), copied in place: one per item queued.
    fn of_message(msg: &Message) -> Option<OriginalKeys> {
        Some(OriginalKeys {
            stan: msg.stan()?,
            transmission: zero_padded(&msg.get(7)?.bytes())?,
            acquirer: zero_padded(&msg.get(32)?.bytes())?,
        })
    }
}

/// `value` right-aligned in `N` bytes of '0' (None when longer: no field the
/// spec allows here is).
fn zero_padded<const N: usize>(value: &[u8]) -> Option<[u8; N]> {
    let start = N.checked_sub(value.len())?;
    let mut out = [b'0'; N];
    out[start..].copy_from_slice(value);
    Some(out)
}

/// The originals an item concerns: its own keys (what a later reversal of this
/// very advice names) and those its field 90 names (what it completes or
/// reverses). Two items sharing either are delivered in queue order.
fn ordering_keys(msg: &Message) -> [Option<OriginalKeys>; 2] {
    let own = OriginalKeys::of_message(msg);
    let named = msg
        .get(90)
        .and_then(|f| OriginalKeys::of_field90(&f.bytes()));
    // A reversal the switch makes names its own keys in field 90: count them once.
    [own, named.filter(|n| Some(*n) != own)]
}

/// A queued item and its delivery state.
#[derive(Debug)]
struct Slot {
    item: SafItem,
    keys: [Option<OriginalKeys>; 2],
    /// Delivered and neither acknowledged nor released.
    out: bool,
    /// Its push is durable (the driver said so): it may be delivered.
    stored: bool,
    /// Never expired: a stand-in advice, or an item ordered with one (the
    /// reversal it follows, a reversal that takes it back).
    pinned: bool,
}

/// The queued items holding one original's keys: the first to deliver, and
/// how many.
#[derive(Debug)]
struct Holders {
    first: Turn,
    count: u32,
}

/// An item's place among those holding one original's keys: the original's
/// own message first (rank 0), then the rest (rank 1), each in id order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Turn {
    rank: u8,
    id: u64,
}

impl Turn {
    /// `slot`'s turn among the items holding `key`.
    fn of(
        slot_keys: &[Option<OriginalKeys>; 2],
        msg: &Message,
        id: u64,
        key: OriginalKeys,
    ) -> Turn {
        // The message whose own keys these are and that takes nothing back (an
        // advice, not the switch's 0420, which copies its original's keys).
        let the_original = slot_keys[0] == Some(key) && msg.mti().class() != MessageClass::Reversal;
        Turn {
            rank: u8::from(!the_original),
            id,
        }
    }
}

/// One issuer's items, oldest first (ids ascend along the queue).
#[derive(Debug, Default)]
struct IssuerQueue {
    slots: VecDeque<Slot>,
    holders: HashMap<OriginalKeys, Holders>,
    out: usize,
}

impl IssuerQueue {
    fn push(&mut self, item: SafItem, stored: bool) {
        let keys = ordering_keys(&item.msg);
        // Items sharing an original with a stand-in advice live as long as it.
        let mut pinned = item.stand_in_advice;
        for k in keys.iter().flatten() {
            if !self.holders.contains_key(k) {
                continue;
            }
            let sharing = self.slots.iter_mut().filter(|s| s.keys.contains(&Some(*k)));
            for s in sharing {
                pinned |= s.pinned;
                s.pinned |= item.stand_in_advice;
            }
        }
        for k in keys.iter().flatten() {
            let turn = Turn::of(&keys, &item.msg, item.id, *k);
            self.holders
                .entry(*k)
                .and_modify(|h| {
                    h.count += 1;
                    h.first = h.first.min(turn);
                })
                .or_insert(Holders {
                    first: turn,
                    count: 1,
                });
        }
        let slot = Slot {
            item,
            keys,
            out: false,
            stored,
            pinned,
        };
        // Ids ascend along the queue. This node's new items come last, except
        // behind items adopted from another cluster node, whose ids are in that
        // node's range (possibly above this node's): those are passed over.
        match self.slots.back() {
            Some(last) if last.item.id > slot.item.id => {
                let at = self.slots.partition_point(|s| s.item.id < slot.item.id);
                self.slots.insert(at, slot);
            }
            _ => self.slots.push_back(slot),
        }
    }

    /// Whether a queued item that goes before `slot` concerns the same original.
    fn held_back(&self, slot: &Slot) -> bool {
        slot.keys.iter().flatten().any(|k| {
            self.holders
                .get(k)
                .is_some_and(|h| h.first.id != slot.item.id)
        })
    }

    fn position(&self, id: u64) -> Option<usize> {
        // Ids ascend along the queue.
        self.slots.binary_search_by_key(&id, |s| s.item.id).ok()
    }

    /// Remove the item at `pos`, handing its keys on to the next item holding them.
    fn remove(&mut self, pos: usize) -> Option<SafItem> {
        let slot = self.slots.remove(pos)?;
        if slot.out {
            self.out -= 1;
        }
        for k in slot.keys.iter().flatten() {
            let Some(h) = self.holders.get_mut(k) else {
                continue;
            };
            h.count -= 1;
            if h.count == 0 {
                self.holders.remove(k);
            } else if h.first.id == slot.item.id {
                // Rare (an advice and its reversal both queued): the next in turn.
                let next = self
                    .slots
                    .iter()
                    .filter(|s| s.keys.contains(&Some(*k)))
                    .map(|s| Turn::of(&s.keys, &s.item.msg, s.item.id, *k))
                    .min();
                if let Some(next) = next {
                    h.first = next;
                }
            }
        }
        Some(slot.item)
    }
}

/// The queue. Its lock is held only for in-memory work (no I/O, no waiting on
/// anything else): the core is called from several driver threads at once.
#[derive(Default)]
pub struct SafQueue {
    inner: Mutex<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    next_id: u64,
    queues: HashMap<String, IssuerQueue>,
}

impl SafQueue {
    /// A queue holding `items` (durable already: read back from the store).
    pub fn restore(items: Vec<SafItem>) -> SafQueue {
        let saf = SafQueue::default();
        saf.add_restored(items, 0);
        saf
    }

    /// Add `items`, durable already (read back from the store at start), and
    /// number new items after them.
    pub fn add_restored(&self, mut items: Vec<SafItem>, last_id: u64) {
        // Each issuer's queue is kept in id order (lookups search it by id).
        items.sort_by_key(|i| i.id);
        let mut g = self.lock();
        g.next_id = g.next_id.max(last_id);
        for item in items {
            g.next_id = g.next_id.max(item.id);
            g.queues
                .entry(item.issuer.clone())
                .or_default()
                .push(item, true);
        }
    }

    /// Add `items` taken over from another cluster node (durable already: the
    /// take-over moved their rows to this node), each in its place by id. The
    /// numbering of this node's new items does not move: their ids are in
    /// another slot's range.
    pub fn adopt(&self, mut items: Vec<SafItem>) {
        items.sort_by_key(|i| i.id);
        let mut g = self.lock();
        for item in items {
            let queue = g.queues.entry(item.issuer.clone()).or_default();
            if queue.position(item.id).is_some() {
                continue; // adopted twice: the queue has it already
            }
            queue.push(item, true);
        }
    }

    /// The pushes of items `ids` are durable: they may be delivered now. Returns
    /// the issuers they are owed to (each once), whose windows may fill.
    pub fn confirm(&self, ids: &[u64]) -> Vec<String> {
        let mut g = self.lock();
        let mut issuers: Vec<String> = Vec::new();
        for &id in ids {
            // A handful of issuers: a search in each beats an index kept per item.
            let found = g.queues.iter_mut().find_map(|(issuer, q)| {
                let pos = q.position(id)?;
                q.slots[pos].stored = true;
                Some(issuer)
            });
            if let Some(issuer) = found {
                if !issuers.contains(issuer) {
                    issuers.push(issuer.clone());
                }
            }
        }
        issuers
    }

    /// Items whose push is not durable yet, all issuers.
    pub fn unconfirmed(&self) -> usize {
        self.lock()
            .queues
            .values()
            .map(|q| q.slots.iter().filter(|s| !s.stored).count())
            .sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Append a message for `issuer`; it is not delivered before [`SafQueue::confirm`].
    pub fn push(&self, issuer: &str, msg: Message, now: Millis) -> u64 {
        self.push_item(issuer, msg, now, false)
    }

    /// [`SafQueue::push`] of a stand-in decision's advice (never expired).
    pub fn push_stand_in_advice(&self, issuer: &str, msg: Message, now: Millis) -> u64 {
        self.push_item(issuer, msg, now, true)
    }

    fn push_item(&self, issuer: &str, msg: Message, now: Millis, stand_in_advice: bool) -> u64 {
        let mut g = self.lock();
        g.next_id += 1;
        let id = g.next_id;
        g.queues.entry(issuer.to_string()).or_default().push(
            SafItem {
                id,
                issuer: issuer.to_string(),
                msg,
                queued_at: now,
                waited_before_ms: 0,
                attempts: 0,
                next_attempt: now,
                stand_in_advice,
            },
            false,
        );
        id
    }

    /// Up to `max` items for `issuer` that may go out at `now`, oldest first:
    /// durable, due (past their backoff), not out already, and not held behind
    /// an earlier queued item for the same original transaction. Each is marked
    /// out until it is acknowledged or [`SafQueue::released`].
    pub fn take_due(&self, issuer: &str, now: Millis, max: usize) -> Vec<SafItem> {
        let mut g = self.lock();
        let Some(q) = g.queues.get_mut(issuer) else {
            return Vec::new();
        };
        let mut due = Vec::new();
        for pos in 0..q.slots.len() {
            if due.len() >= max {
                break;
            }
            let slot = &q.slots[pos];
            if slot.out || !slot.stored || slot.item.next_attempt > now || q.held_back(slot) {
                continue;
            }
            due.push(slot.item.clone());
            q.slots[pos].out = true;
            q.out += 1;
        }
        due
    }

    /// Record a delivery attempt of item `id` (next try not before `retry_at`);
    /// returns the attempts so far.
    pub fn attempted(&self, issuer: &str, id: u64, retry_at: Millis) -> Option<u32> {
        let mut g = self.lock();
        let q = g.queues.get_mut(issuer)?;
        let pos = q.position(id)?;
        let item = &mut q.slots[pos].item;
        item.attempts += 1;
        item.next_attempt = retry_at;
        Some(item.attempts)
    }

    /// Item `id` went out and got no answer (timeout, link lost): it may go
    /// again once due.
    pub fn released(&self, issuer: &str, id: u64) {
        let mut g = self.lock();
        let Some(q) = g.queues.get_mut(issuer) else {
            return;
        };
        if let Some(pos) = q.position(id) {
            if std::mem::replace(&mut q.slots[pos].out, false) {
                q.out -= 1;
            }
        }
    }

    /// The issuer acknowledged item `id`: it leaves the queue.
    pub fn acknowledge(&self, issuer: &str, id: u64) -> bool {
        let mut g = self.lock();
        let Some(q) = g.queues.get_mut(issuer) else {
            return false;
        };
        match q.position(id) {
            Some(pos) => q.remove(pos).is_some(),
            None => false,
        }
    }

    /// Take item `id` out unsent: a stand-in advice whose approval lost its
    /// cluster claim (its push never confirmed, its row deleted by the store).
    pub fn discard(&self, issuer: &str, id: u64) -> bool {
        let mut g = self.lock();
        let Some(q) = g.queues.get_mut(issuer) else {
            return false;
        };
        q.position(id).and_then(|pos| q.remove(pos)).is_some()
    }

    /// Drop items that have waited longer than `expiry` at `now` (counting what
    /// restored items waited before the start), stand-in advices excepted;
    /// returns them (for alerts).
    pub fn expire(&self, now: Millis, expiry: std::time::Duration) -> Vec<SafItem> {
        let limit = expiry.as_millis() as u64;
        let waited = |i: &SafItem| now.0.saturating_sub(i.queued_at.0) + i.waited_before_ms;
        let mut g = self.lock();
        let mut gone = Vec::new();
        // Each queue is in the order its items were first queued (restored ones,
        // from before the start, come first): the oldest are at the front, and
        // the first that has not expired ends the search.
        for q in g.queues.values_mut() {
            let mut pos = 0;
            // Pinned items are passed over whatever their age, as `next_due`
            // does: the first expirable item decides.
            while let Some(slot) = q.slots.get(pos) {
                if slot.pinned {
                    pos += 1;
                } else if waited(&slot.item) > limit {
                    gone.extend(q.remove(pos));
                } else {
                    break;
                }
            }
        }
        gone
    }

    /// Messages waiting, all issuers.
    pub fn depth(&self) -> usize {
        self.lock().queues.values().map(|q| q.slots.len()).sum()
    }

    /// Messages out and not yet acknowledged, all issuers.
    pub fn outstanding(&self) -> usize {
        self.lock().queues.values().map(|q| q.out).sum()
    }

    /// Each issuer with messages waiting: how many, and how long (ms) the
    /// oldest has waited at `now` (counting a restored item's wait before the
    /// start). Queues keep their items in the order first queued: the front is
    /// the oldest.
    pub fn per_issuer(&self, now: Millis) -> std::collections::BTreeMap<String, (usize, u64)> {
        self.lock()
            .queues
            .iter()
            .filter_map(|(issuer, q)| {
                let front = &q.slots.front()?.item;
                let waited = now.0.saturating_sub(front.queued_at.0) + front.waited_before_ms;
                Some((issuer.clone(), (q.slots.len(), waited)))
            })
            .collect()
    }

    /// Issuers with messages waiting.
    pub fn issuers(&self) -> Vec<String> {
        self.lock()
            .queues
            .iter()
            .filter(|(_, q)| !q.slots.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// The timer's question, apart from the queue's work.
impl SafQueue {
    /// When the queue next needs the core ([`super::Core::poll_timeout`]): the
    /// earliest of an item not out whose backoff ends (a durable one: an item
    /// whose push is not durable yet is offered by [`super::Core::on_saf_durable`]
    /// when it is), and the oldest item of an issuer expiring (as
    /// [`SafQueue::expire`] counts). A scan of the items; asked once per tick.
    pub fn next_due(&self, expiry: std::time::Duration) -> Option<Millis> {
        let limit = expiry.as_millis() as u64;
        let g = self.lock();
        let mut due: Option<u64> = None;
        let mut consider = |t: u64| due = Some(due.map_or(t, |d| d.min(t)));
        for q in g.queues.values() {
            // The oldest item that can expire, once it has waited more than `limit`.
            if let Some(oldest) = q.slots.iter().find(|s| !s.pinned) {
                let waited = oldest.item.waited_before_ms;
                consider((oldest.item.queued_at.0 + limit + 1).saturating_sub(waited));
            }
            for slot in q.slots.iter().filter(|s| !s.out && s.stored) {
                consider(slot.item.next_attempt.0);
            }
        }
        due.map(Millis)
    }
}
