//! Validation and compilation of parsed files into a [`RoutingTable`].
//!
//! Every problem is collected (not just the first), each naming the file, the entry
//! and what is wrong: unknown references, invalid codes, `low > high`, same-length
//! overlaps, duplicate ids; and, as warnings, rules an earlier rule shadows completely.
//! Apps and token ranges are checked in [`apps`], stand-in parameters in
//! [`stand_in`], negative files in [`negative`].

mod apps;
mod negative;
mod stand_in;

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use codecs::ResponseCode;
use rust_decimal::Decimal;

use crate::apps::Channel;
use crate::bins::{BinRange, BinTable};
use crate::fast::HotTables;
use crate::file::{parse_text, read_sources, RawConditions, RawRule, SourceFile};
use crate::model::{
    currency_code, mti_class, transaction_type, Bank, BankIdx, Limit, Product, Region, RegionKind,
    BUILTIN_CATEGORIES,
};
use crate::problem::{LoadError, Problem, Problems};
use crate::rules::{Cmp, Cond, Domains, HomeRelation, ListCond, Outcome, Rule, RuleIndex};
use crate::table::{pack_institution_id, RoutingTable};

/// Response codes a rule may decline with.
const RULE_DECLINE_CODES: [&str; 6] = ["12", "13", "57", "58", "61", "62"];

pub(crate) fn load(path: &Path) -> Result<(RoutingTable, Vec<Problem>), LoadError> {
    let mut problems = Problems::default();
    let sources = read_sources(path, &mut problems);
    compile(&sources, problems)
}

pub(crate) fn from_text(
    text: &str,
    origin: &str,
) -> Result<(RoutingTable, Vec<Problem>), LoadError> {
    let mut problems = Problems::default();
    let sources: Vec<SourceFile> = parse_text(text, Path::new(origin), &mut problems)
        .map(|config| SourceFile {
            path: origin.to_string(),
            config,
        })
        .into_iter()
        .collect();
    compile(&sources, problems)
}

/// Ids seen so far of one kind, to report duplicates and resolve references.
struct Names<'a> {
    kind: &'static str,
    index: HashMap<&'a str, u16>,
}

impl<'a> Names<'a> {
    fn new(kind: &'static str) -> Self {
        Names {
            kind,
            index: HashMap::new(),
        }
    }

    /// Register `id`; false (and an error) if it is a duplicate.
    fn add(&mut self, id: &'a str, file: &str, p: &mut Problems) -> bool {
        let next = self.index.len() as u16;
        if self.index.contains_key(id) {
            p.error(Problem::new(
                file,
                format!("{} {id}", self.kind),
                "duplicate id",
            ));
            return false;
        }
        self.index.insert(id, next);
        true
    }

    fn get(&self, id: &str) -> Option<u16> {
        self.index.get(id).copied()
    }
}

