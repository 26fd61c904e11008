//! What the load consists of: which cards, which kinds of transaction, which amounts
//! and which deliberately bad messages. Pure and deterministic: the same plan and
//! seed give every connection the same sequence of draws, run after run.
//!
//! Not here: message bytes (see `request.rs`) and timing (see `pacing.rs`).

use std::sync::Arc;

use routing_rules::model::BankIdx;
use routing_rules::RoutingTable;

use crate::cards::{CardBase, SplitMix, PAN_LEN};
use crate::messages::TxnKind;

use super::channels::Channel;
use super::qr::QrPlan;

/// Relative weights of purchases, cash withdrawals and balance inquiries (`--mix`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    /// Weights in [`Mix::KINDS`] order.
    weights: [u32; 3],
}

impl Mix {
    /// The kinds, in weight order.
    pub const KINDS: [TxnKind; 3] = [TxnKind::Purchase, TxnKind::Cash, TxnKind::Balance];

    /// Parse `purchase=70,cash=20,balance=10`. Kinds left out weigh nothing; at least
    /// one weight must be positive.
    pub fn parse(text: &str) -> Result<Mix, String> {
        let mut weights = [0u32; 3];
        let mut seen = [false; 3];
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("mix entry {part:?} is not kind=weight"))?;
            let i = Mix::KINDS
                .iter()
                .position(|k| k.name() == name.trim())
                .ok_or_else(|| {
                    format!(
                        "unknown kind {:?} in mix (purchase, cash, balance)",
                        name.trim()
                    )
                })?;
            if seen[i] {
                return Err(format!("kind {:?} appears twice in mix", name.trim()));
            }
            seen[i] = true;
            weights[i] = weight
                .trim()
                .parse()
                .map_err(|_| format!("weight {:?} in mix is not a whole number", weight.trim()))?;
        }
        if weights.iter().all(|&w| w == 0) {
            return Err("mix has no positive weight".into());
        }
        Ok(Mix { weights })
    }

    /// The weight of `kind`.
    pub fn weight(&self, kind: TxnKind) -> u32 {
        Mix::KINDS
            .iter()
            .position(|&k| k == kind)
            .map_or(0, |i| self.weights[i])
    }

    fn pick(&self, rng: &mut SplitMix) -> TxnKind {
        let total: u64 = self.weights.iter().map(|&w| u64::from(w)).sum();
        let mut roll = rng.below(total);
        for (kind, &w) in Mix::KINDS.iter().zip(&self.weights) {
            if roll < u64::from(w) {
                return *kind;
            }
            roll -= u64::from(w);
        }
        TxnKind::Purchase
    }
}

/// As `--mix` takes it: `purchase=70,cash=20,balance=10`.
impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (kind, weight)) in Mix::KINDS.iter().zip(self.weights).enumerate() {
            let comma = if i > 0 { "," } else { "" };
            write!(f, "{comma}{}={weight}", kind.name())?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Mix {
    type Err = String;
    fn from_str(s: &str) -> Result<Mix, String> {
        Mix::parse(s)
    }
}

/// A deliberately bad request (`--invalid-rate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defect {
    /// A real card's PAN with a wrong check digit (RC 14 expected).
    BadLuhn,
    /// A Luhn-valid PAN whose prefix is in no BIN range (RC 15, or 14 at an issuer).
    UnknownBin,
    /// A well-formed request whose frame is cut one byte short, so that its last
    /// field (49) is malformed while MTI and STAN stay readable (RC 30 expected).
    Malformed,
}

impl Defect {
    const ALL: [Defect; 3] = [Defect::BadLuhn, Defect::UnknownBin, Defect::Malformed];
}

/// One card the load may use, with the currency and amount scale it is charged in.
#[derive(Clone, Copy, Debug)]
pub struct Eligible {
    /// Index in the card base.
    pub card: usize,
    /// Field 49.
    pub currency: u16,
    /// The currency's minor units (field 4 scale).
    pub minor_units: u32,
    /// Whether the currency's major unit is small (KPW, JPY, ...): larger amounts.
    pub small_unit: bool,
}

