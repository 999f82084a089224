//! SQUAD decentralized sequencing: a staked BFT sequencer set ordering transaction payloads.
//!
//! The consensus is Tendermint's (Buchman, Kwon, Milosevic, "The latest gossip on BFT
//! consensus", 2018), stake-weighted, written as a sans-IO state machine ([`SquadNode`]):
//! messages, timer expiries and transactions go in; messages to send, timers to set,
//! soft-confirmed and committed blocks and evidence come out. Per height, rounds of
//! propose → prevote → precommit; a block with more than two thirds of the stake
//! precommitting is committed (three message delays after the proposal in the happy path),
//! one with more than two thirds prevoting is soft-confirmed. Locking on a prevote
//! certificate keeps safety with byzantine stake below one third; growing timeouts and round
//! changes restore liveness once the network is synchronous again.
//!
//! - Votes are BN254 BLS signatures over [`SignedVote::signing_hash`] of the SQUAD set, so
//!   two conflicting ones are equivocation evidence altlayer-staking slashes as they are.
//!   Votes are tallied as they arrive and verified as one aggregate when a threshold is
//!   reached; only a failed aggregate is searched for bad signatures.
//! - The leader of `(height, round)` is drawn by stake from the commit certificate the
//!   previous block carries, so a leader cannot name its successor.
//! - Blocks order payloads (raw transactions and a timestamp); execution follows commit
//!   ([`sequencer::SquadSequencer`] feeds the committed chain to core's `StateTransition`,
//!   which builds the same block on every node).

mod byzantine;
pub mod durable;
mod leader;
pub mod mempool;
mod messages;
pub mod node;
pub mod process;
mod protocol;
mod rules;
pub mod sequencer;
mod tally;

pub use byzantine::Behaviour;
pub(crate) use byzantine::byzantine_sends;
use leader::check_roster;
#[cfg(feature = "test-utils")]
pub use leader::{DevSet, dev_set};
pub use leader::{epoch_of, epoch_snapshot, leader};
pub use messages::{
    Decision, Input, Message, Output, Payload, Proposal, SquadBlock, Target, TimeoutKind, Timer,
    Vote, VoteKind, slot,
};
use rules::Rule;
use tally::RoundVotes;
#[cfg(feature = "test-utils")]
use tally::placeholder_signature;

use crate::{
    aggregator::find_bad,
    qc::{QuorumCertificate, Roster, SignerBitmap, StakeSnapshot, Threshold},
};
use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use altlayer_core::{
    ChainId, RollupId,
    bls::{self, SecretKey, Signature},
};
use altlayer_staking::{Evidence, OperatorSetId, Service, SignedVote, VoteSignature};
use ark_bn254::G1Projective;
use ark_ec::CurveGroup;
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

/// The SQUAD operator set of a rollup.
pub const fn squad_set(rollup: RollupId) -> OperatorSetId {
    OperatorSetId::new(Service::Squad, rollup)
}

/// Fewest sequencers a set may have: `n >= 3f + 1` with `f >= 1`.
pub const MIN_SEQUENCERS: usize = 4;

/// How much cryptography a node does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CryptoMode {
    /// Sign every message and verify every certificate (production).
    #[default]
    Full,
    /// Neither sign nor verify; messages carry a fixed placeholder signature. **Insecure**:
    /// only for simulations and benchmarks that measure the protocol without its
    /// cryptography. A node in this mode trusts every message.
    #[cfg(feature = "test-utils")]
    Unchecked,
}

