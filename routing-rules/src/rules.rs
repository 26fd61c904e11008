//! Rules: conditions, outcomes, and the bitset index that finds the first matching
//! rule without looking at every rule.
//!
//! Every condition except the amount comparisons depends on one *dimension* of the
//! transaction whose values are few and known at load time: the acquirer (bank,
//! region, region kind), the card product (issuer, product, category), the
//! *context* (home region relation, channel, app and whether the card's issuer
//! joined it), the transaction type, the MTI class and the currency. For each value
//! of each dimension the index holds the set of rules whose conditions on that
//! dimension hold. A decision ANDs six bitsets and checks the amount conditions of
//! the candidates in order. The channel and app share the home relation's bitsets
//! (one per combination) so that they cost a card transaction no seventh AND.

use rust_decimal::Decimal;

use crate::apps::{AppIdx, Channel};
use crate::fast::rule_amount_bounds;
use crate::model::{BankIdx, CategoryIdx, ProductIdx, RegionIdx, RegionKind};
use codecs::ResponseCode;

/// Card's home region compared with the acquirer's region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HomeRelation {
    /// The product's home region is the acquirer's region.
    Same,
    /// The product has a home region and the acquirer is elsewhere.
    Different,
    /// The product has no home region.
    None,
}

impl HomeRelation {
    /// Parse the configuration name.
    pub fn from_name(name: &str) -> Option<HomeRelation> {
        match name {
            "same" => Some(HomeRelation::Same),
            "different" => Some(HomeRelation::Different),
            "none" => Some(HomeRelation::None),
            _ => None,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            HomeRelation::Same => "same",
            HomeRelation::Different => "different",
            HomeRelation::None => "none",
        }
    }
}

/// A value list, held or negated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListCond<T> {
    /// The listed values.
    pub values: Vec<T>,
    /// True for `*_not`: holds when the value is not listed.
    pub negated: bool,
}

impl<T: PartialEq> ListCond<T> {
    fn holds(&self, v: &T) -> bool {
        self.values.contains(v) != self.negated
    }
}

/// Amount comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `amount_gt`
    Gt,
    /// `amount_ge`
    Ge,
    /// `amount_lt`
    Lt,
    /// `amount_le`
    Le,
}

/// One condition of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// The acquiring bank.
    Acquirer(ListCond<BankIdx>),
    /// The acquirer's region.
    AcquirerRegion(ListCond<RegionIdx>),
    /// The kind of the acquirer's region.
    AcquirerRegionKind(ListCond<RegionKind>),
    /// The card's issuer.
    Issuer(ListCond<BankIdx>),
    /// The card product.
    Product(ListCond<ProductIdx>),
    /// The product's category.
    Category(ListCond<CategoryIdx>),
    /// Home region relation.
    HomeRegion(HomeRelation),
    /// Transaction type (first two processing-code digits; None when not numeric).
    Transaction(ListCond<Option<u8>>),
    /// MTI class digit.
    MtiClass(ListCond<u8>),
    /// Transaction currency.
    Currency(ListCond<u16>),
    /// Amount comparison in major units.
    Amount(Cmp, Decimal),
    /// The channel.
    Channel(ListCond<Channel>),
    /// The app (a transaction without one is in no list).
    App(ListCond<AppIdx>),
    /// Whether the card's issuer joined the app (never holds without an app).
    IssuerJoinedApp(bool),
}

/// What is known about a transaction when the rules run.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    /// Acquiring bank.
    pub acquirer: BankIdx,
    /// Acquirer's region.
    pub acquirer_region: RegionIdx,
    /// Kind of that region.
    pub acquirer_region_kind: RegionKind,
    /// Card issuer.
    pub issuer: BankIdx,
    /// Card product.
    pub product: ProductIdx,
    /// Product category.
    pub category: CategoryIdx,
    /// Home region relation.
    pub home: HomeRelation,
    /// Transaction type.
    pub transaction: Option<u8>,
    /// MTI class digit.
    pub mti_class: u8,
    /// Currency.
    pub currency: u16,
    /// Amount in major units.
    pub amount: Decimal,
    /// How the transaction came.
    pub channel: Channel,
    /// The app, if the transaction came through one.
    pub app: Option<AppIdx>,
    /// With an app: whether the card's issuer joined it.
    pub issuer_joined_app: Option<bool>,
}

