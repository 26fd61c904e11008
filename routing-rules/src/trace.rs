//! The traced building blocks of `explain` and `decide_enrolment`: each check
//! reports what it saw to a [`Tracer`] (a JSON trace when explaining, nothing when
//! deciding), so the explained decision is the decided one. `decide`'s integer fast
//! path does not use them.

use codecs::mask::mask_pan;
use codecs::{luhn::luhn_valid, ResponseCode};
use serde_json::{json, Value};

use crate::apps::{AppIdx, Channel};
use crate::decide::{Decision, Step, Verdict, PAN_LENGTHS};
use crate::model::{Bank, Product, ProductIdx};
use crate::rules::{Cmp, Cond, Facts, Outcome, Rule};
use crate::table::RoutingTable;

/// Records the trace when explaining; does nothing when deciding.
pub(crate) trait Tracer {
    fn check(&mut self, step: Step, ok: bool, detail: impl FnOnce() -> String);
    fn rule(&mut self, rule: &Rule, matched: bool, detail: impl FnOnce() -> String);
}

pub(crate) struct NoTrace;

impl Tracer for NoTrace {
    #[inline]
    fn check(&mut self, _: Step, _: bool, _: impl FnOnce() -> String) {}
    #[inline]
    fn rule(&mut self, _: &Rule, _: bool, _: impl FnOnce() -> String) {}
}

impl Tracer for Vec<Value> {
    fn check(&mut self, step: Step, ok: bool, detail: impl FnOnce() -> String) {
        self.push(json!({"check": step.name(), "ok": ok, "detail": detail()}));
    }
    fn rule(&mut self, rule: &Rule, matched: bool, detail: impl FnOnce() -> String) {
        self.push(json!({"rule": rule.id, "matched": matched, "detail": detail()}));
    }
}

