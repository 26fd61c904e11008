//! A test wallet: an app's tokens with their keys and counters, in memory and
//! in its JSON file:
//!
//! ```json
//! {"app":"koryo-pay","requestor_id":"94000000001",
//!  "tokens":[{"token":"9408990000000017","token_expiry":"2812",
//!             "key":"00112233...","card":"940800******1234","issuer":"940800",
//!             "next_atc":1}]}
//! ```
//!
//! The file holds the per-token keys in the clear: it is a simulator's wallet,
//! written with mode 0600, never a production store. No full PAN is kept (the
//! card only masked). Counters are atomic, so payments may be drawn from one
//! wallet by several tasks; each call gets its own ATC.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use card_security::wallet::{CodeInput, CodeKey, QrPayload, TokenKey};
use serde::{Deserialize, Serialize};

use crate::cards::SplitMix;

/// One token of the wallet.
pub struct WalletToken {
    /// The token (digits).
    pub token: String,
    /// Its expiry, YYMM.
    pub expiry: [u8; 4],
    key: TokenKey,
    code_key: CodeKey,
    /// The card it stands for, masked (first 6, last 4).
    pub card: String,
    /// The card's issuer (bank id).
    pub issuer: String,
    /// The next ATC to use (past 65535 the token has no codes left).
    next_atc: AtomicU32,
}

impl WalletToken {
    /// A token as enrolled: `key` is the one the token API gave, once.
    pub fn new(
        token: String,
        expiry: [u8; 4],
        key: TokenKey,
        card: String,
        issuer: String,
    ) -> Self {
        WalletToken {
            code_key: CodeKey::new(&key),
            token,
            expiry,
            key,
            card,
            issuer,
            next_atc: AtomicU32::new(1),
        }
    }

    /// The ATC the next code will carry.
    pub fn next_atc(&self) -> u32 {
        self.next_atc.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for WalletToken {
    /// The token masked like a PAN, no key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletToken")
            .field("token", &codecs::mask::mask_pan(self.token.as_bytes()))
            .field("card", &self.card)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// An app's wallet of tokens.
#[derive(Debug)]
pub struct Wallet {
    /// The app's id (as in the routing rules).
    pub app: String,
    /// The app's token requestor id (11 digits).
    pub requestor_id: String,
    /// The tokens, in enrolment order.
    pub tokens: Vec<WalletToken>,
    /// Salt of the unpredictable numbers.
    seed: u64,
}

/// Why a wallet could not be used, read or written.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// No token at that index.
    #[error("the wallet has no token {0}")]
    NoToken(usize),
    /// The token's counter is spent.
    #[error("token {0} has used all 65535 counter values")]
    CounterSpent(usize),
    /// The file cannot be read or written.
    #[error("wallet file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a wallet.
    #[error("wallet file {path}: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong (never a key or a token).
        reason: String,
    },
}

impl Wallet {
    /// An empty wallet of `app`.
    pub fn new(app: &str, requestor_id: &str) -> Wallet {
        Wallet {
            app: app.to_string(),
            requestor_id: requestor_id.to_string(),
            tokens: Vec::new(),
            seed: seed_of(app),
        }
    }

    /// The next QR payload of token `index`: its next ATC (each call its own,
    /// from any thread), a fresh unpredictable number and the cryptogram.
    pub fn next_payload(&self, index: usize) -> Result<QrPayload, WalletError> {
        let t = self.tokens.get(index).ok_or(WalletError::NoToken(index))?;
        let atc = t.next_atc.fetch_add(1, Ordering::Relaxed);
        let atc = u16::try_from(atc).map_err(|_| WalletError::CounterSpent(index))?;
        // Deterministic for a simulator (a phone draws it at random); distinct per
        // token and counter.
        let unpredictable =
            SplitMix::new(self.seed ^ ((index as u64) << 20) ^ u64::from(atc)).next_u64() as u32;
        let input = CodeInput {
            token: t.token.as_bytes(),
            expiry: t.expiry,
            atc,
            unpredictable,
            requestor_id: self.requestor_id.as_bytes(),
        };
        Ok(QrPayload::sign(&t.code_key, &input))
    }

    /// The index of `token`.
    pub fn index_of(&self, token: &str) -> Option<usize> {
        self.tokens.iter().position(|t| t.token == token)
    }

