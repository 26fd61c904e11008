//! What the core asks its driver to do.

use codecs::Message;

use super::journal::JournalRecord;
use super::store_op::StoreOp;

/// Identifies one connection (a link instance) for the lifetime of the process.
pub type LinkId = u32;

/// An action for the driver.
#[derive(Debug)]
pub enum Action {
    /// Encode `msg` with the link's spec and write it.
    Send {
        /// The connection.
        link: LinkId,
        /// The message.
        msg: Message,
    },
    /// Close the connection.
    Close {
        /// The connection.
        link: LinkId,
        /// Why (for the log).
        reason: &'static str,
    },
    /// Record a transaction outcome.
    Journal(Box<JournalRecord>),
    /// Record a transaction outcome, but let nothing after it wait for the
    /// record to be durable, whatever the durability mode: the answer of a
    /// request declined because the store is unavailable
    /// ([`super::Core::set_store_available`]) must not wait on that store.
    JournalUnheld(Box<JournalRecord>),
    /// Keep a change of the store-and-forward queue (a push is reported back
    /// with [`super::Core::on_saf_durable`] once durable).
    Store(StoreOp),
    /// The store operations before it in this batch of actions must be durable
    /// before any later `Send` (or `Close`) of the batch goes out.
    SafBarrier,
    /// Everything handed to the store so far, by any event, must be durable
    /// before any later `Send` (or `Close`) of the batch goes out: the answer
    /// to a repeat whose original's changes may still be on their way.
    DurableFence,
    /// A decision the switch took itself (in stand-in): its journal record and
    /// advice, handed to the store before this, are kept as the journal's
    /// durability mode keeps records. Strict: durable before any later `Send`
    /// (or `Close`) of the batch goes out. Relaxed: not waited for, as an
    /// answer is not waited for its record (at most one batch behind).
    DecisionFence,
    /// Close the business day now (0800 with field 70 = 201).
    Cutover,
    /// Ask the security module to translate a PIN block; its answer goes to
    /// [`super::Core::on_pin_translated`] with the request's token.
    TranslatePin(Box<super::pin::PinRequest>),
    /// A peer caused a security event (a replayed or forged dynamic code, a
    /// token outside its domain): the driver logs it, paced per link and kind.
    SecurityEvent {
        /// The connection it came on.
        link: LinkId,
        /// Its kind (the metrics label).
        event: &'static str,
        /// What was wrong (no card data).
        reason: &'static str,
    },
    /// An enrolment the driver started with `Core::enrol` ended: hand the
    /// outcome to whoever waits for request `request`.
    EnrolmentDone {
        /// The driver's id of the enrolment request.
        request: u64,
        /// How it ended.
        outcome: Box<super::tokens::EnrolOutcome>,
    },
}

/// Actions from one event; usually one or two.
pub type Actions = Vec<Action>;
