//! The rollup spec: one TOML file that describes a whole restaked rollup (DESIGN.md §4a), read,
//! checked and resolved.
//!
//! Unknown keys, bad values and impossible combinations are refused with one line that names
//! the key ([`SpecError`]); nothing panics on any input. [`TEMPLATE`] is the documented file
//! `altlayer spec init` prints: every key, its meaning and its default.

use alloy_genesis::{Genesis, GenesisAccount};
use altlayer_core::{
    EvmStateTransition, RollupConfig, RollupId,
    execution::DEFAULT_INITIAL_BASE_FEE,
    genesis::{load_genesis, state_transition_from_genesis},
};
use serde::{Deserialize, Serialize};

mod sections;

pub use sections::*;

/// The largest `storage.cache_mb`: 1 TiB.
const MAX_CACHE_MB: u64 = 1 << 20;

/// The least `storage.history`.
const MIN_HISTORY: u64 = 16;

/// Seconds in a day.
pub(crate) const DAY: u64 = 86_400;

/// The whole spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Identity, EVM rules, block time and batching.
    #[serde(default)]
    pub rollup: RollupSection,
    /// The state at height 0.
    #[serde(default)]
    pub genesis: GenesisSection,
    /// Who orders transactions.
    #[serde(default)]
    pub sequencing: SequencingSection,
    /// The restaked services.
    #[serde(default)]
    pub avs: AvsSection,
    /// The ALT token's parameters.
    #[serde(default)]
    pub token: TokenSection,
    /// Where batches are published.
    #[serde(default)]
    pub da: DaSection,
    /// Where batches are committed and challenged.
    #[serde(default)]
    pub settlement: SettlementSection,
    /// The node's database.
    #[serde(default)]
    pub storage: StorageSection,
    /// The Ethereum JSON-RPC.
    #[serde(default)]
    pub rpc: RpcSection,
    /// An ephemeral rollup's lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<LifetimeSection>,
}

/// Why a spec was refused: one line, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file is not TOML of the spec's shape (an unknown key, a value of the wrong type).
    #[error("line {line}: {message}")]
    Syntax {
        /// Line of the problem (1-based).
        line: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A value is out of range, or values that cannot go together.
    #[error("{key}: {reason}")]
    Invalid {
        /// The key, with its table (`avs.mach.threshold`).
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        key,
        reason: reason.into(),
    }
}

