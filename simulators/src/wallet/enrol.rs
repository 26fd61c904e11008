//! Enrolment: an app operator enrols its users' cards through the token API
//! (`POST /v1/tokens {"pan","expiry"}`), one after another on one connection,
//! keeping each token and its key (given once, in the 201 answer) and counting
//! the refusals by what the switch said (a rule, the issuer's decline, ...).

use std::collections::BTreeMap;

use card_security::wallet::TokenKey;
use hyper::{Method, StatusCode};
use routing_rules::RoutingTable;
use serde_json::{json, Value};

use crate::cards::{Card, CardBase, SplitMix};

use super::api::{ApiError, TokenApi};
use super::store::{Wallet, WalletToken};

/// What became of an enrolment run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnrolSummary {
    /// Cards enrolled (a token issued).
    pub enrolled: u64,
    /// Cards refused, by the answer's label (`not_permitted 57 RULE`,
    /// `declined 62`, `issuer_unavailable 91`, ...).
    pub refused: BTreeMap<String, u64>,
}

impl EnrolSummary {
    /// Cards refused in all.
    pub fn refused_total(&self) -> u64 {
        self.refused.values().sum()
    }

    /// One line for the console.
    pub fn line(&self, app: &str) -> String {
        let refused: Vec<String> = self
            .refused
            .iter()
            .map(|(label, n)| format!("{label}: {n}"))
            .collect();
        format!(
            "{app}: enrolled {}, refused {}{}",
            self.enrolled,
            self.refused_total(),
            if refused.is_empty() {
                String::new()
            } else {
                format!(" ({})", refused.join(", "))
            }
        )
    }

    /// The summary as JSON: `{"enrolled":N,"refused":{"label":N}}`.
    pub fn to_json(&self) -> Value {
        json!({"enrolled": self.enrolled, "refused": self.refused})
    }
}

/// `count` cards of the catalogue, drawn without repeats by `seed`, of the
/// issuers `issuers` (bank ids; empty: all).
pub fn pick_cards<'a>(
    base: &'a CardBase,
    table: &RoutingTable,
    seed: u64,
    count: usize,
    issuers: &[String],
) -> Vec<&'a Card> {
    let mut eligible: Vec<&Card> = base
        .cards()
        .iter()
        .filter(|c| issuers.is_empty() || issuers.iter().any(|i| *i == bank_id(table, c)))
        .collect();
    let mut rng = SplitMix::new(seed ^ 0x5741_4C4C_4554);
    // A partial Fisher-Yates shuffle: the first `count` places.
    let take = count.min(eligible.len());
    for i in 0..take {
        let j = i + rng.below((eligible.len() - i) as u64) as usize;
        eligible.swap(i, j);
    }
    eligible.truncate(take);
    eligible
}

/// The id of the bank that issued `card`.
pub fn bank_id<'t>(table: &'t RoutingTable, card: &Card) -> &'t str {
    table
        .banks()
        .get(usize::from(card.issuer))
        .map_or("", |b| b.id.as_str())
}

/// Enrol `cards` for `app` through `api`.
pub async fn enrol(
    api: &mut TokenApi,
    app: &str,
    cards: &[&Card],
    table: &RoutingTable,
) -> Result<(Wallet, EnrolSummary), ApiError> {
    // The rules name the app's requestor id; the token API's answers do too.
    let requestor_id = table.app(app).map_or("", |a| a.requestor_id.as_str());
    let mut wallet = Wallet::new(app, requestor_id);
    let mut summary = EnrolSummary::default();
    for card in cards {
        let body = json!({
            "pan": card.pan_str(),
            "expiry": String::from_utf8_lossy(&card.expiry),
        });
        let answer = api.call(Method::POST, "/v1/tokens", Some(&body)).await?;
        if answer.status != StatusCode::CREATED {
            *summary.refused.entry(answer.refusal()).or_default() += 1;
            continue;
        }
        match token_of(&answer.body, card, bank_id(table, card)) {
            Some(token) => {
                if let Some(requestor) = answer.body["requestor_id"].as_str() {
                    wallet.requestor_id = requestor.to_string();
                }
                wallet.tokens.push(token);
                summary.enrolled += 1;
            }
            None => {
                *summary
                    .refused
                    .entry("unreadable answer".into())
                    .or_default() += 1
            }
        }
    }
    Ok((wallet, summary))
}

/// The token of a 201 answer (its `token`, `token_expiry` and `key`).
fn token_of(body: &Value, card: &Card, issuer: &str) -> Option<WalletToken> {
    let token = body["token"].as_str()?;
    let expiry: [u8; 4] = body["token_expiry"].as_str()?.as_bytes().try_into().ok()?;
    let key = TokenKey::from_hex(body["key"].as_str()?).ok()?;
    Some(WalletToken::new(
        token.to_string(),
        expiry,
        key,
        card.masked(),
        issuer.to_string(),
    ))
}
