//! The protocol's moves: rounds, proposals, votes and relays, messages from peers,
//! transactions, commits and new heights; and how a node signs.

use super::*;

impl SquadNode {
    /// The digest a consensus message signs: [`SignedVote::signing_hash`] of the SQUAD set at
    /// `height` and [`slot`]`(round, kind)`, over the block hash (zero for nil).
    pub fn vote_digest(
        &self,
        height: u64,
        round: u32,
        kind: VoteKind,
        block: Option<B256>,
    ) -> B256 {
        SignedVote::signing_hash(
            squad_set(self.config.rollup),
            self.config.chain_id,
            height,
            slot(round, kind),
            block.unwrap_or_default(),
        )
    }

    pub(super) fn sign(&self, digest: &B256) -> Signature {
        match self.config.crypto {
            CryptoMode::Full => self.key.sign(digest),
            #[cfg(feature = "test-utils")]
            CryptoMode::Unchecked => placeholder_signature(),
        }
    }

    pub(super) fn timeout_ms(&self, kind: TimeoutKind, round: u32) -> u64 {
        let base = match kind {
            TimeoutKind::Propose => self.config.timeout_propose_ms,
            TimeoutKind::Prevote | TimeoutKind::Precommit => self.config.timeout_vote_ms,
            TimeoutKind::BlockInterval => return self.config.block_interval_ms,
        };
        base.saturating_add(
            self.config
                .timeout_delta_ms
                .saturating_mul(u64::from(round)),
        )
    }

    pub(super) fn timer(&self, kind: TimeoutKind) -> Output {
        Output::SetTimer {
            timer: Timer {
                height: self.state.height,
                round: self.state.round,
                kind,
            },
            after_ms: self.timeout_ms(kind, self.state.round),
        }
    }

    pub(super) fn start_round(&mut self, round: u32, now_ms: u64, out: &mut Vec<Output>) {
        self.state.round = round;
        self.state.step = Step::Propose;
        let pause = if round == 0 {
            self.config.block_interval_ms
        } else {
            0
        };
        if pause == 0 {
            self.propose(now_ms, out);
        } else if self.leader(round) == self.address {
            out.push(Output::SetTimer {
                timer: Timer {
                    height: self.state.height,
                    round,
                    kind: TimeoutKind::BlockInterval,
                },
                after_ms: pause,
            });
        }
        out.push(Output::SetTimer {
            timer: Timer {
                height: self.state.height,
                round,
                kind: TimeoutKind::Propose,
            },
            after_ms: self.timeout_ms(TimeoutKind::Propose, round) + pause,
        });
        // Votes of this round that arrived early may already decide something.
        self.check_rules(now_ms, out);
    }

    /// Proposes for the current round if this node leads it and has not proposed yet: the
    /// block it saw certified (with the certificate), or a new one from the pool.
    pub(super) fn propose(&mut self, now_ms: u64, out: &mut Vec<Output>) {
        let round = self.state.round;
        if self.leader(round) != self.address
            || self.state.signed.contains_key(&(round, VoteKind::Proposal))
        {
            return;
        }
        let (block, valid_round, polka) = match &self.state.valid {
            Some((r, block, qc)) => (block.clone(), Some(*r), Some(qc.clone())),
            None => (self.new_block(now_ms), None, None),
        };
        let hash = block.hash();
        let proposal = Proposal {
            signature: self.sign(&self.vote_digest(
                block.height,
                round,
                VoteKind::Proposal,
                Some(hash),
            )),
            block,
            round,
            valid_round,
            polka,
            proposer: self.address,
        };
        let message = Message::Proposal(Box::new(proposal.clone()));
        self.state
            .signed
            .insert((round, VoteKind::Proposal), message.clone());
        out.push(Output::Send {
            to: Target::All,
            message,
        });
        self.on_proposal(proposal, now_ms, out);
    }