impl Facts {
    /// Facts with every field at a fixed value: a base for the facts of one
    /// dimension (the index) or of the card alone (enrolment).
    pub(crate) fn template() -> Facts {
        Facts {
            acquirer: 0,
            acquirer_region: 0,
            acquirer_region_kind: RegionKind::Other,
            issuer: 0,
            product: 0,
            category: 0,
            home: HomeRelation::None,
            transaction: None,
            mti_class: 0,
            currency: 0,
            amount: Decimal::ZERO,
            channel: Channel::Terminal,
            app: None,
            issuer_joined_app: None,
        }
    }
}

/// The dimensions the index is built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dim {
    Acquirer,
    Product,
    Context,
    Transaction,
    MtiClass,
    Currency,
    Amount,
}

impl Cond {
    fn dim(&self) -> Dim {
        match self {
            Cond::Acquirer(_) | Cond::AcquirerRegion(_) | Cond::AcquirerRegionKind(_) => {
                Dim::Acquirer
            }
            Cond::Issuer(_) | Cond::Product(_) | Cond::Category(_) => Dim::Product,
            Cond::HomeRegion(_) | Cond::Channel(_) | Cond::App(_) | Cond::IssuerJoinedApp(_) => {
                Dim::Context
            }
            Cond::Transaction(_) => Dim::Transaction,
            Cond::MtiClass(_) => Dim::MtiClass,
            Cond::Currency(_) => Dim::Currency,
            Cond::Amount(..) => Dim::Amount,
        }
    }

    /// Whether the condition holds for `f`.
    pub fn holds(&self, f: &Facts) -> bool {
        match self {
            Cond::Acquirer(c) => c.holds(&f.acquirer),
            Cond::AcquirerRegion(c) => c.holds(&f.acquirer_region),
            Cond::AcquirerRegionKind(c) => c.holds(&f.acquirer_region_kind),
            Cond::Issuer(c) => c.holds(&f.issuer),
            Cond::Product(c) => c.holds(&f.product),
            Cond::Category(c) => c.holds(&f.category),
            Cond::HomeRegion(h) => f.home == *h,
            Cond::Transaction(c) => c.holds(&f.transaction),
            Cond::MtiClass(c) => c.holds(&f.mti_class),
            Cond::Currency(c) => c.holds(&f.currency),
            Cond::Amount(cmp, v) => match cmp {
                Cmp::Gt => f.amount > *v,
                Cmp::Ge => f.amount >= *v,
                Cmp::Lt => f.amount < *v,
                Cmp::Le => f.amount <= *v,
            },
            Cond::Channel(c) => c.holds(&f.channel),
            Cond::App(c) => match f.app {
                Some(app) => c.holds(&app),
                None => c.negated,
            },
            Cond::IssuerJoinedApp(joined) => f.issuer_joined_app == Some(*joined),
        }
    }
}

/// What a rule does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Route to the card's issuer.
    Route,
    /// Route to another bank.
    RouteTo(BankIdx),
    /// Decline.
    Decline(ResponseCode),
}

/// A compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Identifier.
    pub id: String,
    /// What it is for.
    pub description: String,
    /// The file it came from.
    pub source: String,
    /// All must hold.
    pub conditions: Vec<Cond>,
    /// What it does.
    pub outcome: Outcome,
}

impl Rule {
    /// Whether every condition holds.
    pub fn matches(&self, f: &Facts) -> bool {
        self.conditions.iter().all(|c| c.holds(f))
    }

