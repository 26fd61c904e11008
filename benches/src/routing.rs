//! The synthetic network of `routing-compare`: a routing configuration generated
//! deterministically from a seed ([`generate_config`]), random traffic over the
//! compiled table ([`Traffic`]), and the naive decision the compiled table is
//! measured against ([`naive_decide`]).
//!
//! The configuration follows `routing-rules/rules/national.toml`: one capital,
//! twelve provincial capitals and special cities, a few county regions; banks under
//! 9408 (the Central Bank as settlement agent, commercial banks that issue and
//! acquire, issuers that do not acquire, acquirer-only hosts and credit unions);
//! card products of every category with limits, some tied to a home region; BIN
//! ranges of 6 to 11 digits under 9408, longer ones nested inside shorter ones,
//! never two of one length overlapping; network policy rules first, then random
//! rules over every condition kind and outcome.

use std::fmt::{self, Write};

use codecs::luhn::{luhn_check_digit, luhn_valid};
use codecs::Mti;
use codecs::ResponseCode;
use routing_rules::decide::PAN_LENGTHS;
use routing_rules::model::{BankIdx, ProductIdx};
use routing_rules::rules::{Facts, HomeRelation, Outcome};
use routing_rules::{Channel, Decision, RoutingTable, Step, Transaction};
use rust_decimal::Decimal;

/// SplitMix64: small, fast, and the same sequence on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform index into a collection of `len` items (0 when empty).
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An index drawn with the given weights (0 when they are all zero).
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut x = self.below(weights.iter().sum());
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        0
    }

    /// `k` distinct items of `items` (all of them if there are fewer), in drawn order.
    pub fn sample<'a, T>(&mut self, items: &'a [T], k: usize) -> Vec<&'a T> {
        let mut idx: Vec<usize> = (0..items.len()).collect();
        let k = k.min(items.len());
        for i in 0..k {
            let j = i + self.index(idx.len() - i);
            idx.swap(i, j);
        }
        idx[..k].iter().map(|&i| &items[i]).collect()
    }
}

/// How big a network to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Member banks (at least 17: the first 17 issue cards).
    pub banks: usize,
    /// Card products (at least 1).
    pub products: usize,
    /// BIN ranges.
    pub ranges: usize,
    /// Rules (the network policy rules come first).
    pub rules: usize,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Shape {
    /// The issue's size: 30 banks, 300 products, 100,000 ranges, 200 rules.
    pub const BENCHMARK: Shape = Shape {
        banks: 30,
        products: 300,
        ranges: 100_000,
        rules: 200,
        seed: 0x9408_0000_2024_0001,
    };
}

/// The national prefix every generated BIN lies under.
pub const NATIONAL_PREFIX: u64 = 9408;

/// Regions: (id, kind). One capital, nine provincial capitals and three special
/// cities, five county regions.
const REGIONS: [(&str, &str); 18] = [
    ("pyongyang", "capital"),
    ("sinuiju", "provincial-capital"),
    ("pyongsong", "provincial-capital"),
    ("kanggye", "provincial-capital"),
    ("sariwon", "provincial-capital"),
    ("haeju", "provincial-capital"),
    ("wonsan", "provincial-capital"),
    ("hamhung", "provincial-capital"),
    ("chongjin", "provincial-capital"),
    ("hyesan", "provincial-capital"),
    ("nampo", "provincial-capital"),
    ("rason", "provincial-capital"),
    ("kaesong", "provincial-capital"),
    ("rural-north-pyongan", "other"),
    ("rural-south-pyongan", "other"),
    ("rural-chagang", "other"),
    ("rural-hwanghae", "other"),
    ("rural-hamgyong", "other"),
];
const CAPITAL: usize = 0;
const PROVINCIAL: std::ops::Range<usize> = 1..13;

/// Banks 0..=12 issue and acquire (0 is the Central Bank), 13..=16 only issue, the
/// rest only acquire.
const ISSUE_AND_ACQUIRE: usize = 13;
const ISSUERS: usize = 17;

/// Categories: the five built-in ones and four of the banks' own, with weights.
const CATEGORIES: [(&str, u64); 9] = [
    ("national-debit", 20),
    ("commercial-debit", 33),
    ("enterprise-payroll", 14),
    ("capital-resident", 8),
    ("privileged", 7),
    ("foreign-currency", 5),
    ("student", 5),
    ("pension", 5),
    ("corporate", 3),
];

