//! The two sides of VITAL outside settlement, as sans-IO state machines: a verifying operator
//! ([`VitalOperator`]) and the proposer of batches ([`BatchProposer`]).
//!
//! Both keep a replica of the rollup at the pre-state of every batch not yet final, so that
//! they can re-execute, prove any step, and rewind when settlement reverts.

use super::{
    bisection::{Dispute, Move, Party, Status},
    court::DisputeId,
};
use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, U256, keccak256};
use altlayer_core::{
    Batch, EvmStateTransition,
    execution::{
        BlockAttributes, ExecuteOptions, ExecutionError,
        stateless::{Replay, StepError, StepWitness, claimed_step_roots},
    },
    transaction::{RecoveryBackend, recover},
};
use std::collections::{BTreeMap, VecDeque};

/// What an operator asks of settlement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Challenge a batch, locking `bond`.
    Challenge {
        /// Batch.
        batch: u64,
        /// Bond.
        bond: U256,
    },
    /// Make a move in a game.
    Play {
        /// The game.
        dispute: DisputeId,
        /// The move.
        mv: Move,
    },
    /// Submit a one-step proof.
    Prove {
        /// The game.
        dispute: DisputeId,
        /// The witness.
        witness: Box<StepWitness>,
    },
}

/// How a verifying operator behaves (anything but `Honest` is for tests and fault drills).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Conduct {
    /// Challenges exactly the wrong batches, plays truthfully, proves.
    #[default]
    Honest,
    /// Challenges like an honest operator, then never moves again.
    Silent,
    /// Challenges every batch and answers at random (from the seed): a griefer.
    Griefer(u64),
    /// Honest, but first submits each proof with one trie node missing.
    SloppyProver,
}

/// What an operator found in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchCheck {
    /// Every step root the proposer posted is right; the replica moved past the batch.
    Valid,
    /// A step root is wrong, or a step cannot execute: challenge.
    Wrong {
        /// The first step whose posted root is wrong (or that cannot execute).
        step: usize,
        /// Why it cannot execute, when it cannot.
        invalid: Option<ExecutionError>,
    },
    /// The batch does not start from a state this operator holds (it builds on a batch that
    /// was wrong): it falls with that batch.
    Unknown,
    /// The roots are right but a block fails another check (a header field): VITAL cannot
    /// dispute that, the operator stops following.
    Stuck(String),
}

