//! The token vault's storage: token -> card, kept so that a restart finds every
//! token (its status and its counters too), with nothing of the card in the clear.
//!
//! - `tokens`: one row per token. What the switch must look up or show is plain
//!   (token number, app, requestor id, issuer, status, expiry); the card is only a
//!   keyed hash of the PAN (HMAC-SHA-256 under the journal's `pan_key`, the
//!   journal's `pan_hash`, so an operator can match the two) and ONE AES-256-GCM
//!   ciphertext holding the PAN, the card's expiry and the per-token key, with the
//!   token number as associated data (a row's ciphertext copied onto another token
//!   does not open) and a fresh 96-bit nonce per write, stored before it.
//! - `token_counters`: each token's counter window (highest, mask): a payment's
//!   write is one small upsert, and many of one token in a commit are one.
//! - `vault_key`: the data key, 256 random bits made the first time the vault is
//!   opened, stored only wrapped (AES key wrap) under the key-encryption key of
//!   `[switch.security]`, with its check value. A KEK that does not unwrap it stops
//!   the start: a new key would leave every stored token unreadable.
//!
//! Writes reach the database through the store's writer thread with the journal
//! ([`VaultOp`]); encryption happens before, on the caller's thread. The switch
//! reads the vault once, at start ([`Store::load_tokens`]); lookups on the hot
//! path come from the core's memory.

use std::collections::HashMap;

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use card_security::kek;
use card_security::KeyMaterial;
use hmac::{Hmac, Mac};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::writer::Op;
use super::{Store, StoreError};
use crate::config::SecretKey;
use crate::core::tokens::{AtcWindow, SecretPan, TokenRecord, TokenSecret, TokenStatus};
use crate::core::StoreOp;
use crate::security::SecurityConfig;

/// The vault's tables (idempotent; [`super::schema::migrate`] adds them to a
/// database of version 2).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS vault_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    wrapped TEXT NOT NULL,            -- the data key under the KEK (AES key wrap), hex
    check_value TEXT NOT NULL,        -- AES of a zero block under the data key, first 3 bytes
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,           -- the token number
    app TEXT NOT NULL,                -- the [[app]] id it was issued to
    requestor_id TEXT NOT NULL,       -- that app's token requestor id
    issuer TEXT NOT NULL,             -- the card's issuer
    status TEXT NOT NULL,             -- active, suspended, deleted
    suspended_by TEXT,                -- app or issuer, while suspended
    token_expiry TEXT NOT NULL,       -- YYMM
    created_ms INTEGER NOT NULL,      -- unix milliseconds
    pan_hash TEXT NOT NULL,           -- HMAC-SHA-256 of the PAN under pan_key, hex
    sealed BLOB NOT NULL              -- nonce (12) then AES-256-GCM of PAN, card expiry, token key
);
CREATE INDEX IF NOT EXISTS tokens_pan_hash ON tokens(pan_hash);
CREATE TABLE IF NOT EXISTS token_counters (
    token TEXT PRIMARY KEY,
    high INTEGER NOT NULL,            -- the highest counter accepted
    mask INTEGER NOT NULL             -- the 64 below it (bit i: high - 1 - i), as a signed 64-bit value
);
";

/// Bytes of a GCM nonce.
const NONCE_LEN: usize = 12;
/// Bytes of the data key (AES-256).
const DATA_KEY_LEN: usize = 32;
/// The sealed plaintext after the PAN: card expiry (4) and token key (16).
const AFTER_PAN: usize = 4 + 16;