    /// The wallet as its file's JSON.
    pub fn to_json(&self) -> String {
        let file = WalletFile {
            app: self.app.clone(),
            requestor_id: self.requestor_id.clone(),
            tokens: self
                .tokens
                .iter()
                .map(|t| TokenEntry {
                    token: t.token.clone(),
                    token_expiry: String::from_utf8_lossy(&t.expiry).into_owned(),
                    key: t.key.to_hex(),
                    card: t.card.clone(),
                    issuer: t.issuer.clone(),
                    next_atc: t.next_atc(),
                })
                .collect(),
        };
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Read a wallet from its JSON.
    pub fn from_json(text: &str, path: &str) -> Result<Wallet, WalletError> {
        let format = |reason: String| WalletError::Format {
            path: path.to_string(),
            reason,
        };
        // serde_json's messages quote no values for these types' mismatches, but
        // keep only the position to be sure no key is echoed.
        let file: WalletFile = serde_json::from_str(text).map_err(|e| {
            format(format!(
                "not a wallet (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let mut wallet = Wallet::new(&file.app, &file.requestor_id);
        for (i, entry) in file.tokens.into_iter().enumerate() {
            let key =
                TokenKey::from_hex(&entry.key).map_err(|e| format(format!("token {i}: {e}")))?;
            let expiry: [u8; 4] = entry
                .token_expiry
                .as_bytes()
                .try_into()
                .map_err(|_| format(format!("token {i}: token_expiry is not YYMM")))?;
            let token = WalletToken::new(entry.token, expiry, key, entry.card, entry.issuer);
            token.next_atc.store(entry.next_atc, Ordering::Relaxed);
            wallet.tokens.push(token);
        }
        Ok(wallet)
    }

    /// Read the wallet file at `path`.
    pub fn load(path: &Path) -> Result<Wallet, WalletError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| WalletError::Io {
            path: shown.clone(),
            source,
        })?;
        Wallet::from_json(&text, &shown)
    }

    /// Write the wallet file at `path` (mode 0600: it holds keys), replacing it
    /// whole.
    pub fn save(&self, path: &Path) -> Result<(), WalletError> {
        let io = |source| WalletError::Io {
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        write_private(&tmp, self.to_json().as_bytes()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }
}

/// Create `path` readable by its owner only, then write `bytes`.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn seed_of(app: &str) -> u64 {
    app.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// The file's shape.
#[derive(Serialize, Deserialize)]
struct WalletFile {
    app: String,
    requestor_id: String,
    tokens: Vec<TokenEntry>,
}

#[derive(Serialize, Deserialize)]
struct TokenEntry {
    token: String,
    token_expiry: String,
    key: String,
    card: String,
    issuer: String,
    next_atc: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use card_security::wallet::{CodeData, CodeKey};

    pub(crate) fn sample() -> Wallet {
        let mut w = Wallet::new("jonsong", "94000000002");
        for (token, byte) in [("9408990000000017", 1u8), ("9408990000000025", 2)] {
            w.tokens.push(WalletToken::new(
                token.into(),
                *b"2812",
                TokenKey::from_bytes([byte; 16]),
                "940810******1234".into(),
                "940810".into(),
            ));
        }
        w
    }

    #[test]
    fn payloads_verify_and_counters_advance_across_threads() {
        let w = std::sync::Arc::new(sample());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let w = w.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|_| w.next_payload(1).unwrap().atc)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut atcs: Vec<u16> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        atcs.sort_unstable();
        assert_eq!(atcs, (1..=200).collect::<Vec<u16>>());
        let p = w.next_payload(1).unwrap();
        assert_eq!(
            (p.atc, p.token.as_str(), p.requestor_id.as_str()),
            (201, "9408990000000025", "94000000002")
        );
        let data = CodeData::from_field55(&p.field55()).unwrap();
        let key = CodeKey::new(&TokenKey::from_bytes([2; 16]));
        assert!(key.verify(&data.code_input(p.token.as_bytes()), &data.cryptogram));
        assert_ne!(w.next_payload(1).unwrap().unpredictable, p.unpredictable);
        assert!(matches!(w.next_payload(2), Err(WalletError::NoToken(2))));
    }

    #[test]
    fn file_round_trip_is_private() {
        let w = sample();
        w.next_payload(0).unwrap();
        let dir = std::env::temp_dir().join(format!("wallet-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.json");
        w.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let back = Wallet::load(&path).unwrap();
        assert_eq!(back.to_json(), w.to_json());
        assert_eq!(back.tokens[0].next_atc(), 2);
        assert_eq!(back.next_payload(0).unwrap(), w.next_payload(0).unwrap());
        // A broken file names the problem, not the key.
        let broken = w
            .to_json()
            .replace(&TokenKey::from_bytes([1; 16]).to_hex(), "0101");
        let e = Wallet::from_json(&broken, "w.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("token 0") && !e.contains("0101"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!format!("{w:?}").contains("9408990000000017"));
    }
}
