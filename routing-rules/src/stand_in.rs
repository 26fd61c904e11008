//! Stand-in: what the switch may decide for an issuer that cannot answer (no
//! signed-on link, at its in-flight cap, or timed out), within limits the issuer set
//! in advance: the compiled `[[stand_in]]` parameters, the request the switch asks
//! about, and the decision with the check that made it.
//!
//! The decision itself is in [`decide`] (allocation-free, and traced for `explain`).
//! The caller owns what changes while the switch runs: the day's stand-in usage of
//! the card and the negative file's verdict (file plus 0302 updates), passed in the
//! request; this module holds no state and reads no clock.

mod decide;

use codecs::ResponseCode;
use rust_decimal::Decimal;

use crate::model::BankIdx;
use crate::negative::HotReason;

pub use decide::{decide_stand_in, explain_stand_in, StandInExplanation, StandInStep};

/// Limits of one bucket (purchases, or cash) in one currency, in major units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketLimits {
    /// Largest amount of one transaction.
    pub per_transaction: Decimal,
    /// Cumulative stand-in approvals per card per business day.
    pub daily_amount: Decimal,
    /// Number of stand-in approvals per card per business day.
    pub daily_count: u32,
}

/// `[[stand_in.limit]]`: the limits in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandInLimit {
    /// ISO 4217 numeric.
    pub currency: u16,
    /// Purchases (processing code 00).
    pub purchase: BucketLimits,
    /// Cash (01); required when the entry allows cash, never above the purchase ones.
    pub cash: Option<BucketLimits>,
}

/// One compiled `[[stand_in]]` entry.
#[derive(Clone, Debug)]
pub struct StandInParams {
    /// Unique id, named in the journal, explain and check.
    pub id: String,
    /// The issuer bank.
    pub issuer: BankIdx,
    /// Stand-in may approve purchases (00).
    pub purchase: bool,
    /// Stand-in may approve cash (01).
    pub cash: bool,
    /// Limits per currency.
    pub limits: Vec<StandInLimit>,
    /// The file that declares it.
    pub source: String,
}

impl StandInParams {
    /// The limits for `currency`, if the entry has them.
    pub fn limit_for(&self, currency: u16) -> Option<&StandInLimit> {
        self.limits.iter().find(|l| l.currency == currency)
    }

    /// Whether the entry allows a transaction type (first two processing-code
    /// digits), and if so whether it counts as cash.
    pub fn allows(&self, transaction_type: u8) -> Option<bool> {
        match transaction_type {
            0 if self.purchase => Some(false),
            1 if self.cash => Some(true),
            _ => None,
        }
    }
}

/// A card's stand-in approvals today, in the request's currency and bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Their total amount (major units).
    pub amount: Decimal,
    /// How many.
    pub count: u32,
}

/// What stand-in is asked about. `Debug` is not derived: the request carries the PAN.
#[derive(Clone, Copy)]
pub struct StandInRequest<'a> {
    /// The card number's digits (the card, not a token).
    pub pan: &'a [u8],
    /// YYMM from field 14, else from track 2 (the caller extracts it). None: no
    /// expiry date came with the request, and none is checked.
    pub expiry: Option<[u8; 4]>,
    /// YYMM of the business date.
    pub today: [u8; 4],
    /// First two digits of field 3.
    pub transaction_type: u8,
    /// Field 4 in major units.
    pub amount: Decimal,
    /// Field 49, ISO 4217 numeric.
    pub currency: u16,
    /// The caller's negative-file lookup (file and 0302 updates).
    pub hot: Option<HotReason>,
    /// This card's stand-in approvals today, same currency, same bucket.
    pub used: Usage,
}

/// The check that decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StandInCheck {
    /// Every check passed: approved.
    WithinLimits,
    /// No entry for the card's product, or the entry does not allow the kind: 91.
    NotAllowed,
    /// The card number fails its length or Luhn check: 14.
    CardNumber,
    /// The card expired (or its expiry date is not a date): 54.
    Expired,
    /// The card is in the negative file: 41, 43 or 62.
    HotCard,
    /// The product does not hold the currency, or the entry has no limit in it: 57.
    Currency,
    /// Above the per-transaction limit: 61.
    PerTransaction,
    /// Above the daily amount: 61.
    DailyAmount,
    /// Above the daily count: 65.
    DailyCount,
}

impl StandInCheck {
    /// Every check, in the order `decide_stand_in` applies them (approval last).
    pub const ALL: [StandInCheck; 9] = [
        StandInCheck::NotAllowed,
        StandInCheck::CardNumber,
        StandInCheck::Expired,
        StandInCheck::HotCard,
        StandInCheck::Currency,
        StandInCheck::PerTransaction,
        StandInCheck::DailyCount,
        StandInCheck::DailyAmount,
        StandInCheck::WithinLimits,
    ];

    /// The name in the journal and traces.
    pub fn name(self) -> &'static str {
        match self {
            StandInCheck::WithinLimits => "within-limits",
            StandInCheck::NotAllowed => "not-allowed",
            StandInCheck::CardNumber => "card-number",
            StandInCheck::Expired => "expired",
            StandInCheck::HotCard => "hot-card",
            StandInCheck::Currency => "currency",
            StandInCheck::PerTransaction => "per-transaction",
            StandInCheck::DailyAmount => "daily-amount",
            StandInCheck::DailyCount => "daily-count",
        }
    }

    /// Parse a name (e.g. read back from the journal).
    pub fn from_name(name: &str) -> Option<StandInCheck> {
        StandInCheck::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// What stand-in decided. Borrowed from the table: no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StandInDecision<'a> {
    /// Approve (00) or decline.
    pub approve: bool,
    /// 00, or the code of the check that failed.
    pub response_code: ResponseCode,
    /// What decided.
    pub check: StandInCheck,
    /// The `[[stand_in]]` id, when one applies.
    pub entry: Option<&'a str>,
    /// Which bucket the limits were taken from (cash, or purchases).
    pub cash: bool,
}
