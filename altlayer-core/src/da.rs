//! The [`DataAvailability`] composition point: publishing batches and getting them back.
//!
//! This is an I/O edge, so it is an async trait the node implements against a real DA layer.
//! [`InMemoryDa`] is the default for one machine and for tests, with injectable faults.

use crate::primitives::{Batch, DaRef};
use alloy_primitives::{B256, keccak256};
use alloy_rlp::Encodable;
use async_trait::async_trait;
use std::sync::Mutex;

/// Why a DA operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DaError {
    /// Nothing is published at that position.
    #[error("no data at DA position {0}")]
    NotFound(u64),
    /// The data at that position does not match its commitment or does not decode.
    #[error("data at DA position {position} is corrupt: {reason}")]
    Corrupt {
        /// The position.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// The layer refused or could not take the publication.
    #[error("DA layer unavailable: {0}")]
    Unavailable(String),
}

/// Publishes batches and retrieves them by reference.
///
/// # Example
///
/// ```
/// use altlayer_core::{Batch, RollupId, da::{DataAvailability, InMemoryDa}};
///
/// # tokio_test_block_on(async {
/// let da = InMemoryDa::default();
/// let batch = Batch { rollup_id: RollupId(1), index: 0, ..Default::default() };
/// let reference = da.publish(&batch).await?;
/// assert_eq!(da.retrieve(&reference).await?, batch);
/// # Ok::<(), altlayer_core::da::DaError>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[async_trait]
pub trait DataAvailability: Send + Sync {
    /// Publishes a batch; returns where it can be found and its commitment.
    async fn publish(&self, batch: &Batch) -> Result<DaRef, DaError>;

    /// Retrieves the batch at a reference, checking it against the reference's commitment.
    async fn retrieve(&self, reference: &DaRef) -> Result<Batch, DaError>;
    /// The runtime state as a record, to resume from after a restart (see
    /// [`crate::persist`]). The default cannot.
    fn persist(&self) -> Result<Vec<u8>, crate::persist::PersistError> {
        Err(crate::persist::unsupported::<Self>())
    }

    /// Puts back what `persist` wrote, into a component built afresh from the same
    /// configuration; changes nothing on error.
    fn restore(&self, _record: &[u8]) -> Result<(), crate::persist::PersistError> {
        Err(crate::persist::unsupported::<Self>())
    }
}

/// A fault the in-memory DA layer injects, for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DaFault {
    /// Behave.
    #[default]
    None,
    /// Accept publications but return `NotFound` on retrieval (data withholding).
    Withhold,
    /// Flip a byte of the stored data (caught by the commitment check).
    Corrupt,
    /// Refuse publications.
    Unavailable,
}

/// DA in process memory: batches stored RLP-encoded, position = publication order, commitment
/// = keccak-256 of the encoding.
#[derive(Debug, Default)]
pub struct InMemoryDa {
    inner: Mutex<InMemoryDaState>,
}

#[derive(Debug, Default)]
struct InMemoryDaState {
    blobs: Vec<(B256, Vec<u8>)>,
    fault: DaFault,
}

impl InMemoryDa {
    /// Sets the fault injected from now on.
    pub fn set_fault(&self, fault: DaFault) {
        self.lock().fault = fault;
    }

    /// Number of publications.
    pub fn len(&self) -> usize {
        self.lock().blobs.len()
    }

    /// Whether nothing was published.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InMemoryDaState> {
        // A panic while holding the lock cannot leave the Vec half-written, so poisoning is
        // safe to ignore.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl InMemoryDa {
    /// [`DataAvailability::publish`], synchronously (the in-memory layer never waits).
    pub fn publish_now(&self, batch: &Batch) -> Result<DaRef, DaError> {
        let mut state = self.lock();
        if state.fault == DaFault::Unavailable {
            return Err(DaError::Unavailable("injected fault".into()));
        }
        let mut data = Vec::with_capacity(batch.length());
        batch.encode(&mut data);
        let commitment = keccak256(&data);
        if state.fault == DaFault::Corrupt
            && let Some(byte) = data.last_mut()
        {
            *byte ^= 0xff;
        }
        let position = state.blobs.len() as u64;
        state.blobs.push((commitment, data));
        Ok(DaRef {
            position,
            commitment,
        })
    }

    /// [`DataAvailability::retrieve`], synchronously.
    pub fn retrieve_now(&self, reference: &DaRef) -> Result<Batch, DaError> {
        let state = self.lock();
        if state.fault == DaFault::Withhold {
            return Err(DaError::NotFound(reference.position));
        }
        let (commitment, data) = usize::try_from(reference.position)
            .ok()
            .and_then(|i| state.blobs.get(i))
            .ok_or(DaError::NotFound(reference.position))?;
        let corrupt = |reason: String| DaError::Corrupt {
            position: reference.position,
            reason,
        };
        if *commitment != reference.commitment || keccak256(data) != reference.commitment {
            return Err(corrupt("commitment mismatch".into()));
        }
        let mut bytes = data.as_slice();
        let batch = <Batch as alloy_rlp::Decodable>::decode(&mut bytes)
            .map_err(|e| corrupt(e.to_string()))?;
        if !bytes.is_empty() {
            return Err(corrupt("trailing bytes".into()));
        }
        Ok(batch)
    }
}

#[async_trait]
impl DataAvailability for InMemoryDa {
    /// Every blob: DA in the node's memory is kept with the node's records.
    fn persist(&self) -> Result<Vec<u8>, crate::persist::PersistError> {
        let blobs: Vec<(B256, alloy_primitives::Bytes)> = self
            .lock()
            .blobs
            .iter()
            .map(|(hash, bytes)| (*hash, bytes.clone().into()))
            .collect();
        crate::persist::encode("da", &blobs)
    }

    fn restore(&self, record: &[u8]) -> Result<(), crate::persist::PersistError> {
        let blobs: Vec<(B256, alloy_primitives::Bytes)> = crate::persist::decode("da", record)?;
        self.lock().blobs = blobs
            .into_iter()
            .map(|(hash, bytes)| (hash, bytes.to_vec()))
            .collect();
        Ok(())
    }

    async fn publish(&self, batch: &Batch) -> Result<DaRef, DaError> {
        self.publish_now(batch)
    }

    async fn retrieve(&self, reference: &DaRef) -> Result<Batch, DaError> {
        self.retrieve_now(reference)
    }
}
