//! One-step proofs: executing one step of a batch from a Merkle witness instead of the state.
//!
//! VITAL's bisection game narrows a dispute over a batch to a single **step**: step `i` takes
//! the state from root `r_i` to `r_{i+1}`, where `r_0` is the batch's pre-state root, `r_i` the
//! batch's intermediate root after transaction `i - 1`, and the last step ends at the batch's
//! post-state root. Step `i` executes transaction `i` together with every block-level system
//! call since the transaction before it: the previous block's post-block phase, whole empty
//! blocks in between, and the pre-block calls of the transaction's own block. The batch's last
//! step also runs its block's post-block phase and any trailing empty blocks, so the steps
//! cover the batch exactly. A batch with no transaction has one step: all of its blocks.
//!
//! [`Replay`] executes a batch step by step over the full state (a verifier's view, giving the
//! true root after every step) and produces a [`StepWitness`] for any step: every trie node
//! on the paths of the accounts and storage slots the step reads or writes, the code it runs,
//! and the ancestor headers behind the block hashes it reads — the shape of reth's
//! `ExecutionWitness`. [`verify_step`] re-executes the step with revm over a database backed
//! only by the witness, checked against the agreed pre-state root, and recomputes the post-state
//! root from the witness's partial tries. A witness that does not match the root, or lacks
//! anything execution touches, is refused with a typed [`StepError`]; it never decides a
//! dispute.

use super::{
    Candidate, ExecutionError, MissingState, Mode, Part, RollupConfig, check_child,
    overlay::{Head, Overlay, RecentHashes, StateSource},
    run_part,
};
use crate::{
    primitives::{Batch, Header},
    state::{
        StateChanges, WorldState,
        trie::{MissingNode, NodeMap, PartialTrie, WitnessError, node_map},
    },
    transaction::{RecoveryBackend, recover},
};
use alloy_consensus::TxEnvelope;
use alloy_primitives::{
    Address, B256, Bytes, U256, keccak256,
    map::{B256Map, HashMap},
};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use revm::bytecode::Bytecode;
use serde::{Deserialize, Serialize};
use std::{
    cell::{Cell, RefCell},
    collections::{BTreeMap, BTreeSet},
};

/// One block's share of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepPart {
    /// The block's position in the batch.
    pub block: usize,
    /// Whether the block's pre-block system calls run (the step enters the block).
    pub pre: bool,
    /// The transaction the step executes in this block, by position in the block.
    pub transaction: Option<usize>,
    /// Whether the block's post-block phase runs (the step leaves the block).
    pub post: bool,
}

/// What step `index` of a batch executes, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepPlan {
    /// The step.
    pub index: usize,
    /// Its parts, one per block touched, in block order.
    pub parts: Vec<StepPart>,
}

/// The number of steps of a batch: one per transaction, and one for a batch without any.
pub fn step_count(batch: &Batch) -> usize {
    batch.transaction_count().max(1)
}

/// The claimed root after each step of a batch: the intermediate roots, except that the last
/// step ends at the post-state root (its block's post-block phase and any trailing empty blocks
/// are part of it).
pub fn claimed_step_roots(batch: &Batch) -> Vec<B256> {
    let steps = step_count(batch);
    let mut roots: Vec<B256> = batch
        .intermediate_roots
        .iter()
        .take(steps - 1)
        .copied()
        .collect();
    roots.push(batch.post_state_root);
    roots
}