/// Foreign currencies of foreign-currency cards, with purchase and cash maxima.
const FOREIGN: [(&str, u32, u32); 3] = [
    ("840", 5000, 1000),
    ("978", 5000, 1000),
    ("156", 30000, 7000),
];

/// Decline codes a rule may use, with weights.
const DECLINES: [(&str, u64); 6] = [
    ("57", 30),
    ("61", 25),
    ("58", 15),
    ("62", 15),
    ("12", 10),
    ("13", 5),
];

/// Share (in 1/10,000) of the ranges of each length 6..=10; 11 takes the rest.
const LENGTH_SHARE: [(u8, u64); 5] = [(6, 6), (7, 60), (8, 500), (9, 1500), (10, 3000)];

fn bank_id(i: usize) -> String {
    format!("{}", 940_800 + i)
}

fn product_id(i: usize) -> String {
    format!("product-{i:03}")
}

/// One generated range, before it is written out.
#[derive(Clone, Copy, Debug)]
struct GenRange {
    low: u64,
    high: u64,
    len: u8,
    product: usize,
}

/// BIN ranges: per length, a walk over the prefixes under 9408 with random widths
/// and gaps, so ranges of one length never overlap while longer ones fall inside
/// shorter ones (or in their gaps). A length that runs out of room passes its
/// remainder on to the next; 11 digits has room for millions.
fn generate_ranges(rng: &mut Rng, shape: &Shape) -> Vec<GenRange> {
    let mut out = Vec::with_capacity(shape.ranges);
    let mut carry = 0usize;
    for len in 6u8..=11 {
        let share = LENGTH_SHARE
            .iter()
            .find(|&&(l, _)| l == len)
            .map(|&(_, s)| s);
        let remaining = shape.ranges - out.len();
        let want = match share {
            Some(s) => (shape.ranges as u64 * s).div_ceil(10_000) as usize + carry,
            None => remaining,
        }
        .min(remaining);
        let scale = 10u64.pow(u32::from(len) - 4);
        let space = scale; // prefixes 9408 0..0 to 9408 9..9
        let base = NATIONAL_PREFIX * scale;
        // Use about 90% of the space on average, half ranges and half gaps (but at
        // least one prefix per range).
        let step = space as f64 * 0.9 / want.max(1) as f64;
        let mean_width = (step * 0.5).max(1.0);
        let mean_gap = (step - mean_width).max(0.0);
        let width_span = ((2.0 * mean_width - 1.0).round() as u64).max(1);
        let gap_span = ((2.0 * mean_gap + 1.0).round() as u64).max(1);
        let mut pos = 0u64;
        let mut made = 0;
        while made < want {
            let gap = rng.below(gap_span);
            let width = 1 + rng.below(width_span);
            if pos + gap + width > space {
                break;
            }
            let low = base + pos + gap;
            out.push(GenRange {
                low,
                high: low + width - 1,
                len,
                product: rng.index(shape.products),
            });
            pos += gap + width;
            made += 1;
        }
        carry = want - made;
    }
    // File order: by position, a nested range right after the one around it.
    let start = |r: &GenRange| r.low * 10u64.pow(11 - u32::from(r.len));
    out.sort_by_key(|r| (start(r), r.len));
    out
}

