//! The vote tally: votes of each (round, kind) added up by value as they arrive, checked as
//! one aggregate BLS signature when a threshold is reached (only a failed aggregate is
//! searched for bad signatures), and turned into quorum certificates.

use super::*;

/// Votes of one (round, kind), tallied by value.
#[derive(Clone, Debug, Default)]
pub(super) struct RoundVotes {
    /// Signer -> (value, signature), first vote only.
    pub(super) by_signer: BTreeMap<Address, (Option<B256>, Signature)>,
    pub(super) by_value: BTreeMap<Option<B256>, Tally>,
    /// Stake that voted anything.
    pub(super) any: U256,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Tally {
    pub(super) signers: Vec<usize>,
    pub(super) stake: U256,
    pub(super) sum: G1Projective,
    /// The latest verified subset: what certificates are made of. Votes arriving after it
    /// need no verification unless the subset falls short of a threshold.
    pub(super) verified: Option<Verified>,
}

#[derive(Clone, Debug)]
pub(super) struct Verified {
    pub(super) signers: Vec<usize>,
    pub(super) stake: U256,
    pub(super) signature: Signature,
}

/// The fixed signature of unchecked cryptography (a test-utils mode): the G1 generator.
#[cfg(feature = "test-utils")]
pub(super) fn placeholder_signature() -> Signature {
    use ark_ec::AffineRepr;
    Signature::from_trusted_sum(ark_bn254::G1Affine::generator())
        .unwrap_or_else(|_| Signature::aggregate(&[]))
}

impl SquadNode {
    /// Whether the node runs without cryptography (a test-utils mode).
    pub(super) fn unchecked(&self) -> bool {
        #[cfg(feature = "test-utils")]
        if self.config.crypto == CryptoMode::Unchecked {
            return true;
        }
        false
    }

    pub(super) fn quorum(&self, stake: U256) -> bool {
        Threshold::MORE_THAN_TWO_THIRDS.is_met(stake, self.roster.total())
    }

    pub(super) fn one_third(&self, stake: U256) -> bool {
        Threshold::MORE_THAN_ONE_THIRD.is_met(stake, self.roster.total())
    }

    pub(super) fn signature_ok(
        &self,
        signer: &Address,
        digest: &B256,
        signature: &Signature,
    ) -> bool {
        match self.config.crypto {
            #[cfg(feature = "test-utils")]
            CryptoMode::Unchecked => true,
            CryptoMode::Full => self
                .roster
                .index_of(signer)
                .and_then(|i| self.roster.entries()[i].key)
                .is_some_and(|key| bls::verify(&key, digest, signature)),
        }
    }

    /// Tallies a vote; `true` if it is the signer's first in its slot (worth relaying).
    pub(super) fn add_vote(&mut self, vote: Vote, out: &mut Vec<Output>) -> bool {
        if vote.height != self.state.height || self.excluded.contains(&vote.signer) {
            return false;
        }
        let Some(index) = self.roster.index_of(&vote.signer) else {
            return false;
        };
        let stake = self.roster.entries()[index].stake;
        let votes = self.votes.entry((vote.round, vote.kind)).or_default();
        if let Some((first, first_signature)) = votes.by_signer.get(&vote.signer).cloned() {
            if first != vote.block {
                let digest = self.vote_digest(vote.height, vote.round, vote.kind, vote.block);
                let first_digest = self.vote_digest(vote.height, vote.round, vote.kind, first);
                if self.signature_ok(&vote.signer, &digest, &vote.signature)
                    && self.signature_ok(&vote.signer, &first_digest, &first_signature)
                {
                    self.equivocation(
                        vote.signer,
                        vote.round,
                        vote.kind,
                        (first, first_signature),
                        (vote.block, vote.signature),
                        out,
                    );
                }
            }
            return false;
        }
        votes
            .by_signer
            .insert(vote.signer, (vote.block, vote.signature));
        votes.any += stake;
        let tally = votes.by_value.entry(vote.block).or_default();
        tally.signers.push(index);
        tally.stake += stake;
        tally.sum += vote.signature.point();
        true
    }

    pub(super) fn equivocation(
        &mut self,
        signer: Address,
        round: u32,
        kind: VoteKind,
        first: (Option<B256>, Signature),
        second: (Option<B256>, Signature),
        out: &mut Vec<Output>,
    ) {
        let vote = |(block, signature): (Option<B256>, Signature)| SignedVote {
            height: self.state.height,
            round: slot(round, kind),
            digest: block.unwrap_or_default(),
            signature: VoteSignature::Bls { signer, signature },
        };
        out.push(Output::Evidence(Box::new(Evidence::Equivocation {
            set: squad_set(self.config.rollup),
            first: vote(first),
            second: vote(second),
        })));
    }