/// A node's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquadConfig {
    /// Chain id signed messages bind.
    pub chain_id: ChainId,
    /// The rollup.
    pub rollup: RollupId,
    /// Seed of the first leader selection (the genesis block hash).
    pub genesis: B256,
    /// Propose timeout in round 0; each later round adds `timeout_delta_ms`.
    pub timeout_propose_ms: u64,
    /// Prevote and precommit timeouts in round 0; each later round adds `timeout_delta_ms`.
    pub timeout_vote_ms: u64,
    /// Backoff per round.
    pub timeout_delta_ms: u64,
    /// Pause between a commit and the next height's first proposal: the block time when
    /// consensus is faster than it (0 proposes at once).
    pub block_interval_ms: u64,
    /// Most transactions in one payload.
    pub max_block_transactions: usize,
    /// Signing and verification.
    pub crypto: CryptoMode,
    /// Mempool limits.
    pub pool: mempool::PoolLimits,
    /// Peers each first-seen proposal or vote of another sequencer is relayed to, so that
    /// equivocation is seen and lost messages recovered (0 turns relaying off).
    pub relay_fanout: usize,
    /// How far ahead of this node's clock a new block's timestamp may be; a proposal beyond
    /// it is prevoted nil.
    pub max_clock_drift_ms: u64,
    /// Blocks per epoch; the set and its weights are fixed within one (0: one epoch forever).
    /// Epoch `e` covers heights `e x len + 1 ..= (e + 1) x len` and its roster is the
    /// staking checkpoint at height `e x len` (see [`epoch_snapshot`]).
    pub epoch_length: u64,
}

impl Default for SquadConfig {
    fn default() -> Self {
        Self {
            chain_id: 1_337,
            rollup: RollupId(1),
            genesis: B256::ZERO,
            timeout_propose_ms: 1_000,
            timeout_vote_ms: 500,
            timeout_delta_ms: 500,
            block_interval_ms: 0,
            max_block_transactions: 10_000,
            crypto: CryptoMode::Full,
            pool: mempool::PoolLimits::default(),
            relay_fanout: 2,
            max_clock_drift_ms: 15_000,
            epoch_length: 0,
        }
    }
}

/// Why a node could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SquadError {
    /// Fewer than [`MIN_SEQUENCERS`] sequencers with stake.
    #[error("a SQUAD set needs at least {MIN_SEQUENCERS} sequencers with stake, got {0}")]
    TooFewSequencers(usize),
    /// The node's key is not in the roster.
    #[error("{0} is not a sequencer of the set")]
    NotASequencer(Address),
    /// The roster is for another rollup or service.
    #[error("the roster is not the SQUAD set of rollup {0}")]
    WrongRoster(RollupId),
    /// A key could not be made.
    #[error(transparent)]
    Key(#[from] bls::BlsError),
}

/// The step within a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Waiting for the proposal.
    Propose,
    /// Prevoted, waiting for a certificate.
    Prevote,
    /// Precommitted, waiting for the commit.
    Precommit,
}

/// Everything a node must persist to restart without equivocating or forgetting its chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SquadState {
    /// Current height.
    pub height: u64,
    /// Current round.
    pub round: u32,
    /// Current step.
    pub step: Step,
    /// Block locked on, with its round.
    pub locked: Option<(u32, SquadBlock)>,
    /// Latest block with a prevote certificate seen, with its round and the certificate.
    pub valid: Option<(u32, SquadBlock, QuorumCertificate)>,
    /// Committed chain: its latest decisions, after the `forgotten` first ones.
    pub chain: Vec<Decision>,
    /// Decisions before the first one in `chain`, forgotten (their blocks are in the rollup's
    /// store): `chain[i]` is the decision of SQUAD height `forgotten + i + 1`.
    #[serde(default)]
    pub forgotten: u64,
    /// Every message this node signed at the current height: (round, kind) -> what.
    #[serde(with = "altlayer_core::serde_pairs")]
    pub signed: BTreeMap<(u32, VoteKind), Message>,
}

/// One SQUAD sequencer.
pub struct SquadNode {
    config: SquadConfig,
    /// The roster of the current height's epoch.
    roster: Arc<Roster>,
    /// The roster of the parent's height (its commit certificate is over it).
    parent_roster: Arc<Roster>,
    /// Rosters of epochs, handed in by the driver.
    rosters: BTreeMap<u64, Arc<Roster>>,
    /// Waiting for the current epoch's roster.
    waiting: bool,
    address: Address,
    key: SecretKey,
    state: SquadState,
    /// (round, kind) -> votes, at the current height.
    votes: BTreeMap<(u32, VoteKind), RoundVotes>,
    /// Round -> the leader's proposal, at the current height.
    proposals: BTreeMap<u32, Proposal>,
    /// Signers found with bad signatures at this height.
    excluded: BTreeSet<Address>,
    /// Messages for later heights, replayed on arrival there (bounded).
    future: BTreeMap<u64, Vec<(Address, Message)>>,
    /// Rounds whose "first time" rules already fired.
    fired: BTreeSet<(u32, Rule)>,
    /// Peers asked to sync at a height.
    asked: BTreeSet<(Address, u64)>,
    pool: mempool::Mempool,
    /// The transactions of the last decision this node had pooled, recovered.
    recovered: std::collections::HashMap<B256, Recovered<TxEnvelope>>,
    /// Certificates already verified (a parent's commit certificate is checked many times).
    checked: std::cell::RefCell<BTreeSet<B256>>,
}