/// The TOML text of a generated network (see the module documentation).
pub fn generate_config(shape: &Shape) -> Result<String, fmt::Error> {
    let mut rng = Rng::new(shape.seed);
    let banks = shape.banks.max(ISSUERS);
    let mut s = String::with_capacity(shape.ranges * 64 + shape.rules * 200 + 64 * 1024);
    writeln!(
        s,
        "# Generated by benches::routing (seed {:#x}): {} banks, {} products, {} BIN ranges, {} rules.\n",
        shape.seed, banks, shape.products, shape.ranges, shape.rules
    )?;

    for (id, kind) in REGIONS {
        writeln!(
            s,
            "[[region]]\nid = \"{id}\"\nname = \"{id}\"\nkind = \"{kind}\"\n"
        )?;
    }

    // Banks: where they sit, what they do.
    for i in 0..banks {
        let region = match i {
            0 => CAPITAL,
            _ if i < ISSUERS => {
                if rng.chance(40) {
                    CAPITAL
                } else {
                    1 + rng.index(PROVINCIAL.len())
                }
            }
            _ => 1 + rng.index(REGIONS.len() - 1),
        };
        let roles = match i {
            _ if i < ISSUE_AND_ACQUIRE => "[\"issuer\", \"acquirer\"]",
            _ if i < ISSUERS => "[\"issuer\"]",
            _ => "[\"acquirer\"]",
        };
        writeln!(
            s,
            "[[bank]]\nid = \"{}\"\nname = \"Bank {i}\"\nregion = \"{}\"\nroles = {roles}\nsettlement = true{}\n",
            bank_id(i),
            REGIONS[region].0,
            if i == 0 { "\nsettlement_agent = true" } else { "" },
        )?;
    }

    // Products.
    let weights: Vec<u64> = CATEGORIES.iter().map(|c| c.1).collect();
    let mut used_categories = vec![false; CATEGORIES.len()];
    for i in 0..shape.products {
        let c = rng.weighted(&weights);
        used_categories[c] = true;
        let category = CATEGORIES[c].0;
        let issuer = if i < ISSUERS { i } else { rng.index(ISSUERS) };
        let home = match category {
            "enterprise-payroll" => Some(1 + rng.index(PROVINCIAL.len())),
            "capital-resident" => Some(CAPITAL),
            _ if rng.chance(10) => Some(rng.index(REGIONS.len())),
            _ => None,
        };
        writeln!(
            s,
            "[[product]]\nid = \"{}\"\nname = \"Product {i} of bank {}\"\nissuer = \"{}\"\ncategory = \"{category}\"",
            product_id(i),
            bank_id(issuer),
            bank_id(issuer)
        )?;
        if let Some(h) = home {
            writeln!(s, "home_region = \"{}\"", REGIONS[h].0)?;
        }
        // Tiers of limits: purchase, cash (KPW).
        let tier = 1 + rng.below(20);
        let (purchase, cash) = match category {
            "privileged" => (10_000_000 * tier, 2_000_000 * tier),
            _ => (250_000 * tier, 100_000 * tier),
        };
        if category == "foreign-currency" {
            let list: Vec<String> = FOREIGN.iter().map(|f| format!("\"{}\"", f.0)).collect();
            writeln!(s, "currencies = [{}]", list.join(", "))?;
            for (cur, p, c) in FOREIGN {
                writeln!(
                    s,
                    "[[product.limit]]\ncurrency = \"{cur}\"\npurchase = \"{p}\"\ncash = \"{c}\"\nother = \"0\""
                )?;
            }
        } else {
            writeln!(s, "currencies = [\"408\"]")?;
            // A few products (withdrawn or special) have no limits.
            if !rng.chance(5) {
                writeln!(
                    s,
                    "[[product.limit]]\ncurrency = \"408\"\npurchase = \"{purchase}\"\ncash = \"{cash}\"\nother = \"0\""
                )?;
            }
        }
        writeln!(s)?;
    }

    // BIN ranges, in the multi-line form of national.toml.
    for r in generate_ranges(&mut rng, shape) {
        let w = usize::from(r.len);
        writeln!(
            s,
            "[[bin]]\nlow = \"{:0w$}\"\nhigh = \"{:0w$}\"\nproduct = \"{}\"\n",
            r.low,
            r.high,
            product_id(r.product)
        )?;
    }

    // Rules: network policy first, then random ones.
    let categories: Vec<&str> = CATEGORIES
        .iter()
        .zip(&used_categories)
        .filter(|(c, used)| **used || routing_rules::model::BUILTIN_CATEGORIES.contains(&c.0))
        .map(|(c, _)| c.0)
        .collect();
    let ctx = RuleContext {
        acquirers: (0..banks)
            .filter(|b| !(ISSUE_AND_ACQUIRE..ISSUERS).contains(b))
            .map(bank_id)
            .collect(),
        issuers: (0..ISSUERS).map(bank_id).collect(),
        regions: REGIONS.iter().map(|r| r.0).collect(),
        products: (0..shape.products).map(product_id).collect(),
        categories,
    };
    let policy = policy_rules();
    for (id, when, then) in policy.iter().take(shape.rules) {
        writeln!(
            s,
            "[[rule]]\nid = \"{id}\"\nwhen = {{ {when} }}\nthen = {{ {then} }}\n"
        )?;
    }
    for i in policy.len()..shape.rules {
        let when = random_conditions(&mut rng, &ctx);
        let then = random_outcome(&mut rng);
        writeln!(
            s,
            "[[rule]]\nid = \"rule-{i:03}\"\ndescription = \"generated\"\nwhen = {{ {when} }}\nthen = {{ {then} }}\n"
        )?;
    }
    Ok(s)
}

