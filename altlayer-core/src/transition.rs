//! The [`StateTransition`] composition point: how ordered blocks change the rollup's state.

use crate::{
    execution::{
        BlockAttributes, BlockOutcome, BuiltBlock, EvmStateTransition, ExecuteOptions,
        ExecutionError, RollupConfig,
        stateless::{Replay, StepError, StepWitness},
    },
    primitives::{Batch, Block, Header},
    storage::StorageError,
    transaction::{RecoveryBackend, TxError, recover_all},
};
use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256};

/// Applies ordered blocks to state and reports the post-state root, the receipts and, on
/// request, the state root after every transaction.
///
/// A state transition is a replica of the rollup's state at its head. Sequencers call
/// [`StateTransition::build_block`]; verifiers, finality operators and full nodes call
/// [`StateTransition::execute_block`] on blocks they receive. Both are all-or-nothing: an
/// error leaves the replica exactly as it was.
///
/// The default is [`EvmStateTransition`] (revm through alloy-evm, in-memory state with an
/// incremental Ethereum state root).
///
/// # Example
///
/// ```
/// use altlayer_core::{
///     StateTransition, RollupConfig,
///     execution::{BlockAttributes, ExecuteOptions},
///     genesis::{parse_genesis, state_transition_from_genesis},
/// };
///
/// let genesis = parse_genesis(r#"{"config":{"chainId":1337},"alloc":{},"gasLimit":"0x1c9c380"}"#)?;
/// let mut sequencer = state_transition_from_genesis(RollupConfig::default(), &genesis);
/// let mut follower = sequencer.clone();
///
/// // The sequencer builds an (empty) block; a follower re-executes it to the same root.
/// let built = sequencer.build_block(BlockAttributes::default(), vec![], ExecuteOptions::default())?;
/// let outcome = follower.execute_block_recovering(&built.block, ExecuteOptions::default())?;
/// assert_eq!(outcome.header.state_root, sequencer.state_root());
/// assert_eq!(follower.head().height, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait StateTransition: Send {
    /// The rollup's configuration.
    fn config(&self) -> &RollupConfig;

    /// Header of the last block applied (the genesis header at first).
    fn head(&self) -> &Header;

    /// The nonce of `address` at the head (0 for an account that does not exist); an error
    /// when the state's store cannot be read.
    fn nonce(&self, address: &Address) -> Result<u64, StorageError>;

    /// State root after the head.
    fn state_root(&self) -> B256 {
        self.head().state_root
    }

    /// Whether a pool at the head should take `tx`: it could be valid in a coming block (a
    /// nonce ahead of the sender's waits for the ones before it). The default takes every
    /// transaction, leaving each refusal to block building.
    fn admit(&self, _tx: &Recovered<TxEnvelope>) -> Result<(), TxError> {
        Ok(())
    }

    /// Builds the next block from `candidates` in order, leaving out (and reporting) each
    /// invalid one, and makes it the new head.
    fn build_block(
        &mut self,
        attributes: BlockAttributes,
        candidates: Vec<Recovered<TxEnvelope>>,
        options: ExecuteOptions,
    ) -> Result<BuiltBlock, ExecutionError>;

    /// Re-executes a block whose senders are already recovered (in transaction order) and makes
    /// it the new head if every transaction is valid and every header field matches.
    fn execute_block(
        &mut self,
        block: &Block,
        senders: &[Address],
        options: ExecuteOptions,
    ) -> Result<BlockOutcome, ExecutionError>;

    /// [`StateTransition::execute_block`], recovering the senders first on all cores.
    fn execute_block_recovering(
        &mut self,
        block: &Block,
        options: ExecuteOptions,
    ) -> Result<BlockOutcome, ExecutionError> {
        let mut senders = Vec::with_capacity(block.transactions.len());
        for (index, recovered) in
            recover_all(block.transactions.clone(), RecoveryBackend::Libsecp256k1)
                .into_iter()
                .enumerate()
        {
            match recovered {
                Ok(tx) => senders.push(tx.signer()),
                Err(error) => return Err(ExecutionError::InvalidSignature { index, error }),
            }
        }
        self.execute_block(block, &senders, options)
    }

    /// This replica is the rollup's head again, after a revert took the chain back to it:
    /// a state transition whose state lives in a store takes the store back to this head.
    /// The default does nothing (a state in memory has nothing to take back).
    fn become_head(&mut self) -> Result<(), ExecutionError> {
        Ok(())
    }

    /// A one-step proof (a Merkle witness) of step `step` of `batch`, which starts at this
    /// replica's head. The default refuses: a state transition that cannot produce witnesses
    /// cannot defend its batches in a dispute game.
    fn prove_step(&self, _batch: &Batch, _step: usize) -> Result<StepWitness, StepError> {
        Err(StepError::Prover(
            "this state transition cannot produce witnesses".into(),
        ))
    }

    /// The state roots after each of the first `steps` steps of `batch`, replayed from this
    /// replica's head. The default refuses, as [`StateTransition::prove_step`] does.
    fn replay_steps(&self, _batch: &Batch, _steps: usize) -> Result<Vec<B256>, StepError> {
        Err(StepError::Prover(
            "this state transition cannot replay steps".into(),
        ))
    }
}

impl StateTransition for EvmStateTransition {
    fn config(&self) -> &RollupConfig {
        Self::config(self)
    }

    fn admit(&self, tx: &Recovered<TxEnvelope>) -> Result<(), TxError> {
        Self::admit(self, tx)
    }

    fn nonce(&self, address: &Address) -> Result<u64, StorageError> {
        self.state().nonce(address)
    }

    fn become_head(&mut self) -> Result<(), ExecutionError> {
        Self::become_head(self)
    }

    fn head(&self) -> &Header {
        Self::head(self)
    }

    fn build_block(
        &mut self,
        attributes: BlockAttributes,
        candidates: Vec<Recovered<TxEnvelope>>,
        options: ExecuteOptions,
    ) -> Result<BuiltBlock, ExecutionError> {
        Self::build_block(self, attributes, candidates, options)
    }

    fn execute_block(
        &mut self,
        block: &Block,
        senders: &[Address],
        options: ExecuteOptions,
    ) -> Result<BlockOutcome, ExecutionError> {
        Self::execute_block(self, block, senders, options)
    }

    fn execute_block_recovering(
        &mut self,
        block: &Block,
        options: ExecuteOptions,
    ) -> Result<BlockOutcome, ExecutionError> {
        // Pipelined: recovery on all cores overlaps execution.
        Self::execute_block_recovering(self, block, options)
    }

    fn prove_step(&self, batch: &Batch, step: usize) -> Result<StepWitness, StepError> {
        Replay::new(self, batch.clone())?.prove(step)
    }

    fn replay_steps(&self, batch: &Batch, steps: usize) -> Result<Vec<B256>, StepError> {
        Ok(Replay::new(self, batch.clone())?.run_to(steps)?.to_vec())
    }
}
