//! Validation of `[[stand_in]]` entries: an issuer bank, products of that issuer
//! each covered by one entry at most, transaction kinds stand-in may approve
//! (`balance` never), and limits per currency (amounts, cash at most the purchase
//! ones, one per currency the product holds). Compiled into the entries and the
//! product -> entry index that makes `stand_in_for` one array lookup.

use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::Names;
use crate::file::{RawStandIn, RawStandInLimit, SourceFile};
use crate::model::{currency_code, Bank, Product};
use crate::problem::{Problem, Problems};
use crate::stand_in::{BucketLimits, StandInLimit, StandInParams};

/// The entries, and for each product the index of the entry covering it.
pub(super) fn compile_stand_in(
    sources: &[SourceFile],
    bank_names: &Names<'_>,
    banks: &[Bank],
    product_names: &Names<'_>,
    products: &[Product],
    p: &mut Problems,
) -> (Vec<StandInParams>, Vec<Option<u16>>) {
    let mut names = Names::new("stand_in");
    let mut entries: Vec<StandInParams> = Vec::new();
    // Per entry kept: the products it names (None: the issuer's others).
    let mut named: Vec<Option<Vec<u16>>> = Vec::new();
    for source in sources {
        let file = source.path.as_str();
        for raw in &source.config.stand_ins {
            let before = p.errors.len();
            let entry = compile_entry(raw, file, bank_names, banks, product_names, products, p);
            if p.errors.len() == before && names.add(&raw.id, file, p) {
                if let Some((params, list)) = entry {
                    entries.push(params);
                    named.push(list);
                }
            }
        }
    }
    let by_product = cover_products(&entries, &named, products, p);
    for (i, e) in entries.iter().enumerate() {
        warn_missing_currencies(e, i, &by_product, products, p);
    }
    (entries, by_product)
}

fn compile_entry(
    raw: &RawStandIn,
    file: &str,
    bank_names: &Names<'_>,
    banks: &[Bank],
    product_names: &Names<'_>,
    products: &[Product],
    p: &mut Problems,
) -> Option<(StandInParams, Option<Vec<u16>>)> {
    let entry = format!("stand_in {}", raw.id);
    let mut err = |msg: String| p.error(Problem::new(file, &entry, msg));
    if raw.id.is_empty() {
        err("empty id".into());
    }
    let issuer = match bank_names.get(&raw.issuer) {
        Some(b) if banks[b as usize].issuer => Some(b),
        Some(_) => {
            err(format!("bank {} does not have the issuer role", raw.issuer));
            None
        }
        None => {
            err(format!("unknown issuer bank {:?}", raw.issuer));
            None
        }
    };
    let list = raw.products.as_ref().map(|names| {
        if names.is_empty() {
            err("products: empty list (leave it out to cover every product)".into());
        }
        let mut list = Vec::with_capacity(names.len());
        for name in names {
            match product_names.get(name) {
                None => err(format!("unknown product {name:?}")),
                Some(pr) if Some(products[pr as usize].issuer) != issuer && issuer.is_some() => {
                    let owner = &banks[products[pr as usize].issuer as usize].id;
                    err(format!(
                        "product {name} is issued by {owner}, not {}",
                        raw.issuer
                    ))
                }
                Some(pr) if list.contains(&pr) => err(format!("product {name} named twice")),
                Some(pr) => list.push(pr),
            }
        }
        list
    });
    let (mut purchase, mut cash) = (false, false);
    for kind in &raw.transactions {
        match kind.as_str() {
            "purchase" => purchase = true,
            "cash" => cash = true,
            "balance" => err("transactions: balance is never approved in stand-in".into()),
            other => err(format!(
                "transactions: unknown kind {other:?} (expected purchase or cash)"
            )),
        }
    }
    if raw.transactions.is_empty() {
        err("transactions: empty list (leave the entry out to allow no stand-in)".into());
    }
    let mut limits: Vec<StandInLimit> = Vec::with_capacity(raw.limits.len());
    for l in &raw.limits {
        let Some(limit) = compile_limit(l, cash, &mut err) else {
            continue;
        };
        if limits.iter().any(|o| o.currency == limit.currency) {
            err(format!("limit: currency {} given twice", l.currency));
            continue;
        }
        limits.push(limit);
    }
    if raw.limits.is_empty() {
        err("no [[stand_in.limit]]: every approval would be declined 57".into());
    }
    Some((
        StandInParams {
            id: raw.id.clone(),
            issuer: issuer?,
            purchase,
            cash,
            limits,
            source: file.to_string(),
        },
        list,
    ))
}