/// The network's own rules, as in national.toml: (id, when, then).
fn policy_rules() -> Vec<(&'static str, String, &'static str)> {
    let central = bank_id(0);
    let trade = bank_id(3);
    vec![
        (
            "only-authorizations-and-financials",
            "mti_class_not = [\"authorization\", \"financial\"]".into(),
            "decline = \"12\"",
        ),
        (
            "known-transaction-types",
            "transaction_not = [\"purchase\", \"cash\", \"balance\"]".into(),
            "decline = \"12\"",
        ),
        (
            "positive-amounts",
            "transaction = [\"purchase\", \"cash\"], amount_le = \"0\"".into(),
            "decline = \"13\"",
        ),
        (
            "capital-resident-only-in-capital",
            "category = [\"capital-resident\"], acquirer_region_kind_not = [\"capital\"]".into(),
            "decline = \"57\"",
        ),
        (
            "payroll-only-in-home-province",
            "category = [\"enterprise-payroll\"], home_region = \"different\"".into(),
            "decline = \"57\"",
        ),
        (
            "foreign-currency-at-trade-and-central-bank",
            format!("category = [\"foreign-currency\"], acquirer_not = [\"{trade}\", \"{central}\"]"),
            "decline = \"58\"",
        ),
        (
            "county-cash-limit",
            "transaction = [\"cash\"], acquirer_region_kind = [\"other\"], currency = [\"408\"], amount_gt = \"200000\"".into(),
            "decline = \"61\"",
        ),
        (
            "provincial-cash-limit",
            "transaction = [\"cash\"], acquirer_region_kind_not = [\"capital\"], category_not = [\"privileged\"], currency = [\"408\"], amount_gt = \"500000\"".into(),
            "decline = \"61\"",
        ),
        (
            "large-purchases-in-capital",
            "transaction = [\"purchase\"], acquirer_region_kind_not = [\"capital\"], currency = [\"408\"], amount_gt = \"10000000\"".into(),
            "decline = \"61\"",
        ),
    ]
}

/// What random rules may refer to, by id.
struct RuleContext {
    acquirers: Vec<String>,
    issuers: Vec<String>,
    regions: Vec<&'static str>,
    products: Vec<String>,
    categories: Vec<&'static str>,
}

/// A quoted list of 1 to `max` (at random) distinct values drawn from `items`.
fn quoted<S: AsRef<str>>(rng: &mut Rng, items: &[S], max: usize) -> String {
    let k = 1 + rng.index(max);
    let picked: Vec<String> = rng
        .sample(items, k)
        .into_iter()
        .map(|v| format!("\"{}\"", v.as_ref()))
        .collect();
    format!("[{}]", picked.join(", "))
}

/// Condition keys of random rules: acquirer, acquirer_region, acquirer_region_kind,
/// issuer, product, category, home_region, transaction, mti_class, currency, amount.
const KEYS: usize = 11;
/// Weights of the first condition, the anchor that names who or what the rule is
/// about (acquirer, acquirer_region, issuer, product or category; never negated).
const ANCHOR_WEIGHTS: [u64; KEYS] = [8, 6, 0, 8, 70, 8, 0, 0, 0, 0, 0];
/// Weights of the further conditions.
const EXTRA_WEIGHTS: [u64; KEYS] = [10, 8, 10, 6, 8, 10, 8, 15, 4, 6, 15];

