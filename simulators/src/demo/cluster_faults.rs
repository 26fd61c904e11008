//! The failures `sim demo --cluster N` inflicts during its traffic, and what it
//! sees of them from outside the nodes:
//! - `--kill-node NAME:SECS`: `kill -9` of that node SECS into the traffic; the
//!   survivors' metrics show when one took it over
//!   (`switch_cluster_takeovers_total`) and what it adopted
//!   (`switch_cluster_adopted_total{kind}`);
//! - `--postgres-outage FROM-TO`: the throwaway server halted at once at FROM s
//!   (`pg_ctl stop -m immediate`) and started again at TO s; the nodes' metrics
//!   show when each store was available again (`switch_store_available`).
//!
//! The watch scrapes every running node every [`TICK`] until the traffic ends,
//! then (bounded) until a killed node has been taken over and every node's
//! store-and-forward queue has stayed empty for one publication of its metrics
//! (they are published every second, so the answers counted last are final).

use std::str::FromStr;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use switch::net::publish::PUBLISH_EVERY;

use super::cluster::{ClusterNodes, Database};

/// How often the watch scrapes the nodes.
pub const TICK: Duration = Duration::from_millis(100);
/// The longest wait after the traffic for the take-over and the drain.
pub const DRAIN_WITHIN: Duration = Duration::from_secs(30);

/// `--kill-node NAME:SECS`.
#[derive(Clone, Debug, PartialEq)]
pub struct KillNode {
    /// The node (`node-K`).
    pub node: String,
    /// Seconds into the traffic.
    pub at: f64,
}

impl FromStr for KillNode {
    type Err = String;

    fn from_str(s: &str) -> Result<KillNode, String> {
        let bad = || format!("--kill-node {s}: expected NAME:SECS (e.g. node-1:3)");
        let (node, at) = s.rsplit_once(':').ok_or_else(bad)?;
        let at: f64 = at.parse().map_err(|_| bad())?;
        if node.is_empty() || !at.is_finite() || at < 0.0 {
            return Err(bad());
        }
        Ok(KillNode {
            node: node.to_owned(),
            at,
        })
    }
}

/// `--postgres-outage FROM-TO`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PostgresOutage {
    /// Halted at, seconds into the traffic.
    pub from: f64,
    /// Started again at.
    pub to: f64,
}

impl FromStr for PostgresOutage {
    type Err = String;

    fn from_str(s: &str) -> Result<PostgresOutage, String> {
        let bad = || format!("--postgres-outage {s}: expected FROM-TO seconds (e.g. 2-5)");
        let (from, to) = s.split_once('-').ok_or_else(bad)?;
        let (from, to): (f64, f64) = (
            from.parse().map_err(|_| bad())?,
            to.parse().map_err(|_| bad())?,
        );
        if !(from.is_finite() && to.is_finite() && 0.0 <= from && from < to) {
            return Err(bad());
        }
        Ok(PostgresOutage { from, to })
    }
}

/// What the demo plans to break.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    /// A node to kill.
    pub kill: Option<KillNode>,
    /// A database outage.
    pub outage: Option<PostgresOutage>,
}

impl FaultPlan {
    /// Refuse a plan that cannot run: an unknown node, a time past the traffic,
    /// an outage of a database the demo does not own.
    pub fn validate(&self, nodes: u8, duration: f64, external_db: bool) -> Result<(), String> {
        if let Some(k) = &self.kill {
            let known = (1..=nodes).any(|s| super::cluster::node_name(s) == k.node);
            if !known {
                return Err(format!(
                    "--kill-node {}: no such node (node-1 to node-{nodes})",
                    k.node
                ));
            }
            if k.at >= duration {
                return Err(format!(
                    "--kill-node at {} s: past the traffic ({duration} s)",
                    k.at
                ));
            }
        }
        if let Some(o) = &self.outage {
            if external_db {
                return Err(
                    "--postgres-outage stops the demo's own server: not with --postgres URL".into(),
                );
            }
            if o.to > duration {
                return Err(format!(
                    "--postgres-outage ends at {} s: past the traffic ({duration} s)",
                    o.to
                ));
            }
        }
        Ok(())
    }
}

/// What the watch saw (seconds are into the traffic).
#[derive(Clone, Debug, Default)]
pub struct FaultLog {
    /// The node killed, and when.
    pub killed: Option<(String, f64)>,
    /// The first scrape showing a take-over, and by whom.
    pub taken_over: Option<(String, f64)>,
    /// Store-and-forward items adopted (the reversals apart).
    pub adopted_saf: u64,
    /// Reversals queued for the dead node's forwarded transactions.
    pub adopted_reversals: u64,
    /// The database halted (seconds).
    pub halted: Option<f64>,
    /// Its restart begun (`pg_ctl start`).
    pub restarting: Option<f64>,
    /// The database accepting connections again (crash recovery done).
    pub resumed: Option<f64>,
    /// Every node's store available again (first scrape showing it).
    pub store_back: Option<f64>,
    /// When every node's queue was seen empty after the traffic (None: not within the bound).
    pub drained: Option<f64>,
    /// What failed (a halt, a kill) and why.
    pub errors: Vec<String>,
}

