//! What `--compare channel` adds to a switch run: the rules both setups run on,
//! the switch's token API listener for one app, and the app's wallet enrolled
//! through it before the load.
//!
//! Both setups send purchases only ([`CHANNEL_MIX`]), so that the national
//! rules' app-channel declines of cash (`no-cash-by-app`) do not apply. QR
//! purchases are drawn by the acquirer simulator up to 2,000,000 KPW, twice the
//! rules' app purchase limit (`app-purchase-limit`, 61 above 1,000,000): the
//! runs use a copy of the national rules with that limit raised to the QR
//! draws' maximum ([`channel_rules`]). The rule is still there and evaluated on
//! every QR payment, it just never declines, so every payment of both setups
//! reaches the issuer (`*_issuer_share` checks it) and the comparison is of
//! forwarded payments, not of forwarded against declined ones. For the same
//! reason the wallet holds only cards whose product's purchase limit takes
//! every QR amount ([`takes_every_qr_amount`]: Morning Star debit, 2,000,000
//! KPW; the Hamhung payroll card's 1,000,000 would decline the larger ones 61).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use benches::loopback::{
    acquirer_options, national_rules, Load, CARDS_PER_RANGE, ISSUER_BANK, SEED,
};
use routing_rules::RoutingTable;
use rust_decimal::Decimal;
use simulators::acquirer::qr::{QrRun, WalletPart};
use simulators::acquirer::AcquirerOptions;
use simulators::cards::{Card, CardBase};
use simulators::wallet::{enrol, pick_cards, EnrolSummary, TokenApi, Wallet};

use crate::args::Options;
use crate::setup::{Payments, RulesCopy, SwitchSetup};

/// The transaction mix of both setups.
pub const CHANNEL_MIX: &str = "purchase=100";
/// The app whose wallet pays (it accepts the cards of every issuer).
pub const APP: &str = "koryo-pay";
/// The name of its token API listener in the switch's configuration.
pub const API_NAME: &str = "bench-app-api";
/// Cards of [`ISSUER_BANK`] the app enrols before each QR run (blocked and
/// expired ones are declined by the issuer and get no token).
pub const WALLET_CARDS: usize = 300;
/// The largest QR purchase the acquirer simulator draws, KPW.
const QR_MAX_KPW: u32 = 2_000_000;
/// KPW.
const KPW: u16 = 408;

/// The rule whose limit the runs raise, and its limit before and after.
const LIMIT_RULE: &str = "id = \"app-purchase-limit\"";
const LIMIT: &str = "amount_gt = \"1000000\"";
const RAISED_LIMIT: &str = "amount_gt = \"2000000\""; // QR_MAX_KPW

/// The national rules with the app purchase limit raised (see the module
/// docs), for this process's runs.
pub fn channel_rules() -> Result<RulesCopy, String> {
    RulesCopy::write("rules", raise_app_limit)
}

/// `rules` with the limit of `app-purchase-limit` raised; an error if the rule
/// or its limit is not where it was (the benchmark would then measure declines).
fn raise_app_limit(rules: &str) -> Result<String, String> {
    let at = rules
        .find(LIMIT_RULE)
        .ok_or("the national rules have no app-purchase-limit rule")?;
    // The limit of that rule: before the next rule starts.
    let rule_end = rules[at..].find("[[rule]]").map_or(rules.len(), |n| at + n);
    let limit = rules[at..rule_end]
        .find(LIMIT)
        .map(|n| at + n)
        .ok_or("app-purchase-limit is no longer 1,000,000 KPW: update switch-compare")?;
    Ok(format!(
        "{}{RAISED_LIMIT}{}",
        &rules[..limit],
        &rules[limit + LIMIT.len()..]
    ))
}

/// The `[[token_api]]` of the QR setup: plain TCP on loopback at `address`
/// (port 0 in this process; a free port chosen for a child switch).
pub fn token_api_config(address: SocketAddr) -> String {
    format!("\n[[token_api]]\nname = \"{API_NAME}\"\napp = \"{APP}\"\naddress = \"{address}\"\n")
}

/// A switch configuration text (from [`benches::loopback::switch_config`]) on
/// `rules` instead of the national rules.
pub fn on_rules(text: &str, rules: &Path) -> Result<String, String> {
    let national = national_rules().display().to_string();
    if !text.contains(&national) {
        return Err("the benchmark's configuration does not name the national rules".into());
    }
    Ok(text.replace(&national, &rules.display().to_string()))
}

