//! The deterministic card base: from the routing rules and a seed, every simulator
//! enumerates the same cards, with the same PANs, expiry dates, statuses, balances,
//! cash limits and PINs. Issuers hold the accounts; acquirers draw cards to spend.

use std::collections::HashMap;

use codecs::luhn::luhn_check_digit;
use routing_rules::model::{BankIdx, ProductIdx};
use routing_rules::RoutingTable;
use rust_decimal::Decimal;

/// Length of generated PANs.
pub const PAN_LEN: usize = 16;

/// A card's standing at its issuer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardStatus {
    /// Usable.
    Active,
    /// Blocked by the issuer (RC 62).
    Blocked,
    /// Past its expiry date (RC 54).
    Expired,
}

/// One generated card. `Debug` masks the PAN.
#[derive(Clone)]
pub struct Card {
    /// Full PAN (ASCII digits). Never log it; use [`Card::masked`].
    pub pan: [u8; PAN_LEN],
    /// Expiry YYMM (field 14).
    pub expiry: [u8; 4],
    /// Status at the issuer.
    pub status: CardStatus,
    /// Issuing bank (index in the routing table).
    pub issuer: BankIdx,
    /// Card product (index in the routing table).
    pub product: ProductIdx,
    /// Opening balance per allowed currency (ISO numeric, major units).
    pub balances: Vec<(u16, Decimal)>,
    /// Daily cash withdrawal limit in the first currency (major units).
    pub daily_cash_limit: Decimal,
}

impl Card {
    /// First 6 / last 4 digits.
    pub fn masked(&self) -> String {
        codecs::mask::mask_pan(&self.pan)
    }

    /// The PAN as text. Never log it.
    pub fn pan_str(&self) -> &str {
        std::str::from_utf8(&self.pan).unwrap_or("")
    }

    /// The currency the card's main account is held in.
    pub fn home_currency(&self) -> u16 {
        self.balances.first().map_or(408, |b| b.0)
    }

    /// The cardholder's PIN (see [`pin_of`]). Never log it.
    pub fn pin(&self) -> [u8; 4] {
        pin_of(&self.pan)
    }
}

/// The 4-digit PIN (ASCII) of the card with PAN `pan`: a function of the PAN
/// alone, so the acquirer's PIN pad and the issuer agree on every card, known or
/// not, without sharing anything else. A simulator's stand-in, not a secret.
pub fn pin_of(pan: &[u8]) -> [u8; 4] {
    let seed = pan.iter().fold(0x5049_4E5F_5345_4544u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    });
    let n = SplitMix::new(seed).next_u64() % 10_000;
    crate::acquirer::request::digits::<4>(n)
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card")
            .field("pan", &self.masked())
            .field("status", &self.status)
            .field("issuer", &self.issuer)
            .field("product", &self.product)
            .finish()
    }
}

/// SplitMix64: a tiny, fast, deterministic generator (not for secrets).
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    /// Seeded generator.
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Every card of the network, generated from the rules and a seed.
pub struct CardBase {
    cards: Vec<Card>,
    by_pan: HashMap<[u8; PAN_LEN], usize>,
}

/// Fraction of generated cards that are blocked, and that are expired.
const BLOCKED_PER_MILLE: u64 = 30;
const EXPIRED_PER_MILLE: u64 = 30;