    /// Stake of the votes for `value` in (round, kind), after verifying their aggregate (and
    /// dropping bad signatures) if the unverified tally reaches `enough`.
    /// The votes for `value` in (round, kind) at this height.
    pub(super) fn tally(&self, round: u32, kind: VoteKind, value: Option<B256>) -> Option<&Tally> {
        self.votes.get(&(round, kind))?.by_value.get(&value)
    }

    pub(super) fn verified_stake(
        &mut self,
        round: u32,
        kind: VoteKind,
        value: Option<B256>,
        enough: fn(&Self, U256) -> bool,
    ) -> U256 {
        let Some(tally) = self.tally(round, kind, value).cloned() else {
            return U256::ZERO;
        };
        if self.unchecked() || !enough(self, tally.stake) {
            return tally.stake;
        }
        if let Some(verified) = &tally.verified
            && enough(self, verified.stake)
        {
            return verified.stake;
        }
        let digest = self.vote_digest(self.state.height, round, kind, value);
        let point = bls::hash_to_g1(&digest);
        // Verify the aggregate; on failure find the bad signatures by bisection, drop them,
        // and verify what is left, until it verifies (each pass drops at least one signer).
        loop {
            let Some(tally) = self.tally(round, kind, value).cloned() else {
                return U256::ZERO;
            };
            if tally.signers.is_empty() {
                return U256::ZERO;
            }
            let mut bitmap = SignerBitmap::new(self.roster.len());
            for i in &tally.signers {
                bitmap.set(*i);
            }
            let signature = Signature::from_trusted_sum(tally.sum.into_affine());
            let ok = match (self.roster.aggregate_key(&bitmap), signature) {
                (Ok(key), Ok(signature)) => {
                    bls::verify_point(&key, &point, &signature).then_some(signature)
                }
                _ => None,
            };
            if let Some(signature) = ok {
                if let Some(t) = self
                    .votes
                    .get_mut(&(round, kind))
                    .and_then(|v| v.by_value.get_mut(&value))
                {
                    t.verified = Some(Verified {
                        signers: tally.signers.clone(),
                        stake: tally.stake,
                        signature,
                    });
                }
                return tally.stake;
            }
            let Some(votes) = self.votes.get(&(round, kind)) else {
                return U256::ZERO;
            };
            let signatures: BTreeMap<Address, Signature> = votes
                .by_signer
                .iter()
                .filter(|(_, (v, _))| *v == value)
                .map(|(a, (_, s))| (*a, *s))
                .collect();
            let mut bad = BTreeSet::new();
            find_bad(&self.roster, &point, &signatures, &tally.signers, &mut bad);
            if bad.is_empty() {
                return U256::ZERO;
            }
            let Some(votes) = self.votes.get_mut(&(round, kind)) else {
                return U256::ZERO;
            };
            for signer in &bad {
                if let (Some((_, signature)), Some(i)) =
                    (votes.by_signer.remove(signer), self.roster.index_of(signer))
                {
                    let stake = self.roster.entries()[i].stake;
                    votes.any -= stake;
                    if let Some(tally) = votes.by_value.get_mut(&value) {
                        tally.signers.retain(|s| *s != i);
                        tally.stake -= stake;
                        tally.sum -= signature.point();
                        tally.verified = None;
                    }
                }
            }
            self.excluded.extend(bad);
        }
    }

    pub(super) fn certificate(
        &self,
        round: u32,
        kind: VoteKind,
        value: Option<B256>,
    ) -> Option<QuorumCertificate> {
        let tally = self.tally(round, kind, value)?;
        let (members, signature) = match self.config.crypto {
            CryptoMode::Full => {
                let verified = tally.verified.as_ref()?;
                (&verified.signers, verified.signature)
            }
            #[cfg(feature = "test-utils")]
            CryptoMode::Unchecked => (&tally.signers, placeholder_signature()),
        };
        let mut signers = SignerBitmap::new(self.roster.len());
        for i in members {
            signers.set(*i);
        }
        Some(QuorumCertificate {
            digest: self.vote_digest(self.state.height, round, kind, value),
            snapshot: self.roster.snapshot(),
            signers,
            signature,
        })
    }

    pub(super) fn quorum_fn(&self, stake: U256) -> bool {
        self.quorum(stake)
    }
}
