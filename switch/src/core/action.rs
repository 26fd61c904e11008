//! What the core asks its driver to do.

use codecs::Message;

use super::journal::JournalRecord;

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
    /// Messages were queued for store-and-forward: they must be durable before any
    /// later `Send` of this batch of actions goes out.
    SafBarrier,
    /// Close the business day now (0800 with field 70 = 201).
    Cutover,
    /// Ask the security module to translate a PIN block; its answer goes to
    /// [`super::Core::on_pin_translated`] with the request's token.
    TranslatePin(Box<super::pin::PinRequest>),
}

/// Actions from one event; usually one or two.
pub type Actions = Vec<Action>;