/// The parts of step `index` of `batch` (see the module docs).
pub fn plan_step(batch: &Batch, index: usize) -> Result<StepPlan, StepError> {
    let steps = step_count(batch);
    if index >= steps || batch.blocks.is_empty() {
        return Err(StepError::NoSuchStep { index, steps });
    }
    // Where each transaction is: (block, position in block).
    let positions: Vec<(usize, usize)> = batch
        .blocks
        .iter()
        .enumerate()
        .flat_map(|(b, block)| (0..block.transactions.len()).map(move |t| (b, t)))
        .collect();
    let last_block = batch.blocks.len() - 1;
    let whole = |block| StepPart {
        block,
        pre: true,
        transaction: None,
        post: true,
    };
    let mut parts = Vec::new();
    let Some(&(block, position)) = positions.get(index) else {
        // No transaction at all: the one step is every block, whole.
        parts.extend((0..=last_block).map(whole));
        return Ok(StepPlan { index, parts });
    };
    let enters = position == 0;
    if enters {
        // Leave the previous transaction's block, then run the empty blocks in between.
        let first_between = match index.checked_sub(1).map(|i| positions[i].0) {
            Some(previous) => {
                parts.push(StepPart {
                    block: previous,
                    pre: false,
                    transaction: None,
                    post: true,
                });
                previous + 1
            }
            None => 0,
        };
        parts.extend((first_between..block).map(whole));
    }
    let is_last = index + 1 == positions.len();
    parts.push(StepPart {
        block,
        pre: enters,
        transaction: Some(position),
        post: is_last,
    });
    if is_last {
        parts.extend((block + 1..=last_block).map(whole));
    }
    Ok(StepPlan { index, parts })
}

/// What a one-step proof carries besides the batch: the pre-state, as far as the step needs
/// it, proven against the agreed pre-state root.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepWitness {
    /// RLP of every account-trie and storage-trie node on the paths of the accounts and slots
    /// the step reads or writes (and the siblings a deletion folds onto); nodes are found by
    /// hash, so order and extra nodes do not matter.
    pub state: Vec<Bytes>,
    /// Bytecode of every contract the step loads.
    pub codes: Vec<Bytes>,
    /// Headers below the batch's first block, parent first, as deep as the block hashes the
    /// step reads (and always the parent when the step enters the batch's first block).
    pub ancestors: Vec<Header>,
    /// Gas the step's block used before the step's transaction, when the step starts
    /// mid-block.
    pub gas_used_before: u64,
}

impl StepWitness {
    /// Encoded size in bytes (nodes, code and headers), what posting it costs.
    pub fn size(&self) -> usize {
        let headers: usize = self
            .ancestors
            .iter()
            .map(alloy_rlp::Encodable::length)
            .sum();
        self.state.iter().map(|b| b.len()).sum::<usize>()
            + self.codes.iter().map(|b| b.len()).sum::<usize>()
            + headers
    }
}

/// What a one-step proof establishes about a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// The step executes and ends at this state root.
    Root(B256),
    /// The step cannot execute: one of its transactions or block headers is invalid, so no
    /// root claimed for it can be right.
    Invalid(ExecutionError),
}

