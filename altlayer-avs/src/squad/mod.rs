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
pub mod mempool;
pub mod node;
pub mod process;
pub mod sequencer;

pub use byzantine::Behaviour;
pub(crate) use byzantine::byzantine_sends;

use crate::{
    aggregator::find_bad,
    qc::{QuorumCertificate, Roster, SignerBitmap, StakeSnapshot, Threshold},
};
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

/// What a block orders: raw EIP-2718 transactions and the block's timestamp.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Payload {
    /// Unix seconds; not before the parent's.
    pub timestamp: u64,
    /// Transactions, in order, as EIP-2718 bytes.
    pub transactions: Vec<Bytes>,
}

impl Payload {
    /// `keccak256` over the timestamp and each transaction's hash.
    pub fn hash(&self) -> B256 {
        let mut buf = Vec::with_capacity(8 + 32 * self.transactions.len());
        buf.extend_from_slice(&self.timestamp.to_be_bytes());
        for tx in &self.transactions {
            buf.extend_from_slice(keccak256(tx).as_slice());
        }
        keccak256(&buf)
    }
}

/// A block of the SQUAD chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SquadBlock {
    /// Height (1 for the first).
    pub height: u64,
    /// Hash of the parent (the genesis seed for height 1).
    pub parent: B256,
    /// What it orders.
    pub payload: Payload,
    /// The round and certificate that committed the parent (none at height 1); it seeds
    /// leader selection.
    pub last_commit: Option<(u32, QuorumCertificate)>,
}

impl SquadBlock {
    /// `keccak256(height || parent || payload hash || last commit hash)`. Round and proposer
    /// are not part of it: a value re-proposed in a later round is the same block.
    pub fn hash(&self) -> B256 {
        let mut buf = [0u8; 8 + 32 + 32 + 4 + 32];
        buf[..8].copy_from_slice(&self.height.to_be_bytes());
        buf[8..40].copy_from_slice(self.parent.as_slice());
        buf[40..72].copy_from_slice(self.payload.hash().as_slice());
        if let Some((round, qc)) = &self.last_commit {
            buf[72..76].copy_from_slice(&round.to_be_bytes());
            buf[76..].copy_from_slice(qc.hash().as_slice());
        }
        keccak256(buf)
    }
}

/// The kind of a signed consensus message; part of the signed slot, so a prevote can never
/// be replayed as a precommit and honest messages of different kinds never conflict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VoteKind {
    /// A leader's proposal.
    Proposal,
    /// First-phase vote.
    Prevote,
    /// Second-phase vote.
    Precommit,
}

impl VoteKind {
    const fn tag(self) -> u64 {
        match self {
            Self::Proposal => 0,
            Self::Prevote => 1,
            Self::Precommit => 2,
        }
    }
}

/// The `round` of a consensus message as altlayer-staking's [`SignedVote`] counts it:
/// `round x 4 + kind`, so an equivocation is two different subjects for one (height, round,
/// kind).
pub const fn slot(round: u32, kind: VoteKind) -> u64 {
    (round as u64) * 4 + kind.tag()
}

/// A signed consensus vote (`block` is `None` for nil).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// Prevote or precommit.
    pub kind: VoteKind,
    /// Height.
    pub height: u64,
    /// Round.
    pub round: u32,
    /// The block voted for, or nil.
    pub block: Option<B256>,
    /// The voter.
    pub signer: Address,
    /// Its signature on [`Vote::digest`].
    pub signature: Signature,
}

/// A leader's signed proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The block.
    pub block: SquadBlock,
    /// Round.
    pub round: u32,
    /// The round in which the block got a prevote certificate, when re-proposed.
    pub valid_round: Option<u32>,
    /// That prevote certificate, so peers that missed the prevotes can accept the block.
    pub polka: Option<QuorumCertificate>,
    /// The leader.
    pub proposer: Address,
    /// Its signature on the proposal digest (the block hash in the proposal slot).
    pub signature: Signature,
}

/// A committed block with its commit certificate: how nodes that fell behind catch up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The block.
    pub block: SquadBlock,
    /// The round it was committed in.
    pub round: u32,
    /// More than two thirds of the stake precommitting it.
    pub certificate: QuorumCertificate,
}

/// A message between sequencers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A proposal.
    Proposal(Box<Proposal>),
    /// A vote.
    Vote(Vote),
    /// A committed block, for a node behind.
    Decision(Box<Decision>),
    /// "Send me the decisions from this height on."
    SyncRequest {
        /// First height wanted.
        from: u64,
    },
    /// A transaction, gossiped.
    Transaction(Bytes),
}

impl Message {
    /// The height the message is about, if it is a consensus message.
    pub const fn height(&self) -> Option<u64> {
        match self {
            Self::Proposal(p) => Some(p.block.height),
            Self::Vote(v) => Some(v.height),
            Self::Decision(d) => Some(d.block.height),
            Self::SyncRequest { .. } | Self::Transaction(_) => None,
        }
    }
}

/// Which timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TimeoutKind {
    /// No proposal in time.
    Propose,
    /// No prevote certificate for one value in time.
    Prevote,
    /// No commit in time.
    Precommit,
    /// The leader's pause between a commit and its proposal for the next height.
    BlockInterval,
}

