//! Evidence of misbehaviour (defined in altlayer-core, where every component can report it);
//! the ledger verifies it against registered keys and stakes ([`crate::AltLedger::slash`]).

pub use altlayer_core::evidence::{Evidence, SignedVote, VoteError, VoteSignature, vote_domain};