/// Why a one-step proof was refused. A refused proof decides nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The batch has no such step.
    #[error("step {index} does not exist: the batch has {steps}")]
    NoSuchStep {
        /// Step asked for.
        index: usize,
        /// Steps in the batch.
        steps: usize,
    },
    /// The witness's nodes do not assemble into a trie under the pre-state root (a witness
    /// for another state, or malformed nodes).
    #[error("witness does not match the pre-state root: {0}")]
    Witness(#[from] WitnessError),
    /// Execution needed state the witness does not prove.
    #[error(transparent)]
    Missing(#[from] MissingState),
    /// Recomputing the post-state root needed a trie node the witness lacks.
    #[error("witness lacks a node needed for the post-state root: {0}")]
    MissingNode(#[from] MissingNode),
    /// The ancestor headers do not chain to the batch's first block.
    #[error("ancestor header at height {height} does not chain to its child")]
    Ancestors {
        /// Height of the header that does not link.
        height: u64,
    },
    /// Preparing the proof failed: the prover's own state disagrees with the batch.
    #[error("cannot prepare the proof: {0}")]
    Prover(String),
}

/// Executes step `index` of `batch` from `pre_root` with nothing but `witness`, and says where
/// it ends.
///
/// The batch must be the one the dispute is about (the caller checks it against the posted
/// commitment); its headers are the blocks' environment, its transactions are recovered here.
pub fn verify_step(
    config: &RollupConfig,
    batch: &Batch,
    index: usize,
    pre_root: B256,
    witness: &StepWitness,
) -> Result<StepOutcome, StepError> {
    let plan = plan_step(batch, index)?;
    let source = WitnessState::new(pre_root, witness)?;
    let history = ancestry(batch, &plan, witness)?;
    let run = execute_plan(
        config,
        batch,
        &plan,
        &source,
        &history,
        witness.gas_used_before,
    )?;
    match run.invalid {
        None => Ok(StepOutcome::Root(source.post_root(&run.changes)?)),
        Some(invalid) => Ok(StepOutcome::Invalid(invalid)),
    }
}

/// The hashes of the blocks below the step: the witness's ancestors, checked to chain into the
/// batch, then the batch's own blocks before the step's first.
fn ancestry(
    batch: &Batch,
    plan: &StepPlan,
    witness: &StepWitness,
) -> Result<RecentHashes, StepError> {
    let first = plan.parts.first().map_or(0, |part| part.block);
    // Oldest first: the ancestors reversed, then the batch's blocks before the step.
    let chain: Vec<&Header> = witness
        .ancestors
        .iter()
        .take(RecentHashes::WINDOW)
        .rev()
        .chain(batch.blocks[..first].iter().map(|b| &b.header))
        .collect();
    let mut expected_parent = batch.blocks[first].header.parent_hash;
    let mut linked = Vec::with_capacity(chain.len());
    // Walk down from the step's block: each header must be its child's parent.
    for header in chain.iter().rev() {
        let hash = header.hash();
        if hash != expected_parent {
            return Err(StepError::Ancestors {
                height: header.height,
            });
        }
        expected_parent = header.parent_hash;
        linked.push((hash, *header));
    }
    let mut hashes = RecentHashes::default();
    for (hash, header) in linked.into_iter().rev() {
        hashes.push_hashed(hash, header.clone());
    }
    Ok(hashes)
}

/// What executing a step's parts gave.
struct PlanRun {
    /// Why the step cannot execute, if it cannot (the rest is then what ran before).
    invalid: Option<ExecutionError>,
    changes: StateChanges,
    code: B256Map<Bytecode>,
    /// Gas used in the last block the step touched, counting its transactions before the step.
    gas_used: u64,
    /// Headers of the blocks the step finished, in order (the history grows by them).
    finished: Vec<Header>,
    /// The lowest block whose hash execution read.
    lowest_block: Option<u64>,
}

/// Executes a step's parts over `source`, with `history` the headers below the step. An error
/// is a missing witness; an invalid step is a run with `invalid` set.
fn execute_plan<S: StateSource>(
    config: &RollupConfig,
    batch: &Batch,
    plan: &StepPlan,
    source: &S,
    history: &RecentHashes,
    gas_used_before: u64,
) -> Result<PlanRun, StepError> {
    let base = Layered {
        source,
        history,
        finished: RefCell::default(),
        lowest: Cell::new(None),
    };
    let mut overlay = Overlay::new(&base, false);
    let mut gas_used = gas_used_before;
    let mut invalid = None;
    for part in &plan.parts {
        let block = &batch.blocks[part.block];
        if part.pre {
            // Entering a block: its header must be right given its parent (the newest header
            // below it), or the block, and with it the step, is invalid.
            let finished = base.finished.borrow();
            let Some(parent) = finished.last().or_else(|| history.newest()) else {
                return Err(MissingState::BlockHash(block.header.height.saturating_sub(1)).into());
            };
            if let Err(error) = check_child(config, parent, &block.header) {
                invalid = Some(error);
                break;
            }
            gas_used = 0;
        }
        let transactions: Vec<Candidate> = part
            .transaction
            .and_then(|t| block.transactions.get(t))
            .map(|tx: &TxEnvelope| {
                recover(tx.clone(), RecoveryBackend::Libsecp256k1).map_err(|error| {
                    Box::new(super::RejectedTx {
                        hash: *tx.tx_hash(),
                        sender: None,
                        error,
                    })
                })
            })
            .into_iter()
            .collect();
        let count = transactions.len();
        let run = run_part(
            config,
            &mut overlay,
            &block.header,
            &mut transactions.into_iter(),
            count,
            Mode::Strict,
            Part {
                pre: part.pre,
                post: part.post,
                gas_used_before: gas_used,
            },
        );
        match run {
            Ok(run) => gas_used += run.gas_used,
            Err(ExecutionError::MissingState(missing)) => return Err(missing.into()),
            Err(error) => {
                invalid = Some(error);
                break;
            }
        }
        if part.post {
            base.finished.borrow_mut().push(block.header.clone());
        }
    }
    let (changes, _, code) = overlay.into_changes();
    Ok(PlanRun {
        invalid,
        changes,
        code,
        gas_used,
        finished: base.finished.into_inner(),
        lowest_block: base.lowest.get(),
    })
}

/// A state source with the block hashes of the step's ancestry (borrowed, so a step copies
/// none of the history) and of the blocks the step finishes, recording the lowest hash read.
#[derive(Debug)]
struct Layered<'a, S> {
    source: &'a S,
    history: &'a RecentHashes,
    finished: RefCell<Vec<Header>>,
    lowest: Cell<Option<u64>>,
}

impl<S: StateSource> StateSource for Layered<'_, S> {
    fn account(&self, address: &Address) -> Result<Option<(u64, U256, B256)>, MissingState> {
        self.source.account(address)
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, MissingState> {
        self.source.storage(address, slot)
    }

    fn code(
        &self,
        code_hash: &B256,
    ) -> Result<Option<std::borrow::Cow<'_, Bytecode>>, MissingState> {
        self.source.code(code_hash)
    }

    fn block_hash(&self, number: u64) -> Result<B256, MissingState> {
        self.lowest.set(Some(
            self.lowest.get().map_or(number, |low| low.min(number)),
        ));
        // revm asks only within the 256-block window, so a hash we lack is a witness gap.
        let finished = self.finished.borrow();
        finished
            .iter()
            .find(|header| header.height == number)
            .map(Header::hash)
            .or_else(|| self.history.get(number))
            .ok_or(MissingState::BlockHash(number))
    }
}

