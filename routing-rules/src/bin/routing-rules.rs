//! `routing-rules`: check a routing configuration, or explain one decision.
//!
//! - `routing-rules check FILE|DIR`: prints every problem; exits 1 on errors.
//! - `routing-rules explain --rules FILE|DIR --pan PAN --acquirer ID [--mti 0200]
//!   [--processing-code 000000] [--amount 12.50] [--currency 408]
//!   [--channel terminal|atm|wallet-qr] [--app ID]`: one JSON line with the decision
//!   and its trace; the PAN appears only masked.
//!   With `--stand-in [--expiry YYMM] [--today YYMM] [--used-amount X] [--used-count
//!   N] [--hot lost|stolen|restricted]`, the line also holds a `stand_in` object: what
//!   stand-in would decide if the card's issuer could not answer, each check and the
//!   one that decided (the card's negative file is looked up unless `--hot` says).
//! - `routing-rules explain --enrolment --rules FILE|DIR --app ID --pan PAN`: the
//!   same for an app enrolling a card.

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use clap::{Parser, Subcommand};
use codecs::Mti;
use routing_rules::{
    explain_stand_in, pan_digest, Channel, Explanation, HotReason, RoutingTable, StandInRequest,
    Transaction, Usage, Verdict,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(
    name = "routing-rules",
    version,
    about = "Check routing configurations and explain decisions"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a file or directory; print every problem.
    Check {
        /// A TOML file or a directory of them.
        path: PathBuf,
    },
    /// Decide one transaction and show why.
    Explain {
        /// A TOML file or a directory of them.
        #[arg(long)]
        rules: PathBuf,
        /// The card number.
        #[arg(long)]
        pan: String,
        /// The acquiring institution id (field 32).
        #[arg(long, required_unless_present = "enrolment")]
        acquirer: Option<String>,
        /// The message type.
        #[arg(long, default_value = "0200")]
        mti: String,
        /// Field 3.
        #[arg(long, default_value = "000000")]
        processing_code: String,
        /// Amount in major units.
        #[arg(long, default_value = "0")]
        amount: String,
        /// ISO 4217 numeric currency.
        #[arg(long, default_value = "408")]
        currency: u16,
        /// How the transaction came: terminal, atm or wallet-qr.
        #[arg(long, default_value = "terminal")]
        channel: String,
        /// The app's id, for a payment through an app (or the enrolling app).
        #[arg(long, required_if_eq("enrolment", "true"))]
        app: Option<String>,
        /// Explain an app's enrolment of the card instead of a payment.
        #[arg(long)]
        enrolment: bool,
        #[command(flatten)]
        stand_in: Box<StandInArgs>,
    },
}

/// What `explain --stand-in` asks about, beyond the transaction.
#[derive(clap::Args)]
struct StandInArgs {
    /// Also show what stand-in would decide if the card's issuer could not answer.
    #[arg(long = "stand-in")]
    enabled: bool,
    /// The card's expiry date, YYMM (none: not checked).
    #[arg(long, requires = "enabled")]
    expiry: Option<String>,
    /// The business date's YYMM (default: this month, UTC).
    #[arg(long, requires = "enabled")]
    today: Option<String>,
    /// The card's stand-in approvals today (same currency and bucket): amount.
    #[arg(long, default_value = "0", requires = "enabled")]
    used_amount: String,
    /// ... and count.
    #[arg(long, default_value_t = 0, requires = "enabled")]
    used_count: u32,
    /// The card is hot: lost, stolen or restricted (default: the negative file says).
    #[arg(long, requires = "enabled")]
    hot: Option<String>,
}

/// The `stand_in` object of explain's JSON, or the usage problem.
fn explain_stand_in_json(
    table: &RoutingTable,
    routed: &Explanation<'_>,
    tx: &Transaction<'_>,
    args: &StandInArgs,
) -> Result<Value, String> {
    let yymm = |name: &str, v: &str| -> Result<[u8; 4], String> {
        v.as_bytes()
            .try_into()
            .ok()
            .filter(|b: &[u8; 4]| b.iter().all(u8::is_ascii_digit))
            .ok_or(format!("--{name} must be YYMM"))
    };
    let expiry = args
        .expiry
        .as_deref()
        .map(|e| yymm("expiry", e))
        .transpose()?;
    let today = match &args.today {
        Some(t) => yymm("today", t)?,
        None => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            codecs::datetime::year_month_at_unix(now)
        }
    };
    let used_amount = Decimal::from_str(&args.used_amount)
        .map_err(|_| "--used-amount must be a decimal number".to_string())?;
    // The negative file of the card's issuer, unless --hot decides.
    let file = routed
        .decision
        .product
        .and_then(|p| table.negative_file(p.issuer));
    let (hot, hot_source) = match &args.hot {
        Some(h) => (
            Some(HotReason::from_name(h).ok_or("--hot must be lost, stolen or restricted")?),
            "--hot".to_string(),
        ),
        None => match file {
            Some(f) => (
                f.lookup(tx.pan, &pan_digest(tx.pan)),
                format!("negative file {} ({})", f.name(), f.path()),
            ),
            None => (None, "no negative file for the issuer".to_string()),
        },
    };
    if routed.decision.verdict != Verdict::Route {
        return Ok(json!({
            "decision": null,
            "detail": "the routing declined: the switch answers it without the issuer, stand-in never applies",
        }));
    }
    let req = StandInRequest {
        pan: tx.pan,
        expiry,
        today,
        transaction_type: tx.transaction_type().unwrap_or(u8::MAX),
        amount: tx.amount,
        currency: tx.currency,
        hot,
        used: Usage {
            amount: used_amount,
            count: args.used_count,
        },
    };
    let explained = explain_stand_in(table, &req);
    let mut v = explained.to_json();
    v["hot_source"] = Value::from(hot_source);
    v["text"] = Value::from(explained.to_text());
    Ok(v)
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check { path } => match RoutingTable::load(&path) {
            Ok((table, warnings)) => {
                for w in &warnings {
                    println!("warning: {w}");
                }
                println!(
                    "ok: {} regions, {} banks, {} products, {} BIN ranges, {} rules, {} stand-in entries, {} negative files ({} cards, {} ranges), {} warning(s)",
                    table.regions().len(),
                    table.banks().len(),
                    table.products().len(),
                    table.bins().ranges().len(),
                    table.rules().len(),
                    table.stand_in_entries().len(),
                    table.negative_files().len(),
                    table.negative_files().iter().map(|f| f.card_count()).sum::<usize>(),
                    table.negative_files().iter().map(|f| f.ranges().len()).sum::<usize>(),
                    warnings.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                for p in &e.0.errors {
                    println!("error: {p}");
                }
                for w in &e.0.warnings {
                    println!("warning: {w}");
                }
                println!("{} error(s)", e.0.errors.len());
                ExitCode::FAILURE
            }
        },
        Command::Explain {
            rules,
            pan,
            acquirer,
            mti,
            processing_code,
            amount,
            currency,
            channel,
            app,
            enrolment,
            stand_in,
        } => {
            let (table, _) = match RoutingTable::load(&rules) {
                Ok(t) => t,
                Err(e) => {
                    for p in &e.0.errors {
                        eprintln!("error: {p}");
                    }
                    return ExitCode::from(2);
                }
            };
            if enrolment {
                let app = app.unwrap_or_default();
                let explanation = table.explain_enrolment(pan.as_bytes(), &app);
                println!("{}", explanation.to_json());
                return ExitCode::SUCCESS;
            }
            let Some(channel) = Channel::from_name(&channel) else {
                eprintln!("error: --channel must be terminal, atm or wallet-qr");
                return ExitCode::from(2);
            };
            let Some(mti) = Mti::new(mti.as_bytes()) else {
                eprintln!("error: --mti must be four digits");
                return ExitCode::from(2);
            };
            let Ok(amount) = Decimal::from_str(&amount) else {
                eprintln!("error: --amount must be a decimal number");
                return ExitCode::from(2);
            };
            let tx = Transaction {
                pan: pan.as_bytes(),
                acquirer: acquirer.as_deref().unwrap_or_default().as_bytes(),
                mti,
                processing_code: processing_code.as_bytes(),
                amount,
                currency,
                channel,
                app: app.as_deref(),
            };
            let explained = table.explain(&tx);
            let mut out = explained.to_json();
            if stand_in.enabled {
                match explain_stand_in_json(&table, &explained, &tx, &stand_in) {
                    Ok(v) => out["stand_in"] = v,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            println!("{out}");
            ExitCode::SUCCESS
        }
    }
}
