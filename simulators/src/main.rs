//! `sim`: bank host simulators for the interbank switch.
//!
//! - `sim issuer ...`: an issuer bank host;
//! - `sim acquirer ...`: an acquirer bank host and load generator;
//! - `sim wallet ...`: a payment-app operator's host (tokens, QR codes);
//! - `sim cards ...`: a bank's card catalogue;
//! - `sim certify ...`: certification of a bank host joining the network;
//! - `sim demo`: the whole network on loopback, with a report;
//! - `sim soak`: the demo network under issuer faults for a long run, checked.
//!
//! `demo` and `soak` run the switch in this process: they exist only with the
//! `server` feature (default); without it `sim` is the bank hosts alone.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
#[cfg(feature = "server")]
use simulators::demo;
use simulators::{acquirer, catalogue, certify, issuer, wallet};

#[derive(Parser)]
#[command(
    name = "sim",
    version,
    about = "Bank host simulators for the interbank card switch"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// An issuer bank host: answers authorizations from its card base.
    Issuer(issuer::IssuerArgs),
    /// An acquirer bank host and load generator.
    Acquirer(acquirer::AcquirerArgs),
    /// A payment-app operator's host: enrols cards, keeps tokens, shows QR codes.
    Wallet(wallet::WalletArgs),
    /// A bank's card catalogue: the cards `sim issuer` holds for it.
    Cards(catalogue::CardsArgs),
    /// Certify a bank host: play the switch toward it and check what it does.
    Certify(certify::CertifyArgs),
    /// The whole network on loopback: switch, issuers, acquirers, traffic, report.
    #[cfg(feature = "server")]
    Demo(Box<demo::DemoArgs>),
    /// The demo network at twice its rate with issuer timeouts and disconnects for
    /// a long run: checks every request's final state, the drain and memory.
    #[cfg(feature = "server")]
    Soak(Box<demo::soak::SoakArgs>),
    /// One switch node of `sim demo --cluster N`, run by the demo as a child
    /// process until SIGTERM (not for people: hidden).
    #[cfg(feature = "server")]
    #[command(hide = true)]
    ServeNode(demo::node_serve::ServeNodeArgs),
}

/// Whether the command runs a switch in this process (`demo`, `soak`).
fn runs_the_switch(command: &Command) -> bool {
    match command {
        #[cfg(feature = "server")]
        Command::Demo(_) | Command::Soak(_) => true,
        #[cfg(feature = "server")]
        Command::ServeNode(_) => false,
        Command::Issuer(_)
        | Command::Acquirer(_)
        | Command::Wallet(_)
        | Command::Cards(_)
        | Command::Certify(_) => false,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints a report; its hosts' routine logs would bury it.
    // Its acquirers send some malformed requests on purpose, which the switch logs.
    let default_level = if runs_the_switch(&cli.command) {
        "warn,switch::net::connection=error"
    } else {
        "info"
    };
    simulators::process_main::run("sim", default_level, async {
        match cli.command {
            Command::Issuer(args) => issuer::run(args).await,
            Command::Acquirer(args) => acquirer::run(args).await,
            Command::Wallet(args) => wallet::run(args).await,
            Command::Cards(args) => catalogue::run(args),
            Command::Certify(args) => certify::run(args).await,
            #[cfg(feature = "server")]
            Command::Demo(args) => demo::run(*args).await,
            #[cfg(feature = "server")]
            Command::Soak(args) => demo::soak::run(*args).await,
            #[cfg(feature = "server")]
            Command::ServeNode(args) => demo::node_serve::serve(args).await,
        }
    })
}