/// A timer the driver must fire back as [`Input::Timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timer {
    /// Height.
    pub height: u64,
    /// Round.
    pub round: u32,
    /// Which.
    pub kind: TimeoutKind,
}

/// What goes into a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A message from a peer.
    Message {
        /// The sender (transport-authenticated; consensus messages are also signed).
        from: Address,
        /// The message.
        message: Message,
    },
    /// A timer set earlier expired.
    Timeout(Timer),
    /// A transaction submitted to this node.
    Transaction(Bytes),
}

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every other sequencer.
    All,
    /// One peer.
    One(Address),
}

/// What comes out of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send a message.
    Send {
        /// To whom.
        to: Target,
        /// What.
        message: Message,
    },
    /// Fire [`Input::Timeout`] with `timer` after `after_ms`.
    SetTimer {
        /// The timer.
        timer: Timer,
        /// Delay.
        after_ms: u64,
    },
    /// More than two thirds of the stake prevoted the block: soft-confirmed.
    SoftConfirmed {
        /// Height.
        height: u64,
        /// The block.
        block: B256,
        /// The prevote certificate.
        certificate: QuorumCertificate,
    },
    /// The block is committed: final for the sequencer set.
    Committed(Box<Decision>),
    /// A sequencer signed two different messages for one slot.
    Evidence(Box<Evidence>),
    /// The next height is in an epoch whose roster the node lacks: read it from staking at
    /// `snapshot` and hand it to [`SquadNode::add_roster`]; the node waits until then.
    NeedRoster {
        /// The epoch.
        epoch: u64,
        /// Where its weights come from.
        snapshot: StakeSnapshot,
    },
    /// A transaction was refused.
    Rejected {
        /// Its hash (keccak of the bytes).
        hash: B256,
        /// Why.
        reason: mempool::PoolError,
    },
}

/// How much cryptography a node does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CryptoMode {
    /// Sign every message and verify every certificate (production).
    #[default]
    Full,
    /// Neither sign nor verify; messages carry a fixed placeholder signature. **Insecure**:
    /// only for simulations and benchmarks that measure the protocol without its
    /// cryptography. A node in this mode trusts every message.
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
    /// Committed chain.
    pub chain: Vec<Decision>,
    /// Every message this node signed at the current height: (round, kind) -> what.
    #[serde(with = "altlayer_core::serde_pairs")]
    pub signed: BTreeMap<(u32, VoteKind), Message>,
}

/// Votes of one (round, kind), tallied by value.
#[derive(Clone, Debug, Default)]
struct RoundVotes {
    /// Signer -> (value, signature), first vote only.
    by_signer: BTreeMap<Address, (Option<B256>, Signature)>,
    by_value: BTreeMap<Option<B256>, Tally>,
    /// Stake that voted anything.
    any: U256,
}

#[derive(Clone, Debug, Default)]
struct Tally {
    signers: Vec<usize>,
    stake: U256,
    sum: G1Projective,
    /// The latest verified subset: what certificates are made of. Votes arriving after it
    /// need no verification unless the subset falls short of a threshold.
    verified: Option<Verified>,
}

#[derive(Clone, Debug)]
struct Verified {
    signers: Vec<usize>,
    stake: U256,
    signature: Signature,
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
    /// Rounds whose "first time" rules already fired: (round, rule).
    fired: BTreeSet<(u32, u8)>,
    /// Peers asked to sync at a height.
    asked: BTreeSet<(Address, u64)>,
    pool: mempool::Mempool,
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

    /// The committed chain.
    pub fn chain(&self) -> &[Decision] {
        &self.state.chain
    }

    /// Current height.
    pub const fn height(&self) -> u64 {
        self.state.height
    }

