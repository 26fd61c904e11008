//! `sim cards`: the card catalogue of one bank, the cards `sim issuer` holds for
//! it (same rules, seed and cards per range), printed so that an outside team
//! can pick cards that approve, decline 51, are blocked, expired, and so on.
//!
//! This is the one place a full PAN (and the PIN the simulators' PIN pads enter)
//! is printed on purpose: to the standard output the operator asked for, never
//! to the log. The CSV form is also what `sim issuer --cards FILE` serves
//! ([`file`] reads and writes it).
//!
//! Not here: generating cards ([`crate::cards`]) or deciding on them (the issuer).

pub mod file;

use std::path::PathBuf;

use routing_rules::model::BankIdx;
use routing_rules::RoutingTable;

use crate::cards::{Card, CardBase, CardStatus};

/// How `sim cards` prints the catalogue.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatalogueFormat {
    /// Aligned columns for reading.
    Table,
    /// The file `sim issuer --cards` reads.
    Csv,
    /// One JSON array.
    Json,
}

/// Which bank's catalogue, generated or from a file: the same card base
/// options as `sim issuer` (`sim cards`, `sim certify issuer`).
#[derive(clap::Args, Debug, Clone)]
pub struct CatalogueSource {
    /// The issuing bank's institution id (as in the routing rules).
    #[arg(long, value_name = "ID")]
    pub bank: String,
    /// Also the cards of this bank (as `sim issuer --on-behalf-of`; repeatable).
    #[arg(long, value_name = "ID")]
    pub on_behalf_of: Vec<String>,
    /// Routing rules (file or directory) the card base is generated from.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "routing-rules/rules/national.toml"
    )]
    pub rules: PathBuf,
    /// Seed of the card base (as `sim issuer --seed`).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Cards generated per BIN range (as `sim issuer --cards-per-range`).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub cards_per_range: usize,
    /// A catalogue file (the CSV `sim cards --format csv` prints, as `sim
    /// issuer --cards` reads it) instead of the generated cards.
    #[arg(long, value_name = "FILE")]
    pub cards: Option<PathBuf>,
}

impl CatalogueSource {
    /// The routing table and the bank's cards (checked, when from a file).
    pub fn load(&self) -> Result<(RoutingTable, Vec<Card>), String> {
        let (table, _) = RoutingTable::load(&self.rules)
            .map_err(|e| format!("{}: {e}", self.rules.display()))?;
        let holders = holders(&table, &self.bank, &self.on_behalf_of)?;
        let cards = match &self.cards {
            Some(path) => file::read_path(&table, &holders, path)?,
            None => generated(&table, &holders, self.seed, self.cards_per_range),
        };
        Ok((table, cards))
    }
}

/// Options of `sim cards`.
#[derive(clap::Args, Debug, Clone)]
pub struct CardsArgs {
    /// The bank and its cards.
    #[command(flatten)]
    pub source: CatalogueSource,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CatalogueFormat::Table)]
    pub format: CatalogueFormat,
}

/// The banks whose cards an issuer for `bank` (and `on_behalf_of`) holds.
pub fn holders(
    table: &RoutingTable,
    bank: &str,
    on_behalf_of: &[String],
) -> Result<Vec<BankIdx>, String> {
    let mut holders = Vec::new();
    for id in std::iter::once(bank).chain(on_behalf_of.iter().map(String::as_str)) {
        let idx = table
            .bank_index(id.as_bytes())
            .ok_or_else(|| format!("bank {id} is not in the routing rules"))?;
        let entry = &table.banks()[idx as usize];
        if !entry.issuer {
            return Err(format!("bank {id} ({}) does not issue cards", entry.name));
        }
        holders.push(idx);
    }
    Ok(holders)
}

/// The generated cards of `holders`, exactly those `sim issuer` holds with the
/// same seed and cards per range.
pub fn generated(
    table: &RoutingTable,
    holders: &[BankIdx],
    seed: u64,
    per_range: usize,
) -> Vec<Card> {
    CardBase::generate(table, seed, per_range)
        .cards()
        .iter()
        .filter(|c| holders.contains(&c.issuer))
        .cloned()
        .collect()
}

/// Run `sim cards`: print the catalogue on standard output.
pub fn run(args: CardsArgs) -> Result<(), String> {
    let (table, cards) = args.source.load()?;
    let text = match args.format {
        CatalogueFormat::Table => file::to_table(&table, &cards),
        CatalogueFormat::Csv => file::to_csv(&table, &cards),
        CatalogueFormat::Json => file::to_json(&table, &cards).to_string() + "\n",
    };
    use std::io::Write;
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| format!("cannot write the catalogue: {e}"))
}

/// The status column's word.
pub fn status_name(status: CardStatus) -> &'static str {
    match status {
        CardStatus::Active => "active",
        CardStatus::Blocked => "blocked",
        CardStatus::Expired => "expired",
    }
}
