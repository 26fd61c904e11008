//! The TOML form of a routing configuration, and reading it from a file or from a
//! directory of files (read in name order and concatenated: rules keep file order).
//!
//! This module only parses; [`crate::compile`] checks references and builds the
//! table. Unknown keys are errors, so a misspelt condition never silently matches.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::problem::{Problem, Problems};

/// Everything one file declares.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Named regions.
    #[serde(default, rename = "region")]
    pub regions: Vec<RawRegion>,
    /// Member banks.
    #[serde(default, rename = "bank")]
    pub banks: Vec<RawBank>,
    /// Card products.
    #[serde(default, rename = "product")]
    pub products: Vec<RawProduct>,
    /// BIN ranges.
    #[serde(default, rename = "bin")]
    pub bins: Vec<RawBin>,
    /// Ordered rules.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RawRule>,
    /// Payment-app operators.
    #[serde(default, rename = "app")]
    pub apps: Vec<RawApp>,
    /// Token BIN ranges the switch owns.
    #[serde(default, rename = "token_range")]
    pub token_ranges: Vec<RawTokenRange>,
    /// Stand-in parameters.
    #[serde(default, rename = "stand_in")]
    pub stand_ins: Vec<RawStandIn>,
    /// Issuers' negative files.
    #[serde(default, rename = "negative_file")]
    pub negative_files: Vec<RawNegativeFile>,
}

/// `[[region]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegion {
    /// Identifier used in references.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// `capital`, `provincial-capital` or `other`.
    #[serde(default = "default_kind")]
    pub kind: String,
}

fn default_kind() -> String {
    "other".into()
}

/// `[[bank]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBank {
    /// Institution id: the digits in fields 32/33/100.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Region id.
    pub region: String,
    /// `issuer` and/or `acquirer`.
    pub roles: Vec<String>,
    /// Takes part in interbank settlement.
    #[serde(default)]
    pub settlement: bool,
    /// The settlement agent (the central bank); at most one.
    #[serde(default)]
    pub settlement_agent: bool,
}

/// `[[product]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProduct {
    /// Identifier used in references.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Issuing bank id.
    pub issuer: String,
    /// `national-debit`, `enterprise-payroll`, `capital-resident`, `privileged`,
    /// `foreign-currency`, or a user-defined category name.
    pub category: String,
    /// Region id where the holder works or lives, if the product is tied to one.
    pub home_region: Option<String>,
    /// Allowed transaction currencies (ISO 4217 numeric or alphabetic codes).
    pub currencies: Vec<String>,
    /// Per-transaction limits, one entry per currency.
    #[serde(default, rename = "limit")]
    pub limits: Vec<RawLimit>,
}

/// `[[product.limit]]`: maxima per transaction, in major units of `currency`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimit {
    /// The currency the amounts are in.
    pub currency: String,
    /// Maximum purchase (processing code 00).
    pub purchase: Option<String>,
    /// Maximum cash withdrawal (processing code 01).
    pub cash: Option<String>,
    /// Maximum for any other transaction type.
    pub other: Option<String>,
}

/// `[[bin]]`: PAN prefixes `low..=high`, both of the same length (6-11 digits).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBin {
    /// Lowest prefix.
    pub low: String,
    /// Highest prefix.
    pub high: String,
    /// Product id.
    pub product: String,
}

/// `[[app]]`: a payment-app operator.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApp {
    /// Identifier used in rules (lowercase, e.g. `koryo-pay`).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// EMV token requestor id: 11 digits, unique.
    pub requestor_id: String,
    /// Issuing banks whose cards it accepts (the banks that joined it).
    pub banks: Vec<String>,
}

/// `[[token_range]]`: token prefixes `low..=high`, both of the same length (6-11
/// digits); must not overlap any `[[bin]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTokenRange {
    /// Lowest prefix.
    pub low: String,
    /// Highest prefix.
    pub high: String,
}

/// `[[stand_in]]`: what the switch may approve for an issuer that cannot answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStandIn {
    /// Unique id, named in the journal, explain and check.
    pub id: String,
    /// The issuer bank.
    pub issuer: String,
    /// Products covered; absent: every product of the issuer no other entry names.
    pub products: Option<Vec<String>>,
    /// Kinds stand-in may approve: `purchase`, `cash`.
    pub transactions: Vec<String>,
    /// Limits, one per currency.
    #[serde(default, rename = "limit")]
    pub limits: Vec<RawStandInLimit>,
}

/// `[[stand_in.limit]]`: amounts in major units of `currency`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // the names say it; see `stand_in::BucketLimits`
pub struct RawStandInLimit {
    pub currency: String,
    pub per_transaction: String,
    pub daily_amount: String,
    pub daily_count: u32,
    pub cash_per_transaction: Option<String>,
    pub cash_daily_amount: Option<String>,
    pub cash_daily_count: Option<u32>,
}

/// `[[negative_file]]`: an issuer's hot-card file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNegativeFile {
    /// The issuer bank.
    pub issuer: String,
    /// The file, relative to the rules file that names it.
    pub path: String,
    /// The name a file update (0302, field 101) gives it.
    #[serde(default = "default_negative_name")]
    pub name: String,
    /// Decline hot cards also while the issuer is up.
    #[serde(default)]
    pub apply_when_up: bool,
}

fn default_negative_name() -> String {
    "NEGATIVE".into()
}