    /// Current round.
    pub const fn round(&self) -> u32 {
        self.state.round
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
            Input::Timeout(timer) => self.on_timeout(timer, now_ms, &mut out),
            Input::Message { from, message } => self.on_message(from, message, now_ms, &mut out),
        }
        out
    }

    // ---- leader selection ----

    /// The leader of `round` at the current height: drawn by stake with
    /// `keccak(seed || height || round)`, where the seed is the previous block's commit
    /// certificate (the genesis hash at first).
    pub fn leader(&self, round: u32) -> Address {
        let seed = match self.state.chain.last() {
            Some(decision) => match &decision.block.last_commit {
                Some((_, qc)) => qc.hash(),
                None => decision.block.hash(),
            },
            None => self.config.genesis,
        };
        leader(&self.roster, seed, self.state.height, round)
    }

    // ---- thresholds ----

    fn quorum(&self, stake: U256) -> bool {
        Threshold::MORE_THAN_TWO_THIRDS.is_met(stake, self.roster.total())
    }

    fn one_third(&self, stake: U256) -> bool {
        Threshold::MORE_THAN_ONE_THIRD.is_met(stake, self.roster.total())
    }

    // ---- signing ----

    /// The digest a consensus message signs: [`SignedVote::signing_hash`] of the SQUAD set at
    /// `height` and [`slot`]`(round, kind)`, over the block hash (zero for nil).
    pub fn vote_digest(
        &self,
        height: u64,
        round: u32,
        kind: VoteKind,
        block: Option<B256>,
    ) -> B256 {
        SignedVote::signing_hash(
            squad_set(self.config.rollup),
            self.config.chain_id,
            height,
            slot(round, kind),
            block.unwrap_or_default(),
        )
    }

    fn sign(&self, digest: &B256) -> Signature {
        match self.config.crypto {
            CryptoMode::Full => self.key.sign(digest),
            CryptoMode::Unchecked => placeholder_signature(),
        }
    }

    fn timeout_ms(&self, kind: TimeoutKind, round: u32) -> u64 {
        let base = match kind {
            TimeoutKind::Propose => self.config.timeout_propose_ms,
            TimeoutKind::Prevote | TimeoutKind::Precommit => self.config.timeout_vote_ms,
            TimeoutKind::BlockInterval => return self.config.block_interval_ms,
        };
        base.saturating_add(
            self.config
                .timeout_delta_ms
                .saturating_mul(u64::from(round)),
        )
    }

    fn timer(&self, kind: TimeoutKind) -> Output {
        Output::SetTimer {
            timer: Timer {
                height: self.state.height,
                round: self.state.round,
                kind,
            },
            after_ms: self.timeout_ms(kind, self.state.round),
        }
    }

    // ---- the protocol ----

    fn start_round(&mut self, round: u32, now_ms: u64, out: &mut Vec<Output>) {
        self.state.round = round;
        self.state.step = Step::Propose;
        let pause = if round == 0 {
            self.config.block_interval_ms
        } else {
            0
        };
        if pause == 0 {
            self.propose(now_ms, out);
        } else if self.leader(round) == self.address {
            out.push(Output::SetTimer {
                timer: Timer {
                    height: self.state.height,
                    round,
                    kind: TimeoutKind::BlockInterval,
                },
                after_ms: pause,
            });
        }
        out.push(Output::SetTimer {
            timer: Timer {
                height: self.state.height,
                round,
                kind: TimeoutKind::Propose,
            },
            after_ms: self.timeout_ms(TimeoutKind::Propose, round) + pause,
        });
        // Votes of this round that arrived early may already decide something.
        self.check_rules(now_ms, out);
    }

    /// Proposes for the current round if this node leads it and has not proposed yet: the
    /// block it saw certified (with the certificate), or a new one from the pool.
    fn propose(&mut self, now_ms: u64, out: &mut Vec<Output>) {
        let round = self.state.round;
        if self.leader(round) != self.address
            || self.state.signed.contains_key(&(round, VoteKind::Proposal))
        {
            return;
        }
        let (block, valid_round, polka) = match &self.state.valid {
            Some((r, block, qc)) => (block.clone(), Some(*r), Some(qc.clone())),
            None => (self.new_block(now_ms), None, None),
        };
        let hash = block.hash();
        let proposal = Proposal {
            signature: self.sign(&self.vote_digest(
                block.height,
                round,
                VoteKind::Proposal,
                Some(hash),
            )),
            block,
            round,
            valid_round,
            polka,
            proposer: self.address,
        };
        let message = Message::Proposal(Box::new(proposal.clone()));
        self.state
            .signed
            .insert((round, VoteKind::Proposal), message.clone());
        out.push(Output::Send {
            to: Target::All,
            message,
        });
        self.on_proposal(proposal, now_ms, out);
    }

    fn new_block(&self, now_ms: u64) -> SquadBlock {
        let (parent, parent_time, last_commit) = match self.state.chain.last() {
            Some(d) => (
                d.block.hash(),
                d.block.payload.timestamp,
                Some((d.round, d.certificate.clone())),
            ),
            None => (self.config.genesis, 0, None),
        };
        SquadBlock {
            height: self.state.height,
            parent,
            payload: Payload {
                timestamp: (now_ms / 1_000).max(parent_time),
                transactions: self.pool.select(self.config.max_block_transactions),
            },
            last_commit,
        }
    }

    /// Checks a block proposed at the current height: it extends the committed chain, its
    /// timestamp does not go back, and it carries the parent's commit certificate.
    fn valid(&self, block: &SquadBlock) -> bool {
        if block.height != self.state.height {
            return false;
        }
        match self.state.chain.last() {
            None => block.parent == self.config.genesis && block.last_commit.is_none(),
            Some(parent) => {
                block.parent == parent.block.hash()
                    && block.payload.timestamp >= parent.block.payload.timestamp
                    && block.last_commit.as_ref().is_some_and(|(round, qc)| {
                        qc.digest
                            == self.vote_digest(
                                parent.block.height,
                                *round,
                                VoteKind::Precommit,
                                Some(parent.block.hash()),
                            )
                            && self.check_certificate_with(qc, &self.parent_roster)
                    })
                    && block.payload.transactions.len() <= self.config.max_block_transactions
            }
        }
    }

    fn check_certificate(&self, qc: &QuorumCertificate) -> bool {
        self.check_certificate_with(qc, &self.roster)
    }

    fn check_certificate_with(&self, qc: &QuorumCertificate, roster: &Roster) -> bool {
        match self.config.crypto {
            CryptoMode::Full => {
                let hash = qc.hash();
                if self.checked.borrow().contains(&hash) {
                    return true;
                }
                let ok = qc.verify(roster, Threshold::MORE_THAN_TWO_THIRDS).is_ok();
                if ok {
                    let mut checked = self.checked.borrow_mut();
                    if checked.len() >= 64 {
                        checked.clear();
                    }
                    checked.insert(hash);
                }
                ok
            }
            CryptoMode::Unchecked => roster
                .signed_stake(&qc.signers)
                .is_ok_and(|stake| Threshold::MORE_THAN_TWO_THIRDS.is_met(stake, roster.total())),
        }
    }

    fn vote(&mut self, kind: VoteKind, block: Option<B256>, now_ms: u64, out: &mut Vec<Output>) {
        let round = self.state.round;
        if self.state.signed.contains_key(&(round, kind)) || !self.is_member() {
            return;
        }
        let height = self.state.height;
        let vote = Vote {
            kind,
            height,
            round,
            block,
            signer: self.address,
            signature: self.sign(&self.vote_digest(height, round, kind, block)),
        };
        let message = Message::Vote(vote.clone());
        self.state.signed.insert((round, kind), message.clone());
        out.push(Output::Send {
            to: Target::All,
            message,
        });
        // A timer on entering each step (not only once more than two thirds voted, as in the
        // paper): with messages lost rather than re-gossiped, a node must not wait forever for
        // votes that will not come. Moving on to a later round is always safe.
        out.push(self.timer(match kind {
            VoteKind::Precommit => TimeoutKind::Precommit,
            _ => TimeoutKind::Prevote,
        }));
        self.add_vote(vote, out);
        self.check_rules(now_ms, out);
    }

    /// Peers a first-seen message is relayed to: the next `relay_fanout` sequencers after
    /// this one in roster order, so conflicting messages sent to different peers meet
    /// somewhere, at a cost linear in the set's size.
    fn relay(&self, message: &Message, skip: &[Address], out: &mut Vec<Output>) {
        let entries = self.roster.entries();
        let Some(me) = self.roster.index_of(&self.address) else {
            return;
        };
        let mut sent = 0;
        for step in 1..entries.len() {
            if sent == self.config.relay_fanout {
                break;
            }
            let peer = entries[(me + step) % entries.len()].operator;
            if skip.contains(&peer) {
                continue;
            }
            out.push(Output::Send {
                to: Target::One(peer),
                message: message.clone(),
            });
            sent += 1;
        }
    }

    fn on_message(&mut self, from: Address, message: Message, now_ms: u64, out: &mut Vec<Output>) {
        match message {
            Message::Transaction(bytes) => {
                self.on_transaction(bytes, false, out);
                return;
            }
            Message::SyncRequest { from: height } => {
                let end = height.saturating_add(SYNC_BATCH);
                for decision in &self.state.chain {
                    if (height..end).contains(&decision.block.height) {
                        out.push(Output::Send {
                            to: Target::One(from),
                            message: Message::Decision(Box::new(decision.clone())),
                        });
                    }
                }
                return;
            }
            _ => {}
        }
        let Some(height) = message.height() else {
            return;
        };
        if height < self.state.height {
            // A peer behind: help it catch up with the decision it is working on.
            let index = usize::try_from(height.saturating_sub(1)).unwrap_or(usize::MAX);
            if let Some(decision) = self.state.chain.get(index).filter(|_| height > 0)
                && !matches!(message, Message::Decision(_))
            {
                out.push(Output::Send {
                    to: Target::One(from),
                    message: Message::Decision(Box::new(decision.clone())),
                });
            }
            return;
        }
        if height > self.state.height || (self.waiting && height == self.state.height) {
            let buffered: usize = self.future.values().map(Vec::len).sum();
            if buffered < FUTURE_LIMIT {
                self.future.entry(height).or_default().push((from, message));
            }
            if height > self.state.height && self.asked.insert((from, self.state.height)) {
                out.push(Output::Send {
                    to: Target::One(from),
                    message: Message::SyncRequest {
                        from: self.state.height,
                    },
                });
            }
            return;
        }
        // Rounds far ahead are not kept: a byzantine sequencer must not grow this node's
        // memory with votes for millions of rounds. Honest ones resend when the round comes.
        let round = match &message {
            Message::Proposal(p) => Some(p.round),
            Message::Vote(v) => Some(v.round),
            _ => None,
        };
        if round.is_some_and(|r| r > self.state.round.saturating_add(MAX_ROUNDS_AHEAD)) {
            return;
        }
        match message {
            Message::Proposal(proposal) => {
                if self.roster.index_of(&proposal.proposer).is_some() {
                    let round = proposal.round;
                    let relay = Message::Proposal(proposal.clone());
                    let skip = [from, proposal.proposer];
                    let known = self.proposals.contains_key(&round);
                    self.on_proposal(*proposal, now_ms, out);
                    if !known && self.proposals.contains_key(&round) {
                        self.relay(&relay, &skip, out);
                    }
                }
            }
            Message::Vote(vote) => {
                if self.roster.index_of(&vote.signer).is_none() {
                    return;
                }
                // A vote relayed by someone else is checked on its own (a relayer must not be
                // able to put words in an honest sequencer's mouth), unless it is one already
                // counted.
                let known = self
                    .votes
                    .get(&(vote.round, vote.kind))
                    .and_then(|v| v.by_signer.get(&vote.signer))
                    .is_some_and(|(block, _)| *block == vote.block);
                if known {
                    return;
                }
                if from != vote.signer {
                    let digest = self.vote_digest(vote.height, vote.round, vote.kind, vote.block);
                    if !self.signature_ok(&vote.signer, &digest, &vote.signature) {
                        return;
                    }
                }
                let relay = Message::Vote(vote.clone());
                let skip = [from, vote.signer];
                if self.add_vote(vote, out) {
                    self.relay(&relay, &skip, out);
                }
                self.check_rules(now_ms, out);
            }
            Message::Decision(decision) => self.on_decision(*decision, now_ms, out),
            Message::SyncRequest { .. } | Message::Transaction(_) => {}
        }
    }

    fn on_transaction(&mut self, bytes: Bytes, gossip: bool, out: &mut Vec<Output>) {
        match self.pool.insert(bytes.clone()) {
            Ok(_) => {
                if gossip {
                    out.push(Output::Send {
                        to: Target::All,
                        message: Message::Transaction(bytes),
                    });
                }
            }
            Err(mempool::PoolError::Duplicate(_)) if !gossip => {}
            Err(reason) => out.push(Output::Rejected {
                hash: keccak256(&bytes),
                reason,
            }),
        }
    }

    fn on_proposal(&mut self, proposal: Proposal, now_ms: u64, out: &mut Vec<Output>) {
        let round = proposal.round;
        if proposal.proposer != self.leader(round) {
            return;
        }
        let hash = proposal.block.hash();
        let digest = self.vote_digest(proposal.block.height, round, VoteKind::Proposal, Some(hash));
        if let Some(existing) = self.proposals.get(&round) {
            if existing.block.hash() != hash
                && self.signature_ok(&proposal.proposer, &digest, &proposal.signature)
            {
                let first = existing.clone();
                self.equivocation(
                    proposal.proposer,
                    round,
                    VoteKind::Proposal,
                    (Some(first.block.hash()), first.signature),
                    (Some(hash), proposal.signature),
                    out,
                );
            }
            return;
        }
        if !self.signature_ok(&proposal.proposer, &digest, &proposal.signature) {
            return;
        }
        self.proposals.insert(round, proposal);
        self.check_rules(now_ms, out);
    }

    fn signature_ok(&self, signer: &Address, digest: &B256, signature: &Signature) -> bool {
        match self.config.crypto {
            CryptoMode::Unchecked => true,
            CryptoMode::Full => self
                .roster
                .index_of(signer)
                .and_then(|i| self.roster.entries()[i].key)
                .is_some_and(|key| bls::verify(&key, digest, signature)),
        }
    }

    /// Tallies a vote; `true` if it is the signer's first in its slot (worth relaying).
    fn add_vote(&mut self, vote: Vote, out: &mut Vec<Output>) -> bool {
        if vote.height != self.state.height || self.excluded.contains(&vote.signer) {
            return false;
        }
        let Some(index) = self.roster.index_of(&vote.signer) else {
            return false;
        };
        let stake = self.roster.entries()[index].stake;
        let votes = self.votes.entry((vote.round, vote.kind)).or_default();
        if let Some((first, first_signature)) = votes.by_signer.get(&vote.signer).cloned() {
            if first != vote.block {
                let digest = self.vote_digest(vote.height, vote.round, vote.kind, vote.block);
                let first_digest = self.vote_digest(vote.height, vote.round, vote.kind, first);
                if self.signature_ok(&vote.signer, &digest, &vote.signature)
                    && self.signature_ok(&vote.signer, &first_digest, &first_signature)
                {
                    self.equivocation(
                        vote.signer,
                        vote.round,
                        vote.kind,
                        (first, first_signature),
                        (vote.block, vote.signature),
                        out,
                    );
                }
            }
            return false;
        }
        votes
            .by_signer
            .insert(vote.signer, (vote.block, vote.signature));
        votes.any += stake;
        let tally = votes.by_value.entry(vote.block).or_default();
        tally.signers.push(index);
        tally.stake += stake;
        tally.sum += vote.signature.point();
        true
    }

    fn equivocation(
        &mut self,
        signer: Address,
        round: u32,
        kind: VoteKind,
        first: (Option<B256>, Signature),
        second: (Option<B256>, Signature),
        out: &mut Vec<Output>,
    ) {
        let vote = |(block, signature): (Option<B256>, Signature)| SignedVote {
            height: self.state.height,
            round: slot(round, kind),
            digest: block.unwrap_or_default(),
            signature: VoteSignature::Bls { signer, signature },
        };
        out.push(Output::Evidence(Box::new(Evidence::Equivocation {
            set: squad_set(self.config.rollup),
            first: vote(first),
            second: vote(second),
        })));
    }

    /// Stake of the votes for `value` in (round, kind), after verifying their aggregate (and
    /// dropping bad signatures) if the unverified tally reaches `enough`.
    /// The votes for `value` in (round, kind) at this height.
    fn tally(&self, round: u32, kind: VoteKind, value: Option<B256>) -> Option<&Tally> {
        self.votes.get(&(round, kind))?.by_value.get(&value)
    }

    fn verified_stake(
        &mut self,
        round: u32,
        kind: VoteKind,
        value: Option<B256>,
        enough: fn(&Self, U256) -> bool,
    ) -> U256 {
        let Some(tally) = self.tally(round, kind, value).cloned() else {
            return U256::ZERO;
        };
        if self.config.crypto == CryptoMode::Unchecked || !enough(self, tally.stake) {
            return tally.stake;
        }
        if let Some(verified) = &tally.verified
            && enough(self, verified.stake)
        {
            return verified.stake;
        }
        let digest = self.vote_digest(self.state.height, round, kind, value);
        let point = bls::hash_to_g1(&digest);
        // Verify the aggregate; on failure find the bad signatures by bisection, drop them,
        // and verify what is left, until it verifies (each pass drops at least one signer).
        loop {
            let Some(tally) = self.tally(round, kind, value).cloned() else {
                return U256::ZERO;
            };
            if tally.signers.is_empty() {
                return U256::ZERO;
            }
            let mut bitmap = SignerBitmap::new(self.roster.len());
            for i in &tally.signers {
                bitmap.set(*i);
            }
            let signature = Signature::from_trusted_sum(tally.sum.into_affine());
            let ok = match (self.roster.aggregate_key(&bitmap), signature) {
                (Ok(key), Ok(signature)) => {
                    bls::verify_point(&key, &point, &signature).then_some(signature)
                }
                _ => None,
            };
            if let Some(signature) = ok {
                if let Some(t) = self
                    .votes
                    .get_mut(&(round, kind))
                    .and_then(|v| v.by_value.get_mut(&value))
                {
                    t.verified = Some(Verified {
                        signers: tally.signers.clone(),
                        stake: tally.stake,
                        signature,
                    });
                }
                return tally.stake;
            }
            let Some(votes) = self.votes.get(&(round, kind)) else {
                return U256::ZERO;
            };
            let signatures: BTreeMap<Address, Signature> = votes
                .by_signer
                .iter()
                .filter(|(_, (v, _))| *v == value)
                .map(|(a, (_, s))| (*a, *s))
                .collect();
            let mut bad = BTreeSet::new();
            find_bad(&self.roster, &point, &signatures, &tally.signers, &mut bad);
            if bad.is_empty() {
                return U256::ZERO;
            }
            let Some(votes) = self.votes.get_mut(&(round, kind)) else {
                return U256::ZERO;
            };
            for signer in &bad {
                if let (Some((_, signature)), Some(i)) =
                    (votes.by_signer.remove(signer), self.roster.index_of(signer))
                {
                    let stake = self.roster.entries()[i].stake;
                    votes.any -= stake;
                    if let Some(tally) = votes.by_value.get_mut(&value) {
                        tally.signers.retain(|s| *s != i);
                        tally.stake -= stake;
                        tally.sum -= signature.point();
                        tally.verified = None;
                    }
                }
            }
            self.excluded.extend(bad);
        }
    }

    fn certificate(
        &self,
        round: u32,
        kind: VoteKind,
        value: Option<B256>,
    ) -> Option<QuorumCertificate> {
        let tally = self.tally(round, kind, value)?;
        let (members, signature) = match self.config.crypto {
            CryptoMode::Full => {
                let verified = tally.verified.as_ref()?;
                (&verified.signers, verified.signature)
            }
            CryptoMode::Unchecked => (&tally.signers, placeholder_signature()),
        };
        let mut signers = SignerBitmap::new(self.roster.len());
        for i in members {
            signers.set(*i);
        }
        Some(QuorumCertificate {
            digest: self.vote_digest(self.state.height, round, kind, value),
            snapshot: self.roster.snapshot(),
            signers,
            signature,
        })
    }

    /// Applies every rule of the algorithm whose condition now holds.
    fn check_rules(&mut self, now_ms: u64, out: &mut Vec<Output>) {
        // A commit in any round ends the height.
        let rounds: Vec<u32> = self.proposals.keys().copied().collect();
        for round in rounds {
            let Some(proposal) = self.proposals.get(&round) else {
                continue;
            };
            let hash = proposal.block.hash();
            let block = proposal.block.clone();
            let precommitted =
                self.verified_stake(round, VoteKind::Precommit, Some(hash), Self::quorum_fn);
            if self.quorum(precommitted)
                && self.valid(&block)
                && let Some(certificate) = self.certificate(round, VoteKind::Precommit, Some(hash))
            {
                self.commit(
                    Decision {
                        block,
                        round,
                        certificate,
                    },
                    now_ms,
                    out,
                );
                return;
            }
        }

        let round = self.state.round;
        // Skip ahead when more than a third of the stake is in a later round.
        let later: Vec<u32> = self
            .votes
            .keys()
            .map(|(r, _)| *r)
            .filter(|r| *r > round)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for r in later.into_iter().rev() {
            let mut stake = U256::ZERO;
            let mut voters = BTreeSet::new();
            for kind in [VoteKind::Prevote, VoteKind::Precommit] {
                if let Some(v) = self.votes.get(&(r, kind)) {
                    for signer in v.by_signer.keys() {
                        if voters.insert(*signer)
                            && let Some(i) = self.roster.index_of(signer)
                        {
                            stake += self.roster.entries()[i].stake;
                        }
                    }
                }
            }
            if self.one_third(stake) {
                self.start_round(r, now_ms, out);
                return;
            }
        }

        // Propose step: prevote on the round's proposal.
        if self.state.step == Step::Propose
            && let Some(proposal) = self.proposals.get(&round).cloned()
        {
            let hash = proposal.block.hash();
            // A new block must not claim a time further ahead of this node's clock than the
            // allowed drift (a decided or certified block is judged without the clock).
            let timely = proposal.block.payload.timestamp.saturating_mul(1_000)
                <= now_ms.saturating_add(self.config.max_clock_drift_ms);
            let decision = match proposal.valid_round {
                None => Some(
                    timely
                        && self.valid(&proposal.block)
                        && self
                            .state
                            .locked
                            .as_ref()
                            .is_none_or(|(_, b)| b.hash() == hash),
                ),
                Some(vr) if vr < round => {
                    let polka =
                        self.verified_stake(vr, VoteKind::Prevote, Some(hash), Self::quorum_fn);
                    // The prevotes counted here, or the certificate the leader attached.
                    let certified = proposal.polka.as_ref().is_some_and(|qc| {
                        qc.digest
                            == self.vote_digest(
                                self.state.height,
                                vr,
                                VoteKind::Prevote,
                                Some(hash),
                            )
                            && self.check_certificate(qc)
                    });
                    if self.quorum(polka) || certified {
                        Some(
                            self.valid(&proposal.block)
                                && self
                                    .state
                                    .locked
                                    .as_ref()
                                    .is_none_or(|(lr, b)| *lr <= vr || b.hash() == hash),
                        )
                    } else {
                        None
                    }
                }
                Some(_) => Some(false),
            };
            if let Some(accept) = decision {
                self.state.step = Step::Prevote;
                self.vote(VoteKind::Prevote, accept.then_some(hash), now_ms, out);
                return;
            }
        }

        // A prevote certificate for the round's proposal: lock (if at prevote) and precommit.
        if let Some(proposal) = self.proposals.get(&round).cloned() {
            let hash = proposal.block.hash();
            if self.state.step != Step::Propose
                && !self.fired.contains(&(round, 1))
                && {
                    let stake =
                        self.verified_stake(round, VoteKind::Prevote, Some(hash), Self::quorum_fn);
                    self.quorum(stake)
                }
                && self.valid(&proposal.block)
            {
                self.fired.insert((round, 1));
                let Some(certificate) = self.certificate(round, VoteKind::Prevote, Some(hash))
                else {
                    return;
                };
                out.push(Output::SoftConfirmed {
                    height: self.state.height,
                    block: hash,
                    certificate: certificate.clone(),
                });
                self.state.valid = Some((round, proposal.block.clone(), certificate));
                if self.state.step == Step::Prevote {
                    self.state.locked = Some((round, proposal.block));
                    self.state.step = Step::Precommit;
                    self.vote(VoteKind::Precommit, Some(hash), now_ms, out);
                    return;
                }
            }
        }

        if self.state.step == Step::Prevote {
            // More than two thirds prevoted nil: precommit nil.
            let nil = self.verified_stake(round, VoteKind::Prevote, None, Self::quorum_fn);
            if self.quorum(nil) {
                self.state.step = Step::Precommit;
                self.vote(VoteKind::Precommit, None, now_ms, out);
                return;
            }
            // More than two thirds prevoted anything: start the prevote timer once.
            let any = self
                .votes
                .get(&(round, VoteKind::Prevote))
                .map_or(U256::ZERO, |v| v.any);
            if self.quorum(any) && self.fired.insert((round, 2)) {
                out.push(self.timer(TimeoutKind::Prevote));
            }
        }
        // More than two thirds precommitted anything: start the precommit timer once.
        let any = self
            .votes
            .get(&(round, VoteKind::Precommit))
            .map_or(U256::ZERO, |v| v.any);
        if self.quorum(any) && self.fired.insert((round, 3)) {
            out.push(self.timer(TimeoutKind::Precommit));
        }
    }

    fn quorum_fn(&self, stake: U256) -> bool {
        self.quorum(stake)
    }

    fn on_timeout(&mut self, timer: Timer, now_ms: u64, out: &mut Vec<Output>) {
        if timer.height != self.state.height || timer.round != self.state.round {
            return;
        }
        match (timer.kind, self.state.step) {
            (TimeoutKind::Propose, Step::Propose) => {
                self.state.step = Step::Prevote;
                self.vote(VoteKind::Prevote, None, now_ms, out);
            }
            (TimeoutKind::Prevote, Step::Prevote) => {
                self.state.step = Step::Precommit;
                self.vote(VoteKind::Precommit, None, now_ms, out);
            }
            (TimeoutKind::Precommit, _) => {
                let next = self.state.round.saturating_add(1);
                self.start_round(next, now_ms, out);
            }
            (TimeoutKind::BlockInterval, Step::Propose) => self.propose(now_ms, out),
            _ => {}
        }
    }

    fn on_decision(&mut self, decision: Decision, now_ms: u64, out: &mut Vec<Output>) {
        let hash = decision.block.hash();
        let expected = self.vote_digest(
            decision.block.height,
            decision.round,
            VoteKind::Precommit,
            Some(hash),
        );
        if decision.certificate.digest == expected
            && self.check_certificate(&decision.certificate)
            && self.valid(&decision.block)
        {
            self.commit(decision, now_ms, out);
        }
    }

    fn commit(&mut self, decision: Decision, now_ms: u64, out: &mut Vec<Output>) {
        let committed: Vec<B256> = decision
            .block
            .payload
            .transactions
            .iter()
            .map(keccak256)
            .collect();
        self.pool.remove(&committed);
        self.state.chain.push(decision.clone());
        out.push(Output::Committed(Box::new(decision)));
        self.state.height += 1;
        self.state.locked = None;
        self.state.valid = None;
        self.state.signed.clear();
        self.votes.clear();
        self.proposals.clear();
        self.excluded.clear();
        self.fired.clear();
        let epoch = epoch_of(self.state.height, self.config.epoch_length);
        self.parent_roster = self.roster.clone();
        match self.rosters.get(&epoch) {
            Some(roster) => {
                self.roster = roster.clone();
                self.enter_height(now_ms, out);
            }
            None => {
                self.waiting = true;
                out.push(Output::NeedRoster {
                    epoch,
                    snapshot: epoch_snapshot(
                        self.config.rollup,
                        self.state.height,
                        self.config.epoch_length,
                    ),
                });
            }
        }
        // Rosters of past epochs are no longer needed.
        self.rosters.retain(|e, _| *e >= epoch);
    }

    /// Starts the current height with its epoch's roster, and replays what arrived early.
    fn enter_height(&mut self, now_ms: u64, out: &mut Vec<Output>) {
        if let Some(roster) = self
            .rosters
            .get(&epoch_of(self.state.height, self.config.epoch_length))
        {
            self.roster = roster.clone();
        }
        self.waiting = false;
        self.start_round(0, now_ms, out);
        if let Some(early) = self.future.remove(&self.state.height) {
            for (from, message) in early {
                self.on_message(from, message, now_ms, out);
            }
        }
        let height = self.state.height;
        self.future.retain(|h, _| *h > height);
    }
}

