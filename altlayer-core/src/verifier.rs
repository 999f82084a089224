//! The [`Verifier`] composition point: re-executing batches read from DA, challenging a wrong
//! one, and playing the dispute game to its one-step proof.
//!
//! A verifier is a sans-IO state machine: batches and dispute states go in, what it asks of
//! settlement ([`VerifierAction`]) comes out. The default, [`ReExecutionVerifier`], keeps a
//! replica of the rollup at the pre-state of every batch not yet final, re-executes each batch
//! once (the step-by-step replay runs only when something is wrong), challenges a wrong batch
//! with a bond, answers every midpoint with its own root and proves the last step over a
//! Merkle witness. VITAL (altlayer-avs) runs a restaked set of them.

use crate::{
    Batch, EvmStateTransition,
    execution::{
        ExecuteOptions, ExecutionError,
        stateless::{Replay, StepError, StepWitness, claimed_step_roots},
    },
    settlement::{
        bisection::{Dispute, Move, Party, Status},
        court::DisputeId,
    },
};
use alloy_primitives::{Address, B256, U256};
use std::collections::{BTreeMap, BTreeSet};

/// What a verifier asks of settlement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifierAction {
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

/// What a verifier found in a batch.
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
    /// The batch does not start from a state this verifier holds (it builds on a batch that
    /// was wrong, or on one it has not seen): it falls with that batch.
    Unknown,
    /// The roots are right but a block fails another check (a header field): a dispute game
    /// over state roots cannot decide that, and the verifier stops following.
    Stuck(String),
}

/// Checks batches and plays dispute games against their proposers.
///
/// Every method but [`Verifier::address`], [`Verifier::on_batch`] and
/// [`Verifier::on_dispute`] has a default that does nothing, so a verifier that only watches
/// implements three methods.
///
/// # Example
///
/// ```
/// use altlayer_core::{
///     Batch, RollupConfig, StateTransition,
///     execution::{BlockAttributes, ExecuteOptions},
///     genesis::{parse_genesis, state_transition_from_genesis},
///     verifier::{BatchCheck, ReExecutionVerifier, Verifier, VerifierAction},
/// };
/// use alloy_primitives::{Address, B256, U256};
///
/// let genesis = parse_genesis(r#"{"config":{"chainId":1337},"alloc":{}}"#)?;
/// let mut sequencer = state_transition_from_genesis(RollupConfig::default(), &genesis);
/// let mut verifier = ReExecutionVerifier::new(Address::repeat_byte(0x7a), U256::from(10), sequencer.clone(), 0);
///
/// let built = sequencer.build_block(BlockAttributes::default(), vec![], ExecuteOptions::default())?;
/// let mut batch = Batch {
///     rollup_id: sequencer.config().rollup_id,
///     index: 0,
///     pre_state_root: verifier.replica().state_root(),
///     post_state_root: sequencer.state_root(),
///     blocks: vec![built.block],
///     intermediate_roots: vec![],
/// };
/// batch.post_state_root = B256::repeat_byte(0xba); // a lying proposer
/// let (check, actions) = verifier.on_batch(&batch);
/// assert_eq!(check, BatchCheck::Wrong { step: 0, invalid: None });
/// assert_eq!(actions, vec![VerifierAction::Challenge { batch: 0, bond: U256::from(10) }]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Verifier {
    /// The account that challenges, moves and locks bonds.
    fn address(&self) -> Address;

    /// Checks a batch read from DA; a wrong one is challenged.
    fn on_batch(&mut self, batch: &Batch) -> (BatchCheck, Vec<VerifierAction>);

    /// A game of this verifier's moved (or opened); returns its next move, if it is its turn.
    fn on_dispute(&mut self, dispute: DisputeId, state: &Dispute) -> Vec<VerifierAction>;

    /// A confirmed fast-finality alert points at `batch`: challenge it, if warranted.
    fn on_alert(&mut self, _batch: u64) -> Vec<VerifierAction> {
        Vec::new()
    }

    /// Settlement opened a game (anyone's).
    fn on_opened(&mut self, _dispute: DisputeId, _batch: u64, _challenger: Address) {}

    /// Settlement refused this verifier's proof for a game: it may try again.
    fn on_refused(&mut self, _dispute: DisputeId, _state: &Dispute) -> Vec<VerifierAction> {
        Vec::new()
    }

    /// A game ended.
    fn on_decided(&mut self, _dispute: DisputeId) {}

    /// Settlement reverted batch `from` and every later one.
    fn on_revert(&mut self, _from: u64) {}

    /// Batch `index` is final.
    fn on_final(&mut self, _index: u64) {}

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