/// Why the vault cannot be used. Never names a PAN or a key; a token only by its
/// last four digits.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The KEK could not be had.
    #[error("token vault: the key-encryption key: {0}")]
    Kek(card_security::KeyError),
    /// The stored data key does not unwrap under this KEK, or its check value
    /// differs.
    #[error(
        "token vault: the stored data key does not unwrap under the key-encryption key in {var} \
         (is it the KEK the vault was made with?); not starting rather than making a new key, \
         which would leave every stored token unreadable"
    )]
    WrongKek {
        /// The variable the KEK came from.
        var: String,
    },
    /// The journal's `pan_key` is needed for the PAN's keyed hash.
    #[error("token vault: [journal] pan_key is needed (the PAN's keyed hash)")]
    NoPanKey,
    /// No KEK was given to the store that holds tokens.
    #[error("token vault: the database holds tokens, and the store was opened without the key-encryption key")]
    NotOpened,
    /// A stored row does not open (altered, or another data key's).
    #[error("token vault: token ending {last4}: {reason}")]
    Row {
        /// The token's last four digits.
        last4: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The database.
    #[error("token vault: {0}")]
    Sql(#[from] rusqlite::Error),
    /// No random numbers.
    #[error("token vault: no random numbers: {0}")]
    Random(String),
}

/// Why [`Vault::seal`] failed.
#[derive(Debug)]
pub(super) enum SealError {
    /// No random numbers for the nonce.
    Random(String),
    /// The cipher refused (never for the sizes sealed here).
    Cipher,
}

/// The KEK of `[switch.security]` (`kek_env`, default `SWITCH_KEK`), for
/// [`Store::open_with_vault`].
pub fn kek_from_config(security: &SecurityConfig) -> Result<KeyMaterial, VaultError> {
    kek::kek_from_env(security.kek_var()).map_err(VaultError::Kek)
}

/// The vault's keys, ready: the data key's cipher and the PAN's keyed hash.
pub struct Vault {
    cipher: Aes256Gcm,
    pan_hmac: Hmac<Sha256>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault { .. }")
    }
}

/// One write to the vault's tables, encrypted already.
#[derive(Debug)]
pub enum VaultOp {
    /// Insert (or replace) a token and its counters.
    Put(Box<TokenRow>),
    /// A token's status changed.
    Status {
        /// The token number.
        token: String,
        /// Its new status.
        status: TokenStatus,
    },
    /// A token's counters moved.
    Counters {
        /// The token number.
        token: String,
        /// The window now.
        atc: AtcWindow,
    },
}

/// A token as its row holds it: the card sealed.
#[derive(Debug)]
pub struct TokenRow {
    token: String,
    app: String,
    requestor_id: String,
    issuer: String,
    status: TokenStatus,
    token_expiry: String,
    created_ms: i64,
    pan_hash: String,
    sealed: Vec<u8>,
    atc: AtcWindow,
}

/// The check value of a 256-bit AES key: its encryption of a zero block, first 3
/// bytes (hex), as key ceremonies show AES keys.
fn check_value(key: &[u8]) -> Option<String> {
    let cipher = aes::Aes256::new_from_slice(key).ok()?;
    let mut block = [0u8; 16];
    cipher.encrypt_block((&mut block).into());
    Some(hex(&block[..3]).to_ascii_uppercase())
}

