//! The proposer's book: blocks waiting to be batched, batches posted and not yet final with
//! the replica at each one's pre-state, how to defend them in a dispute game, and how to go
//! back to the last valid root when settlement reverts one.

use crate::{
    Batch, Block, RollupId, StateTransition,
    execution::ExecuteOptions,
    settlement::bisection::{Dispute, Move, Party, Status, proposer_move},
};
use alloy_primitives::B256;
use std::collections::{BTreeMap, VecDeque};

/// What the proposer does in a game over one of its batches.
#[derive(Debug)]
pub enum Defense {
    /// A move: the root it posted at the midpoint.
    Play(Move),
    /// A one-step proof of its (true) claim.
    Prove(Box<crate::execution::stateless::StepWitness>),
}

/// What a revert leaves: the replica at the last valid block and the blocks after it.
pub struct Rewind<T> {
    /// The replica at the last valid block (its head).
    pub to: T,
    /// Blocks of the reverted batches before the blamed block, re-executed unchanged: they
    /// go into the batch posted again.
    pub kept: usize,
    /// Blocks from the blamed one on, oldest first.
    pub reverted: Vec<Block>,
}

/// The proposer's side of batching, shared by the [`super::Rollup`] driver and by proposers
/// that build their own blocks (VITAL's simulated proposer): blocks waiting for a batch, the
/// batches posted and not final with the replica at each pre-state, their defense in dispute
/// games, and the rewind after a revert.
#[derive(Debug)]
pub struct BatchBook<T> {
    rollup_id: RollupId,
    blocks_per_batch: usize,
    /// Blocks built and not yet in a batch, with the state root after each transaction.
    pending: VecDeque<(Block, Vec<B256>)>,
    next_index: u64,
    /// The next batch's pre-state root.
    pre_root: B256,
    /// The replica at the pre-state of each batch not yet final, and of the next one.
    checkpoints: BTreeMap<u64, T>,
    /// Batches cut and not final, as posted.
    posted: BTreeMap<u64, Batch>,
}

impl<T: StateTransition + Clone> BatchBook<T> {
    /// A book starting at `genesis` (the first batch's pre-state), cutting batches of
    /// `blocks_per_batch` blocks.
    pub fn new(genesis: T, blocks_per_batch: usize) -> Self {
        Self {
            rollup_id: genesis.config().rollup_id,
            blocks_per_batch: blocks_per_batch.max(1),
            pending: VecDeque::new(),
            next_index: 0,
            pre_root: genesis.state_root(),
            checkpoints: BTreeMap::from([(0, genesis)]),
            posted: BTreeMap::new(),
        }
    }

    /// A block was built (with the state root after each of its transactions).
    pub fn push(&mut self, block: Block, roots: Vec<B256>) {
        self.pending.push_back((block, roots));
    }

    /// Blocks waiting for a batch.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Cuts the next batch once a full batch of blocks waits. `head` is the sequencer's
    /// replica: when its head is the batch's last block it is the next batch's pre-state;
    /// otherwise (a set that committed several blocks at once) that state is rebuilt from
    /// this batch's pre-state.
    pub fn cut(&mut self, head: &T) -> Option<Batch> {
        if self.pending.len() < self.blocks_per_batch {
            return None;
        }
        self.cut_blocks(self.blocks_per_batch, head, |_| {})
    }

    /// Cuts every waiting block into one batch, however many (none: `None`), letting `amend`
    /// change the batch before it is recorded as posted (a lying proposer in fault drills).
    pub fn flush_with(&mut self, head: &T, amend: impl FnOnce(&mut Batch)) -> Option<Batch> {
        if self.pending.is_empty() {
            return None;
        }
        self.cut_blocks(self.pending.len(), head, amend)
    }

    fn cut_blocks(
        &mut self,
        count: usize,
        head: &T,
        amend: impl FnOnce(&mut Batch),
    ) -> Option<Batch> {
        let (blocks, roots): (Vec<Block>, Vec<Vec<B256>>) = self.pending.drain(..count).unzip();
        let post_state_root = blocks.last().map_or(self.pre_root, |b| b.header.state_root);
        let mut batch = Batch {
            rollup_id: self.rollup_id,
            index: self.next_index,
            pre_state_root: self.pre_root,
            post_state_root,
            blocks,
            intermediate_roots: roots.concat(),
        };
        let last = batch.last_height().unwrap_or_default();
        // The replica after the batch, computed before any amendment.
        let next = if head.head().height == last && head.state_root() == post_state_root {
            Ok(head.clone())
        } else {
            match self.checkpoints.get(&batch.index) {
                Some(pre) => {
                    let mut next = pre.clone();
                    batch
                        .blocks
                        .iter()
                        .try_for_each(|b| {
                            next.execute_block_recovering(b, ExecuteOptions::default())
                                .map(drop)
                        })
                        .map(|()| next)
                        .map_err(|e| e.to_string())
                }
                None => Err("no replica before it".to_owned()),
            }
        };
        match next {
            Ok(next) => {
                self.checkpoints.insert(batch.index + 1, next);
            }
            // Only a batch whose blocks do not re-execute gets here (a wrong one, which a
            // challenge will revert): nothing can rewind to after it.
            Err(error) => tracing::debug!(
                batch = batch.index,
                %error,
                "no replica after the batch"
            ),
        }
        amend(&mut batch);
        self.posted.insert(batch.index, batch.clone());
        self.next_index += 1;
        self.pre_root = batch.post_state_root;
        Some(batch)
    }