/// The pre-state as a witness proves it.
#[derive(Debug)]
struct WitnessState<'w> {
    accounts: PartialTrie,
    /// Every node of the witness by hash, for storage tries, which are assembled on first use.
    nodes: NodeMap<'w>,
    storage: RefCell<HashMap<Address, PartialTrie>>,
    code: B256Map<Bytecode>,
}

impl<'w> WitnessState<'w> {
    fn new(pre_root: B256, witness: &'w StepWitness) -> Result<Self, StepError> {
        let nodes = node_map(&witness.state);
        let accounts = PartialTrie::from_node_map(pre_root, &nodes)?;
        let code = witness
            .codes
            .iter()
            .map(|bytes| (keccak256(bytes), bytecode(bytes.clone())))
            .collect();
        Ok(Self {
            accounts,
            nodes,
            storage: RefCell::default(),
            code,
        })
    }

    /// The account's leaf: fields and storage root.
    fn leaf(&self, address: &Address) -> Result<Option<TrieAccount>, MissingState> {
        let missing = || MissingState::Account(*address);
        let Some(mut rlp) = self
            .accounts
            .get(keccak256(address))
            .map_err(|_| missing())?
        else {
            return Ok(None);
        };
        // The leaf hashed to its committed reference, so a leaf that does not decode was
        // committed that way; nothing about the account can be proven from it.
        let leaf =
            <TrieAccount as alloy_rlp::Decodable>::decode(&mut rlp).map_err(|_| missing())?;
        Ok(Some(leaf))
    }

    /// Runs `f` on the account's storage trie, assembling it from the witness on first use.
    fn with_storage<T>(
        &self,
        address: &Address,
        storage_root: B256,
        f: impl FnOnce(&mut PartialTrie) -> T,
    ) -> Result<T, StepError> {
        let mut tries = self.storage.borrow_mut();
        let trie = match tries.entry(*address) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(PartialTrie::from_node_map(storage_root, &self.nodes)?)
            }
        };
        Ok(f(trie))
    }

    /// The post-state root: the witness's tries with the step's changes applied.
    fn post_root(&self, changes: &StateChanges) -> Result<B256, StepError> {
        let mut updates = Vec::with_capacity(changes.len());
        // Sorted, so the result never depends on map order (it does not, but the work is then
        // reproducible).
        let sorted: BTreeMap<&Address, _> = changes.iter().collect();
        for (address, change) in sorted {
            let key = keccak256(address);
            let Some((nonce, balance, code_hash)) = change.info else {
                updates.push((key, None));
                continue;
            };
            let pre_storage = self
                .leaf(address)?
                .map_or(EMPTY_ROOT_HASH, |leaf| leaf.storage_root);
            let slots: Vec<(B256, Option<Vec<u8>>)> = change
                .storage
                .iter()
                .map(|(slot, value)| {
                    let key = keccak256(B256::from(*slot));
                    (key, (!value.is_zero()).then(|| alloy_rlp::encode(value)))
                })
                .collect();
            let storage_root = if change.storage_cleared {
                let mut fresh = PartialTrie::from_nodes(EMPTY_ROOT_HASH, &[])?;
                fresh.apply(&slots)?;
                fresh.root()
            } else if slots.is_empty() {
                pre_storage
            } else {
                self.with_storage(address, pre_storage, |trie| {
                    trie.apply(&slots).map(|()| trie.root())
                })??
            };
            let leaf = TrieAccount {
                nonce,
                balance,
                storage_root,
                code_hash,
            };
            updates.push((key, Some(alloy_rlp::encode(leaf))));
        }
        let mut accounts = self.accounts.clone();
        accounts.apply(&updates)?;
        Ok(accounts.root())
    }
}

