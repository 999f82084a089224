//! Slashing: the records settlement makes (decided challenges, canonical blocks), evidence
//! verification, and the slash itself.

use super::*;

impl AltLedger {
    /// Records that settlement decided a challenge against `operator`'s state root at `height`
    /// (protocol authority only); [`Evidence::InvalidStateRoot`] then refers to it.
    pub fn record_lost_challenge(
        &mut self,
        caller: &Address,
        challenge: B256,
        operator: Address,
        height: u64,
    ) -> Result<(), StakingError> {
        self.authorize(caller)?;
        self.lost_challenges.insert(challenge, (operator, height));
        Ok(())
    }

    /// Records the canonical block of a rollup at a height (protocol authority only);
    /// [`Evidence::InvalidVote`] is a vote for anything else.
    pub fn record_canonical(
        &mut self,
        caller: &Address,
        rollup: altlayer_core::RollupId,
        height: u64,
        block: B256,
    ) -> Result<(), StakingError> {
        self.authorize(caller)?;
        self.canonical
            .entry(rollup.0)
            .or_default()
            .insert(height, block);
        Ok(())
    }

    /// Verifies evidence and slashes the offender: the slash takes the infraction's fraction of
    /// the operator's stake at the infraction height, first from unbonding entries created at or
    /// after that height, then from the pool (every delegator pro rata), capped at what
    /// remains. A share goes to `submitter`, the rest is burned; equivocation also tombstones
    /// the operator in the set. Refused evidence changes nothing.
    pub fn slash(
        &mut self,
        submitter: &Address,
        evidence: &Evidence,
    ) -> Result<SlashOutcome, StakingError> {
        let infraction = self.verify(evidence)?;
        Ok(self.punish(submitter, infraction))
    }

    /// Checks evidence without changing anything: not seen before, in a known set, not too
    /// old, signed by the accused (or backed by settlement's record), against an operator that
    /// was in the set at the height and is not tombstoned.
    fn verify(&self, evidence: &Evidence) -> Result<Infraction, StakingError> {
        let id = evidence.hash();
        if self.seen_evidence.contains(&id) {
            return Err(StakingError::DuplicateEvidence(id));
        }
        let set_id = evidence.set();
        let set = self
            .sets
            .get(&set_id)
            .ok_or(StakingError::UnknownSet(set_id))?;
        let height = evidence.height();
        self.check_height(height)?;
        if self.height - height > self.params.max_evidence_age_blocks
            || self.now - self.times.at(height) > self.params.max_evidence_age_secs
        {
            return Err(StakingError::EvidenceExpired { height });
        }
        let invalid = |reason: &str| StakingError::InvalidEvidence(reason.to_owned());
        let bad_signature = |e: crate::evidence::VoteError| {
            StakingError::InvalidEvidence(format!("bad signature: {e}"))
        };
        let key_of = |a: &Address| self.operators.get(a).and_then(|o| o.info.key.bls());
        let (operator, fraction, tombstone) = match evidence {
            Evidence::Equivocation { first, second, .. } => {
                if (first.height, first.round) != (second.height, second.round) {
                    return Err(invalid("the votes are for different slots"));
                }
                if first.digest == second.digest {
                    return Err(invalid("the votes do not conflict"));
                }
                let signer = first
                    .signer(set_id, self.chain_id, key_of)
                    .map_err(bad_signature)?;
                if second
                    .signer(set_id, self.chain_id, key_of)
                    .map_err(bad_signature)?
                    != signer
                {
                    return Err(invalid("the votes have different signers"));
                }
                (signer, self.params.slash_equivocation_bips, true)
            }
            Evidence::InvalidStateRoot {
                operator,
                height,
                challenge,
                ..
            } => {
                if self.lost_challenges.get(challenge) != Some(&(*operator, *height)) {
                    return Err(invalid(
                        "no decided challenge against this operator at this height",
                    ));
                }
                (*operator, self.params.slash_invalid_state_root_bips, false)
            }
            Evidence::InvalidVote { vote, .. } => {
                let canonical = self
                    .canonical
                    .get(&set_id.rollup.0)
                    .and_then(|m| m.get(&vote.height));
                match canonical {
                    None => return Err(invalid("no canonical block recorded at that height")),
                    Some(block) if *block == vote.digest => {
                        return Err(invalid("the vote is for the canonical block"));
                    }
                    Some(_) => {}
                }
                (
                    vote.signer(set_id, self.chain_id, key_of)
                        .map_err(bad_signature)?,
                    self.params.slash_invalid_vote_bips,
                    false,
                )
            }
        };
        if !self.operators.contains_key(&operator) {
            return Err(StakingError::UnknownOperator(operator));
        }
        if set.tombstoned.contains(&operator) {
            return Err(StakingError::Tombstoned(operator));
        }
        if !set.membership.get(&operator).is_some_and(|m| m.at(height)) {
            return Err(invalid("the signer was not in the set at that height"));
        }
        Ok(Infraction {
            id,
            set: set_id,
            operator,
            height,
            fraction,
            tombstone,
        })
    }

