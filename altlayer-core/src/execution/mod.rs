//! The EVM state transition: Ethereum block execution with alloy-evm over revm.
//!
//! [`EvmStateTransition`] owns a [`WorldState`] and the chain head. It builds blocks for a
//! sequencer ([`EvmStateTransition::build_block`], which leaves invalid transactions out and says
//! why) and re-executes blocks for everyone else ([`EvmStateTransition::execute_block`], which
//! accepts a block only if every transaction is valid and every root matches). Both run the
//! transactions through alloy-evm's [`EthBlockExecutor`], the executor reth uses, so gas, refunds,
//! fees and receipts follow Ethereum's rules for the configured [`SpecId`]. Execution writes into
//! an overlay; the world state changes only once the whole block has succeeded.

#[cfg(feature = "test-utils")]
mod drill;
mod overlay;
pub mod stateless;

use crate::{
    primitives::{
        ChainId, DaRef, Header, Receipt, RollupId, logs_bloom, receipts_root, transactions_root,
    },
    state::{StateChanges, Undo, WorldState},
    transaction::{
        DEFAULT_MAX_TX_SIZE, RecoveryBackend, TxError, check_chain_id, decode_and_recover,
        map_in_order, recover,
    },
};
use alloy_consensus::{Transaction as _, TxEnvelope, transaction::Recovered};
use alloy_eips::{Encodable2718, eip1559::BaseFeeParams};
use alloy_evm::{
    Evm, EvmEnv, EvmFactory,
    block::{BlockExecutionError, BlockExecutor, BlockValidationError},
    eth::{
        EthBlockExecutionCtx, EthBlockExecutor, EthEvmFactory,
        receipt_builder::AlloyReceiptBuilder, spec::EthExecutorSpec,
    },
};
use alloy_hardforks::{EthereumHardfork, EthereumHardforks, ForkCondition};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use overlay::{Head, Overlay, RecentHashes, StateSource};
use revm::{
    context::{BlockEnv, CfgEnv},
    context_interface::{block::BlobExcessGasAndPrice, cfg::gas::calculate_initial_tx_gas},
    primitives::hardfork::SpecId,
};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Default block gas limit: Ethereum mainnet's 30 million at the time of the Merge.
pub const DEFAULT_BLOCK_GAS_LIMIT: u64 = 30_000_000;

/// Default base fee of the first block: EIP-1559's initial base fee, 1 gwei.
pub const DEFAULT_INITIAL_BASE_FEE: u64 = 1_000_000_000;

/// How a rollup executes: its identity, EVM rules and limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RollupConfig {
    /// EVM chain id (EIP-155).
    pub chain_id: ChainId,
    /// Rollup id.
    pub rollup_id: RollupId,
    /// EVM rules, from Shanghai on; every fork up to it is active from genesis.
    #[serde(with = "spec_serde")]
    pub spec: SpecId,
    /// Gas limit of every block.
    pub block_gas_limit: u64,
    /// Largest accepted encoded transaction, in bytes.
    pub max_tx_size: usize,
    /// Accept legacy transactions without EIP-155 replay protection.
    pub allow_unprotected_txs: bool,
    /// Who receives the base fee. `None` burns it, as Ethereum does; a rollup usually sends it
    /// to a fee vault. Priority fees always go to the block's sequencer (its `COINBASE`).
    pub base_fee_recipient: Option<Address>,
    /// EIP-1559 base-fee adjustment parameters.
    pub base_fee_params: BaseFeeParams,
}

impl Default for RollupConfig {
    fn default() -> Self {
        Self {
            chain_id: 1_337,
            rollup_id: RollupId(1),
            spec: SpecId::PRAGUE,
            block_gas_limit: DEFAULT_BLOCK_GAS_LIMIT,
            max_tx_size: DEFAULT_MAX_TX_SIZE,
            allow_unprotected_txs: false,
            base_fee_recipient: None,
            base_fee_params: BaseFeeParams::ethereum(),
        }
    }
}

