//! Rollup primitives: identifiers, headers, blocks, batches and domain-separated hashing.
//!
//! Everything here is built on alloy's types so values flow in and out of the Ethereum
//! ecosystem without conversion. Encodings are RLP (canonical, as Ethereum's) and hashes are
//! keccak-256. Every hash that an operator signs goes through [`signing_digest`], which binds a
//! domain tag, its version, the chain id and the rollup id, so a signature made for one chain,
//! rollup or purpose never verifies for another.

use alloy_consensus::{ReceiptEnvelope, TxEnvelope};
use alloy_primitives::{Address, B256, Bloom, keccak256};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};
use serde::{Deserialize, Serialize};

/// EVM chain id of a rollup (EIP-155), as in every signed Ethereum transaction.
pub type ChainId = u64;

/// Receipt of one executed transaction: alloy's typed receipt envelope (status, cumulative gas,
/// logs, bloom), encoded exactly as Ethereum's.
pub type Receipt = ReceiptEnvelope;

/// Identifier of a rollup within the restaked-rollup system (one L1 can settle many rollups,
/// and operator sets, votes and evidence are scoped per rollup).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    RlpEncodable,
    RlpDecodable,
)]
pub struct RollupId(pub u64);

impl core::fmt::Display for RollupId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "rollup-{}", self.0)
    }
}

/// Where the data of a block's chain had been published when the block was built: the data
/// availability layer's position (for example a DA block height) and the commitment of the
/// most recent batch published there. Zero before the first batch.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    RlpEncodable,
    RlpDecodable,
)]
pub struct DaRef {
    /// Position in the DA layer (height, sequence number or slot, as the layer counts).
    pub position: u64,
    /// Commitment to the published batch at that position.
    pub commitment: B256,
}

/// A rollup block header.
///
/// The hash of a header ([`Header::hash`]) is `keccak256(rlp(header))`, like Ethereum's, and the
/// header carries the chain id and the rollup id, so two rollups never share a block hash.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, RlpEncodable, RlpDecodable,
)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// EVM chain id of the rollup.
    pub chain_id: ChainId,
    /// Rollup the block belongs to.
    pub rollup_id: RollupId,
    /// Hash of the parent header (zero for the genesis block).
    pub parent_hash: B256,
    /// Block height (the genesis block is 0).
    pub height: u64,
    /// Unix timestamp in seconds.
    pub timestamp: u64,
    /// Sequencer that built the block; also the block's `COINBASE`, which receives priority fees.
    pub sequencer: Address,
    /// Gas limit of the block.
    pub gas_limit: u64,
    /// Gas used by the block's transactions.
    pub gas_used: u64,
    /// EIP-1559 base fee per gas, in wei.
    pub base_fee: u64,
    /// Root of the Merkle-Patricia trie of the block's EIP-2718 transactions.
    pub transactions_root: B256,
    /// Root of the Merkle-Patricia trie of the block's receipts.
    pub receipts_root: B256,
    /// Union of the receipts' blooms.
    pub logs_bloom: Bloom,
    /// Ethereum Merkle-Patricia state root after the block.
    pub state_root: B256,
    /// DA position the block builds on.
    pub da_ref: DaRef,
}

impl Header {
    /// `keccak256(rlp(header))`.
    pub fn hash(&self) -> B256 {
        let mut buf = Vec::with_capacity(self.length());
        self.encode(&mut buf);
        keccak256(&buf)
    }

    /// Decodes a header from its canonical RLP encoding, refusing trailing bytes.
    pub fn decode_exact(mut bytes: &[u8]) -> Result<Self, alloy_rlp::Error> {
        let header = Self::decode(&mut bytes)?;
        if !bytes.is_empty() {
            return Err(alloy_rlp::Error::UnexpectedLength);
        }
        Ok(header)
    }
}

/// A rollup block: a header and its ordered EIP-2718 transactions.
#[derive(Clone, Debug, Default, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The transactions, in execution order.
    pub transactions: Vec<TxEnvelope>,
}

impl Block {
    /// Hash of the block's header.
    pub fn hash(&self) -> B256 {
        self.header.hash()
    }

    /// Root of the transactions trie computed from the block's transactions, to compare with
    /// `header.transactions_root`.
    pub fn compute_transactions_root(&self) -> B256 {
        transactions_root(&self.transactions)
    }

    /// RLP encoding of the whole block.
    pub fn encoded(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.length());
        self.encode(&mut buf);
        buf
    }

    /// Decodes a block from its RLP encoding, refusing trailing bytes.
    pub fn decode_exact(mut bytes: &[u8]) -> Result<Self, alloy_rlp::Error> {
        let block = Self::decode(&mut bytes)?;
        if !bytes.is_empty() {
            return Err(alloy_rlp::Error::UnexpectedLength);
        }
        Ok(block)
    }
}

/// Ethereum's transactions root: the ordered trie of the EIP-2718 encodings.
pub fn transactions_root(transactions: &[TxEnvelope]) -> B256 {
    alloy_consensus::proofs::calculate_transaction_root(transactions)
}

/// Ethereum's receipts root: the ordered trie of the EIP-2718 receipt encodings (with bloom).
pub fn receipts_root(receipts: &[Receipt]) -> B256 {
    alloy_consensus::proofs::calculate_receipt_root(receipts)
}

/// Union of the receipts' blooms, the header's `logs_bloom`.
pub fn logs_bloom<'a>(receipts: impl IntoIterator<Item = &'a Receipt>) -> Bloom {
    let mut bloom = Bloom::ZERO;
    for receipt in receipts {
        bloom.accrue_bloom(receipt.logs_bloom());
    }
    bloom
}