/// An anchor condition and 1 to 3 more on distinct keys; the further list
/// conditions are negated 15% of the time.
fn random_conditions(rng: &mut Rng, ctx: &RuleContext) -> String {
    let mut keys = vec![rng.weighted(&ANCHOR_WEIGHTS)];
    let n = 2 + rng.weighted(&[40, 40, 20]);
    while keys.len() < n {
        let k = rng.weighted(&EXTRA_WEIGHTS);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut parts = Vec::with_capacity(n);
    for (i, k) in keys.into_iter().enumerate() {
        let anchor = i == 0;
        let negated = !anchor && rng.chance(15);
        parts.push(condition(rng, ctx, k, negated, anchor));
    }
    parts.join(", ")
}

/// One condition on key `k` (see [`KEYS`]); an anchor lists fewer values.
fn condition(rng: &mut Rng, ctx: &RuleContext, k: usize, negated: bool, anchor: bool) -> String {
    let not = if negated { "_not" } else { "" };
    let few = |many: usize| if anchor { (many / 2).max(1) } else { many };
    match k {
        0 => format!("acquirer{not} = {}", quoted(rng, &ctx.acquirers, few(3))),
        1 => format!(
            "acquirer_region{not} = {}",
            quoted(rng, &ctx.regions, few(3))
        ),
        2 => format!(
            "acquirer_region_kind{not} = {}",
            quoted(rng, &["capital", "provincial-capital", "other"], 1)
        ),
        3 => format!("issuer{not} = {}", quoted(rng, &ctx.issuers, few(2))),
        4 => format!("product{not} = {}", quoted(rng, &ctx.products, few(4))),
        5 => format!("category{not} = {}", quoted(rng, &ctx.categories, few(2))),
        6 => format!(
            "home_region = \"{}\"",
            ["same", "different", "none"][rng.index(3)]
        ),
        7 => format!(
            "transaction{not} = {}",
            quoted(rng, &["purchase", "cash", "balance"], 2)
        ),
        8 => format!(
            "mti_class{not} = {}",
            quoted(rng, &["authorization", "financial"], 1)
        ),
        9 => format!(
            "currency{not} = {}",
            quoted(rng, &["408", "840", "978", "156"], 2)
        ),
        _ => {
            // Round figures: lower bounds 100,000 to 900,000,000 KPW (large amounts),
            // upper bounds 1,000 to 900,000 (small ones).
            let (op, exp) = match rng.index(4) {
                0 => ("amount_gt", 5 + rng.below(4)),
                1 => ("amount_ge", 5 + rng.below(4)),
                2 => ("amount_lt", 3 + rng.below(3)),
                _ => ("amount_le", 3 + rng.below(3)),
            };
            let v = 10u64.pow(exp as u32) * (1 + rng.below(9));
            format!("{op} = \"{v}\"")
        }
    }
}

/// Decline (55%), route to the issuer (30%) or to another issuing bank (15%).
fn random_outcome(rng: &mut Rng) -> String {
    match rng.weighted(&[55, 30, 15]) {
        0 => {
            let w: Vec<u64> = DECLINES.iter().map(|d| d.1).collect();
            format!("decline = \"{}\"", DECLINES[rng.weighted(&w)].0)
        }
        1 => "route = true".into(),
        _ => format!("route_to = \"{}\"", bank_id(rng.index(ISSUERS))),
    }
}

/// One transaction of [`Traffic`], by index into its pools.
#[derive(Clone, Copy, Debug)]
struct TxSpec {
    pan: usize,
    acquirer: usize,
    processing_code: &'static [u8],
    mti: Mti,
    amount: Decimal,
    currency: u16,
}

/// Random transactions over a compiled table; [`transactions`](Traffic::transactions)
/// borrows them as `routing_rules::Transaction`s.
pub struct Traffic {
    pans: Vec<[u8; 16]>,
    acquirers: Vec<Vec<u8>>,
    specs: Vec<TxSpec>,
}

impl Traffic {
    /// `n` transactions: Luhn-valid 16-digit PANs, 90% inside a random configured
    /// range, 5% anywhere under 9408, 5% under other prefixes; acquirers 95% banks
    /// with the acquirer role, 3% issuer-only banks, 2% unknown; purchases, cash,
    /// balance inquiries and a few other types; mostly 0200/0100; currency 408 90%.
    pub fn generate(table: &RoutingTable, n: usize, seed: u64) -> Traffic {
        let mut rng = Rng::new(seed);
        let ranges = table.bins().ranges();
        let mut pans = Vec::with_capacity(n);
        for _ in 0..n {
            let mut pan = [b'0'; 16];
            let prefix_len = match rng.weighted(&[90, 5, 5]) {
                0 if !ranges.is_empty() => {
                    let r = &ranges[rng.index(ranges.len())];
                    let p = r.low + rng.below(r.high - r.low + 1);
                    let w = usize::from(r.len);
                    pan[..w].copy_from_slice(format!("{p:0w$}").as_bytes());
                    w
                }
                1 => {
                    pan[..4].copy_from_slice(NATIONAL_PREFIX.to_string().as_bytes());
                    4
                }
                _ => {
                    pan[0] = b'1' + rng.below(8) as u8; // 1-8: never the national 9
                    1
                }
            };
            for d in &mut pan[prefix_len..15] {
                *d = b'0' + rng.below(10) as u8;
            }
            pan[15] = luhn_check_digit(&pan[..15]).unwrap_or(b'0');
            pans.push(pan);
        }

        let banks = table.banks();
        let acquirers: Vec<usize> = (0..banks.len()).filter(|&i| banks[i].acquirer).collect();
        let issuer_only: Vec<usize> = (0..banks.len()).filter(|&i| !banks[i].acquirer).collect();
        let mut ids: Vec<Vec<u8>> = banks.iter().map(|b| b.id.clone().into_bytes()).collect();
        let unknown = ids.len();
        ids.push(b"999999".to_vec());

        // Acquirers by region: cards tied to a home region are mostly used there.
        let mut by_region = vec![Vec::new(); table.regions().len()];
        for &a in &acquirers {
            by_region[usize::from(banks[a].region)].push(a);
        }

        let mut specs = Vec::with_capacity(n);
        for (pan, digits) in pans.iter().enumerate() {
            let card = table
                .bins()
                .lookup(digits)
                .map(|r| &table.products()[usize::from(r.product)]);
            let home = card
                .and_then(|p| p.home_region)
                .map(|r| &by_region[usize::from(r)])
                .filter(|list| !list.is_empty() && rng.chance(85));
            let acquirer = match (home, rng.weighted(&[95, 3, 2])) {
                (Some(list), _) => list[rng.index(list.len())],
                (None, 0) if !acquirers.is_empty() => acquirers[rng.index(acquirers.len())],
                (None, 1) if !issuer_only.is_empty() => issuer_only[rng.index(issuer_only.len())],
                _ => unknown,
            };
            let mti = [
                Mti::FINANCIAL_REQUEST,
                Mti::AUTH_REQUEST,
                Mti::FINANCIAL_ADVICE,
                Mti::REVERSAL_REQUEST,
                Mti::REVERSAL_ADVICE,
                Mti::NETWORK_REQUEST,
            ][rng.weighted(&[60, 30, 5, 3, 1, 1])];
            let (processing_code, kind): (&'static [u8], u8) =
                match rng.weighted(&[60, 25, 12, 2, 1]) {
                    0 => (b"000000", 0),
                    1 => (b"010000", 1),
                    2 => (b"310000", 31),
                    3 => (b"200000", 20),
                    _ => (b"400000", 40),
                };
            // The card's own currency mostly; now and then another one.
            let foreign = [840u16, 978, 156, 643];
            let currency = match card.map(|p| p.currencies.as_slice()) {
                Some(list) if !list.is_empty() && rng.chance(97) => list[rng.index(list.len())],
                _ if rng.chance(90) => 408,
                _ => foreign[rng.index(foreign.len())],
            };
            // As the switch reads them from field 4: minor units at the currency's
            // exponent (2 for all of these).
            let amount = match (kind, currency) {
                (31, _) => Decimal::new(0, 2),
                // Cash: 1,000 to 1,000,000 KPW, log-uniform, in whole won.
                (1, 408) => Decimal::new(1000 * 10f64.powf(3.0 * rng.unit()) as i64 * 100, 2),
                // Purchases: 100 to 100,000,000 KPW, log-uniform, in whole won.
                (_, 408) => Decimal::new(10f64.powf(2.0 + 6.0 * rng.unit()) as i64 * 100, 2),
                // Foreign currencies: 1.00 to 10,000.00.
                _ => Decimal::new(100 + rng.below(1_000_000) as i64, 2),
            };
            specs.push(TxSpec {
                pan,
                acquirer,
                processing_code,
                mti,
                amount,
                currency,
            });
        }
        Traffic {
            pans,
            acquirers: ids,
            specs,
        }
    }

    /// The transactions, borrowing the PANs and acquirer ids.
    pub fn transactions(&self) -> Vec<Transaction<'_>> {
        self.specs
            .iter()
            .map(|t| Transaction {
                pan: &self.pans[t.pan],
                acquirer: &self.acquirers[t.acquirer],
                mti: t.mti,
                processing_code: t.processing_code,
                amount: t.amount,
                currency: t.currency,
                channel: Channel::Terminal,
                app: None,
            })
            .collect()
    }
}

/// What a decision comes to, as indexes into the table: the naive decision's result,
/// and `decide`'s ([`decision_indexes`]) to compare it with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NaiveDecision {
    /// The card product (index), when a BIN range matched.
    pub product: Option<ProductIdx>,
    /// The rule that decided (index). As in `decide`, None when no rule matched, and
    /// also when a routing rule matched but the product's currency or limit declined.
    pub rule: Option<usize>,
    /// Where to route (for a decline: the card's issuer, when known).
    pub issuer: Option<BankIdx>,
    /// Which check decided.
    pub step: Step,
    /// The decline code, for a decline.
    pub response_code: Option<ResponseCode>,
}

