//! The two sides of VITAL outside settlement, as sans-IO state machines: a verifying operator
//! ([`VitalOperator`], core's [`ReExecutionVerifier`] with a conduct for fault drills) and the
//! proposer of batches ([`BatchProposer`], building its own blocks over core's
//! [`BatchBook`]).

#[cfg(feature = "test-utils")]
use super::bisection::{Move, Party, Status};
use super::{bisection::Dispute, court::DisputeId};
use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, U256, keccak256};
use altlayer_core::{
    Batch, EvmStateTransition,
    execution::{BlockAttributes, ExecuteOptions, ExecutionError},
    rollup::{BatchBook, Defense},
    transaction::{RecoveryBackend, recover},
    verifier::{ReExecutionVerifier, Verifier},
};
use std::collections::{BTreeMap, VecDeque};

pub use altlayer_core::verifier::{BatchCheck, VerifierAction as Action};

/// How a verifying operator behaves (anything but `Honest` is for tests and fault drills).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Conduct {
    /// Challenges exactly the wrong batches, plays truthfully, proves.
    #[default]
    Honest,
    /// Challenges like an honest operator, then never moves again.
    #[cfg(feature = "test-utils")]
    Silent,
    /// Challenges every batch and answers at random (from the seed): a griefer.
    #[cfg(feature = "test-utils")]
    Griefer(u64),
    /// Honest, but first submits each proof with one trie node missing.
    #[cfg(feature = "test-utils")]
    SloppyProver,
}

/// A VITAL operator: core's re-execution verifier (re-executes every batch it reads from DA,
/// challenges a wrong one with an ALT bond, answers the proposer's roots with its own, proves
/// the last step) with a [`Conduct`].
#[derive(Debug)]
pub struct VitalOperator {
    inner: ReExecutionVerifier,
    conduct: Conduct,
    /// Proofs sent, by game (a sloppy prover's first is broken).
    proofs: BTreeMap<DisputeId, u32>,
}

impl VitalOperator {
    /// An operator at `address` whose replica is at the pre-state of batch `next_batch`.
    pub fn new(
        address: Address,
        bond: U256,
        conduct: Conduct,
        replica: EvmStateTransition,
        next_batch: u64,
    ) -> Self {
        Self {
            inner: ReExecutionVerifier::new(address, bond, replica, next_batch),
            conduct,
            proofs: BTreeMap::new(),
        }
    }

    /// The honest verifier inside.
    pub const fn verifier(&self) -> &ReExecutionVerifier {
        &self.inner
    }

    /// How it behaves.
    pub const fn conduct(&self) -> Conduct {
        self.conduct
    }

    /// A sloppy prover's first proof for a game lacks a trie node.
    #[cfg_attr(not(feature = "test-utils"), allow(clippy::unused_self))]
    fn sloppy(&mut self, actions: Vec<Action>) -> Vec<Action> {
        #[cfg(feature = "test-utils")]
        if self.conduct == Conduct::SloppyProver {
            return actions
                .into_iter()
                .map(|action| match action {
                    Action::Prove {
                        dispute,
                        mut witness,
                    } => {
                        let attempts = self.proofs.entry(dispute).or_default();
                        *attempts += 1;
                        if *attempts == 1 && witness.state.len() > 1 {
                            witness.state.pop();
                        }
                        Action::Prove { dispute, witness }
                    }
                    other => other,
                })
                .collect();
        }
        actions
    }
}

/// [`VitalOperator`]'s record: the verifier's, and the proofs sent.
#[derive(serde::Serialize, serde::Deserialize)]
struct OperatorRecord {
    verifier: alloy_primitives::Bytes,
    proofs: BTreeMap<DisputeId, u32>,
}

impl Verifier for VitalOperator {
    fn address(&self) -> Address {
        self.inner.address()
    }

    fn persist(&self) -> Result<Vec<u8>, altlayer_core::persist::PersistError> {
        altlayer_core::persist::encode(
            "verifier",
            &OperatorRecord {
                verifier: self.inner.persist()?.into(),
                proofs: self.proofs.clone(),
            },
        )
    }

    fn restore(
        &mut self,
        record: &[u8],
        replicas: &altlayer_core::persist::Replicas,
    ) -> Result<(), altlayer_core::persist::PersistError> {
        let record: OperatorRecord = altlayer_core::persist::decode("verifier", record)?;
        self.inner.restore(&record.verifier, replicas)?;
        self.proofs = record.proofs;
        Ok(())
    }

