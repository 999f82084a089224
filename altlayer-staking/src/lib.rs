#![doc = include_str!("../README.md")]

pub mod checkpoints;
pub mod ledger;
pub mod operator;
pub mod params;

pub use ledger::{AltLedger, Pool, StakingError, UnbondingEntry};
pub use operator::{Operator, OperatorKey, OperatorSetConfig, OperatorSetId, Service};
pub use params::{ParameterStore, StakingParams};