/// One request to make, before sequence numbers and time are attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Draw {
    /// Index in [`TrafficPlan::eligible`] (for a defect, the card it is derived from).
    pub eligible: u32,
    /// Purchase, cash or balance inquiry.
    pub kind: TxnKind,
    /// Field 4 in minor units (0 for balance inquiries).
    pub amount_minor: u64,
    /// What is wrong with it, if anything.
    pub defect: Option<Defect>,
    /// Index of the unknown-BIN PAN used (for [`Defect::UnknownBin`]).
    pub unknown_pan: u16,
    /// Which of the connection's terminals sends it.
    pub terminal: u16,
    /// A QR payment with this token of the plan's [`QrPlan`] (a purchase in
    /// KPW; `eligible` then means nothing).
    pub qr: Option<u32>,
}

/// Unknown-BIN PANs prepared per plan (deterministic from the seed).
const UNKNOWN_PANS: usize = 64;

/// Terminals each connection spreads its requests over.
pub const TERMINALS_PER_CONNECTION: u16 = 256;

/// Everything the draws are made from; shared read-only by all connections.
pub struct TrafficPlan {
    cards: Arc<CardBase>,
    eligible: Vec<Eligible>,
    mix: Mix,
    /// `--invalid-rate` as a threshold on 53-bit uniform draws.
    invalid_rate: f64,
    unknown_pans: Vec<[u8; PAN_LEN]>,
    seed: u64,
    /// App payments by QR, when wallets were given.
    qr: Option<QrPlan>,
}

/// How the plan is chosen.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// Only cards of these issuers (indices into the routing table's banks); empty: all.
    pub issuers: Vec<BankIdx>,
    /// The transaction mix.
    pub mix: Mix,
    /// Share of deliberately bad requests, 0 to 1.
    pub invalid_rate: f64,
    /// Charge every request in this currency instead of the card's.
    pub currency: Option<u16>,
    /// Seed of every draw.
    pub seed: u64,
}

/// Currencies whose major unit is small (KPW, JPY, KRW, VND, RUB): amounts in the
/// thousands rather than the tens.
fn small_unit_currency(c: u16) -> bool {
    matches!(c, 408 | 392 | 410 | 704 | 643)
}

/// The default currency: KPW (408).
pub const KPW: u16 = 408;

impl TrafficPlan {
    /// The cards of the chosen issuers, each charged in KPW when its product allows
    /// it and in the product's first currency otherwise (or in `--currency`).
    pub fn new(
        table: &RoutingTable,
        cards: Arc<CardBase>,
        options: &PlanOptions,
    ) -> Result<TrafficPlan, String> {
        if !(0.0..=1.0).contains(&options.invalid_rate) {
            return Err(format!(
                "--invalid-rate {} is not between 0 and 1",
                options.invalid_rate
            ));
        }
        let eligible: Vec<Eligible> = cards
            .cards()
            .iter()
            .enumerate()
            .filter(|(_, c)| options.issuers.is_empty() || options.issuers.contains(&c.issuer))
            .map(|(i, c)| {
                let currency = options.currency.unwrap_or_else(|| {
                    if c.balances.iter().any(|&(cur, _)| cur == KPW) {
                        KPW
                    } else {
                        c.home_currency()
                    }
                });
                Eligible {
                    card: i,
                    currency,
                    minor_units: codecs::currency::by_numeric(currency)
                        .map_or(2, |c| c.minor_units),
                    small_unit: small_unit_currency(currency),
                }
            })
            .collect();
        if eligible.is_empty() {
            return Err("no cards to use: the chosen issuers issue no cards in these rules".into());
        }
        if eligible.len() > u32::MAX as usize {
            return Err("too many cards".into());
        }
        Ok(TrafficPlan {
            unknown_pans: unknown_bin_pans(table, options.seed),
            cards,
            eligible,
            mix: options.mix,
            invalid_rate: options.invalid_rate,
            seed: options.seed,
            qr: None,
        })
    }

    /// Pay a share of the purchases by QR with the tokens of `qr`.
    pub fn set_qr(&mut self, qr: QrPlan) {
        self.qr = Some(qr);
    }

    /// The QR channel, if any.
    pub fn qr(&self) -> Option<&QrPlan> {
        self.qr.as_ref()
    }