/// One `[[stand_in.limit]]`; cash limits are required when the entry allows cash and
/// may not exceed the purchase ones.
fn compile_limit(
    l: &RawStandInLimit,
    cash_allowed: bool,
    err: &mut impl FnMut(String),
) -> Option<StandInLimit> {
    let Some(currency) = currency_code(&l.currency) else {
        err(format!("limit: unknown currency {:?}", l.currency));
        return None;
    };
    let mut ok = true;
    let mut amount = |key: &str, v: &str| match Decimal::from_str(v) {
        Ok(d) if d > Decimal::ZERO => Some(d),
        _ => {
            err(format!(
                "limit {}: {key} {v:?} is not a positive amount",
                l.currency
            ));
            ok = false;
            None
        }
    };
    let purchase = BucketLimits {
        per_transaction: amount("per_transaction", &l.per_transaction).unwrap_or_default(),
        daily_amount: amount("daily_amount", &l.daily_amount).unwrap_or_default(),
        daily_count: l.daily_count,
    };
    let cash = match (
        &l.cash_per_transaction,
        &l.cash_daily_amount,
        l.cash_daily_count,
    ) {
        (Some(per), Some(daily), Some(count)) => Some(BucketLimits {
            per_transaction: amount("cash_per_transaction", per).unwrap_or_default(),
            daily_amount: amount("cash_daily_amount", daily).unwrap_or_default(),
            daily_count: count,
        }),
        (None, None, None) => None,
        _ => {
            err(format!(
                "limit {}: cash_per_transaction, cash_daily_amount and cash_daily_count go together",
                l.currency
            ));
            return None;
        }
    };
    if !ok {
        return None;
    }
    if l.daily_count == 0 {
        err(format!(
            "limit {}: daily_count 0 (leave purchase out of transactions instead)",
            l.currency
        ));
        return None;
    }
    if let Some(c) = &cash {
        for (key, above) in [
            (
                "cash_per_transaction",
                c.per_transaction > purchase.per_transaction,
            ),
            ("cash_daily_amount", c.daily_amount > purchase.daily_amount),
            ("cash_daily_count", c.daily_count > purchase.daily_count),
        ] {
            if above {
                err(format!(
                    "limit {}: {key} is above the purchase limit",
                    l.currency
                ));
                return None;
            }
        }
    } else if cash_allowed {
        err(format!(
            "limit {}: cash is allowed but cash_per_transaction, cash_daily_amount and cash_daily_count are missing",
            l.currency
        ));
        return None;
    }
    Some(StandInLimit {
        currency,
        purchase,
        cash,
    })
}

/// The entry of each product: the products an entry names, then every other product
/// of an issuer for its entry that names none. A product two entries cover is an
/// error naming both.
fn cover_products(
    entries: &[StandInParams],
    named: &[Option<Vec<u16>>],
    products: &[Product],
    p: &mut Problems,
) -> Vec<Option<u16>> {
    let mut by_product: Vec<Option<u16>> = vec![None; products.len()];
    let mut assign = |pr: u16, e: usize, p: &mut Problems| match by_product[pr as usize] {
        Some(other) => p.error(Problem::new(
            &entries[e].source,
            format!("stand_in {}", entries[e].id),
            format!(
                "product {} is also covered by stand_in {}",
                products[pr as usize].id, entries[other as usize].id
            ),
        )),
        None => by_product[pr as usize] = Some(e as u16),
    };
    for (e, list) in named.iter().enumerate() {
        for &pr in list.iter().flatten() {
            assign(pr, e, p);
        }
    }
    // Products some entry of their issuer names are not left for a catch-all entry.
    let mut named_by_issuer: HashMap<u16, Vec<u16>> = HashMap::new();
    for (e, list) in named.iter().enumerate() {
        named_by_issuer
            .entry(entries[e].issuer)
            .or_default()
            .extend(list.iter().flatten());
    }
    for (e, list) in named.iter().enumerate() {
        if list.is_some() {
            continue;
        }
        let issuer = entries[e].issuer;
        let taken = named_by_issuer.get(&issuer);
        for (pr, product) in products.iter().enumerate() {
            let pr = pr as u16;
            if product.issuer == issuer && !taken.is_some_and(|t| t.contains(&pr)) {
                assign(pr, e, p);
            }
        }
    }
    by_product
}

/// A warning for each currency a covered product holds without a limit in the entry:
/// stand-in declines it 57.
fn warn_missing_currencies(
    e: &StandInParams,
    idx: usize,
    by_product: &[Option<u16>],
    products: &[Product],
    p: &mut Problems,
) {
    for (pr, product) in products.iter().enumerate() {
        if by_product[pr] != Some(idx as u16) {
            continue;
        }
        for &c in &product.currencies {
            if e.limit_for(c).is_none() {
                p.warning(Problem::new(
                    &e.source,
                    format!("stand_in {}", e.id),
                    format!(
                        "product {} holds currency {c:03} but the entry has no limit in it: stand-in declines it 57",
                        product.id
                    ),
                ));
            }
        }
    }
}
