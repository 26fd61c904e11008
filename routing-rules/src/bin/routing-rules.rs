//! `routing-rules`: check a routing configuration, or explain one decision.
//!
//! - `routing-rules check FILE|DIR`: prints every problem; exits 1 on errors.
//! - `routing-rules explain --rules FILE|DIR --pan PAN --acquirer ID [--mti 0200]
//!   [--processing-code 000000] [--amount 12.50] [--currency 408]
//!   [--channel terminal|atm|wallet-qr] [--app ID]`: one JSON line with the decision
//!   and its trace; the PAN appears only masked.
//! - `routing-rules explain --enrolment --rules FILE|DIR --app ID --pan PAN`: the
//!   same for an app enrolling a card.

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use clap::{Parser, Subcommand};
use codecs::Mti;
use routing_rules::{Channel, RoutingTable, Transaction};
use rust_decimal::Decimal;

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
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check { path } => match RoutingTable::load(&path) {
            Ok((table, warnings)) => {
                for w in &warnings {
                    println!("warning: {w}");
                }
                println!(
                    "ok: {} regions, {} banks, {} products, {} BIN ranges, {} rules, {} warning(s)",
                    table.regions().len(),
                    table.banks().len(),
                    table.products().len(),
                    table.bins().ranges().len(),
                    table.rules().len(),
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
            println!("{}", table.explain(&tx).to_json());
            ExitCode::SUCCESS
        }
    }
}