    /// The amount interval the rule accepts: (lower, upper) bounds, each a value and
    /// whether it is inclusive; None is unbounded.
    fn amount_interval(&self) -> (Option<Bound>, Option<Bound>) {
        let mut lo: Option<(Decimal, bool)> = None;
        let mut hi: Option<(Decimal, bool)> = None;
        for c in &self.conditions {
            if let Cond::Amount(cmp, v) = c {
                match cmp {
                    Cmp::Gt | Cmp::Ge => {
                        let b = (*v, *cmp == Cmp::Ge);
                        lo = Some(match lo {
                            Some(old) if old.0 > b.0 || (old.0 == b.0 && !old.1) => old,
                            _ => b,
                        });
                    }
                    Cmp::Lt | Cmp::Le => {
                        let b = (*v, *cmp == Cmp::Le);
                        hi = Some(match hi {
                            Some(old) if old.0 < b.0 || (old.0 == b.0 && !old.1) => old,
                            _ => b,
                        });
                    }
                }
            }
        }
        (lo, hi)
    }
}

/// One end of an amount interval: the value, and whether it is included.
type Bound = (Decimal, bool);

/// Sets of rules, one per value of each dimension.
#[derive(Clone, Debug, Default)]
pub struct RuleIndex {
    words: usize,
    acquirer: Vec<u64>,
    product: Vec<u64>,
    /// Per [`RuleIndex::context`] slot: home relation x channel x app state.
    context: Vec<u64>,
    /// App states: no app, then per app "its issuer joined" and "did not join".
    app_states: usize,
    transaction: Vec<u64>,
    mti_class: Vec<u64>,
    /// Currencies with their own bitset; any other uses the last slot.
    currencies: Vec<u16>,
    currency: Vec<u64>,
    /// Rules with amount conditions (the rest match as soon as they are candidates).
    has_amount: Vec<u64>,
    /// Per rule, the amount interval its conditions accept (all unbounded for rules
    /// without amount conditions), so candidates are checked without walking them.
    amounts: Vec<(Option<Bound>, Option<Bound>)>,
    /// Per rule, the same interval as inclusive bounds in integer minor units
    /// ([`crate::fast`]); `(i64::MIN, i64::MAX)` for rules without amount conditions.
    amount_minor: Vec<(i64, i64)>,
}

/// What the index needs to know about the table's entities.
pub struct Domains<'a> {
    /// Per bank: its region and region kind.
    pub banks: &'a [(RegionIdx, RegionKind)],
    /// Per product: issuer and category.
    pub products: &'a [(BankIdx, CategoryIdx)],
    /// Currencies worth a bitset of their own.
    pub currencies: Vec<u16>,
    /// Number of apps.
    pub apps: usize,
}

/// Transaction types 00-99, plus one slot for a non-numeric processing code.
const TRANSACTION_SLOTS: usize = 101;

