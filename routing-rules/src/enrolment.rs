//! `decide_enrolment`: may an app enrol this card (get a token for it), and which
//! bank verifies the account?
//!
//! Checks: the PAN (14), the BIN table (15; a number in a token range is 14), the
//! app (96: not configured), then the *enrolment rules* only: those that name `app`,
//! `app_not` or `issuer_joined_app` and whose other conditions are about the card or
//! the channel (issuer, product, category, channel), with the channel taken as
//! `wallet-qr`. Other rules (acquirer, amount, transaction type, ...) depend on a
//! payment that has not happened yet and are skipped. No match: route the account
//! verification to the card's issuer. Not on the hot path: one walk over the rules.

use codecs::ResponseCode;

use crate::apps::{AppIdx, Channel};
use crate::decide::{Decision, Explanation, Step};
use crate::rules::{Cond, Facts, Rule};
use crate::table::RoutingTable;
use crate::trace::{NoTrace, Tracer};

impl Rule {
    /// Whether the rule takes part in enrolment decisions (see the module docs).
    pub fn decides_enrolment(&self) -> bool {
        self.enrolment_skip_reason().is_none()
    }

    /// Why the rule takes no part in enrolment decisions, if it does not.
    pub(crate) fn enrolment_skip_reason(&self) -> Option<&'static str> {
        let names_app = |c: &Cond| matches!(c, Cond::App(_) | Cond::IssuerJoinedApp(_));
        let about_card_or_channel = |c: &Cond| {
            names_app(c)
                || matches!(
                    c,
                    Cond::Issuer(_) | Cond::Product(_) | Cond::Category(_) | Cond::Channel(_)
                )
        };
        if !self.conditions.iter().any(names_app) {
            Some("names no app condition")
        } else if !self.conditions.iter().all(about_card_or_channel) {
            Some("has conditions beyond the card, channel and app")
        } else {
            None
        }
    }
}

impl RoutingTable {
    /// Whether `app_id` may enrol the card `pan` (ASCII digits): a route (to the bank
    /// that verifies the account) or a decline with its code, step and rule.
    pub fn decide_enrolment<'t>(&'t self, pan: &[u8], app_id: &str) -> Decision<'t> {
        self.run_enrolment(pan, app_id, &mut NoTrace)
    }

    /// The same decision as [`decide_enrolment`](Self::decide_enrolment), with every
    /// check and rule considered (rules that do not take part are listed as skipped).
    /// PANs appear only masked.
    pub fn explain_enrolment<'t>(&'t self, pan: &[u8], app_id: &str) -> Explanation<'t> {
        let mut trace = Vec::new();
        let decision = self.run_enrolment(pan, app_id, &mut trace);
        Explanation {
            decision,
            trace,
            channel: Channel::WalletQr,
            app: Some(app_id.to_string()),
        }
    }

    fn run_enrolment<'t>(&'t self, pan: &[u8], app_id: &str, t: &mut impl Tracer) -> Decision<'t> {
        let (product_idx, product, card_issuer) = match self.card(pan, t) {
            Ok(card) => card,
            Err(declined) => return declined,
        };
        let app = self.app_index(app_id);
        let joined = app.map(|a| self.apps[a as usize].joined(product.issuer));
        self.trace_channel(t, Channel::WalletQr, Some(app_id), app, joined, card_issuer);
        let Some(app) = app else {
            return Decision::decline(Step::App, ResponseCode::SYSTEM_MALFUNCTION)
                .with_card(product, card_issuer);
        };
        let facts = Facts {
            issuer: product.issuer,
            product: product_idx,
            category: product.category,
            channel: Channel::WalletQr,
            app: Some(app as AppIdx),
            issuer_joined_app: joined,
            ..Facts::template()
        };
        let rule = self.first_rule_traced(&facts, t, Rule::enrolment_skip_reason);
        self.rule_decision(rule, product, card_issuer, t)
    }
}