mod spec_serde {
    use revm::primitives::hardfork::SpecId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(spec: &SpecId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(<&'static str>::from(*spec))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SpecId, D::Error> {
        let name = String::deserialize(d)?;
        name.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown EVM spec {name:?}")))
    }
}

/// Hardfork schedule of a rollup: every Ethereum fork up to the configured spec is active from
/// genesis, later ones never. There is no proof-of-work past (Paris from block 0, no block
/// rewards) and no DAO fork.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RollupHardforks {
    spec: SpecId,
}

impl RollupHardforks {
    /// The schedule for an EVM spec.
    pub const fn new(spec: SpecId) -> Self {
        Self { spec }
    }
}

impl EthereumHardforks for RollupHardforks {
    fn ethereum_fork_activation(&self, fork: EthereumHardfork) -> ForkCondition {
        use EthereumHardfork as F;
        let needs = match fork {
            F::Dao => return ForkCondition::Never,
            F::Paris => {
                return ForkCondition::TTD {
                    activation_block_number: 0,
                    fork_block: None,
                    total_difficulty: U256::ZERO,
                };
            }
            F::Shanghai => SpecId::SHANGHAI,
            F::Cancun => SpecId::CANCUN,
            F::Prague => SpecId::PRAGUE,
            F::Osaka => SpecId::OSAKA,
            F::Frontier
            | F::Homestead
            | F::Tangerine
            | F::SpuriousDragon
            | F::Byzantium
            | F::Constantinople
            | F::Petersburg
            | F::Istanbul
            | F::MuirGlacier
            | F::Berlin
            | F::London
            | F::ArrowGlacier
            | F::GrayGlacier => return ForkCondition::Block(0),
            _ => return ForkCondition::Never,
        };
        if self.spec.is_enabled_in(needs) {
            ForkCondition::Timestamp(0)
        } else {
            ForkCondition::Never
        }
    }
}

impl EthExecutorSpec for RollupHardforks {
    fn deposit_contract_address(&self) -> Option<Address> {
        // A rollup has no beacon-chain deposit contract.
        None
    }
}

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
    /// Execution read state that a partial state (a one-step proof's witness) does not hold.
    /// Never returned when executing over a full state.
    #[error("{0}")]
    MissingState(MissingState),
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
}

/// The default [`crate::StateTransition`]: revm through alloy-evm, over an in-memory
/// [`WorldState`] with an incremental state root.
#[derive(Debug)]
pub struct EvmStateTransition {
    config: RollupConfig,
    state: WorldState,
    head: Header,
    hashes: RecentHashes,
    /// A fault drill armed on this replica (never on its clones).
    #[cfg(feature = "test-utils")]
    drill: Option<drill::Drill>,
}

impl Clone for EvmStateTransition {
    /// A copy of the replica; a fault drill armed on it is not copied (the copies are other
    /// parties' honest replicas, or checkpoints to rewind to).
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            state: self.state.clone(),
            head: self.head.clone(),
            hashes: self.hashes.clone(),
            #[cfg(feature = "test-utils")]
            drill: None,
        }
    }
}

/// Everything a block run produced before it touches the state.
struct Run {
    included: Vec<Recovered<TxEnvelope>>,
    receipts: Vec<Receipt>,
    gas_used: u64,
    rejected: Vec<RejectedTx>,
    merged: StateChanges,
    steps: Option<Vec<StateChanges>>,
    code: alloy_primitives::map::B256Map<revm::bytecode::Bytecode>,
}

/// Which parts of a block a run executes: the whole block, or (for a one-step proof) its
/// system calls before the transactions, some transactions, and its system calls after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Part {
    /// Run the pre-block system calls (EIP-2935, EIP-4788).
    pub(crate) pre: bool,
    /// Run the post-block phase (EIP-7002/7251 requests, balance increments).
    pub(crate) post: bool,
    /// Gas the block's earlier transactions used, when the run starts mid-block.
    pub(crate) gas_used_before: u64,
}

impl Part {
    pub(crate) const WHOLE: Self = Self {
        pre: true,
        post: true,
        gas_used_before: 0,
    };
}

/// What executing part of a block produced, its state changes still in the overlay.
pub(crate) struct PartRun {
    included: Vec<Recovered<TxEnvelope>>,
    receipts: Vec<Receipt>,
    gas_used: u64,
    rejected: Vec<RejectedTx>,
}

