//! A [`TxPool`] over a [`Rollup`] the embedder drives itself, shared behind a mutex: the
//! simplest way to serve a rollup run from a loop of one's own (tests, benchmarks, small
//! embedders). `altlayer launch` instead sends the pool's requests to its run loop, which
//! owns the rollup; both submit through [`Rollup::submit`], so both admit by geth's rules at
//! the head the next block builds on.

use crate::{MemoryChain, TxPool};
use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256};
use altlayer_core::{
    DataAvailability, FinalityGadget, Sequencer, Settlement, ledger::RollupLedger, rollup::Rollup,
    sequencer::SubmitError, verifier::Verifier,
};
use std::sync::{Arc, Mutex, MutexGuard};

/// A rollup shared between its driver's loop and the RPC.
pub type LockedRollup<S, V, F, L, D, St> = Arc<Mutex<Rollup<S, V, F, L, D, St>>>;

/// The rollup's pool, for the RPC, with every admitted transaction announced to the chain's
/// `newPendingTransactions` subscribers.
pub struct SharedRollup<S, V, F, L, D, St>
where
    S: Sequencer,
    V: Verifier,
    F: FinalityGadget,
    L: RollupLedger,
    D: DataAvailability,
    St: Settlement,
{
    rollup: LockedRollup<S, V, F, L, D, St>,
    chain: Arc<MemoryChain>,
}

impl<S, V, F, L, D, St> std::fmt::Debug for SharedRollup<S, V, F, L, D, St>
where
    S: Sequencer,
    V: Verifier,
    F: FinalityGadget,
    L: RollupLedger,
    D: DataAvailability,
    St: Settlement,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRollup").finish_non_exhaustive()
    }
}

impl<S, V, F, L, D, St> SharedRollup<S, V, F, L, D, St>
where
    S: Sequencer,
    V: Verifier,
    F: FinalityGadget,
    L: RollupLedger,
    D: DataAvailability,
    St: Settlement,
{
    /// The pool of `rollup`, announcing to `chain`.
    pub const fn new(rollup: LockedRollup<S, V, F, L, D, St>, chain: Arc<MemoryChain>) -> Self {
        Self { rollup, chain }
    }

    /// The rollup, locked. A panic elsewhere while it was held does not make it unusable:
    /// every rollup operation leaves it consistent or unchanged.
    fn lock(&self) -> MutexGuard<'_, Rollup<S, V, F, L, D, St>> {
        self.rollup
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl<S, V, F, L, D, St> TxPool for SharedRollup<S, V, F, L, D, St>
where
    S: Sequencer + Send + 'static,
    V: Verifier + Send + 'static,
    F: FinalityGadget + Send + 'static,
    L: RollupLedger + Send + 'static,
    D: DataAvailability + Send + 'static,
    St: Settlement + Send + 'static,
    Rollup<S, V, F, L, D, St>: Send,
{
    async fn submit(&self, tx: Recovered<TxEnvelope>) -> Result<B256, SubmitError> {
        let hash = self.lock().submit(tx)?;
        self.chain.announce_pending(hash);
        Ok(hash)
    }

    async fn pending_nonce(&self, sender: Address) -> Option<u64> {
        self.lock().pool_nonce(&sender).ok()
    }

    async fn pooled(&self, hash: B256) -> Option<Recovered<TxEnvelope>> {
        self.lock().pooled(&hash)
    }
}
