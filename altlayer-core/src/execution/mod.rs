//! The EVM state transition: Ethereum block execution with alloy-evm over revm.
//!
//! [`EvmStateTransition`] owns a [`WorldState`] and the chain head. It builds blocks for a
//! sequencer ([`EvmStateTransition::build_block`], which leaves invalid transactions out and says
//! why) and re-executes blocks for everyone else ([`EvmStateTransition::execute_block`], which
//! accepts a block only if every transaction is valid and every root matches). Both run the
//! transactions through alloy-evm's [`EthBlockExecutor`], the executor reth uses, so gas, refunds,
//! fees and receipts follow Ethereum's rules for the configured [`SpecId`]. Execution writes into
//! an overlay; the world state changes only once the whole block has succeeded.

mod behind;
mod config;
#[cfg(feature = "test-utils")]
mod drill;
mod outcome;
mod overlay;
mod replay;
mod run;
pub mod stateless;

pub use config::{
    DEFAULT_BLOCK_GAS_LIMIT, DEFAULT_INITIAL_BASE_FEE, RollupConfig, RollupHardforks,
};
pub use outcome::{
    BlockAttributes, BlockOutcome, BuiltBlock, ExecuteOptions, ExecutionError, MissingState,
    RejectedTx, Simulation,
};
pub use replay::replay_prefix;
use run::{Nonces, compare_headers, validate};
pub use run::{base_fee_after, evm_env};
pub(crate) use run::{check_child, run_part};

use crate::{
    primitives::{
        ChainId, DaRef, Header, Receipt, RollupId, logs_bloom, receipts_root, transactions_root,
    },
    state::{StateChanges, Undo, WorldState},
    storage::{BlockCommit, StateStore, StorageError},
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
use std::{borrow::Cow, sync::Arc};

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
    /// Writing blocks behind execution, when on ([`EvmStateTransition::set_write_behind`]).
    behind: behind::Behind,
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
            behind: behind::Behind::default(),
        }
    }
}

/// What applying a run gives: the outcome, the transactions and their senders, and the undos
/// (newest last) that put the state back.
type Applied = (BlockOutcome, Vec<TxEnvelope>, Vec<Address>, Vec<Undo>);

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

/// The genesis block's header of a rollup `config` describes, over `state_root`.
pub(crate) fn genesis_header(
    config: &RollupConfig,
    state_root: B256,
    timestamp: u64,
    base_fee: u64,
) -> Header {
    Header {
        chain_id: config.chain_id,
        rollup_id: config.rollup_id,
        height: 0,
        timestamp,
        gas_limit: config.block_gas_limit,
        base_fee,
        transactions_root: transactions_root(&[]),
        receipts_root: receipts_root(&[]),
        state_root,
        ..Default::default()
    }
}

impl EvmStateTransition {
    /// A state transition over `state` in memory, whose genesis header is derived from it
    /// and from `genesis` (timestamp, gas limit, base fee). A state over a store is opened
    /// with [`EvmStateTransition::open`] (after [`EvmStateTransition::store_genesis`]).
    ///
    /// # Panics
    ///
    /// When `state` is over a store whose nodes cannot be read (a state in memory is always
    /// hashed).
    pub fn new(
        config: RollupConfig,
        mut state: WorldState,
        genesis_timestamp: u64,
        genesis_base_fee: u64,
    ) -> Self {
        #[allow(clippy::expect_used)]
        let state_root = state
            .state_root()
            .expect("a state in memory is hashed without a store");
        let head = genesis_header(&config, state_root, genesis_timestamp, genesis_base_fee);
        let mut hashes = RecentHashes::default();
        hashes.push(head.clone());
        Self {
            config,
            state,
            head,
            hashes,
            #[cfg(feature = "test-utils")]
            drill: None,
            behind: behind::Behind::default(),
        }
    }

    /// The replica at the head of `store`: its state stands on the store's head and reads
    /// through it; the head and the 256 headers before it come from the store. No block is
    /// replayed.
    pub fn open(config: RollupConfig, store: Arc<dyn StateStore>) -> Result<Self, ExecutionError> {
        let head = store
            .head()?
            .ok_or_else(|| StorageError::Corrupt("the store holds no genesis block".into()))?;
        let opened = Self::open_at(config, store, head.height)?;
        if opened.head.state_root != head.state_root {
            return Err(StorageError::Corrupt(format!(
                "the head's header has state root {}, the store {}",
                opened.head.state_root, head.state_root
            ))
            .into());
        }
        Ok(opened)
    }

