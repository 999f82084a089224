//! The [`FinalityGadget`] composition point: which blocks are final, and on what grounds.
//!
//! Finality comes in tiers (DESIGN.md §2): a block is *soft-confirmed* by its sequencer (or
//! SQUAD's QC), *fast-final* with a MACH quorum certificate, and *final on L1* once the batch
//! holding it outlives its challenge window. The default gadget, [`ChallengeWindowFinality`],
//! knows only the last tier; MACH (altlayer-avs) adds the fast tier behind the same trait.

use crate::{evidence::Evidence, primitives::Block, sequencer::Peer, settlement::BatchCommitment};
use alloy_primitives::{Address, B256, U256};
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

/// What a finality gadget reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FinalityEvent<M = std::convert::Infallible> {
    /// The block became fast-final: a quorum of restaked operators certified it.
    FastFinal {
        /// Height.
        height: u64,
        /// Block hash.
        hash: B256,
        /// Hash of the certificate.
        certificate: B256,
    },
    /// An alert against the block reached its threshold: it, and every descendant, will never
    /// be fast-final.
    Alerted {
        /// Height.
        height: u64,
        /// Block hash.
        hash: B256,
        /// Hash of the confirmed alert.
        alert: B256,
    },
    /// A confirmed alert points at a committed batch: the rollup's verifier should challenge
    /// it.
    Challenge {
        /// The batch.
        batch: u64,
    },
    /// The operators' votes on a block expired below the threshold: it is not fast-final.
    Stalled {
        /// Height.
        height: u64,
        /// Stake that signed.
        signed: U256,
        /// Stake of the whole set.
        total: U256,
    },
    /// An operator misbehaved (two conflicting votes).
    Evidence(Box<Evidence>),
    /// Send a message to the gadget's peers.
    Send {
        /// To whom.
        to: Peer,
        /// What.
        message: M,
    },
}

/// Reports which blocks are final.
///
/// Inputs are events (a block produced, a soft confirmation, a batch committed, a challenge, a
/// revert), peers' messages, and time: `now_ms` on the rollup's clock for the gadget's own
/// protocol, and settlement time for the challenge window. The gadget never reads a clock or
/// the network.
///
/// # Example
///
/// ```
/// use altlayer_core::{
///     RollupId,
///     finality::{ChallengeWindowFinality, FinalityGadget, FinalityStatus},
///     primitives::Block,
///     settlement::BatchCommitment,
/// };
/// use alloy_primitives::{Address, B256};
///
/// let mut gadget = ChallengeWindowFinality::new(100);
/// let mut block = Block::default();
/// block.header.height = 1;
/// gadget.on_block(0, block.hash(), &block);
/// assert_eq!(gadget.status(1), FinalityStatus::Pending);
/// let batch = BatchCommitment {
///     rollup_id: RollupId(1), index: 0, pre_state_root: B256::ZERO, post_state_root: B256::ZERO,
///     last_height: 1, commitment: B256::ZERO, da_ref: Default::default(), proposer: Address::ZERO,
/// };
/// gadget.on_batch_committed(&batch, 10);
/// assert_eq!(gadget.status(1), FinalityStatus::Committed { batch: 0, window_ends: 110 });
/// gadget.on_settlement_time(110);
/// assert_eq!(gadget.status(1), FinalityStatus::Final);
/// assert_eq!(gadget.finalized_height(), Some(1));
/// ```
pub trait FinalityGadget {
    /// Messages between the gadget and its operators (`Infallible` when it has none).
    type Message: Clone + std::fmt::Debug + Send + 'static;

    /// Status of the block at `height`.
    fn status(&self, height: u64) -> FinalityStatus;

    /// Highest height that is final on L1 (every block at or below it is): the `finalized`
    /// block tag.
    fn finalized_height(&self) -> Option<u64>;

    /// Highest height up to which every block is fast-final or final on L1: the `safe` block
    /// tag. Without a fast tier it is the finalized height.
    fn safe_height(&self) -> Option<u64> {
        self.finalized_height()
    }

