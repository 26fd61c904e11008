//! The compiled entities: regions, banks and card products, referred to by index.

use rust_decimal::Decimal;

/// Index of a region in the table.
pub type RegionIdx = u16;
/// Index of a bank in the table.
pub type BankIdx = u16;
/// Index of a product in the table.
pub type ProductIdx = u16;
/// Index of a category name in the table.
pub type CategoryIdx = u16;

/// What kind of place a region is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegionKind {
    /// The capital.
    Capital,
    /// A provincial capital or special city.
    ProvincialCapital,
    /// Anywhere else.
    Other,
}

impl RegionKind {
    /// Parse the configuration name.
    pub fn from_name(name: &str) -> Option<RegionKind> {
        match name {
            "capital" => Some(RegionKind::Capital),
            "provincial-capital" => Some(RegionKind::ProvincialCapital),
            "other" => Some(RegionKind::Other),
            _ => None,
        }
    }

    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            RegionKind::Capital => "capital",
            RegionKind::ProvincialCapital => "provincial-capital",
            RegionKind::Other => "other",
        }
    }

    /// All kinds, for building indexes.
    pub const ALL: [RegionKind; 3] = [
        RegionKind::Capital,
        RegionKind::ProvincialCapital,
        RegionKind::Other,
    ];
}

/// A named region.
#[derive(Clone, Debug)]
pub struct Region {
    /// Identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Capital, provincial capital or other.
    pub kind: RegionKind,
}

/// A member bank.
#[derive(Clone, Debug)]
pub struct Bank {
    /// Institution id (digits of fields 32/33/100).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Where its host sits.
    pub region: RegionIdx,
    /// Issues cards.
    pub issuer: bool,
    /// Acquires transactions.
    pub acquirer: bool,
    /// Takes part in interbank settlement.
    pub settlement: bool,
    /// Is the settlement agent (the central bank).
    pub settlement_agent: bool,
}

/// The five categories named by the network, plus user-defined ones.
pub const BUILTIN_CATEGORIES: [&str; 5] = [
    "national-debit",
    "enterprise-payroll",
    "capital-resident",
    "privileged",
    "foreign-currency",
];

/// Per-transaction maxima in one currency (major units).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    /// ISO 4217 numeric code.
    pub currency: u16,
    /// Maximum purchase (processing code 00).
    pub purchase: Option<Decimal>,
    /// Maximum cash withdrawal (01).
    pub cash: Option<Decimal>,
    /// Maximum for other transaction types.
    pub other: Option<Decimal>,
}

impl Limit {
    /// The maximum for a transaction type (first two processing-code digits).
    pub fn for_transaction(&self, transaction: Option<u8>) -> Option<Decimal> {
        match transaction {
            Some(0) => self.purchase,
            Some(1) => self.cash,
            _ => self.other,
        }
    }
}

/// A card product.
#[derive(Clone, Debug)]
pub struct Product {
    /// Identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Issuing bank.
    pub issuer: BankIdx,
    /// Category (index into the table's category names).
    pub category: CategoryIdx,
    /// Home region, if the product is tied to one.
    pub home_region: Option<RegionIdx>,
    /// Allowed transaction currencies (ISO 4217 numeric).
    pub currencies: Vec<u16>,
    /// Per-transaction limits by currency.
    pub limits: Vec<Limit>,
}

impl Product {
    /// The limits in force for `currency`, if any.
    pub fn limit_for(&self, currency: u16) -> Option<&Limit> {
        self.limits.iter().find(|l| l.currency == currency)
    }
}

/// Transaction type names usable in rules: the first two processing-code digits.
pub fn transaction_type(name: &str) -> Option<u8> {
    match name {
        "purchase" => Some(0),
        "cash" => Some(1),
        "balance" => Some(31),
        _ if name.len() == 2 && name.bytes().all(|b| b.is_ascii_digit()) => name.parse().ok(),
        _ => None,
    }
}

/// MTI class names usable in rules (second MTI digit).
pub fn mti_class(name: &str) -> Option<u8> {
    Some(match name {
        "authorization" => 1,
        "financial" => 2,
        "file-action" => 3,
        "reversal" => 4,
        "reconciliation" => 5,
        "administrative" => 6,
        "fee-collection" => 7,
        "network-management" => 8,
        _ if name.len() == 1 && name.as_bytes()[0].is_ascii_digit() => name.as_bytes()[0] - b'0',
        _ => return None,
    })
}

/// A currency given by numeric or alphabetic ISO 4217 code.
pub fn currency_code(text: &str) -> Option<u16> {
    if text.len() == 3 && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    codecs::currency::by_code(text).map(|c| c.numeric)
}
