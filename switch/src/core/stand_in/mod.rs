//! Stand-in: the switch decides for an issuer that cannot answer (no signed-on
//! link, every link at its in-flight cap, or no answer in time), within the
//! limits the issuer set in advance (`[[stand_in]]` in the routing rules, decided
//! by [`routing_rules::decide_stand_in`]), answers the acquirer at once and tells
//! the issuer afterwards with an advice through store-and-forward.
//!
//! - [`decide`]: the path: the checks' inputs gathered, the decision, the answer
//!   (38 from the switch's range, the indicator field), the advice, the journal;
//! - [`advice`]: the 0120/0220 the issuer receives;
//! - [`usage`]: each card's stand-in approvals of the business day;
//! - [`negative`]: the negative file (the issuer's file under its 0302 updates);
//! - [`file_update`]: 0302 from issuers, answered 0312;
//! - [`claimed`]: a cluster node's approvals waiting for their cross-node claim.
//!
//! Off ([`super::CoreSettings::stand_in`] None) the switch declines 91 as before.

pub(crate) mod advice;
pub(crate) mod claimed;
pub(crate) mod decide;
pub(crate) mod file_update;
pub(crate) mod negative;
pub(crate) mod usage;

use std::sync::atomic::{AtomicU32, Ordering};

use rust_decimal::Decimal;

use super::stan_range::StanRange;
use super::{Core, Millis};
use usage::{UsageBook, UsageKey};

/// The largest STAN (the authorization codes' sequence starts from the epoch
/// second modulo it).
const MAX_STAN: u32 = 999_999;

/// Stand-in's own state.
#[derive(Debug, Default)]
pub(crate) struct StandInState {
    /// Every card's stand-in approvals of the business day.
    pub(crate) usage: UsageBook,
    /// The STANs of stand-in decisions (the issuer knows a decision by it).
    stan: AtomicU32,
    /// The range it wraps in (this node's STANs).
    stan_range: StanRange,
    /// Approvals so far (their authorization codes run through the range).
    approvals: AtomicU32,
    /// A cluster node's approvals waiting for their claim.
    pub(crate) awaiting_claim: claimed::AwaitingClaims,
}

impl StandInState {
    /// Start the sequences where a restart is unlikely to meet the last run's:
    /// from the epoch second, the STANs half of `range` away from where the
    /// issuer links' sequences start (see `Core::on_link_up`).
    pub(crate) fn seeded(epoch_unix_ms: u64, range: StanRange) -> StandInState {
        let epoch_second = epoch_unix_ms / 1000;
        let half = u64::from(range.high() - range.low() + 1) / 2;
        StandInState {
            usage: UsageBook::default(),
            stan: AtomicU32::new(range.seed(epoch_second + half)),
            stan_range: range,
            approvals: AtomicU32::new((epoch_second % u64::from(MAX_STAN)) as u32),
            awaiting_claim: claimed::AwaitingClaims::default(),
        }
    }

    /// The next decision's STAN (in this node's range, wrapping).
    pub(crate) fn next_stan(&self) -> u32 {
        super::links::take_stan(&self.stan, self.stan_range)
    }

    /// The next authorization code of the range `low..=high`, 6 digits.
    pub(crate) fn next_auth_code(&self, low: u32, high: u32) -> String {
        let n = self.approvals.fetch_add(1, Ordering::Relaxed);
        let span = high.saturating_sub(low) + 1;
        format!("{:06}", low + n % span)
    }
}

/// One card's stand-in approvals of a day in one currency and bucket.
#[derive(Clone, Copy, Debug)]
pub struct CardUsage {
    /// The PAN's keyed hash (the journal's `pan_hash`, as bytes).
    pub card: [u8; 32],
    /// ISO 4217 numeric.
    pub currency: u16,
    /// Cash withdrawals, else purchases.
    pub cash: bool,
    /// Their total, major units.
    pub amount: Decimal,
    /// How many.
    pub count: u32,
}

impl Core {
    /// The business day in force (the driver sets it at start and as it turns):
    /// the per-card cumulative limits count within it.
    pub fn set_business_day(&self, day: i64) {
        self.stand_in.usage.set_day(day);
    }

    /// A card's stand-in approvals of the day in force, read back from the
    /// journal at start: `card` is the PAN's keyed hash (the journal's
    /// `pan_hash`, as bytes).
    pub fn restore_stand_in_usage(
        &self,
        card: [u8; 32],
        currency: u16,
        cash: bool,
        amount: Decimal,
        count: u32,
    ) {
        let key = UsageKey {
            card,
            currency,
            cash,
        };
        self.stand_in.usage.restore(key, amount, count);
    }

    /// The other cluster nodes' stand-in approvals of `day`, as read from the
    /// shared journal (about once a second): they replace the last read, and
    /// count with this node's own against each card's limits.
    pub fn set_stand_in_usage_elsewhere(&self, day: i64, cards: Vec<CardUsage>) {
        let usage = cards
            .into_iter()
            .map(|c| {
                let key = UsageKey {
                    card: c.card,
                    currency: c.currency,
                    cash: c.cash,
                };
                (key, (c.amount, c.count))
            })
            .collect();
        self.stand_in.usage.set_elsewhere(day, usage);
    }

    /// The business day stand-in's limits count within.
    pub fn stand_in_day(&self) -> i64 {
        self.stand_in.usage.day()
    }

    /// A negative-file update read back from the store at start.
    pub fn restore_negative_update(
        &self,
        issuer: &str,
        digest: [u8; 32],
        reason: Option<routing_rules::HotReason>,
    ) {
        self.negative.set(issuer, digest, reason);
    }

    /// Whether the acquirer reversed the request of `entry` (still in flight: its
    /// own timeout was shorter than the switch's), as the recent-originals index
    /// noted when the reversal came.
    pub(crate) fn reversed_by_acquirer(&self, entry: &super::inflight::InFlightEntry) -> bool {
        let (Some(f7), Some(f11), Some(acquirer)) = (
            entry.acquirer_f7.as_deref(),
            entry
                .acquirer_f11
                .as_deref()
                .and_then(|s| s.parse::<u32>().ok()),
            entry.forwarded.text(32),
        ) else {
            return false;
        };
        self.recent.is_reversed(super::recent::AcquirerKeyRef {
            acquirer: &acquirer,
            stan: f11,
            transmission: f7,
        })
    }

    /// YYMM of `now` (the expiry check's "today").
    pub(crate) fn year_month_at(&self, now: Millis) -> [u8; 4] {
        codecs::datetime::year_month_at_unix((self.settings.epoch_unix_ms + now.0) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stans_wrap_within_the_range_and_auth_codes_stay_in_theirs() {
        let s = StandInState::seeded(0, StanRange::default());
        s.stan.store(MAX_STAN, Ordering::Relaxed);
        assert_eq!(s.next_stan(), MAX_STAN);
        assert_eq!(s.next_stan(), 1);
        let codes: Vec<String> = (0..5).map(|_| s.next_auth_code(900_000, 900_002)).collect();
        assert_eq!(codes, ["900000", "900001", "900002", "900000", "900001"]);
    }
}