/// A development sequencer set for `rollup`: `n` keys derived from their index, addresses
/// derived from the keys, equal stake, as the SQUAD roster at height 0. For devnets,
/// benchmarks and tests; a real set comes from staking ([`Roster::from_ledger`]).
pub fn dev_set(n: usize, rollup: RollupId) -> Result<DevSet, bls::BlsError> {
    let keys: Vec<SecretKey> = (0..n as u64)
        .map(|i| {
            SecretKey::from_seed(&[b"altlayer/squad/dev".as_slice(), &i.to_be_bytes()].concat())
        })
        .collect::<Result<_, _>>()?;
    let peers: Vec<Address> = keys
        .iter()
        .map(|k| Address::from_slice(&keccak256(k.public_key_g1().to_bytes())[12..]))
        .collect();
    let roster = Roster::new(
        StakeSnapshot::new(squad_set(rollup), 0),
        keys.iter()
            .zip(&peers)
            .map(|(k, a)| crate::qc::RosterEntry {
                operator: *a,
                stake: U256::from(1),
                key: Some(k.public_key_g2()),
            })
            .collect(),
    );
    Ok(DevSet {
        keys,
        peers,
        roster: Arc::new(roster),
    })
}

/// What [`dev_set`] makes.
#[derive(Clone, Debug)]
pub struct DevSet {
    /// The sequencers' keys.
    pub keys: Vec<SecretKey>,
    /// Their addresses, in the same order.
    pub peers: Vec<Address>,
    /// The roster.
    pub roster: Arc<Roster>,
}

