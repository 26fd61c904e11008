//! The rows a batch writes, by key, so that the writer never has two batches
//! in flight that write the same row (see [`super::writer`]).
//!
//! Why it matters: batch N inserts a forwarded journal row and is not yet
//! committed when batch N+1, on the other connection, completes that row.
//! N+1's upsert waits for N's row lock, and N+1 stalls behind N; were N rolled
//! back meanwhile, N+1 would write the completion as a row of its own, before
//! N's retry. Rows of any kind written by two
//! batches at once would at best wait on each other (at worst deadlock, the two
//! batches locking rows in different orders), so every keyed row counts.
//! A journal row's `in_flight` entry has the row's id, so it counts with it.
//! (An attempt abandoned by the writer, after its commit timeout or a lost
//! connection, may still run on the server after its retry and after the
//! completion: it then lists a row already complete. Recovery reads only the
//! listed rows still forwarded and removes the others.)

use std::collections::HashSet;

use crate::store::Op;

/// What a batch writes.
#[derive(Default, Debug)]
pub struct Touched {
    /// Journal rows (transaction ids).
    journal: HashSet<u64>,
    /// Store-and-forward items (also the journal rows naming them as their
    /// advice, which an acknowledgement updates).
    saf: HashSet<u64>,
    /// Negative-file entries (issuer, digest).
    negative: HashSet<(String, String)>,
    /// The business-day override.
    day: bool,
}

impl Touched {
    /// The rows `batch` writes. (A cluster node's claims need no entry: its
    /// writer never has two batches in flight, see `Writer::overlaps`.)
    pub fn of(batch: &[(u64, Op)]) -> Touched {
        let mut touched = Touched::default();
        for (_, op) in batch {
            match op {
                Op::Journal { record, .. } => {
                    touched.journal.insert(record.id);
                    if let Some(advice) = record.stand_in.as_ref().and_then(|s| s.advice_saf) {
                        touched.saf.insert(advice);
                    }
                }
                Op::SafPush { id, .. }
                | Op::SafAck { id, .. }
                | Op::SafExpired { id }
                | Op::SafAttempt { id, .. } => {
                    touched.saf.insert(*id);
                }
                Op::NegativeFile { issuer, digest, .. } => {
                    touched.negative.insert((issuer.clone(), digest.clone()));
                }
                Op::DayOverride(_) => touched.day = true,
                Op::Vault(_) | Op::Stop => {}
            }
        }
        touched
    }

    /// Whether the two write a row in common.
    pub fn overlaps(&self, other: &Touched) -> bool {
        (self.day && other.day)
            || !self.journal.is_disjoint(&other.journal)
            || !self.saf.is_disjoint(&other.saf)
            || !self.negative.is_disjoint(&other.negative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::journal::FinalState;
    use crate::store::writer::tests::record;

    fn journal(id: u64, state: FinalState) -> (u64, Op) {
        (
            id,
            Op::Journal {
                record: record(id, state),
                reversal: None,
                day: 0,
                at_ms: 0,
            },
        )
    }

    /// A stand-in approval's record, with its advice's queue row if any.
    fn stand_in_approval(id: u64, advice_saf: Option<u64>) -> (u64, Op) {
        let mut row = journal(id, FinalState::Approved);
        if let (_, Op::Journal { record, .. }) = &mut row {
            record.stand_in = Some(crate::core::journal::StandInNote {
                check: "within-limits",
                entry: None,
                advice_saf,
            });
        }
        row
    }

    #[test]
    fn a_completion_overlaps_the_batch_that_forwarded_it() {
        let forwarded = Touched::of(&[journal(7, FinalState::Forwarded)]);
        let completed = Touched::of(&[journal(7, FinalState::Approved)]);
        let other = Touched::of(&[journal(8, FinalState::Approved)]);
        assert!(forwarded.overlaps(&completed));
        assert!(!forwarded.overlaps(&other));
    }

    #[test]
    fn an_acknowledged_advice_overlaps_the_stand_in_row_that_names_it() {
        let stand_in = Touched::of(&[stand_in_approval(9, Some(42))]);
        let ack = Touched::of(&[(10, Op::SafAck { id: 42, at_ms: 0 })]);
        let other_ack = Touched::of(&[(11, Op::SafAck { id: 43, at_ms: 0 })]);
        assert!(stand_in.overlaps(&ack));
        assert!(!stand_in.overlaps(&other_ack));
    }
}
