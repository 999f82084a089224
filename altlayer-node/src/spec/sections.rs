//! The spec's tables, each with its keys and their defaults.

use super::DAY;
use alloy_primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, path::PathBuf};

/// `[rollup]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RollupSection {
    /// EVM chain id (EIP-155).
    pub chain_id: u64,
    /// Rollup id (signed messages bind it).
    pub rollup_id: u64,
    /// EVM rules: `shanghai`, `cancun`, `prague` or `osaka`.
    pub evm: String,
    /// Time between blocks, in milliseconds.
    pub block_time_ms: u64,
    /// Gas limit of every block.
    pub gas_limit: u64,
    /// Most transactions in a block.
    pub max_txs_per_block: usize,
    /// Blocks per batch posted to DA and settlement.
    pub blocks_per_batch: u64,
}

impl Default for RollupSection {
    fn default() -> Self {
        Self {
            chain_id: 1_337,
            rollup_id: 1,
            evm: "prague".into(),
            block_time_ms: 1_000,
            gas_limit: 30_000_000,
            max_txs_per_block: 10_000,
            blocks_per_batch: 5,
        }
    }
}

/// `[genesis]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenesisSection {
    /// A geth-style genesis file (relative to the spec file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Accounts at genesis, inline (instead of a file).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub alloc: BTreeMap<Address, AllocAccount>,
    /// Development accounts funded with 1,000,000 ether each (their keys are public: for
    /// devnets only).
    pub dev_accounts: u64,
}

/// An account in `[genesis.alloc]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocAccount {
    /// Balance in wei (a decimal or `0x` hex string).
    pub balance: U256,
    /// Nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<u64>,
    /// Runtime code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Bytes>,
    /// Storage slots.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub storage: BTreeMap<B256, B256>,
}

/// How transactions are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SequencingMode {
    /// One operator.
    Single,
    /// A staked BFT set.
    #[default]
    Squad,
}

/// `[sequencing]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SequencingSection {
    /// `single` or `squad`.
    pub mode: SequencingMode,
    /// Sequencers in the SQUAD set (at least 4; 1 for a single sequencer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequencers: Option<usize>,
    /// ALT staked on each sequencer.
    pub stake: u64,
}

impl SequencingSection {
    /// Sequencers: as given, or 1 for a single sequencer and 4 for a SQUAD set.
    pub fn sequencers(&self) -> usize {
        self.sequencers.unwrap_or(match self.mode {
            SequencingMode::Single => 1,
            SequencingMode::Squad => altlayer_avs::squad::MIN_SEQUENCERS,
        })
    }
}

impl Default for SequencingSection {
    fn default() -> Self {
        Self {
            mode: SequencingMode::Squad,
            sequencers: None,
            stake: 100_000,
        }
    }
}

/// `[avs]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AvsSection {
    /// Fast finality.
    pub mach: MachSection,
    /// Verification.
    pub vital: VitalSection,
}

/// `[avs.mach]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MachSection {
    /// Operators (0: no fast finality, blocks are final when their window passes).
    pub operators: usize,
    /// Share of the stake a certificate needs, in percent, inclusive.
    pub threshold: u8,
    /// ALT staked on each operator.
    pub stake: u64,
    /// One-way delay between the rollup and the in-process operators, in milliseconds.
    pub delay_ms: u64,
}

impl Default for MachSection {
    fn default() -> Self {
        Self {
            operators: 4,
            threshold: 66,
            stake: 100_000,
            delay_ms: 10,
        }
    }
}

/// `[avs.vital]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VitalSection {
    /// Verifiers re-executing every batch (one, in process).
    pub verifiers: usize,
    /// Time a batch can be challenged after it is committed, in seconds.
    pub challenge_window_secs: u64,
    /// Each move of a dispute game, in seconds (default: the window divided by the moves of
    /// the longest game).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub move_timeout_secs: Option<u64>,
    /// ALT a challenger bonds.
    pub bond: u64,
    /// ALT the verifier holds for its bonds.
    pub verifier_balance: u64,
}

impl Default for VitalSection {
    fn default() -> Self {
        Self {
            verifiers: 1,
            challenge_window_secs: 7 * DAY,
            move_timeout_secs: None,
            bond: 1_000,
            verifier_balance: 10_000,
        }
    }
}

