//! The negative file as the switch applies it: each issuer's file (loaded with
//! the routing rules, reloaded with them) under the updates the issuer sent over
//! its link (0302, kept durably and read back at start). An update, a deletion
//! included, overrides the file for its card. Cards are known by the SHA-256
//! digest of the PAN ([`routing_rules::pan_digest`]), never the PAN.

use dashmap::DashMap;
use routing_rules::{HotReason, RoutingTable};

/// The issuers' updates by card digest: for each issuer that sent one, the
/// card's reason, or None where the issuer took the card off its file (a card
/// is one issuer's: the list has one entry but for a mistake). Found by the
/// digest alone, without allocating.
#[derive(Debug, Default)]
pub(crate) struct NegativeUpdates {
    entries: DashMap<[u8; 32], Vec<IssuerUpdate>>,
}

/// One issuer's update of a card: the reason, or None where it was deleted.
type IssuerUpdate = (Box<str>, Option<HotReason>);

impl NegativeUpdates {
    /// Apply an update (at start: one read back from the store).
    pub(crate) fn set(&self, issuer: &str, digest: [u8; 32], reason: Option<HotReason>) {
        let mut by_issuer = self.entries.entry(digest).or_default();
        match by_issuer.iter_mut().find(|(i, _)| &**i == issuer) {
            Some(entry) => entry.1 = reason,
            None => by_issuer.push((issuer.into(), reason)),
        }
    }

    /// The update for a card, if the issuer sent one: `Some(None)` is a deletion.
    fn get(&self, issuer: &str, digest: &[u8; 32]) -> Option<Option<HotReason>> {
        if self.entries.is_empty() {
            return None;
        }
        let by_issuer = self.entries.get(digest)?;
        by_issuer
            .iter()
            .find(|(i, _)| &**i == issuer)
            .map(|(_, reason)| *reason)
    }

    /// Updates held (deletions included).
    pub(crate) fn len(&self) -> usize {
        self.entries.iter().map(|e| e.len()).sum()
    }

    /// Whether card `pan` (digits; `digest` its SHA-256) of `issuer` is hot: the
    /// issuer's update for it, else its file.
    pub(crate) fn lookup(
        &self,
        table: &RoutingTable,
        issuer: &str,
        pan: &[u8],
        digest: &[u8; 32],
    ) -> Option<HotReason> {
        if let Some(update) = self.get(issuer, digest) {
            return update;
        }
        let idx = table.bank_index(issuer.as_bytes())?;
        table.negative_file(idx)?.lookup(pan, digest)
    }

    /// Whether a card of `issuer` could be hot at all: it has a negative file, or
    /// some issuer sent updates (the digest is not computed otherwise).
    pub(crate) fn may_hold(&self, table: &RoutingTable, issuer: &str) -> bool {
        !self.entries.is_empty()
            || table
                .bank_index(issuer.as_bytes())
                .is_some_and(|i| table.negative_file(i).is_some())
    }

    /// Whether `issuer` asked for its hot cards to be declined while it is up too
    /// (`apply_when_up` of its `[[negative_file]]`): a scan of the few files,
    /// nothing more, on the normal path.
    pub(crate) fn applies_when_up(table: &RoutingTable, issuer: &str) -> bool {
        table.negative_files().iter().any(|f| {
            f.apply_when_up()
                && table
                    .banks()
                    .get(usize::from(f.issuer()))
                    .is_some_and(|b| b.id == issuer)
        })
    }
}

impl super::super::Core {
    /// Whether card `pan` of `issuer` is hot (its update, else its file).
    pub(crate) fn hot_card(
        &self,
        table: &RoutingTable,
        issuer: &str,
        pan: &[u8],
    ) -> Option<HotReason> {
        let digest = routing_rules::pan_digest(pan);
        self.negative.lookup(table, issuer, pan, &digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "[[region]]\nid = \"c\"\nkind = \"capital\"\n[[bank]]\nid = \"940810\"\nregion = \"c\"\nroles = [\"issuer\", \"acquirer\"]\n";

    #[test]
    fn an_update_overrides_and_a_deletion_clears() {
        let (table, _) = RoutingTable::from_toml(RULES, "r.toml").expect("rules");
        let updates = NegativeUpdates::default();
        let pan = b"9408101234567893";
        let digest = routing_rules::pan_digest(pan);
        assert_eq!(updates.lookup(&table, "940810", pan, &digest), None);
        updates.set("940810", digest, Some(HotReason::Stolen));
        assert_eq!(
            updates.lookup(&table, "940810", pan, &digest),
            Some(HotReason::Stolen)
        );
        assert_eq!(
            updates.lookup(&table, "940820", pan, &digest),
            None,
            "another issuer's update says nothing of this one's card"
        );
        updates.set("940810", digest, None);
        assert_eq!(updates.lookup(&table, "940810", pan, &digest), None);
        assert_eq!(updates.len(), 1);
    }
}