/// A transaction ready for execution, or the reason it never got that far (it did not decode,
/// or its signature did not recover).
pub(crate) type Candidate = Result<Recovered<TxEnvelope>, Box<RejectedTx>>;

/// Whether an invalid transaction aborts the block or is left out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Strict,
    Build,
}

impl EvmStateTransition {
    /// A state transition over `state`, whose genesis header is derived from it and from
    /// `genesis` (timestamp, gas limit, base fee).
    pub fn new(
        config: RollupConfig,
        mut state: WorldState,
        genesis_timestamp: u64,
        genesis_base_fee: u64,
    ) -> Self {
        let state_root = state.state_root();
        let head = Header {
            chain_id: config.chain_id,
            rollup_id: config.rollup_id,
            height: 0,
            timestamp: genesis_timestamp,
            gas_limit: config.block_gas_limit,
            base_fee: genesis_base_fee,
            transactions_root: transactions_root(&[]),
            receipts_root: receipts_root(&[]),
            state_root,
            ..Default::default()
        };
        let mut hashes = RecentHashes::default();
        hashes.push(head.clone());
        Self {
            config,
            state,
            head,
            hashes,
            #[cfg(feature = "test-utils")]
            drill: None,
        }
    }

    /// The rollup's configuration.
    pub const fn config(&self) -> &RollupConfig {
        &self.config
    }

    /// Header of the last executed block (the genesis header at first).
    pub const fn head(&self) -> &Header {
        &self.head
    }

    /// The world state after the head.
    pub const fn state(&self) -> &WorldState {
        &self.state
    }

    /// Base fee of the next block, by EIP-1559 from the head.
    pub fn next_base_fee(&self) -> u64 {
        base_fee_after(&self.config, &self.head)
    }

    fn next_header(&self, attrs: &BlockAttributes) -> Result<Header, ExecutionError> {
        if attrs.timestamp < self.head.timestamp {
            return Err(ExecutionError::TimestampBeforeParent {
                parent: self.head.timestamp,
                got: attrs.timestamp,
            });
        }
        Ok(Header {
            chain_id: self.config.chain_id,
            rollup_id: self.config.rollup_id,
            parent_hash: self.head.hash(),
            height: self.head.height + 1,
            timestamp: attrs.timestamp,
            sequencer: attrs.sequencer,
            gas_limit: self.config.block_gas_limit,
            base_fee: self.next_base_fee(),
            da_ref: attrs.da_ref,
            ..Default::default()
        })
    }

    /// Runs `txs` on top of the head into an overlay. Candidates arrive as a stream so that
    /// sender recovery can still be running on other cores while earlier transactions execute.
    fn run(
        &self,
        header: &Header,
        txs: &mut dyn Iterator<Item = Candidate>,
        count_hint: usize,
        mode: Mode,
        keep_steps: bool,
    ) -> Result<Run, ExecutionError> {
        let head = Head {
            state: &self.state,
            hashes: &self.hashes,
        };
        let mut overlay = Overlay::new(&head, keep_steps);
        let part = run_part(
            &self.config,
            &mut overlay,
            header,
            txs,
            count_hint,
            mode,
            Part::WHOLE,
        )?;
        let (merged, steps, code) = overlay.into_changes();
        Ok(Run {
            included: part.included,
            receipts: part.receipts,
            gas_used: part.gas_used,
            rejected: part.rejected,
            merged,
            steps,
            code,
        })
    }