    pub(super) fn new_block(&self, now_ms: u64) -> SquadBlock {
        let (parent, parent_time, last_commit) = match self.state.chain.last() {
            Some(d) => (
                d.block.hash(),
                d.block.payload.timestamp,
                Some((d.round, d.certificate.clone())),
            ),
            None => (self.config.genesis, 0, None),
        };
        SquadBlock {
            height: self.state.height,
            parent,
            payload: Payload {
                timestamp: (now_ms / 1_000).max(parent_time),
                transactions: self.pool.select(self.config.max_block_transactions),
            },
            last_commit,
        }
    }

    /// Checks a block proposed at the current height: it extends the committed chain, its
    /// timestamp does not go back, and it carries the parent's commit certificate.
    pub(super) fn valid(&self, block: &SquadBlock) -> bool {
        if block.height != self.state.height {
            return false;
        }
        match self.state.chain.last() {
            None => block.parent == self.config.genesis && block.last_commit.is_none(),
            Some(parent) => {
                block.parent == parent.block.hash()
                    && block.payload.timestamp >= parent.block.payload.timestamp
                    && block.last_commit.as_ref().is_some_and(|(round, qc)| {
                        qc.digest
                            == self.vote_digest(
                                parent.block.height,
                                *round,
                                VoteKind::Precommit,
                                Some(parent.block.hash()),
                            )
                            && self.check_certificate_with(qc, &self.parent_roster)
                    })
                    && block.payload.transactions.len() <= self.config.max_block_transactions
            }
        }
    }

    pub(super) fn check_certificate(&self, qc: &QuorumCertificate) -> bool {
        self.check_certificate_with(qc, &self.roster)
    }

    pub(super) fn check_certificate_with(&self, qc: &QuorumCertificate, roster: &Roster) -> bool {
        match self.config.crypto {
            CryptoMode::Full => {
                let hash = qc.hash();
                if self.checked.borrow().contains(&hash) {
                    return true;
                }
                let ok = qc.verify(roster, Threshold::MORE_THAN_TWO_THIRDS).is_ok();
                if ok {
                    let mut checked = self.checked.borrow_mut();
                    if checked.len() >= 64 {
                        checked.clear();
                    }
                    checked.insert(hash);
                }
                ok
            }
            #[cfg(feature = "test-utils")]
            CryptoMode::Unchecked => roster
                .signed_stake(&qc.signers)
                .is_ok_and(|stake| Threshold::MORE_THAN_TWO_THIRDS.is_met(stake, roster.total())),
        }
    }

    pub(super) fn vote(
        &mut self,
        kind: VoteKind,
        block: Option<B256>,
        now_ms: u64,
        out: &mut Vec<Output>,
    ) {
        let round = self.state.round;
        if self.state.signed.contains_key(&(round, kind)) || !self.is_member() {
            return;
        }
        let height = self.state.height;
        let vote = Vote {
            kind,
            height,
            round,
            block,
            signer: self.address,
            signature: self.sign(&self.vote_digest(height, round, kind, block)),
        };
        let message = Message::Vote(vote.clone());
        self.state.signed.insert((round, kind), message.clone());
        out.push(Output::Send {
            to: Target::All,
            message,
        });
        // A timer on entering each step (not only once more than two thirds voted, as in the
        // paper): with messages lost rather than re-gossiped, a node must not wait forever for
        // votes that will not come. Moving on to a later round is always safe.
        out.push(self.timer(match kind {
            VoteKind::Precommit => TimeoutKind::Precommit,
            _ => TimeoutKind::Prevote,
        }));
        self.add_vote(vote, out);
        self.check_rules(now_ms, out);
    }

    /// Peers a first-seen message is relayed to: the next `relay_fanout` sequencers after
    /// this one in roster order, so conflicting messages sent to different peers meet
    /// somewhere, at a cost linear in the set's size.
    pub(super) fn relay(&self, message: &Message, skip: &[Address], out: &mut Vec<Output>) {
        let entries = self.roster.entries();
        let Some(me) = self.roster.index_of(&self.address) else {
            return;
        };
        let mut sent = 0;
        for step in 1..entries.len() {
            if sent == self.config.relay_fanout {
                break;
            }
            let peer = entries[(me + step) % entries.len()].operator;
            if skip.contains(&peer) {
                continue;
            }
            out.push(Output::Send {
                to: Target::One(peer),
                message: message.clone(),
            });
            sent += 1;
        }
    }

