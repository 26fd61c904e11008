//! The journal interface: one record per transaction outcome. The durable
//! implementation is a later issue; the core only emits records.
//!
//! Records never hold card data: the PAN is reduced to first 6 / last 4.

use rust_decimal::Decimal;

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalState {
    /// The issuer approved and the acquirer was told.
    Approved,
    /// Declined by the issuer or by the switch.
    Declined,
    /// No response in time: RC 91 to the acquirer, reversal queued.
    TimedOut,
    /// Approved by the issuer but the acquirer was gone: reversal queued.
    Reversed,
}

/// One journal record.
#[derive(Clone, Debug)]
pub struct JournalRecord {
    /// Request MTI from the acquirer.
    pub mti: String,
    /// Acquirer id (field 32).
    pub acquirer: String,
    /// Issuer the transaction went to (or would have).
    pub issuer: Option<String>,
    /// Acquirer's field 7, 11, 37, 41.
    pub transmission: String,
    /// Acquirer's STAN.
    pub stan: String,
    /// Retrieval reference number.
    pub rrn: String,
    /// Terminal id.
    pub terminal: String,
    /// The switch's STAN towards the issuer, if forwarded.
    pub switch_stan: Option<u32>,
    /// First 6 / last 4 of the PAN.
    pub pan_masked: String,
    /// Amount in major units.
    pub amount: Option<Decimal>,
    /// ISO numeric currency.
    pub currency: Option<u16>,
    /// Response code given to the acquirer.
    pub response_code: String,
    /// Authorization code (field 38).
    pub auth_code: Option<String>,
    /// The routing rule that decided, if any.
    pub rule: Option<String>,
    /// Final state.
    pub state: FinalState,
    /// Milliseconds from request to answer.
    pub elapsed_ms: u64,
}
