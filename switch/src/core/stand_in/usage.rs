//! Each card's stand-in approvals of the business day, per currency and bucket
//! (purchases, cash): what the cumulative limits are checked against. The check
//! and the update happen under the card's entry lock, so two requests for one
//! card decided at once cannot both pass a limit only one fits in. Rebuilt from
//! the journal at start ([`UsageBook::restore`]): a restart, kill -9 included,
//! never resets them.
//!
//! In a cluster the book holds this node's own approvals, and beside them the
//! other nodes' (a dead node's included) as last read from the shared journal
//! ([`UsageBook::set_elsewhere`], about once a second): a card's limits hold
//! across the cluster within that second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::RwLock;

use dashmap::DashMap;
use routing_rules::stand_in::Usage;
use rust_decimal::Decimal;

/// A card (its keyed hash, or its digest when the switch keeps no journal), a
/// currency and a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct UsageKey {
    pub(crate) card: [u8; 32],
    pub(crate) currency: u16,
    pub(crate) cash: bool,
}

/// One key's approvals on `day`.
#[derive(Clone, Copy, Debug, Default)]
struct DayUsage {
    day: i64,
    amount: Decimal,
    count: u32,
}

/// The book of every card's stand-in approvals.
#[derive(Debug, Default)]
pub(crate) struct UsageBook {
    entries: DashMap<UsageKey, DayUsage>,
    /// The business day in force (set by the driver).
    day: AtomicI64,
    /// The other cluster nodes' approvals (replaced whole by each read).
    elsewhere: RwLock<Elsewhere>,
}

/// The other nodes' approvals of `day`, per key: (amount, count).
#[derive(Debug, Default)]
struct Elsewhere {
    day: i64,
    usage: HashMap<UsageKey, (Decimal, u32)>,
}

impl UsageBook {
    /// The business day in force; entries of earlier days count as nothing and
    /// are dropped.
    pub(crate) fn set_day(&self, day: i64) {
        let before = self.day.swap(day, Ordering::Relaxed);
        if before != day {
            self.entries.retain(|_, u| u.day >= day);
        }
    }

    /// The business day in force.
    pub(crate) fn day(&self) -> i64 {
        self.day.load(Ordering::Relaxed)
    }

    /// Approvals read back from the journal for the day in force.
    pub(crate) fn restore(&self, key: UsageKey, amount: Decimal, count: u32) {
        let day = self.day();
        let mut e = self.entries.entry(key).or_insert(DayUsage {
            day,
            ..DayUsage::default()
        });
        e.amount += amount;
        e.count += count;
    }

    /// The other nodes' approvals of `day`, as read from the shared journal:
    /// they replace the last read.
    pub(crate) fn set_elsewhere(&self, day: i64, usage: HashMap<UsageKey, (Decimal, u32)>) {
        *self.elsewhere.write().unwrap_or_else(|p| p.into_inner()) = Elsewhere { day, usage };
    }

    /// The other nodes' approvals for `key` on `day` (none when the last read
    /// was of another day).
    fn elsewhere(&self, key: &UsageKey, day: i64) -> (Decimal, u32) {
        let g = self.elsewhere.read().unwrap_or_else(|p| p.into_inner());
        if g.day != day {
            return (Decimal::ZERO, 0);
        }
        g.usage.get(key).copied().unwrap_or_default()
    }

    /// Take back an approval of `amount` counted today (its cluster claim was
    /// refused: it never stood).
    pub(crate) fn uncount(&self, key: UsageKey, amount: Decimal) {
        let day = self.day();
        if let Some(mut e) = self.entries.get_mut(&key) {
            if e.day == day && e.count > 0 {
                e.amount -= amount;
                e.count -= 1;
            }
        }
        self.entries.remove_if(&key, |_, u| u.count == 0);
    }

    /// Run `decide` with `key`'s usage today and, when it approves, count
    /// `amount` in, all under the entry's lock. Returns what `decide` returned.
    pub(crate) fn decide_and_count<T>(
        &self,
        key: UsageKey,
        amount: Decimal,
        decide: impl FnOnce(Usage) -> (T, bool),
    ) -> T {
        let day = self.day();
        // Read before the entry's lock is taken (never both held).
        let (other_amount, other_count) = self.elsewhere(&key, day);
        let (out, nothing) = {
            let mut e = self.entries.entry(key).or_default();
            if e.day != day {
                *e = DayUsage {
                    day,
                    ..DayUsage::default()
                };
            }
            let (out, approved) = decide(Usage {
                amount: e.amount + other_amount,
                count: e.count + other_count,
            });
            if approved {
                e.amount += amount;
                e.count += 1;
            }
            (out, e.count == 0)
        };
        // A card with no approval today holds no entry (a card-testing run of
        // declines must not grow the book); removed only if still empty.
        if nothing {
            self.entries.remove_if(&key, |_, u| u.count == 0);
        }
        out
    }

    /// Cards with approvals today (a gauge).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> UsageKey {
        UsageKey {
            card: [n; 32],
            currency: 408,
            cash: false,
        }
    }

    #[test]
    fn approvals_count_only_when_approved_and_only_on_their_day() {
        let book = UsageBook::default();
        book.set_day(10);
        let amount = Decimal::from(100);
        let seen = book.decide_and_count(key(1), amount, |u| (u, true));
        assert_eq!(seen, Usage::default());
        let seen = book.decide_and_count(key(1), amount, |u| (u, false));
        assert_eq!(seen.count, 1);
        assert_eq!(seen.amount, amount);
        let seen = book.decide_and_count(key(1), amount, |u| (u, true));
        assert_eq!(seen.count, 1, "a decline counted nothing");
        book.set_day(11);
        let seen = book.decide_and_count(key(1), amount, |u| (u, true));
        assert_eq!(seen, Usage::default(), "a new day starts from nothing");
    }

    #[test]
    fn restored_approvals_count_on_the_day_in_force() {
        let book = UsageBook::default();
        book.set_day(5);
        book.restore(key(2), Decimal::from(300), 2);
        let seen = book.decide_and_count(key(2), Decimal::ONE, |u| (u, false));
        assert_eq!(seen.count, 2);
        assert_eq!(seen.amount, Decimal::from(300));
        assert_eq!(book.len(), 1);
    }

    #[test]
    fn other_nodes_approvals_count_on_their_day_and_a_refused_one_comes_back_out() {
        let book = UsageBook::default();
        book.set_day(7);
        let amount = Decimal::from(100);
        book.decide_and_count(key(3), amount, |u| (u, true));
        let elsewhere = HashMap::from([(key(3), (Decimal::from(250), 2))]);
        book.set_elsewhere(7, elsewhere.clone());
        let seen = book.decide_and_count(key(3), amount, |u| (u, false));
        assert_eq!((seen.amount, seen.count), (Decimal::from(350), 3));
        book.set_elsewhere(6, elsewhere);
        let seen = book.decide_and_count(key(3), amount, |u| (u, false));
        assert_eq!(seen.count, 1, "another day's read counts nothing");
        book.uncount(key(3), amount);
        assert_eq!(book.len(), 0, "the refused approval taken back out");
    }

    /// A card-testing run during an outage (many card numbers of a
    /// valid BIN, all declined) must not grow the book: it holds approvals.
    #[test]
    fn declines_leave_no_entry() {
        let book = UsageBook::default();
        book.set_day(1);
        for n in 0..=255u8 {
            book.decide_and_count(key(n), Decimal::ONE, |u| (u, false));
        }
        assert_eq!(book.len(), 0, "one entry per declined card number");
    }
}