    pub(super) fn on_message(
        &mut self,
        from: Address,
        message: Message,
        now_ms: u64,
        out: &mut Vec<Output>,
    ) {
        match message {
            Message::Transaction(bytes) => {
                self.on_transaction(bytes, false, out);
                return;
            }
            Message::SyncRequest { from: height } => {
                let end = height.saturating_add(SYNC_BATCH);
                for decision in &self.state.chain {
                    if (height..end).contains(&decision.block.height) {
                        out.push(Output::Send {
                            to: Target::One(from),
                            message: Message::Decision(Box::new(decision.clone())),
                        });
                    }
                }
                return;
            }
            _ => {}
        }
        let Some(height) = message.height() else {
            return;
        };
        if height < self.state.height {
            // A peer behind: help it catch up with the decision it is working on.
            if let Some(decision) = height.checked_sub(1).and_then(|index| self.decision(index))
                && !matches!(message, Message::Decision(_))
            {
                out.push(Output::Send {
                    to: Target::One(from),
                    message: Message::Decision(Box::new(decision.clone())),
                });
            }
            return;
        }
        if height > self.state.height || (self.waiting && height == self.state.height) {
            let buffered: usize = self.future.values().map(Vec::len).sum();
            if buffered < FUTURE_LIMIT {
                self.future.entry(height).or_default().push((from, message));
            }
            if height > self.state.height && self.asked.insert((from, self.state.height)) {
                out.push(Output::Send {
                    to: Target::One(from),
                    message: Message::SyncRequest {
                        from: self.state.height,
                    },
                });
            }
            return;
        }
        // Rounds far ahead are not kept: a byzantine sequencer must not grow this node's
        // memory with votes for millions of rounds. Honest ones resend when the round comes.
        let round = match &message {
            Message::Proposal(p) => Some(p.round),
            Message::Vote(v) => Some(v.round),
            _ => None,
        };
        if round.is_some_and(|r| r > self.state.round.saturating_add(MAX_ROUNDS_AHEAD)) {
            return;
        }
        match message {
            Message::Proposal(proposal) => {
                if self.roster.index_of(&proposal.proposer).is_some() {
                    let round = proposal.round;
                    let relay = Message::Proposal(proposal.clone());
                    let skip = [from, proposal.proposer];
                    let known = self.proposals.contains_key(&round);
                    self.on_proposal(*proposal, now_ms, out);
                    if !known && self.proposals.contains_key(&round) {
                        self.relay(&relay, &skip, out);
                    }
                }
            }
            Message::Vote(vote) => {
                if self.roster.index_of(&vote.signer).is_none() {
                    return;
                }
                // A vote relayed by someone else is checked on its own (a relayer must not be
                // able to put words in an honest sequencer's mouth), unless it is one already
                // counted.
                let known = self
                    .votes
                    .get(&(vote.round, vote.kind))
                    .and_then(|v| v.by_signer.get(&vote.signer))
                    .is_some_and(|(block, _)| *block == vote.block);
                if known {
                    return;
                }
                if from != vote.signer {
                    let digest = self.vote_digest(vote.height, vote.round, vote.kind, vote.block);
                    if !self.signature_ok(&vote.signer, &digest, &vote.signature) {
                        return;
                    }
                }
                let relay = Message::Vote(vote.clone());
                let skip = [from, vote.signer];
                if self.add_vote(vote, out) {
                    self.relay(&relay, &skip, out);
                }
                self.check_rules(now_ms, out);
            }
            Message::Decision(decision) => self.on_decision(*decision, now_ms, out),
            Message::SyncRequest { .. } | Message::Transaction(_) => {}
        }
    }

    pub(super) fn on_transaction(&mut self, bytes: Bytes, gossip: bool, out: &mut Vec<Output>) {
        match self.pool.insert(bytes.clone()) {
            Ok(_) => {
                if gossip {
                    out.push(Output::Send {
                        to: Target::All,
                        message: Message::Transaction(bytes),
                    });
                }
            }
            Err(mempool::PoolError::Duplicate(_)) if !gossip => {}
            Err(reason) => out.push(Output::Rejected {
                hash: keccak256(&bytes),
                reason,
            }),
        }
    }