/// `decide` without the compiled structures: the same checks in the same order, but
/// the BIN by a linear scan of every configured range (longest match wins) and the
/// rule by walking the rules in order with
/// [`Rule::matches`](routing_rules::rules::Rule::matches).
pub fn naive_decide(table: &RoutingTable, tx: &Transaction<'_>) -> NaiveDecision {
    let decline = |step, rc, product, issuer| NaiveDecision {
        product,
        rule: None,
        issuer,
        step,
        response_code: Some(rc),
    };
    if !(PAN_LENGTHS.contains(&tx.pan.len()) && luhn_valid(tx.pan)) {
        return decline(Step::Pan, ResponseCode::INVALID_CARD_NUMBER, None, None);
    }
    let Some(range) = table
        .bins()
        .ranges()
        .iter()
        .filter(|r| r.contains(tx.pan))
        .max_by_key(|r| r.len)
    else {
        return decline(Step::Bin, ResponseCode::NO_SUCH_ISSUER, None, None);
    };
    let product = &table.products()[usize::from(range.product)];
    let card = (Some(range.product), Some(product.issuer));
    let banks = table.banks();
    let Some(acquirer) = table
        .bank_index(tx.acquirer)
        .filter(|&i| banks[usize::from(i)].acquirer)
    else {
        return decline(
            Step::Acquirer,
            ResponseCode::BANK_NOT_SUPPORTED,
            card.0,
            card.1,
        );
    };
    let acq = &banks[usize::from(acquirer)];
    let transaction = tx.transaction_type();
    // The generated traffic names no app; an unknown one would decline 96 in decide.
    let app = tx
        .app
        .and_then(|id| table.apps().iter().position(|a| a.id == id))
        .map(|i| i as u16);
    let facts = Facts {
        acquirer,
        acquirer_region: acq.region,
        acquirer_region_kind: table.regions()[usize::from(acq.region)].kind,
        issuer: product.issuer,
        product: range.product,
        category: product.category,
        home: match product.home_region {
            None => HomeRelation::None,
            Some(r) if r == acq.region => HomeRelation::Same,
            Some(_) => HomeRelation::Different,
        },
        transaction,
        mti_class: tx.mti.as_bytes()[1] - b'0',
        currency: tx.currency,
        amount: tx.amount,
        channel: tx.channel,
        app,
        issuer_joined_app: app.map(|a| table.apps()[usize::from(a)].joined(product.issuer)),
    };
    let rule = table.rules().iter().position(|r| r.matches(&facts));
    let mut issuer = product.issuer;
    match rule.map(|i| &table.rules()[i].outcome) {
        Some(Outcome::Decline(rc)) => {
            return NaiveDecision {
                rule,
                ..decline(Step::Rule, *rc, card.0, card.1)
            }
        }
        Some(Outcome::RouteTo(b)) => issuer = *b,
        Some(Outcome::Route) | None => {}
    }
    if !product.currencies.contains(&tx.currency) {
        return decline(
            Step::ProductCurrency,
            ResponseCode::NOT_PERMITTED_CARDHOLDER,
            card.0,
            card.1,
        );
    }
    let limit = product
        .limit_for(tx.currency)
        .and_then(|l| l.for_transaction(transaction));
    if limit.is_some_and(|max| tx.amount > max) {
        return decline(
            Step::ProductLimit,
            ResponseCode::EXCEEDS_AMOUNT_LIMIT,
            card.0,
            card.1,
        );
    }
    NaiveDecision {
        product: card.0,
        rule,
        issuer: Some(issuer),
        step: if rule.is_some() {
            Step::Rule
        } else {
            Step::Default
        },
        response_code: None,
    }
}

