//! The [`Verifier`] composition point: checking blocks and batches against re-execution.
//!
//! The default, [`ReExecutionVerifier`], keeps its own replica of the state and re-executes
//! everything it is shown. For a batch whose roots disagree it points at the first transaction
//! whose post-state root differs, which is where VITAL's bisection game ends up.

use crate::{
    execution::{ExecuteOptions, ExecutionError},
    primitives::{Batch, Block},
    transition::StateTransition,
};
use alloy_primitives::B256;

/// The verdict on one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockVerdict {
    /// Re-execution agrees; the replica advanced to the block.
    Valid {
        /// State root after the block.
        state_root: B256,
    },
    /// Re-execution disagrees; the replica is unchanged.
    Invalid {
        /// Height of the block.
        height: u64,
        /// Why.
        reason: ExecutionError,
    },
}

/// The verdict on one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchVerdict {
    /// Every block and every root in the batch is right.
    Valid,
    /// The batch is wrong. The replica has applied the batch's valid prefix.
    Invalid {
        /// Index of the first transaction (across the batch) whose post-state root in the batch
        /// differs from re-execution, when the disagreement is about a root.
        first_bad_tx: Option<usize>,
        /// The root re-execution computes there (or at the point of failure).
        expected_root: Option<B256>,
        /// What is wrong.
        reason: String,
    },
}

/// Checks blocks and batches, yielding verdicts a challenge can be built from.
///
/// # Example
///
/// ```
/// use altlayer_core::{
///     RollupConfig, StateTransition,
///     execution::{BlockAttributes, ExecuteOptions},
///     genesis::{parse_genesis, state_transition_from_genesis},
///     verifier::{BlockVerdict, ReExecutionVerifier, Verifier},
/// };
///
/// let genesis = parse_genesis(r#"{"config":{"chainId":1337},"alloc":{}}"#)?;
/// let mut sequencer = state_transition_from_genesis(RollupConfig::default(), &genesis);
/// let mut verifier = ReExecutionVerifier::new(sequencer.clone());
///
/// let mut block = sequencer.build_block(BlockAttributes::default(), vec![], ExecuteOptions::default())?.block;
/// block.header.state_root = alloy_primitives::B256::repeat_byte(0xba); // a lying sequencer
/// assert!(matches!(verifier.verify_block(&block), BlockVerdict::Invalid { height: 1, .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Verifier {
    /// Re-executes a block on top of the verifier's replica.
    fn verify_block(&mut self, block: &Block) -> BlockVerdict;

    /// Checks a batch: its pre-state root, each block, each intermediate root, and its
    /// post-state root.
    fn verify_batch(&mut self, batch: &Batch) -> BatchVerdict;
}

/// The default verifier: re-execution on a private replica.
#[derive(Debug, Clone)]
pub struct ReExecutionVerifier<S> {
    replica: S,
}

impl<S: StateTransition> ReExecutionVerifier<S> {
    /// A verifier whose replica starts at `replica`'s head.
    pub const fn new(replica: S) -> Self {
        Self { replica }
    }

    /// The replica.
    pub const fn replica(&self) -> &S {
        &self.replica
    }
}

impl<S: StateTransition> Verifier for ReExecutionVerifier<S> {
    fn verify_block(&mut self, block: &Block) -> BlockVerdict {
        match self
            .replica
            .execute_block_recovering(block, ExecuteOptions::default())
        {
            Ok(outcome) => BlockVerdict::Valid {
                state_root: outcome.header.state_root,
            },
            Err(reason) => BlockVerdict::Invalid {
                height: block.header.height,
                reason,
            },
        }
    }

    fn verify_batch(&mut self, batch: &Batch) -> BatchVerdict {
        let invalid = |first_bad_tx, expected_root, reason: String| BatchVerdict::Invalid {
            first_bad_tx,
            expected_root,
            reason,
        };
        if batch.pre_state_root != self.replica.state_root() {
            return invalid(
                None,
                Some(self.replica.state_root()),
                "pre-state root does not match".into(),
            );
        }
        let claimed = &batch.intermediate_roots;
        if claimed.len() != batch.transaction_count() {
            return invalid(
                None,
                None,
                format!(
                    "{} intermediate roots for {} transactions",
                    claimed.len(),
                    batch.transaction_count()
                ),
            );
        }
        let mut tx_offset = 0;
        for block in &batch.blocks {
            let count = block.transactions.len();
            match self
                .replica
                .execute_block_recovering(block, ExecuteOptions::with_intermediate_roots())
            {
                Ok(outcome) => {
                    let mine = &outcome.intermediate_roots;
                    if let Some(i) = (0..count).find(|&i| mine[i] != claimed[tx_offset + i]) {
                        return invalid(
                            Some(tx_offset + i),
                            Some(mine[i]),
                            format!("state root after transaction {} differs", tx_offset + i),
                        );
                    }
                }
                Err(ExecutionError::StateRootMismatch {
                    expected,
                    intermediate_roots,
                    ..
                }) if intermediate_roots.len() == count => {
                    let first =
                        (0..count).find(|&i| intermediate_roots[i] != claimed[tx_offset + i]);
                    return match first {
                        Some(i) => invalid(
                            Some(tx_offset + i),
                            Some(intermediate_roots[i]),
                            format!("state root after transaction {} differs", tx_offset + i),
                        ),
                        None => invalid(
                            None,
                            Some(expected),
                            format!("block {} state root differs", block.header.height),
                        ),
                    };
                }
                Err(reason) => {
                    return invalid(
                        None,
                        None,
                        format!("block {}: {reason}", block.header.height),
                    );
                }
            }
            tx_offset += count;
        }
        if batch.post_state_root != self.replica.state_root() {
            return invalid(
                None,
                Some(self.replica.state_root()),
                "post-state root does not match".into(),
            );
        }
        BatchVerdict::Valid
    }
}
