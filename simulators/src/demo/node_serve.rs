//! `sim serve-node --config FILE` (hidden from `--help`): one switch node of
//! `sim demo --cluster N`, run as a child process of the demo so that the demo
//! can `kill -9` it like a machine that dies (a switch in the demo's own
//! process cannot be killed, and one merely dropped keeps serving).
//!
//! The node runs as `switch run` does: its configuration file, its keys from the
//! environment (the demo sets them; never in the file), its admin address
//! `[switch] admin` (the operator console at `/`, `/api/status`, the Prometheus
//! metrics at `/metrics`; the token from `[switch] admin_token_env` when set),
//! until SIGTERM or SIGINT (a graceful drain; a node whose lease is lost exits
//! 3 by itself). Once it listens it prints one JSON line on
//! stdout, [`Ready`]: the demo learns the acquirer ports the node bound (port 0
//! in the file) without a race. Its log goes to stderr.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use switch::net::{RunningSwitch, SwitchOptions};

/// Options of `sim serve-node`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeNodeArgs {
    /// The node's switch configuration (written by `sim demo --cluster`).
    #[arg(long)]
    pub config: PathBuf,
}

/// What a node prints on stdout once it listens (one JSON line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// Its name (`[cluster] node`).
    pub node: String,
    /// Each listening link's bound address, by link name.
    pub listening: BTreeMap<String, SocketAddr>,
    /// Its admin address: the console at `/`, `/api/status`, `/metrics`.
    pub admin: SocketAddr,
}

/// Run the node until SIGTERM/SIGINT; Err when it cannot start.
pub async fn serve(args: ServeNodeArgs) -> Result<(), String> {
    let config = super::load_config(&args.config)?;
    let node = config
        .cluster
        .as_ref()
        .map(|c| c.node.clone())
        .ok_or("a node's configuration needs [cluster]")?;
    let admin = config
        .admin
        .ok_or("a node's configuration needs [switch] admin (its console and /metrics)")?;
    // Checked before anything starts, as `switch run` does.
    let token = switch::admin::AdminToken::from_env(&config.admin_token_env, admin)
        .map_err(|e| e.to_string())?;
    let metrics =
        switch::admin::install_recorder().map_err(|e| format!("metrics recorder: {e}"))?;
    let (routing, _) =
        routing_rules::RoutingTable::load(&config.rules).map_err(|e| e.to_string())?;
    let mut running = RunningSwitch::start(SwitchOptions::new(config, routing))
        .await
        .map_err(|e| format!("{node}: {e}"))?;
    let options = switch::admin::AdminOptions {
        address: admin,
        token,
        metrics: Some(metrics),
    };
    let admin = match running.serve_admin(options) {
        Ok(bound) => bound,
        Err(e) => {
            running.shutdown().await;
            return Err(format!("{node}: {e}"));
        }
    };
    let ready = Ready {
        node,
        listening: running.listening.clone().into_iter().collect(),
        admin,
    };
    let line = serde_json::to_string(&ready).map_err(|e| e.to_string())?;
    println!("{line}");
    until_stopped().await;
    running.shutdown().await;
    Ok(())
}

/// The whole program of a node for a binary other than `sim` (the tests'
/// `sim-node`), its arguments as `sim`'s: `serve-node --config FILE`, its log
/// and runtime as `sim serve-node`'s.
pub fn standalone_main() -> std::process::ExitCode {
    #[derive(clap::Parser)]
    struct Standalone {
        /// `serve-node`.
        #[arg(value_parser = ["serve-node"])]
        _command: String,
        #[command(flatten)]
        args: ServeNodeArgs,
    }
    let cli = <Standalone as clap::Parser>::parse();
    crate::process_main::run("serve-node", "info", serve(cli.args))
}

/// Until SIGTERM or SIGINT.
async fn until_stopped() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_round_trips() {
        let ready = Ready {
            node: "node-1".into(),
            listening: [("pine-ridge".to_owned(), "127.0.0.1:4000".parse().unwrap())]
                .into_iter()
                .collect(),
            admin: "127.0.0.1:4001".parse().unwrap(),
        };
        let line = serde_json::to_string(&ready).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Ready>(&line).unwrap(), ready);
    }
}