    fn on_batch(&mut self, batch: &Batch) -> (BatchCheck, Vec<Action>) {
        let (check, actions) = self.inner.on_batch(batch);
        #[cfg(feature = "test-utils")]
        if matches!(self.conduct, Conduct::Griefer(_)) {
            return (check, self.inner.challenge(batch.index));
        }
        (check, actions)
    }

    fn on_dispute(&mut self, dispute: DisputeId, state: &Dispute) -> Vec<Action> {
        match self.conduct {
            Conduct::Honest => self.inner.on_dispute(dispute, state),
            #[cfg(feature = "test-utils")]
            Conduct::Silent => Vec::new(),
            #[cfg(feature = "test-utils")]
            Conduct::Griefer(seed) => match (state.status(), state.pending()) {
                (
                    Status::Bisecting {
                        turn: Party::Challenger,
                        ..
                    },
                    Some((index, _)),
                ) if self.inner.plays(dispute) => {
                    let agree =
                        keccak256([seed.to_be_bytes(), index.to_be_bytes()].concat())[0] & 1 == 0;
                    vec![Action::Play {
                        dispute,
                        mv: Move::Verdict { agree },
                    }]
                }
                _ => self.inner.on_dispute(dispute, state),
            },
            #[cfg(feature = "test-utils")]
            Conduct::SloppyProver => {
                let actions = self.inner.on_dispute(dispute, state);
                self.sloppy(actions)
            }
        }
    }

    fn on_alert(&mut self, batch: u64) -> Vec<Action> {
        self.inner.on_alert(batch)
    }

    fn on_opened(&mut self, dispute: DisputeId, batch: u64, challenger: Address) {
        self.inner.on_opened(dispute, batch, challenger);
    }

    fn on_refused(&mut self, dispute: DisputeId, state: &Dispute) -> Vec<Action> {
        #[cfg(feature = "test-utils")]
        if self.conduct == Conduct::Silent {
            return Vec::new();
        }
        let actions = self.inner.on_refused(dispute, state);
        self.sloppy(actions)
    }

    fn on_decided(&mut self, dispute: DisputeId) {
        self.proofs.remove(&dispute);
        self.inner.on_decided(dispute);
    }

    fn on_revert(&mut self, from: u64) {
        self.inner.on_revert(from);
    }

    fn on_final(&mut self, index: u64) {
        self.inner.on_final(index);
    }
}

/// A lie the proposer tells, for tests and fault drills: from step `step` of batch `batch`
/// on, every posted root is wrong (the state itself stays right). It is told every time that
/// batch index is posted until a challenge reverts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lie {
    /// Batch index.
    pub batch: u64,
    /// First step (0-based; transaction `step + 1`) whose posted root is wrong.
    pub step: usize,
}

/// Why a proposer could not build a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProposeError {
    /// Building a block failed outside any transaction's fault.
    #[error("block building failed: {0}")]
    Execution(Box<ExecutionError>),
    /// A batch of no blocks was asked for.
    #[error("a batch needs at least one block")]
    Empty,
}

/// The proposer's side in the simulator: builds blocks from its queue, cuts and posts
/// batches, defends them, and after a revert goes back to the last valid block and queues the
/// reverted transactions again ahead of new ones. Batching, defense and rewind are core's
/// [`BatchBook`], the same the rollup driver runs.
#[derive(Debug)]
pub struct BatchProposer {
    address: Address,
    /// The sequencer's state (head of the chain as it built it).
    state: EvmStateTransition,
    book: BatchBook<EvmStateTransition>,
    /// Transactions waiting to be sequenced.
    queue: VecDeque<Recovered<TxEnvelope>>,
    lies: Vec<Lie>,
    silent: bool,
    /// Transactions re-executed after reverts.
    reexecuted: u64,
}

impl BatchProposer {
    /// A proposer at `address` extending `state`'s head, its first batch at index 0.
    pub fn new(address: Address, state: EvmStateTransition) -> Self {
        Self {
            address,
            book: BatchBook::new(state.clone(), 1),
            state,
            queue: VecDeque::new(),
            lies: Vec::new(),
            silent: false,
            reexecuted: 0,
        }
    }

