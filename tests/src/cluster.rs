//! The cluster tests' demo network (issue 19): `sim demo --cluster N`'s
//! arguments for a short, modest run whose nodes are child processes of the
//! given program (the tests' `sim-node`, which Cargo builds beside them).

use std::path::PathBuf;

use simulators::demo::{default_config, DemoArgs, NetworkArgs};

/// `nodes` nodes on a throwaway PostgreSQL, `duration` seconds at `rate` TPS of
/// card traffic, leases of `lease_ms`, each node run by `node_program`.
pub fn cluster_args(
    nodes: u8,
    (duration, rate): (f64, f64),
    lease_ms: u64,
    node_program: &str,
) -> DemoArgs {
    let network = NetworkArgs {
        json: true,
        seed: 1,
        invalid_rate: 0.01,
        config: PathBuf::from(default_config()),
    };
    DemoArgs {
        cluster: Some(nodes),
        lease_ms,
        node_program: Some(PathBuf::from(node_program)),
        ..DemoArgs::card_traffic(network, duration, rate)
    }
}