impl StateSource for WitnessState<'_> {
    fn account(&self, address: &Address) -> Result<Option<(u64, U256, B256)>, MissingState> {
        Ok(self
            .leaf(address)?
            .map(|leaf| (leaf.nonce, leaf.balance, leaf.code_hash)))
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, MissingState> {
        let missing = || MissingState::Storage {
            address: *address,
            slot: *slot,
        };
        let Some(leaf) = self.leaf(address)? else {
            return Ok(U256::ZERO);
        };
        if leaf.storage_root == EMPTY_ROOT_HASH {
            return Ok(U256::ZERO);
        }
        let key = keccak256(B256::from(*slot));
        let value = self
            .with_storage(address, leaf.storage_root, |trie| {
                trie.get(key).map(|value| value.map(<[u8]>::to_vec))
            })
            .map_err(|_| missing())?
            .map_err(|_| missing())?;
        match value {
            None => Ok(U256::ZERO),
            Some(rlp) => alloy_rlp::decode_exact(&rlp).map_err(|_| missing()),
        }
    }

    fn code(
        &self,
        code_hash: &B256,
    ) -> Result<Option<std::borrow::Cow<'_, Bytecode>>, MissingState> {
        if *code_hash == KECCAK_EMPTY {
            return Ok(None);
        }
        self.code
            .get(code_hash)
            .map(|code| Some(std::borrow::Cow::Borrowed(code)))
            .ok_or(MissingState::Code(*code_hash))
    }

    fn block_hash(&self, number: u64) -> Result<B256, MissingState> {
        Err(MissingState::BlockHash(number))
    }
}

/// Code as the world state keeps it: bytes that only look like an EIP-7702 delegation are
/// legacy code.
fn bytecode(bytes: Bytes) -> Bytecode {
    Bytecode::new_raw_checked(bytes.clone()).unwrap_or_else(|_| Bytecode::new_legacy(bytes))
}

/// What a step read from the pre-state, for its witness.
#[derive(Debug, Default)]
struct Reads {
    accounts: BTreeSet<Address>,
    slots: BTreeMap<Address, BTreeSet<U256>>,
    codes: BTreeSet<B256>,
}

/// The full state at a step's start, recording every read.
#[derive(Debug)]
struct Recording<'a> {
    head: Head<'a>,
    reads: RefCell<Reads>,
}

impl StateSource for Recording<'_> {
    fn account(&self, address: &Address) -> Result<Option<(u64, U256, B256)>, MissingState> {
        let account = self.head.account(address)?;
        let mut reads = self.reads.borrow_mut();
        reads.accounts.insert(*address);
        if let Some((_, _, code_hash)) = account
            && code_hash != KECCAK_EMPTY
        {
            reads.codes.insert(code_hash);
        }
        Ok(account)
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, MissingState> {
        let mut reads = self.reads.borrow_mut();
        reads.accounts.insert(*address);
        reads.slots.entry(*address).or_default().insert(*slot);
        self.head.storage(address, slot)
    }

    fn code(
        &self,
        code_hash: &B256,
    ) -> Result<Option<std::borrow::Cow<'_, Bytecode>>, MissingState> {
        self.reads.borrow_mut().codes.insert(*code_hash);
        self.head.code(code_hash)
    }

    fn block_hash(&self, number: u64) -> Result<B256, MissingState> {
        // Served by the step's history (`Layered`), which records the lowest one read.
        self.head.block_hash(number)
    }
}