    /// The replica at block `height` of `store` (its head or a block it keeps history for:
    /// a batch's pre-state after a restart). Reads fail with [`StorageError::Pruned`] once
    /// the store no longer keeps that block's state.
    pub fn open_at(
        config: RollupConfig,
        store: Arc<dyn StateStore>,
        height: u64,
    ) -> Result<Self, ExecutionError> {
        let missing = |height: u64| StorageError::Corrupt(format!("header {height} is missing"));
        let header = store.header(height)?.ok_or_else(|| missing(height))?;
        let mut hashes = RecentHashes::default();
        for before in height.saturating_sub(256)..height {
            hashes.push(store.header(before)?.ok_or_else(|| missing(before))?);
        }
        hashes.push(header.clone());
        Ok(Self {
            config,
            state: WorldState::stored(store, height, header.state_root),
            head: header,
            hashes,
            #[cfg(feature = "test-utils")]
            drill: None,
            behind: behind::Behind::default(),
        })
    }

    /// Writes this replica's genesis (its head must be block 0 and its state in memory) to
    /// an empty `store` as block 0, and returns the replica opened on the store.
    pub fn store_genesis(mut self, store: Arc<dyn StateStore>) -> Result<Self, ExecutionError> {
        let diff = self.state.genesis_diff()?;
        let block = crate::primitives::Block {
            header: self.head.clone(),
            transactions: Vec::new(),
        };
        store.commit(BlockCommit {
            block: &block,
            hash: block.hash(),
            senders: &[],
            receipts: &[],
            state: &diff,
        })?;
        Self::open(self.config, store)
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

    /// The hash of the block at `height`, if it is among the 256 most recent (what the
    /// `BLOCKHASH` opcode sees from the next block).
    pub fn block_hash(&self, height: u64) -> Option<B256> {
        self.hashes.get(height)
    }

    /// Checks a transaction for admission to a pool at the head, by the rules geth's pool
    /// applies: its size, type, chain id and fees, its gas against the block's limit and its
    /// intrinsic gas, the sender's nonce (a nonce ahead of the account's is accepted: it waits
    /// for the ones before it), code (EIP-3607) and balance for `gas * max fee + value`. The
    /// fee cap is held against the next block's base fee.
    pub fn admit(&self, tx: &Recovered<TxEnvelope>) -> Result<(), TxError> {
        let next = Header {
            gas_limit: self.config.block_gas_limit,
            base_fee: self.next_base_fee(),
            ..self.head.clone()
        };
        let head = Head {
            state: &self.state,
            hashes: &self.hashes,
        };
        let mut overlay = Overlay::new(&head, false);
        validate(
            &self.config,
            tx,
            &next,
            &mut overlay,
            next.gas_limit,
            Nonces::Future,
        )
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
    /// On an error (a store that failed) the state is put back.
    fn apply_run(
        &mut self,
        header: &mut Header,
        run: Run,
        want_roots: bool,
    ) -> Result<Applied, ExecutionError> {
        let Run {
            included,
            receipts,
            gas_used,
            merged,
            steps,
            code,
            ..
        } = run;
        let senders: Vec<Address> = included.iter().map(|tx| tx.signer()).collect();
        let transactions: Vec<TxEnvelope> =
            included.into_iter().map(|tx| tx.into_inner()).collect();
        let tx_count = transactions.len();
        let state = &mut self.state;
        // The state root and the transactions and receipts roots are independent: hash them
        // side by side, so the serial parts of the trie update leave no core idle.
        let (state_root, (transactions_root, receipts_root, bloom)) = rayon::join(
            move || {
                for (_, code) in code {
                    state.insert_code(code);
                }
                let mut intermediate_roots = Vec::new();
                let mut undos = Vec::new();
                let applied = (|| {
                    match (want_roots, steps) {
                        (true, Some(steps)) => {
                            // Steps: the pre-block system calls, one per included
                            // transaction, then the post-block phase when it changed
                            // anything.
                            for (i, step) in steps.iter().enumerate() {
                                undos.push(state.apply_with_undo(step)?);
                                if (1..=tx_count).contains(&i) {
                                    intermediate_roots.push(state.state_root()?);
                                }
                            }
                        }
                        _ => undos.push(state.apply_with_undo(&merged)?),
                    }
                    state.state_root()
                })();
                match applied {
                    Ok(root) => Ok((root, intermediate_roots, undos)),
                    Err(error) => {
                        for undo in undos.into_iter().rev() {
                            state.revert(undo);
                        }
                        Err(error)
                    }
                }
            },
            || {
                (
                    transactions_root(&transactions),
                    receipts_root(&receipts),
                    logs_bloom(&receipts),
                )
            },
        );
        let (state_root, intermediate_roots, undos) = state_root?;
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
        Ok((outcome, transactions, senders, undos))
    }

    /// Writes a block just applied to the store under the state, when the state stands on
    /// one and the block extends the store's head; lets the state stand on the store's block
    /// when the store already has it (another replica of this node wrote it). Other replicas
    /// (a checkpoint re-executing a batch, a replica behind the store) keep their changes in
    /// memory. On an error the block's changes are put back.
    fn persist(
        &mut self,
        block: &crate::primitives::Block,
        senders: &[Address],
        receipts: &[Receipt],
        undos: Vec<Undo>,
    ) -> Result<(), ExecutionError> {
        let Some((store, _)) = self.state.store() else {
            return Ok(());
        };
        let store = std::sync::Arc::clone(store);
        let header = &block.header;
        let hash = block.hash();
        if self.goes_behind(&*store, &header.parent_hash) {
            // Held, the undos would have every account the diff is taken from copied first
            // (`Arc::make_mut`); a failed write behind is put right by opening the replica
            // again instead.
            drop(undos);
            return self.persist_behind(store, block, hash, senders, receipts);
        }
        let written = (|| {
            let extends = store
                .head()?
                .is_some_and(|head| head.hash == header.parent_hash);
            if extends {
                let diff = self.state.take_diff()?;
                store.commit(BlockCommit {
                    block,
                    hash,
                    senders,
                    receipts,
                    state: &diff,
                })?;
                self.state.stand_on(header.height);
            } else if store.block_hash(header.height)? == Some(hash) {
                self.state.stand_on(header.height);
            }
            Ok::<_, crate::storage::StorageError>(())
        })();
        if let Err(error) = written {
            for undo in undos.into_iter().rev() {
                self.state.revert(undo);
            }
            // The state is the head's again; hashing it reloads what the store gives.
            let _ = self.state.state_root();
            return Err(error.into());
        }
        Ok(())
    }

    /// This replica is the rollup's head again after a revert: a state over a store takes
    /// the store back to this replica's head (which the store holds, on the reverted
    /// branch's common part) in one transaction.
    pub fn become_head(&mut self) -> Result<(), ExecutionError> {
        self.flush()?;
        let Some((store, _)) = self.state.store() else {
            return Ok(());
        };
        let store = std::sync::Arc::clone(store);
        let (height, hash) = (self.head.height, self.head.hash());
        let Some(head) = store.head()? else {
            return Ok(());
        };
        if head.height > height && store.block_hash(height)? == Some(hash) {
            store.unwind(height)?;
        }
        if store.block_hash(height)? == Some(hash) {
            self.state.stand_on(height);
        }
        Ok(())
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
        let (outcome, transactions, senders, undos) =
            self.apply_run(&mut header, run, options.intermediate_roots)?;
        let block = crate::primitives::Block {
            header: outcome.header.clone(),
            transactions,
        };
        self.persist(&block, &senders, &outcome.receipts, undos)?;
        self.set_head(header);
        Ok(BuiltBlock {
            block,
            senders,
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
        let (mut outcome, transactions, senders, undos) =
            self.apply_run(&mut header, run, options.intermediate_roots)?;
        if let Err(err) = compare_headers(&header, got, &mut outcome) {
            for undo in undos.into_iter().rev() {
                self.state.revert(undo);
            }
            // Re-hash the restored paths now so the next block starts from clean caches.
            let restored = self.state.state_root();
            debug_assert_eq!(restored.ok(), Some(self.head.state_root));
            return Err(err);
        }
        let applied = crate::primitives::Block {
            header: header.clone(),
            transactions,
        };
        self.persist(&applied, &senders, &outcome.receipts, undos)?;
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