/// `[token]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSection {
    /// Where fees go, in basis points summing to 10,000.
    pub fee_split: FeeSplitSection,
    /// Time from undelegation to redemption, in seconds.
    pub unbonding_secs: u64,
    /// Fractions slashed, in basis points.
    pub slash: SlashSection,
    /// Share of a slash paid to whoever submitted the evidence, in basis points.
    pub evidence_reward_bips: u32,
    /// ALT base units (10^-18 ALT) charged per unit of gas a block uses.
    pub fee_per_gas: u64,
    /// Blocks per reward epoch.
    pub epoch_blocks: u64,
}

impl Default for TokenSection {
    fn default() -> Self {
        Self {
            fee_split: FeeSplitSection::default(),
            unbonding_secs: 21 * DAY,
            slash: SlashSection::default(),
            evidence_reward_bips: 1_000,
            fee_per_gas: 1_000_000_000,
            epoch_blocks: 100,
        }
    }
}

/// `[token.fee_split]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeeSplitSection {
    /// Burned.
    pub burn: u32,
    /// To the SQUAD set.
    pub sequencers: u32,
    /// To the MACH and VITAL sets.
    pub operators: u32,
    /// To the treasury.
    pub treasury: u32,
}

impl Default for FeeSplitSection {
    fn default() -> Self {
        Self {
            burn: 1_000,
            sequencers: 4_000,
            operators: 4_000,
            treasury: 1_000,
        }
    }
}

/// `[token.slash]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlashSection {
    /// Two conflicting signed messages (the signer is also removed for good).
    pub equivocation_bips: u32,
    /// A batch proven wrong by a challenge.
    pub invalid_state_root_bips: u32,
    /// A vote for a block other than the canonical one.
    pub invalid_vote_bips: u32,
}

impl Default for SlashSection {
    fn default() -> Self {
        Self {
            equivocation_bips: 500,
            invalid_state_root_bips: 10_000,
            invalid_vote_bips: 500,
        }
    }
}

/// Where batches are published.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DaKind {
    /// In process memory.
    #[default]
    Memory,
    /// Files in a directory.
    Directory,
}

/// `[da]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaSection {
    /// `memory` or `directory`.
    pub kind: DaKind,
    /// The directory, for `directory` (relative to the spec file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

/// Where batches are committed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SettlementKind {
    /// An L1 in process.
    #[default]
    Local,
}

/// `[settlement]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SettlementSection {
    /// `local`.
    pub kind: SettlementKind,
}

/// `[lifetime]`: one of its keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifetimeSection {
    /// Blocks the rollup produces before it ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<u64>,
    /// Seconds the rollup runs before it ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secs: Option<u64>,
}

/// `[storage]`: the node's database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// The data directory (relative to the spec file) holding the database; none: the node
    /// runs in memory and loses everything when it stops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datadir: Option<PathBuf>,
    /// MiB of memory for state reads: three quarters redb's page cache, which every read
    /// goes through, a quarter the decoded trie nodes the node's states share.
    pub cache_mb: u64,
    /// Blocks of history kept behind the head: the states calls at past blocks can read and
    /// the blocks a revert can take back.
    pub history: u64,
    /// Keep all history (every past state can be read) instead of `history` blocks.
    pub archive: bool,
}

impl Default for StorageSection {
    fn default() -> Self {
        Self {
            datadir: None,
            cache_mb: 256,
            history: 128,
            archive: false,
        }
    }
}

/// `[rpc]`: the Ethereum JSON-RPC (HTTP and WebSocket on one port).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcSection {
    /// `host:port` to serve on, or `off`.
    pub http: String,
    /// The most gas an `eth_call`, estimate or trace may use.
    pub gas_cap: u64,
    /// Milliseconds an `eth_call`, estimate, trace or log query may take.
    pub evm_timeout_ms: u64,
    /// The widest block range one `eth_getLogs` covers.
    pub max_log_range: u64,
    /// The most logs one `eth_getLogs` returns.
    pub max_logs: usize,
    /// States kept after the most recent blocks (for calls and balances at past blocks).
    pub states: usize,
    /// Answer browsers' cross-origin requests from any origin (dApps in a page calling the
    /// node directly). Off by default, as geth's: any page a user visits could otherwise
    /// call the node. The devnet turns it on, as anvil does.
    pub cors: bool,
}

impl Default for RpcSection {
    fn default() -> Self {
        Self {
            http: "off".into(),
            gas_cap: 50_000_000,
            evm_timeout_ms: 5_000,
            max_log_range: 100_000,
            max_logs: 10_000,
            states: 128,
            cors: false,
        }
    }
}
