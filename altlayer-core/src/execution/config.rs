//! How a rollup executes: its identity, EVM rules and limits, and its hardfork schedule.

use super::*;

/// Default block gas limit: Ethereum mainnet's 30 million at the time of the Merge.
pub const DEFAULT_BLOCK_GAS_LIMIT: u64 = 30_000_000;

/// Default base fee of the first block: EIP-1559's initial base fee, 1 gwei.
pub const DEFAULT_INITIAL_BASE_FEE: u64 = 1_000_000_000;

/// How a rollup executes: its identity, EVM rules and limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RollupConfig {
    /// EVM chain id (EIP-155).
    pub chain_id: ChainId,
    /// Rollup id.
    pub rollup_id: RollupId,
    /// EVM rules, from Shanghai on; every fork up to it is active from genesis.
    #[serde(with = "spec_serde")]
    pub spec: SpecId,
    /// Gas limit of every block.
    pub block_gas_limit: u64,
    /// Largest accepted encoded transaction, in bytes.
    pub max_tx_size: usize,
    /// Accept legacy transactions without EIP-155 replay protection.
    pub allow_unprotected_txs: bool,
    /// Who receives the base fee. `None` burns it, as Ethereum does; a rollup usually sends it
    /// to a fee vault. Priority fees always go to the block's sequencer (its `COINBASE`).
    pub base_fee_recipient: Option<Address>,
    /// EIP-1559 base-fee adjustment parameters.
    pub base_fee_params: BaseFeeParams,
}

impl Default for RollupConfig {
    fn default() -> Self {
        Self {
            chain_id: 1_337,
            rollup_id: RollupId(1),
            spec: SpecId::PRAGUE,
            block_gas_limit: DEFAULT_BLOCK_GAS_LIMIT,
            max_tx_size: DEFAULT_MAX_TX_SIZE,
            allow_unprotected_txs: false,
            base_fee_recipient: None,
            base_fee_params: BaseFeeParams::ethereum(),
        }
    }
}

mod spec_serde {
    use revm::primitives::hardfork::SpecId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(spec: &SpecId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(<&'static str>::from(*spec))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SpecId, D::Error> {
        let name = String::deserialize(d)?;
        name.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown EVM spec {name:?}")))
    }
}

/// Hardfork schedule of a rollup: every Ethereum fork up to the configured spec is active from
/// genesis, later ones never. There is no proof-of-work past (Paris from block 0, no block
/// rewards) and no DAO fork.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RollupHardforks {
    spec: SpecId,
}

impl RollupHardforks {
    /// The schedule for an EVM spec.
    pub const fn new(spec: SpecId) -> Self {
        Self { spec }
    }
}

impl EthereumHardforks for RollupHardforks {
    fn ethereum_fork_activation(&self, fork: EthereumHardfork) -> ForkCondition {
        use EthereumHardfork as F;
        let needs = match fork {
            F::Dao => return ForkCondition::Never,
            F::Paris => {
                return ForkCondition::TTD {
                    activation_block_number: 0,
                    fork_block: None,
                    total_difficulty: U256::ZERO,
                };
            }
            F::Shanghai => SpecId::SHANGHAI,
            F::Cancun => SpecId::CANCUN,
            F::Prague => SpecId::PRAGUE,
            F::Osaka => SpecId::OSAKA,
            F::Frontier
            | F::Homestead
            | F::Tangerine
            | F::SpuriousDragon
            | F::Byzantium
            | F::Constantinople
            | F::Petersburg
            | F::Istanbul
            | F::MuirGlacier
            | F::Berlin
            | F::London
            | F::ArrowGlacier
            | F::GrayGlacier => return ForkCondition::Block(0),
            _ => return ForkCondition::Never,
        };
        if self.spec.is_enabled_in(needs) {
            ForkCondition::Timestamp(0)
        } else {
            ForkCondition::Never
        }
    }
}

impl EthExecutorSpec for RollupHardforks {
    fn deposit_contract_address(&self) -> Option<Address> {
        // A rollup has no beacon-chain deposit contract.
        None
    }
}