impl CardBase {
    /// Generate `per_range` cards for every BIN range of the table. Each card's PAN
    /// matches its own range as the longest match (cards of a range that a longer
    /// range covers belong to the longer one).
    pub fn generate(table: &RoutingTable, seed: u64, per_range: usize) -> CardBase {
        let mut cards = Vec::new();
        let mut by_pan = HashMap::new();
        for (range_idx, range) in table.bins().ranges().iter().enumerate() {
            let product = &table.products()[range.product as usize];
            let mut rng =
                SplitMix::new(seed ^ (range_idx as u64).wrapping_mul(0xA24B_AED4_963E_E407));
            let span = range.high - range.low + 1;
            // Account digits between the prefix and the check digit.
            let width = PAN_LEN - 1 - range.len as usize;
            let modulus = 10u64.pow(width as u32);
            // An affine map i -> a*i + b (mod 10^width) with a coprime to 10 is a
            // bijection, so accounts never repeat within a prefix.
            let a =
                (rng.next_u64() % (modulus / 10).max(1)) * 10 + [1, 3, 7, 9][rng.below(4) as usize];
            let b = rng.below(modulus);
            let mut made = 0;
            let mut i: u64 = 0;
            // Bounded: stop after trying well past what the range can hold.
            let limit = (per_range as u64).saturating_mul(20).max(1000);
            while made < per_range && i < limit {
                let prefix = range.low + i % span;
                let account = (a.wrapping_mul(i / span).wrapping_add(b)) % modulus;
                i += 1;
                let body = format!(
                    "{prefix:0plen$}{account:0width$}",
                    plen = range.len as usize
                );
                let Some(check) = luhn_check_digit(body.as_bytes()) else {
                    continue;
                };
                let mut pan = [0u8; PAN_LEN];
                pan[..PAN_LEN - 1].copy_from_slice(body.as_bytes());
                pan[PAN_LEN - 1] = check;
                if table.bins().lookup(&pan) != Some(range) || by_pan.contains_key(&pan) {
                    continue;
                }
                let roll = rng.below(1000);
                let status = if roll < BLOCKED_PER_MILLE {
                    CardStatus::Blocked
                } else if roll < BLOCKED_PER_MILLE + EXPIRED_PER_MILLE {
                    CardStatus::Expired
                } else {
                    CardStatus::Active
                };
                let expiry = match status {
                    CardStatus::Expired => {
                        format!("{:02}{:02}", 20 + rng.below(5), 1 + rng.below(12))
                    }
                    _ => format!("{:02}{:02}", 28 + rng.below(5), 1 + rng.below(12)),
                };
                let mut exp = [0u8; 4];
                exp.copy_from_slice(expiry.as_bytes());
                let balances = product
                    .currencies
                    .iter()
                    .map(|&c| (c, opening_balance(c, &mut rng)))
                    .collect();
                let home = product.currencies.first().copied().unwrap_or(408);
                let daily_cash_limit = if small_unit_currency(home) {
                    Decimal::from(2_000_000)
                } else {
                    Decimal::from(2_000)
                };
                by_pan.insert(pan, cards.len());
                cards.push(Card {
                    pan,
                    expiry: exp,
                    status,
                    issuer: product.issuer,
                    product: range.product,
                    balances,
                    daily_cash_limit,
                });
                made += 1;
            }
        }
        CardBase { cards, by_pan }
    }

    /// All cards.
    pub fn cards(&self) -> &[Card] {
        &self.cards
    }

    /// A card by PAN.
    pub fn find(&self, pan: &[u8]) -> Option<&Card> {
        let key: [u8; PAN_LEN] = pan.try_into().ok()?;
        self.by_pan.get(&key).map(|&i| &self.cards[i])
    }

    /// Index of a card by PAN.
    pub fn index_of(&self, pan: &[u8]) -> Option<usize> {
        let key: [u8; PAN_LEN] = pan.try_into().ok()?;
        self.by_pan.get(&key).copied()
    }
}

/// Currencies whose major unit is small (KPW, JPY, KRW, ...): larger balances.
fn small_unit_currency(c: u16) -> bool {
    matches!(c, 408 | 392 | 410 | 704 | 643)
}

fn opening_balance(currency: u16, rng: &mut SplitMix) -> Decimal {
    let major = if small_unit_currency(currency) {
        50_000 + rng.below(20_000_000)
    } else {
        100 + rng.below(20_000)
    };
    Decimal::new((major * 100 + rng.below(100)) as i64, 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use codecs::luhn::luhn_valid;

    fn national() -> RoutingTable {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../routing-rules/rules/national.toml"
        );
        RoutingTable::load(std::path::Path::new(path)).unwrap().0
    }

    #[test]
    fn same_seed_same_cards_and_every_card_routes_to_its_range() {
        let t = national();
        let a = CardBase::generate(&t, 42, 50);
        let b = CardBase::generate(&t, 42, 50);
        let c = CardBase::generate(&t, 43, 50);
        assert_eq!(a.cards().len(), t.bins().ranges().len() * 50);
        assert!(a
            .cards()
            .iter()
            .zip(b.cards())
            .all(|(x, y)| x.pan == y.pan && x.balances == y.balances));
        assert!(a.cards().iter().zip(c.cards()).any(|(x, y)| x.pan != y.pan));
        for card in a.cards() {
            assert!(luhn_valid(&card.pan));
            let range = t.bins().lookup(&card.pan).unwrap();
            assert_eq!(range.product, card.product);
            assert_eq!(a.find(&card.pan).unwrap().pan, card.pan);
        }
        let blocked = a
            .cards()
            .iter()
            .filter(|c| c.status == CardStatus::Blocked)
            .count();
        assert!(blocked > 0 && blocked < a.cards().len() / 10);
        assert!(!format!("{:?}", a.cards()[0]).contains(a.cards()[0].pan_str()));
        // PINs: 4 digits, the same for the same card, spread over the cards.
        let pins: std::collections::HashSet<[u8; 4]> = a.cards().iter().map(Card::pin).collect();
        assert!(a
            .cards()
            .iter()
            .all(|c| c.pin().iter().all(u8::is_ascii_digit)));
        assert!(
            pins.len() > a.cards().len() / 2,
            "{} distinct PINs",
            pins.len()
        );
        assert_eq!(a.cards()[0].pin(), b.cards()[0].pin());
        assert_eq!(pin_of(&a.cards()[0].pan), a.cards()[0].pin());
    }
}
