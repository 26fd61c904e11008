//! The hot-path side of the compiled table: compact copies of what `decide` reads
//! for every transaction, and amounts as integers.
//!
//! - Amounts are compared as whole minor units at [`AMOUNT_SCALE`] decimals (`i64`)
//!   instead of `Decimal`s: a transaction amount with at most that many decimals
//!   converts exactly ([`minor_units`]); rule bounds and product limits are turned at
//!   load time into inclusive integer bounds that accept exactly the same integers
//!   (floor or ceiling of the scaled bound). A transaction whose amount does not
//!   convert (more decimals, or beyond +-2^62 minor units) is decided by the general
//!   path with `Decimal` comparisons, to the same result.
//! - Per product: issuer, home region and its allowed currencies, each with its
//!   purchase / cash / other limit, in one small contiguous table (no pointer chasing
//!   into the product's own vectors).
//! - Per acquiring bank: packed institution id, bank index and region, sorted for a
//!   binary search; banks without the acquirer role are left out (both decline 31).
//! - Per rule: its outcome, so the rule itself is not read.

use rust_decimal::Decimal;

use crate::model::{Bank, BankIdx, Product, RegionIdx};
use crate::rules::{Cmp, Cond, Outcome, Rule};
use crate::table::pack_institution_id;

/// Decimals of the integer amounts (ISO 4217 exponents go up to 4).
pub const AMOUNT_SCALE: u32 = 4;
/// Integer amounts are used only strictly inside `(-AMOUNT_LIMIT, AMOUNT_LIMIT)`; bounds
/// are clamped to `[-AMOUNT_LIMIT, AMOUNT_LIMIT]`, which keeps every comparison with
/// such an amount as it was.
const AMOUNT_LIMIT: i64 = 1 << 62;
/// Powers of ten up to [`AMOUNT_SCALE`].
const POW10: [i128; AMOUNT_SCALE as usize + 1] = [1, 10, 100, 1_000, 10_000];

/// `amount` as an exact number of minor units at [`AMOUNT_SCALE`] decimals, if it has
/// at most that many decimals and lies strictly inside +-2^62 minor units.
#[inline]
pub fn minor_units(amount: &Decimal) -> Option<i64> {
    let up = POW10.get(AMOUNT_SCALE.checked_sub(amount.scale())? as usize)?;
    // |mantissa| < 2^96, so the product fits in an i128.
    let v = amount.mantissa() * up;
    (v > -i128::from(AMOUNT_LIMIT) && v < i128::from(AMOUNT_LIMIT)).then_some(v as i64)
}

/// `value` scaled to minor units, rounded down (`ceil` false) or up, clamped to
/// `[-AMOUNT_LIMIT, AMOUNT_LIMIT]`.
fn scaled_bound(value: &Decimal, ceil: bool) -> i64 {
    // |mantissa| < 2^96 and 10^scale <= 10^28 < 2^94: all exact in i128.
    let num = value.mantissa() * POW10[AMOUNT_SCALE as usize];
    let den = 10i128.pow(value.scale());
    let floor = num.div_euclid(den);
    let v = if ceil && floor * den != num {
        floor + 1
    } else {
        floor
    };
    v.clamp(-i128::from(AMOUNT_LIMIT), i128::from(AMOUNT_LIMIT)) as i64
}

/// The integer amounts (minor units) a rule's amount conditions accept, as an
/// inclusive `(low, high)`: exactly those with `Cond::holds` true for them all.
pub(crate) fn rule_amount_bounds(rule: &Rule) -> (i64, i64) {
    let (mut lo, mut hi) = (i64::MIN, i64::MAX);
    for c in &rule.conditions {
        if let Cond::Amount(cmp, v) = c {
            match cmp {
                // A > v  <=>  A >= floor(v) + 1;  A >= v  <=>  A >= ceil(v).
                Cmp::Gt => lo = lo.max(scaled_bound(v, false).saturating_add(1)),
                Cmp::Ge => lo = lo.max(scaled_bound(v, true)),
                // A < v  <=>  A <= ceil(v) - 1;   A <= v  <=>  A <= floor(v).
                Cmp::Lt => hi = hi.min(scaled_bound(v, true).saturating_sub(1)),
                Cmp::Le => hi = hi.min(scaled_bound(v, false)),
            }
        }
    }
    (lo, hi)
}

/// One allowed currency of a product, with its limits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HotCurrency {
    /// ISO 4217 numeric code.
    pub currency: u16,
    /// Largest amount (minor units) allowed for purchases, cash and other
    /// transaction types; `i64::MAX` without a limit.
    pub max: [i64; 3],
}

/// What `decide` reads of a product.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HotProduct {
    /// Issuing bank.
    pub issuer: BankIdx,
    /// Home region, if any.
    pub home_region: Option<RegionIdx>,
    /// Its allowed currencies: `currencies[first..first + count]` of [`HotTables`].
    pub first: u32,
    /// Number of allowed currencies.
    pub count: u32,
}

/// An acquiring bank, by packed institution id.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HotAcquirer {
    /// [`pack_institution_id`] of its id.
    pub key: u64,
    /// The bank.
    pub bank: BankIdx,
    /// Its region.
    pub region: RegionIdx,
}

