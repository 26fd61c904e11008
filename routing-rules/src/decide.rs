//! `decide` (the switch's hot path, allocation-free) and `explain` (the same
//! decision with every check and rule considered, for operators).
//!
//! Order of checks: the PAN (14), the BIN table (15; a number in a token range is a
//! token the switch did not swap for its card: 14), the acquirer (31), the app (96
//! when the transaction names one the table does not know), then the rules in order
//! (first match wins). A transaction no rule declines is routed (to the rule's bank,
//! or by default to the card's issuer) once it passes the card product's own
//! currencies (57) and per-transaction limits (61).

use codecs::{luhn::luhn_valid, Mti, ResponseCode};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::apps::Channel;
use crate::fast::{limit_slot, minor_units};
use crate::model::{Bank, Product};
use crate::rules::{Facts, HomeRelation, Outcome, Rule};
use crate::table::RoutingTable;
use crate::trace::{NoTrace, Tracer};

/// PAN lengths the network issues.
pub const PAN_LENGTHS: std::ops::RangeInclusive<usize> = 16..=19;

/// What the switch knows of a request when it routes it.
#[derive(Clone, Copy, Debug)]
pub struct Transaction<'a> {
    /// Field 2 (ASCII digits).
    pub pan: &'a [u8],
    /// Field 32, the acquiring institution id.
    pub acquirer: &'a [u8],
    /// The message type.
    pub mti: Mti,
    /// Field 3 (six digits; anything else counts as an unknown transaction type).
    pub processing_code: &'a [u8],
    /// Field 4 in major units of `currency`.
    pub amount: Decimal,
    /// Field 49, ISO 4217 numeric.
    pub currency: u16,
    /// How the transaction came (cards at terminals: [`Channel::Terminal`]).
    pub channel: Channel,
    /// The app's id, for a payment through an app (the token's app).
    pub app: Option<&'a str>,
}

impl Transaction<'_> {
    /// The first two processing-code digits, if numeric.
    pub fn transaction_type(&self) -> Option<u8> {
        match self.processing_code {
            [a, b, ..] if a.is_ascii_digit() && b.is_ascii_digit() => {
                Some((a - b'0') * 10 + (b - b'0'))
            }
            _ => None,
        }
    }
}

/// Which check decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The PAN failed its length or Luhn check.
    Pan,
    /// No BIN range matched.
    Bin,
    /// The acquirer is not a known acquiring bank.
    Acquirer,
    /// The transaction names an app the table does not know.
    App,
    /// The channel and app, as the rules see them (a trace line; never decides).
    Channel,
    /// The product does not allow the currency.
    ProductCurrency,
    /// The amount exceeds the product's limit.
    ProductLimit,
    /// A rule matched.
    Rule,
    /// No rule matched: route to the card's issuer.
    Default,
}

impl Step {
    /// Name used in traces.
    pub fn name(self) -> &'static str {
        match self {
            Step::Pan => "pan",
            Step::Bin => "bin",
            Step::Acquirer => "acquirer",
            Step::App => "app",
            Step::Channel => "channel",
            Step::ProductCurrency => "product-currency",
            Step::ProductLimit => "product-limit",
            Step::Rule => "rule",
            Step::Default => "default",
        }
    }
}

/// Route or decline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Forward to `Decision::issuer`.
    Route,
    /// Answer the acquirer with `Decision::response_code`.
    Decline,
}

/// The outcome of routing one transaction. Borrowed from the table: no allocation.
#[derive(Clone, Copy, Debug)]
pub struct Decision<'t> {
    /// Route or decline.
    pub verdict: Verdict,
    /// Where to route (for a decline: the card's issuer, when known).
    pub issuer: Option<&'t Bank>,
    /// The card product, when the BIN matched.
    pub product: Option<&'t Product>,
    /// The decline code.
    pub response_code: Option<ResponseCode>,
    /// The rule that decided, if a rule did.
    pub rule: Option<&'t Rule>,
    /// Which check decided.
    pub step: Step,
}

impl<'t> Decision<'t> {
    pub(crate) fn decline(step: Step, rc: ResponseCode) -> Self {
        Decision {
            verdict: Verdict::Decline,
            issuer: None,
            product: None,
            response_code: Some(rc),
            rule: None,
            step,
        }
    }

    /// Route to `issuer`, as `rule` (or, without one, the default) decided.
    #[inline]
    pub(crate) fn route(issuer: &'t Bank, product: &'t Product, rule: Option<&'t Rule>) -> Self {
        Decision {
            verdict: Verdict::Route,
            issuer: Some(issuer),
            product: Some(product),
            response_code: None,
            rule,
            step: if rule.is_some() {
                Step::Rule
            } else {
                Step::Default
            },
        }
    }

    /// The decision with the card's product and issuer (once the BIN matched).
    pub(crate) fn with_card(mut self, product: &'t Product, issuer: &'t Bank) -> Self {
        self.product = Some(product);
        self.issuer = Some(issuer);
        self
    }
}

