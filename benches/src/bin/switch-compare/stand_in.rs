//! What `--compare stand-in` adds to a switch run: the rules both setups run on
//! (the national rules with the stand-in daily limits raised), the traffic that
//! stand-in may approve, taking the issuer down before the load, and the
//! switch's stand-in decisions counted after it.
//!
//! Both setups send purchases and cash withdrawals ([`STAND_IN_MIX`]: the
//! default mix without its balance inquiries, which stand-in never approves).
//! Their amounts are within the per-transaction stand-in limits of Morning
//! Star's two products (purchases up to 200,000 KPW, cash up to 100,000), but a
//! run makes hundreds of thousands of requests over some 2,000 cards, so the
//! per-card daily counts (5, cash 2) and amounts would decline nearly all of
//! them 65 or 61 after the first seconds: the runs use a copy of the national
//! rules with every daily limit raised far above what a run draws
//! ([`raise_daily_limits`]). The checks still run on every request (entry,
//! kind, Luhn, expiry, negative file, currency, per-transaction, the card's
//! usage counted under its lock), only their daily limits never decline. The
//! simulators' expired cards (3 %) are declined 54 by stand-in as by their
//! issuer.

use std::time::Duration;

use benches::loopback::ISSUER_BANK;
use switch::config::Role;
use switch::core::Core;

use crate::setup::RulesCopy;

/// The transaction mix of both setups.
pub const STAND_IN_MIX: &str = "purchase=70,cash=20";
/// A daily stand-in count no run reaches.
const RAISED_COUNT: &str = "1000000000";
/// A daily stand-in amount (KPW) no run reaches.
const RAISED_AMOUNT: &str = "\"1000000000000\"";
/// How long the switch may take to see its issuer host go down.
const DOWN_PATIENCE: Duration = Duration::from_secs(5);

/// The national rules with the stand-in daily limits raised, for this
/// process's runs.
pub fn stand_in_rules() -> Result<RulesCopy, String> {
    RulesCopy::write("stand-in-rules", raise_daily_limits)
}

/// `rules` with every `[[stand_in.limit]]`'s daily count and amount (cash and
/// not) raised; an error if there is none (the benchmark would then measure
/// declines).
fn raise_daily_limits(rules: &str) -> Result<String, String> {
    let mut raised = 0;
    let mut out = String::with_capacity(rules.len() + 1024);
    for line in rules.lines() {
        let key = line.split('=').next().unwrap_or_default().trim();
        let value = match key {
            "daily_count" | "cash_daily_count" => Some(RAISED_COUNT),
            "daily_amount" | "cash_daily_amount" => Some(RAISED_AMOUNT),
            _ => None,
        };
        match value {
            Some(value) if line.contains('=') => {
                raised += 1;
                out.push_str(&format!("{key} = {value}"));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    if raised == 0 {
        return Err(
            "the national rules have no stand-in daily limits: update switch-compare".into(),
        );
    }
    Ok(out)
}

/// The switch's issuer links and stand-in decisions at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StandInCount {
    /// Issuer links signed on.
    pub issuer_links_up: u64,
    /// Stand-in approvals for [`ISSUER_BANK`].
    pub approved: u64,
    /// Stand-in declines for [`ISSUER_BANK`].
    pub declined: u64,
    /// Messages in the store-and-forward queue (the advices owed).
    pub saf_depth: u64,
}

impl StandInCount {
    pub fn of(core: &Core) -> StandInCount {
        let stats = core.stats();
        let (approved, declined) = stats.bank(ISSUER_BANK).stand_in;
        StandInCount {
            issuer_links_up: stats.links_up(Role::Issuer) as u64,
            approved,
            declined,
            saf_depth: stats.saf_depth as u64,
        }
    }

    /// The figures as the child process says them (after `stand-in`).
    pub fn line(&self) -> String {
        format!(
            " {} {} {} {}",
            self.issuer_links_up, self.approved, self.declined, self.saf_depth
        )
    }

    /// Stand-in decisions, approved and declined.
    pub fn decisions(&self) -> u64 {
        self.approved + self.declined
    }
}

/// Wait until `count` (asked again every 20 ms) says no issuer link is signed
/// on, for at most [`DOWN_PATIENCE`]: the issuer host has just been taken down
/// and the load must find the switch standing in, not forwarding to a link it
/// has not yet seen drop (those requests would wait for their timeout).
pub async fn wait_issuer_down(
    mut count: impl FnMut() -> Option<StandInCount>,
) -> Result<(), String> {
    let start = tokio::time::Instant::now();
    while start.elapsed() < DOWN_PATIENCE {
        if count().is_some_and(|c| c.issuer_links_up == 0) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!(
        "the switch still had its issuer link up {DOWN_PATIENCE:?} after the issuer went down"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use benches::loopback::national_rules;
    use routing_rules::RoutingTable;

    #[test]
    fn only_the_daily_limits_are_raised() {
        let text = std::fs::read_to_string(national_rules()).unwrap();
        let raised = raise_daily_limits(&text).unwrap();
        let changed: Vec<(&str, &str)> = text
            .lines()
            .zip(raised.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(text.lines().count(), raised.lines().count());
        assert!(!changed.is_empty());
        assert!(changed.iter().all(|(old, _)| old.contains("daily_")));
        // The copy loads (its negative file found), and Morning Star's
        // entries take a run's draws.
        let copy = stand_in_rules().unwrap();
        let (table, _) = RoutingTable::load(&copy.path).unwrap();
        assert!(!table.negative_files().is_empty());
        let entries = table.stand_in_entries();
        let star: Vec<_> = entries
            .iter()
            .filter(|e| e.id.starts_with("morning-star"))
            .collect();
        assert_eq!(star.len(), 2);
        for entry in star {
            for limit in &entry.limits {
                assert_eq!(limit.purchase.daily_count, 1_000_000_000);
                let cash = limit.cash.as_ref().expect("cash limits");
                assert_eq!(cash.daily_count, 1_000_000_000);
            }
        }
        assert!(raise_daily_limits("[[rule]]\nid = \"other\"\n").is_err());
    }
}