impl Spec {
    /// Parses a spec; unknown keys and values of the wrong type are refused with the line and
    /// the table they are in.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        toml::from_str(text).map_err(|error| {
            let offset = error.span().map_or(0, |span| span.start);
            let prefix = &text[..offset.min(text.len())];
            let line = prefix.matches('\n').count() + 1;
            // The table the key is in: the last header above it.
            let table = text[..offset.min(text.len())].lines().rev().find_map(|l| {
                let l = l.trim();
                (l.starts_with('[') && l.ends_with(']')).then(|| l.to_owned())
            });
            let message = error
                .message()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            SpecError::Syntax {
                line,
                message: match table {
                    Some(table) => format!("in {table}: {message}"),
                    None => message,
                },
            }
        })
    }

    /// Reads and parses a spec file.
    pub fn load(path: &std::path::Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|e| SpecError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text)
    }

    /// The EVM rules named by `rollup.evm`.
    pub fn evm_spec(&self) -> Result<revm::primitives::hardfork::SpecId, SpecError> {
        use revm::primitives::hardfork::SpecId;
        match self.rollup.evm.to_ascii_lowercase().as_str() {
            "shanghai" => Ok(SpecId::SHANGHAI),
            "cancun" => Ok(SpecId::CANCUN),
            "prague" => Ok(SpecId::PRAGUE),
            "osaka" => Ok(SpecId::OSAKA),
            other => Err(invalid(
                "rollup.evm",
                format!("{other:?} is not one of shanghai, cancun, prague, osaka"),
            )),
        }
    }

    /// The execution settings.
    pub fn rollup_config(&self) -> Result<RollupConfig, SpecError> {
        Ok(RollupConfig {
            chain_id: self.rollup.chain_id,
            rollup_id: RollupId(self.rollup.rollup_id),
            spec: self.evm_spec()?,
            block_gas_limit: self.rollup.gas_limit,
            ..Default::default()
        })
    }

    /// Dispute-game moves needed over the largest batch the spec allows: a verdict and a root
    /// per halving, and the proof.
    pub fn game_moves(&self) -> u64 {
        let per_block = (self.rollup.gas_limit / 21_000).min(self.rollup.max_txs_per_block as u64);
        let steps = self
            .rollup
            .blocks_per_batch
            .saturating_mul(per_block)
            .max(1);
        let rounds = u64::from(64 - (steps - 1).leading_zeros());
        2 * rounds + 1
    }

    /// The move timeout: given, or the challenge window split over the longest game's moves.
    pub fn move_timeout_secs(&self) -> u64 {
        self.avs
            .vital
            .move_timeout_secs
            .unwrap_or(self.avs.vital.challenge_window_secs / self.game_moves())
    }

    /// Checks every value and every combination; the first problem is refused naming its
    /// key.
    pub fn validate(&self) -> Result<(), SpecError> {
        let r = &self.rollup;
        if r.chain_id == 0 {
            return Err(invalid("rollup.chain_id", "must be positive"));
        }
        self.evm_spec()?;
        if r.block_time_ms == 0 {
            return Err(invalid("rollup.block_time_ms", "must be at least 1"));
        }
        if r.gas_limit < 21_000 {
            return Err(invalid(
                "rollup.gas_limit",
                "must hold a transfer (21000 gas)",
            ));
        }
        if r.max_txs_per_block == 0 {
            return Err(invalid("rollup.max_txs_per_block", "must be at least 1"));
        }
        if r.blocks_per_batch == 0 {
            return Err(invalid("rollup.blocks_per_batch", "must be at least 1"));
        }
        if self.genesis.file.is_some() && !self.genesis.alloc.is_empty() {
            return Err(invalid(
                "genesis.alloc",
                "give a genesis file or an inline alloc, not both",
            ));
        }
        let s = &self.sequencing;
        match s.mode {
            SequencingMode::Single if s.sequencers() != 1 => {
                return Err(invalid(
                    "sequencing.sequencers",
                    "a single sequencer is one; use mode = \"squad\" for a set",
                ));
            }
            SequencingMode::Squad if s.sequencers() < altlayer_avs::squad::MIN_SEQUENCERS => {
                return Err(invalid(
                    "sequencing.sequencers",
                    format!(
                        "a SQUAD set needs at least {} sequencers to tolerate a fault, got {}",
                        altlayer_avs::squad::MIN_SEQUENCERS,
                        s.sequencers()
                    ),
                ));
            }
            _ => {}
        }
        if s.stake == 0 {
            return Err(invalid("sequencing.stake", "must be positive"));
        }
        let m = &self.avs.mach;
        if m.threshold == 0 || m.threshold > 100 {
            return Err(invalid(
                "avs.mach.threshold",
                format!("{} % is not a share of the stake (1 to 100)", m.threshold),
            ));
        }
        if m.operators > 0 && m.stake == 0 {
            return Err(invalid("avs.mach.stake", "must be positive"));
        }
        let v = &self.avs.vital;
        if v.verifiers != 1 {
            return Err(invalid(
                "avs.vital.verifiers",
                "a rollup launched in one process runs exactly 1 verifier",
            ));
        }
        if v.bond == 0 {
            return Err(invalid("avs.vital.bond", "must be positive"));
        }
        if v.verifier_balance < v.bond {
            return Err(invalid(
                "avs.vital.verifier_balance",
                "the verifier cannot afford one bond",
            ));
        }
        let moves = self.game_moves();
        if let Some(timeout) = v.move_timeout_secs
            && timeout.saturating_mul(moves) > v.challenge_window_secs
        {
            return Err(invalid(
                "avs.vital.move_timeout_secs",
                format!(
                    "a whole dispute game ({moves} moves of {timeout} s) cannot fit the {} s challenge window",
                    v.challenge_window_secs
                ),
            ));
        }
        let t = &self.token;
        let f = &t.fee_split;
        let total = u64::from(f.burn)
            + u64::from(f.sequencers)
            + u64::from(f.operators)
            + u64::from(f.treasury);
        if total != 10_000 {
            return Err(invalid(
                "token.fee_split",
                format!("the shares add up to {total} bips, not 10000"),
            ));
        }
        for (key, bips) in [
            ("token.slash.equivocation_bips", t.slash.equivocation_bips),
            (
                "token.slash.invalid_state_root_bips",
                t.slash.invalid_state_root_bips,
            ),
            ("token.slash.invalid_vote_bips", t.slash.invalid_vote_bips),
            ("token.evidence_reward_bips", t.evidence_reward_bips),
        ] {
            if bips > 10_000 {
                return Err(invalid(key, format!("{bips} bips is more than the whole")));
            }
        }
        if t.unbonding_secs == 0 {
            return Err(invalid("token.unbonding_secs", "must be positive"));
        }
        if self.da.kind == DaKind::Directory && self.da.path.is_none() {
            return Err(invalid("da.path", "a directory DA needs its path"));
        }
        if let Some(lifetime) = &self.lifetime {
            match (lifetime.blocks, lifetime.secs) {
                (Some(0), _) | (_, Some(0)) => {
                    return Err(invalid("lifetime", "a lifetime must be positive"));
                }
                (Some(_), Some(_)) | (None, None) => {
                    return Err(invalid("lifetime", "give blocks or secs, one of them"));
                }
                _ => {}
            }
        }
        self.rpc_addr()?;
        let rpc = &self.rpc;
        for (key, value) in [
            ("rpc.gas_cap", rpc.gas_cap),
            ("rpc.evm_timeout_ms", rpc.evm_timeout_ms),
            ("rpc.max_log_range", rpc.max_log_range),
            ("rpc.max_logs", rpc.max_logs as u64),
            ("rpc.states", rpc.states as u64),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if rpc.gas_cap < 21_000 {
            return Err(invalid("rpc.gas_cap", "must hold a transfer (21000 gas)"));
        }
        let storage = &self.storage;
        if !(1..=MAX_CACHE_MB).contains(&storage.cache_mb) {
            return Err(invalid(
                "storage.cache_mb",
                format!("must be from 1 to {MAX_CACHE_MB}"),
            ));
        }
        // Replicas re-executing a batch, the RPC's recent states, and the replica at the
        // pre-state of every batch not final yet (to defend it in a dispute game, or to go
        // back to it on a revert) read the state as of blocks behind the head: history must
        // reach back over the challenge window and two batches.
        let window_blocks = self
            .avs
            .vital
            .challenge_window_secs
            .saturating_mul(1_000)
            .div_ceil(self.rollup.block_time_ms.max(1));
        let needed = window_blocks
            .saturating_add(self.rollup.blocks_per_batch.saturating_mul(2))
            .max(rpc.states as u64)
            .max(MIN_HISTORY);
        if storage.datadir.is_some() && !storage.archive && storage.history < needed {
            return Err(invalid(
                "storage.history",
                format!(
                    "must be at least {needed} blocks (the challenge window, two batches, rpc.states and {MIN_HISTORY}), or archive = true"
                ),
            ));
        }
        self.staking_params()?;
        Ok(())
    }

    /// Where the JSON-RPC listens (`None` for `off`).
    pub fn rpc_addr(&self) -> Result<Option<std::net::SocketAddr>, SpecError> {
        match self.rpc.http.trim() {
            "off" => Ok(None),
            addr => addr.parse().map(Some).map_err(|_| {
                invalid(
                    "rpc.http",
                    format!("{addr:?} is not host:port (such as \"127.0.0.1:8545\") or \"off\""),
                )
            }),
        }
    }

    /// The ALT ledger's parameters.
    pub fn staking_params(&self) -> Result<altlayer_staking::StakingParams, SpecError> {
        let t = &self.token;
        let params = altlayer_staking::StakingParams {
            unbonding_cooldown_secs: t.unbonding_secs,
            max_evidence_age_secs: t.unbonding_secs,
            slash_equivocation_bips: t.slash.equivocation_bips,
            slash_invalid_state_root_bips: t.slash.invalid_state_root_bips,
            slash_invalid_vote_bips: t.slash.invalid_vote_bips,
            evidence_reward_bips: t.evidence_reward_bips,
            fee_split: altlayer_staking::FeeSplit {
                burn_bips: t.fee_split.burn,
                sequencers_bips: t.fee_split.sequencers,
                operators_bips: t.fee_split.operators,
                treasury_bips: t.fee_split.treasury,
            },
            ..Default::default()
        };
        params
            .validate()
            .map_err(|e| invalid("token", e.to_string()))?;
        Ok(params)
    }

    /// A digest of what decides the genesis (the rollup's identity and EVM rules, the gas
    /// limit, the `[genesis]` table and the genesis file's bytes), without building it: a
    /// node whose database holds the genesis this digest was recorded with skips building a
    /// large genesis state again at every start.
    pub fn genesis_digest(
        &self,
        base: &std::path::Path,
    ) -> Result<alloy_primitives::B256, SpecError> {
        let file = match &self.genesis.file {
            Some(file) => Some(alloy_primitives::keccak256(
                std::fs::read(base.join(file))
                    .map_err(|e| invalid("genesis.file", e.to_string()))?,
            )),
            None => None,
        };
        let inputs = serde_json::json!({
            "version": 1,
            "rollup": [self.rollup.chain_id, self.rollup.rollup_id, self.rollup.gas_limit],
            "evm": self.rollup.evm,
            "genesis": self.genesis,
            "file": file,
        });
        Ok(alloy_primitives::keccak256(inputs.to_string()))
    }

    /// The genesis state transition: the file or the inline alloc, with the development
    /// accounts funded. `base` is the spec file's directory.
    pub fn genesis(&self, base: &std::path::Path) -> Result<EvmStateTransition, SpecError> {
        let (config, genesis) = self.genesis_alloc(base)?;
        Ok(state_transition_from_genesis(config, &genesis))
    }

    /// The rollup's configuration and its genesis (the file or the inline alloc, with the
    /// development accounts funded), not built into a state yet.
    pub fn genesis_alloc(
        &self,
        base: &std::path::Path,
    ) -> Result<(RollupConfig, Genesis), SpecError> {
        let config = self.rollup_config()?;
        let mut genesis = match &self.genesis.file {
            Some(file) => {
                let genesis = load_genesis(base.join(file))
                    .map_err(|e| invalid("genesis.file", e.to_string()))?;
                if genesis.config.chain_id != 0 && genesis.config.chain_id != config.chain_id {
                    return Err(invalid(
                        "genesis.file",
                        format!(
                            "its chain id {} is not rollup.chain_id {}",
                            genesis.config.chain_id, config.chain_id
                        ),
                    ));
                }
                genesis
            }
            None => Genesis::default(),
        };
        genesis.config.chain_id = config.chain_id;
        genesis.gas_limit = config.block_gas_limit;
        for (address, account) in &self.genesis.alloc {
            let mut entry = GenesisAccount::default().with_balance(account.balance);
            entry.nonce = account.nonce;
            entry.code = account.code.clone();
            if !account.storage.is_empty() {
                entry.storage = Some(account.storage.iter().map(|(k, v)| (*k, *v)).collect());
            }
            genesis.alloc.insert(*address, entry);
        }
        for account in altlayer_core::dev::DevAccount::many(self.genesis.dev_accounts) {
            genesis.alloc.entry(account.address).or_insert_with(|| {
                GenesisAccount::default().with_balance(altlayer_core::dev::dev_balance())
            });
        }
        if genesis.base_fee_per_gas.is_none() {
            genesis.base_fee_per_gas = Some(u128::from(DEFAULT_INITIAL_BASE_FEE));
        }
        Ok((config, genesis))
    }
}