    /// A block was produced at `now_ms`; `hash` is its header's hash.
    fn on_block(
        &mut self,
        now_ms: u64,
        hash: B256,
        block: &Block,
    ) -> Vec<FinalityEvent<Self::Message>>;

    /// The sequencer set certified the block at `height` (soft confirmation).
    fn on_soft(&mut self, _height: u64, _certificate: B256) {}

    /// A message from a peer.
    fn on_message(
        &mut self,
        _now_ms: u64,
        _from: Address,
        _message: Self::Message,
    ) -> Vec<FinalityEvent<Self::Message>> {
        Vec::new()
    }

    /// The rollup's clock advanced to `now_ms`.
    fn on_tick(&mut self, _now_ms: u64) -> Vec<FinalityEvent<Self::Message>> {
        Vec::new()
    }

    /// The earliest `now_ms` at which [`FinalityGadget::on_tick`] has something to do.
    fn next_wake(&self) -> Option<u64> {
        None
    }

    /// A batch was committed to settlement at settlement time `at`.
    fn on_batch_committed(&mut self, batch: &BatchCommitment, at: u64);

    /// A challenge was opened against a batch: it cannot finalize until decided.
    fn on_challenge(&mut self, batch: u64);

    /// The challenge against a batch failed: the batch stands and may finalize.
    fn on_challenge_failed(&mut self, batch: u64);

    /// Batch `batch` and every later one were reverted; the chain goes on from `to_height`.
    fn on_revert(&mut self, batch: u64, to_height: u64);

    /// Settlement time advanced to `now`; returns the new finalized height if it moved.
    fn on_settlement_time(&mut self, now: u64) -> Option<u64>;

    /// The runtime state as a record, to resume from after a restart (see
    /// [`crate::persist`]). The default cannot.
    fn persist(&self) -> Result<Vec<u8>, crate::persist::PersistError> {
        Err(crate::persist::unsupported::<Self>())
    }

    /// Puts back what `persist` wrote, into a component built afresh from the same
    /// configuration; changes nothing on error.
    fn restore(
        &mut self,
        _record: &[u8],
        _replicas: &crate::persist::Replicas,
    ) -> Result<(), crate::persist::PersistError> {
        Err(crate::persist::unsupported::<Self>())
    }
}

/// Finality after an L1 challenge window, the optimistic-rollup rule.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
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

impl ChallengeWindowFinality {
    /// The challenge window of batches committed from now on (governance changes it).
    pub const fn set_window(&mut self, window: u64) {
        self.window = window;
    }

    /// A block was produced at `height` (what [`FinalityGadget::on_block`] records).
    pub fn on_produced(&mut self, height: u64) {
        self.produced = Some(self.produced.map_or(height, |p| p.max(height)));
    }
}

impl FinalityGadget for ChallengeWindowFinality {
    type Message = std::convert::Infallible;

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

    fn on_block(&mut self, _now_ms: u64, _hash: B256, block: &Block) -> Vec<FinalityEvent> {
        self.on_produced(block.header.height);
        Vec::new()
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
        self.on_produced(batch.last_height);
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

    fn on_revert(&mut self, batch: u64, to_height: u64) {
        self.batches.split_off(&batch);
        self.produced = self.produced.map(|p| p.min(to_height));
    }

    fn on_settlement_time(&mut self, now: u64) -> Option<u64> {
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

    fn persist(&self) -> Result<Vec<u8>, crate::persist::PersistError> {
        crate::persist::encode("finality", self)
    }

    fn restore(
        &mut self,
        record: &[u8],
        _replicas: &crate::persist::Replicas,
    ) -> Result<(), crate::persist::PersistError> {
        // The window is configuration: the one this gadget was built with stays.
        let window = self.window;
        *self = crate::persist::decode("finality", record)?;
        self.window = window;
        Ok(())
    }
}
