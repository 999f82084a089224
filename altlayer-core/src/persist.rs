//! Persisting the rollup: what each component writes so that a restarted node resumes where
//! it stopped, and how the replicas it held come back.
//!
//! A component's runtime state is encoded as JSON (serde) by its `persist` method and put back
//! by `restore` into a component built afresh from the same configuration (keys and settings
//! come from there, never from the database). A replica (a state transition at some block) is
//! not written: its block is ([`ReplicaRef`]), and [`Replicas`] opens it again on the state
//! store at that block. The [`Rollup`](crate::rollup::Rollup) gathers its components' records
//! ([`Rollup::persist`](crate::rollup::Rollup::persist)) for the node to write to a
//! [`ProtocolStore`](crate::storage::ProtocolStore) in one transaction.
//!
//! Components that cannot resume keep the defaults, which refuse with
//! [`PersistError::Unsupported`]: a node then refuses to restart from its data rather than
//! start again from genesis over a chain it already extended.

use crate::{
    EvmStateTransition, RollupConfig, StateTransition,
    storage::{StateStore, StorageError},
};
use alloy_primitives::B256;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::sync::Arc;

/// Why a component could not be persisted or restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// The component keeps no record of its state: it cannot resume.
    #[error("{0} cannot resume from a database")]
    Unsupported(&'static str),
    /// The state could not be encoded.
    #[error("encoding {what}: {reason}")]
    Encode {
        /// Whose state.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A record does not decode: damaged, or written by another version.
    #[error("the {what} record does not decode: {reason}")]
    Decode {
        /// Whose record.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A record is missing.
    #[error("the {0} record is missing")]
    Missing(&'static str),
    /// A replica could not be opened again at its block.
    #[error("the replica at block {height} ({hash}): {reason}")]
    Replica {
        /// Its block's height.
        height: u64,
        /// Its block's hash.
        hash: B256,
        /// Why.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What a component without records answers: [`PersistError::Unsupported`] naming its type
/// (the default of every `persist` and `restore` hook).
pub fn unsupported<T: ?Sized>() -> PersistError {
    PersistError::Unsupported(std::any::type_name::<T>())
}

/// A replica as persisted: the block it stands on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaRef {
    /// The block's height.
    pub height: u64,
    /// The block's hash.
    pub hash: B256,
}

impl ReplicaRef {
    /// The block `replica` stands on.
    pub fn of<T: StateTransition>(replica: &T) -> Self {
        let head = replica.head();
        Self {
            height: head.height,
            hash: head.hash(),
        }
    }
}

/// Opens replicas again on the state store, at the blocks they stood on.
#[derive(Clone, Debug)]
pub struct Replicas {
    config: RollupConfig,
    store: Arc<dyn StateStore>,
}

impl Replicas {
    /// Replicas of the rollup `config` describes, over `store`.
    pub fn new(config: RollupConfig, store: Arc<dyn StateStore>) -> Self {
        Self { config, store }
    }

    /// The replica at `at`: its block must be the store's at that height, and its state still
    /// kept.
    pub fn reopen(&self, at: ReplicaRef) -> Result<EvmStateTransition, PersistError> {
        let failed = |reason: String| PersistError::Replica {
            height: at.height,
            hash: at.hash,
            reason,
        };
        let stored = self.store.block_hash(at.height)?;
        if stored != Some(at.hash) {
            return Err(failed(match stored {
                Some(other) => format!("the store holds block {other} at that height"),
                None => "the store does not hold that block".into(),
            }));
        }
        EvmStateTransition::open_at(self.config.clone(), self.store.clone(), at.height)
            .map_err(|e| failed(e.to_string()))
    }
}

/// A replica type that [`Replicas`] can open again.
pub trait Reopen: Sized {
    /// The replica at `at`.
    fn reopen(replicas: &Replicas, at: ReplicaRef) -> Result<Self, PersistError>;
}

impl Reopen for EvmStateTransition {
    fn reopen(replicas: &Replicas, at: ReplicaRef) -> Result<Self, PersistError> {
        replicas.reopen(at)
    }
}

/// `value` as a record of `what`.
pub fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, PersistError> {
    serde_json::to_vec(value).map_err(|e| PersistError::Encode {
        what,
        reason: e.to_string(),
    })
}

/// A record of `what`.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, PersistError> {
    serde_json::from_slice(bytes).map_err(|e| PersistError::Decode {
        what,
        reason: e.to_string(),
    })
}

/// Serde for RLP types (blocks, batches) as their RLP bytes: `#[serde(with = "rlp")]`.
pub mod rlp {
    use alloy_primitives::Bytes;
    use alloy_rlp::{Decodable, Encodable};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes `value`'s RLP.
    pub fn serialize<T: Encodable, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        Bytes::from(alloy_rlp::encode(value)).serialize(serializer)
    }

    /// Reads a value from its RLP.
    pub fn deserialize<'de, T: Decodable, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        let bytes = Bytes::deserialize(deserializer)?;
        alloy_rlp::decode_exact(&bytes).map_err(serde::de::Error::custom)
    }

    /// The same for a list.
    pub mod list {
        use super::*;

        /// Writes each item's RLP.
        pub fn serialize<T: Encodable, S: Serializer>(
            items: &[T],
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            items
                .iter()
                .map(|item| Bytes::from(alloy_rlp::encode(item)))
                .collect::<Vec<_>>()
                .serialize(serializer)
        }

        /// Reads each item from its RLP.
        pub fn deserialize<'de, T: Decodable, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Vec<T>, D::Error> {
            Vec::<Bytes>::deserialize(deserializer)?
                .iter()
                .map(|bytes| alloy_rlp::decode_exact(bytes).map_err(serde::de::Error::custom))
                .collect()
        }
    }

    /// The same for a map from numbers (batch indexes, heights).
    pub mod map {
        use super::*;
        use std::collections::BTreeMap;

        /// Writes each value's RLP.
        pub fn serialize<T: Encodable, S: Serializer>(
            items: &BTreeMap<u64, T>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            items
                .iter()
                .map(|(key, item)| (*key, Bytes::from(alloy_rlp::encode(item))))
                .collect::<Vec<_>>()
                .serialize(serializer)
        }

        /// Reads each value from its RLP.
        pub fn deserialize<'de, T: Decodable, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<BTreeMap<u64, T>, D::Error> {
            Vec::<(u64, Bytes)>::deserialize(deserializer)?
                .into_iter()
                .map(|(key, bytes)| {
                    alloy_rlp::decode_exact(&bytes)
                        .map(|item| (key, item))
                        .map_err(serde::de::Error::custom)
                })
                .collect()
        }
    }
}