/// Lowercase hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl Vault {
    /// The vault of the database `conn`: its data key unwrapped under `kek`, or,
    /// the first time, made and stored wrapped.
    pub fn open(
        conn: &Connection,
        kek: &KeyMaterial,
        kek_var: &str,
        pan_key: &SecretKey,
        now_ms: i64,
    ) -> Result<Vault, VaultError> {
        let stored: Option<(String, String)> = conn
            .query_row(
                "SELECT wrapped, check_value FROM vault_key WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (vault, made) = Vault::unlock(stored, kek, kek_var, pan_key)?;
        if let Some((wrapped, kcv)) = made {
            conn.execute(
                "INSERT INTO vault_key (id, wrapped, check_value, created_ms) VALUES (1, ?1, ?2, ?3)",
                params![wrapped, kcv, now_ms],
            )?;
        }
        Ok(vault)
    }

    /// The vault whose data key is `stored` (wrapped, check value), unwrapped
    /// under `kek`; or, when none is stored, a new data key, returned wrapped
    /// (with its check value) for the caller to store (either backend).
    pub(crate) fn unlock(
        stored: Option<(String, String)>,
        kek: &KeyMaterial,
        kek_var: &str,
        pan_key: &SecretKey,
    ) -> Result<(Vault, Option<(String, String)>), VaultError> {
        let wrong = || VaultError::WrongKek {
            var: kek_var.to_string(),
        };
        let (data_key, made) = match stored {
            Some((wrapped, kcv)) => {
                let key = kek::unwrap(kek, &wrapped).map_err(|_| wrong())?;
                if key.len() != DATA_KEY_LEN || check_value(key.expose()).as_deref() != Some(&kcv) {
                    return Err(wrong());
                }
                (key, None)
            }
            None => {
                let key = KeyMaterial::random(DATA_KEY_LEN)
                    .map_err(|e| VaultError::Random(e.to_string()))?;
                let wrapped = kek::wrap(kek, &key).map_err(VaultError::Kek)?;
                let kcv = check_value(key.expose()).ok_or_else(wrong)?;
                tracing::info!(check_value = %kcv, "token vault: new data key made and stored wrapped");
                (key, Some((wrapped, kcv)))
            }
        };
        Ok((Vault::with_keys(&data_key, pan_key)?, made))
    }

    fn with_keys(data_key: &KeyMaterial, pan_key: &SecretKey) -> Result<Vault, VaultError> {
        let invalid = || VaultError::Row {
            last4: String::new(),
            reason: "key of the wrong length",
        };
        Ok(Vault {
            cipher: Aes256Gcm::new_from_slice(data_key.expose()).map_err(|_| invalid())?,
            pan_hmac: Hmac::<Sha256>::new_from_slice(pan_key.expose()).map_err(|_| invalid())?,
        })
    }

    /// HMAC-SHA-256 of the PAN's digits, lowercase hex (as the journal's `pan_hash`).
    pub fn pan_hash(&self, pan: &SecretPan) -> String {
        let mut mac = self.pan_hmac.clone();
        mac.update(pan.expose().as_bytes());
        let tag = mac.finalize().into_bytes();
        hex(&tag)
    }

    /// The row of `record`: the card sealed under a fresh nonce.
    pub fn row(&self, record: &TokenRecord) -> Result<TokenRow, VaultError> {
        let pan = record.pan.expose().as_bytes();
        let mut plain = Zeroizing::new(Vec::with_capacity(1 + pan.len() + AFTER_PAN));
        plain.push(pan.len() as u8);
        plain.extend_from_slice(pan);
        plain.extend_from_slice(&record.card_expiry);
        plain.extend_from_slice(record.key.expose());
        let stored = self
            .seal(&plain, record.token.as_bytes())
            .map_err(|e| match e {
                SealError::Random(e) => VaultError::Random(e),
                SealError::Cipher => row_error(&record.token, "does not encrypt"),
            })?;
        Ok(TokenRow {
            token: record.token.clone(),
            app: record.app.clone(),
            requestor_id: record.requestor_id.clone(),
            issuer: record.issuer.clone(),
            status: record.status,
            token_expiry: String::from_utf8_lossy(&record.token_expiry).into_owned(),
            created_ms: record.created_unix_ms,
            pan_hash: self.pan_hash(&record.pan),
            sealed: stored,
            atc: record.atc,
        })
    }

    /// The card sealed in a row of `token`: PAN, card expiry, token key.
    fn open_sealed(
        &self,
        token: &str,
        stored: &[u8],
    ) -> Result<(SecretPan, [u8; 4], TokenSecret), VaultError> {
        let plain = self.unseal(stored, token.as_bytes()).ok_or_else(|| {
            row_error(
                token,
                "sealed card does not open (too short, altered, or not this row's)",
            )
        })?;
        let malformed = || row_error(token, "sealed card malformed");
        let (&len, rest) = plain.split_first().ok_or_else(malformed)?;
        let len = usize::from(len);
        if rest.len() != len + AFTER_PAN {
            return Err(malformed());
        }
        let pan = std::str::from_utf8(&rest[..len])
            .ok()
            .and_then(SecretPan::new)
            .ok_or_else(malformed)?;
        let mut expiry = [0u8; 4];
        expiry.copy_from_slice(&rest[len..len + 4]);
        let mut key = Zeroizing::new([0u8; 16]);
        key.copy_from_slice(&rest[len + 4..]);
        Ok((pan, expiry, TokenSecret::from_bytes(*key)))
    }

    /// `plain` sealed under the data key with `aad` as associated data: a fresh
    /// random nonce, then the AES-256-GCM ciphertext and tag.
    pub(super) fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plain, aad })
            .map_err(|_| SealError::Cipher)?;
        let mut stored = Vec::with_capacity(NONCE_LEN + sealed.len());
        stored.extend_from_slice(&nonce);
        stored.extend_from_slice(&sealed);
        Ok(stored)
    }

    /// What [`Vault::seal`] sealed with `aad`; None when it does not open (too
    /// short, altered, another row's or another key's).
    pub(super) fn unseal(&self, stored: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let (nonce, sealed) = stored.split_at_checked(NONCE_LEN)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: sealed, aad })
            .ok()
            .map(Zeroizing::new)
    }

    /// Every stored token, decrypted, with its counters.
    pub fn load(&self, conn: &Connection) -> Result<Vec<TokenRecord>, VaultError> {
        let mut stmt = conn.prepare(
            "SELECT t.token, t.app, t.requestor_id, t.issuer, t.status, t.suspended_by,
                    t.token_expiry, t.created_ms, t.sealed, c.high, c.mask
             FROM tokens t LEFT JOIN token_counters c ON c.token = t.token
             ORDER BY t.created_ms, t.token",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, Vec<u8>>(8)?,
                r.get::<_, Option<i64>>(9)?,
                r.get::<_, Option<i64>>(10)?,
            ))
        })?;
        let mut records = Vec::new();
        for row in rows {
            let (token, app, requestor_id, issuer, status, by, expiry, created, sealed, high, mask) =
                row?;
            let status = TokenStatus::from_names(&status, by.as_deref())
                .ok_or_else(|| row_error(&token, "unknown status"))?;
            let token_expiry: [u8; 4] = expiry
                .as_bytes()
                .try_into()
                .map_err(|_| row_error(&token, "token expiry is not YYMM"))?;
            let (pan, card_expiry, key) = self.open_sealed(&token, &sealed)?;
            let atc = AtcWindow {
                high: high.and_then(|h| u16::try_from(h).ok()).unwrap_or(0),
                // Stored as the signed 64-bit integer SQLite holds: the same bits.
                mask: mask.map_or(0, |m| m as u64),
            };
            records.push(TokenRecord {
                token,
                pan,
                card_expiry,
                app,
                requestor_id,
                issuer,
                status,
                token_expiry,
                key,
                atc,
                created_unix_ms: created,
            });
        }
        Ok(records)
    }
}

