//! `sim wallet`: a payment-app operator's host. It enrols its users' cards at
//! the switch's token API, keeps their tokens, keys and counters in a wallet
//! file, shows QR payloads, and suspends, resumes or deletes tokens.
//!
//! - [`api`]: the token API client (HTTP/1.1 JSON over TCP or mutual TLS);
//! - [`enrol`]: choosing cards from the catalogue and enrolling them;
//! - [`store`]: the wallet (tokens, keys, counters) and its file.
//!
//! ```text
//! sim wallet enrol --api ADDR --app ID [--tls-dir DIR] [--cards N] [--issuers ID,...] --out FILE
//! sim wallet qr --wallet FILE [--token T]
//! sim wallet suspend|resume|delete --api ADDR --app ID --token T
//! ```

pub mod api;
pub mod enrol;
pub mod store;

#[cfg(all(test, feature = "server"))]
mod interop_tests;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use hyper::Method;
use routing_rules::RoutingTable;

use crate::cards::CardBase;

pub use self::api::{Answer, ApiError, TokenApi};
pub use self::enrol::{enrol, pick_cards, EnrolSummary};
pub use self::store::{Wallet, WalletError, WalletToken};

/// Command line of `sim wallet`.
#[derive(clap::Args, Debug)]
pub struct WalletArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: WalletCommand,
}

/// The wallet's commands.
#[derive(clap::Subcommand, Debug)]
pub enum WalletCommand {
    /// Enrol cards of the catalogue and write the wallet file.
    Enrol(Box<EnrolArgs>),
    /// Print the next QR payload of a token (base64) and advance its counter.
    Qr(QrArgs),
    /// Suspend a token.
    Suspend(TokenArgs),
    /// Resume a suspended token.
    Resume(TokenArgs),
    /// Delete a token.
    Delete(TokenArgs),
}

/// The app and the API it calls.
#[derive(clap::Args, Debug)]
pub struct AppConnection {
    /// The token API listener of the app (`[[token_api]]` of the switch).
    #[arg(long, value_name = "ADDR")]
    pub api: String,
    /// The app's id (as in the routing rules), e.g. koryo-pay.
    #[arg(long, value_name = "ID")]
    pub app: String,
    /// Mutual TLS with the app's certificate: `--tls-dir` the gen-certs
    /// directory (its apps/APP is used) or the app's folder (APP.crt, APP.key,
    /// ca.crt, ca.crl).
    #[command(flatten)]
    pub tls: crate::tls::TlsOptions,
}

impl AppConnection {
    /// Connect to the API.
    pub async fn connect(&self) -> Result<TokenApi, String> {
        let tls = self.tls.load_app(&self.app).map_err(|e| e.to_string())?;
        TokenApi::connect(&self.api, tls)
            .await
            .map_err(|e| e.to_string())
    }
}

/// `sim wallet enrol`.
#[derive(clap::Args, Debug)]
pub struct EnrolArgs {
    /// The app and its API.
    #[command(flatten)]
    pub connection: AppConnection,
    /// Routing rules the card catalogue is generated from (as the issuers').
    #[arg(
        long,
        value_name = "PATH",
        default_value = "routing-rules/rules/national.toml"
    )]
    pub rules: PathBuf,
    /// Seed of the card catalogue (as the issuers').
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Cards generated per BIN range (as the issuers').
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub cards_per_range: usize,
    /// How many cards to enrol.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub cards: usize,
    /// Only cards of these issuers (bank ids, comma-separated); default all.
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    pub issuers: Vec<String>,
    /// The wallet file to write (mode 0600: it holds the tokens' keys).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `sim wallet qr`.
#[derive(clap::Args, Debug)]
pub struct QrArgs {
    /// The wallet file.
    #[arg(long, value_name = "FILE")]
    pub wallet: PathBuf,
    /// The token to pay with (default: the wallet's first).
    #[arg(long, value_name = "T")]
    pub token: Option<String>,
}

/// `sim wallet suspend|resume|delete`.
#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    /// The app and its API.
    #[command(flatten)]
    pub connection: AppConnection,
    /// The token.
    #[arg(long, value_name = "T")]
    pub token: String,
}

/// Run `sim wallet`.
pub async fn run(args: WalletArgs) -> Result<(), String> {
    match args.command {
        WalletCommand::Enrol(a) => run_enrol(&a).await,
        WalletCommand::Qr(a) => run_qr(&a),
        WalletCommand::Suspend(a) => token_call(&a, Method::POST, "suspend").await,
        WalletCommand::Resume(a) => token_call(&a, Method::POST, "resume").await,
        WalletCommand::Delete(a) => token_call(&a, Method::DELETE, "").await,
    }
}

async fn run_enrol(args: &EnrolArgs) -> Result<(), String> {
    let (table, _) = RoutingTable::load(&args.rules)
        .map_err(|e| format!("cannot load rules {}: {e}", args.rules.display()))?;
    for id in &args.issuers {
        if table.bank(id).is_none() {
            return Err(format!(
                "--issuers: no bank {id:?} in {}",
                args.rules.display()
            ));
        }
    }
    let base = CardBase::generate(&table, args.seed, args.cards_per_range);
    let cards = pick_cards(&base, &table, args.seed, args.cards, &args.issuers);
    let mut api = args.connection.connect().await?;
    let (wallet, summary) = enrol(&mut api, &args.connection.app, &cards, &table)
        .await
        .map_err(|e| e.to_string())?;
    println!("{}", summary.line(&args.connection.app));
    wallet.save(&args.out).map_err(|e| e.to_string())?;
    println!(
        "wallet: {} ({} tokens; holds their keys: a test wallet)",
        args.out.display(),
        wallet.tokens.len()
    );
    Ok(())
}

fn run_qr(args: &QrArgs) -> Result<(), String> {
    let wallet = Wallet::load(&args.wallet).map_err(|e| e.to_string())?;
    let index = match &args.token {
        Some(t) => wallet
            .index_of(t)
            .ok_or_else(|| "--token: not a token of this wallet".to_string())?,
        None => 0,
    };
    let payload = wallet.next_payload(index).map_err(|e| e.to_string())?;
    // Save the advanced counter before showing the code: a code shown must
    // never be shown again.
    wallet.save(&args.wallet).map_err(|e| e.to_string())?;
    println!("{}", payload.to_base64());
    Ok(())
}

async fn token_call(args: &TokenArgs, method: Method, action: &str) -> Result<(), String> {
    if args.token.is_empty() || !args.token.bytes().all(|b| b.is_ascii_digit()) {
        return Err("--token: a token is digits".into());
    }
    let path = if action.is_empty() {
        format!("/v1/tokens/{}", args.token)
    } else {
        format!("/v1/tokens/{}/{action}", args.token)
    };
    let mut api = args.connection.connect().await?;
    let answer = api
        .call(method, &path, None)
        .await
        .map_err(|e| e.to_string())?;
    println!("{} {}", answer.status.as_u16(), answer.body);
    if answer.status.is_success() {
        Ok(())
    } else {
        Err(format!("refused: {}", answer.refusal()))
    }
}
