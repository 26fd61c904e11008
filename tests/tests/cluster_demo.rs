//! `sim demo --cluster 2`: two switch nodes, each a child process, on one
//! throwaway PostgreSQL, every acquirer host given both nodes' addresses, the
//! issuer hosts serving both nodes' links. The run is consistent (one answer per
//! request, the approved totals agree with the issuers' books, the books of
//! every bank pair with the settlement) and both nodes carried load, as their
//! metrics count it. Without PostgreSQL it prints that it skipped, unless
//! `POSTGRES_REQUIRED=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use simulators::demo::postgres::installed_or_skip;
use simulators::demo::{run_network, DemoArgs, Variation};
use tests::bounded;
use tests::cluster::cluster_args as demo_args;

fn cluster_args(nodes: u8) -> DemoArgs {
    demo_args(nodes, (4.0, 400.0), 3000, env!("CARGO_BIN_EXE_sim-node"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_share_the_load_and_the_books_agree() {
    if !installed_or_skip() {
        return;
    }
    bounded(async {
        let outcome = run_network(&cluster_args(2), &Variation::default())
            .await
            .unwrap_or_else(|e| panic!("cluster demo: {e}"));
        let summary = &outcome.summary;
        eprintln!("{}", summary.text);
        let json = &summary.json;
        assert!(summary.consistent, "{}", summary.text);
        assert_eq!(json["exactly_one_answer"], true, "{json}");
        assert_eq!(json["totals_agree"], true, "{json}");
        assert!(
            json["cluster"]["verdict"]
                .as_array()
                .is_some_and(|v| v.iter().all(|c| c["holds"] == true)),
            "{json}"
        );
        let nodes = json["nodes"].as_array().expect("a nodes section");
        let names: Vec<&str> = nodes.iter().filter_map(|n| n["node"].as_str()).collect();
        assert_eq!(names, ["node-1", "node-2"], "{json}");
        // The acquirers start spread over the nodes: both answer.
        for n in nodes {
            assert!(n["answered"].as_u64().unwrap_or(0) > 100, "{json}");
        }
        let answered: u64 = nodes.iter().filter_map(|n| n["answered"].as_u64()).sum();
        assert!(
            answered >= json["answered"].as_u64().unwrap(),
            "the nodes answered every request: {json}"
        );
    })
    .await;
}

#[tokio::test]
async fn cluster_options_the_demo_cannot_run_are_refused() {
    let mut args = cluster_args(2);
    args.tls = true;
    let refused = run_network(&args, &Variation::default()).await.err();
    assert!(
        refused.as_deref().is_some_and(|e| e.contains("--tls")),
        "{refused:?}"
    );
}