fn row_error(token: &str, reason: &'static str) -> VaultError {
    VaultError::Row {
        last4: token
            .get(token.len().saturating_sub(4)..)
            .unwrap_or_default()
            .to_string(),
        reason,
    }
}

/// The writer's half: one vault write inside the batch's transaction.
pub(super) fn apply(tx: &Connection, op: &VaultOp) -> rusqlite::Result<()> {
    match op {
        VaultOp::Put(row) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO tokens (token, app, requestor_id, issuer, status,
                    suspended_by, token_expiry, created_ms, pan_hash, sealed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                row.token,
                row.app,
                row.requestor_id,
                row.issuer,
                row.status.name(),
                row.status.suspended_by().map(|b| b.name()),
                row.token_expiry,
                row.created_ms,
                row.pan_hash,
                row.sealed,
            ])?;
            write_counters(tx, &row.token, row.atc)
        }
        VaultOp::Status { token, status } => tx
            .prepare_cached("UPDATE tokens SET status = ?2, suspended_by = ?3 WHERE token = ?1")?
            .execute(params![
                token,
                status.name(),
                status.suspended_by().map(|b| b.name())
            ])
            .map(drop),
        VaultOp::Counters { token, atc } => write_counters(tx, token, *atc),
    }
}

/// Keep a counter window. Windows are snapshots the core takes one after another
/// under the token's lock, so a later one holds everything an earlier one does;
/// but two payments' snapshots may reach the writer in the other order. A write
/// never moves the stored window back: a lower highest counter is ignored, an
/// equal one adds its bits.
fn write_counters(tx: &Connection, token: &str, atc: AtcWindow) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO token_counters (token, high, mask) VALUES (?1, ?2, ?3)
         ON CONFLICT(token) DO UPDATE SET
             mask = CASE WHEN excluded.high = token_counters.high
                         THEN token_counters.mask | excluded.mask ELSE excluded.mask END,
             high = excluded.high
         WHERE excluded.high >= token_counters.high",
    )?
    .execute(params![token, atc.high, atc.mask as i64])
    .map(drop)
}

/// The counter writes of `batch` that another of the same token makes
/// redundant (the window is written whole: the most advanced one, the highest
/// counter then the most bits, is the state, whatever order the snapshots
/// reached the writer in): their indexes, which the commit skips.
pub(super) fn superseded_counters(batch: &[(u64, Op)]) -> Vec<bool> {
    let mut skip = Vec::new();
    let mut best: HashMap<&str, (usize, (u16, u32))> = HashMap::new();
    for (at, (_, op)) in batch.iter().enumerate() {
        if let Op::Vault(VaultOp::Counters { token, atc }) = op {
            if skip.is_empty() {
                skip = vec![false; batch.len()];
            }
            let rank = (atc.high, atc.mask.count_ones());
            match best.get(token.as_str()) {
                Some(&(_, kept_rank)) if kept_rank >= rank => skip[at] = true,
                Some(&(kept, _)) => {
                    skip[kept] = true;
                    best.insert(token.as_str(), (at, rank));
                }
                None => {
                    best.insert(token.as_str(), (at, rank));
                }
            }
        }
    }
    skip
}

