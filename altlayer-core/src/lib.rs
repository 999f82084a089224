#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod bls;
pub mod da;
#[cfg(feature = "test-utils")]
pub mod dev;
pub mod evidence;
pub mod execution;
pub mod finality;
pub mod genesis;
pub mod ledger;
pub mod params;
pub mod persist;
pub mod primitives;
pub mod rollup;
pub mod sequencer;
pub mod serde_pairs;
pub mod settlement;
pub mod state;
pub mod storage;
pub mod transaction;
pub mod transition;
pub mod verifier;

/// The alloy crates altlayer-core's public API is made of, re-exported so users name the same
/// versions.
pub mod alloy {
    pub use alloy_consensus as consensus;
    pub use alloy_eips as eips;
    pub use alloy_primitives as primitives;
    pub use alloy_rlp as rlp;
}

/// The workspace README's examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct WorkspaceReadme;

pub use da::DataAvailability;
pub use execution::{EvmStateTransition, RollupConfig};
pub use finality::FinalityGadget;
pub use ledger::TokenLedger;
pub use primitives::{Batch, Block, ChainId, DaRef, Domain, Header, Receipt, RollupId};
pub use sequencer::Sequencer;
pub use settlement::Settlement;
pub use transition::StateTransition;
pub use verifier::Verifier;
