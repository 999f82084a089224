//! The chain in the database: headers, bodies, receipts, the transaction index and the log
//! index, written with the block's state in one transaction.

use crate::{
    RedbStore, backend,
    tables::{
        BODIES, HASHES, HEADERS, LOG_INDEX, RECEIPTS, TX_INDEX, corrupt, decode_items,
        encode_items, u64_of,
    },
};
use alloy_consensus::TxEnvelope;
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B256, keccak256};
use altlayer_core::{
    primitives::{Block, Header, Receipt},
    storage::{BlockCommit, ChainStore, LogKey, StorageError, StoredBlock},
};
use redb::ReadableDatabase;

/// A block's transactions and their senders, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockBody {
    /// The transactions, in order.
    pub transactions: Vec<TxEnvelope>,
    /// Their senders, in order.
    pub senders: Vec<Address>,
}

pub(crate) fn decode_header(height: u64, bytes: &[u8]) -> Result<(B256, Header), StorageError> {
    if bytes.len() < 32 {
        return Err(corrupt(format!("header {height} cut short")));
    }
    let header: Header = alloy_rlp::decode_exact(&bytes[32..])
        .map_err(|e| corrupt(format!("header {height}: {e}")))?;
    Ok((B256::from_slice(&bytes[..32]), header))
}

/// The log index key: the kind (0 an address, 1 a topic), the id, the height big-endian (so a
/// range of heights is a range of keys).
fn log_key(key: &LogKey, height: u64) -> Vec<u8> {
    let (kind, id) = match key {
        LogKey::Address(address) => (0, address.as_slice()),
        LogKey::Topic(topic) => (1, topic.as_slice()),
    };
    let mut bytes = Vec::with_capacity(1 + id.len() + 8);
    bytes.push(kind);
    bytes.extend_from_slice(id);
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes
}

/// The log index keys of a block's receipts: one per address and per topic named.
fn log_keys(height: u64, receipts: &[Receipt]) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = receipts
        .iter()
        .flat_map(|r| r.logs())
        .flat_map(LogKey::of)
        .map(|key| log_key(&key, height))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

pub(crate) fn write_block(
    tx: &redb::WriteTransaction,
    commit: &BlockCommit<'_>,
) -> Result<(), StorageError> {
    let height = commit.block.header.height;
    let mut header = commit.hash.to_vec();
    header.extend_from_slice(&alloy_rlp::encode(&commit.block.header));
    tx.open_table(HEADERS)
        .map_err(backend)?
        .insert(height, header.as_slice())
        .map_err(backend)?;
    tx.open_table(HASHES)
        .map_err(backend)?
        .insert(commit.hash.as_slice(), height)
        .map_err(backend)?;
    let encoded: Vec<Vec<u8>> = commit
        .block
        .transactions
        .iter()
        .map(Encodable2718::encoded_2718)
        .collect();
    let mut body = encode_items(encoded.iter().map(Vec::as_slice));
    for sender in commit.senders {
        body.extend_from_slice(sender.as_slice());
    }
    tx.open_table(BODIES)
        .map_err(backend)?
        .insert(height, body.as_slice())
        .map_err(backend)?;
    let receipts: Vec<Vec<u8>> = commit
        .receipts
        .iter()
        .map(Encodable2718::encoded_2718)
        .collect();
    tx.open_table(RECEIPTS)
        .map_err(backend)?
        .insert(
            height,
            encode_items(receipts.iter().map(Vec::as_slice)).as_slice(),
        )
        .map_err(backend)?;
    // The transaction index is written when the block leaves the journal
    // (`index_transactions`); until then the journal's layers answer.
    let mut logs = tx.open_table(LOG_INDEX).map_err(backend)?;
    for key in log_keys(height, commit.receipts) {
        logs.insert(key.as_slice(), ()).map_err(backend)?;
    }
    Ok(())
}

/// Writes transaction index entries (hash -> block, index), sorted by hash so that the
/// pages they share are written once.
pub(crate) fn index_transactions(
    tx: &redb::WriteTransaction,
    entries: &[(B256, (u64, u32))],
) -> Result<(), StorageError> {
    let mut index = tx.open_table(TX_INDEX).map_err(backend)?;
    for (hash, (height, i)) in entries {
        let mut location = [0u8; 12];
        location[..8].copy_from_slice(&height.to_be_bytes());
        location[8..].copy_from_slice(&i.to_be_bytes());
        index
            .insert(hash.as_slice(), location.as_slice())
            .map_err(backend)?;
    }
    Ok(())
}

/// The hashes of a stored body's transactions (a journaled block's, at open).
pub(crate) fn body_transaction_hashes(body: &[u8]) -> Result<Vec<B256>, StorageError> {
    let (items, _) = decode_items(body)?;
    Ok(items.into_iter().map(keccak256).collect())
}

