//! `switch`: the interbank card switch.
//!
//! - `switch check-config --config PATH`: validate a configuration and its rules;
//! - `switch run --config PATH`: run the switch until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switch::config::Config;

#[derive(Parser)]
#[command(name = "switch", version, about = "The interbank card switch")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a configuration file and the routing rules it names.
    CheckConfig {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::CheckConfig { config } => match Config::load(&config) {
            Ok(c) => match routing_rules::RoutingTable::load(&c.rules) {
                Ok((t, warnings)) => {
                    for w in &warnings {
                        println!("warning: {w}");
                    }
                    println!(
                        "ok: {} links; rules {}: {} banks, {} BIN ranges, {} rules",
                        c.links.len(),
                        c.rules.display(),
                        t.banks().len(),
                        t.bins().ranges().len(),
                        t.rules().len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    for p in &e.0.errors {
                        println!("error: {p}");
                    }
                    ExitCode::FAILURE
                }
            },
            Err(errors) => {
                for e in &errors {
                    println!("error: {e}");
                }
                ExitCode::FAILURE
            }
        },
    }
}