/// An ordered run of consecutive blocks published together to data availability, with the state
/// roots a verifier needs to check it: before the first block, after the last, and after every
/// transaction (which VITAL bisects over).
#[derive(Clone, Debug, Default, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct Batch {
    /// Rollup the batch belongs to.
    pub rollup_id: RollupId,
    /// Sequence number of the batch (the first batch is 0).
    pub index: u64,
    /// State root before the first block of the batch.
    pub pre_state_root: B256,
    /// State root after the last block of the batch.
    pub post_state_root: B256,
    /// The blocks, consecutive, in order.
    pub blocks: Vec<Block>,
    /// State root after each transaction of the batch, in order across its blocks.
    pub intermediate_roots: Vec<B256>,
}

impl Batch {
    /// The batch commitment posted to settlement: a domain-separated hash of everything a
    /// challenge can dispute.
    pub fn commitment(&self, chain_id: ChainId) -> B256 {
        let mut buf = Vec::with_capacity(self.length());
        self.encode(&mut buf);
        signing_digest(Domain::Batch, chain_id, self.rollup_id, keccak256(&buf))
    }

    /// Height of the first block, if the batch has any.
    pub fn first_height(&self) -> Option<u64> {
        self.blocks.first().map(|b| b.header.height)
    }

    /// Height of the last block, if the batch has any.
    pub fn last_height(&self) -> Option<u64> {
        self.blocks.last().map(|b| b.header.height)
    }

    /// Number of transactions across the batch's blocks.
    pub fn transaction_count(&self) -> usize {
        self.blocks.iter().map(|b| b.transactions.len()).sum()
    }
}

/// Version of the signing domain layout; bumped whenever [`signing_digest`] changes shape.
pub const DOMAIN_VERSION: u8 = 1;

/// Purposes for which operators sign rollup data. Each has its own tag so that a signature for
/// one purpose is never valid for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Domain {
    /// A batch commitment posted to settlement.
    Batch,
    /// A sequencer's block proposal.
    Proposal,
    /// A consensus vote on a proposal.
    SequencingVote,
    /// A fast-finality vote.
    FinalityVote,
    /// An alert that re-execution disagrees with a block.
    Alert,
    /// A state-root assertion in a challenge.
    Assertion,
    /// The MACH set's hand-over of the L1's rosters to the next epoch's operator sets.
    RosterHandoff,
    /// The VITAL set's verdict on one step of a disputed batch, for a one-step verifier on L1.
    StepVerdict,
}

impl Domain {
    /// The ASCII tag hashed into every digest of this domain.
    pub const fn tag(self) -> &'static [u8] {
        match self {
            Self::Batch => b"altlayer/batch",
            Self::Proposal => b"altlayer/squad/proposal",
            Self::SequencingVote => b"altlayer/squad/vote",
            Self::FinalityVote => b"altlayer/mach/vote",
            Self::Alert => b"altlayer/mach/alert",
            Self::Assertion => b"altlayer/vital/assertion",
            Self::RosterHandoff => b"altlayer/l1/roster",
            Self::StepVerdict => b"altlayer/vital/step",
        }
    }
}

/// The digest an operator signs: `keccak256(tag || 0x00 || version || chain_id || rollup_id ||
/// payload)`, with integers big-endian.
///
/// The zero byte ends the variable-length tag, so no tag is a prefix of another's encoding.
/// The payload is the hash of the message's own fields (height, view, block hash, state root,
/// stake epoch, as its type defines).
pub fn signing_digest(
    domain: Domain,
    chain_id: ChainId,
    rollup_id: RollupId,
    payload: B256,
) -> B256 {
    let tag = domain.tag();
    let mut buf = Vec::with_capacity(tag.len() + 1 + 1 + 8 + 8 + 32);
    buf.extend_from_slice(tag);
    buf.push(0);
    buf.push(DOMAIN_VERSION);
    buf.extend_from_slice(&chain_id.to_be_bytes());
    buf.extend_from_slice(&rollup_id.0.to_be_bytes());
    buf.extend_from_slice(payload.as_slice());
    keccak256(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::b256;

    #[test]
    fn header_round_trips_and_hash_is_keccak_of_rlp() {
        let header = Header {
            chain_id: 7,
            rollup_id: RollupId(3),
            height: 12,
            timestamp: 1_700_000_000,
            gas_limit: 30_000_000,
            base_fee: 7,
            state_root: B256::repeat_byte(1),
            ..Default::default()
        };
        let mut buf = Vec::new();
        header.encode(&mut buf);
        assert_eq!(Header::decode_exact(&buf).unwrap(), header);
        assert_eq!(header.hash(), keccak256(&buf));
        buf.push(0);
        assert!(Header::decode_exact(&buf).is_err());
    }

    #[test]
    fn empty_roots_are_ethereums() {
        let empty = b256!("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");
        assert_eq!(transactions_root(&[]), empty);
        assert_eq!(receipts_root(&[]), empty);
    }

    #[test]
    fn digests_separate_domains_chains_and_rollups() {
        let payload = B256::repeat_byte(9);
        let base = signing_digest(Domain::FinalityVote, 1, RollupId(1), payload);
        assert_ne!(base, signing_digest(Domain::Alert, 1, RollupId(1), payload));
        assert_ne!(
            base,
            signing_digest(Domain::FinalityVote, 2, RollupId(1), payload)
        );
        assert_ne!(
            base,
            signing_digest(Domain::FinalityVote, 1, RollupId(2), payload)
        );
        assert_eq!(
            base,
            signing_digest(Domain::FinalityVote, 1, RollupId(1), payload)
        );
    }
}