    /// Posts wrong roots as `lie` says.
    #[cfg(feature = "test-utils")]
    pub fn lie(&mut self, lie: Lie) {
        self.lies.push(lie);
    }

    /// Stops answering challenges.
    #[cfg(feature = "test-utils")]
    pub const fn go_silent(&mut self) {
        self.silent = true;
    }

    /// The proposer's address.
    pub const fn address(&self) -> Address {
        self.address
    }

    /// Its state transition (the head it built).
    pub const fn state(&self) -> &EvmStateTransition {
        &self.state
    }

    /// Transactions re-executed after reverts so far.
    pub const fn reexecuted(&self) -> u64 {
        self.reexecuted
    }

    /// Transactions waiting.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Adds transactions to sequence.
    pub fn submit(&mut self, txs: impl IntoIterator<Item = Recovered<TxEnvelope>>) {
        self.queue.extend(txs);
    }

    /// Builds the next batch: `blocks` blocks of up to `per_block` queued transactions each,
    /// at `timestamp`, with the state root after every transaction. Invalid transactions are
    /// left out (and dropped).
    pub fn build_batch(
        &mut self,
        blocks: usize,
        per_block: usize,
        timestamp: u64,
    ) -> Result<Batch, ProposeError> {
        if blocks == 0 {
            return Err(ProposeError::Empty);
        }
        for _ in 0..blocks {
            let take = per_block.min(self.queue.len());
            let candidates: Vec<_> = self.queue.drain(..take).collect();
            let attributes = BlockAttributes {
                timestamp: timestamp.max(self.state.head().timestamp),
                sequencer: self.address,
                ..Default::default()
            };
            let built = self
                .state
                .build_block(
                    attributes,
                    candidates,
                    ExecuteOptions::with_intermediate_roots(),
                )
                .map_err(|e| ProposeError::Execution(Box::new(e)))?;
            self.book
                .push(built.block, built.outcome.intermediate_roots);
        }
        let lie = self
            .lies
            .iter()
            .find(|lie| lie.batch == self.book.next_index())
            .copied();
        let batch = self.book.flush_with(&self.state, |batch| {
            if let Some(lie) = lie {
                tell(batch, lie.step);
            }
        });
        batch.ok_or(ProposeError::Empty)
    }

    /// A game over one of its batches changed; returns its move when it is its turn.
    pub fn on_dispute(&mut self, id: DisputeId, dispute: &Dispute) -> Vec<Action> {
        if self.silent || dispute.proposer != self.address {
            return Vec::new();
        }
        match self.book.defend(dispute) {
            Some(Defense::Play(mv)) => vec![Action::Play { dispute: id, mv }],
            Some(Defense::Prove(witness)) => vec![Action::Prove {
                dispute: id,
                witness,
            }],
            None => Vec::new(),
        }
    }

    /// Settlement reverted batch `from` and every later one, blaming the block at
    /// `blamed_height`: back to the last valid block, and the reverted blocks' transactions
    /// queued again ahead of new ones, to be re-executed (those no longer valid are left out
    /// when the blocks are built). A lie about a reverted batch has been caught and is not
    /// told again.
    pub fn on_revert(&mut self, from: u64, blamed_height: u64) {
        let Some(rewind) = self.book.revert(from, blamed_height) else {
            return;
        };
        let mut again: Vec<Recovered<TxEnvelope>> = Vec::new();
        for block in &rewind.reverted {
            for tx in &block.transactions {
                if let Ok(tx) = recover(tx.clone(), RecoveryBackend::Libsecp256k1) {
                    again.push(tx);
                }
            }
        }
        self.reexecuted += again.len() as u64;
        for tx in again.into_iter().rev() {
            self.queue.push_front(tx);
        }
        self.lies.retain(|lie| lie.batch != from);
        self.state = rewind.to;
    }

    /// Batch `index` is final.
    pub fn on_final(&mut self, index: u64) {
        self.book.finalize(index);
    }
}

/// Replaces every posted root from `step` on with a wrong one.
fn tell(batch: &mut Batch, step: usize) {
    let wrong = |root: B256| keccak256([root.as_slice(), b"lie"].concat());
    let steps = altlayer_core::execution::stateless::step_count(batch);
    for root in batch.intermediate_roots.iter_mut().skip(step) {
        *root = wrong(*root);
    }
    if step < steps {
        batch.post_state_root = wrong(batch.post_state_root);
    }
}