fn compile(
    sources: &[SourceFile],
    mut p: Problems,
) -> Result<(RoutingTable, Vec<Problem>), LoadError> {
    let all = || {
        sources
            .iter()
            .flat_map(|s| std::iter::repeat(s.path.as_str()).zip(std::iter::once(&s.config)))
    };

    // Regions.
    let mut region_names = Names::new("region");
    let mut regions = Vec::new();
    for (file, c) in all() {
        for r in &c.regions {
            let entry = format!("region {}", r.id);
            let Some(kind) = RegionKind::from_name(&r.kind) else {
                p.error(Problem::new(
                    file,
                    entry,
                    format!(
                        "kind {:?} (expected capital, provincial-capital or other)",
                        r.kind
                    ),
                ));
                continue;
            };
            if region_names.add(&r.id, file, &mut p) {
                regions.push(Region {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    kind,
                });
            }
        }
    }

    // Banks.
    let mut bank_names = Names::new("bank");
    let mut banks: Vec<Bank> = Vec::new();
    for (file, c) in all() {
        for b in &c.banks {
            let entry = format!("bank {}", b.id);
            let mut ok = true;
            if pack_institution_id(b.id.as_bytes()).is_none() {
                p.error(Problem::new(
                    file,
                    &entry,
                    "institution id must be 1-11 digits",
                ));
                ok = false;
            }
            let region = region_names.get(&b.region);
            if region.is_none() {
                p.error(Problem::new(
                    file,
                    &entry,
                    format!("unknown region {:?}", b.region),
                ));
                ok = false;
            }
            for role in &b.roles {
                if role != "issuer" && role != "acquirer" {
                    p.error(Problem::new(
                        file,
                        &entry,
                        format!("role {role:?} (expected issuer or acquirer)"),
                    ));
                    ok = false;
                }
            }
            if b.roles.is_empty() {
                p.error(Problem::new(
                    file,
                    &entry,
                    "no roles (expected issuer and/or acquirer)",
                ));
                ok = false;
            }
            if ok && bank_names.add(&b.id, file, &mut p) {
                banks.push(Bank {
                    id: b.id.clone(),
                    name: b.name.clone(),
                    region: region.unwrap_or(0),
                    issuer: b.roles.iter().any(|r| r == "issuer"),
                    acquirer: b.roles.iter().any(|r| r == "acquirer"),
                    settlement: b.settlement || b.settlement_agent,
                    settlement_agent: b.settlement_agent,
                });
            }
        }
    }
    if banks.iter().filter(|b| b.settlement_agent).count() > 1 {
        let file = sources.first().map_or("", |s| s.path.as_str());
        p.error(Problem::new(file, "bank", "more than one settlement agent"));
    }

    // Products.
    let mut categories: Vec<String> = BUILTIN_CATEGORIES.iter().map(|s| s.to_string()).collect();
    let mut product_names = Names::new("product");
    let mut products = Vec::new();
    for (file, c) in all() {
        for pr in &c.products {
            let entry = format!("product {}", pr.id);
            let mut ok = true;
            let issuer = bank_names.get(&pr.issuer);
            match issuer {
                None => {
                    p.error(Problem::new(
                        file,
                        &entry,
                        format!("unknown issuer bank {:?}", pr.issuer),
                    ));
                    ok = false;
                }
                Some(i) if !banks[i as usize].issuer => {
                    p.error(Problem::new(
                        file,
                        &entry,
                        format!("bank {} does not have the issuer role", pr.issuer),
                    ));
                    ok = false;
                }
                Some(_) => {}
            }
            let home_region = match &pr.home_region {
                None => None,
                Some(r) => {
                    let idx = region_names.get(r);
                    if idx.is_none() {
                        p.error(Problem::new(
                            file,
                            &entry,
                            format!("unknown home region {r:?}"),
                        ));
                        ok = false;
                    }
                    idx
                }
            };
            let mut currencies = Vec::new();
            for cur in &pr.currencies {
                match currency_code(cur) {
                    Some(c) => currencies.push(c),
                    None => {
                        p.error(Problem::new(
                            file,
                            &entry,
                            format!("unknown currency {cur:?}"),
                        ));
                        ok = false;
                    }
                }
            }
            if pr.currencies.is_empty() {
                p.error(Problem::new(file, &entry, "no currencies"));
                ok = false;
            }
            let mut limits = Vec::new();
            for l in &pr.limits {
                let Some(currency) = currency_code(&l.currency) else {
                    p.error(Problem::new(
                        file,
                        &entry,
                        format!("limit: unknown currency {:?}", l.currency),
                    ));
                    ok = false;
                    continue;
                };
                let mut amount = |name: &str, v: &Option<String>| -> Option<Decimal> {
                    let v = v.as_ref()?;
                    match Decimal::from_str(v) {
                        Ok(d) if d >= Decimal::ZERO => Some(d),
                        _ => {
                            p.error(Problem::new(
                                file,
                                &entry,
                                format!("limit {name}: {v:?} is not a non-negative amount"),
                            ));
                            ok = false;
                            None
                        }
                    }
                };
                limits.push(Limit {
                    currency,
                    purchase: amount("purchase", &l.purchase),
                    cash: amount("cash", &l.cash),
                    other: amount("other", &l.other),
                });
            }
            let category = match categories.iter().position(|c| *c == pr.category) {
                Some(i) => i as u16,
                None if is_category_name(&pr.category) => {
                    categories.push(pr.category.clone());
                    (categories.len() - 1) as u16
                }
                None => {
                    p.error(Problem::new(
                        file,
                        &entry,
                        format!("category {:?} is not a valid name", pr.category),
                    ));
                    ok = false;
                    0
                }
            };
            if ok && product_names.add(&pr.id, file, &mut p) {
                products.push(Product {
                    id: pr.id.clone(),
                    name: pr.name.clone(),
                    issuer: issuer.unwrap_or(0),
                    category,
                    home_region,
                    currencies,
                    limits,
                });
            }
        }
    }

    // Stand-in parameters and negative files.
    let (stand_in, stand_in_by_product) = stand_in::compile_stand_in(
        sources,
        &bank_names,
        &banks,
        &product_names,
        &products,
        &mut p,
    );
    let (negative_files, negative_by_bank) =
        negative::compile_negative_files(sources, &bank_names, &banks, &mut p);

    // Apps.
    let (app_list, app_names) = apps::compile_apps(sources, &bank_names, &banks, &mut p);

    // BIN ranges.
    let mut ranges: Vec<(BinRange, &str, String)> = Vec::new();
    for (file, c) in all() {
        for b in &c.bins {
            let entry = format!("bin {}-{}", b.low, b.high);
            let Some((low, high, len)) = apps::prefix_range(&b.low, &b.high, file, &entry, &mut p)
            else {
                continue;
            };
            let Some(product) = product_names.get(&b.product) else {
                p.error(Problem::new(
                    file,
                    &entry,
                    format!("unknown product {:?}", b.product),
                ));
                continue;
            };
            ranges.push((
                BinRange {
                    low,
                    high,
                    len,
                    product,
                },
                file,
                entry,
            ));
        }
    }
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| (ranges[i].0.len, ranges[i].0.low));
    for w in order.windows(2) {
        let (a, b) = (&ranges[w[0]], &ranges[w[1]]);
        if a.0.len == b.0.len && b.0.low <= a.0.high {
            p.error(Problem::new(
                b.1,
                &b.2,
                format!("overlaps {} ({}) of the same length", a.2, a.1),
            ));
        }
    }

    let token_ranges = apps::compile_token_ranges(sources, &ranges, &mut p);

    // Rules.
    let ctx = RefContext {
        apps: &app_names,
        regions: &region_names,
        banks: &bank_names,
        products: &product_names,
        categories: &categories,
        bank_list: &banks,
    };
    let mut rule_names = Names::new("rule");
    let mut rules = Vec::new();
    for (file, c) in all() {
        for r in &c.rules {
            let before = p.errors.len();
            let rule = compile_rule(r, file, &ctx, &mut p);
            if p.errors.len() == before && rule_names.add(&r.id, file, &mut p) {
                if let Some(rule) = rule {
                    rules.push(rule);
                }
            }
        }
    }

    if !p.errors.is_empty() {
        return Err(LoadError(p));
    }

    let bank_domain: Vec<_> = banks
        .iter()
        .map(|b| (b.region, regions[b.region as usize].kind))
        .collect();
    let product_domain: Vec<_> = products.iter().map(|pr| (pr.issuer, pr.category)).collect();
    let mut currencies: Vec<u16> = products
        .iter()
        .flat_map(|pr| pr.currencies.iter().copied())
        .collect();
    for r in &rules {
        for c in &r.conditions {
            if let Cond::Currency(l) = c {
                currencies.extend(&l.values);
            }
        }
    }
    let index = RuleIndex::build(
        &rules,
        &Domains {
            banks: &bank_domain,
            products: &product_domain,
            currencies,
            apps: app_list.len(),
        },
    );
    for later in 0..rules.len() {
        if let Some(earlier) = (0..later).find(|&e| index.shadows(&rules, e, later)) {
            p.warning(Problem::new(
                &rules[later].source,
                format!("rule {}", rules[later].id),
                format!(
                    "never decides: rule {} (earlier) matches everything it matches",
                    rules[earlier].id
                ),
            ));
        }
    }

    let mut bank_keys: Vec<(u64, BankIdx)> = banks
        .iter()
        .enumerate()
        .filter_map(|(i, b)| Some((pack_institution_id(b.id.as_bytes())?, i as BankIdx)))
        .collect();
    bank_keys.sort_unstable();
    let hot = HotTables::build(&banks, &products, &rules);
    let table = RoutingTable {
        hot,
        regions,
        banks,
        products,
        categories,
        bank_keys,
        bins: BinTable::build(ranges.into_iter().map(|r| r.0).collect()),
        rules,
        index,
        apps: app_list,
        token_ranges,
        stand_in,
        stand_in_by_product,
        negative_files,
        negative_by_bank,
    };
    Ok((table, p.warnings))
}