/// The default verifier: re-execution on its own replica, honest challenges, truthful moves
/// and one-step proofs.
#[derive(Debug, Clone)]
pub struct ReExecutionVerifier {
    address: Address,
    bond: U256,
    /// State at the pre-state of each batch not yet final, by batch index; the highest is the
    /// next batch's.
    replicas: BTreeMap<u64, EvmStateTransition>,
    /// Batches checked and not final: the data and the true step roots (as far as valid).
    checked: BTreeMap<u64, (Batch, Vec<B256>)>,
    /// My games and their batches.
    games: BTreeMap<DisputeId, u64>,
    /// Proofs submitted, by game.
    proofs: BTreeMap<DisputeId, u32>,
    /// Batches this verifier has challenged (or asked to).
    challenged: BTreeSet<u64>,
}

impl ReExecutionVerifier {
    /// A verifier at `address`, challenging with `bond`, whose replica is at the pre-state of
    /// batch `next_batch`.
    pub fn new(address: Address, bond: U256, replica: EvmStateTransition, next_batch: u64) -> Self {
        Self {
            address,
            bond,
            replicas: BTreeMap::from([(next_batch, replica)]),
            checked: BTreeMap::new(),
            games: BTreeMap::new(),
            proofs: BTreeMap::new(),
            challenged: BTreeSet::new(),
        }
    }

    /// The bond it challenges with.
    pub const fn bond(&self) -> U256 {
        self.bond
    }

    /// The replica at the newest pre-state it holds (after the last batch it found right).
    pub fn replica(&self) -> &EvmStateTransition {
        self.replicas
            .values()
            .next_back()
            .expect("a verifier always keeps the next batch's pre-state")
    }

    /// Whether this verifier plays the game `dispute`.
    pub fn plays(&self, dispute: DisputeId) -> bool {
        self.games.contains_key(&dispute)
    }

