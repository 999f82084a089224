//! What block building and execution take and give: attributes, options, outcomes and
//! errors.

use super::*;

/// What the sequencer chooses for a new block; everything else follows from the parent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockAttributes {
    /// Unix timestamp in seconds; not before the parent's.
    pub timestamp: u64,
    /// The sequencer building the block, which receives priority fees.
    pub sequencer: Address,
    /// DA position the block builds on.
    pub da_ref: DaRef,
}

/// Options for executing a block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecuteOptions {
    /// Return the state root after each transaction (VITAL bisects over them).
    pub intermediate_roots: bool,
}

impl ExecuteOptions {
    /// Options that ask for the state root after each transaction.
    pub const fn with_intermediate_roots() -> Self {
        Self {
            intermediate_roots: true,
        }
    }
}

/// A transaction the block builder left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedTx {
    /// Transaction hash.
    pub hash: B256,
    /// Sender, when it could be recovered.
    pub sender: Option<Address>,
    /// Why it was left out.
    pub error: TxError,
}

/// The result of executing a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockOutcome {
    /// The block's header, with every root filled in.
    pub header: Header,
    /// One receipt per transaction.
    pub receipts: Vec<Receipt>,
    /// State root after each transaction, when asked for.
    pub intermediate_roots: Vec<B256>,
}

/// What [`EvmStateTransition::simulate_block`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Simulation {
    /// Receipts of the transactions that would be included.
    pub receipts: Vec<Receipt>,
    /// Gas the block would use.
    pub gas_used: u64,
    /// The transactions that would be included, in order.
    pub included: Vec<Recovered<TxEnvelope>>,
    /// Transactions that would be left out, and why.
    pub rejected: Vec<RejectedTx>,
    /// The state changes the block would make, merged per account.
    pub changes: StateChanges,
}

/// A block built by [`EvmStateTransition::build_block`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltBlock {
    /// The block.
    pub block: crate::primitives::Block,
    /// The senders of its transactions, in order (recovered once, before execution).
    pub senders: Vec<Address>,
    /// Its execution outcome.
    pub outcome: BlockOutcome,
    /// Candidates left out, with the reason.
    pub rejected: Vec<RejectedTx>,
}

/// Why a block could not be executed. The state is unchanged whenever one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExecutionError {
    /// A transaction of the block is invalid.
    #[error("transaction {index} ({hash}) is invalid: {error}")]
    InvalidTransaction {
        /// Position in the block.
        index: usize,
        /// Transaction hash.
        hash: B256,
        /// The reason.
        error: TxError,
    },
    /// The block's sender recovery failed.
    #[error("transaction {index} has an invalid signature: {error}")]
    InvalidSignature {
        /// Position in the block.
        index: usize,
        /// The reason.
        error: TxError,
    },
    /// The block is for another chain or rollup.
    #[error("block is for chain {chain_id} / {rollup_id}, not this rollup")]
    WrongRollup {
        /// Chain id in the header.
        chain_id: ChainId,
        /// Rollup id in the header.
        rollup_id: RollupId,
    },
    /// The block does not extend the head.
    #[error(
        "block does not extend the head: expected parent {expected} at height {expected_height}, got {got} at height {got_height}"
    )]
    NotChild {
        /// Head hash.
        expected: B256,
        /// Next height.
        expected_height: u64,
        /// Header's parent hash.
        got: B256,
        /// Header's height.
        got_height: u64,
    },
    /// The timestamp is before the parent's.
    #[error("timestamp {got} is before the parent's {parent}")]
    TimestampBeforeParent {
        /// Parent timestamp.
        parent: u64,
        /// Header timestamp.
        got: u64,
    },
    /// A header field differs from what execution computed.
    #[error("header {field} mismatch: header has {got}, execution gives {expected}")]
    HeaderMismatch {
        /// Which field.
        field: &'static str,
        /// Value computed by execution.
        expected: String,
        /// Value in the header.
        got: String,
        /// Hash of the header re-execution computed, when it got that far (what an alert
        /// names as the block that should have been).
        expected_hash: Option<B256>,
    },
    /// The header's state root differs from the root re-execution computes.
    #[error("state root mismatch: header has {got}, execution gives {expected}")]
    StateRootMismatch {
        /// Root computed by execution.
        expected: B256,
        /// Root in the header.
        got: B256,
        /// Roots after each transaction, as execution computes them, when they were asked for:
        /// where a verifier starts looking for the first wrong transaction.
        intermediate_roots: Vec<B256>,
    },
    /// The EVM failed outside any transaction's fault (system calls, database).
    #[error("block execution failed: {0}")]
    Evm(String),
    /// Execution read state that a partial state (a one-step proof's witness) does not hold,
    /// or that the store under a state over a store could not give.
    #[error("{0}")]
    MissingState(MissingState),
    /// The store under a state over a store failed to read or to commit the block.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}

/// State a witness was asked for and does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MissingState {
    /// The account's leaf, or its absence, is not provable from the witness.
    #[error("the witness does not prove account {0}")]
    Account(Address),
    /// The slot's leaf, or its absence, is not provable from the witness.
    #[error("the witness does not prove storage slot {slot} of {address}")]
    Storage {
        /// Account.
        address: Address,
        /// Slot.
        slot: U256,
    },
    /// The code with this hash is not in the witness.
    #[error("the witness has no code with hash {0}")]
    Code(B256),
    /// The hash of this block is not provable from the witness's headers.
    #[error("the witness has no header proving the hash of block {0}")]
    BlockHash(u64),
    /// The store a state over a store reads through failed.
    #[error(transparent)]
    Store(crate::storage::StorageError),
}