fn is_category_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

struct RefContext<'a> {
    regions: &'a Names<'a>,
    banks: &'a Names<'a>,
    products: &'a Names<'a>,
    categories: &'a [String],
    bank_list: &'a [Bank],
    apps: &'a Names<'a>,
}

fn compile_rule(r: &RawRule, file: &str, ctx: &RefContext<'_>, p: &mut Problems) -> Option<Rule> {
    let entry = format!("rule {}", r.id);
    let mut err = |msg: String| p.error(Problem::new(file, &entry, msg));
    let conditions = compile_conditions(&r.when, ctx, &mut err);

    let t = &r.then;
    let chosen =
        usize::from(t.route) + usize::from(t.route_to.is_some()) + usize::from(t.decline.is_some());
    let outcome = if chosen != 1 {
        err("`then` needs exactly one of route = true, route_to = BANK, decline = CODE".into());
        None
    } else if let Some(bank) = &t.route_to {
        match ctx.banks.get(bank) {
            Some(b) if ctx.bank_list[b as usize].issuer => Some(Outcome::RouteTo(b)),
            Some(_) => {
                err(format!(
                    "route_to bank {bank} does not have the issuer role"
                ));
                None
            }
            None => {
                err(format!("route_to: unknown bank {bank:?}"));
                None
            }
        }
    } else if let Some(code) = &t.decline {
        match ResponseCode::new(code) {
            Some(rc) if RULE_DECLINE_CODES.contains(&code.as_str()) => Some(Outcome::Decline(rc)),
            _ => {
                err(format!(
                    "decline: response code {code:?} is not one of {}",
                    RULE_DECLINE_CODES.join(", ")
                ));
                None
            }
        }
    } else {
        Some(Outcome::Route)
    };
    Some(Rule {
        id: r.id.clone(),
        description: r.description.clone(),
        source: file.to_string(),
        conditions: conditions?,
        outcome: outcome?,
    })
}