/// Where `item` sits in `items` (by address), if it is one of them.
fn index_of<T>(items: &[T], item: Option<&T>) -> Option<usize> {
    item.and_then(|x| items.iter().position(|y| std::ptr::eq(x, y)))
}

/// `decide`'s decision as indexes into the table, to compare with [`naive_decide`].
pub fn decision_indexes(table: &RoutingTable, d: &Decision<'_>) -> NaiveDecision {
    NaiveDecision {
        product: index_of(table.products(), d.product).map(|i| i as ProductIdx),
        rule: index_of(table.rules(), d.rule),
        issuer: index_of(table.banks(), d.issuer).map(|i| i as BankIdx),
        step: d.step,
        response_code: d.response_code,
    }
}

#[cfg(test)]
mod tests {
    use routing_rules::Step;

    use super::*;

    const SMALL: Shape = Shape {
        banks: 30,
        products: 60,
        ranges: 3_000,
        rules: 60,
        seed: 7,
    };

    fn small() -> (String, RoutingTable) {
        let text = generate_config(&SMALL).unwrap();
        let (table, _warnings) = RoutingTable::from_toml(&text, "generated.toml").unwrap();
        (text, table)
    }

    #[test]
    fn generated_config_loads_with_every_count() {
        let (text, table) = small();
        assert_eq!(generate_config(&SMALL).unwrap(), text, "deterministic");
        assert_eq!(table.bins().ranges().len(), SMALL.ranges);
        assert_eq!(table.rules().len(), SMALL.rules);
        assert_eq!(table.products().len(), SMALL.products);
        assert_eq!(table.banks().len(), SMALL.banks);
        assert_eq!(table.regions().len(), REGIONS.len());
    }

