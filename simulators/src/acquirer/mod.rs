//! The acquirer bank host simulator and load generator (being built; see the simulators issue).

/// Command-line options of `sim acquirer`.
#[derive(clap::Args, Debug)]
pub struct AcquirerArgs {}

/// Run the load.
pub async fn run(_args: AcquirerArgs) -> Result<(), String> {
    Err("sim acquirer is not built yet".into())
}
