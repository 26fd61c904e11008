//! The issuer's books: one account per card it holds (balances per currency and
//! the day's cash withdrawals) and the bounded log of approved originals that
//! reversals look up. Pure data and rules, no I/O and no clock (the day is passed in).
//!
//! Concurrency: every account sits behind its own `Mutex`, the log is split into
//! shards with one `Mutex` each. Whoever needs both takes the log shard first, then
//! the account, so two connections can never deadlock.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use rust_decimal::Decimal;

use crate::cards::{Card, PAN_LEN};
use crate::messages::OriginalKey;
use codecs::Message;

/// Take a lock even if another thread panicked while holding it: the data under
/// these locks is updated in single steps, so it is never left half-written.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One currency of an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pocket {
    /// ISO 4217 numeric code.
    pub currency: u16,
    /// Available balance in major units (may go negative only through a stand-in advice).
    pub balance: Decimal,
    /// Cash withdrawn today in this currency (major units).
    pub cash_today: Decimal,
}

/// Why an account refuses a debit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The card holds no account in the transaction currency.
    Currency,
    /// Not enough money (RC 51).
    Funds,
    /// Today's cash withdrawals would pass the daily cash limit (RC 61).
    CashLimit,
}

/// The mutable part of an account.
#[derive(Debug)]
pub struct AccountState {
    /// The day (days since 1970-01-01, UTC) `cash_today` counts for.
    cash_day: u32,
    pockets: Vec<Pocket>,
}

impl AccountState {
    fn opening(card: &Card) -> AccountState {
        AccountState {
            cash_day: 0,
            pockets: card
                .balances
                .iter()
                .map(|&(currency, balance)| Pocket {
                    currency,
                    balance,
                    cash_today: Decimal::ZERO,
                })
                .collect(),
        }
    }

    /// Start a new day's cash count when `day` has moved on (never backwards: a
    /// clock stepping back does not hand out a second day's limit).
    fn roll(&mut self, day: u32) {
        if day > self.cash_day {
            self.cash_day = day;
            for p in &mut self.pockets {
                p.cash_today = Decimal::ZERO;
            }
        }
    }

    /// The pocket in `currency`, as of `day`.
    pub fn pocket(&mut self, currency: u16, day: u32) -> Option<&Pocket> {
        self.roll(day);
        self.pockets.iter().find(|p| p.currency == currency)
    }

    fn pocket_mut(&mut self, currency: u16, day: u32) -> Result<&mut Pocket, Refusal> {
        self.roll(day);
        self.pockets
            .iter_mut()
            .find(|p| p.currency == currency)
            .ok_or(Refusal::Currency)
    }

    /// Check that `amount` could be taken now (cash: also against the daily limit),
    /// and take it when `post` is set. Nothing changes on a refusal.
    pub fn debit(
        &mut self,
        currency: u16,
        amount: Decimal,
        cash_limit: Option<Decimal>,
        day: u32,
        post: bool,
    ) -> Result<(), Refusal> {
        let pocket = self.pocket_mut(currency, day)?;
        if let Some(limit) = cash_limit {
            if pocket.cash_today + amount > limit {
                return Err(Refusal::CashLimit);
            }
        }
        if amount > pocket.balance {
            return Err(Refusal::Funds);
        }
        if post {
            pocket.balance -= amount;
            if cash_limit.is_some() {
                pocket.cash_today += amount;
            }
        }
        Ok(())
    }

    /// Post a debit that was already approved elsewhere (a stand-in advice): no
    /// checks, the balance may go negative.
    pub fn force_debit(
        &mut self,
        currency: u16,
        amount: Decimal,
        cash: bool,
        day: u32,
    ) -> Result<(), Refusal> {
        let pocket = self.pocket_mut(currency, day)?;
        pocket.balance -= amount;
        if cash {
            pocket.cash_today += amount;
        }
        Ok(())
    }

    /// Undo a posting: give the money back and, for cash taken the same day, the
    /// room under the daily limit.
    pub fn undo(&mut self, posting: &Posting, day: u32) {
        let same_day = posting.day == day;
        if let Ok(pocket) = self.pocket_mut(posting.currency, day) {
            if posting.debited {
                pocket.balance += posting.amount;
            }
            if posting.cash && same_day {
                pocket.cash_today = (pocket.cash_today - posting.amount).max(Decimal::ZERO);
            }
        }
    }
}

/// A card and its account.
#[derive(Debug)]
pub struct Account {
    card: Card,
    state: Mutex<AccountState>,
}

impl Account {
    /// The card (static data: PAN, expiry, status, limits). `Debug` masks the PAN.
    pub fn card(&self) -> &Card {
        &self.card
    }