    #[test]
    fn ranges_have_every_length_and_nest() {
        let (_, table) = small();
        let ranges = table.bins().ranges();
        for len in 6..=11u8 {
            assert!(ranges.iter().any(|r| r.len == len), "no {len}-digit range");
        }
        let inside = |inner: &routing_rules::bins::BinRange| {
            ranges.iter().any(|outer| {
                outer.len < inner.len && {
                    let scale = 10u64.pow(u32::from(inner.len - outer.len));
                    (outer.low..=outer.high).contains(&(inner.low / scale))
                }
            })
        };
        let nested = ranges.iter().filter(|r| inside(r)).count();
        assert!(
            nested > ranges.len() / 2,
            "{nested} nested of {}",
            ranges.len()
        );
        assert!(ranges
            .iter()
            .all(|r| r.low / 10u64.pow(u32::from(r.len) - 4) == NATIONAL_PREFIX));
    }

    #[test]
    fn naive_agrees_with_decide_and_traffic_is_mixed() {
        let (_, table) = small();
        let traffic = Traffic::generate(&table, 5_000, 11);
        let mut steps = std::collections::HashMap::new();
        for tx in traffic.transactions() {
            assert!(luhn_valid(tx.pan) && tx.pan.len() == 16);
            let d = table.decide(&tx);
            *steps.entry(d.step.name()).or_insert(0) += 1;
            assert_eq!(naive_decide(&table, &tx), decision_indexes(&table, &d));
        }
        for step in [Step::Bin, Step::Acquirer, Step::Rule, Step::Default] {
            let n = steps.get(step.name()).copied().unwrap_or(0);
            assert!(n > 50, "{step:?}: {steps:?}");
        }
    }

    #[test]
    fn rng_is_uniform_enough() {
        let mut rng = Rng::new(1);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[rng.index(10)] += 1;
        }
        // Expected 10,000 each, standard deviation about 95.
        assert!(
            counts.iter().all(|&c| (9_600..10_400).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(rng.sample(&[1, 2, 3], 5).len(), 3);
        assert_eq!(Rng::new(0).below(0), 0);
    }
}
