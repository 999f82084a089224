//! What SQUAD sequencers exchange and what a node takes in and puts out: payloads and
//! blocks, signed proposals and votes, decisions, timers, inputs and outputs.

use super::*;

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
    /// Its signature on [`SquadNode::vote_digest`] of the vote's slot and block.
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
    /// A transaction submitted to this node whose sender its RPC already recovered (it is
    /// not recovered again).
    Recovered(Box<Recovered<TxEnvelope>>),
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
