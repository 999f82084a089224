//! Operators, the services they serve, and operator sets.

use alloy_primitives::{Address, U256};
use altlayer_core::bls::{KeyRegistration, PublicKeyG2};
use serde::{Deserialize, Serialize};

pub use altlayer_core::evidence::{OperatorSetId, Service};

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
