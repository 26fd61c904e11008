//! The token vault in memory: token -> card, app, status, key and counters, for
//! the hot path (a QR payment looks its token up here, never in the store), and
//! card -> tokens for an issuer's suspension of a card. Every change a restart
//! must see leaves the core as a [`crate::core::StoreOp`]; the store keeps the PAN
//! and key only encrypted, and hands the records back at start
//! ([`crate::core::Core::restore_tokens`]).
//!
//! Token numbers are keys the switch draws at random itself, so the cheap
//! [`IdHasher`] is safe here: a peer can look numbers up, but cannot choose the
//! keys stored.

use card_security::wallet::CodeKey;
use card_security::wallet::TokenKey;
use dashmap::DashMap;

use super::record::{SecretPan, TokenRecord};
use crate::core::id_hash::IdHasher;

/// A token in the vault, its key prepared for checking codes.
pub struct TokenEntry {
    /// Everything it is bound to.
    pub record: TokenRecord,
    /// The per-token key, ready to check cryptograms.
    pub code: CodeKey,
}

/// The vault (see the module documentation).
#[derive(Default)]
pub struct TokenVault {
    tokens: DashMap<u64, TokenEntry, IdHasher>,
    /// The tokens of each card (an issuer suspends a card's tokens together).
    cards: DashMap<SecretPan, Vec<u64>>,
}

/// A token number as the vault's key: its digits as a number (tokens are 16
/// digits; anything that is not 13 to 19 digits is no token).
pub fn token_key(digits: &[u8]) -> Option<u64> {
    if !(13..=19).contains(&digits.len()) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit()
            .then(|| n.wrapping_mul(10).wrapping_add(u64::from(d - b'0')))
    })
}

impl TokenVault {
    /// Keep `record` (a new token, or one restored at start).
    pub fn insert(&self, record: TokenRecord) {
        let Some(key) = token_key(record.token.as_bytes()) else {
            return;
        };
        let code = CodeKey::new(&TokenKey::from_bytes(*record.key.expose()));
        let mut card = self.cards.entry(record.pan.clone()).or_default();
        if !card.contains(&key) {
            card.push(key);
        }
        drop(card);
        self.tokens.insert(key, TokenEntry { record, code });
    }

    /// Whether `key` is taken (a new token number must not be).
    pub fn contains(&self, key: u64) -> bool {
        self.tokens.contains_key(&key)
    }

    /// The token `key`, locked for reading.
    pub fn get(&self, key: u64) -> Option<dashmap::mapref::one::Ref<'_, u64, TokenEntry>> {
        self.tokens.get(&key)
    }

    /// The token `key`, locked for a change (its counters, its status).
    pub fn get_mut(&self, key: u64) -> Option<dashmap::mapref::one::RefMut<'_, u64, TokenEntry>> {
        self.tokens.get_mut(&key)
    }

    /// The tokens of card `pan`.
    pub fn tokens_of(&self, pan: &SecretPan) -> Vec<u64> {
        self.cards.get(pan).map(|t| t.clone()).unwrap_or_default()
    }

    /// Tokens held (every status).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}