/// A decision with the reasoning behind it.
#[derive(Clone, Debug)]
pub struct Explanation<'t> {
    /// The decision, identical to what `decide` returns.
    pub decision: Decision<'t>,
    /// Every check and rule considered, in order, as JSON objects.
    pub trace: Vec<Value>,
    /// The channel the transaction came by.
    pub channel: Channel,
    /// The app it named, if any (as given, known or not).
    pub app: Option<String>,
}

impl<'t> Explanation<'t> {
    /// The one-line JSON form printed by `routing-rules explain`.
    pub fn to_json(&self) -> Value {
        let d = &self.decision;
        json!({
            "decision": match d.verdict { Verdict::Route => "route", Verdict::Decline => "decline" },
            "issuer": d.issuer.map(|b| b.id.as_str()),
            "product": d.product.map(|p| p.id.as_str()),
            "response_code": d.response_code.map(|rc| rc.as_str().to_string()),
            "rule": d.rule.map(|r| r.id.as_str()),
            "channel": self.channel.name(),
            "app": self.app,
            "trace": self.trace,
        })
    }
}

impl RoutingTable {
    /// Route one transaction. Allocation-free.
    ///
    /// The same decision as [`explain`](Self::explain) (which walks every rule),
    /// taken from the compact tables of [`crate::fast`] with amounts as integer minor
    /// units; an amount that does not convert exactly goes the general way, with
    /// `Decimal` comparisons.
    #[inline]
    pub fn decide<'t>(&'t self, tx: &Transaction<'_>) -> Decision<'t> {
        match minor_units(&tx.amount) {
            Some(amount) => self.decide_minor(tx, amount),
            None => self.run(tx, &mut NoTrace, false),
        }
    }

    /// [`decide`](Self::decide) for an amount of `amount` minor units.
    fn decide_minor<'t>(&'t self, tx: &Transaction<'_>, amount: i64) -> Decision<'t> {
        // The BIN line first: its likely cache miss then overlaps the Luhn check
        // (its result is used only for a PAN that passes).
        let product = self.bins.lookup_product(tx.pan);
        if !(PAN_LENGTHS.contains(&tx.pan.len()) && luhn_valid(tx.pan)) {
            return Decision::decline(Step::Pan, ResponseCode::INVALID_CARD_NUMBER);
        }
        let card = product.and_then(|p| {
            let hot = self.hot.products.get(p as usize)?;
            Some((
                self.products.get(p as usize)?,
                hot,
                self.banks.get(hot.issuer as usize)?,
                p,
            ))
        });
        let Some((product, hot, card_issuer, product_idx)) = card else {
            return Decision::decline(Step::Bin, self.no_card_code(tx.pan));
        };
        let with_card = |d: Decision<'t>| d.with_card(product, card_issuer);
        let Some(acquirer) = self.hot.acquirer(tx.acquirer) else {
            return with_card(Decision::decline(
                Step::Acquirer,
                ResponseCode::BANK_NOT_SUPPORTED,
            ));
        };
        // A card at a terminal names no app: nothing to look up.
        let app = match tx.app {
            None => None,
            Some(id) => match self.app_index(id) {
                Some(a) => Some((a, self.apps[a as usize].joined(hot.issuer))),
                None => return with_card(Self::unknown_app()),
            },
        };
        let transaction = tx.transaction_type();
        let home = match hot.home_region {
            None => HomeRelation::None,
            Some(r) if r == acquirer.region => HomeRelation::Same,
            Some(_) => HomeRelation::Different,
        };
        let matched = self.index.first_match_minor(
            acquirer.bank,
            product_idx,
            self.index.context(home, tx.channel, app),
            transaction,
            tx.mti.as_bytes()[1].wrapping_sub(b'0'),
            tx.currency,
            amount,
        );
        let mut issuer = card_issuer;
        let mut rule = None;
        if let Some(i) = matched {
            rule = self.rules.get(i);
            match self.hot.outcomes.get(i) {
                Some(Outcome::Decline(rc)) => {
                    return with_card(Decision {
                        verdict: Verdict::Decline,
                        issuer: None,
                        product: None,
                        response_code: Some(*rc),
                        rule,
                        step: Step::Rule,
                    });
                }
                Some(Outcome::RouteTo(b)) => {
                    issuer = self.banks.get(*b as usize).unwrap_or(card_issuer);
                }
                Some(Outcome::Route) | None => {}
            }
        }
        // Routed: the card product's own currencies and limits still apply.
        let Some(currency) = self.hot.currency(hot, tx.currency) else {
            return with_card(Decision::decline(
                Step::ProductCurrency,
                ResponseCode::NOT_PERMITTED_CARDHOLDER,
            ));
        };
        if amount > currency.max[limit_slot(transaction)] {
            return with_card(Decision::decline(
                Step::ProductLimit,
                ResponseCode::EXCEEDS_AMOUNT_LIMIT,
            ));
        }
        Decision::route(issuer, product, rule)
    }