impl RoutingTable {
    /// The PAN and BIN checks, traced: the card's product (index and entry) and
    /// issuer, or the decline.
    pub(crate) fn card<'t>(
        &'t self,
        pan: &[u8],
        t: &mut impl Tracer,
    ) -> Result<(ProductIdx, &'t Product, &'t Bank), Decision<'t>> {
        let pan_ok = PAN_LENGTHS.contains(&pan.len()) && luhn_valid(pan);
        t.check(Step::Pan, pan_ok, || {
            format!(
                "{}: {} digits, Luhn {}",
                mask_pan(pan),
                pan.len(),
                if luhn_valid(pan) { "ok" } else { "failed" }
            )
        });
        if !pan_ok {
            return Err(Decision::decline(
                Step::Pan,
                ResponseCode::INVALID_CARD_NUMBER,
            ));
        }
        let Some(product_idx) = self.bins.lookup_product(pan) else {
            let code = self.no_card_code(pan);
            t.check(Step::Bin, false, || {
                if code == ResponseCode::INVALID_CARD_NUMBER {
                    "token range: not a card".into()
                } else {
                    "no BIN range matches".into()
                }
            });
            return Err(Decision::decline(Step::Bin, code));
        };
        let product = &self.products[product_idx as usize];
        let card_issuer = &self.banks[product.issuer as usize];
        t.check(Step::Bin, true, || match self.bins.lookup(pan) {
            Some(range) => {
                let w = range.len as usize;
                format!(
                    "range {:0w$}-{:0w$} ({} digits): product {}, issuer {}",
                    range.low, range.high, range.len, product.id, card_issuer.id
                )
            }
            None => format!("product {}, issuer {}", product.id, card_issuer.id),
        });
        Ok((product_idx, product, card_issuer))
    }

    /// The trace's channel line: the channel, and the app with whether the card's
    /// issuer joined it (or that the app is unknown).
    pub(crate) fn trace_channel(
        &self,
        t: &mut impl Tracer,
        channel: Channel,
        app_id: Option<&str>,
        app: Option<AppIdx>,
        joined: Option<bool>,
        card_issuer: &Bank,
    ) {
        let known = app_id.is_none() || app.is_some();
        let step = if known { Step::Channel } else { Step::App };
        t.check(step, known, || match (app_id, app) {
            (None, _) => format!("{}, no app", channel.name()),
            (Some(id), None) => format!("{}, app {id:?} is not configured", channel.name()),
            (Some(_), Some(a)) => {
                let app = &self.apps[a as usize];
                let has = if joined == Some(true) {
                    "joined"
                } else {
                    "has not joined"
                };
                let named = if app.name.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", app.name)
                };
                format!(
                    "{}, app {}{named}: issuer {} {has} it",
                    channel.name(),
                    app.id,
                    card_issuer.id
                )
            }
        });
    }

    /// The first matching rule (index) among those `skip` gives no reason to skip,
    /// walking every rule for the trace (skipped ones are listed with the reason).
    pub(crate) fn first_rule_traced(
        &self,
        facts: &Facts,
        t: &mut impl Tracer,
        skip: impl Fn(&Rule) -> Option<&'static str>,
    ) -> Option<usize> {
        let mut first = None;
        for (i, rule) in self.rules.iter().enumerate() {
            if let Some(reason) = skip(rule) {
                t.rule(rule, false, || format!("skipped: {reason}"));
                continue;
            }
            let failed = rule.conditions.iter().find(|c| !c.holds(facts));
            let matched = failed.is_none() && first.is_none();
            t.rule(rule, failed.is_none(), || match failed {
                Some(c) => format!("not matched: {}", self.describe(c, facts)),
                None if matched => "matched: decides".into(),
                None => "matched, but an earlier rule decided".into(),
            });
            if matched {
                first = Some(i);
            }
        }
        first
    }

    /// What the deciding rule (or none: the default) makes of the card: a decline,
    /// or a route to the rule's bank or the card's issuer.
    pub(crate) fn rule_decision<'t>(
        &'t self,
        matched: Option<usize>,
        product: &'t Product,
        card_issuer: &'t Bank,
        t: &mut impl Tracer,
    ) -> Decision<'t> {
        let rule = matched.and_then(|i| self.rules.get(i));
        let mut d = Decision::route(card_issuer, product, rule);
        match rule.map(|r| &r.outcome) {
            Some(Outcome::Decline(rc)) => {
                d.verdict = Verdict::Decline;
                d.response_code = Some(*rc);
            }
            Some(Outcome::RouteTo(b)) => d.issuer = self.banks.get(*b as usize),
            Some(Outcome::Route) => {}
            None => t.check(Step::Default, true, || {
                format!("no rule matched: route to issuer {}", card_issuer.id)
            }),
        }
        d
    }

    /// Why a condition failed, in operator terms.
    fn describe(&self, c: &Cond, f: &Facts) -> String {
        let bank = |i: u16| self.banks[i as usize].id.clone();
        let region = |i: u16| self.regions[i as usize].id.clone();
        let product = |i: u16| self.products[i as usize].id.clone();
        let category = |i: u16| self.category_name(i).to_string();
        let app = |i: u16| self.apps[i as usize].id.clone();
        fn show<T>(
            key: &str,
            value: String,
            l: &crate::rules::ListCond<T>,
            name: impl Fn(&T) -> String,
        ) -> String {
            let list: Vec<String> = l.values.iter().map(name).collect();
            let rel = if l.negated { "in" } else { "not in" };
            let key = if l.negated {
                format!("{key}_not")
            } else {
                key.to_string()
            };
            format!("{key}: {value} {rel} [{}]", list.join(", "))
        }
        match c {
            Cond::Acquirer(l) => show("acquirer", bank(f.acquirer), l, |&b| bank(b)),
            Cond::AcquirerRegion(l) => {
                show("acquirer_region", region(f.acquirer_region), l, |&r| {
                    region(r)
                })
            }
            Cond::AcquirerRegionKind(l) => show(
                "acquirer_region_kind",
                f.acquirer_region_kind.name().into(),
                l,
                |k| k.name().into(),
            ),
            Cond::Issuer(l) => show("issuer", bank(f.issuer), l, |&b| bank(b)),
            Cond::Product(l) => show("product", product(f.product), l, |&p| product(p)),
            Cond::Category(l) => show("category", category(f.category), l, |&c| category(c)),
            Cond::HomeRegion(h) => format!("home_region: {} is not {}", f.home.name(), h.name()),
            Cond::Transaction(l) => {
                let t = |t: &Option<u8>| t.map_or("non-numeric".into(), |t| format!("{t:02}"));
                show("transaction", t(&f.transaction), l, t)
            }
            Cond::MtiClass(l) => show("mti_class", f.mti_class.to_string(), l, u8::to_string),
            Cond::Currency(l) => show("currency", format!("{:03}", f.currency), l, |c| {
                format!("{c:03}")
            }),
            Cond::Amount(cmp, v) => {
                let (key, op) = match cmp {
                    Cmp::Gt => ("amount_gt", ">"),
                    Cmp::Ge => ("amount_ge", ">="),
                    Cmp::Lt => ("amount_lt", "<"),
                    Cmp::Le => ("amount_le", "<="),
                };
                format!("{key}: amount {} is not {op} {v}", f.amount)
            }
            Cond::Channel(l) => show("channel", f.channel.name().into(), l, |c| c.name().into()),
            Cond::App(l) => {
                let value = f.app.map_or_else(|| "no app".into(), app);
                show("app", value, l, |&a| app(a))
            }
            Cond::IssuerJoinedApp(want) => match (f.app, f.issuer_joined_app) {
                (Some(a), Some(joined)) => format!(
                    "issuer_joined_app: issuer {} {} app {}, not {want}",
                    bank(f.issuer),
                    if joined { "joined" } else { "did not join" },
                    app(a)
                ),
                _ => "issuer_joined_app: no app".into(),
            },
        }
    }
}
