//! [`DurableSquadNode`]: a sequencer whose signing state is on disk before anything it signed
//! leaves its process.
//!
//! A sequencer that signs a vote, crashes before the vote is sent, and restarts without
//! remembering it could sign a different vote for the same slot: an equivocation, slashed.
//! This wrapper writes the node's [`SquadState`] (locks, the messages it signed at the current
//! height, its chain) to a [`ProtocolStore`] in one durable transaction whenever a step
//! produced a message to send and the state changed, and only then hands the outputs out. A
//! node restarted from the record re-sends what it signed ([`SquadNode::start`]) and refuses
//! to sign anything else for those slots.

use super::{Output, SquadConfig, SquadError, SquadNode, SquadState};
use crate::qc::Roster;
use alloy_primitives::Address;
use altlayer_core::{
    bls::SecretKey,
    storage::{ProtocolStore, StorageError},
};
use std::sync::Arc;

/// Why a durable node could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DurableError {
    /// The node refused its configuration.
    #[error(transparent)]
    Squad(#[from] SquadError),
    /// The store failed: the outputs were not handed out.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The record does not decode, or the state does not encode.
    #[error("the sequencer's record: {0}")]
    Record(String),
}

/// A [`SquadNode`] writing its state before its messages leave; see the [module docs](self).
pub struct DurableSquadNode {
    node: SquadNode,
    store: Arc<dyn ProtocolStore>,
    name: String,
    /// The state as last written.
    written: Vec<u8>,
}

impl std::fmt::Debug for DurableSquadNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableSquadNode")
            .field("address", &self.node.address())
            .field("record", &self.name)
            .finish_non_exhaustive()
    }
}

impl DurableSquadNode {
    /// The sequencer `address` with `key`, resumed from its record in `store` if it has one,
    /// new otherwise. Call [`DurableSquadNode::start`] next.
    pub fn open(
        config: SquadConfig,
        roster: Arc<Roster>,
        address: Address,
        key: SecretKey,
        store: Arc<dyn ProtocolStore>,
    ) -> Result<Self, DurableError> {
        let name = format!("squad/{address}");
        let (node, written) = match store.record(&name)? {
            Some(bytes) => {
                let state: SquadState = serde_json::from_slice(&bytes)
                    .map_err(|e| DurableError::Record(e.to_string()))?;
                (
                    SquadNode::restore(config, roster, address, key, state)?,
                    bytes,
                )
            }
            None => (SquadNode::new(config, roster, address, key)?, Vec::new()),
        };
        Ok(Self {
            node,
            store,
            name,
            written,
        })
    }

    /// The node.
    pub const fn node(&self) -> &SquadNode {
        &self.node
    }

    /// [`SquadNode::start`], its state written first.
    pub fn start(&mut self, now_ms: u64) -> Result<Vec<Output>, DurableError> {
        let outputs = self.node.start(now_ms);
        self.write_before(outputs)
    }

    /// [`SquadNode::handle`], its state written before any message goes out. On a storage
    /// error the outputs are withheld: the node must stop (what it signed was never sent,
    /// and its record still says what it had signed before).
    pub fn handle(
        &mut self,
        now_ms: u64,
        input: super::Input,
    ) -> Result<Vec<Output>, DurableError> {
        let outputs = self.node.handle(now_ms, input);
        self.write_before(outputs)
    }

    fn write_before(&mut self, outputs: Vec<Output>) -> Result<Vec<Output>, DurableError> {
        let sends = outputs.iter().any(|o| matches!(o, Output::Send { .. }));
        if sends {
            let bytes = serde_json::to_vec(self.node.state())
                .map_err(|e| DurableError::Record(e.to_string()))?;
            if bytes != self.written {
                self.store
                    .write_records(&[(self.name.as_str(), Some(bytes.as_slice()))])?;
                self.written = bytes;
            }
        }
        Ok(outputs)
    }
}
