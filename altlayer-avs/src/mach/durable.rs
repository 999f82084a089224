//! [`DurableMachOperator`]: a MACH operator whose signer state is on disk before its vote or
//! alert leaves its process.
//!
//! [`MachOperator`] never signs twice at one height or below the last height it signed, but
//! only as long as it remembers that height. This wrapper writes the [`SignerState`] to a
//! [`ProtocolStore`] (one durable transaction) after each signature and before handing the
//! message out, and reads it back when the operator starts again: a restarted operator refuses
//! to sign a second block at a height it signed, even if the first message never went out.

use super::{MachError, MachMessage, MachOperator, SignerState};
use alloy_primitives::Address;
use altlayer_core::{
    Block, StateTransition,
    bls::SecretKey,
    storage::{ProtocolStore, StorageError},
};
use std::sync::Arc;

/// Why a durable operator could not sign.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DurableMachError {
    /// The operator refused (already signed the height, cannot judge the block...).
    #[error(transparent)]
    Mach(#[from] MachError),
    /// The store failed: the message was not handed out.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The record does not decode.
    #[error("the operator's record: {0}")]
    Record(String),
}

/// A [`MachOperator`] writing its signer state before its messages leave; see the
/// [module docs](self).
pub struct DurableMachOperator<T> {
    operator: MachOperator<T>,
    store: Arc<dyn ProtocolStore>,
    name: String,
}

impl<T> std::fmt::Debug for DurableMachOperator<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableMachOperator")
            .field("record", &self.name)
            .finish_non_exhaustive()
    }
}

impl<T: StateTransition> DurableMachOperator<T> {
    /// The operator `address` with `key` and a replica at the rollup's head, its signer state
    /// read from `store` (none yet: it has signed nothing).
    pub fn open(
        address: Address,
        key: SecretKey,
        transition: T,
        store: Arc<dyn ProtocolStore>,
    ) -> Result<Self, DurableMachError> {
        let name = format!("mach/{address}");
        let state = match store.record(&name)? {
            Some(bytes) => serde_json::from_slice::<SignerState>(&bytes)
                .map_err(|e| DurableMachError::Record(e.to_string()))?,
            None => SignerState::default(),
        };
        Ok(Self {
            operator: MachOperator::new(address, key, transition, state),
            store,
            name,
        })
    }

    /// The operator.
    pub const fn operator(&self) -> &MachOperator<T> {
        &self.operator
    }

    /// [`MachOperator::on_block`], the signer state written before the message is returned.
    /// On a storage error the message is withheld (its height counts as signed in memory:
    /// the operator must stop).
    pub fn on_block(
        &mut self,
        block: &Block,
        snapshot_height: u64,
    ) -> Result<MachMessage, DurableMachError> {
        let message = self.operator.on_block(block, snapshot_height)?;
        let bytes = serde_json::to_vec(&self.operator.state())
            .map_err(|e| DurableMachError::Record(e.to_string()))?;
        self.store
            .write_records(&[(self.name.as_str(), Some(bytes.as_slice()))])?;
        Ok(message)
    }
}
