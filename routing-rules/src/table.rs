//! The compiled routing table: everything `decide` needs, immutable once built.

use std::path::Path;

use crate::bins::BinTable;
use crate::compile;
use crate::fast::HotTables;
use crate::model::{Bank, BankIdx, Product, Region};
use crate::problem::{LoadError, Problem};
use crate::rules::{Rule, RuleIndex};

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