/// The documented template `altlayer spec init` prints: every key with its default.
pub const TEMPLATE: &str = include_str!("template.toml");

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, U256};

    #[test]
    fn the_template_is_the_defaults_and_valid() {
        let spec = Spec::parse(TEMPLATE).unwrap();
        assert_eq!(spec, Spec::default());
        spec.validate().unwrap();
        assert_eq!(spec.game_moves(), 2 * 13 + 1);
        assert_eq!(spec.move_timeout_secs(), 604_800 / 27);
    }

    #[test]
    fn bad_keys_and_values_name_the_key() {
        let err = Spec::parse("[avs.mach]\ntreshold = 70\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("[avs.mach]") && text.contains("treshold"),
            "{text}"
        );
        assert!(text.starts_with("line 2"), "{text}");
        let err = Spec::parse("[rollup]\nchain_id = \"one\"\n").unwrap_err();
        assert!(err.to_string().contains("[rollup]"), "{err}");

        let refuse = |text: &str, key: &str| {
            let spec = Spec::parse(text).unwrap();
            let err = spec.validate().unwrap_err();
            assert!(
                matches!(&err, SpecError::Invalid { key: k, .. } if *k == key),
                "{text}: {err}"
            );
            assert_eq!(err.to_string().lines().count(), 1);
        };
        refuse("[sequencing]\nsequencers = 3\n", "sequencing.sequencers");
        refuse("[avs.mach]\nthreshold = 101\n", "avs.mach.threshold");
        refuse("[avs.mach]\nthreshold = 0\n", "avs.mach.threshold");
        refuse(
            "[avs.vital]\nchallenge_window_secs = 60\nmove_timeout_secs = 10\n",
            "avs.vital.move_timeout_secs",
        );
        refuse("[rollup]\nevm = \"frontier\"\n", "rollup.evm");
        refuse("[rollup]\nblock_time_ms = 0\n", "rollup.block_time_ms");
        refuse("[token.fee_split]\nburn = 2000\n", "token.fee_split");
        refuse(
            "[token.slash]\nequivocation_bips = 10001\n",
            "token.slash.equivocation_bips",
        );
        refuse("[da]\nkind = \"directory\"\n", "da.path");
        refuse("[lifetime]\nblocks = 5\nsecs = 5\n", "lifetime");
        refuse("[avs.vital]\nverifiers = 3\n", "avs.vital.verifiers");
        refuse(
            "[genesis]\nfile = \"g.json\"\n[genesis.alloc.\"0x0000000000000000000000000000000000000001\"]\nbalance = \"0x1\"\n",
            "genesis.alloc",
        );
    }

    #[test]
    fn storage_history_must_reach_over_the_challenge_window_or_be_an_archive() {
        let spec = |extra: &str| {
            Spec::parse(&format!(
                "[storage]\ndatadir = \"data\"\n{extra}\n[avs.vital]\nchallenge_window_secs = 60\n[rpc]\nstates = 16\n"
            ))
            .unwrap()
        };
        // 60 s of 1 s blocks and two batches of 5: 70 blocks, within the default 128.
        assert!(spec("").validate().is_ok());
        let short = spec("history = 64").validate().unwrap_err();
        assert!(
            short
                .to_string()
                .starts_with("storage.history: must be at least 70"),
            "{short}"
        );
        assert!(spec("history = 64\narchive = true").validate().is_ok());
        // A week-long window (the default) needs an archive.
        let week = Spec::parse("[storage]\ndatadir = \"data\"\n").unwrap();
        assert!(week.validate().is_err());
        let mut archive = week.clone();
        archive.storage.archive = true;
        assert!(archive.validate().is_ok());
        // Without a data directory nothing is kept: no rule.
        assert!(Spec::default().validate().is_ok());
    }

    #[test]
    fn an_inline_alloc_and_dev_accounts_make_the_genesis() {
        let spec = Spec::parse(
            "[genesis]\ndev_accounts = 2\n[genesis.alloc.\"0x00000000000000000000000000000000000000aa\"]\nbalance = \"0x64\"\nnonce = 3\n",
        )
        .unwrap();
        spec.validate().unwrap();
        let stf = spec.genesis(std::path::Path::new(".")).unwrap();
        let state = stf.state();
        assert_eq!(
            state.balance(&Address::with_last_byte(0xaa)).unwrap(),
            U256::from(100)
        );
        assert_eq!(state.nonce(&Address::with_last_byte(0xaa)).unwrap(), 3);
        let dev = altlayer_core::dev::DevAccount::new(1).address;
        assert_eq!(
            state.balance(&dev).unwrap(),
            altlayer_core::dev::dev_balance()
        );
        assert_eq!(stf.config().chain_id, 1_337);
    }
}
