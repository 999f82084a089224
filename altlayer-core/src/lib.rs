#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod da;
pub mod dev;
pub mod execution;
pub mod finality;
pub mod genesis;
pub mod ledger;
pub mod primitives;
pub mod sequencer;
pub mod settlement;
pub mod state;
pub mod transaction;
pub mod transition;
pub mod verifier;

pub use da::DataAvailability;
pub use execution::{EvmStateTransition, RollupConfig};
pub use finality::FinalityGadget;
pub use ledger::TokenLedger;
pub use primitives::{Batch, Block, ChainId, DaRef, Domain, Header, Receipt, RollupId};
pub use sequencer::Sequencer;
pub use settlement::Settlement;
pub use transition::StateTransition;
pub use verifier::Verifier;