/// A roster a SQUAD node accepts: the rollup's SQUAD set, with at least
/// [`MIN_SEQUENCERS`] staked sequencers.
fn check_roster(roster: &Roster, rollup: RollupId) -> Result<(), SquadError> {
    if roster.snapshot().set != squad_set(rollup) {
        return Err(SquadError::WrongRoster(rollup));
    }
    let staked = roster
        .entries()
        .iter()
        .filter(|e| !e.stake.is_zero())
        .count();
    if staked < MIN_SEQUENCERS {
        return Err(SquadError::TooFewSequencers(staked));
    }
    Ok(())
}

/// The leader of `(height, round)`: the operator whose cumulative stake interval (address
/// order) contains `keccak(seed || height || round) mod total`.
pub fn leader(roster: &Roster, seed: B256, height: u64, round: u32) -> Address {
    let mut buf = [0u8; 32 + 8 + 4];
    buf[..32].copy_from_slice(seed.as_slice());
    buf[32..40].copy_from_slice(&height.to_be_bytes());
    buf[40..].copy_from_slice(&round.to_be_bytes());
    let total = roster.total();
    if total.is_zero() {
        return Address::ZERO;
    }
    let mut ticket = U256::from_be_bytes(keccak256(buf).0) % total;
    for entry in roster.entries() {
        if ticket < entry.stake {
            return entry.operator;
        }
        ticket -= entry.stake;
    }
    Address::ZERO
}

/// The fixed signature of [`CryptoMode::Unchecked`]: the G1 generator.
fn placeholder_signature() -> Signature {
    use ark_ec::AffineRepr;
    Signature::from_trusted_sum(ark_bn254::G1Affine::generator())
        .unwrap_or_else(|_| Signature::aggregate(&[]))
}

/// The epoch of `height` (heights start at 1): `(height - 1) / epoch_length`, or 0 with a
/// single epoch.
pub const fn epoch_of(height: u64, epoch_length: u64) -> u64 {
    match height.saturating_sub(1).checked_div(epoch_length) {
        Some(epoch) => epoch,
        None => 0,
    }
}

/// The snapshot a SQUAD set's roster is read at for the epoch of `height`: the staking
/// checkpoint at the height before the epoch's first block.
pub const fn epoch_snapshot(rollup: RollupId, height: u64, epoch_length: u64) -> StakeSnapshot {
    StakeSnapshot::new(
        squad_set(rollup),
        epoch_of(height, epoch_length) * epoch_length,
    )
}
