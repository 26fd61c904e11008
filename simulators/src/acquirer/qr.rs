//! The QR channel of the load: a share of purchases paid by app. The tokens of
//! one or more wallets (an app's each) are pooled; a QR draw names one of them,
//! and its request carries the token in field 2, the token's expiry in 14,
//! field 22 = [`QR_ENTRY_MODE`] and field 55 = the code's data, read back from
//! the payload's base64 as a merchant's reader would (the acquirer plays both
//! phone and reader). No PAN, track 2 or PIN block: the acquirer knows none.
//!
//! Tokens of one wallet may be split between acquirers (`--wallet-part K/N`:
//! tokens `i` with `i % N == K`), so that separate processes never use one
//! counter twice; in one process the wallets are shared and their counters
//! are atomic.

use std::path::PathBuf;
use std::sync::Arc;

use card_security::wallet::{QrPayload, QR_ENTRY_MODE};
use routing_rules::model::BankIdx;
use routing_rules::RoutingTable;

use crate::cards::SplitMix;
use crate::wallet::Wallet;

/// Field 22 of QR payments.
pub const ENTRY_MODE: &str = QR_ENTRY_MODE;
/// QR purchase amounts, whole KPW, log-uniform between these: up to twice the
/// national rules' app purchase limit (1,000,000), so that some meet it.
const AMOUNT_RANGE: (f64, f64) = (100.0, 2_000_000.0);
/// KPW, the currency of QR payments.
pub const QR_CURRENCY: u16 = 408;

/// `sim acquirer`'s QR options.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct QrOptions {
    /// Pay a share of purchases by QR with the tokens of this wallet file (from
    /// `sim wallet enrol`; repeatable, one per app). Its counters are saved back
    /// after the run unless --wallet-part splits it.
    #[arg(long, value_name = "FILE")]
    pub wallet: Vec<PathBuf>,
    /// Share of purchases paid by QR, 0 to 1 [default: 1 with --wallet].
    #[arg(long, value_name = "F")]
    pub qr_share: Option<f64>,
    /// Pay with the tokens i of each wallet with i % N == K, when N acquirers
    /// share the wallets (no counter is used twice).
    #[arg(long, value_name = "K/N", default_value = "0/1")]
    pub wallet_part: WalletPart,
}

impl QrOptions {
    /// The wallet files, read.
    pub fn load(&self) -> Result<Vec<Arc<Wallet>>, String> {
        self.wallet
            .iter()
            .map(|p| Wallet::load(p).map(Arc::new).map_err(|e| e.to_string()))
            .collect()
    }

    /// What the load pays with (None without wallets).
    pub fn run(&self, wallets: &[Arc<Wallet>]) -> Option<QrRun> {
        (!wallets.is_empty()).then(|| QrRun {
            wallets: wallets.to_vec(),
            share: self.qr_share.unwrap_or(1.0),
            part: self.wallet_part,
        })
    }

    /// Write the wallets' advanced counters back to their files, when this
    /// acquirer used whole wallets (parts would overwrite each other's).
    pub fn save(&self, wallets: &[Arc<Wallet>]) -> Result<(), String> {
        if self.wallet_part.of != 1 {
            return Ok(());
        }
        for (wallet, path) in wallets.iter().zip(&self.wallet) {
            wallet.save(path).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// The QR channel of one load: the wallets, the share of purchases paid by QR
/// and which tokens this acquirer uses.
#[derive(Clone, Debug)]
pub struct QrRun {
    /// The wallets (one per app).
    pub wallets: Vec<Arc<Wallet>>,
    /// Share of purchases paid by QR, 0 to 1.
    pub share: f64,
    /// Which of each wallet's tokens.
    pub part: WalletPart,
}

/// Which tokens of a wallet this acquirer pays with: `K/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalletPart {
    /// This acquirer's part, below `of`.
    pub part: usize,
    /// Parts in all.
    pub of: usize,
}

impl Default for WalletPart {
    fn default() -> Self {
        WalletPart { part: 0, of: 1 }
    }
}

impl std::str::FromStr for WalletPart {
    type Err = String;
    fn from_str(text: &str) -> Result<WalletPart, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("--wallet-part {text:?} is not K/N"))?;
        let (part, of) = (k.trim().parse::<usize>(), n.trim().parse::<usize>());
        match (part, of) {
            (Ok(part), Ok(of)) if of > 0 && part < of => Ok(WalletPart { part, of }),
            _ => Err(format!("--wallet-part {text:?}: K/N with 0 <= K < N")),
        }
    }
}