    /// The same decision as [`decide`](Self::decide), with every check and rule
    /// considered and why it did or did not match. PANs appear only masked.
    pub fn explain<'t>(&'t self, tx: &Transaction<'_>) -> Explanation<'t> {
        let mut trace = Vec::new();
        let decision = self.run(tx, &mut trace, true);
        Explanation {
            decision,
            trace,
            channel: tx.channel,
            app: tx.app.map(str::to_string),
        }
    }

    /// The decline code for a PAN that passed its own checks but no BIN range: a
    /// token (in a token range, never swapped for its card) is not a card number.
    #[cold]
    pub(crate) fn no_card_code(&self, pan: &[u8]) -> ResponseCode {
        if self.is_token(pan) {
            ResponseCode::INVALID_CARD_NUMBER
        } else {
            ResponseCode::NO_SUCH_ISSUER
        }
    }

    /// The decision for a transaction naming an app the table does not have (a
    /// table reloaded without it while its tokens live on).
    #[cold]
    pub(crate) fn unknown_app() -> Decision<'static> {
        Decision::decline(Step::App, ResponseCode::SYSTEM_MALFUNCTION)
    }

    fn run<'t>(
        &'t self,
        tx: &Transaction<'_>,
        t: &mut impl Tracer,
        explain_all: bool,
    ) -> Decision<'t> {
        let (product_idx, product, card_issuer) = match self.card(tx.pan, t) {
            Ok(card) => card,
            Err(declined) => return declined,
        };
        let with_card = |d: Decision<'t>| d.with_card(product, card_issuer);

        let acquirer = self
            .bank_index(tx.acquirer)
            .filter(|&i| self.banks[i as usize].acquirer);
        t.check(Step::Acquirer, acquirer.is_some(), || {
            let id = String::from_utf8_lossy(tx.acquirer);
            match self.bank_index(tx.acquirer) {
                None => format!("{id} is not a member bank"),
                Some(i) if acquirer.is_none() => format!(
                    "{id} ({}) has no acquirer role",
                    self.banks[i as usize].name
                ),
                Some(i) => {
                    let b = &self.banks[i as usize];
                    let r = &self.regions[b.region as usize];
                    format!("{id} ({}), region {} ({})", b.name, r.id, r.kind.name())
                }
            }
        });
        let Some(acquirer) = acquirer else {
            return with_card(Decision::decline(
                Step::Acquirer,
                ResponseCode::BANK_NOT_SUPPORTED,
            ));
        };

        let app = tx.app.and_then(|id| self.app_index(id));
        let joined = app.map(|a| self.apps[a as usize].joined(product.issuer));
        self.trace_channel(t, tx.channel, tx.app, app, joined, card_issuer);
        if tx.app.is_some() && app.is_none() {
            return with_card(Self::unknown_app());
        }

        let transaction = tx.transaction_type();
        let acq_bank = &self.banks[acquirer as usize];
        let home = match product.home_region {
            None => HomeRelation::None,
            Some(r) if r == acq_bank.region => HomeRelation::Same,
            Some(_) => HomeRelation::Different,
        };
        let facts = Facts {
            acquirer,
            acquirer_region: acq_bank.region,
            acquirer_region_kind: self.regions[acq_bank.region as usize].kind,
            issuer: product.issuer,
            product: product_idx,
            category: product.category,
            home,
            transaction,
            mti_class: tx.mti.as_bytes()[1] - b'0',
            currency: tx.currency,
            amount: tx.amount,
            channel: tx.channel,
            app,
            issuer_joined_app: joined,
        };
        let matched = if explain_all {
            self.first_rule_traced(&facts, t, |_| None)
        } else {
            self.index.first_match(&facts)
        };
        let d = self.rule_decision(matched, product, card_issuer, t);
        if d.verdict == Verdict::Decline {
            return d;
        }

        // Routed: the card product's own currencies and limits still apply.
        let currency_ok = product.currencies.contains(&tx.currency);
        t.check(Step::ProductCurrency, currency_ok, || {
            format!(
                "currency {:03}, product allows {:?}",
                tx.currency, product.currencies
            )
        });
        if !currency_ok {
            return with_card(Decision::decline(
                Step::ProductCurrency,
                ResponseCode::NOT_PERMITTED_CARDHOLDER,
            ));
        }
        let limit = product
            .limit_for(tx.currency)
            .and_then(|l| l.for_transaction(transaction));
        let within = limit.is_none_or(|max| tx.amount <= max);
        t.check(Step::ProductLimit, within, || match limit {
            Some(max) => format!("amount {} against limit {max}", tx.amount),
            None => "no limit for this currency and transaction type".into(),
        });
        if !within {
            return with_card(Decision::decline(
                Step::ProductLimit,
                ResponseCode::EXCEEDS_AMOUNT_LIMIT,
            ));
        }
        d
    }
}
