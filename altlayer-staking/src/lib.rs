#![doc = include_str!("../README.md")]

pub mod checkpoints;
pub mod evidence;
pub mod governed;
pub mod ledger;
pub mod operator;
pub mod params;
pub mod rewards;

pub use evidence::{Evidence, SignedVote, VoteError, VoteSignature};
pub use governed::GovernedLedger;
pub use ledger::{
    AltLedger, CollectedFees, EpochRewards, Pool, REWARD_SCALE, SlashOutcome, StakingError,
    UnbondingEntry,
};
pub use operator::{Operator, OperatorKey, OperatorSetConfig, OperatorSetId, Service};
pub use params::{ParameterStore, StakingParams};
pub use rewards::{FeeShares, FeeSplit};