const FUTURE_LIMIT: usize = 4_096;
/// Votes and proposals for rounds further ahead than this are dropped.
const MAX_ROUNDS_AHEAD: u32 = 64;
const SYNC_BATCH: u64 = 64;

impl SquadNode {
    /// A node with `key` (for `address`) in the SQUAD set `roster` (the first epoch's),
    /// starting at height 1.
    pub fn new(
        config: SquadConfig,
        roster: Arc<Roster>,
        address: Address,
        key: SecretKey,
    ) -> Result<Self, SquadError> {
        let state = SquadState {
            height: 1,
            round: 0,
            step: Step::Propose,
            locked: None,
            valid: None,
            chain: Vec::new(),
            forgotten: 0,
            signed: BTreeMap::new(),
        };
        Self::restore(config, roster, address, key, state)
    }

    /// A node resuming from persisted state (after a crash), with the roster of the epoch of
    /// the height it resumes at. Call [`SquadNode::start`] next.
    pub fn restore(
        config: SquadConfig,
        roster: Arc<Roster>,
        address: Address,
        key: SecretKey,
        state: SquadState,
    ) -> Result<Self, SquadError> {
        check_roster(&roster, config.rollup)?;
        if roster.index_of(&address).is_none() {
            return Err(SquadError::NotASequencer(address));
        }
        let pool = mempool::Mempool::new(config.chain_id, config.pool);
        let epoch = epoch_of(state.height, config.epoch_length);
        Ok(Self {
            config,
            parent_roster: roster.clone(),
            rosters: BTreeMap::from([(epoch, roster.clone())]),
            waiting: false,
            roster,
            address,
            key,
            state,
            votes: BTreeMap::new(),
            proposals: BTreeMap::new(),
            excluded: BTreeSet::new(),
            future: BTreeMap::new(),
            fired: BTreeSet::new(),
            asked: BTreeSet::new(),
            pool,
            recovered: std::collections::HashMap::new(),
            checked: std::cell::RefCell::new(BTreeSet::new()),
        })
    }

    /// The node's address.
    pub const fn address(&self) -> Address {
        self.address
    }

    /// What to persist.
    pub const fn state(&self) -> &SquadState {
        &self.state
    }

    /// The committed chain's decisions this node still holds (see
    /// [`SquadNode::forget_before`]).
    pub fn chain(&self) -> &[Decision] {
        &self.state.chain
    }

    /// Decisions committed so far, the forgotten ones included.
    pub fn committed(&self) -> u64 {
        self.state.forgotten + self.state.chain.len() as u64
    }

    /// The `index`th decision committed (0 is SQUAD height 1), if it is still held.
    pub fn decision(&self, index: u64) -> Option<&Decision> {
        let held = index.checked_sub(self.state.forgotten)?;
        self.state.chain.get(usize::try_from(held).ok()?)
    }

    /// Forgets the decisions before the `index`th (their blocks are kept elsewhere), always
    /// holding the last one: the next block's parent and the leader's seed. A peer behind
    /// is then sent only the decisions still held.
    pub fn forget_before(&mut self, index: u64) {
        let index = index.min(self.committed().saturating_sub(1));
        let drop = index.saturating_sub(self.state.forgotten);
        if drop > 0 {
            self.state.chain.drain(..drop as usize);
            self.state.forgotten += drop;
        }
    }