    /// Applies a finished run to the state and fills in the header's roots, returning the undos
    /// (newest last) that put the state back.
    fn apply_run(
        &mut self,
        header: &mut Header,
        run: Run,
        want_roots: bool,
    ) -> (BlockOutcome, Vec<TxEnvelope>, Vec<Undo>) {
        let Run {
            included,
            receipts,
            gas_used,
            merged,
            steps,
            code,
            ..
        } = run;
        let transactions: Vec<TxEnvelope> =
            included.into_iter().map(|tx| tx.into_inner()).collect();
        let tx_count = transactions.len();
        let state = &mut self.state;
        // The state root and the transactions and receipts roots are independent: hash them
        // side by side, so the serial parts of the trie update leave no core idle.
        let ((state_root, intermediate_roots, undos), (transactions_root, receipts_root, bloom)) =
            rayon::join(
                move || {
                    for (_, code) in code {
                        state.insert_code(code);
                    }
                    let mut intermediate_roots = Vec::new();
                    let mut undos = Vec::new();
                    match (want_roots, steps) {
                        (true, Some(steps)) => {
                            // Steps: the pre-block system calls, one per included transaction,
                            // then the post-block phase when it changed anything.
                            for (i, step) in steps.iter().enumerate() {
                                undos.push(state.apply_with_undo(step));
                                if (1..=tx_count).contains(&i) {
                                    intermediate_roots.push(state.state_root());
                                }
                            }
                        }
                        _ => undos.push(state.apply_with_undo(&merged)),
                    }
                    (state.state_root(), intermediate_roots, undos)
                },
                || {
                    (
                        transactions_root(&transactions),
                        receipts_root(&receipts),
                        logs_bloom(&receipts),
                    )
                },
            );
        header.gas_used = gas_used;
        header.transactions_root = transactions_root;
        header.receipts_root = receipts_root;
        header.logs_bloom = bloom;
        header.state_root = state_root;
        let outcome = BlockOutcome {
            header: header.clone(),
            receipts,
            intermediate_roots,
        };
        (outcome, transactions, undos)
    }

    fn set_head(&mut self, header: Header) {
        self.hashes.push(header.clone());
        self.head = header;
    }

    /// Executes `candidates` as the next block would, without changing anything: receipts, gas,
    /// refusals and the state changes the block would make. For block simulation (gas
    /// estimation, pre-confirmation) and for measuring execution apart from the state root.
    pub fn simulate_block(
        &self,
        attrs: BlockAttributes,
        candidates: Vec<Recovered<TxEnvelope>>,
    ) -> Result<Simulation, ExecutionError> {
        let header = self.next_header(&attrs)?;
        let count = candidates.len();
        let run = self.run(
            &header,
            &mut candidates.into_iter().map(Ok),
            count,
            Mode::Build,
            false,
        )?;
        Ok(Simulation {
            receipts: run.receipts,
            gas_used: run.gas_used,
            included: run.included,
            rejected: run.rejected,
            changes: run.merged,
        })
    }

    /// Builds the next block from `candidates`, in order, leaving out each invalid one with the
    /// reason, and makes it the new head.
    pub fn build_block(
        &mut self,
        attrs: BlockAttributes,
        candidates: Vec<Recovered<TxEnvelope>>,
        options: ExecuteOptions,
    ) -> Result<BuiltBlock, ExecutionError> {
        let count = candidates.len();
        self.build_from(attrs, &mut candidates.into_iter().map(Ok), count, options)
    }

    /// Builds the next block from raw EIP-2718 transactions as they come off the network:
    /// decoding and sender recovery run on all cores while earlier transactions already execute
    /// on this thread. Transactions that do not decode or recover are left out with the reason
    /// (their hash is then `keccak256` of the bytes).
    pub fn build_block_from_raw(
        &mut self,
        attrs: BlockAttributes,
        raw: &[impl AsRef<[u8]> + Sync],
        options: ExecuteOptions,
    ) -> Result<BuiltBlock, ExecutionError> {
        let max_size = self.config.max_tx_size;
        let decode = |bytes: &_| -> Candidate {
            let bytes: &[u8] = AsRef::<[u8]>::as_ref(bytes);
            decode_and_recover(bytes, max_size).map_err(|error| {
                Box::new(RejectedTx {
                    hash: keccak256(bytes),
                    sender: None,
                    error,
                })
            })
        };
        map_in_order(raw, decode, |candidates| {
            self.build_from(attrs, candidates, raw.len(), options)
        })
    }

    fn build_from(
        &mut self,
        attrs: BlockAttributes,
        candidates: &mut dyn Iterator<Item = Candidate>,
        count: usize,
        options: ExecuteOptions,
    ) -> Result<BuiltBlock, ExecutionError> {
        #[cfg(feature = "test-utils")]
        self.spring_drill();
        let mut header = self.next_header(&attrs)?;
        let run = self.run(
            &header,
            candidates,
            count,
            Mode::Build,
            options.intermediate_roots,
        )?;
        let rejected = run.rejected.clone();
        let (outcome, transactions, _undos) =
            self.apply_run(&mut header, run, options.intermediate_roots);
        self.set_head(header);
        let block = crate::primitives::Block {
            header: outcome.header.clone(),
            transactions,
        };
        Ok(BuiltBlock {
            block,
            outcome,
            rejected,
        })
    }