    /// The balances, locked.
    pub fn lock(&self) -> MutexGuard<'_, AccountState> {
        lock(&self.state)
    }
}

/// Every account of the issuer, found by PAN. `Debug` shows only the count (the
/// index keys are PANs).
pub struct Accounts {
    accounts: Vec<Account>,
    /// PAN (16 digits read as a number) to index; built once, read-only after.
    by_pan: HashMap<u64, u32>,
}

/// A 16-digit PAN as a number (the map key); None for anything else.
fn pan_key(pan: &[u8]) -> Option<u64> {
    if pan.len() != PAN_LEN {
        return None;
    }
    pan.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
    })
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("len", &self.accounts.len())
            .finish_non_exhaustive()
    }
}

impl Accounts {
    /// Open an account for each card, with the card's opening balances.
    pub fn open(cards: impl IntoIterator<Item = Card>) -> Accounts {
        let mut accounts = Vec::new();
        let mut by_pan = HashMap::new();
        for card in cards {
            let Some(key) = pan_key(&card.pan) else {
                continue;
            };
            let Ok(index) = u32::try_from(accounts.len()) else {
                break;
            };
            if by_pan.insert(key, index).is_some() {
                continue; // CardBase never repeats a PAN; keep the first if it did
            }
            let state = Mutex::new(AccountState::opening(&card));
            accounts.push(Account { card, state });
        }
        Accounts { accounts, by_pan }
    }

    /// The index of the account for `pan`.
    pub fn find(&self, pan: &[u8]) -> Option<u32> {
        self.by_pan.get(&pan_key(pan)?).copied()
    }

    /// The account at `index` (from [`Accounts::find`] or a [`Posting`]).
    pub fn get(&self, index: u32) -> Option<&Account> {
        self.accounts.get(index as usize)
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether there are no accounts.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

/// The identity of an original transaction at its acquirer: STAN, transmission
/// date and time, acquiring institution (the same as [`OriginalKey`], packed into
/// two numbers so the log stays small and hashing is cheap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TxnKey {
    /// Field 32 digits as a number (leading zeros do not matter, as in field 90).
    acquirer: u64,
    /// Field 7 (MMDDhhmmss, < 2^31) in the high bits, field 11 in the low 32.
    stan_time: u64,
}

fn digits_value(digits: &[u8], max_len: usize) -> Option<u64> {
    if digits.is_empty() || digits.len() > max_len {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
    })
}

impl TxnKey {
    fn new(stan: u32, transmission: &[u8], acquirer: &[u8]) -> Option<TxnKey> {
        if transmission.len() != 10 {
            return None;
        }
        let time = digits_value(transmission, 10)?;
        Some(TxnKey {
            acquirer: digits_value(acquirer, 11)?,
            stan_time: time << 32 | u64::from(stan),
        })
    }

    /// The key of a request (its fields 11, 7 and 32), without allocating.
    pub fn of_request(msg: &Message) -> Option<TxnKey> {
        let stan = msg.stan()?;
        let f7 = msg.get(7)?.bytes();
        let f32 = msg.get(32)?.bytes();
        TxnKey::new(stan, &f7, &f32)
    }

    /// The key named by a reversal's field 90 (parsed by [`OriginalKey::from_field90`]).
    pub fn of_original(key: &OriginalKey) -> Option<TxnKey> {
        TxnKey::new(key.stan, &key.transmission, key.acquirer.as_bytes())
    }

    /// Field 32 (as a number), field 7 (MMDDhhmmss as a number) and field 11.
    pub fn parts(&self) -> (u64, u64, u32) {
        (self.acquirer, self.stan_time >> 32, self.stan_time as u32)
    }

    fn shard(&self, shards: usize) -> usize {
        // Fibonacci hashing of both halves; the shard maps hash again with SipHash.
        let mixed =
            (self.acquirer ^ self.stan_time.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> 40) as usize % shards.max(1)
    }
}

/// What an approval did to an account, so that a reversal can undo exactly that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posting {
    /// Account index.
    pub account: u32,
    /// Currency of the amount.
    pub currency: u16,
    /// Amount approved, major units (zero for a balance inquiry).
    pub amount: Decimal,
    /// Whether the balance was debited (0200 and stand-in 0220), or only checked (0100).
    pub debited: bool,
    /// Whether it counted against the daily cash limit.
    pub cash: bool,
    /// The day it was posted (cash limits are per day).
    pub day: u32,
    /// Whether the switch approved it in stand-in (posted from an advice carrying
    /// the stand-in indicator), so that its reversal is reported apart too.
    pub stand_in: bool,
}