/// One token the load may pay with.
#[derive(Clone, Copy, Debug)]
struct PooledToken {
    wallet: u16,
    token: u32,
    issuer: Option<BankIdx>,
}

/// The wallets, the tokens this acquirer uses and the share of purchases paid by QR.
pub struct QrPlan {
    wallets: Vec<Arc<Wallet>>,
    tokens: Vec<PooledToken>,
    share: f64,
}

impl QrPlan {
    /// The tokens of `wallets` in `part`, paying `share` of the draws.
    pub fn new(
        table: &RoutingTable,
        wallets: Vec<Arc<Wallet>>,
        part: WalletPart,
        share: f64,
    ) -> Result<QrPlan, String> {
        if !(0.0..=1.0).contains(&share) {
            return Err(format!("--qr-share {share} is not between 0 and 1"));
        }
        if wallets.len() > usize::from(u16::MAX) {
            return Err("too many wallets".into());
        }
        let mut tokens = Vec::new();
        for (w, wallet) in wallets.iter().enumerate() {
            for (i, t) in wallet.tokens.iter().enumerate() {
                if i % part.of == part.part {
                    tokens.push(PooledToken {
                        wallet: w as u16,
                        token: u32::try_from(i).map_err(|_| "too many tokens")?,
                        issuer: table.bank_index(t.issuer.as_bytes()),
                    });
                }
            }
        }
        if tokens.is_empty() && share > 0.0 {
            return Err("the wallets have no tokens for this acquirer (--wallet-part)".into());
        }
        Ok(QrPlan {
            wallets,
            tokens,
            share,
        })
    }

    /// Whether a draw is paid by QR, and with which token; its amount in minor
    /// units (KPW, 2 decimals). Draws nothing when the share is zero, so the
    /// card traffic is the same as without wallets.
    pub fn draw(&self, rng: &mut SplitMix) -> Option<(u32, u64)> {
        if self.share <= 0.0 || rng.unit() >= self.share {
            return None;
        }
        let token = rng.below(self.tokens.len() as u64) as u32;
        let (low, high) = AMOUNT_RANGE;
        let major = (low.ln() + rng.unit() * (high.ln() - low.ln())).exp();
        let major = (major.round() as u64).clamp(low as u64, high as u64);
        Some((token, major * 100))
    }

    fn pooled(&self, qr: u32) -> Option<(&Wallet, PooledToken)> {
        let t = *self.tokens.get(qr as usize)?;
        Some((self.wallets.get(usize::from(t.wallet))?, t))
    }

    /// The token (digits) and its expiry, for fields 2 and 14.
    pub fn token(&self, qr: u32) -> Option<(&str, [u8; 4])> {
        let (wallet, t) = self.pooled(qr)?;
        let token = wallet.tokens.get(t.token as usize)?;
        Some((token.token.as_str(), token.expiry))
    }

    /// Field 55 of a new payment with token `qr`: the next code, shown as base64
    /// by the app and read back by the reader.
    pub fn field55(&self, qr: u32) -> Option<Vec<u8>> {
        let (wallet, t) = self.pooled(qr)?;
        let shown = wallet.next_payload(t.token as usize).ok()?.to_base64();
        let read = QrPayload::from_base64(&shown).ok()?;
        Some(read.field55())
    }

