//! [`ProtocolStore`]: the records the rollup's protocol state machines resume from.

use super::StorageError;

/// Named records of the rollup's protocol state: batches and their finality, the ledger,
/// governance, the operators' signing state (locks, votes, the last height each signed),
/// pending challenges. A record is whatever bytes its owner encodes; the store keeps them
/// durably and writes a set of them in one transaction, all or nothing.
///
/// The node writes the records after each step of its driver, before anything the step
/// produced leaves the process (a vote to a peer, a receipt to a JSON-RPC client), so that a
/// restarted node never contradicts what it already said.
pub trait ProtocolStore: Send + Sync + std::fmt::Debug {
    /// The record `name`, if written.
    fn record(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Writes `records` (`None` deletes one) in one durable transaction.
    fn write_records(&self, records: &[(&str, Option<&[u8]>)]) -> Result<(), StorageError>;

    /// Writes records as a rollup's `persist` gives them (name and bytes, none deleted) in
    /// one durable transaction.
    fn save_records(&self, records: &[(&str, Vec<u8>)]) -> Result<(), StorageError> {
        let records: Vec<(&str, Option<&[u8]>)> = records
            .iter()
            .map(|(name, bytes)| (*name, Some(bytes.as_slice())))
            .collect();
        self.write_records(&records)
    }
}