/// One entry of the transaction log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// An approved original (by this issuer, or by stand-in and advised).
    Approved {
        /// What it did.
        posting: Posting,
        /// Whether a reversal has been applied (a second one changes nothing).
        reversed: bool,
    },
    /// A reversal arrived for an original never seen (unknown or declined). Kept so
    /// that a late original with the same keys is refused as a duplicate rather
    /// than approved after its own reversal.
    ReversalWithoutOriginal,
    /// A stand-in advice that posted nothing (a decline, or an approval whose
    /// reversal came first): kept so that a repeat is recognised as one and a
    /// reversal naming it changes nothing.
    StandInAdvised,
}

/// One shard of the log: a map and the insertion order, for evicting the oldest.
#[derive(Debug, Default)]
pub struct LogShard {
    map: HashMap<TxnKey, Entry>,
    order: VecDeque<TxnKey>,
    capacity: usize,
}

impl LogShard {
    /// Whether `key` is in the log.
    pub fn contains(&self, key: &TxnKey) -> bool {
        self.map.contains_key(key)
    }

    /// The entry for `key`.
    pub fn get_mut(&mut self, key: &TxnKey) -> Option<&mut Entry> {
        self.map.get_mut(key)
    }

    /// Add an entry, evicting the oldest when full. An existing key is replaced in
    /// place (callers check [`LogShard::contains`] first).
    pub fn insert(&mut self, key: TxnKey, entry: Entry) {
        if let Some(old) = self.map.get_mut(&key) {
            *old = entry;
            return;
        }
        while self.order.len() >= self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.map.remove(&oldest);
                }
                None => break,
            }
        }
        self.map.insert(key, entry);
        self.order.push_back(key);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the shard is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Number of log shards: enough that connections on different threads rarely meet.
const LOG_SHARDS: usize = 64;

/// The bounded log of recent originals, keyed by [`TxnKey`]. Holds at most about
/// `capacity` entries; the oldest go first (per shard, so roughly the oldest overall).
pub struct TxnLog {
    shards: Box<[Mutex<LogShard>]>,
}

