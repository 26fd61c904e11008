//! The journal interface: records of each transaction, emitted by the core and
//! written by the driver's journal sink (the durable one is `crate::store`).
//!
//! A forwarded request is recorded twice under one id: as `Forwarded` before it
//! goes to the issuer (with the request as forwarded, from which the store makes
//! the reversal owed should the switch restart before the answer), then with its
//! final state. Records never hold card data: the PAN is reduced to first 6 /
//! last 4 and a keyed hash. Texts are held inline ([`ShortText`]): a record costs
//! no allocation beyond its forwarded message and hash. Without a sink that keeps
//! them (`CoreSettings::journal` false) the core builds none.

use rust_decimal::Decimal;

use super::short_text::ShortText;

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalState {
    /// Sent to the issuer; no answer yet.
    Forwarded,
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
    /// The transaction's id (unique across restarts; the same for its forwarded
    /// and final records).
    pub id: u64,
    /// HMAC-SHA-256 of the PAN under the configured key, hex (for matching).
    pub pan_hash: Option<String>,
    /// For a reversal or advice: the original's field 7 and 11 in the acquirer's terms.
    pub reverses: Option<(ShortText, ShortText)>,
    /// While `Forwarded`: the request as forwarded to the issuer, reduced to the
    /// fields its reversal copies (no PAN or other card data), from which the
    /// store makes the reversal owed should the switch restart before the answer
    /// (built then, not per request).
    pub forwarded: Option<codecs::Message>,
    /// Request MTI from the acquirer.
    pub mti: ShortText,
    /// Acquirer id (field 32).
    pub acquirer: ShortText,
    /// Issuer the transaction went to (or would have).
    pub issuer: Option<ShortText>,
    /// Acquirer's field 7, 11, 37, 41.
    pub transmission: ShortText,
    /// Acquirer's STAN.
    pub stan: ShortText,
    /// Retrieval reference number.
    pub rrn: ShortText,
    /// Terminal id.
    pub terminal: ShortText,
    /// The switch's STAN towards the issuer, if forwarded.
    pub switch_stan: Option<u32>,
    /// First 6 / last 4 of the PAN.
    pub pan_masked: ShortText,
    /// Field 3 (the transaction type decides interchange).
    pub processing_code: ShortText,
    /// Amount in major units.
    pub amount: Option<Decimal>,
    /// ISO numeric currency.
    pub currency: Option<u16>,
    /// Response code given to the acquirer.
    pub response_code: ShortText,
    /// Authorization code (field 38).
    pub auth_code: Option<ShortText>,
    /// The routing rule that decided, if any.
    pub rule: Option<ShortText>,
    /// Final state.
    pub state: FinalState,
    /// Milliseconds from request to answer.
    pub elapsed_ms: u64,
    /// Where it came from: a terminal, an ATM, an app's QR code.
    pub channel: routing_rules::Channel,
    /// For an app's payment: the app (`[[app]]` id).
    pub app: Option<ShortText>,
    /// A decision the switch took in stand-in for its issuer (None: the issuer
    /// decided, or nobody did).
    pub stand_in: Option<StandInNote>,
}

impl JournalRecord {
    /// Whether a cluster node claims this record's request across nodes (its
    /// duplicate key, in the record's transaction): a forward (not a
    /// reversal), or a stand-in approval (after a timeout, the forward's own
    /// claim under the same id). A repeat sent to two nodes is approved once.
    pub fn takes_cluster_claim(&self) -> bool {
        self.reverses.is_none()
            && (self.state == FinalState::Forwarded
                || (self.state == FinalState::Approved && self.stand_in.is_some()))
    }
}

/// What the journal keeps of a stand-in decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandInNote {
    /// The check that decided (`routing_rules::StandInCheck::name`): for an
    /// approval `within-limits`, for a decline the check that failed.
    pub check: &'static str,
    /// The `[[stand_in]]` entry whose parameters applied, if any.
    pub entry: Option<ShortText>,
    /// The store-and-forward item of the advice that tells the issuer.
    pub advice_saf: Option<u64>,
}