/// The compact tables of the hot path.
#[derive(Clone, Debug, Default)]
pub(crate) struct HotTables {
    /// Per product.
    pub products: Vec<HotProduct>,
    /// The products' allowed currencies, product after product.
    pub currencies: Vec<HotCurrency>,
    /// Acquiring banks sorted by key.
    pub acquirers: Vec<HotAcquirer>,
    /// Per rule, its outcome.
    pub outcomes: Vec<Outcome>,
}

/// Which limit applies: purchase (00), cash (01) or other.
#[inline]
pub(crate) fn limit_slot(transaction: Option<u8>) -> usize {
    match transaction {
        Some(0) => 0,
        Some(1) => 1,
        _ => 2,
    }
}

impl HotTables {
    /// Build from the compiled entities.
    pub fn build(banks: &[Bank], products: &[Product], rules: &[Rule]) -> HotTables {
        let mut currencies = Vec::new();
        let hot_products = products
            .iter()
            .map(|p| {
                let first = currencies.len() as u32;
                let mut seen: Vec<u16> = Vec::with_capacity(p.currencies.len());
                for &c in &p.currencies {
                    if seen.contains(&c) {
                        continue;
                    }
                    seen.push(c);
                    let limit = p.limit_for(c);
                    let max = [Some(0), Some(1), None].map(|t| {
                        limit
                            .and_then(|l| l.for_transaction(t))
                            .map_or(i64::MAX, |m| scaled_bound(&m, false))
                    });
                    currencies.push(HotCurrency { currency: c, max });
                }
                HotProduct {
                    issuer: p.issuer,
                    home_region: p.home_region,
                    first,
                    count: currencies.len() as u32 - first,
                }
            })
            .collect();
        let mut acquirers: Vec<HotAcquirer> = banks
            .iter()
            .enumerate()
            .filter(|(_, b)| b.acquirer)
            .filter_map(|(i, b)| {
                Some(HotAcquirer {
                    key: pack_institution_id(b.id.as_bytes())?,
                    bank: i as BankIdx,
                    region: b.region,
                })
            })
            .collect();
        acquirers.sort_unstable_by_key(|a| a.key);
        currencies.shrink_to_fit();
        HotTables {
            products: hot_products,
            currencies,
            acquirers,
            outcomes: rules.iter().map(|r| r.outcome.clone()).collect(),
        }
    }

    /// The acquiring bank with this institution id (None also for a bank without
    /// the acquirer role).
    #[inline]
    pub fn acquirer(&self, id: &[u8]) -> Option<&HotAcquirer> {
        let key = pack_institution_id(id)?;
        let i = self.acquirers.binary_search_by_key(&key, |a| a.key).ok()?;
        self.acquirers.get(i)
    }

    /// The product's entry for `currency`, if the product allows it.
    #[inline]
    pub fn currency(&self, product: &HotProduct, currency: u16) -> Option<&HotCurrency> {
        let first = product.first as usize;
        self.currencies
            .get(first..first + product.count as usize)?
            .iter()
            .find(|c| c.currency == currency)
    }

    /// Heap bytes.
    pub fn heap_bytes(&self) -> usize {
        self.products.capacity() * std::mem::size_of::<HotProduct>()
            + self.currencies.capacity() * std::mem::size_of::<HotCurrency>()
            + self.acquirers.capacity() * std::mem::size_of::<HotAcquirer>()
            + self.outcomes.capacity() * std::mem::size_of::<Outcome>()
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_default()
    }

    #[test]
    fn minor_units_are_exact_or_absent() {
        assert_eq!(minor_units(&d("12.5")), Some(125_000));
        assert_eq!(minor_units(&d("12.3456")), Some(123_456));
        assert_eq!(minor_units(&d("-3")), Some(-30_000));
        assert_eq!(minor_units(&d("1.00001")), None);
        assert_eq!(minor_units(&d("1000000000000000")), None);
    }

    #[test]
    fn bounds_accept_the_same_integers() {
        let values = [
            "10",
            "10.5",
            "10.00005",
            "-2.33335",
            "0",
            "99999999999999999999",
        ];
        for v in values {
            let v = d(v);
            for cmp in [Cmp::Gt, Cmp::Ge, Cmp::Lt, Cmp::Le] {
                let rule = Rule {
                    id: "r".into(),
                    description: String::new(),
                    source: String::new(),
                    conditions: vec![Cond::Amount(cmp, v)],
                    outcome: Outcome::Route,
                };
                let (lo, hi) = rule_amount_bounds(&rule);
                let base = scaled_bound(&v, false);
                for a in base.saturating_sub(3)..=base.saturating_add(3) {
                    if a <= -AMOUNT_LIMIT || a >= AMOUNT_LIMIT {
                        continue;
                    }
                    let exact = Decimal::from_i128_with_scale(i128::from(a), AMOUNT_SCALE);
                    let expected = match cmp {
                        Cmp::Gt => exact > v,
                        Cmp::Ge => exact >= v,
                        Cmp::Lt => exact < v,
                        Cmp::Le => exact <= v,
                    };
                    assert_eq!(lo <= a && a <= hi, expected, "{a} {cmp:?} {v}");
                }
            }
        }
    }
}