    /// This node's state with only the decisions from the `index`th on (and the last one):
    /// what a record needs, the rest being in the rollup's store.
    pub fn state_from(&self, index: u64) -> SquadState {
        let index = index.min(self.committed().saturating_sub(1));
        let skip = index.saturating_sub(self.state.forgotten);
        SquadState {
            height: self.state.height,
            round: self.state.round,
            step: self.state.step,
            locked: self.state.locked.clone(),
            valid: self.state.valid.clone(),
            chain: self.state.chain[skip as usize..].to_vec(),
            forgotten: self.state.forgotten + skip,
            signed: self.state.signed.clone(),
        }
    }

    /// The same node (configuration, rosters, key) put back to `state`, as after a restart.
    pub fn resumed(&self, state: SquadState) -> Result<Self, SquadError> {
        let mut node = Self::restore(
            self.config.clone(),
            self.roster.clone(),
            self.address,
            self.key.clone(),
            state,
        )?;
        // The rosters this node was handed stay; its height's epoch has one either way.
        let epoch = epoch_of(node.state.height, node.config.epoch_length);
        let mut rosters = self.rosters.clone();
        rosters.entry(epoch).or_insert_with(|| node.roster.clone());
        node.roster = rosters[&epoch].clone();
        node.rosters = rosters;
        node.parent_roster = match node.state.height.checked_sub(1) {
            Some(parent) => node
                .rosters
                .get(&epoch_of(parent, node.config.epoch_length))
                .cloned()
                .unwrap_or_else(|| node.roster.clone()),
            None => node.roster.clone(),
        };
        Ok(node)
    }

    /// Current height.
    pub const fn height(&self) -> u64 {
        self.state.height
    }

    /// Current round.
    pub const fn round(&self) -> u32 {
        self.state.round
    }

    /// A transaction of the last committed block that this node had pooled, with its sender
    /// (recovered at admission), taken out: what executing the block needs without
    /// recovering it again.
    pub fn take_recovered(&mut self, hash: &B256) -> Option<Recovered<TxEnvelope>> {
        self.recovered.remove(hash)
    }

    /// The mempool.
    pub const fn pool(&self) -> &mempool::Mempool {
        &self.pool
    }

    /// Hands in the roster of `epoch` (ahead of time, or when asked by
    /// [`Output::NeedRoster`]); resumes the node if it was waiting for it.
    pub fn add_roster(
        &mut self,
        epoch: u64,
        roster: Arc<Roster>,
        now_ms: u64,
    ) -> Result<Vec<Output>, SquadError> {
        check_roster(&roster, self.config.rollup)?;
        self.rosters.insert(epoch, roster);
        let mut out = Vec::new();
        let height = self.state.height;
        if self.waiting && epoch == epoch_of(height, self.config.epoch_length) {
            self.enter_height(now_ms, &mut out);
        }
        Ok(out)
    }

    /// Whether this node signs at the current height (it is in the epoch's roster).
    pub fn is_member(&self) -> bool {
        self.roster
            .index_of(&self.address)
            .is_some_and(|i| !self.roster.entries()[i].stake.is_zero())
    }

    /// Starts (or resumes) the current round: proposes if leader, sets the round's timer,
    /// and re-sends what it signed in this round (peers may have missed it before a crash).
    pub fn start(&mut self, now_ms: u64) -> Vec<Output> {
        let mut out = Vec::new();
        let round = self.state.round;
        for ((r, _), message) in &self.state.signed {
            if *r == round {
                out.push(Output::Send {
                    to: Target::All,
                    message: message.clone(),
                });
            }
        }
        if out.is_empty() {
            self.start_round(round, now_ms, &mut out);
        } else {
            let kind = match self.state.step {
                Step::Propose => TimeoutKind::Propose,
                Step::Prevote => TimeoutKind::Prevote,
                Step::Precommit => TimeoutKind::Precommit,
            };
            out.push(self.timer(kind));
        }
        out
    }

    /// Handles one input at time `now_ms`.
    pub fn handle(&mut self, now_ms: u64, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Transaction(bytes) => self.on_transaction(bytes, true, &mut out),
            Input::Recovered(tx) => self.on_recovered(*tx, &mut out),
            Input::Timeout(timer) => self.on_timeout(timer, now_ms, &mut out),
            Input::Message { from, message } => self.on_message(from, message, now_ms, &mut out),
        }
        out
    }

    // ---- leader selection ----

    // ---- thresholds ----

    // ---- signing ----

    // ---- the protocol ----
}
