#![doc = include_str!("../README.md")]

pub mod action;
pub mod governance;
pub mod proposal;

pub use action::{Action, GovParams, Infraction, ProtocolParams};
pub use governance::{GovError, Governance};
pub use proposal::{Ballot, Clock, Defeat, Proposal, Status, Tally, VoteOption};