/// Resolve a list of names with `resolve`; unknown names are reported.
fn list<T>(
    key: &str,
    values: &Option<Vec<String>>,
    negated: bool,
    resolve: impl Fn(&str) -> Option<T>,
    err: &mut impl FnMut(String),
    out: &mut Vec<Cond>,
    wrap: impl Fn(ListCond<T>) -> Cond,
) -> bool {
    let Some(values) = values else {
        return true;
    };
    let mut ok = true;
    let mut resolved = Vec::with_capacity(values.len());
    for v in values {
        match resolve(v) {
            Some(x) => resolved.push(x),
            None => {
                err(format!("{key}: unknown value {v:?}"));
                ok = false;
            }
        }
    }
    if values.is_empty() {
        err(format!("{key}: empty list"));
        ok = false;
    }
    out.push(wrap(ListCond {
        values: resolved,
        negated,
    }));
    ok
}

fn compile_conditions(
    w: &RawConditions,
    ctx: &RefContext<'_>,
    err: &mut impl FnMut(String),
) -> Option<Vec<Cond>> {
    let mut out = Vec::new();
    let mut ok = true;
    let bank = |s: &str| ctx.banks.get(s);
    let region = |s: &str| ctx.regions.get(s);
    let kind = RegionKind::from_name;
    let product = |s: &str| ctx.products.get(s);
    let category = |s: &str| ctx.categories.iter().position(|c| c == s).map(|i| i as u16);
    let txn = |s: &str| transaction_type(s).map(Some);
    let app = |s: &str| ctx.apps.get(s);
    for neg in [false, true] {
        let pick = |a: &Option<Vec<String>>, b: &Option<Vec<String>>| {
            if neg {
                b.clone()
            } else {
                a.clone()
            }
        };
        let k = |name: &str| {
            if neg {
                format!("{name}_not")
            } else {
                name.to_string()
            }
        };
        ok &= list(
            &k("acquirer"),
            &pick(&w.acquirer, &w.acquirer_not),
            neg,
            bank,
            err,
            &mut out,
            Cond::Acquirer,
        );
        ok &= list(
            &k("acquirer_region"),
            &pick(&w.acquirer_region, &w.acquirer_region_not),
            neg,
            region,
            err,
            &mut out,
            Cond::AcquirerRegion,
        );
        ok &= list(
            &k("acquirer_region_kind"),
            &pick(&w.acquirer_region_kind, &w.acquirer_region_kind_not),
            neg,
            kind,
            err,
            &mut out,
            Cond::AcquirerRegionKind,
        );
        ok &= list(
            &k("issuer"),
            &pick(&w.issuer, &w.issuer_not),
            neg,
            bank,
            err,
            &mut out,
            Cond::Issuer,
        );
        ok &= list(
            &k("product"),
            &pick(&w.product, &w.product_not),
            neg,
            product,
            err,
            &mut out,
            Cond::Product,
        );
        ok &= list(
            &k("category"),
            &pick(&w.category, &w.category_not),
            neg,
            category,
            err,
            &mut out,
            Cond::Category,
        );
        ok &= list(
            &k("transaction"),
            &pick(&w.transaction, &w.transaction_not),
            neg,
            txn,
            err,
            &mut out,
            Cond::Transaction,
        );
        ok &= list(
            &k("mti_class"),
            &pick(&w.mti_class, &w.mti_class_not),
            neg,
            mti_class,
            err,
            &mut out,
            Cond::MtiClass,
        );
        ok &= list(
            &k("currency"),
            &pick(&w.currency, &w.currency_not),
            neg,
            currency_code,
            err,
            &mut out,
            Cond::Currency,
        );
        ok &= list(
            &k("channel"),
            &pick(&w.channel, &w.channel_not),
            neg,
            Channel::from_name,
            err,
            &mut out,
            Cond::Channel,
        );
        ok &= list(
            &k("app"),
            &pick(&w.app, &w.app_not),
            neg,
            app,
            err,
            &mut out,
            Cond::App,
        );
    }
    if let Some(joined) = w.issuer_joined_app {
        out.push(Cond::IssuerJoinedApp(joined));
    }
    if let Some(h) = &w.home_region {
        match HomeRelation::from_name(h) {
            Some(rel) => out.push(Cond::HomeRegion(rel)),
            None => {
                err(format!(
                    "home_region: {h:?} (expected same, different or none)"
                ));
                ok = false;
            }
        }
    }
    for (key, value, cmp) in [
        ("amount_gt", &w.amount_gt, Cmp::Gt),
        ("amount_ge", &w.amount_ge, Cmp::Ge),
        ("amount_lt", &w.amount_lt, Cmp::Lt),
        ("amount_le", &w.amount_le, Cmp::Le),
    ] {
        if let Some(v) = value {
            match Decimal::from_str(v) {
                Ok(d) => out.push(Cond::Amount(cmp, d)),
                Err(_) => {
                    err(format!("{key}: {v:?} is not a decimal amount"));
                    ok = false;
                }
            }
        }
    }
    ok.then_some(out)
}
