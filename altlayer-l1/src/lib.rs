#![doc = include_str!("../README.md")]

pub mod anvil;
pub mod bindings;
pub mod deploy;
pub mod roster;

pub use deploy::{BatchRules, DeployConfig, DeployGas, Deployment};
pub use roster::{
    L1Operator, L1Roster, handoff_digest, l1_certificate, step_verdict_digest, vital_step_proof,
};

/// Where the rollup's genesis puts the `L2Withdrawals` predeploy, whose storage records every
/// withdrawal the L1 bridge pays.
pub const L2_WITHDRAWALS: alloy_primitives::Address =
    alloy_primitives::address!("0xa1700000000000000000000000000000000000b1");

/// Why an L1 operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum L1Error {
    /// anvil could not be found, installed or started.
    #[error("anvil: {0}")]
    Anvil(String),
    /// A contract call or deployment failed (a revert carries its data).
    #[error(transparent)]
    Contract(#[from] alloy_contract::Error),
    /// The L1's JSON-RPC failed.
    #[error("L1 RPC: {0}")]
    Rpc(String),
    /// A setting or file is unusable.
    #[error("{0}")]
    Config(String),
}

impl L1Error {
    fn rpc(error: impl std::fmt::Display) -> Self {
        Self::Rpc(error.to_string())
    }
}