/// A VITAL operator: re-executes every batch it reads from DA, challenges a wrong one with an
/// ALT bond, answers the proposer's roots with its own, and proves the last step.
#[derive(Debug)]
pub struct VitalOperator {
    address: Address,
    bond: U256,
    conduct: Conduct,
    /// State at the pre-state of each batch not yet final, by batch index; the highest is
    /// the next batch's.
    replicas: BTreeMap<u64, EvmStateTransition>,
    /// Batches checked and not final: the data and the true step roots (as far as valid).
    checked: BTreeMap<u64, (Batch, Vec<B256>)>,
    /// My games and their batches.
    games: BTreeMap<DisputeId, u64>,
    /// Proofs already submitted, by game (to submit once, or twice when sloppy).
    proofs: BTreeMap<DisputeId, u32>,
    /// Batches this operator has challenged (or asked to).
    challenged: std::collections::BTreeSet<u64>,
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
            address,
            bond,
            conduct,
            replicas: BTreeMap::from([(next_batch, replica)]),
            checked: BTreeMap::new(),
            games: BTreeMap::new(),
            proofs: BTreeMap::new(),
            challenged: std::collections::BTreeSet::new(),
        }
    }

    /// The operator's address.
    pub const fn address(&self) -> Address {
        self.address
    }

    /// Re-executes a batch read from DA; a wrong one is challenged.
    pub fn on_batch(&mut self, batch: &Batch) -> (BatchCheck, Vec<Action>) {
        let check = self.check(batch);
        let challenge = matches!(self.conduct, Conduct::Griefer(_))
            || matches!(check, BatchCheck::Wrong { .. });
        let actions = if challenge && self.challenged.insert(batch.index) {
            vec![Action::Challenge {
                batch: batch.index,
                bond: self.bond,
            }]
        } else {
            Vec::new()
        };
        (check, actions)
    }

    fn check(&mut self, batch: &Batch) -> BatchCheck {
        let Some(replica) = self.replicas.get(&batch.index) else {
            return BatchCheck::Unknown;
        };
        if replica.state_root() != batch.pre_state_root {
            return BatchCheck::Unknown;
        }
        let claimed = claimed_step_roots(batch);
        // Fast path, one execution: a right batch re-executes block by block with every
        // header field matching, and its step roots are the execution's roots after each
        // transaction, the last one being the state after the batch.
        let mut next = replica.clone();
        let mut roots = Vec::with_capacity(claimed.len());
        let mut executed = true;
        for block in &batch.blocks {
            match next.execute_block_recovering(block, ExecuteOptions::with_intermediate_roots()) {
                Ok(outcome) => roots.extend(outcome.intermediate_roots),
                Err(_) => {
                    executed = false;
                    break;
                }
            }
        }
        if executed {
            roots.truncate(claimed.len() - 1);
            roots.push(next.state_root());
            if roots == claimed {
                self.checked.insert(batch.index, (batch.clone(), roots));
                self.replicas.insert(batch.index + 1, next);
                return BatchCheck::Valid;
            }
        }
        // Something is wrong: replay step by step to find the first wrong step.
        let mut replay = match Replay::new(replica, batch.clone()) {
            Ok(replay) => replay,
            Err(_) => return BatchCheck::Unknown,
        };
        let roots = match replay.run() {
            Ok(roots) => roots.to_vec(),
            Err(error) => return BatchCheck::Stuck(error.to_string()),
        };
        let first_wrong = claimed
            .iter()
            .zip(&roots)
            .position(|(claimed, mine)| claimed != mine);
        let invalid = replay.invalid().cloned();
        self.checked
            .insert(batch.index, (batch.clone(), roots.clone()));
        match (first_wrong, invalid) {
            (Some(step), _) => BatchCheck::Wrong {
                step,
                invalid: None,
            },
            (None, Some((step, error))) => BatchCheck::Wrong {
                step,
                invalid: Some(error),
            },
            // Every step root is right, yet the blocks did not re-execute: another header
            // field is wrong, which no step can dispute.
            (None, None) => BatchCheck::Stuck(format!(
                "batch {}: the roots are right but a block header is not",
                batch.index
            )),
        }
    }

    /// A confirmed MACH alert points at `batch` ([`super::finality::TieredFinality::take_challenges`]):
    /// challenge it, unless this operator already does or its own re-execution found the
    /// batch right (a quorum's word does not override re-execution; the bond would be lost).
    pub fn on_alert(&mut self, batch: u64) -> Vec<Action> {
        // The replica only moves past batches it found right.
        let verified = self.replicas.range(batch + 1..).next().is_some();
        if verified || !self.challenged.insert(batch) {
            return Vec::new();
        }
        vec![Action::Challenge {
            batch,
            bond: self.bond,
        }]
    }

    /// Settlement opened a game; the operator takes note of its own.
    pub fn on_opened(&mut self, dispute: DisputeId, batch: u64, challenger: Address) {
        if challenger == self.address {
            self.games.insert(dispute, batch);
        }
    }

    /// A game of this operator's changed; returns its next move, if it is its turn.
    pub fn on_dispute(&mut self, id: DisputeId, dispute: &Dispute) -> Vec<Action> {
        let Some(&batch) = self.games.get(&id) else {
            return Vec::new();
        };
        if self.conduct == Conduct::Silent {
            return Vec::new();
        }
        match dispute.status() {
            Status::Bisecting {
                turn: Party::Challenger,
                ..
            } => {
                let Some((index, root)) = dispute.pending() else {
                    return Vec::new();
                };
                let agree = match self.conduct {
                    Conduct::Griefer(seed) => {
                        keccak256([seed.to_be_bytes(), index.to_be_bytes()].concat())[0] & 1 == 0
                    }
                    _ => self
                        .checked
                        .get(&batch)
                        .and_then(|(_, roots)| roots.get(index as usize - 1))
                        .is_some_and(|mine| *mine == root),
                };
                vec![Action::Play {
                    dispute: id,
                    mv: Move::Verdict { agree },
                }]
            }
            Status::OneStep { index, .. } => {
                let attempts = self.proofs.entry(id).or_default();
                let wanted = if self.conduct == Conduct::SloppyProver {
                    2
                } else {
                    1
                };
                if *attempts >= wanted {
                    return Vec::new();
                }
                *attempts += 1;
                let sloppy = self.conduct == Conduct::SloppyProver && *attempts == 1;
                match self.prove(batch, index as usize) {
                    Ok(mut witness) => {
                        if sloppy && witness.state.len() > 1 {
                            witness.state.pop();
                        }
                        vec![Action::Prove {
                            dispute: id,
                            witness: Box::new(witness),
                        }]
                    }
                    Err(_) => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// A refused proof: a sloppy prover tries again with the full witness.
    pub fn on_proof_refused(&mut self, id: DisputeId, dispute: &Dispute) -> Vec<Action> {
        self.on_dispute(id, dispute)
    }

    fn prove(&self, batch: u64, step: usize) -> Result<StepWitness, StepError> {
        let (data, _) = self
            .checked
            .get(&batch)
            .ok_or_else(|| StepError::Prover(format!("batch {batch} not checked")))?;
        let replica = self
            .replicas
            .get(&batch)
            .ok_or_else(|| StepError::Prover(format!("no replica before batch {batch}")))?;
        Replay::new(replica, data.clone())?.prove(step)
    }

    /// A game ended.
    pub fn on_decided(&mut self, id: DisputeId) {
        self.games.remove(&id);
        self.proofs.remove(&id);
    }

    /// Settlement reverted batch `from` and every later one: the replica goes back to the
    /// state before `from`, and games on them are over.
    pub fn on_revert(&mut self, from: u64) {
        self.replicas.split_off(&(from + 1));
        self.checked.split_off(&from);
        self.games.retain(|_, batch| *batch < from);
        self.challenged.split_off(&from);
    }

    /// Batch `index` is final: its pre-state is no longer needed.
    pub fn on_final(&mut self, index: u64) {
        // Keep the newest replica whatever happens: it is the next batch's pre-state.
        if self.replicas.range(index + 1..).next().is_some() {
            self.replicas.remove(&index);
        }
        self.checked.remove(&index);
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

/// The proposer's side: builds and posts batches, defends them, and after a revert rewinds
/// and re-executes the transactions that are still valid.
#[derive(Debug)]
pub struct BatchProposer {
    address: Address,
    /// The sequencer's state (head of the chain as it built it).
    state: EvmStateTransition,
    /// State before each batch not yet final.
    replicas: BTreeMap<u64, EvmStateTransition>,
    /// Batches posted and not final.
    posted: BTreeMap<u64, Batch>,
    /// Transactions waiting to be sequenced.
    queue: VecDeque<Recovered<TxEnvelope>>,
    next_index: u64,
    /// The pre-state root the next batch must start from (the last posted claim).
    claimed_root: B256,
    lies: Vec<Lie>,
    silent: bool,
    /// Transactions re-executed after reverts.
    reexecuted: u64,
}

impl BatchProposer {
    /// A proposer at `address` extending `state`'s head, whose next batch has index
    /// `next_index`.
    pub fn new(address: Address, state: EvmStateTransition, next_index: u64) -> Self {
        let claimed_root = state.state_root();
        Self {
            address,
            replicas: BTreeMap::from([(next_index, state.clone())]),
            state,
            posted: BTreeMap::new(),
            queue: VecDeque::new(),
            next_index,
            claimed_root,
            lies: Vec::new(),
            silent: false,
            reexecuted: 0,
        }
    }

    /// Posts wrong roots as `lie` says.
    pub fn lie(&mut self, lie: Lie) {
        self.lies.push(lie);
    }

    /// Stops answering challenges.
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
    ) -> Result<Batch, Box<ExecutionError>> {
        let pre = self.state.clone();
        let mut built = Vec::with_capacity(blocks);
        let mut roots = Vec::new();
        for _ in 0..blocks {
            let take = per_block.min(self.queue.len());
            let candidates: Vec<_> = self.queue.drain(..take).collect();
            let attributes = BlockAttributes {
                timestamp: timestamp.max(self.state.head().timestamp),
                sequencer: self.address,
                ..Default::default()
            };
            let block = self
                .state
                .build_block(
                    attributes,
                    candidates,
                    ExecuteOptions::with_intermediate_roots(),
                )
                .map_err(Box::new)?;
            roots.extend(block.outcome.intermediate_roots);
            built.push(block.block);
        }
        let mut batch = Batch {
            rollup_id: self.state.config().rollup_id,
            index: self.next_index,
            pre_state_root: self.claimed_root,
            post_state_root: self.state.state_root(),
            blocks: built,
            intermediate_roots: roots,
        };
        if let Some(lie) = self.lies.iter().find(|lie| lie.batch == batch.index) {
            tell(&mut batch, lie.step);
        }
        self.claimed_root = batch.post_state_root;
        self.replicas.insert(batch.index, pre);
        self.posted.insert(batch.index, batch.clone());
        self.next_index += 1;
        Ok(batch)
    }

    /// A game over one of its batches changed; returns its move when it is its turn.
    pub fn on_dispute(&mut self, id: DisputeId, dispute: &Dispute) -> Vec<Action> {
        if self.silent || dispute.proposer != self.address {
            return Vec::new();
        }
        let Some(batch) = self.posted.get(&dispute.batch) else {
            return Vec::new();
        };
        match dispute.status() {
            Status::Bisecting {
                turn: Party::Proposer,
                ..
            } => proposer_move(batch, dispute)
                .map(|mv| Action::Play { dispute: id, mv })
                .into_iter()
                .collect(),
            Status::OneStep {
                index,
                claimed_root,
                ..
            } => {
                // Defend only a true claim: a proof of a lie would decide against itself.
                let Some(replica) = self.replicas.get(&dispute.batch) else {
                    return Vec::new();
                };
                let Ok(mut replay) = Replay::new(replica, batch.clone()) else {
                    return Vec::new();
                };
                let truthful = replay
                    .run_to(index as usize + 1)
                    .is_ok_and(|roots| roots.get(index as usize) == Some(&claimed_root));
                if !truthful {
                    return Vec::new();
                }
                match Replay::new(replica, batch.clone()).and_then(|mut r| r.prove(index as usize))
                {
                    Ok(witness) => vec![Action::Prove {
                        dispute: id,
                        witness: Box::new(witness),
                    }],
                    Err(_) => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// Settlement reverted batch `from` and every later one: rewind to the state before
    /// `from` and queue the reverted batches' transactions again, ahead of new ones, to be
    /// re-executed (those no longer valid are left out when the blocks are built). A lie
    /// about a reverted batch has been caught and is not told again.
    pub fn on_revert(&mut self, from: u64) {
        let Some(replica) = self.replicas.get(&from).cloned() else {
            return;
        };
        let reverted = self.posted.split_off(&from);
        self.replicas.split_off(&(from + 1));
        let mut again: Vec<Recovered<TxEnvelope>> = Vec::new();
        for batch in reverted.values() {
            for block in &batch.blocks {
                for tx in &block.transactions {
                    if let Ok(tx) = recover(tx.clone(), RecoveryBackend::Libsecp256k1) {
                        again.push(tx);
                    }
                }
            }
        }
        self.reexecuted += again.len() as u64;
        for tx in again.into_iter().rev() {
            self.queue.push_front(tx);
        }
        self.lies.retain(|lie| lie.batch != from);
        self.claimed_root = replica.state_root();
        self.state = replica;
        self.next_index = from;
    }

    /// Batch `index` is final.
    pub fn on_final(&mut self, index: u64) {
        self.posted.remove(&index);
        if self.replicas.range(index + 1..).next().is_some() {
            self.replicas.remove(&index);
        }
    }
}

/// The proposer's move in a game over `batch` when it is its turn to bisect: the root it
/// posted at the midpoint (anything else would contradict the batch and lose at once).
pub fn proposer_move(batch: &Batch, dispute: &Dispute) -> Option<Move> {
    let Status::Bisecting {
        turn: Party::Proposer,
        ..
    } = dispute.status()
    else {
        return None;
    };
    let index = dispute.midpoint();
    let root = *claimed_step_roots(batch).get(usize::try_from(index).ok()?.checked_sub(1)?)?;
    Some(Move::Root { index, root })
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