    /// Takes the slash of a verified infraction; cannot fail.
    fn punish(&mut self, submitter: &Address, infraction: Infraction) -> SlashOutcome {
        let Infraction {
            id,
            set: set_id,
            operator,
            height,
            fraction,
            tombstone,
        } = infraction;
        let base_pool = self
            .operators
            .get(&operator)
            .map(|state| state.pool.at(height).stake)
            .unwrap_or_default();
        // Checkpoints hold a height's final state, so stake undelegated during the infraction
        // height itself is added back: the base is the stake the operator had at h.
        let left_during = self
            .unbonding
            .get(&operator)
            .into_iter()
            .flat_map(|m| m.values().flatten())
            .filter(|e| e.created_height == height)
            .fold(U256::ZERO, |sum, e| sum + e.amount);
        let base = base_pool + left_during;
        let due = mul_div(base, U256::from(fraction), U256::from(BIPS));
        let mut taken = U256::ZERO;
        for entries in self
            .unbonding
            .get_mut(&operator)
            .into_iter()
            .flat_map(|m| m.values_mut())
        {
            for entry in entries.iter_mut().filter(|e| e.created_height >= height) {
                let cut =
                    mul_div(entry.amount, U256::from(fraction), U256::from(BIPS)).min(due - taken);
                entry.amount -= cut;
                taken += cut;
            }
        }
        self.total_unbonding -= taken;
        let pool = self.pool(&operator).unwrap_or_default();
        let from_pool = (due - taken).min(pool.stake);
        taken += from_pool;
        self.update_pool(
            &operator,
            Pool {
                stake: pool.stake - from_pool,
                shares: pool.shares,
            },
        );

        let reward = mul_div(
            taken,
            U256::from(self.params.evidence_reward_bips),
            U256::from(BIPS),
        );
        if !reward.is_zero() {
            let balance = self.balance_of(submitter) + reward;
            self.liquid.insert(*submitter, balance);
        }
        self.burned += taken - reward;
        self.seen_evidence.insert(id);
        if tombstone {
            if self
                .operators
                .get(&operator)
                .is_some_and(|o| o.sets.contains(&set_id))
            {
                let stake = pool.stake - from_pool;
                self.remove_member(&operator, set_id, stake);
            }
            if let Some(set) = self.sets.get_mut(&set_id) {
                set.tombstoned.insert(operator);
            }
        }
        SlashOutcome {
            operator,
            due,
            slashed: taken,
            reward,
        }
    }
}

/// A verified infraction, ready to be slashed.
struct Infraction {
    /// The evidence's identity (not slashed twice).
    id: B256,
    set: OperatorSetId,
    operator: Address,
    height: u64,
    /// Fraction of the stake at `height` taken, in bips.
    fraction: u32,
    /// Whether the operator is removed from the set for good.
    tombstone: bool,
}
