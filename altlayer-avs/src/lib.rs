#![doc = include_str!("../README.md")]

pub mod aggregator;
pub mod ecdsa;
pub mod ledger;
pub mod mach;
pub mod params;
pub mod qc;
#[cfg(feature = "test-utils")]
pub mod restaked;
#[cfg(feature = "runtime")]
pub mod service;
pub mod sim;
pub mod squad;
pub mod vital;

/// BLS on BN254, EigenLayer-compatible (defined in altlayer-core so that altlayer-staking can
/// verify BLS-signed evidence without depending on this crate).
pub use altlayer_core::bls;

pub use aggregator::{Aggregator, AggregatorError, AggregatorEvent, Quorum, TaskConfig};
pub use ecdsa::{EcdsaCertificate, EcdsaCollector, EcdsaError};
pub use mach::{
    Alert, AlertKind, ConfirmedAlert, FinalityVote, MachError, MachFinality, MachMessage,
    MachOperator, MachStatus, SignerState, VoteBook,
};
pub use qc::{
    QcError, QuorumCertificate, Roster, RosterEntry, SignerBitmap, StakeSnapshot, Threshold,
};