/// Run `plan` against `nodes` from `start` until `traffic_done` turns true, then
/// wait (at most [`DRAIN_WITHIN`]) for the take-over and the drain.
pub async fn watch(
    nodes: &mut ClusterNodes,
    plan: &FaultPlan,
    start: Instant,
    traffic_done: watch::Receiver<bool>,
) -> FaultLog {
    let mut log = FaultLog::default();
    let secs = |at: Instant| (at - start).as_secs_f64();
    let mut ticks = tokio::time::interval(TICK);
    let mut after_traffic: Option<Instant> = None;
    let mut empty_since: Option<Instant> = None;
    loop {
        ticks.tick().await;
        let now = Instant::now();
        let t = secs(now);
        // Done, or the traffic failed (its sender dropped unsent).
        let done = *traffic_done.borrow() || traffic_done.has_changed().is_err();
        if after_traffic.is_none() && done {
            after_traffic = Some(now);
        }
        if let Some(k) = &plan.kill {
            if log.killed.is_none() && t >= k.at {
                match nodes.kill(&k.node).await {
                    Ok(()) => log.killed = Some((k.node.clone(), secs(Instant::now()))),
                    Err(e) => {
                        log.errors.push(e);
                        log.killed = Some((k.node.clone(), t));
                    }
                }
            }
        }
        if let Some(o) = &plan.outage {
            if log.halted.is_none() && t >= o.from {
                log.halted = Some(t);
                if let Err(e) = server_call(nodes.database(), true).await {
                    log.errors.push(e);
                }
            }
            if log.halted.is_some() && log.resumed.is_none() && t >= o.to {
                log.restarting = Some(t);
                if let Err(e) = server_call(nodes.database(), false).await {
                    log.errors.push(e);
                }
                // Counted from when the server accepts connections again.
                log.resumed = Some(secs(Instant::now()));
            }
        }
        let pages = nodes.scrape_running().await;
        let pages: Vec<_> = pages
            .into_iter()
            .filter_map(|(name, page)| page.ok().map(|m| (name, m)))
            .collect();
        if log.killed.is_some() && log.taken_over.is_none() {
            if let Some((by, m)) = pages
                .iter()
                .find(|(_, m)| m.sum("switch_cluster_takeovers_total") > 0.0)
            {
                log.taken_over = Some((by.clone(), t));
                log.adopted_saf =
                    m.sum_where("switch_cluster_adopted_total", "kind=\"saf\"") as u64;
                log.adopted_reversals =
                    m.sum_where("switch_cluster_adopted_total", "kind=\"reversal\"") as u64;
            }
        }
        if log.resumed.is_some() && log.store_back.is_none() {
            let all_back = !pages.is_empty()
                && pages
                    .iter()
                    .all(|(_, m)| m.sum("switch_store_available") >= 1.0);
            if all_back {
                // Now, not the tick's start: the restart above blocks for as
                // long as the server's recovery takes.
                log.store_back = Some(secs(Instant::now()));
            }
        }
        let Some(ended) = after_traffic else { continue };
        let waiting_for_take_over = log.killed.is_some() && log.taken_over.is_none();
        let queues_empty = !pages.is_empty()
            && pages.iter().all(|(_, m)| {
                m.sum("switch_saf_depth") == 0.0 && m.sum("switch_saf_outstanding") == 0.0
            });
        let outage_over = plan.outage.is_none() || log.store_back.is_some();
        if !waiting_for_take_over && queues_empty && outage_over {
            // The nodes publish their gauges every second: empty on scrapes a
            // publication apart is empty now, and the counts read last are final.
            let since = *empty_since.get_or_insert(now);
            if now - since > PUBLISH_EVERY {
                log.drained = Some(secs(since));
                return log;
            }
        } else {
            empty_since = None;
        }
        if now - ended >= DRAIN_WITHIN {
            return log;
        }
    }
}

/// Halt (`true`) or resume the demo's throwaway server, off the runtime's workers.
async fn server_call(database: &Database, halt: bool) -> Result<(), String> {
    let Database::Throwaway(server) = database else {
        return Err("--postgres-outage needs the demo's own server".into());
    };
    let control = server.control();
    tokio::task::spawn_blocking(move || {
        if halt {
            control.halt()
        } else {
            control.resume()
        }
    })
    .await
    .map_err(|e| format!("PostgreSQL control: {e}"))?
    .map_err(|e| format!("PostgreSQL {}: {e}", if halt { "halt" } else { "restart" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_parse_and_bad_ones_are_refused() {
        assert_eq!(
            "node-1:3".parse::<KillNode>().unwrap(),
            KillNode {
                node: "node-1".into(),
                at: 3.0
            }
        );
        assert!("node-1".parse::<KillNode>().is_err());
        assert!(":3".parse::<KillNode>().is_err());
        assert!("node-1:-1".parse::<KillNode>().is_err());
        assert_eq!(
            "2-5.5".parse::<PostgresOutage>().unwrap(),
            PostgresOutage { from: 2.0, to: 5.5 }
        );
        assert!("5-2".parse::<PostgresOutage>().is_err());
        assert!("2".parse::<PostgresOutage>().is_err());
    }

    #[test]
    fn a_plan_that_cannot_run_is_refused() {
        let kill = |node: &str, at| FaultPlan {
            kill: Some(KillNode {
                node: node.into(),
                at,
            }),
            outage: None,
        };
        assert!(kill("node-2", 3.0).validate(2, 10.0, false).is_ok());
        assert!(kill("node-3", 3.0).validate(2, 10.0, false).is_err());
        assert!(kill("node-1", 10.0).validate(2, 10.0, false).is_err());
        let outage = FaultPlan {
            kill: None,
            outage: Some(PostgresOutage { from: 2.0, to: 5.0 }),
        };
        assert!(outage.validate(2, 10.0, false).is_ok());
        let refused = outage.validate(2, 10.0, true).unwrap_err();
        assert!(refused.contains("--postgres URL"), "{refused}");
        assert!(outage.validate(2, 4.0, false).is_err());
    }
}