    /// The channel of a draw (QR: with its app's index).
    pub fn channel_of(&self, draw: &Draw) -> Channel {
        match (draw.qr, &self.qr) {
            (Some(t), Some(qr)) => Channel::Qr(qr.app_index(t).unwrap_or(0)),
            _ => Channel::Card,
        }
    }

    /// The decimals of a draw's amount.
    pub fn minor_units_of(&self, draw: &Draw) -> u32 {
        if draw.qr.is_some() {
            return 2;
        }
        self.eligible_of(draw).map_or(2, |e| e.minor_units)
    }

    /// The cards in use.
    pub fn eligible(&self) -> &[Eligible] {
        &self.eligible
    }

    /// The card base.
    pub fn cards(&self) -> &CardBase {
        &self.cards
    }

    /// The draws of connection `connection`.
    pub fn generator(&self, connection: usize) -> TrafficGen {
        TrafficGen {
            rng: SplitMix::new(
                self.seed
                    .wrapping_mul(0x2545_F491_4F6C_DD1D)
                    .wrapping_add((connection as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            ),
        }
    }

    /// The eligible card of a draw.
    pub fn eligible_of(&self, draw: &Draw) -> Option<&Eligible> {
        self.eligible.get(draw.eligible as usize)
    }

    /// The PAN a draw puts in field 2, and the expiry in field 14.
    pub fn pan_and_expiry(&self, draw: &Draw) -> Option<([u8; PAN_LEN], [u8; 4])> {
        if let Some(t) = draw.qr {
            // A token in place of the PAN (tokens have the generated PANs' length).
            let (token, expiry) = self.qr.as_ref()?.token(t)?;
            return Some((token.as_bytes().try_into().ok()?, expiry));
        }
        let card = self.cards.cards().get(self.eligible_of(draw)?.card)?;
        let pan = match draw.defect {
            Some(Defect::BadLuhn) => {
                let mut pan = card.pan;
                let last = pan[PAN_LEN - 1];
                // Any other check digit fails the Luhn check.
                pan[PAN_LEN - 1] = if last == b'9' { b'0' } else { last + 1 };
                pan
            }
            Some(Defect::UnknownBin) => *self.unknown_pans.get(usize::from(draw.unknown_pan))?,
            Some(Defect::Malformed) | None => card.pan,
        };
        Some((pan, card.expiry))
    }

    /// The issuer the draw's card belongs to (None for an unknown BIN).
    pub fn issuer_of(&self, draw: &Draw) -> Option<BankIdx> {
        if let Some(t) = draw.qr {
            return self.qr.as_ref()?.issuer(t);
        }
        if draw.defect == Some(Defect::UnknownBin) {
            return None;
        }
        let card = self.cards.cards().get(self.eligible_of(draw)?.card)?;
        Some(card.issuer)
    }
}

/// Luhn-valid PANs that no BIN range of `table` covers, deterministic from `seed`.
fn unknown_bin_pans(table: &RoutingTable, seed: u64) -> Vec<[u8; PAN_LEN]> {
    let mut rng = SplitMix::new(seed ^ 0x5DEE_CE66_D1CE_4E5B);
    let mut pans = Vec::with_capacity(UNKNOWN_PANS);
    // Prefixes under the national 9408 are mostly taken; 9409 and 9407 mostly are not.
    for attempt in 0..UNKNOWN_PANS * 100 {
        if pans.len() == UNKNOWN_PANS {
            break;
        }
        let head: &[u8] = if attempt % 2 == 0 { b"9409" } else { b"9407" };
        let body = format!(
            "{}{:011}",
            std::str::from_utf8(head).unwrap_or("9409"),
            rng.below(100_000_000_000)
        );
        let Some(check) = codecs::luhn::luhn_check_digit(body.as_bytes()) else {
            continue;
        };
        let mut pan = [0u8; PAN_LEN];
        pan[..PAN_LEN - 1].copy_from_slice(&body.as_bytes()[..PAN_LEN - 1]);
        pan[PAN_LEN - 1] = check;
        if table.bins().lookup(&pan).is_none() {
            pans.push(pan);
        }
    }
    if pans.is_empty() {
        // Every such prefix is configured: fall back to a prefix outside 9xxx.
        pans.push(*b"1000000000000009");
    }
    pans
}

/// One connection's stream of draws.
#[derive(Clone, Debug)]
pub struct TrafficGen {
    rng: SplitMix,
}

impl TrafficGen {
    /// The next request to make.
    pub fn next(&mut self, plan: &TrafficPlan) -> Draw {
        let rng = &mut self.rng;
        let eligible = rng.below(plan.eligible.len() as u64) as u32;
        let kind = plan.mix.pick(rng);
        let defect = (plan.invalid_rate > 0.0 && rng.unit() < plan.invalid_rate)
            .then(|| Defect::ALL[rng.below(Defect::ALL.len() as u64) as usize]);
        let card = plan.eligible[eligible as usize];
        let amount_minor = amount(kind, &card, rng);
        let draw = Draw {
            eligible,
            kind,
            amount_minor,
            defect,
            unknown_pan: rng.below(plan.unknown_pans.len() as u64) as u16,
            terminal: rng.below(u64::from(TERMINALS_PER_CONNECTION)) as u16,
            qr: None,
        };
        // Drawn last, and only with wallets: the card draws stay as without.
        match plan.qr.as_ref().and_then(|qr| qr.draw(rng)) {
            Some((token, amount_minor)) => Draw {
                kind: TxnKind::Purchase,
                amount_minor,
                defect: None,
                qr: Some(token),
                ..draw
            },
            None => draw,
        }
    }
}

/// A realistic amount in minor units: purchases log-uniform (100 to 200,000 in
/// small-unit currencies such as KPW, 1 to 2,000 otherwise), cash in round amounts
/// (1,000 to 100,000 in steps of 1,000; 20 to 500 in steps of 10), balance inquiries 0.
pub fn amount(kind: TxnKind, card: &Eligible, rng: &mut SplitMix) -> u64 {
    let scale = 10u64.pow(card.minor_units.min(6));
    match kind {
        TxnKind::Balance => 0,
        TxnKind::Cash if card.small_unit => 1_000 * (1 + rng.below(100)) * scale,
        TxnKind::Cash => 10 * (2 + rng.below(49)) * scale,
        TxnKind::Purchase => {
            let (low, high): (f64, f64) = if card.small_unit {
                (100.0, 200_000.0)
            } else {
                (1.0, 2_000.0)
            };
            let major = (low.ln() + rng.unit() * (high.ln() - low.ln())).exp();
            if card.small_unit {
                // Whole units: nobody prices in chon.
                (major.round() as u64).clamp(low as u64, high as u64) * scale
            } else {
                ((major * scale as f64).round() as u64).max(scale)
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn national() -> RoutingTable {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../routing-rules/rules/national.toml"
        );
        RoutingTable::load(std::path::Path::new(path)).unwrap().0
    }

    fn plan(table: &RoutingTable, invalid_rate: f64, issuers: Vec<BankIdx>) -> TrafficPlan {
        let cards = Arc::new(CardBase::generate(table, 7, 100));
        TrafficPlan::new(
            table,
            cards,
            &PlanOptions {
                issuers,
                mix: Mix::parse("purchase=70,cash=20,balance=10").unwrap(),
                invalid_rate,
                currency: None,
                seed: 7,
            },
        )
        .unwrap()
    }

    #[test]
    fn mix_parsing() {
        let m = Mix::parse("purchase=70,cash=20,balance=10").unwrap();
        assert_eq!(m.weight(TxnKind::Purchase), 70);
        assert_eq!(m.weight(TxnKind::Balance), 10);
        assert_eq!(m.to_string(), "purchase=70,cash=20,balance=10");
        let m = Mix::parse(" cash = 1 ").unwrap();
        assert_eq!(m.weight(TxnKind::Cash), 1);
        assert_eq!(m.to_string(), "purchase=0,cash=1,balance=0");
        assert_eq!(m.weight(TxnKind::Purchase), 0);
        for bad in [
            "",
            "purchase=0",
            "refund=5",
            "purchase",
            "purchase=x",
            "purchase=-1",
            "cash=1,cash=2",
        ] {
            assert!(Mix::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn draws_are_deterministic_per_seed_and_connection() {
        let t = national();
        let p = plan(&t, 0.1, vec![]);
        let a: Vec<Draw> = (0..500)
            .scan(p.generator(3), |g, _| Some(g.next(&p)))
            .collect();
        let b: Vec<Draw> = (0..500)
            .scan(p.generator(3), |g, _| Some(g.next(&p)))
            .collect();
        let c: Vec<Draw> = (0..500)
            .scan(p.generator(4), |g, _| Some(g.next(&p)))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn mix_shares_and_amount_ranges() {
        let t = national();
        let p = plan(&t, 0.0, vec![]);
        let mut g = p.generator(0);
        let mut counts = [0u32; 3];
        for _ in 0..20_000 {
            let d = g.next(&p);
            assert_eq!(d.defect, None);
            let e = p.eligible_of(&d).unwrap();
            let scale = 10u64.pow(e.minor_units);
            let major = d.amount_minor / scale;
            match d.kind {
                TxnKind::Purchase => {
                    counts[0] += 1;
                    if e.small_unit {
                        assert!((100..=200_000).contains(&major), "{major}");
                    } else {
                        assert!((1..=2_000).contains(&major), "{major}");
                    }
                }
                TxnKind::Cash => {
                    counts[1] += 1;
                    assert_eq!(d.amount_minor % (10 * scale), 0);
                }
                TxnKind::Balance => {
                    counts[2] += 1;
                    assert_eq!(d.amount_minor, 0);
                }
            }
        }
        assert!((13_500..14_500).contains(&counts[0]), "{counts:?}");
        assert!((3_600..4_400).contains(&counts[1]), "{counts:?}");
        assert!((1_700..2_300).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn invalid_rate_share_and_kinds() {
        let t = national();
        let p = plan(&t, 0.2, vec![]);
        let mut g = p.generator(1);
        let n = 30_000;
        let mut per_defect = [0u32; 3];
        for _ in 0..n {
            let d = g.next(&p);
            let Some(defect) = d.defect else { continue };
            per_defect[Defect::ALL.iter().position(|&x| x == defect).unwrap()] += 1;
            let (pan, _) = p.pan_and_expiry(&d).unwrap();
            match defect {
                Defect::BadLuhn => assert!(!codecs::luhn::luhn_valid(&pan)),
                Defect::UnknownBin => {
                    assert!(codecs::luhn::luhn_valid(&pan));
                    assert!(t.bins().lookup(&pan).is_none());
                    assert_eq!(p.issuer_of(&d), None);
                }
                Defect::Malformed => assert!(codecs::luhn::luhn_valid(&pan)),
            }
        }
        let share = f64::from(per_defect.iter().sum::<u32>()) / f64::from(n);
        assert!((0.19..0.21).contains(&share), "{share}");
        assert!(per_defect.iter().all(|&c| c > 1_700), "{per_defect:?}");
        let none = plan(&t, 0.0, vec![]);
        let mut g = none.generator(1);
        assert!((0..5_000).all(|_| g.next(&none).defect.is_none()));
    }

    #[test]
    fn issuer_filter_and_currency_choice() {
        let t = national();
        let wanted = t.bank_index(b"940800").unwrap();
        let p = plan(&t, 0.0, vec![wanted]);
        assert!(!p.eligible().is_empty());
        for e in p.eligible() {
            let card = &p.cards().cards()[e.card];
            assert_eq!(card.issuer, wanted);
            assert_eq!(e.currency, KPW);
        }
        // Foreign-currency cards are charged in their product's first currency.
        let all = plan(&t, 0.0, vec![]);
        let foreign: Vec<&Eligible> = all
            .eligible()
            .iter()
            .filter(|e| {
                !all.cards().cards()[e.card]
                    .balances
                    .iter()
                    .any(|b| b.0 == KPW)
            })
            .collect();
        assert!(!foreign.is_empty());
        for e in foreign {
            let card = &all.cards().cards()[e.card];
            assert_eq!(e.currency, card.home_currency());
            assert!(!e.small_unit);
        }
    }
}
