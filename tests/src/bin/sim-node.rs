//! `sim-node serve-node --config FILE`: one switch node of the cluster tests,
//! the same node `sim serve-node` runs. The tests run the demo in their own
//! process, which is not `sim`; Cargo builds this binary beside them and gives
//! them its path (`CARGO_BIN_EXE_sim-node`).

fn main() -> std::process::ExitCode {
    simulators::demo::node_serve::standalone_main()
}
