//! The issuer bank host simulator (being built; see the simulators issue).

/// Command-line options of `sim issuer`.
#[derive(clap::Args, Debug)]
pub struct IssuerArgs {}

/// Run the issuer until SIGINT/SIGTERM.
pub async fn run(_args: IssuerArgs) -> Result<(), String> {
    Err("sim issuer is not built yet".into())
}