    /// Re-executes `batch` from the replica at its pre-state.
    pub fn check(&mut self, batch: &Batch) -> BatchCheck {
        let Some(replica) = self.replicas.get(&batch.index) else {
            return BatchCheck::Unknown;
        };
        if replica.state_root() != batch.pre_state_root {
            return BatchCheck::Unknown;
        }
        if batch.intermediate_roots.len() != batch.transaction_count() {
            // The steps a game disputes are still well defined, but the batch is not what a
            // proposer posts: report it rather than follow it.
            return BatchCheck::Stuck(format!(
                "batch {}: {} intermediate roots for {} transactions",
                batch.index,
                batch.intermediate_roots.len(),
                batch.transaction_count()
            ));
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

    /// Asks to challenge `batch` unless it already did.
    pub fn challenge(&mut self, batch: u64) -> Vec<VerifierAction> {
        if !self.challenged.insert(batch) {
            return Vec::new();
        }
        vec![VerifierAction::Challenge {
            batch,
            bond: self.bond,
        }]
    }

    /// The root this verifier computed after `steps` steps of `batch` (1-based count).
    pub fn root_after(&self, batch: u64, steps: u64) -> Option<B256> {
        let (_, roots) = self.checked.get(&batch)?;
        roots
            .get(usize::try_from(steps).ok()?.checked_sub(1)?)
            .copied()
    }

    /// A one-step proof of `step` of `batch`, from the replica at its pre-state.
    pub fn prove(&self, batch: u64, step: usize) -> Result<StepWitness, StepError> {
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

    fn prove_once(
        &mut self,
        dispute: DisputeId,
        batch: u64,
        index: u64,
        tries: u32,
    ) -> Vec<VerifierAction> {
        let attempts = self.proofs.entry(dispute).or_default();
        if *attempts >= tries {
            return Vec::new();
        }
        *attempts += 1;
        match usize::try_from(index)
            .map_err(|_| StepError::Prover(format!("step {index} is out of range")))
            .and_then(|step| self.prove(batch, step))
        {
            Ok(witness) => vec![VerifierAction::Prove {
                dispute,
                witness: Box::new(witness),
            }],
            Err(error) => {
                tracing::warn!(dispute, %error, "cannot prove the disputed step");
                Vec::new()
            }
        }
    }
}

/// [`ReExecutionVerifier`]'s record.
#[derive(serde::Serialize, serde::Deserialize)]
struct VerifierRecord {
    replicas: BTreeMap<u64, crate::persist::ReplicaRef>,
    checked: Vec<(u64, alloy_primitives::Bytes, Vec<B256>)>,
    games: BTreeMap<DisputeId, u64>,
    proofs: BTreeMap<DisputeId, u32>,
    challenged: BTreeSet<u64>,
}

impl Verifier for ReExecutionVerifier {
    fn persist(&self) -> Result<Vec<u8>, crate::persist::PersistError> {
        crate::persist::encode(
            "verifier",
            &VerifierRecord {
                replicas: self
                    .replicas
                    .iter()
                    .map(|(index, r)| (*index, crate::persist::ReplicaRef::of(r)))
                    .collect(),
                checked: self
                    .checked
                    .iter()
                    .map(|(index, (batch, roots))| {
                        (*index, alloy_rlp::encode(batch).into(), roots.clone())
                    })
                    .collect(),
                games: self.games.clone(),
                proofs: self.proofs.clone(),
                challenged: self.challenged.clone(),
            },
        )
    }

    fn restore(
        &mut self,
        record: &[u8],
        replicas: &crate::persist::Replicas,
    ) -> Result<(), crate::persist::PersistError> {
        let record: VerifierRecord = crate::persist::decode("verifier", record)?;
        let opened = record
            .replicas
            .into_iter()
            .map(|(index, at)| Ok((index, replicas.reopen(at)?)))
            .collect::<Result<_, crate::persist::PersistError>>()?;
        let checked = record
            .checked
            .into_iter()
            .map(|(index, bytes, roots)| {
                let batch = alloy_rlp::decode_exact(&bytes).map_err(|e| {
                    crate::persist::PersistError::Decode {
                        what: "verifier",
                        reason: format!("batch {index}: {e}"),
                    }
                })?;
                Ok((index, (batch, roots)))
            })
            .collect::<Result<_, crate::persist::PersistError>>()?;
        self.replicas = opened;
        self.checked = checked;
        self.games = record.games;
        self.proofs = record.proofs;
        self.challenged = record.challenged;
        Ok(())
    }

    fn address(&self) -> Address {
        self.address
    }

    fn on_batch(&mut self, batch: &Batch) -> (BatchCheck, Vec<VerifierAction>) {
        let check = self.check(batch);
        let actions = if matches!(check, BatchCheck::Wrong { .. }) {
            self.challenge(batch.index)
        } else {
            Vec::new()
        };
        (check, actions)
    }

    fn on_dispute(&mut self, dispute: DisputeId, state: &Dispute) -> Vec<VerifierAction> {
        let Some(&batch) = self.games.get(&dispute) else {
            return Vec::new();
        };
        match state.status() {
            Status::Bisecting {
                turn: Party::Challenger,
                ..
            } => {
                let Some((index, root)) = state.pending() else {
                    return Vec::new();
                };
                let agree = self.root_after(batch, index) == Some(root);
                vec![VerifierAction::Play {
                    dispute,
                    mv: Move::Verdict { agree },
                }]
            }
            Status::OneStep { index, .. } => self.prove_once(dispute, batch, index, 1),
            _ => Vec::new(),
        }
    }

    /// A confirmed alert: challenge the batch, unless this verifier already does or its own
    /// re-execution found the batch right (a quorum's word does not override re-execution;
    /// the bond would be lost).
    fn on_alert(&mut self, batch: u64) -> Vec<VerifierAction> {
        // The replica only moves past batches it found right.
        if self.replicas.range(batch + 1..).next().is_some() {
            return Vec::new();
        }
        self.challenge(batch)
    }

    fn on_opened(&mut self, dispute: DisputeId, batch: u64, challenger: Address) {
        if challenger == self.address {
            self.games.insert(dispute, batch);
        }
    }

    /// A refused proof is tried once more, rebuilt from the replica.
    fn on_refused(&mut self, dispute: DisputeId, state: &Dispute) -> Vec<VerifierAction> {
        match (self.games.get(&dispute), state.status()) {
            (Some(&batch), Status::OneStep { index, .. }) => {
                self.prove_once(dispute, batch, index, 2)
            }
            _ => Vec::new(),
        }
    }

    fn on_decided(&mut self, dispute: DisputeId) {
        self.games.remove(&dispute);
        self.proofs.remove(&dispute);
    }

    /// The replica goes back to the state before `from`, and games on reverted batches are
    /// over.
    fn on_revert(&mut self, from: u64) {
        self.replicas.split_off(&(from + 1));
        self.checked.split_off(&from);
        self.games.retain(|_, batch| *batch < from);
        self.challenged.split_off(&from);
    }

    /// The batch's pre-state is no longer needed.
    fn on_final(&mut self, index: u64) {
        // Keep the newest replica whatever happens: it is the next batch's pre-state.
        if self.replicas.range(index + 1..).next().is_some() {
            self.replicas.remove(&index);
        }
        self.checked.remove(&index);
    }
}
