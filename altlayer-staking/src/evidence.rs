//! Evidence of misbehaviour, and how it is verified.
//!
//! Three infractions are slashable (DESIGN.md §2): equivocation (two conflicting signed
//! messages of one signer for one slot), an invalid state root confirmed by a challenge, and
//! an invalid finality vote (a vote for a block other than the canonical one at its height).
//! Votes are verified here by their ECDSA signature over a domain-separated digest; the
//! aggregation layer adds BLS signatures as a further [`VoteSignature`] variant.

use crate::operator::{OperatorSetId, Service};
use alloy_primitives::{Address, B256, Signature, keccak256};
use altlayer_core::{
    ChainId,
    primitives::{Domain, signing_digest},
    transaction::{RecoveryBackend, TxError, recover_signer},
};
use serde::{Deserialize, Serialize};

/// A signature on a vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum VoteSignature {
    /// secp256k1 ECDSA by the operator's address (low-s, as EIP-2).
    Ecdsa(Signature),
}

/// A vote an operator signed: what it signed for one slot of one operator set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedVote {
    /// Height the vote is for.
    pub height: u64,
    /// Round (view) within the height; zero for services without rounds.
    pub round: u64,
    /// What was voted for (a block hash, a state root).
    pub digest: B256,
    /// The signature.
    pub signature: VoteSignature,
}

/// The signing domain of a service's votes.
pub const fn vote_domain(service: Service) -> Domain {
    match service {
        Service::Squad => Domain::SequencingVote,
        Service::Mach => Domain::FinalityVote,
        Service::Vital => Domain::Assertion,
    }
}

impl SignedVote {
    /// The digest the signer signs: bound to the domain of the set's service, the chain, the
    /// rollup, the height, the round and the voted digest.
    pub fn signing_hash(
        set: OperatorSetId,
        chain_id: ChainId,
        height: u64,
        round: u64,
        digest: B256,
    ) -> B256 {
        let mut payload = Vec::with_capacity(48);
        payload.extend_from_slice(&height.to_be_bytes());
        payload.extend_from_slice(&round.to_be_bytes());
        payload.extend_from_slice(digest.as_slice());
        signing_digest(
            vote_domain(set.service),
            chain_id,
            set.rollup,
            keccak256(&payload),
        )
    }

    /// The signer of the vote in `set` on `chain_id`.
    pub fn signer(&self, set: OperatorSetId, chain_id: ChainId) -> Result<Address, TxError> {
        let hash = Self::signing_hash(set, chain_id, self.height, self.round, self.digest);
        match &self.signature {
            VoteSignature::Ecdsa(signature) => {
                recover_signer(signature, &hash, RecoveryBackend::Libsecp256k1)
            }
        }
    }
}

/// Evidence that an operator misbehaved in an operator set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Evidence {
    /// Two different votes by one signer for the same height and round.
    Equivocation {
        /// The set the votes were cast in.
        set: OperatorSetId,
        /// One vote.
        first: SignedVote,
        /// The conflicting vote.
        second: SignedVote,
    },
    /// A state root the operator proposed was proven invalid by a challenge that settlement
    /// decided (recorded with [`crate::AltLedger::record_lost_challenge`]).
    InvalidStateRoot {
        /// The proposer's set.
        set: OperatorSetId,
        /// The proposer.
        operator: Address,
        /// Height of the block whose root was wrong.
        height: u64,
        /// The decided challenge.
        challenge: B256,
    },
    /// A vote for a block other than the canonical one at its height (recorded with
    /// [`crate::AltLedger::record_canonical`]).
    InvalidVote {
        /// The set the vote was cast in.
        set: OperatorSetId,
        /// The vote.
        vote: SignedVote,
    },
}

impl Evidence {
    /// The set the infraction happened in.
    pub const fn set(&self) -> OperatorSetId {
        match self {
            Self::Equivocation { set, .. }
            | Self::InvalidStateRoot { set, .. }
            | Self::InvalidVote { set, .. } => *set,
        }
    }

    /// Height of the infraction.
    pub const fn height(&self) -> u64 {
        match self {
            Self::Equivocation { first, .. } => first.height,
            Self::InvalidStateRoot { height, .. } => *height,
            Self::InvalidVote { vote, .. } => vote.height,
        }
    }

    /// Identity of the infraction, for de-duplication. The two votes of an equivocation are
    /// ordered first, so swapping them gives the same identity.
    pub fn hash(&self) -> B256 {
        let canonical = match self {
            Self::Equivocation { set, first, second } if first.digest > second.digest => {
                Self::Equivocation {
                    set: *set,
                    first: second.clone(),
                    second: first.clone(),
                }
            }
            other => other.clone(),
        };
        keccak256(serde_json::to_vec(&canonical).unwrap_or_default())
    }
}
