//! The process's Prometheus recorder for a switch that serves its own admin
//! address (`switch run`, a cluster node): installed without the exporter's
//! listener, since `/metrics` is one of the admin address's routes, and kept
//! bounded by the upkeep that listener would have run.

use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};

/// How often the histograms are drained when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Install the process's recorder and start its upkeep (histograms drained
/// every few seconds, not only when scraped: bounded memory). Call it inside
/// a tokio runtime; the returned handle renders `/metrics`.
pub fn install_recorder() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(UPKEEP_EVERY).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}