    /// Re-executes a block received from a sequencer and makes it the new head if, and only if,
    /// it extends the head, every transaction is valid, and every header field matches.
    /// `senders` are the transactions' recovered senders, in order (see
    /// [`crate::transaction::recover_all`]).
    pub fn execute_block(
        &mut self,
        block: &crate::primitives::Block,
        senders: &[Address],
        options: ExecuteOptions,
    ) -> Result<BlockOutcome, ExecutionError> {
        if senders.len() != block.transactions.len() {
            return Err(ExecutionError::HeaderMismatch {
                field: "senders",
                expected: block.transactions.len().to_string(),
                got: senders.len().to_string(),
                expected_hash: None,
            });
        }
        let mut candidates = block
            .transactions
            .iter()
            .zip(senders)
            .map(|(tx, sender)| Ok(Recovered::new_unchecked(tx.clone(), *sender)));
        self.execute_from(block, &mut candidates, options)
    }

    /// Re-executes a block as [`EvmStateTransition::execute_block`] does, recovering the
    /// senders on all cores while earlier transactions already execute on this thread.
    pub fn execute_block_recovering(
        &mut self,
        block: &crate::primitives::Block,
        options: ExecuteOptions,
    ) -> Result<BlockOutcome, ExecutionError> {
        let recover_one = |tx: &TxEnvelope| -> Candidate {
            recover(tx.clone(), RecoveryBackend::Libsecp256k1).map_err(|error| {
                Box::new(RejectedTx {
                    hash: *tx.tx_hash(),
                    sender: None,
                    error,
                })
            })
        };
        map_in_order(&block.transactions, recover_one, |candidates| {
            self.execute_from(block, candidates, options)
        })
    }

    fn execute_from(
        &mut self,
        block: &crate::primitives::Block,
        candidates: &mut dyn Iterator<Item = Candidate>,
        options: ExecuteOptions,
    ) -> Result<BlockOutcome, ExecutionError> {
        let got = &block.header;
        check_child(&self.config, &self.head, got)?;
        let mut header = self.next_header(&BlockAttributes {
            timestamp: got.timestamp,
            sequencer: got.sequencer,
            da_ref: got.da_ref,
        })?;
        let count = block.transactions.len();
        let run = self.run(
            &header,
            candidates,
            count,
            Mode::Strict,
            options.intermediate_roots,
        )?;
        // Apply, compare every computed field with the header, and put everything back on a
        // mismatch, so a bad block leaves no trace.
        let (mut outcome, _, undos) = self.apply_run(&mut header, run, options.intermediate_roots);
        if let Err(err) = compare_headers(&header, got, &mut outcome) {
            for undo in undos.into_iter().rev() {
                self.state.revert(undo);
            }
            // Re-hash the restored paths now so the next block starts from clean caches.
            let restored = self.state.state_root();
            debug_assert_eq!(restored, self.head.state_root);
            return Err(err);
        }
        self.set_head(header);
        Ok(outcome)
    }

    /// Changes the state outside any block, leaving the head as it is: what the replica of a
    /// faulty or dishonest sequencer looks like. For fault drills (tests, `altlayer devnet
    /// --fault`): the next block built on it carries a state root no honest replica computes,
    /// which is what VITAL exists to catch.
    #[cfg(feature = "test-utils")]
    pub fn corrupt_state(&mut self, change: impl FnOnce(&mut WorldState)) {
        change(&mut self.state);
    }

    /// The root of the current state (the head's state root).
    pub const fn state_root(&self) -> B256 {
        self.head.state_root
    }
}