/// Removes block `height` and its index entries (a block a revert takes back).
pub(crate) fn remove_block(tx: &redb::WriteTransaction, height: u64) -> Result<(), StorageError> {
    let hash = {
        let mut headers = tx.open_table(HEADERS).map_err(backend)?;
        let entry = headers.remove(height).map_err(backend)?;
        entry.map(|e| decode_header(height, e.value()).map(|(hash, _)| hash))
    };
    if let Some(hash) = hash.transpose()? {
        tx.open_table(HASHES)
            .map_err(backend)?
            .remove(hash.as_slice())
            .map_err(backend)?;
    }
    let body = tx
        .open_table(BODIES)
        .map_err(backend)?
        .remove(height)
        .map_err(backend)?
        .map(|e| e.value().to_vec());
    if let Some(body) = body {
        let (txs, _) = decode_items(&body)?;
        let mut index = tx.open_table(TX_INDEX).map_err(backend)?;
        for bytes in txs {
            index.remove(keccak256(bytes).as_slice()).map_err(backend)?;
        }
    }
    let receipts = tx
        .open_table(RECEIPTS)
        .map_err(backend)?
        .remove(height)
        .map_err(backend)?
        .map(|e| e.value().to_vec());
    if let Some(receipts) = receipts {
        let receipts = decode_receipts(height, &receipts)?;
        let mut logs = tx.open_table(LOG_INDEX).map_err(backend)?;
        for key in log_keys(height, &receipts) {
            logs.remove(key.as_slice()).map_err(backend)?;
        }
    }
    Ok(())
}

/// A stored body: the transactions (EIP-2718) and their senders.
pub(crate) fn decode_body(height: u64, bytes: &[u8]) -> Result<BlockBody, StorageError> {
    let (items, rest) = decode_items(bytes)?;
    if rest.len() != items.len() * 20 {
        return Err(corrupt(format!("senders of block {height} do not match")));
    }
    let transactions = items
        .into_iter()
        .map(|mut item| {
            TxEnvelope::decode_2718(&mut item)
                .map_err(|e| corrupt(format!("a transaction of block {height}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let senders = rest.chunks_exact(20).map(Address::from_slice).collect();
    Ok(BlockBody {
        transactions,
        senders,
    })
}

pub(crate) fn decode_receipts(height: u64, bytes: &[u8]) -> Result<Vec<Receipt>, StorageError> {
    let (items, rest) = decode_items(bytes)?;
    if !rest.is_empty() {
        return Err(corrupt(format!(
            "receipts of block {height}: trailing bytes"
        )));
    }
    items
        .into_iter()
        .map(|mut item| {
            Receipt::decode_2718(&mut item)
                .map_err(|e| corrupt(format!("a receipt of block {height}: {e}")))
        })
        .collect()
}

impl RedbStore {
    /// The hash and header of the block at `height`.
    pub fn block_header(&self, height: u64) -> Result<Option<(B256, Header)>, StorageError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let headers = tx.open_table(HEADERS).map_err(backend)?;
        headers
            .get(height)
            .map_err(backend)?
            .map(|v| decode_header(height, v.value()))
            .transpose()
    }

    /// The transactions and senders of the block at `height`.
    pub fn block_body(&self, height: u64) -> Result<Option<BlockBody>, StorageError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let bodies = tx.open_table(BODIES).map_err(backend)?;
        let Some(entry) = bodies.get(height).map_err(backend)? else {
            return Ok(None);
        };
        decode_body(height, entry.value()).map(Some)
    }

    /// The receipts of the block at `height`.
    pub fn receipts(&self, height: u64) -> Result<Option<Vec<Receipt>>, StorageError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let receipts = tx.open_table(RECEIPTS).map_err(backend)?;
        receipts
            .get(height)
            .map_err(backend)?
            .map(|v| decode_receipts(height, v.value()))
            .transpose()
    }
}

impl ChainStore for RedbStore {
    fn block(&self, height: u64) -> Result<Option<StoredBlock>, StorageError> {
        let (Some((hash, header)), Some(body), Some(receipts)) = (
            self.block_header(height)?,
            self.block_body(height)?,
            self.receipts(height)?,
        ) else {
            return Ok(None);
        };
        Ok(Some(StoredBlock {
            block: Block {
                header,
                transactions: body.transactions,
            },
            hash,
            senders: body.senders,
            receipts,
        }))
    }

    fn block_height(&self, hash: &B256) -> Result<Option<u64>, StorageError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let hashes = tx.open_table(HASHES).map_err(backend)?;
        Ok(hashes
            .get(hash.as_slice())
            .map_err(backend)?
            .map(|v| v.value()))
    }

    fn transaction_location(&self, hash: &B256) -> Result<Option<(u64, usize)>, StorageError> {
        if let Some((height, index)) = self.layers().transaction(hash) {
            return Ok(Some((height, index as usize)));
        }
        let tx = self.db.begin_read().map_err(backend)?;
        let index = tx.open_table(TX_INDEX).map_err(backend)?;
        let Some(entry) = index.get(hash.as_slice()).map_err(backend)? else {
            return Ok(None);
        };
        let bytes = entry.value();
        if bytes.len() != 12 {
            return Err(corrupt("transaction location of the wrong size"));
        }
        let mut index = [0u8; 4];
        index.copy_from_slice(&bytes[8..]);
        Ok(Some((
            u64_of(&bytes[..8])?,
            u32::from_be_bytes(index) as usize,
        )))
    }

    fn log_heights(&self, key: &LogKey, from: u64, to: u64) -> Result<Vec<u64>, StorageError> {
        if from > to {
            return Ok(Vec::new());
        }
        let tx = self.db.begin_read().map_err(backend)?;
        let logs = tx.open_table(LOG_INDEX).map_err(backend)?;
        let (start, end) = (log_key(key, from), log_key(key, to));
        logs.range(start.as_slice()..=end.as_slice())
            .map_err(backend)?
            .map(|entry| {
                let (key, _) = entry.map_err(backend)?;
                let key = key.value();
                let at = key
                    .len()
                    .checked_sub(8)
                    .ok_or_else(|| corrupt("a log index key cut short"))?;
                u64_of(&key[at..])
            })
            .collect()
    }
}
