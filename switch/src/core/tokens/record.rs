//! A token as the store keeps it ([`TokenRecord`]), its status, and the holders of
//! its secrets: the card number ([`SecretPan`]) and the per-token key
//! ([`TokenSecret`]), both wiped on drop and never shown by `Debug`.

use std::fmt;

use zeroize::Zeroize;

use super::atc::AtcWindow;

/// A card number in the clear (the vault needs it to detokenise). Wiped on
/// drop; `Debug` and `Display` show first 6 / last 4 only.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretPan(String);

impl SecretPan {
    /// A PAN of 12 to 19 ASCII digits; None otherwise.
    pub fn new(digits: &str) -> Option<SecretPan> {
        let ok = (12..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| SecretPan(digits.to_string()))
    }

    /// The digits. Never log them.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last four digits.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    /// First 6 / last 4.
    pub fn masked(&self) -> String {
        codecs::mask::mask_pan(self.0.as_bytes())
    }
}

impl Drop for SecretPan {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Display for SecretPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A per-token AES-128 key (dynamic codes). Wiped on drop; `Debug` shows only
/// that it is one.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret([u8; 16]);

impl TokenSecret {
    /// From its bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> TokenSecret {
        TokenSecret(bytes)
    }

    /// The bytes. Never log them.
    pub fn expose(&self) -> &[u8; 16] {
        &self.0
    }
}

impl Drop for TokenSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(16 bytes)")
    }
}

/// Who suspended a token: each party lifts only its own suspension, and the
/// token pays again only when neither holds one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuspendedBy {
    /// The app that holds it (its user's request).
    App,
    /// The card's issuer.
    Issuer,
    /// Both, each for its own reasons.
    Both,
}

impl SuspendedBy {
    /// `app`, `issuer` or `both`.
    pub fn name(self) -> &'static str {
        match self {
            SuspendedBy::App => "app",
            SuspendedBy::Issuer => "issuer",
            SuspendedBy::Both => "both",
        }
    }

    /// Whether `party` (App or Issuer) holds a suspension here.
    pub fn includes(self, party: SuspendedBy) -> bool {
        self == SuspendedBy::Both || self == party
    }
}

/// A token's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    /// Pays.
    Active,
    /// Declined (62) until resumed.
    Suspended(SuspendedBy),
    /// Gone for good (14); kept so that reversals of its payments still find the card.
    Deleted,
}

impl TokenStatus {
    /// `active`, `suspended` or `deleted`.
    pub fn name(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Suspended(_) => "suspended",
            TokenStatus::Deleted => "deleted",
        }
    }

    /// Who suspended it, when suspended.
    pub fn suspended_by(self) -> Option<SuspendedBy> {
        match self {
            TokenStatus::Suspended(by) => Some(by),
            _ => None,
        }
    }

    /// From [`TokenStatus::name`] and [`SuspendedBy::name`] (as stored).
    pub fn from_names(status: &str, by: Option<&str>) -> Option<TokenStatus> {
        Some(match (status, by) {
            ("active", _) => TokenStatus::Active,
            ("deleted", _) => TokenStatus::Deleted,
            ("suspended", Some("app")) => TokenStatus::Suspended(SuspendedBy::App),
            ("suspended", Some("issuer")) => TokenStatus::Suspended(SuspendedBy::Issuer),
            ("suspended", Some("both")) => TokenStatus::Suspended(SuspendedBy::Both),
            _ => return None,
        })
    }
}

/// A token with everything it is bound to: what the store keeps (the PAN and the
/// key only encrypted) and restores at start.
#[derive(Clone, Debug)]
pub struct TokenRecord {
    /// The token number (ASCII digits, Luhn-valid, in a token range).
    pub token: String,
    /// The card it stands for.
    pub pan: SecretPan,
    /// The card's expiry, YYMM (field 14 toward the issuer).
    pub card_expiry: [u8; 4],
    /// The app it was issued to (`[[app]]` id).
    pub app: String,
    /// That app's token requestor id (11 digits).
    pub requestor_id: String,
    /// The card's issuer (bank id).
    pub issuer: String,
    /// Its standing.
    pub status: TokenStatus,
    /// The token's own expiry, YYMM.
    pub token_expiry: [u8; 4],
    /// The per-token key for dynamic codes.
    pub key: TokenSecret,
    /// The counters seen so far.
    pub atc: AtcWindow,
    /// When it was issued (Unix milliseconds; the driver's clock).
    pub created_unix_ms: i64,
}