impl Store {
    /// The vault write for a token operation; None when it cannot be kept (no
    /// vault opened, or no randomness for a nonce: logged, kept in memory only).
    pub(super) fn vault_op(&self, op: StoreOp) -> Option<Op> {
        let Some(vault) = &self.vault else {
            tracing::error!(
                "token change not stored: the store was opened without the token vault"
            );
            metrics::counter!("switch_vault_not_persisted_total").increment(1);
            return None;
        };
        let op = match op {
            StoreOp::TokenPut(record) => match vault.row(&record) {
                Ok(row) => VaultOp::Put(Box::new(row)),
                Err(e) => {
                    tracing::error!(error = %e, "token not stored");
                    metrics::counter!("switch_vault_not_persisted_total").increment(1);
                    return None;
                }
            },
            StoreOp::TokenStatus { token, status } => VaultOp::Status { token, status },
            StoreOp::TokenAtc { token, atc } => VaultOp::Counters { token, atc },
            _ => return None,
        };
        Some(Op::Vault(op))
    }

    /// Every token the vault holds, decrypted (at start, for the core's memory).
    /// A row that does not open is an error naming the token's last four digits.
    pub fn load_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        if !self.sqlite {
            // The vault is not kept on PostgreSQL (the store refuses a KEK there).
            return Ok(Vec::new());
        }
        let fail = |e: VaultError| StoreError::Open {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let conn = Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| fail(e.into()))?;
        match &self.vault {
            Some(vault) => vault.load(&conn).map_err(fail),
            None => {
                let held: i64 = conn
                    .query_row("SELECT count(*) FROM tokens", [], |r| r.get(0))
                    .map_err(|e| fail(e.into()))?;
                if held > 0 {
                    return Err(fail(VaultError::NotOpened));
                }
                Ok(Vec::new())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn counters(token: &str, high: u16) -> (u64, Op) {
        (
            0,
            Op::Vault(VaultOp::Counters {
                token: token.into(),
                atc: AtcWindow { high, mask: 0 },
            }),
        )
    }

    #[test]
    fn only_the_last_counter_write_of_a_token_in_a_batch_is_kept() {
        let batch = [
            counters("9408990000000001", 1),
            counters("9408990000000002", 1),
            counters("9408990000000001", 2),
            (0, Op::Stop),
            counters("9408990000000001", 3),
        ];
        assert_eq!(
            superseded_counters(&batch),
            vec![true, false, true, false, false]
        );
        assert!(superseded_counters(&[(0, Op::Stop)]).is_empty());
    }

    #[test]
    fn the_most_advanced_counter_window_is_kept_whatever_its_order() {
        // Two payments' snapshots reached the writer in the other order.
        let batch = [
            counters("9408990000000001", 5),
            counters("9408990000000001", 4),
        ];
        assert_eq!(superseded_counters(&batch), vec![false, true]);
    }

    #[test]
    fn a_stored_window_never_moves_back() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let token = "9408990000000001";
        let high = |conn: &Connection| -> (u16, i64) {
            conn.query_row(
                "SELECT high, mask FROM token_counters WHERE token = ?1",
                [token],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        write_counters(
            &conn,
            token,
            AtcWindow {
                high: 5,
                mask: 0b10,
            },
        )
        .unwrap();
        write_counters(&conn, token, AtcWindow { high: 4, mask: 0 }).unwrap();
        assert_eq!(high(&conn), (5, 0b10), "an older snapshot is ignored");
        write_counters(
            &conn,
            token,
            AtcWindow {
                high: 5,
                mask: 0b01,
            },
        )
        .unwrap();
        assert_eq!(high(&conn), (5, 0b11), "an equal one adds its bits");
        write_counters(&conn, token, AtcWindow { high: 9, mask: 0 }).unwrap();
        assert_eq!(high(&conn), (9, 0));
    }

    #[test]
    fn the_check_value_is_the_aes_encryption_of_a_zero_block() {
        // FIPS-197 C.3 with a zero key would need its own vector; an all-zero key's
        // zero block under AES-256 is the known 0xDC95C078...
        assert_eq!(check_value(&[0u8; 32]).unwrap(), "DC95C0");
    }
}
