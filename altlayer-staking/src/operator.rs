//! Operators, the services they serve, and operator sets.

use alloy_primitives::{Address, U256};
use altlayer_core::RollupId;
use altlayer_core::bls::{KeyRegistration, PublicKeyG2};
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OperatorKey {
    /// No key beyond the operator's ECDSA address: votes are ECDSA-signed.
    #[default]
    EcdsaOnly,
    /// A BN254 BLS key (G1 and G2, as EigenLayer registers them) with its proof of
    /// possession for this operator and chain, checked on registration.
    Bn254(Box<KeyRegistration>),
}

impl OperatorKey {
    /// A BLS key with its proof of possession.
    pub fn bn254(registration: KeyRegistration) -> Self {
        Self::Bn254(Box::new(registration))
    }

    /// The BLS key that verifies the operator's signatures, if it has one.
    pub const fn bls(&self) -> Option<&PublicKeyG2> {
        match self {
            Self::Bn254(registration) => Some(&registration.g2),
            Self::EcdsaOnly => None,
        }
    }
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