    /// A transaction submitted here, already recovered: pooled and gossiped.
    pub(super) fn on_recovered(&mut self, tx: Recovered<TxEnvelope>, out: &mut Vec<Output>) {
        let bytes = Bytes::from(tx.inner().encoded_2718());
        match self.pool.insert_recovered(tx) {
            Ok(_) => out.push(Output::Send {
                to: Target::All,
                message: Message::Transaction(bytes),
            }),
            Err(reason) => out.push(Output::Rejected {
                hash: keccak256(&bytes),
                reason,
            }),
        }
    }

    pub(super) fn on_proposal(&mut self, proposal: Proposal, now_ms: u64, out: &mut Vec<Output>) {
        let round = proposal.round;
        if proposal.proposer != self.leader(round) {
            return;
        }
        let hash = proposal.block.hash();
        let digest = self.vote_digest(proposal.block.height, round, VoteKind::Proposal, Some(hash));
        if let Some(existing) = self.proposals.get(&round) {
            if existing.block.hash() != hash
                && self.signature_ok(&proposal.proposer, &digest, &proposal.signature)
            {
                let first = existing.clone();
                self.equivocation(
                    proposal.proposer,
                    round,
                    VoteKind::Proposal,
                    (Some(first.block.hash()), first.signature),
                    (Some(hash), proposal.signature),
                    out,
                );
            }
            return;
        }
        if !self.signature_ok(&proposal.proposer, &digest, &proposal.signature) {
            return;
        }
        self.proposals.insert(round, proposal);
        self.check_rules(now_ms, out);
    }

    pub(super) fn on_decision(&mut self, decision: Decision, now_ms: u64, out: &mut Vec<Output>) {
        let hash = decision.block.hash();
        let expected = self.vote_digest(
            decision.block.height,
            decision.round,
            VoteKind::Precommit,
            Some(hash),
        );
        if decision.certificate.digest == expected
            && self.check_certificate(&decision.certificate)
            && self.valid(&decision.block)
        {
            self.commit(decision, now_ms, out);
        }
    }

    pub(super) fn commit(&mut self, decision: Decision, now_ms: u64, out: &mut Vec<Output>) {
        let committed: Vec<B256> = decision
            .block
            .payload
            .transactions
            .iter()
            .map(keccak256)
            .collect();
        // The transactions this node pooled come back recovered: the block is executed from
        // them (the last decision's only, so memory stays bounded).
        self.recovered = self.pool.take(&committed).into_iter().collect();
        self.state.chain.push(decision.clone());
        out.push(Output::Committed(Box::new(decision)));
        self.state.height += 1;
        self.state.locked = None;
        self.state.valid = None;
        self.state.signed.clear();
        self.votes.clear();
        self.proposals.clear();
        self.excluded.clear();
        self.fired.clear();
        let epoch = epoch_of(self.state.height, self.config.epoch_length);
        self.parent_roster = self.roster.clone();
        match self.rosters.get(&epoch) {
            Some(roster) => {
                self.roster = roster.clone();
                self.enter_height(now_ms, out);
            }
            None => {
                self.waiting = true;
                out.push(Output::NeedRoster {
                    epoch,
                    snapshot: epoch_snapshot(
                        self.config.rollup,
                        self.state.height,
                        self.config.epoch_length,
                    ),
                });
            }
        }
        // Rosters of past epochs are no longer needed.
        self.rosters.retain(|e, _| *e >= epoch);
    }

    /// Starts the current height with its epoch's roster, and replays what arrived early.
    pub(super) fn enter_height(&mut self, now_ms: u64, out: &mut Vec<Output>) {
        if let Some(roster) = self
            .rosters
            .get(&epoch_of(self.state.height, self.config.epoch_length))
        {
            self.roster = roster.clone();
        }
        self.waiting = false;
        self.start_round(0, now_ms, out);
        if let Some(early) = self.future.remove(&self.state.height) {
            for (from, message) in early {
                self.on_message(from, message, now_ms, out);
            }
        }
        let height = self.state.height;
        self.future.retain(|h, _| *h > height);
    }
}