/// A batch executed step by step over the full state: the root after every step, and a
/// witness for any of them. What a verifier runs to know the true roots, and what either party
/// of a dispute runs to prove the step the game ends on.
#[derive(Debug)]
pub struct Replay {
    config: RollupConfig,
    batch: Batch,
    /// State before the next step.
    state: WorldState,
    /// Headers below the next step (the pre-batch history, then the batch's finished blocks).
    hashes: RecentHashes,
    /// Next step.
    next: usize,
    /// Gas used so far in the block the next step starts in, when it starts mid-block.
    gas_used: u64,
    /// Roots after each step so far.
    roots: Vec<B256>,
    /// Why the step after the last root could not execute, if one could not.
    invalid: Option<(usize, ExecutionError)>,
}

impl Replay {
    /// A replay of `batch` from `state`, a state transition whose head is the block before
    /// the batch (so its state root is the batch's pre-state root).
    pub fn new(state: &super::EvmStateTransition, batch: Batch) -> Result<Self, StepError> {
        if state.state_root() != batch.pre_state_root {
            return Err(StepError::Prover(format!(
                "state root {} is not the batch's pre-state root {}",
                state.state_root(),
                batch.pre_state_root
            )));
        }
        Ok(Self {
            config: state.config().clone(),
            batch,
            state: state.state().clone(),
            hashes: state.hashes.clone(),
            next: 0,
            gas_used: 0,
            roots: Vec::new(),
            invalid: None,
        })
    }

    /// The batch.
    pub const fn batch(&self) -> &Batch {
        &self.batch
    }

    /// The true root after each step executed so far.
    pub fn roots(&self) -> &[B256] {
        &self.roots
    }

    /// The step that cannot execute, and why, once the replay reached it.
    pub const fn invalid(&self) -> Option<&(usize, ExecutionError)> {
        self.invalid.as_ref()
    }

    /// Executes every step up to (not including) `until`, or to the end; stops at an invalid
    /// step. Returns the roots known so far.
    pub fn run_to(&mut self, until: usize) -> Result<&[B256], StepError> {
        let until = until.min(step_count(&self.batch));
        while self.next < until && self.invalid.is_none() {
            self.step(None)?;
        }
        Ok(&self.roots)
    }

    /// Executes every step; the roots after each, as far as the batch is valid.
    pub fn run(&mut self) -> Result<&[B256], StepError> {
        self.run_to(usize::MAX)
    }

    /// The witness for step `index`, for a one-step proof. Executes the steps before it first
    /// (a replay only goes forward: prove steps in increasing order, or use a fresh replay).
    pub fn prove(&mut self, index: usize) -> Result<StepWitness, StepError> {
        let steps = step_count(&self.batch);
        if index >= steps {
            return Err(StepError::NoSuchStep { index, steps });
        }
        if index < self.next {
            return Err(StepError::Prover(format!(
                "step {index} is behind the replay (at {})",
                self.next
            )));
        }
        self.run_to(index)?;
        if let Some((at, error)) = &self.invalid {
            return Err(StepError::Prover(format!(
                "step {at} before {index} is invalid: {error}"
            )));
        }
        let mut witness = StepWitness::default();
        self.step(Some(&mut witness))?;
        Ok(witness)
    }

