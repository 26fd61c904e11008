//! `sim certify`: a certification run for a bank host joining the network, in
//! the way the card networks certify a member before it goes live. The tool
//! plays the switch; the host under test plays itself.
//!
//! - `sim certify acquirer --listen ADDR`: the host connects and its team runs
//!   the script's cases in order ([`acquirer`]);
//! - `sim certify issuer --connect ADDR`: the tool sends the cases to the host
//!   with cards of the bank's catalogue ([`issuer`]);
//! - `sim certify script acquirer|issuer`: prints the default script (JSON) to
//!   start a bank's own from ([`script`]).
//!
//! Each prints a pass/fail line per case ([`report`]), writes JSON with
//! `--json FILE`, and exits 0 only when every case passed.

pub mod acquirer;
#[cfg(test)]
mod acquirer_tests;
pub mod checks;
pub mod issuer;
pub mod link;
pub mod report;
pub mod script;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::wire::LinkFormat;

use self::report::Report;
use self::script::{AcquirerScript, IssuerScript};

/// `sim certify ...`.
#[derive(clap::Args, Debug)]
pub struct CertifyArgs {
    /// Which side of the host under test.
    #[command(subcommand)]
    pub side: Side,
}

/// The certification runs.
#[derive(clap::Subcommand, Debug)]
pub enum Side {
    /// Play the switch toward an acquirer host, which connects to --listen.
    Acquirer(AcquirerCertifyArgs),
    /// Play the switch toward an issuer host at --connect.
    Issuer(Box<IssuerCertifyArgs>),
    /// Print a default script (JSON) to edit.
    Script {
        /// `acquirer` or `issuer`.
        #[arg(value_parser = ["acquirer", "issuer"])]
        side: String,
    },
}

/// Options both runs share.
#[derive(clap::Args, Debug, Clone)]
pub struct RunOptions {
    /// The script: a JSON file, or `default`.
    #[arg(long, value_name = "FILE", default_value = "default")]
    pub script: String,
    /// Also write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Message spec: iso87ascii, iso87binary, iso87bcd, or a spec file.
    #[arg(long, value_name = "NAME", default_value = "iso87ascii")]
    pub spec: String,
    /// Length header: binary2, ascii4 or bcd2.
    #[arg(long, value_name = "FRAMING", default_value = "binary2")]
    pub framing: String,
    /// MACs on the link (`--mac-key-env VAR`): every message must carry a good one.
    #[command(flatten)]
    pub security: crate::security::SecurityOptions,
}

impl RunOptions {
    fn format(&self) -> Result<LinkFormat, String> {
        let mut format = LinkFormat::from_names(&self.spec, &self.framing)?;
        format.security = self.security.load().map_err(|e| e.to_string())?;
        Ok(format)
    }
}

/// `sim certify acquirer`.
#[derive(clap::Args, Debug, Clone)]
pub struct AcquirerCertifyArgs {
    /// Listen for the acquirer host on ADDR.
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// Give up on cases that have not run after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub wait: u64,
    /// Script, report, link format and keys.
    #[command(flatten)]
    pub run: RunOptions,
}

/// `sim certify issuer`.
#[derive(clap::Args, Debug, Clone)]
pub struct IssuerCertifyArgs {
    /// The issuer host's address.
    #[arg(long, value_name = "ADDR")]
    pub connect: String,
    /// The bank under test and its catalogue (the cards of the cases).
    #[command(flatten)]
    pub catalogue: crate::catalogue::CatalogueSource,
    /// Field 32 of the requests sent.
    #[arg(long, value_name = "ID", default_value = "940857")]
    pub acquirer: String,
    /// Longest wait for each answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub limit_ms: u64,
    /// Script, report, link format and keys.
    #[command(flatten)]
    pub run: RunOptions,
}

/// Run `sim certify`.
pub async fn run(args: CertifyArgs) -> Result<(), String> {
    let (report, json) = match args.side {
        Side::Script { side } => {
            let text = if side == "acquirer" {
                serde_json::to_string_pretty(&AcquirerScript::default())
            } else {
                serde_json::to_string_pretty(&IssuerScript::default())
            };
            println!("{}", text.map_err(|e| e.to_string())?);
            return Ok(());
        }
        Side::Acquirer(a) => {
            let json = a.run.json.clone();
            (certify_acquirer(&a).await?, json)
        }
        Side::Issuer(i) => {
            let json = i.run.json.clone();
            (certify_issuer(&i).await?, json)
        }
    };
    print!("{}", report.to_text());
    if let Some(path) = json {
        write_json(&path, &report)?;
    }
    if report.passed() {
        Ok(())
    } else {
        Err("certification failed".into())
    }
}

fn write_json(path: &Path, report: &Report) -> Result<(), String> {
    std::fs::write(path, report.to_json().to_string() + "\n")
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `sim certify acquirer`: listen, run the script, return the report.
pub async fn certify_acquirer(args: &AcquirerCertifyArgs) -> Result<Report, String> {
    let script: AcquirerScript = script::load(&args.run.script)?;
    script.check()?;
    let format = args.run.format()?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, cases = script.cases.len(), "waiting for the acquirer host");
    Ok(acquirer::certify(listener, &script, &format, Duration::from_secs(args.wait)).await)
}

/// `sim certify issuer`: connect, run the script, return the report.
pub async fn certify_issuer(args: &IssuerCertifyArgs) -> Result<Report, String> {
    let script: IssuerScript = script::load(&args.run.script)?;
    script.check()?;
    let format = args.run.format()?;
    let (_, cards) = args.catalogue.load()?;
    let stream = link::dial(&args.connect).await?;
    let mut link = link::Conversation::new(format, stream);
    let run = issuer::IssuerRun {
        cards: &cards,
        acquirer: &args.acquirer,
        limit: Duration::from_millis(args.limit_ms.max(1)),
    };
    Ok(run.certify(&mut link, &script).await)
}
