//! Payment apps and channels: the app operators that take part beside banks, and
//! the way a transaction reaches the switch (a card at a terminal, an ATM, or a
//! token shown as a QR code by an app).
//!
//! An app accepts the cards of the issuers that joined it ([`App::banks`]); rules
//! compare the card's issuer with that list (`issuer_joined_app`). Token ranges, the
//! other entity of the app channel, are in [`crate::tokens`].

use crate::model::BankIdx;

/// Index of an app in the table.
pub type AppIdx = u16;

/// How a transaction reaches the switch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Channel {
    /// A card at a POS terminal or a branch.
    #[default]
    Terminal,
    /// A cash withdrawal at an ATM.
    Atm,
    /// A token presented by QR from a payment app.
    WalletQr,
}

impl Channel {
    /// All channels, in index order (for building the rule index).
    pub const ALL: [Channel; 3] = [Channel::Terminal, Channel::Atm, Channel::WalletQr];

    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Terminal => "terminal",
            Channel::Atm => "atm",
            Channel::WalletQr => "wallet-qr",
        }
    }

    /// Parse the configuration name.
    pub fn from_name(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Position in [`Channel::ALL`].
    #[inline]
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// A payment-app operator.
#[derive(Clone, Debug)]
pub struct App {
    /// Identifier used in rules and configuration (e.g. `koryo-pay`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// EMV token requestor id: 11 digits, unique in the table.
    pub requestor_id: String,
    /// The issuers whose cards it accepts (the banks that joined it), sorted.
    pub banks: Vec<BankIdx>,
}

impl App {
    /// Whether the bank joined the app (its cards are accepted).
    #[inline]
    pub fn joined(&self, bank: BankIdx) -> bool {
        self.banks.binary_search(&bank).is_ok()
    }
}

/// Whether `id` is usable as an app id: lowercase letters, digits and `-`.
pub(crate) fn is_app_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        for c in Channel::ALL {
            assert_eq!(Channel::from_name(c.name()), Some(c));
            assert_eq!(Channel::ALL[c.index()], c);
        }
        assert_eq!(Channel::from_name("qr"), None);
        assert_eq!(Channel::default(), Channel::Terminal);
    }
}
