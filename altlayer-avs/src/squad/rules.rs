//! The consensus rules a node checks after every input, and its timeouts.

use super::*;

/// A rule that fires once per round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Rule {
    /// More than two thirds prevoted the round's proposal: lock, soft-confirm, precommit.
    Polka,
    /// More than two thirds prevoted anything: start the prevote timer.
    PrevoteTimer,
    /// More than two thirds precommitted anything: start the precommit timer.
    PrecommitTimer,
}

impl SquadNode {
    /// Applies every rule of the algorithm whose condition now holds.
    pub(super) fn check_rules(&mut self, now_ms: u64, out: &mut Vec<Output>) {
        // A commit in any round ends the height.
        let rounds: Vec<u32> = self.proposals.keys().copied().collect();
        for round in rounds {
            let Some(proposal) = self.proposals.get(&round) else {
                continue;
            };
            let hash = proposal.block.hash();
            let block = proposal.block.clone();
            let precommitted =
                self.verified_stake(round, VoteKind::Precommit, Some(hash), Self::quorum_fn);
            if self.quorum(precommitted)
                && self.valid(&block)
                && let Some(certificate) = self.certificate(round, VoteKind::Precommit, Some(hash))
            {
                self.commit(
                    Decision {
                        block,
                        round,
                        certificate,
                    },
                    now_ms,
                    out,
                );
                return;
            }
        }

        let round = self.state.round;
        // Skip ahead when more than a third of the stake is in a later round.
        let later: Vec<u32> = self
            .votes
            .keys()
            .map(|(r, _)| *r)
            .filter(|r| *r > round)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for r in later.into_iter().rev() {
            let mut stake = U256::ZERO;
            let mut voters = BTreeSet::new();
            for kind in [VoteKind::Prevote, VoteKind::Precommit] {
                if let Some(v) = self.votes.get(&(r, kind)) {
                    for signer in v.by_signer.keys() {
                        if voters.insert(*signer)
                            && let Some(i) = self.roster.index_of(signer)
                        {
                            stake += self.roster.entries()[i].stake;
                        }
                    }
                }
            }
            if self.one_third(stake) {
                self.start_round(r, now_ms, out);
                return;
            }
        }

        // Propose step: prevote on the round's proposal.
        if self.state.step == Step::Propose
            && let Some(proposal) = self.proposals.get(&round).cloned()
        {
            let hash = proposal.block.hash();
            // A new block must not claim a time further ahead of this node's clock than the
            // allowed drift (a decided or certified block is judged without the clock).
            let timely = proposal.block.payload.timestamp.saturating_mul(1_000)
                <= now_ms.saturating_add(self.config.max_clock_drift_ms);
            let decision = match proposal.valid_round {
                None => Some(
                    timely
                        && self.valid(&proposal.block)
                        && self
                            .state
                            .locked
                            .as_ref()
                            .is_none_or(|(_, b)| b.hash() == hash),
                ),
                Some(vr) if vr < round => {
                    let polka =
                        self.verified_stake(vr, VoteKind::Prevote, Some(hash), Self::quorum_fn);
                    // The prevotes counted here, or the certificate the leader attached.
                    let certified = proposal.polka.as_ref().is_some_and(|qc| {
                        qc.digest
                            == self.vote_digest(
                                self.state.height,
                                vr,
                                VoteKind::Prevote,
                                Some(hash),
                            )
                            && self.check_certificate(qc)
                    });
                    if self.quorum(polka) || certified {
                        Some(
                            self.valid(&proposal.block)
                                && self
                                    .state
                                    .locked
                                    .as_ref()
                                    .is_none_or(|(lr, b)| *lr <= vr || b.hash() == hash),
                        )
                    } else {
                        None
                    }
                }
                Some(_) => Some(false),
            };
            if let Some(accept) = decision {
                self.state.step = Step::Prevote;
                self.vote(VoteKind::Prevote, accept.then_some(hash), now_ms, out);
                return;
            }
        }

        // A prevote certificate for the round's proposal: lock (if at prevote) and precommit.
        if let Some(proposal) = self.proposals.get(&round).cloned() {
            let hash = proposal.block.hash();
            if self.state.step != Step::Propose
                && !self.fired.contains(&(round, Rule::Polka))
                && {
                    let stake =
                        self.verified_stake(round, VoteKind::Prevote, Some(hash), Self::quorum_fn);
                    self.quorum(stake)
                }
                && self.valid(&proposal.block)
            {
                self.fired.insert((round, Rule::Polka));
                let Some(certificate) = self.certificate(round, VoteKind::Prevote, Some(hash))
                else {
                    return;
                };
                out.push(Output::SoftConfirmed {
                    height: self.state.height,
                    block: hash,
                    certificate: certificate.clone(),
                });
                self.state.valid = Some((round, proposal.block.clone(), certificate));
                if self.state.step == Step::Prevote {
                    self.state.locked = Some((round, proposal.block));
                    self.state.step = Step::Precommit;
                    self.vote(VoteKind::Precommit, Some(hash), now_ms, out);
                    return;
                }
            }
        }

        if self.state.step == Step::Prevote {
            // More than two thirds prevoted nil: precommit nil.
            let nil = self.verified_stake(round, VoteKind::Prevote, None, Self::quorum_fn);
            if self.quorum(nil) {
                self.state.step = Step::Precommit;
                self.vote(VoteKind::Precommit, None, now_ms, out);
                return;
            }
            // More than two thirds prevoted anything: start the prevote timer once.
            let any = self
                .votes
                .get(&(round, VoteKind::Prevote))
                .map_or(U256::ZERO, |v| v.any);
            if self.quorum(any) && self.fired.insert((round, Rule::PrevoteTimer)) {
                out.push(self.timer(TimeoutKind::Prevote));
            }
        }
        // More than two thirds precommitted anything: start the precommit timer once.
        let any = self
            .votes
            .get(&(round, VoteKind::Precommit))
            .map_or(U256::ZERO, |v| v.any);
        if self.quorum(any) && self.fired.insert((round, Rule::PrecommitTimer)) {
            out.push(self.timer(TimeoutKind::Precommit));
        }
    }

    pub(super) fn on_timeout(&mut self, timer: Timer, now_ms: u64, out: &mut Vec<Output>) {
        if timer.height != self.state.height || timer.round != self.state.round {
            return;
        }
        match (timer.kind, self.state.step) {
            (TimeoutKind::Propose, Step::Propose) => {
                self.state.step = Step::Prevote;
                self.vote(VoteKind::Prevote, None, now_ms, out);
            }
            (TimeoutKind::Prevote, Step::Prevote) => {
                self.state.step = Step::Precommit;
                self.vote(VoteKind::Precommit, None, now_ms, out);
            }
            (TimeoutKind::Precommit, _) => {
                let next = self.state.round.saturating_add(1);
                self.start_round(next, now_ms, out);
            }
            (TimeoutKind::BlockInterval, Step::Propose) => self.propose(now_ms, out),
            _ => {}
        }
    }
}