    /// A batch posted and not final.
    pub fn posted(&self, index: u64) -> Option<&Batch> {
        self.posted.get(&index)
    }

    /// The proposer's answer in a game over one of its batches, when it is its turn: the
    /// posted midpoint root, or a proof of the last step if its claim there is true (a proof
    /// of a false claim would decide against it).
    pub fn defend(&self, dispute: &Dispute) -> Option<Defense> {
        let batch = self.posted.get(&dispute.batch)?;
        match dispute.status() {
            Status::Bisecting {
                turn: Party::Proposer,
                ..
            } => proposer_move(batch, dispute).map(Defense::Play),
            Status::OneStep {
                index,
                claimed_root,
                ..
            } => {
                let step = usize::try_from(index).ok()?;
                let replica = self.checkpoints.get(&dispute.batch)?;
                let roots = replica.replay_steps(batch, step + 1).ok()?;
                if roots.get(step) != Some(&claimed_root) {
                    return None;
                }
                replica
                    .prove_step(batch, step)
                    .ok()
                    .map(|witness| Defense::Prove(Box::new(witness)))
            }
            _ => None,
        }
    }

    /// Settlement reverted batch `from` and every later one, blaming the block at
    /// `blamed_height`: back to the replica before `from`, the reverted blocks before the
    /// blamed one re-executed unchanged and queued for the batch posted again, and the rest
    /// returned. `None` when there is no replica before `from`.
    pub fn revert(&mut self, from: u64, blamed_height: u64) -> Option<Rewind<T>> {
        let mut to = self.checkpoints.get(&from)?.clone();
        let reverted_batches = self.posted.split_off(&from);
        self.checkpoints.split_off(&(from + 1));
        let mut blocks: Vec<Block> = reverted_batches
            .into_values()
            .flat_map(|batch| batch.blocks)
            .chain(
                std::mem::take(&mut self.pending)
                    .into_iter()
                    .map(|(b, _)| b),
            )
            .collect();
        let mut kept = 0;
        for block in &blocks {
            if block.header.height >= blamed_height {
                break;
            }
            match to.execute_block_recovering(block, ExecuteOptions::with_intermediate_roots()) {
                Ok(outcome) => {
                    self.pending
                        .push_back((block.clone(), outcome.intermediate_roots));
                    kept += 1;
                }
                Err(_) => break,
            }
        }
        let reverted = blocks.split_off(kept);
        self.next_index = from;
        self.pre_root = self
            .checkpoints
            .get(&from)
            .map_or(B256::ZERO, |c| c.state_root());
        Some(Rewind { to, kept, reverted })
    }

    /// The index the next batch will have.
    pub const fn next_index(&self) -> u64 {
        self.next_index
    }

    /// The replica at the pre-state of batch `index`, while it is not final.
    pub fn checkpoint(&self, index: u64) -> Option<&T> {
        self.checkpoints.get(&index)
    }

    /// Batch `index` is final: its data and pre-state are no longer needed.
    pub fn finalize(&mut self, index: u64) {
        self.posted.remove(&index);
        if self.checkpoints.range(index + 1..).next().is_some() {
            self.checkpoints.remove(&index);
        }
    }
}

/// A block waiting for its batch, as persisted.
#[derive(serde::Serialize, serde::Deserialize)]
struct PendingRecord {
    #[serde(with = "crate::persist::rlp")]
    block: Block,
    roots: Vec<B256>,
}

/// The book as persisted: its replicas by the block they stand on.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct BookRecord {
    pending: Vec<PendingRecord>,
    next_index: u64,
    pre_root: B256,
    checkpoints: BTreeMap<u64, crate::persist::ReplicaRef>,
    #[serde(with = "crate::persist::rlp::map")]
    posted: BTreeMap<u64, Batch>,
}

impl BookRecord {
    /// The lowest block a checkpoint replica stands on.
    pub(crate) fn oldest_replica(&self) -> Option<u64> {
        self.checkpoints.values().map(|at| at.height).min()
    }
}

impl<T: StateTransition + Clone> BatchBook<T> {
    pub(crate) fn record(&self) -> BookRecord {
        BookRecord {
            pending: self
                .pending
                .iter()
                .map(|(block, roots)| PendingRecord {
                    block: block.clone(),
                    roots: roots.clone(),
                })
                .collect(),
            next_index: self.next_index,
            pre_root: self.pre_root,
            checkpoints: self
                .checkpoints
                .iter()
                .map(|(index, replica)| (*index, crate::persist::ReplicaRef::of(replica)))
                .collect(),
            posted: self.posted.clone(),
        }
    }

    /// Puts `record` back, opening each checkpoint's replica again; changes nothing on error.
    pub(crate) fn restore(
        &mut self,
        record: BookRecord,
        replicas: &crate::persist::Replicas,
    ) -> Result<(), crate::persist::PersistError>
    where
        T: crate::persist::Reopen,
    {
        let checkpoints = record
            .checkpoints
            .into_iter()
            .map(|(index, at)| Ok((index, T::reopen(replicas, at)?)))
            .collect::<Result<_, crate::persist::PersistError>>()?;
        self.pending = record
            .pending
            .into_iter()
            .map(|p| (p.block, p.roots))
            .collect();
        self.next_index = record.next_index;
        self.pre_root = record.pre_root;
        self.checkpoints = checkpoints;
        self.posted = record.posted;
        Ok(())
    }
}