impl std::fmt::Debug for TxnLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnLog")
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl TxnLog {
    /// A log of at most `capacity` entries (at least one per shard).
    pub fn with_capacity(capacity: usize) -> TxnLog {
        let per_shard = capacity.div_ceil(LOG_SHARDS).max(1);
        TxnLog {
            shards: (0..LOG_SHARDS)
                .map(|_| {
                    Mutex::new(LogShard {
                        capacity: per_shard,
                        ..LogShard::default()
                    })
                })
                .collect(),
        }
    }

    /// The shard that holds `key`, locked. Take it before any account lock.
    pub fn shard(&self, key: &TxnKey) -> MutexGuard<'_, LogShard> {
        lock(&self.shards[key.shard(self.shards.len())])
    }

    /// Total entries (for logs and tests).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// The originals approved and not reversed that the log still holds, with
    /// their amounts (balance inquiries, which move no money, left out): the
    /// issuer's side of a transaction-by-transaction reconciliation.
    pub fn standing_approvals(&self) -> Vec<(TxnKey, Decimal)> {
        let mut standing = Vec::new();
        for shard in self.shards.iter() {
            standing.extend(
                lock(shard)
                    .map
                    .iter()
                    .filter_map(|(key, entry)| match entry {
                        Entry::Approved {
                            posting,
                            reversed: false,
                        } if !posting.amount.is_zero() => Some((*key, posting.amount)),
                        _ => None,
                    }),
            );
        }
        standing
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cards::CardStatus;
    use codecs::Mti;

    fn card(pan: &[u8; 16]) -> Card {
        Card {
            pan: *pan,
            expiry: *b"2912",
            status: CardStatus::Active,
            issuer: 0,
            product: 0,
            balances: vec![(408, Decimal::from(1000)), (840, Decimal::from(50))],
            daily_cash_limit: Decimal::from(300),
        }
    }

    #[test]
    fn accounts_are_found_by_pan_only() {
        let a = Accounts::open([card(b"9408010000001238"), card(b"9408010000001246")]);
        assert_eq!(a.len(), 2);
        assert_eq!(a.find(b"9408010000001246"), Some(1));
        assert_eq!(a.find(b"9408010000001239"), None);
        assert_eq!(a.find(b"940801000000123"), None);
        assert_eq!(a.find(b"94080100000012X8"), None);
        for shown in [format!("{:?}", a.get(0).unwrap()), format!("{a:?}")] {
            assert!(!shown.contains("9408010000001238"), "{shown}");
            assert!(!shown.contains("001238"), "{shown}");
        }
    }

    #[test]
    fn debit_checks_limit_then_funds_and_posts_only_when_asked() {
        let a = Accounts::open([card(b"9408010000001238")]);
        let mut s = a.get(0).unwrap().lock();
        let limit = Some(Decimal::from(300));
        // An authorization only checks.
        s.debit(408, Decimal::from(200), limit, 1, false).unwrap();
        assert_eq!(s.pocket(408, 1).unwrap().balance, Decimal::from(1000));
        s.debit(408, Decimal::from(200), limit, 1, true).unwrap();
        assert_eq!(s.pocket(408, 1).unwrap().balance, Decimal::from(800));
        assert_eq!(
            s.debit(408, Decimal::from(101), limit, 1, true),
            Err(Refusal::CashLimit)
        );
        // A new day frees the limit; a clock stepping back does not.
        s.debit(408, Decimal::from(101), limit, 2, true).unwrap();
        assert_eq!(
            s.debit(408, Decimal::from(200), limit, 1, true),
            Err(Refusal::CashLimit)
        );
        assert_eq!(
            s.debit(408, Decimal::from(800), None, 2, true),
            Err(Refusal::Funds)
        );
        assert_eq!(
            s.debit(978, Decimal::ONE, None, 2, true),
            Err(Refusal::Currency)
        );
        assert_eq!(s.pocket(840, 2).unwrap().balance, Decimal::from(50));
    }

    #[test]
    fn undo_restores_balance_and_same_day_cash_room() {
        let a = Accounts::open([card(b"9408010000001238")]);
        let mut s = a.get(0).unwrap().lock();
        let limit = Some(Decimal::from(300));
        s.debit(408, Decimal::from(300), limit, 5, true).unwrap();
        let posting = Posting {
            account: 0,
            currency: 408,
            amount: Decimal::from(300),
            debited: true,
            cash: true,
            day: 5,
            stand_in: false,
        };
        s.undo(&posting, 5);
        assert_eq!(s.pocket(408, 5).unwrap().balance, Decimal::from(1000));
        assert_eq!(s.pocket(408, 5).unwrap().cash_today, Decimal::ZERO);
        s.force_debit(408, Decimal::from(1200), false, 5).unwrap();
        assert_eq!(s.pocket(408, 5).unwrap().balance, Decimal::from(-200));
    }

    fn request(stan: &str, f7: &str, f32: &str) -> Message {
        let mut m = Message::new(Mti::new(b"0200").unwrap());
        m.set(7, f7);
        m.set(11, stan);
        m.set(32, f32);
        m
    }

    #[test]
    fn keys_agree_with_original_key_and_field_90() {
        let m = request("000042", "1125103000", "940857");
        let key = TxnKey::of_request(&m).unwrap();
        let orig = OriginalKey::of_request(&m).unwrap();
        assert_eq!(TxnKey::of_original(&orig), Some(key));
        let f90 = "020000004211251030000000094085700000000000";
        let from90 = OriginalKey::from_field90(f90.as_bytes()).unwrap();
        assert_eq!(TxnKey::of_original(&from90), Some(key));
        // Leading zeros in field 32 name the same institution.
        let padded = request("000042", "1125103000", "0940857");
        assert_eq!(TxnKey::of_request(&padded), Some(key));
        assert_ne!(
            TxnKey::of_request(&request("000043", "1125103000", "940857")),
            Some(key)
        );
        assert_ne!(
            TxnKey::of_request(&request("000042", "1125103001", "940857")),
            Some(key)
        );
        assert_ne!(
            TxnKey::of_request(&request("000042", "1125103000", "940858")),
            Some(key)
        );
        assert_eq!(
            TxnKey::of_request(&request("000042", "11251030", "1")),
            None
        );
        assert_eq!(
            TxnKey::of_request(&request("000042", "1125103000", "")),
            None
        );
    }

    #[test]
    fn log_is_bounded_and_evicts_oldest() {
        let log = TxnLog::with_capacity(LOG_SHARDS * 2);
        let keys: Vec<TxnKey> = (0..2000u32)
            .map(|i| TxnKey::new(i, b"1125103000", b"940857").unwrap())
            .collect();
        for k in &keys {
            log.shard(k).insert(*k, Entry::ReversalWithoutOriginal);
        }
        assert!(log.len() <= LOG_SHARDS * 2);
        assert!(log.len() >= LOG_SHARDS, "{}", log.len());
        // The newest are kept, the first ones are gone.
        assert!(log.shard(&keys[1999]).contains(&keys[1999]));
        assert!(!log.shard(&keys[0]).contains(&keys[0]));
    }
}
