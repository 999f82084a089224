//! Operators, the services they serve, and operator sets.

use alloy_primitives::{Address, U256};
use altlayer_core::RollupId;
use serde::{Deserialize, Serialize};

/// A restaked service of a rollup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Service {
    /// SQUAD: decentralized sequencing.
    Squad,
    /// VITAL: decentralized verification.
    Vital,
    /// MACH: fast finality.
    Mach,
}

/// One operator set: the operators of one service of one rollup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OperatorSetId {
    /// The service.
    pub service: Service,
    /// The rollup.
    pub rollup: RollupId,
}

impl OperatorSetId {
    /// The set of `service` operators of `rollup`.
    pub const fn new(service: Service, rollup: RollupId) -> Self {
        Self { service, rollup }
    }
}

/// An operator's signing key for votes and alerts.
///
/// The aggregation issue fills in BLS on BN254 (a G1 and a G2 public key, as EigenLayer
/// registers them); until then an operator signs with its ECDSA address alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OperatorKey {
    /// No key beyond the operator's ECDSA address.
    #[default]
    EcdsaOnly,
    /// A BN254 BLS public key in EigenLayer's encoding: G1 (64 bytes) and G2 (128 bytes),
    /// big-endian coordinates. Checked on registration by the aggregation layer.
    Bn254 {
        /// The key in G1.
        g1: Vec<u8>,
        /// The key in G2.
        g2: Vec<u8>,
    },
}

/// A registered operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operator {
    /// The operator's ECDSA address (its identity).
    pub address: Address,
    /// Its vote-signing key.
    pub key: OperatorKey,
    /// Share of its rewards it keeps before delegators, in bips.
    pub commission_bips: u32,
}

/// An operator set's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorSetConfig {
    /// Least delegated stake for an operator to join, and for its stake to count.
    pub min_stake: U256,
}