impl RuleIndex {
    /// Build the index for `rules` over the given domains.
    pub fn build(rules: &[Rule], d: &Domains<'_>) -> RuleIndex {
        let words = rules.len().div_ceil(64).max(1);
        let set_for = |dim: Dim, facts: &Facts, out: &mut Vec<u64>| {
            let start = out.len();
            out.resize(start + words, 0);
            for (i, r) in rules.iter().enumerate() {
                let ok = r
                    .conditions
                    .iter()
                    .filter(|c| c.dim() == dim)
                    .all(|c| c.holds(facts));
                if ok {
                    out[start + i / 64] |= 1 << (i % 64);
                }
            }
        };
        let mut ix = RuleIndex {
            words,
            app_states: 1 + 2 * d.apps,
            ..RuleIndex::default()
        };
        for (b, &(region, kind)) in d.banks.iter().enumerate() {
            let f = Facts {
                acquirer: b as BankIdx,
                acquirer_region: region,
                acquirer_region_kind: kind,
                ..Facts::template()
            };
            set_for(Dim::Acquirer, &f, &mut ix.acquirer);
        }
        for (p, &(issuer, category)) in d.products.iter().enumerate() {
            let f = Facts {
                product: p as ProductIdx,
                issuer,
                category,
                ..Facts::template()
            };
            set_for(Dim::Product, &f, &mut ix.product);
        }
        // In slot order (see `context`): home, then channel, then app state.
        for home in [
            HomeRelation::Same,
            HomeRelation::Different,
            HomeRelation::None,
        ] {
            for channel in Channel::ALL {
                for state in 0..ix.app_states {
                    let (app, issuer_joined_app) = match state.checked_sub(1) {
                        None => (None, None),
                        Some(s) => (Some((s / 2) as AppIdx), Some(s % 2 == 0)),
                    };
                    let f = Facts {
                        home,
                        channel,
                        app,
                        issuer_joined_app,
                        ..Facts::template()
                    };
                    set_for(Dim::Context, &f, &mut ix.context);
                }
            }
        }
        for t in 0..TRANSACTION_SLOTS {
            let transaction = (t < 100).then_some(t as u8);
            set_for(
                Dim::Transaction,
                &Facts {
                    transaction,
                    ..Facts::template()
                },
                &mut ix.transaction,
            );
        }
        for m in 0..10u8 {
            set_for(
                Dim::MtiClass,
                &Facts {
                    mti_class: m,
                    ..Facts::template()
                },
                &mut ix.mti_class,
            );
        }
        ix.currencies = d.currencies.clone();
        ix.currencies.sort_unstable();
        ix.currencies.dedup();
        // The "any other currency" slot: a value no rule can list.
        let others = ix
            .currencies
            .iter()
            .copied()
            .chain([u16::MAX])
            .collect::<Vec<_>>();
        for c in others {
            set_for(
                Dim::Currency,
                &Facts {
                    currency: c,
                    ..Facts::template()
                },
                &mut ix.currency,
            );
        }
        ix.amounts = rules
            .iter()
            .map(|r| {
                let (lo, hi) = r.amount_interval();
                (lo.map(at_minor_scale), hi.map(at_minor_scale))
            })
            .collect();
        ix.amount_minor = rules.iter().map(rule_amount_bounds).collect();
        ix.has_amount = vec![0; words];
        for (i, r) in rules.iter().enumerate() {
            if r.conditions.iter().any(|c| c.dim() == Dim::Amount) {
                ix.has_amount[i / 64] |= 1 << (i % 64);
            }
        }
        ix
    }