/// The content of a negative file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNegativeList {
    /// Cards, by digest.
    #[serde(default, rename = "card")]
    pub cards: Vec<RawHotCard>,
    /// Card-number ranges.
    #[serde(default, rename = "range")]
    pub ranges: Vec<RawHotRange>,
}

/// `[[card]]` of a negative file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHotCard {
    /// SHA-256 of the PAN's digits, 64 lowercase hex digits.
    pub sha256: String,
    /// `lost`, `stolen` or `restricted`.
    pub reason: String,
}

/// `[[range]]` of a negative file: numbers whose first `len(low)` digits lie in
/// `low..=high` (6-19 digits, one length).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHotRange {
    /// Lowest prefix.
    pub low: String,
    /// Highest prefix.
    pub high: String,
    /// `lost`, `stolen` or `restricted`.
    pub reason: String,
}

/// `[[rule]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Identifier shown in decisions.
    pub id: String,
    /// What the rule is for.
    #[serde(default)]
    pub description: String,
    /// Conditions; all must hold. Empty matches everything.
    #[serde(default)]
    pub when: RawConditions,
    /// The outcome.
    pub then: RawOutcome,
}

/// Conditions of a rule. Each list condition holds when the value is in the list;
/// each `*_not` one when it is not.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // the names say it; see the module docs and DESIGN.md
pub struct RawConditions {
    pub acquirer: Option<Vec<String>>,
    pub acquirer_not: Option<Vec<String>>,
    pub acquirer_region: Option<Vec<String>>,
    pub acquirer_region_not: Option<Vec<String>>,
    pub acquirer_region_kind: Option<Vec<String>>,
    pub acquirer_region_kind_not: Option<Vec<String>>,
    pub issuer: Option<Vec<String>>,
    pub issuer_not: Option<Vec<String>>,
    pub product: Option<Vec<String>>,
    pub product_not: Option<Vec<String>>,
    pub category: Option<Vec<String>>,
    pub category_not: Option<Vec<String>>,
    /// `same`, `different` (card's home region vs the acquirer's region) or `none`
    /// (the product has no home region).
    pub home_region: Option<String>,
    /// `purchase`, `cash`, `balance` or two-digit processing-code prefixes.
    pub transaction: Option<Vec<String>>,
    pub transaction_not: Option<Vec<String>>,
    /// `authorization`, `financial`, `file-action`, `reversal`, ... or the digit.
    pub mti_class: Option<Vec<String>>,
    pub mti_class_not: Option<Vec<String>>,
    pub currency: Option<Vec<String>>,
    pub currency_not: Option<Vec<String>>,
    /// Amount comparisons in major units of the transaction currency.
    pub amount_gt: Option<String>,
    pub amount_ge: Option<String>,
    pub amount_lt: Option<String>,
    pub amount_le: Option<String>,
    /// `terminal`, `atm` or `wallet-qr`.
    pub channel: Option<Vec<String>>,
    pub channel_not: Option<Vec<String>>,
    /// App ids; `app` never matches a transaction without an app, `app_not` does.
    pub app: Option<Vec<String>>,
    pub app_not: Option<Vec<String>>,
    /// Whether the card's issuer joined the transaction's app; a transaction without
    /// an app matches neither value.
    pub issuer_joined_app: Option<bool>,
}

/// What a rule does: exactly one of the keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutcome {
    /// `true`: route to the card's issuer.
    #[serde(default)]
    pub route: bool,
    /// Route to this bank instead (e.g. the central bank standing in).
    pub route_to: Option<String>,
    /// Decline with this response code (12, 13, 57, 58, 61, 62).
    pub decline: Option<String>,
}

/// One parsed file, remembered with its path for error messages.
pub struct SourceFile {
    /// The path as given.
    pub path: String,
    /// Its content.
    pub config: RawConfig,
}

/// Read a file, or every `*.toml` file of a directory in name order. Syntax errors
/// are collected into `problems`; files that parse are returned.
pub fn read_sources(path: &Path, problems: &mut Problems) -> Vec<SourceFile> {
    let files: Vec<PathBuf> = if path.is_dir() {
        match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut v: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                    .collect();
                v.sort();
                if v.is_empty() {
                    problems.error(Problem::new(path, "", "directory holds no .toml files"));
                }
                v
            }
            Err(e) => {
                problems.error(Problem::new(
                    path,
                    "",
                    format!("cannot read directory: {e}"),
                ));
                return Vec::new();
            }
        }
    } else {
        vec![path.to_path_buf()]
    };
    let mut sources = Vec::new();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                if let Some(config) = parse_text(&text, &file, problems) {
                    sources.push(SourceFile {
                        path: file.display().to_string(),
                        config,
                    });
                }
            }
            Err(e) => problems.error(Problem::new(&file, "", format!("cannot read: {e}"))),
        }
    }
    sources
}

/// Parse one file's text; a syntax error is recorded and yields None.
pub fn parse_text(text: &str, path: &Path, problems: &mut Problems) -> Option<RawConfig> {
    parse_toml(text, path, problems)
}

/// Parse TOML text into `T`; a syntax error is recorded with its line and yields None.
pub fn parse_toml<T: DeserializeOwned>(
    text: &str,
    path: &Path,
    problems: &mut Problems,
) -> Option<T> {
    match toml::from_str::<T>(text) {
        Ok(c) => Some(c),
        Err(e) => {
            let message = e.message().to_string();
            let entry = match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].lines().count().max(1);
                    format!("line {line}")
                }
                None => String::new(),
            };
            problems.error(Problem::new(path, entry, message));
            None
        }
    }
}
