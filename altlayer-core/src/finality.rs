//! The [`FinalityGadget`] composition point: which blocks are final, and on what grounds.
//!
//! Finality comes in tiers (DESIGN.md §2): a block is *soft-confirmed* by its sequencer (or
//! SQUAD's QC), *fast-final* with a MACH quorum certificate, and *final on L1* once the batch
//! holding it outlives its challenge window. The default gadget, [`ChallengeWindowFinality`],
//! knows only the last tier; MACH (altlayer-avs) adds the fast tier behind the same trait.

use crate::settlement::BatchCommitment;
use alloy_primitives::B256;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a block stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
#[non_exhaustive]
pub enum FinalityStatus {
    /// Not known to this gadget.
    Unknown,
    /// Produced by the sequencer, not yet in a committed batch.
    Pending,
    /// Carried by a quorum certificate of the sequencer set (SQUAD).
    SoftConfirmed {
        /// Hash of the certificate.
        certificate: B256,
    },
    /// Carried by a fast-finality quorum certificate (MACH).
    FastFinal {
        /// Hash of the certificate.
        certificate: B256,
    },
    /// An operator alert against the block was confirmed: it will never be final.
    Alerted {
        /// Hash of the confirmed alert.
        alert: B256,
    },
    /// In a batch committed to settlement whose challenge window is still open.
    Committed {
        /// Batch index.
        batch: u64,
        /// Settlement time at which the window closes.
        window_ends: u64,
    },
    /// In a batch whose challenge window passed: final on L1.
    Final,
}

/// Reports which blocks are final.
///
/// Inputs are events (a block produced, a batch committed, a challenge, a clock tick in
/// settlement time); the gadget never reads a clock or the network.
///
/// # Example
///
/// ```
/// use altlayer_core::{
///     RollupId,
///     finality::{ChallengeWindowFinality, FinalityGadget, FinalityStatus},
///     settlement::BatchCommitment,
/// };
/// use alloy_primitives::{Address, B256};
///
/// let mut gadget = ChallengeWindowFinality::new(100);
/// gadget.on_block(1);
/// assert_eq!(gadget.status(1), FinalityStatus::Pending);
/// let batch = BatchCommitment {
///     rollup_id: RollupId(1), index: 0, pre_state_root: B256::ZERO, post_state_root: B256::ZERO,
///     last_height: 1, commitment: B256::ZERO, da_ref: Default::default(), proposer: Address::ZERO,
/// };
/// gadget.on_batch_committed(&batch, 10);
/// assert_eq!(gadget.status(1), FinalityStatus::Committed { batch: 0, window_ends: 110 });
/// gadget.on_tick(110);
/// assert_eq!(gadget.status(1), FinalityStatus::Final);
/// assert_eq!(gadget.finalized_height(), Some(1));
/// ```
pub trait FinalityGadget {
    /// Status of the block at `height`.
    fn status(&self, height: u64) -> FinalityStatus;

    /// Highest height that is final (every block at or below it is), if any.
    fn finalized_height(&self) -> Option<u64>;

    /// A block was produced at `height`.
    fn on_block(&mut self, height: u64);

    /// A batch was committed to settlement at settlement time `at`.
    fn on_batch_committed(&mut self, batch: &BatchCommitment, at: u64);

    /// A challenge was opened against a batch: it cannot finalize until decided.
    fn on_challenge(&mut self, batch: u64);

    /// The challenge against a batch failed: the batch stands and may finalize.
    fn on_challenge_failed(&mut self, batch: u64);

    /// A batch (and every later one) was reverted.
    fn on_revert(&mut self, batch: u64);

    /// Settlement time advanced to `now`; returns the heights that became final.
    fn on_tick(&mut self, now: u64) -> Option<u64>;
}

/// Finality after an L1 challenge window, the optimistic-rollup rule.
#[derive(Clone, Debug)]
pub struct ChallengeWindowFinality {
    window: u64,
    produced: Option<u64>,
    /// Batch index -> (first height, last height, window end, challenged).
    batches: BTreeMap<u64, (u64, u64, u64, bool)>,
    finalized: Option<u64>,
}

impl ChallengeWindowFinality {
    /// A gadget with the given challenge window, in settlement seconds.
    pub const fn new(window: u64) -> Self {
        Self {
            window,
            produced: None,
            batches: BTreeMap::new(),
            finalized: None,
        }
    }
}

impl FinalityGadget for ChallengeWindowFinality {
    fn status(&self, height: u64) -> FinalityStatus {
        if self.finalized.is_some_and(|f| height <= f) {
            return FinalityStatus::Final;
        }
        for (index, (first, last, ends, _)) in &self.batches {
            if (*first..=*last).contains(&height) {
                return FinalityStatus::Committed {
                    batch: *index,
                    window_ends: *ends,
                };
            }
        }
        if self.produced.is_some_and(|p| height <= p) {
            FinalityStatus::Pending
        } else {
            FinalityStatus::Unknown
        }
    }

    fn finalized_height(&self) -> Option<u64> {
        self.finalized
    }

    fn on_block(&mut self, height: u64) {
        self.produced = Some(self.produced.map_or(height, |p| p.max(height)));
    }

    fn on_batch_committed(&mut self, batch: &BatchCommitment, at: u64) {
        let first = self
            .batches
            .range(..batch.index)
            .next_back()
            .map(|(_, (_, last, _, _))| last + 1)
            .or(self.finalized.map(|f| f + 1))
            .unwrap_or(1);
        self.batches.insert(
            batch.index,
            (
                first,
                batch.last_height,
                at.saturating_add(self.window),
                false,
            ),
        );
        self.on_block(batch.last_height);
    }

    fn on_challenge(&mut self, batch: u64) {
        if let Some(entry) = self.batches.get_mut(&batch) {
            entry.3 = true;
        }
    }

    fn on_challenge_failed(&mut self, batch: u64) {
        if let Some(entry) = self.batches.get_mut(&batch) {
            entry.3 = false;
        }
    }

    fn on_revert(&mut self, batch: u64) {
        let reverted = self.batches.split_off(&batch);
        if let Some((first, ..)) = reverted.values().next() {
            self.produced = first.checked_sub(1);
        }
    }

    fn on_tick(&mut self, now: u64) -> Option<u64> {
        let before = self.finalized;
        // Batches finalize in order: a challenged or still-open batch holds back all later ones.
        while let Some((&index, &(_, last, ends, challenged))) = self.batches.first_key_value() {
            if challenged || now < ends {
                break;
            }
            self.batches.remove(&index);
            self.finalized = Some(last);
        }
        (self.finalized != before)
            .then_some(self.finalized)
            .flatten()
    }
}