    fn slice<'a>(&self, v: &'a [u64], slot: usize) -> &'a [u64] {
        &v[slot * self.words..(slot + 1) * self.words]
    }

    /// The context slot of a transaction: its home relation, channel, and app with
    /// whether the card's issuer joined it.
    #[inline]
    pub(crate) fn context(
        &self,
        home: HomeRelation,
        channel: Channel,
        app: Option<(AppIdx, bool)>,
    ) -> usize {
        let state = app.map_or(0, |(a, joined)| 1 + 2 * a as usize + usize::from(!joined));
        (home.index() * Channel::ALL.len() + channel.index()) * self.app_states + state
    }

    /// The first rule (index) matching `f`, without allocating.
    #[inline]
    pub fn first_match(&self, f: &Facts) -> Option<usize> {
        let cur_slot = match self.currencies.binary_search(&f.currency) {
            Ok(i) => i,
            Err(_) => self.currencies.len(),
        };
        let t_slot = f.transaction.map_or(100, usize::from);
        let app = f.app.zip(f.issuer_joined_app);
        let a = self.slice(&self.acquirer, f.acquirer as usize);
        let p = self.slice(&self.product, f.product as usize);
        let h = self.slice(&self.context, self.context(f.home, f.channel, app));
        let t = self.slice(&self.transaction, t_slot);
        let m = self.slice(&self.mti_class, f.mti_class as usize);
        let c = self.slice(&self.currency, cur_slot);
        for w in 0..self.words {
            let mut bits = a[w] & p[w] & h[w] & t[w] & m[w] & c[w];
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let i = w * 64 + bit;
                if self.has_amount[w] & (1 << bit) == 0 || self.amount_within(i, f.amount) {
                    return Some(i);
                }
            }
        }
        None
    }

    /// The first rule (index) matching, with the amount in integer minor units
    /// ([`crate::fast::minor_units`]): the same answer as [`first_match`](Self::first_match)
    /// on the same facts.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn first_match_minor(
        &self,
        acquirer: BankIdx,
        product: ProductIdx,
        context: usize,
        transaction: Option<u8>,
        mti_class: u8,
        currency: u16,
        amount: i64,
    ) -> Option<usize> {
        let cur_slot = match self.currencies.binary_search(&currency) {
            Ok(i) => i,
            Err(_) => self.currencies.len(),
        };
        let t_slot = transaction.map_or(100, usize::from);
        fn set(v: &[u64], slot: usize, n: usize) -> Option<&[u64]> {
            v.get(slot * n..slot * n + n)
        }
        let n = self.words;
        let a = set(&self.acquirer, acquirer as usize, n)?;
        let p = set(&self.product, product as usize, n)?;
        let h = set(&self.context, context, n)?;
        let t = set(&self.transaction, t_slot, n)?;
        let m = set(&self.mti_class, mti_class as usize, n)?;
        let c = set(&self.currency, cur_slot, n)?;
        let words = a.iter().zip(p).zip(h).zip(t).zip(m).zip(c);
        for (w, (((((a, p), h), t), m), c)) in words.enumerate() {
            let mut bits = a & p & h & t & m & c;
            while bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let (lo, hi) = self.amount_minor.get(i).copied()?;
                if lo <= amount && amount <= hi {
                    return Some(i);
                }
            }
        }
        None
    }

    /// Whether `amount` is inside rule `i`'s amount interval.
    #[inline]
    fn amount_within(&self, i: usize, amount: Decimal) -> bool {
        let Some((lo, hi)) = self.amounts.get(i) else {
            return false;
        };
        let above = lo.is_none_or(|(v, inclusive)| amount > v || (inclusive && amount == v));
        let below = hi.is_none_or(|(v, inclusive)| amount < v || (inclusive && amount == v));
        above && below
    }

    /// Bytes used by the index.
    pub fn heap_bytes(&self) -> usize {
        8 * (self.acquirer.len()
            + self.product.len()
            + self.context.len()
            + self.transaction.len()
            + self.mti_class.len()
            + self.currency.len()
            + self.has_amount.len())
            + self.amounts.len() * std::mem::size_of::<(Option<Bound>, Option<Bound>)>()
            + self.amount_minor.len() * std::mem::size_of::<(i64, i64)>()
    }

    /// Whether every transaction that `later` matches is matched by `earlier` (so
    /// `later` can never decide). Dimensions are checked independently, which can
    /// miss some shadowing but never reports a false one.
    pub fn shadows(&self, rules: &[Rule], earlier: usize, later: usize) -> bool {
        let bit =
            |v: &[u64], slot: usize, r: usize| v[slot * self.words + r / 64] & (1 << (r % 64)) != 0;
        let dims: [(&Vec<u64>, usize); 6] = [
            (&self.acquirer, self.acquirer.len() / self.words),
            (&self.product, self.product.len() / self.words),
            (&self.context, self.context.len() / self.words),
            (&self.transaction, TRANSACTION_SLOTS),
            (&self.mti_class, 10),
            (&self.currency, self.currency.len() / self.words),
        ];
        let sets_contained = dims
            .iter()
            .all(|(v, slots)| (0..*slots).all(|s| !bit(v, s, later) || bit(v, s, earlier)));
        sets_contained && amount_contains(&rules[earlier], &rules[later])
    }
}

/// A bound with at least two decimals (exactly the same value): amounts in messages
/// have their currency's decimals (two for most), and comparing decimals of equal
/// scale skips a rescaling on every comparison.
fn at_minor_scale((mut value, inclusive): Bound) -> Bound {
    if value.scale() < 2 {
        value.rescale(2);
    }
    (value, inclusive)
}

/// Whether `outer`'s amount interval contains `inner`'s.
fn amount_contains(outer: &Rule, inner: &Rule) -> bool {
    let (olo, ohi) = outer.amount_interval();
    let (ilo, ihi) = inner.amount_interval();
    let lo_ok = match (olo, ilo) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((o, oinc)), Some((i, iinc))) => o < i || (o == i && (oinc || !iinc)),
    };
    let hi_ok = match (ohi, ihi) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((o, oinc)), Some((i, iinc))) => o > i || (o == i && (oinc || !iinc)),
    };
    lo_ok && hi_ok
}
