//! The rollup's records: its own state and its components', to resume after a restart.
//!
//! The node writes [`Rollup::persist`]'s records after a step of the driver (when no effect
//! is out) and before anything the step produced leaves the process; a restarted node builds
//! the rollup afresh from its configuration and calls [`Rollup::restore`].

use super::{Publication, Rollup};
use crate::{
    Batch, DataAvailability, FinalityGadget, Sequencer, Settlement,
    ledger::RollupLedger,
    persist::{self, PersistError, Reopen, ReplicaRef, Replicas},
    primitives::DaRef,
    settlement::{BatchCommitment, bisection::Dispute, court::DisputeId},
    verifier::Verifier,
};
use alloy_primitives::B256;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The names of the records [`Rollup::persist`] writes, in order.
pub const RECORDS: [&str; 7] = [
    "rollup",
    "sequencer",
    "verifier",
    "finality",
    "ledger",
    "settlement",
    "da",
];

/// Version of the rollup record's layout.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct PublicationRecord {
    ticket: u64,
    #[serde(with = "crate::persist::rlp")]
    batch: Batch,
    da_ref: Option<DaRef>,
}

#[derive(Serialize, Deserialize)]
struct RollupRecord {
    format: u32,
    /// The sequencer's head when written: the block the rollup resumes from.
    head: ReplicaRef,
    now_ms: u64,
    next_ticket: u64,
    publishing: Option<PublicationRecord>,
    cursor: u64,
    settlement_now: u64,
    last_sync_ms: Option<u64>,
    committed: BTreeMap<u64, BatchCommitment>,
    unchecked: BTreeMap<u64, B256>,
    final_unchecked: BTreeSet<u64>,
    #[serde(with = "crate::persist::rlp::map")]
    retrieved: BTreeMap<u64, Batch>,
    alerted: BTreeSet<u64>,
    disputes: Vec<(DisputeId, Dispute)>,
    open_challenges: BTreeMap<u64, usize>,
    finalized: Option<u64>,
    ending: bool,
    book: super::book::BookRecord,
}

/// The block a rollup's `rollup` record says it stood on, without restoring anything: the
/// node takes its store back there before restoring (blocks after it never left the process).
pub fn recorded_head(record: &[u8]) -> Result<ReplicaRef, PersistError> {
    Ok(persist::decode::<RollupRecord>("rollup", record)?.head)
}

/// The oldest block a rollup's `rollup` record needs the state of (its head, and the
/// pre-state of every batch not final): history before it may go, history after it may not.
pub fn recorded_oldest_state(record: &[u8]) -> Result<u64, PersistError> {
    let record = persist::decode::<RollupRecord>("rollup", record)?;
    Ok(record
        .book
        .oldest_replica()
        .unwrap_or(record.head.height)
        .min(record.head.height))
}

impl<S, V, F, L, D, St> Rollup<S, V, F, L, D, St>
where
    S: Sequencer,
    V: Verifier,
    F: FinalityGadget,
    L: RollupLedger,
    D: DataAvailability,
    St: Settlement,
{
    /// The rollup's records ([`RECORDS`]): its own state and each component's. Fails with
    /// [`PersistError::Unsupported`] when a component keeps none.
    pub fn persist(&self) -> Result<Vec<(&'static str, Vec<u8>)>, PersistError> {
        let record = RollupRecord {
            format: FORMAT,
            head: ReplicaRef::of(self.sequencer.state_transition()),
            now_ms: self.now_ms,
            next_ticket: self.next_ticket,
            publishing: self.publishing.as_ref().map(|p| PublicationRecord {
                ticket: p.ticket,
                batch: p.batch.clone(),
                da_ref: p.da_ref,
            }),
            cursor: self.cursor,
            settlement_now: self.settlement_now,
            last_sync_ms: self.last_sync_ms,
            committed: self.committed.clone(),
            unchecked: self.unchecked.clone(),
            final_unchecked: self.final_unchecked.clone(),
            retrieved: self.retrieved.clone(),
            alerted: self.alerted.clone(),
            disputes: self
                .disputes
                .iter()
                .map(|(id, d)| (*id, d.clone()))
                .collect(),
            open_challenges: self.open_challenges.clone(),
            finalized: self.finalized,
            ending: self.ending,
            book: self.book.record(),
        };
        Ok(vec![
            ("rollup", persist::encode("rollup", &record)?),
            ("sequencer", self.sequencer.persist()?),
            ("verifier", self.verifier.persist()?),
            ("finality", self.finality.persist()?),
            ("ledger", self.ledger.persist()?),
            ("settlement", self.settlement.persist()?),
            ("da", self.da.persist()?),
        ])
    }

    /// Puts back what [`Rollup::persist`] wrote, into a rollup built afresh from the same
    /// configuration, its replicas opened again through `replicas`. `record` reads a record
    /// by name. On error the rollup is left part-restored: drop it.
    pub fn restore(
        &mut self,
        record: &dyn Fn(&'static str) -> Result<Option<Vec<u8>>, PersistError>,
        replicas: &Replicas,
    ) -> Result<(), PersistError>
    where
        S::Transition: Reopen,
    {
        let read = |name: &'static str| record(name)?.ok_or(PersistError::Missing(name));
        let rollup: RollupRecord = persist::decode("rollup", &read("rollup")?)?;
        if rollup.format != FORMAT {
            return Err(PersistError::Decode {
                what: "rollup",
                reason: format!("format {}, this version reads {FORMAT}", rollup.format),
            });
        }
        self.sequencer.restore(&read("sequencer")?, replicas)?;
        let head = ReplicaRef::of(self.sequencer.state_transition());
        if head != rollup.head {
            return Err(PersistError::Decode {
                what: "sequencer",
                reason: format!(
                    "its head is block {} ({}), the rollup's {} ({})",
                    head.height, head.hash, rollup.head.height, rollup.head.hash
                ),
            });
        }
        self.verifier.restore(&read("verifier")?, replicas)?;
        self.finality.restore(&read("finality")?, replicas)?;
        self.ledger.restore(&read("ledger")?, replicas)?;
        self.settlement.restore(&read("settlement")?)?;
        self.da.restore(&read("da")?)?;
        self.book.restore(rollup.book, replicas)?;
        self.now_ms = rollup.now_ms;
        self.next_ticket = rollup.next_ticket;
        // Nothing was out when the records were written; what was under way goes out again.
        self.publishing = rollup.publishing.map(|p| Publication {
            ticket: p.ticket,
            batch: p.batch,
            da_ref: p.da_ref,
            waiting: false,
        });
        self.cursor = rollup.cursor;
        self.settlement_now = rollup.settlement_now;
        self.syncing = false;
        self.last_sync_ms = rollup.last_sync_ms;
        self.committed = rollup.committed;
        self.unchecked = rollup.unchecked;
        self.final_unchecked = rollup.final_unchecked;
        self.retrieved = rollup.retrieved;
        self.alerted = rollup.alerted;
        self.disputes = rollup.disputes.into_iter().collect();
        self.open_challenges = rollup.open_challenges;
        self.finalized = rollup.finalized;
        self.ending = rollup.ending;
        Ok(())
    }
}
