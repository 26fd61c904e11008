//! Store-and-forward: reversals and advices owed to issuers, delivered in order per
//! issuer and repeated until acknowledged. This module defines the interface and
//! the in-memory queue; `crate::store::saf` makes it durable.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

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
}

/// Where owed messages wait.
pub trait SafQueue: Send + Sync {
    /// Append a message for `issuer`.
    fn push(&self, issuer: &str, msg: Message, now: Millis) -> u64;
    /// The oldest message for `issuer`, if due at `now` and not already out.
    fn due(&self, issuer: &str, now: Millis) -> Option<SafItem>;
    /// Record a delivery attempt of item `id` (next try not before `retry_at`).
    fn attempted(&self, issuer: &str, id: u64, retry_at: Millis);
    /// The issuer acknowledged item `id`.
    fn acknowledge(&self, issuer: &str, id: u64) -> bool;
    /// Drop items that have waited longer than `expiry` at `now` (counting what
    /// restored items waited before the start); returns them (for alerts).
    fn expire(&self, now: Millis, expiry: std::time::Duration) -> Vec<SafItem>;
    /// Messages waiting, all issuers.
    fn depth(&self) -> usize;
    /// Issuers with messages waiting.
    fn issuers(&self) -> Vec<String>;
}

/// The in-memory queue (lost on restart; the durability issue replaces it).
#[derive(Default)]
pub struct MemorySaf {
    inner: Mutex<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    next_id: u64,
    queues: HashMap<String, VecDeque<SafItem>>,
}

impl MemorySaf {
    /// A queue holding `items` (oldest first), numbering new ones after them.
    pub fn restore(items: Vec<SafItem>) -> MemorySaf {
        let saf = MemorySaf::default();
        {
            let mut g = saf.inner.lock().unwrap_or_else(|p| p.into_inner());
            for item in items {
                g.next_id = g.next_id.max(item.id);
                g.queues
                    .entry(item.issuer.clone())
                    .or_default()
                    .push_back(item);
            }
        }
        saf
    }

    /// The item `id` for `issuer`, if still queued.
    pub fn item(&self, issuer: &str, id: u64) -> Option<SafItem> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.queues.get(issuer)?.iter().find(|i| i.id == id).cloned()
    }
}

impl SafQueue for MemorySaf {
    fn push(&self, issuer: &str, msg: Message, now: Millis) -> u64 {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.next_id += 1;
        let id = g.next_id;
        g.queues
            .entry(issuer.to_string())
            .or_default()
            .push_back(SafItem {
                id,
                issuer: issuer.to_string(),
                msg,
                queued_at: now,
                waited_before_ms: 0,
                attempts: 0,
                next_attempt: now,
            });
        id
    }

    fn due(&self, issuer: &str, now: Millis) -> Option<SafItem> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let head = g.queues.get(issuer)?.front()?;
        (head.next_attempt <= now).then(|| head.clone())
    }

    fn attempted(&self, issuer: &str, id: u64, retry_at: Millis) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(item) = g
            .queues
            .get_mut(issuer)
            .and_then(|q| q.iter_mut().find(|i| i.id == id))
        {
            item.attempts += 1;
            item.next_attempt = retry_at;
        }
    }

    fn acknowledge(&self, issuer: &str, id: u64) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(q) = g.queues.get_mut(issuer) else {
            return false;
        };
        let Some(pos) = q.iter().position(|i| i.id == id) else {
            return false;
        };
        q.remove(pos);
        true
    }

    fn expire(&self, now: Millis, expiry: std::time::Duration) -> Vec<SafItem> {
        let limit = expiry.as_millis() as u64;
        let waited = |i: &SafItem| now.0.saturating_sub(i.queued_at.0) + i.waited_before_ms;
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut gone = Vec::new();
        // Each queue is in the order its items were first queued (restored ones,
        // from before the start, come first): the oldest are at the front.
        for q in g.queues.values_mut() {
            while q.front().is_some_and(|i| waited(i) > limit) {
                gone.extend(q.pop_front());
            }
        }
        gone
    }

    fn depth(&self) -> usize {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.queues.values().map(VecDeque::len).sum()
    }

    fn issuers(&self) -> Vec<String> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }
}
