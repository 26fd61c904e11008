//! The demo's consistency checks: every request got exactly one answer, and the
//! approvals the acquirers saw equal what the issuers approved net of reversals.

use std::collections::BTreeMap;

use routing_rules::rules::{Cond, Outcome};
use routing_rules::RoutingTable;
use rust_decimal::Decimal;

/// A count and an amount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Total {
    /// How many.
    pub count: u64,
    /// Their amounts added (major units).
    pub amount: Decimal,
}

impl Total {
    /// Add another total.
    pub fn add(&mut self, count: u64, amount: Decimal) {
        self.count += count;
        self.amount += amount;
    }
}

/// Banks whose cards another bank authorizes: a rule whose only condition is the
/// card's issuer and whose outcome routes to another bank (Pine Ridge → Central Bank).
pub fn stand_ins(table: &RoutingTable) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for rule in table.rules() {
        let Outcome::RouteTo(target) = rule.outcome else {
            continue;
        };
        if let [Cond::Issuer(list)] = rule.conditions.as_slice() {
            if !list.negated {
                for &b in &list.values {
                    map.insert(
                        table.banks()[b as usize].id.clone(),
                        table.banks()[target as usize].id.clone(),
                    );
                }
            }
        }
    }
    map
}

/// One line of the comparison: what acquirers saw vs what an issuer host did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerComparison {
    /// The issuer host.
    pub issuer: String,
    /// Approvals the acquirers received in time (cards this host authorizes).
    pub acquirers_approved: Total,
    /// The host's approvals minus its reversals.
    pub issuer_net: Total,
}

impl IssuerComparison {
    /// Whether both sides agree.
    pub fn agrees(&self) -> bool {
        self.acquirers_approved == self.issuer_net
    }
}

/// Compare, per issuer host, the acquirers' approved totals (by card issuer,
/// mapped through `stand_ins`) with each host's net totals.
pub fn compare(
    acquirers: &BTreeMap<String, Total>,
    issuers: &BTreeMap<String, Total>,
    stand_ins: &BTreeMap<String, String>,
) -> Vec<IssuerComparison> {
    let mut seen: BTreeMap<String, Total> = BTreeMap::new();
    for (card_issuer, t) in acquirers {
        let host = stand_ins.get(card_issuer).unwrap_or(card_issuer);
        seen.entry(host.clone()).or_default().add(t.count, t.amount);
    }
    let mut hosts: Vec<&String> = issuers.keys().chain(seen.keys()).collect();
    hosts.sort();
    hosts.dedup();
    hosts
        .into_iter()
        .map(|h| IssuerComparison {
            issuer: h.clone(),
            acquirers_approved: seen.get(h).copied().unwrap_or_default(),
            issuer_net: issuers.get(h).copied().unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_ins_and_comparison() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../routing-rules/rules/national.toml"
        );
        let (t, _) = RoutingTable::load(std::path::Path::new(path)).unwrap();
        let s = stand_ins(&t);
        assert_eq!(s.get("940840").map(String::as_str), Some("940800"));
        let mut acq = BTreeMap::new();
        acq.insert(
            "940840".to_string(),
            Total {
                count: 2,
                amount: Decimal::from(30),
            },
        );
        acq.insert(
            "940800".to_string(),
            Total {
                count: 1,
                amount: Decimal::from(5),
            },
        );
        let mut iss = BTreeMap::new();
        iss.insert(
            "940800".to_string(),
            Total {
                count: 3,
                amount: Decimal::from(35),
            },
        );
        let c = compare(&acq, &iss, &s);
        assert_eq!(c.len(), 1);
        assert!(c[0].agrees());
        iss.insert(
            "940800".to_string(),
            Total {
                count: 3,
                amount: Decimal::from(36),
            },
        );
        assert!(!compare(&acq, &iss, &s)[0].agrees());
    }
}
