//! Evidence of misbehaviour by restaked operators, and the votes it is made of.
//!
//! Three infractions are slashable (DESIGN.md §2): equivocation (two conflicting signed
//! messages of one signer for one slot), an invalid state root confirmed by a challenge, and
//! an invalid finality vote (a vote for a block other than the canonical one at its height).
//! Votes are verified by their signature over a domain-separated digest: ECDSA by the
//! operator's address, or BLS (BN254) under the operator's registered key.
//!
//! The types live in altlayer-core so that every component of a rollup (sequencers, finality
//! gadgets, settlement) can report evidence and every ledger can slash on it; altlayer-staking
//! verifies it against registered keys and stakes.

use crate::{
    ChainId, RollupId,
    bls::{self, PublicKeyG2},
    primitives::{Domain, signing_digest},
    transaction::{RecoveryBackend, TxError, recover_signer},
};
use alloy_primitives::{Address, B256, Signature, keccak256};
use serde::{Deserialize, Serialize};

/// A restaked service of a rollup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Service {
    /// SQUAD: decentralized sequencing.
    #[serde(alias = "squad", alias = "SQUAD")]
    Squad,
    /// VITAL: decentralized verification.
    #[serde(alias = "vital", alias = "VITAL")]
    Vital,
    /// MACH: fast finality.
    #[serde(alias = "mach", alias = "MACH")]
    Mach,
}

/// One operator set: the operators of one service of one rollup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OperatorSetId {
    /// The service.
    pub service: Service,
    /// The rollup.
    pub rollup: RollupId,
}

impl OperatorSetId {
    /// The set of `service` operators of `rollup`.
    pub const fn new(service: Service, rollup: RollupId) -> Self {
        Self { service, rollup }
    }
}

/// A signature on a vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum VoteSignature {
    /// secp256k1 ECDSA by the operator's address (low-s, as EIP-2).
    Ecdsa(Signature),
    /// BN254 BLS by the operator's registered key (a BLS signature does not name its
    /// signer, so the vote does).
    Bls {
        /// The operator that signed.
        signer: Address,
        /// Its signature on [`SignedVote::signing_hash`].
        signature: bls::Signature,
    },
}

impl VoteSignature {
    /// The signer a BLS signature names (an ECDSA signature names none until recovered).
    pub const fn bls_signer(&self) -> Option<Address> {
        match self {
            Self::Bls { signer, .. } => Some(*signer),
            Self::Ecdsa(_) => None,
        }
    }
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

    /// The signer of the vote in `set` on `chain_id`, checked against its signature; `key_of`
    /// gives a claimed BLS signer's registered key.
    pub fn signer<'a>(
        &self,
        set: OperatorSetId,
        chain_id: ChainId,
        key_of: impl FnOnce(&Address) -> Option<&'a PublicKeyG2>,
    ) -> Result<Address, VoteError> {
        let hash = Self::signing_hash(set, chain_id, self.height, self.round, self.digest);
        match &self.signature {
            VoteSignature::Ecdsa(signature) => {
                recover_signer(signature, &hash, RecoveryBackend::Libsecp256k1)
                    .map_err(VoteError::Ecdsa)
            }
            VoteSignature::Bls { signer, signature } => {
                let key = key_of(signer).ok_or(VoteError::NoBlsKey(*signer))?;
                if bls::verify(key, &hash, signature) {
                    Ok(*signer)
                } else {
                    Err(VoteError::BadBlsSignature(*signer))
                }
            }
        }
    }
}

/// Why a vote's signature does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VoteError {
    /// The ECDSA signature does not recover.
    #[error("bad ECDSA signature: {0}")]
    Ecdsa(TxError),
    /// The claimed BLS signer has no registered BLS key.
    #[error("{0} has no registered BLS key")]
    NoBlsKey(Address),
    /// The BLS signature does not verify under the signer's key.
    #[error("BLS signature does not verify under {0}'s key")]
    BadBlsSignature(Address),
}

/// Evidence that an operator misbehaved in an operator set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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
    /// decided (recorded with the ledger's record of lost challenges).
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
    /// the ledger's record of canonical blocks).
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

    /// The operator accused, when the evidence names it (a BLS vote names its signer; an
    /// ECDSA vote's signer is recovered when the evidence is verified).
    pub const fn offender(&self) -> Option<Address> {
        match self {
            Self::Equivocation { first, .. } => first.signature.bls_signer(),
            Self::InvalidStateRoot { operator, .. } => Some(*operator),
            Self::InvalidVote { vote, .. } => vote.signature.bls_signer(),
        }
    }

    /// The infraction, in words: `equivocation`, `invalid state root` or `invalid vote`.
    pub const fn infraction(&self) -> &'static str {
        match self {
            Self::Equivocation { .. } => "equivocation",
            Self::InvalidStateRoot { .. } => "invalid state root",
            Self::InvalidVote { .. } => "invalid vote",
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
