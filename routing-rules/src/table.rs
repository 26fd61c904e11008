//! The compiled routing table: everything `decide` needs, immutable once built.

use std::path::Path;

use crate::apps::{App, AppIdx};
use crate::bins::BinTable;
use crate::compile;
use crate::fast::HotTables;
use crate::model::{Bank, BankIdx, Product, ProductIdx, Region};
use crate::negative::NegativeFile;
use crate::problem::{LoadError, Problem};
use crate::rules::{Rule, RuleIndex};
use crate::stand_in::StandInParams;
use crate::tokens::TokenRange;

/// Banks, regions, products, the BIN table and the rules, compiled.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    pub(crate) regions: Vec<Region>,
    pub(crate) banks: Vec<Bank>,
    pub(crate) products: Vec<Product>,
    pub(crate) categories: Vec<String>,
    /// (packed institution id, bank index), sorted by key.
    pub(crate) bank_keys: Vec<(u64, BankIdx)>,
    pub(crate) bins: BinTable,
    pub(crate) rules: Vec<Rule>,
    pub(crate) index: RuleIndex,
    /// Compact copies of what `decide` reads ([`crate::fast`]).
    pub(crate) hot: HotTables,
    /// Payment apps, in configuration order.
    pub(crate) apps: Vec<App>,
    /// Token ranges the switch owns (disjoint from the BIN table).
    pub(crate) token_ranges: Vec<TokenRange>,
    /// `[[stand_in]]` entries, in configuration order.
    pub(crate) stand_in: Vec<StandInParams>,
    /// The entry covering each product (indexed by product), if any.
    pub(crate) stand_in_by_product: Vec<Option<u16>>,
    /// Negative files, one per issuer at most.
    pub(crate) negative_files: Vec<NegativeFile>,
    /// The negative file of each bank (indexed by bank), if any.
    pub(crate) negative_by_bank: Vec<Option<u16>>,
}

/// Pack an institution id (1-11 digits) into a number that keeps leading zeros apart.
pub(crate) fn pack_institution_id(id: &[u8]) -> Option<u64> {
    if id.is_empty() || id.len() > 11 {
        return None;
    }
    let v = codecs::digits::parse_u64(id)?;
    Some(v << 4 | id.len() as u64)
}

impl RoutingTable {
    /// Load and compile a file or a directory of TOML files. On success, also
    /// returns the warnings (e.g. shadowed rules).
    pub fn load(path: &Path) -> Result<(RoutingTable, Vec<Problem>), LoadError> {
        compile::load(path)
    }

    /// Compile one file's text; `origin` names it in problems.
    pub fn from_toml(text: &str, origin: &str) -> Result<(RoutingTable, Vec<Problem>), LoadError> {
        compile::from_text(text, origin)
    }

    /// All regions.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// All banks.
    pub fn banks(&self) -> &[Bank] {
        &self.banks
    }

    /// All card products.
    pub fn products(&self) -> &[Product] {
        &self.products
    }

    /// All rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The BIN table.
    pub fn bins(&self) -> &BinTable {
        &self.bins
    }

    /// A category's name.
    pub fn category_name(&self, idx: u16) -> &str {
        self.categories.get(idx as usize).map_or("", String::as_str)
    }

    /// A bank by institution id.
    pub fn bank_index(&self, id: &[u8]) -> Option<BankIdx> {
        let key = pack_institution_id(id)?;
        let i = self.bank_keys.binary_search_by_key(&key, |e| e.0).ok()?;
        Some(self.bank_keys[i].1)
    }

    /// A bank by institution id.
    pub fn bank(&self, id: &str) -> Option<&Bank> {
        self.bank_index(id.as_bytes())
            .map(|i| &self.banks[i as usize])
    }

    /// All payment apps, in configuration order.
    pub fn apps(&self) -> &[App] {
        &self.apps
    }

    /// An app by id.
    pub fn app(&self, id: &str) -> Option<&App> {
        self.app_index(id).map(|i| &self.apps[i as usize])
    }

    /// An app by its token requestor id (11 digits).
    pub fn app_by_requestor(&self, requestor_id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.requestor_id == requestor_id)
    }

    /// An app's index by id. Apps are few (a handful of operators): a scan of
    /// their ids costs less than hashing one.
    #[inline]
    pub(crate) fn app_index(&self, id: &str) -> Option<AppIdx> {
        self.apps
            .iter()
            .position(|a| a.id == id)
            .map(|i| i as AppIdx)
    }

    /// The token ranges the switch owns.
    pub fn token_ranges(&self) -> &[TokenRange] {
        &self.token_ranges
    }

    /// Whether the number (ASCII digits) lies in a token range: a token, not a card.
    pub fn is_token(&self, pan: &[u8]) -> bool {
        self.token_ranges.iter().any(|r| r.contains(pan))
    }

    /// All `[[stand_in]]` entries, in configuration order.
    pub fn stand_in_entries(&self) -> &[StandInParams] {
        &self.stand_in
    }

    /// The stand-in parameters covering a product (one array index); None: stand-in
    /// is not allowed for its cards.
    #[inline]
    pub fn stand_in_for(&self, product: ProductIdx) -> Option<&StandInParams> {
        let i = (*self.stand_in_by_product.get(product as usize)?)?;
        self.stand_in.get(i as usize)
    }

    /// The negative file of `issuer` (from its `[[negative_file]]`), if any.
    #[inline]
    pub fn negative_file(&self, issuer: BankIdx) -> Option<&NegativeFile> {
        let i = (*self.negative_by_bank.get(issuer as usize)?)?;
        self.negative_files.get(i as usize)
    }

    /// All negative files.
    pub fn negative_files(&self) -> &[NegativeFile] {
        &self.negative_files
    }

    /// The settlement agent (the central bank), if configured.
    pub fn settlement_agent(&self) -> Option<&Bank> {
        self.banks.iter().find(|b| b.settlement_agent)
    }

    /// Heap bytes of the BIN table, the rule index and the hot-path tables (for the
    /// size benchmark).
    pub fn heap_bytes(&self) -> usize {
        self.bins.heap_bytes() + self.index.heap_bytes() + self.hot.heap_bytes()
    }
}