    /// Executes the next step, recording a witness for it when asked.
    fn step(&mut self, witness: Option<&mut StepWitness>) -> Result<(), StepError> {
        let plan = plan_step(&self.batch, self.next)?;
        let recording = Recording {
            head: Head {
                state: &self.state,
                hashes: &self.hashes,
            },
            reads: RefCell::default(),
        };
        let run = execute_plan(
            &self.config,
            &self.batch,
            &plan,
            &recording,
            &self.hashes,
            self.gas_used,
        )?;
        let reads = recording.reads.into_inner();
        if let Some(witness) = witness {
            // An invalid step is proven too: by what execution read up to the failure.
            let changes = match run.invalid {
                None => &run.changes,
                Some(_) => &StateChanges::default(),
            };
            *witness = self.witness(&plan, &reads, changes, run.lowest_block)?;
            witness.gas_used_before = self.gas_used;
        }
        if let Some(invalid) = run.invalid {
            self.invalid = Some((self.next, invalid));
            return Ok(());
        }
        for (_, bytes) in run.code {
            self.state.insert_code(bytes);
        }
        self.state
            .apply(&run.changes)
            .map_err(MissingState::Store)?;
        let root = self.state.state_root().map_err(MissingState::Store)?;
        self.roots.push(root);
        for header in run.finished {
            self.hashes.push(header);
        }
        // The next step starts mid-block when this one ended inside its transaction's block.
        let leaves = plan.parts.last().is_none_or(|part| part.post);
        self.gas_used = if leaves { 0 } else { run.gas_used };
        self.next += 1;
        Ok(())
    }

    /// The witness of a step from what it read and wrote, against the state before it.
    fn witness(
        &mut self,
        plan: &StepPlan,
        reads: &Reads,
        changes: &StateChanges,
        lowest_block: Option<u64>,
    ) -> Result<StepWitness, StepError> {
        let state = &mut self.state;
        let touched: Vec<Address> = reads.accounts.iter().copied().collect();
        let writes: Vec<(Address, bool)> = changes
            .iter()
            .map(|(address, change)| (*address, change.info.is_none()))
            .collect();
        let mut nodes: Vec<Bytes> = state
            .account_witness(&touched, &writes)
            .map_err(MissingState::Store)?
            .nodes();
        // Storage: the slots read, and the slots written unless the account's storage is
        // wiped (then the new trie starts empty and needs nothing from the old one).
        let mut storage_accounts: BTreeSet<Address> = reads.slots.keys().copied().collect();
        storage_accounts.extend(
            changes
                .iter()
                .filter(|(_, change)| !change.storage.is_empty() && !change.storage_cleared)
                .map(|(address, _)| *address),
        );
        for address in storage_accounts {
            let read: Vec<U256> = reads
                .slots
                .get(&address)
                .map(|slots| slots.iter().copied().collect())
                .unwrap_or_default();
            let written: Vec<(U256, bool)> = match changes.get(&address) {
                Some(change) if change.info.is_some() && !change.storage_cleared => change
                    .storage
                    .iter()
                    .map(|(slot, value)| (*slot, value.is_zero()))
                    .collect(),
                _ => Vec::new(),
            };
            if let Some(mut trie) = state
                .storage_witness(&address, &read, &written)
                .map_err(MissingState::Store)?
            {
                nodes.extend(trie.nodes());
            }
        }
        let mut seen = BTreeSet::new();
        nodes.retain(|node| seen.insert(keccak256(node)));
        let mut codes = Vec::with_capacity(reads.codes.len());
        for hash in &reads.codes {
            if let Some(code) = state.code_by_hash(hash).map_err(MissingState::Store)? {
                codes.push(code.original_bytes());
            }
        }
        // Ancestors: the parent when the step enters the batch's first block, and every header
        // down to the lowest block hash read.
        let first_block = plan.parts.first().map_or(0, |part| part.block);
        let first_height = self.batch.blocks[first_block].header.height;
        let enters_batch = first_block == 0 && plan.parts.first().is_some_and(|p| p.pre);
        let batch_start = self.batch.blocks[0].header.height;
        let mut lowest = lowest_block.unwrap_or(first_height);
        if enters_batch {
            lowest = lowest.min(batch_start.saturating_sub(1));
        }
        // Headers needed: from the batch's parent down to `lowest + 1` chain the hashes; the
        // header at `lowest` itself proves its own hash by hashing, so it is included too.
        let mut ancestors = Vec::new();
        let mut height = batch_start.checked_sub(1);
        while let Some(h) = height.filter(|h| *h >= lowest) {
            match self.hashes.header(h) {
                Some(header) => ancestors.push(header.clone()),
                None => break,
            }
            height = h.checked_sub(1);
        }
        Ok(StepWitness {
            state: nodes,
            codes,
            ancestors,
            gas_used_before: 0,
        })
    }
}
