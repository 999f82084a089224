//! [`DirectoryDa`]: data availability in a directory, one file per published batch.

use alloy_primitives::keccak256;
use alloy_rlp::{Decodable, Encodable};
use altlayer_core::{Batch, DataAvailability, da::DaError, primitives::DaRef};
use async_trait::async_trait;
use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};

/// Batches as files `DIR/batch-<position>.rlp` (RLP, committed to by keccak-256): what a node
/// shares with verifiers on one machine, and what survives the process. A file is written
/// to a temporary name and renamed, so a reader never sees half of one.
#[derive(Debug)]
pub struct DirectoryDa {
    dir: PathBuf,
    /// The next position (files are numbered from 0).
    next: Mutex<u64>,
}

impl DirectoryDa {
    /// DA in `dir` (created if missing); publications continue after the files present.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, DaError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| DaError::Unavailable(format!("{}: {e}", dir.display())))?;
        let mut next = 0;
        while Self::file(&dir, next).exists() {
            next += 1;
        }
        Ok(Self {
            dir,
            next: Mutex::new(next),
        })
    }

    fn file(dir: &Path, position: u64) -> PathBuf {
        dir.join(format!("batch-{position}.rlp"))
    }
}

#[async_trait]
impl DataAvailability for DirectoryDa {
    /// Nothing: the directory is the record (a restart scans it again).
    fn persist(&self) -> Result<Vec<u8>, altlayer_core::persist::PersistError> {
        Ok(Vec::new())
    }

    fn restore(&self, _record: &[u8]) -> Result<(), altlayer_core::persist::PersistError> {
        Ok(())
    }

    async fn publish(&self, batch: &Batch) -> Result<DaRef, DaError> {
        let mut data = Vec::with_capacity(batch.length());
        batch.encode(&mut data);
        let commitment = keccak256(&data);
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let position = *next;
        let path = Self::file(&self.dir, position);
        let temporary = path.with_extension("tmp");
        let unavailable =
            |e: std::io::Error| DaError::Unavailable(format!("{}: {e}", path.display()));
        // Durable before it is referenced: the node's records (written after this returns)
        // may point at it.
        let mut file = std::fs::File::create(&temporary).map_err(unavailable)?;
        std::io::Write::write_all(&mut file, &data).map_err(unavailable)?;
        file.sync_all().map_err(unavailable)?;
        std::fs::rename(&temporary, &path).map_err(unavailable)?;
        // The rename itself is durable only once the directory is.
        std::fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(unavailable)?;
        *next += 1;
        Ok(DaRef {
            position,
            commitment,
        })
    }

    async fn retrieve(&self, reference: &DaRef) -> Result<Batch, DaError> {
        let path = Self::file(&self.dir, reference.position);
        let data = std::fs::read(&path).map_err(|_| DaError::NotFound(reference.position))?;
        let corrupt = |reason: String| DaError::Corrupt {
            position: reference.position,
            reason,
        };
        if keccak256(&data) != reference.commitment {
            return Err(corrupt("commitment mismatch".into()));
        }
        let mut bytes = data.as_slice();
        let batch = Batch::decode(&mut bytes).map_err(|e| corrupt(e.to_string()))?;
        if !bytes.is_empty() {
            return Err(corrupt("trailing bytes".into()));
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_round_trip_and_tampering_is_caught() {
        let dir = std::env::temp_dir().join(format!("altlayer-da-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let da = DirectoryDa::open(&dir).unwrap();
        let batch = Batch {
            index: 3,
            ..Default::default()
        };
        let reference = da.publish(&batch).await.unwrap();
        assert_eq!(reference.position, 0);
        assert_eq!(da.retrieve(&reference).await.unwrap(), batch);
        // A second handle on the directory continues after what is there.
        let again = DirectoryDa::open(&dir).unwrap();
        assert_eq!(again.publish(&batch).await.unwrap().position, 1);
        std::fs::write(dir.join("batch-0.rlp"), b"tampered").unwrap();
        assert!(matches!(
            da.retrieve(&reference).await,
            Err(DaError::Corrupt { .. })
        ));
        assert_eq!(
            da.retrieve(&DaRef {
                position: 9,
                ..reference
            })
            .await,
            Err(DaError::NotFound(9))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