/// The acquirer's options for a channel run against the switch at `addr`, and
/// for QR the wallet it pays with, enrolled through the token API at `api`.
pub async fn channel_load(
    setup: &SwitchSetup,
    addr: SocketAddr,
    api: Option<SocketAddr>,
    load: Load,
    o: &Options,
    table: &RoutingTable,
) -> Result<ChannelLoad, String> {
    let mut options = acquirer_options(addr, load, o.secs)?;
    let (mut qr, mut enrolment) = (None, None);
    if let Some(mix) = setup.payments.mix() {
        options.mix = mix.parse()?;
    }
    if setup.payments == Payments::QrPurchases {
        let api = api.ok_or("the switch has no token API listener")?;
        let (wallet, summary) = enrol_wallet(api, table).await?;
        enrolment = Some(summary);
        // Every purchase by QR, from the whole wallet.
        qr = Some(QrRun {
            wallets: vec![wallet],
            share: 1.0,
            part: WalletPart::default(),
        });
    }
    Ok(ChannelLoad {
        options,
        qr,
        enrolment,
    })
}

/// What [`channel_load`] prepares.
pub struct ChannelLoad {
    pub options: AcquirerOptions,
    /// The QR payments (every purchase), for the QR setup.
    pub qr: Option<QrRun>,
    pub enrolment: Option<EnrolSummary>,
}

/// Whether `card`'s product lets a purchase of any QR amount through (no
/// KPW purchase limit, or one of at least [`QR_MAX_KPW`]).
fn takes_every_qr_amount(table: &RoutingTable, card: &Card) -> bool {
    table
        .products()
        .get(usize::from(card.product))
        .is_some_and(|p| match p.limit_for(KPW).and_then(|l| l.purchase) {
            Some(max) => max >= Decimal::from(QR_MAX_KPW),
            None => true,
        })
}

/// Enrol [`WALLET_CARDS`] cards of [`ISSUER_BANK`] (drawn from the simulators'
/// card base, the issuer's, among those of [`takes_every_qr_amount`]) for
/// [`APP`] through the token API at `api`; the wallet and what became of the
/// enrolments. Fails when no card got a token.
pub async fn enrol_wallet(
    api: SocketAddr,
    table: &RoutingTable,
) -> Result<(Arc<Wallet>, EnrolSummary), String> {
    let base = CardBase::generate(table, SEED, CARDS_PER_RANGE);
    // Every card of the issuer in the draw's order, then the first that fit.
    let mut cards = pick_cards(&base, table, SEED, usize::MAX, &[ISSUER_BANK.into()]);
    cards.retain(|c| takes_every_qr_amount(table, c));
    cards.truncate(WALLET_CARDS);
    let mut client = TokenApi::connect(&api.to_string(), None)
        .await
        .map_err(|e| e.to_string())?;
    let (wallet, summary) = enrol(&mut client, APP, &cards, table)
        .await
        .map_err(|e| e.to_string())?;
    if wallet.tokens.is_empty() {
        return Err(format!("no token enrolled: {}", summary.line(APP)));
    }
    Ok((Arc::new(wallet), summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_app_purchase_limit_is_raised() {
        let text = std::fs::read_to_string(national_rules()).unwrap();
        let raised = raise_app_limit(&text).unwrap();
        assert_eq!(raised.len(), text.len());
        let changed: Vec<(&str, &str)> = text
            .lines()
            .zip(raised.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert!(changed[0].1.contains("2000000"));
        // The copy still loads (its negative file found), with the rule in place.
        let copy = RulesCopy::write("channel-rules-test", raise_app_limit).unwrap();
        let (table, _) = RoutingTable::load(&copy.path).unwrap();
        assert!(table.rules().iter().any(|r| r.id == "app-purchase-limit"));
        assert!(raise_app_limit("[[rule]]\nid = \"other\"\n").is_err());
    }

    #[test]
    fn the_wallet_takes_only_cards_that_take_every_qr_amount() {
        let table = benches::loopback::load_rules().unwrap();
        let base = CardBase::generate(&table, SEED, 10);
        let product = |c: &Card| table.products()[usize::from(c.product)].id.as_str();
        let (fit, unfit): (Vec<&Card>, Vec<&Card>) = base
            .cards()
            .iter()
            .filter(|c| product(c).starts_with("morning-star") || product(c) == "payroll-hamhung")
            .partition(|c| takes_every_qr_amount(&table, c));
        assert!(!fit.is_empty() && fit.iter().all(|c| product(c) == "morning-star-debit"));
        assert!(!unfit.is_empty() && unfit.iter().all(|c| product(c) == "payroll-hamhung"));
    }
}