fn evm_env(config: &RollupConfig, header: &Header) -> EvmEnv {
    let mut cfg = CfgEnv::new_with_spec(config.spec);
    cfg.chain_id = config.chain_id;
    // Chain id is checked (with a typed error) before the EVM sees the transaction.
    cfg.tx_chain_id_check = true;
    let block = BlockEnv {
        number: U256::from(header.height),
        beneficiary: header.sequencer,
        timestamp: U256::from(header.timestamp),
        gas_limit: header.gas_limit,
        basefee: header.base_fee,
        difficulty: U256::ZERO,
        // There is no beacon chain: PREVRANDAO is the parent hash. Predictable to the
        // sequencer, so contracts must not use it as a source of secret randomness.
        prevrandao: Some(header.parent_hash),
        blob_excess_gas_and_price: config
            .spec
            .is_enabled_in(SpecId::CANCUN)
            .then(|| BlobExcessGasAndPrice::new_with_spec(0, config.spec)),
        ..Default::default()
    };
    EvmEnv::new(cfg, block)
}

/// Checks a transaction against the rules Ethereum's transaction pool and block validation
/// apply, in the order geth applies them, with the sender's state as execution sees it.
fn validate<S: StateSource>(
    config: &RollupConfig,
    tx: &Recovered<TxEnvelope>,
    header: &Header,
    overlay: &mut Overlay<'_, S>,
    gas_left: u64,
) -> Result<(), TxError> {
    let envelope = tx.inner();
    let size = envelope.encode_2718_len();
    if size > config.max_tx_size {
        return Err(TxError::Oversize {
            size,
            limit: config.max_tx_size,
        });
    }
    if envelope.is_eip4844() {
        return Err(TxError::UnsupportedType(0x03));
    }
    check_chain_id(envelope, config.chain_id, config.allow_unprotected_txs)?;
    let gas_limit = envelope.gas_limit();
    if gas_limit > header.gas_limit {
        return Err(TxError::GasLimitAboveBlockLimit {
            gas_limit,
            block_gas_limit: header.gas_limit,
        });
    }
    if gas_limit > gas_left {
        return Err(TxError::BlockGasExhausted {
            gas_limit,
            available: gas_left,
        });
    }
    let max_fee = envelope.max_fee_per_gas();
    if let Some(priority_fee) = envelope.max_priority_fee_per_gas()
        && priority_fee > max_fee
    {
        return Err(TxError::PriorityFeeAboveFeeCap {
            priority_fee,
            max_fee,
        });
    }
    if max_fee < u128::from(header.base_fee) {
        return Err(TxError::FeeCapBelowBaseFee {
            max_fee,
            base_fee: header.base_fee,
        });
    }
    let access_list = envelope.access_list();
    let intrinsic = calculate_initial_tx_gas(
        config.spec,
        envelope.input(),
        envelope.kind().is_create(),
        access_list.map_or(0, |list| list.len() as u64),
        access_list.map_or(0, |list| {
            list.iter().map(|item| item.storage_keys.len() as u64).sum()
        }),
        envelope
            .authorization_list()
            .map_or(0, |list| list.len() as u64),
        None,
    );
    let required =
        (intrinsic.initial_regular_gas + intrinsic.initial_state_gas).max(intrinsic.floor_gas);
    if gas_limit < required {
        return Err(TxError::IntrinsicGasTooLow {
            gas_limit,
            intrinsic: required,
        });
    }
    // A read the witness cannot answer is noted in the overlay, and the runner fails on it
    // before looking at this verdict.
    let missing = || TxError::Evm("state missing from the witness".into());
    let sender = overlay.account(&tx.signer());
    let (nonce, balance, code_hash) = overlay.note(sender).map_err(|_| missing())?.unwrap_or((
        0,
        U256::ZERO,
        alloy_trie::KECCAK_EMPTY,
    ));
    if envelope.nonce() < nonce {
        return Err(TxError::NonceTooLow {
            expected: nonce,
            got: envelope.nonce(),
        });
    }
    if envelope.nonce() > nonce {
        return Err(TxError::NonceTooHigh {
            expected: nonce,
            got: envelope.nonce(),
        });
    }
    if code_hash != alloy_trie::KECCAK_EMPTY {
        let code = overlay
            .code_of(&code_hash)
            .map(|code| code.is_some_and(|code| code.is_eip7702()));
        let delegated = overlay.note(code).map_err(|_| missing())?;
        if !delegated {
            return Err(TxError::SenderHasCode(tx.signer()));
        }
    }
    let cost = U256::from(gas_limit)
        .saturating_mul(U256::from(max_fee))
        .saturating_add(envelope.value());
    if balance < cost {
        return Err(TxError::InsufficientFunds { balance, cost });
    }
    Ok(())
}

