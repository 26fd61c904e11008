//! Sockets a listener has accepted that have not yet proved themselves (a TLS
//! handshake done and its certificate bound, or a plain-TCP first frame): their
//! bound per listener and the first-byte wait they all start with.
//!
//! The bound never makes the accept loop wait: admitting a socket at the bound
//! closes the oldest pending one instead. A flood of idle or trickling sockets
//! therefore only evicts itself, and a bank that connects in the middle of it
//! takes the place of the oldest flooder at once; it could only be evicted in
//! turn by `bound` newer sockets arriving during its own handshake.
//!
//! What this module does not own: the deadlines of each kind of proof
//! ([`super::handshake`], [`super::first_frame`]) and the bound on established
//! connections (`max_connections`, in [`super::listener`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// The pending sockets of one listener.
pub(crate) struct PendingSet {
    link: String,
    bound: usize,
    state: Mutex<Waiting>,
    /// `switch_pending_connections{link}`: how many are pending now.
    gauge: metrics::Gauge,
    /// `switch_pending_evicted_total{link}`: closed to admit a newer one.
    evicted: metrics::Counter,
}

/// Pending sockets by admission order (oldest first), each with the sender
/// whose drop tells it it was evicted.
#[derive(Default)]
struct Waiting {
    next: u64,
    sockets: BTreeMap<u64, oneshot::Sender<()>>,
}

/// One admitted socket's place in its listener's [`PendingSet`]; dropping it
/// (once the socket has proved itself or is closed) frees the place.
pub(crate) struct Pending {
    id: u64,
    set: Arc<PendingSet>,
    evicted: oneshot::Receiver<()>,
}

impl PendingSet {
    /// At most `bound` (at least 1) pending sockets on listening link `link`.
    pub(crate) fn new(link: &str, bound: usize) -> Arc<PendingSet> {
        Arc::new(PendingSet {
            link: link.to_string(),
            bound: bound.max(1),
            state: Mutex::new(Waiting::default()),
            gauge: metrics::gauge!("switch_pending_connections", "link" => link.to_string()),
            evicted: metrics::counter!("switch_pending_evicted_total", "link" => link.to_string()),
        })
    }

    fn waiting(&self) -> MutexGuard<'_, Waiting> {
        // Nothing panics under this lock; a poisoned one still holds a whole map.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admit a socket just accepted, evicting the oldest pending one at the bound.
    pub(crate) fn admit(self: &Arc<Self>) -> Pending {
        let (tx, rx) = oneshot::channel();
        let (id, evicted) = {
            let mut w = self.waiting();
            let evicted = if w.sockets.len() >= self.bound {
                w.sockets.pop_first()
            } else {
                None
            };
            let id = w.next;
            w.next += 1;
            w.sockets.insert(id, tx);
            self.gauge.set(w.sockets.len() as f64);
            (id, evicted)
        };
        if let Some((oldest, sender)) = evicted {
            // Dropping the sender wakes the evicted socket's task, which closes it.
            drop(sender);
            self.note_eviction(oldest);
        }
        Pending {
            id,
            set: self.clone(),
            evicted: rx,
        }
    }

    /// Close the oldest pending socket now, if any (the process is out of file
    /// descriptors: a socket that has proved nothing gives its one back first).
    pub(crate) fn evict_oldest(&self) -> bool {
        let oldest = {
            let mut w = self.waiting();
            let oldest = w.sockets.pop_first();
            self.gauge.set(w.sockets.len() as f64);
            oldest
        };
        match oldest {
            Some((id, sender)) => {
                drop(sender);
                self.note_eviction(id);
                true
            }
            None => false,
        }
    }

    fn note_eviction(&self, id: u64) {
        self.evicted.increment(1);
        // Debug only: a flood evicts a socket per connection it opens.
        tracing::debug!(link = %self.link, pending = id, "pending socket evicted for a newer one");
    }

    /// How many sockets are pending now (the gauge says it to operators).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.waiting().sockets.len()
    }
}

impl Pending {
    /// Run `work` (the socket's proof) until it ends, or None as soon as a newer
    /// socket evicts this one.
    pub(crate) async fn run<F: Future>(&mut self, work: F) -> Option<F::Output> {
        tokio::select! {
            out = work => Some(out),
            _ = &mut self.evicted => None,
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut w = self.set.waiting();
        // Absent when evicted: the eviction already took it out.
        if w.sockets.remove(&self.id).is_some() {
            self.set.gauge.set(w.sockets.len() as f64);
        }
    }
}

/// Why a pending socket sent no first byte.
#[derive(Debug)]
pub(crate) enum NoFirstByte {
    /// Nothing within the first-byte deadline.
    Silent,
    /// The peer closed before sending anything.
    Closed,
    /// The socket failed.
    Io(io::Error),
}

/// Wait until `tcp` has a byte to read (without taking it), for at most `within`.
/// One readiness wait and one timer per socket: a thousand idle sockets cost the
/// switch no CPU until their deadline.
pub(crate) async fn first_byte(tcp: &TcpStream, within: Duration) -> Result<(), NoFirstByte> {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(within, tcp.peek(&mut byte)).await {
        Err(_) => Err(NoFirstByte::Silent),
        Ok(Ok(0)) => Err(NoFirstByte::Closed),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(NoFirstByte::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_oldest_is_evicted_at_the_bound_and_places_are_freed_on_drop() {
        let set = PendingSet::new("test", 2);
        let mut first = set.admit();
        let second = set.admit();
        assert_eq!(set.len(), 2);
        // A third evicts the first, not the second.
        let third = set.admit();
        assert_eq!(set.len(), 2);
        assert!(first.run(std::future::pending::<()>()).await.is_none());
        drop(first);
        assert_eq!(set.len(), 2);
        // A socket that proves itself frees its place.
        drop(second);
        assert_eq!(set.len(), 1);
        let mut fourth = set.admit();
        assert_eq!(set.len(), 2);
        assert_eq!(fourth.run(async { 7 }).await, Some(7));
        drop((third, fourth));
        assert_eq!(set.len(), 0);
        assert!(!set.evict_oldest());
    }
}