    /// The issuer of the card behind token `qr`.
    pub fn issuer(&self, qr: u32) -> Option<BankIdx> {
        self.pooled(qr)?.1.issuer
    }

    /// The index of the app (wallet) of token `qr`.
    pub fn app_index(&self, qr: u32) -> Option<usize> {
        Some(usize::from(self.pooled(qr)?.1.wallet))
    }

    /// The apps, by wallet index.
    pub fn apps(&self) -> Vec<String> {
        self.wallets.iter().map(|w| w.app.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquirer::traffic::tests::national;
    use crate::wallet::WalletToken;
    use card_security::wallet::{CodeData, CodeKey, TokenKey};

    fn wallet(app: &str, requestor: &str, tokens: &[&str]) -> Arc<Wallet> {
        let mut w = Wallet::new(app, requestor);
        for (i, t) in tokens.iter().enumerate() {
            w.tokens.push(WalletToken::new(
                t.to_string(),
                *b"2812",
                TokenKey::from_bytes([i as u8; 16]),
                "940800******0001".into(),
                "940800".into(),
            ));
        }
        Arc::new(w)
    }

    #[test]
    fn parts_split_tokens_and_payloads_verify() {
        let table = national();
        let a = wallet(
            "koryo-pay",
            "94000000001",
            &["9408990000000017", "9408990000000025", "9408990000000033"],
        );
        let b = wallet("jonsong", "94000000002", &["9408990000000041"]);
        let part0 = QrPlan::new(
            &table,
            vec![a.clone(), b.clone()],
            "0/2".parse().unwrap(),
            1.0,
        )
        .unwrap();
        let part1 = QrPlan::new(
            &table,
            vec![a.clone(), b.clone()],
            "1/2".parse().unwrap(),
            1.0,
        )
        .unwrap();
        let tokens = |p: &QrPlan| {
            (0..p.tokens.len() as u32)
                .map(|i| p.token(i).unwrap().0.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            tokens(&part0),
            ["9408990000000017", "9408990000000033", "9408990000000041"]
        );
        assert_eq!(tokens(&part1), ["9408990000000025"]);
        assert_eq!(part0.app_index(2), Some(1));
        assert_eq!(part0.issuer(0), table.bank_index(b"940800"));
        assert_eq!(part0.apps(), ["koryo-pay", "jonsong"]);
        // Field 55 carries a code that verifies under the token's key, with a fresh ATC each time.
        let first = CodeData::from_field55(&part0.field55(1).unwrap()).unwrap();
        let second = CodeData::from_field55(&part0.field55(1).unwrap()).unwrap();
        assert_eq!((first.atc, second.atc), (1, 2));
        let key = CodeKey::new(&TokenKey::from_bytes([2; 16]));
        assert!(key.verify(&second.code_input(b"9408990000000033"), &second.cryptogram));
        assert_eq!(second.requestor_id, *b"94000000001");
        // Shares: none, all, and the bounds.
        let mut rng = SplitMix::new(1);
        let none = QrPlan::new(&table, vec![a.clone()], WalletPart::default(), 0.0).unwrap();
        assert!((0..100).all(|_| none.draw(&mut rng).is_none()));
        let draws: Vec<_> = (0..1000).filter_map(|_| part0.draw(&mut rng)).collect();
        assert_eq!(draws.len(), 1000);
        assert!(draws
            .iter()
            .all(|&(t, amount)| t < 3 && (10_000..=200_000_000).contains(&amount)));
        assert!(draws.iter().any(|&(_, amount)| amount > 100_000_000));
        assert!(QrPlan::new(&table, vec![a], WalletPart::default(), 1.5).is_err());
        assert!("2/2".parse::<WalletPart>().is_err() && "1".parse::<WalletPart>().is_err());
        let empty = wallet("manmulsang", "94000000003", &[]);
        assert!(QrPlan::new(&table, vec![empty], WalletPart::default(), 0.3).is_err());
    }
}