/// Executes part of a block into `overlay` (see [`Part`]). Candidates arrive as a stream so
/// that sender recovery can still be running on other cores while earlier transactions execute.
/// A read the overlay's source cannot answer fails the run with [`ExecutionError::MissingState`]
/// whatever else went wrong, since nothing after it can be trusted.
pub(crate) fn run_part<S: StateSource>(
    config: &RollupConfig,
    overlay: &mut Overlay<'_, S>,
    header: &Header,
    txs: &mut dyn Iterator<Item = Candidate>,
    count_hint: usize,
    mode: Mode,
    part: Part,
) -> Result<PartRun, ExecutionError> {
    let hardforks = RollupHardforks::new(config.spec);
    let env = evm_env(config, header);
    let ctx = EthBlockExecutionCtx {
        parent_hash: header.parent_hash,
        // No beacon chain: the EIP-4788 system call records a zero root.
        parent_beacon_block_root: Some(B256::ZERO),
        ommers: &[],
        withdrawals: Some(Cow::Borrowed(&[])),
        extra_data: Bytes::new(),
        tx_count_hint: Some(count_hint),
        slot_number: None,
    };
    let base_fee = U256::from(header.base_fee);
    let mut included = Vec::with_capacity(count_hint);
    let mut rejected = Vec::new();
    let evm = EthEvmFactory::default().create_evm(&mut *overlay, env);
    let mut executor = EthBlockExecutor::new(evm, ctx, &hardforks, AlloyReceiptBuilder::default());
    if part.pre {
        let pre = executor.apply_pre_execution_changes();
        if let Some(missing) = executor.evm_mut().db_mut().take_missing() {
            return Err(ExecutionError::MissingState(missing));
        }
        pre.map_err(|e| ExecutionError::Evm(e.to_string()))?;
    }
    executor.evm_mut().db_mut().end_step();
    let mut gas_used = part.gas_used_before;
    for (index, candidate) in txs.enumerate() {
        let tx = match candidate {
            Ok(tx) => tx,
            Err(refused) => {
                if mode == Mode::Strict {
                    return Err(ExecutionError::InvalidTransaction {
                        index,
                        hash: refused.hash,
                        error: refused.error,
                    });
                }
                rejected.push(*refused);
                continue;
            }
        };
        let gas_left = header.gas_limit.saturating_sub(gas_used);
        let checked = validate(config, &tx, header, executor.evm_mut().db_mut(), gas_left);
        let result = match checked {
            Ok(()) => executor.execute_transaction(&tx).map_err(evm_tx_error),
            Err(err) => Err(Some(err)),
        };
        if let Some(missing) = executor.evm_mut().db_mut().take_missing() {
            return Err(ExecutionError::MissingState(missing));
        }
        match result {
            Ok(gas) => {
                let gas = gas.tx_gas_used();
                gas_used += gas;
                if let Some(recipient) = config.base_fee_recipient {
                    executor
                        .evm_mut()
                        .db_mut()
                        .credit(recipient, base_fee * U256::from(gas));
                }
                executor.evm_mut().db_mut().end_step();
                included.push(tx);
            }
            Err(None) => {
                return Err(ExecutionError::Evm(format!(
                    "transaction {} failed inside the EVM",
                    tx.inner().tx_hash()
                )));
            }
            Err(Some(error)) => {
                // The hash is computed only when a refusal has to name the transaction.
                let hash = *tx.inner().tx_hash();
                if mode == Mode::Strict {
                    return Err(ExecutionError::InvalidTransaction { index, hash, error });
                }
                rejected.push(RejectedTx {
                    hash,
                    sender: Some(tx.signer()),
                    error,
                });
            }
        }
    }
    let receipts = if part.post {
        let finished = executor.finish().map(|(_evm, result)| result.receipts);
        if let Some(missing) = overlay.take_missing() {
            return Err(ExecutionError::MissingState(missing));
        }
        finished.map_err(|e| ExecutionError::Evm(e.to_string()))?
    } else {
        executor.receipts().to_vec()
    };
    Ok(PartRun {
        included,
        receipts,
        gas_used: gas_used - part.gas_used_before,
        rejected,
    })
}

/// Base fee of the block after `parent`, by EIP-1559 (the first block keeps genesis's).
fn base_fee_after(config: &RollupConfig, parent: &Header) -> u64 {
    if parent.height == 0 {
        return parent.base_fee;
    }
    config
        .base_fee_params
        .next_block_base_fee(parent.gas_used, parent.gas_limit, parent.base_fee)
}

/// Checks what a block's header must be given its parent alone, before anything executes:
/// rollup, parent link and height, timestamp, base fee and gas limit.
pub(crate) fn check_child(
    config: &RollupConfig,
    parent: &Header,
    got: &Header,
) -> Result<(), ExecutionError> {
    if got.chain_id != config.chain_id || got.rollup_id != config.rollup_id {
        return Err(ExecutionError::WrongRollup {
            chain_id: got.chain_id,
            rollup_id: got.rollup_id,
        });
    }
    let parent_hash = parent.hash();
    if got.parent_hash != parent_hash || got.height != parent.height + 1 {
        return Err(ExecutionError::NotChild {
            expected: parent_hash,
            expected_height: parent.height + 1,
            got: got.parent_hash,
            got_height: got.height,
        });
    }
    if got.timestamp < parent.timestamp {
        return Err(ExecutionError::TimestampBeforeParent {
            parent: parent.timestamp,
            got: got.timestamp,
        });
    }
    check_field(
        "base_fee",
        base_fee_after(config, parent),
        got.base_fee,
        None,
    )?;
    check_field("gas_limit", config.block_gas_limit, got.gas_limit, None)
}

/// Compares the header execution computed with the one received, field by field, so the error
/// names the first field that differs.
fn compare_headers(
    computed: &Header,
    got: &Header,
    outcome: &mut BlockOutcome,
) -> Result<(), ExecutionError> {
    let expected_hash = computed.hash();
    let hash = Some(expected_hash);
    check_field(
        "transactions_root",
        computed.transactions_root,
        got.transactions_root,
        hash,
    )?;
    check_field(
        "receipts_root",
        computed.receipts_root,
        got.receipts_root,
        hash,
    )?;
    check_field("gas_used", computed.gas_used, got.gas_used, hash)?;
    check_field("logs_bloom", computed.logs_bloom, got.logs_bloom, hash)?;
    if computed.state_root != got.state_root {
        return Err(ExecutionError::StateRootMismatch {
            expected: computed.state_root,
            got: got.state_root,
            intermediate_roots: core::mem::take(&mut outcome.intermediate_roots),
        });
    }
    // Every other field was taken from the received header; equality is a final guard.
    check_field("hash", expected_hash, got.hash(), hash)
}

/// Compares one header field; a mismatch names it, with the hash of the header execution
/// computed when there is one.
fn check_field<T: PartialEq + std::fmt::Display>(
    field: &'static str,
    expected: T,
    got: T,
    expected_hash: Option<B256>,
) -> Result<(), ExecutionError> {
    if expected == got {
        Ok(())
    } else {
        Err(ExecutionError::HeaderMismatch {
            field,
            expected: expected.to_string(),
            got: got.to_string(),
            expected_hash,
        })
    }
}

/// Maps an executor error on one transaction to a typed reason, or `None` when the fault is not
/// the transaction's (a database or internal EVM error). The checks in `validate` run first and
/// cover every rule revm enforces before execution, so the EVM's own refusals are a fallback.
fn evm_tx_error(err: BlockExecutionError) -> Option<TxError> {
    match err {
        BlockExecutionError::Validation(
            BlockValidationError::TransactionGasLimitMoreThanAvailableBlockGas {
                transaction_gas_limit,
                block_available_gas,
            },
        ) => Some(TxError::BlockGasExhausted {
            gas_limit: transaction_gas_limit,
            available: block_available_gas,
        }),
        BlockExecutionError::Validation(BlockValidationError::InvalidTx { error, .. }) => {
            Some(TxError::Evm(error.to_string()))
        }
        _ => None,
    }
}
