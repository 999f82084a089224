//! The driver's reactions: to its components' outputs, to settlement's log, to the results of
//! the calls it asked for; and the rewind after a revert.

use super::{
    Effect, Input, Outputs, PeerMessage, Rollup, RollupError, RollupEvent, SettlementCall,
    SettlementView, book::Defense, steps_of,
};
use crate::{
    Batch, DataAvailability, FinalityGadget, Sequencer, Settlement, StateTransition,
    da::{DaError, InMemoryDa},
    execution::stateless::plan_step,
    finality::FinalityEvent,
    ledger::{LedgerEvent, RollupLedger},
    sequencer::SequencerEvent,
    settlement::{
        LocalSettlement, SettlementError, SettlementEvent,
        bisection::{Party, Status},
    },
    verifier::{BatchCheck, Verifier, VerifierAction},
};

type Out<S, F> = Outputs<<S as Sequencer>::Message, <F as FinalityGadget>::Message>;

impl<S, V, F, L, D, St> Rollup<S, V, F, L, D, St>
where
    S: Sequencer,
    V: Verifier,
    F: FinalityGadget,
    L: RollupLedger,
    D: DataAvailability,
    St: Settlement,
{
    pub(super) fn on_sequencer(
        &mut self,
        events: Vec<SequencerEvent<S::Message>>,
        out: &mut Out<S, F>,
    ) {
        for event in events {
            match event {
                SequencerEvent::Block(built) => {
                    let hash = built.block.header.hash();
                    self.book.push(
                        built.block.clone(),
                        built.outcome.intermediate_roots.clone(),
                    );
                    let ledger = self.ledger.on_block(&built.block.header);
                    self.ledger_events(ledger, out);
                    let finality = self.finality.on_block(self.now_ms, hash, &built.block);
                    out.events.push(RollupEvent::Block { built, hash });
                    self.on_finality(finality, out);
                }
                SequencerEvent::Rejected(rejected) => {
                    out.events.push(RollupEvent::Rejected(rejected));
                }
                SequencerEvent::SoftConfirmed {
                    height,
                    certificate,
                    at_ms,
                } => {
                    self.finality.on_soft(height, certificate);
                    out.events.push(RollupEvent::SoftConfirmed {
                        height,
                        certificate,
                        at_ms,
                    });
                }
                SequencerEvent::Evidence(evidence) => {
                    let slashed = self.ledger.on_evidence(&self.settings.operator, &evidence);
                    out.events.push(RollupEvent::Evidence(evidence));
                    self.ledger_events(slashed, out);
                }
                SequencerEvent::Send { to, message } => out.effects.push(Effect::Send {
                    to,
                    message: PeerMessage::Sequencer(message),
                }),
            }
        }
    }

    pub(super) fn on_finality(
        &mut self,
        events: Vec<FinalityEvent<F::Message>>,
        out: &mut Out<S, F>,
    ) {
        for event in events {
            match event {
                FinalityEvent::FastFinal {
                    height,
                    hash,
                    certificate,
                } => out.events.push(RollupEvent::FastFinal {
                    height,
                    hash,
                    certificate,
                }),
                FinalityEvent::Alerted {
                    height,
                    hash,
                    alert,
                } => out.events.push(RollupEvent::Alerted {
                    height,
                    hash,
                    alert,
                }),
                FinalityEvent::Challenge { batch } => {
                    if self.retrieved.contains_key(&batch) {
                        let actions = self.verifier.on_alert(batch);
                        self.verifier_actions(actions, out);
                    } else {
                        // Challenged once the verifier has read the batch.
                        self.alerted.insert(batch);
                    }
                }
                FinalityEvent::Stalled {
                    height,
                    signed,
                    total,
                } => out.events.push(RollupEvent::Stalled {
                    height,
                    signed,
                    total,
                }),
                FinalityEvent::Evidence(evidence) => {
                    let slashed = self.ledger.on_evidence(&self.settings.operator, &evidence);
                    out.events.push(RollupEvent::Evidence(evidence));
                    self.ledger_events(slashed, out);
                }
                FinalityEvent::Send { to, message } => out.effects.push(Effect::Send {
                    to,
                    message: PeerMessage::Finality(message),
                }),
            }
        }
    }

    fn ledger_events(&self, result: Result<Vec<LedgerEvent>, L::Error>, out: &mut Out<S, F>) {
        match result {
            Ok(events) => out
                .events
                .extend(events.into_iter().map(RollupEvent::Ledger)),
            Err(error) => out
                .events
                .push(RollupEvent::Warning(format!("ledger: {error}"))),
        }
    }

    pub(super) fn on_retrieved(
        &mut self,
        index: u64,
        result: Result<Batch, DaError>,
        out: &mut Out<S, F>,
    ) {
        let batch = match result {
            Ok(batch) => batch,
            Err(error) => {
                out.events.push(RollupEvent::Warning(format!(
                    "the verifier cannot read batch {index} from DA: {error}"
                )));
                return;
            }
        };
        let chain_id = self.sequencer.state_transition().config().chain_id;
        // A batch read after a revert replaced it is stale.
        if self.unchecked.get(&index) != Some(&batch.commitment(chain_id)) {
            return;
        }
        self.unchecked.remove(&index);
        let (check, actions) = self.verifier.on_batch(&batch);
        let located = match &check {
            BatchCheck::Wrong { step, .. } => plan_step(&batch, *step).ok().and_then(|plan| {
                let part = plan
                    .parts
                    .iter()
                    .find(|part| part.transaction.is_some())
                    .or(plan.parts.last())?;
                Some((batch.blocks[part.block].header.height, part.transaction))
            }),
            _ => None,
        };
        out.events.push(RollupEvent::BatchChecked {
            index,
            check,
            located,
        });
        self.retrieved.insert(index, batch);
        self.verifier_actions(actions, out);
        if self.final_unchecked.remove(&index) {
            // Final before it was read (a window shorter than DA's round trip): too late to
            // challenge, and the verifier moves past it.
            self.verifier.on_final(index);
            self.retrieved.remove(&index);
        }
        if self.alerted.remove(&index) {
            let actions = self.verifier.on_alert(index);
            self.verifier_actions(actions, out);
        }
    }

    /// Hands the verifier's actions to settlement, locking a challenge's bond on the ledger
    /// first.
    fn verifier_actions(&mut self, actions: Vec<VerifierAction>, out: &mut Out<S, F>) {
        let me = self.verifier.address();
        for action in actions {
            match action {
                VerifierAction::Challenge { batch, bond } => {
                    let Some(data) = self.retrieved.get(&batch) else {
                        out.events.push(RollupEvent::Warning(format!(
                            "cannot challenge batch {batch}: its data was not read"
                        )));
                        continue;
                    };
                    if let Err(error) = self.ledger.lock_bond(&me, bond) {
                        out.events.push(RollupEvent::Warning(format!(
                            "cannot lock the bond to challenge batch {batch}: {error}"
                        )));
                        continue;
                    }
                    out.effects.push(Effect::Call(SettlementCall::Challenge {
                        batch: Box::new(data.clone()),
                        challenger: me,
                        bond,
                    }));
                }
                VerifierAction::Play { dispute, mv } => {
                    let on = self.disputes.get(&dispute).and_then(|d| d.pending());
                    out.events.push(RollupEvent::Moved {
                        dispute,
                        party: Party::Challenger,
                        mv,
                        on,
                    });
                    out.effects.push(Effect::Call(SettlementCall::Play {
                        dispute,
                        mover: me,
                        mv,
                    }));
                }
                VerifierAction::Prove { dispute, witness } => {
                    self.proved(dispute, Party::Challenger, &witness, out);
                    out.effects.push(Effect::Call(SettlementCall::Prove {
                        dispute,
                        prover: me,
                        witness,
                    }));
                }
            }
        }
    }

    fn proved(
        &self,
        dispute: crate::settlement::court::DisputeId,
        party: Party,
        witness: &crate::execution::stateless::StepWitness,
        out: &mut Out<S, F>,
    ) {
        let step = match self.disputes.get(&dispute).map(|d| d.status()) {
            Some(Status::OneStep { index, .. }) => index,
            _ => 0,
        };
        out.events.push(RollupEvent::Proved {
            dispute,
            party,
            step,
            nodes: witness.state.len(),
            codes: witness.codes.len(),
            bytes: witness.size(),
        });
    }

    pub(super) fn on_synced(
        &mut self,
        result: Result<SettlementView, SettlementError>,
        out: &mut Out<S, F>,
    ) {
        self.syncing = false;
        let view = match result {
            Ok(view) => view,
            Err(error) => {
                out.events.push(RollupEvent::Warning(format!(
                    "reading settlement failed: {error}"
                )));
                return;
            }
        };
        self.settlement_now = self.settlement_now.max(view.now);
        self.cursor = view.next;
        for event in view.events {
            self.on_settlement(event, out);
        }
        if let Some(height) = self.finality.on_settlement_time(self.settlement_now)
            && self.finalized.is_none_or(|f| height > f)
        {
            self.finalized = Some(height);
            out.events.push(RollupEvent::Finalized { height });
        }
        self.try_publish(out);
    }

    fn on_settlement(&mut self, event: SettlementEvent, out: &mut Out<S, F>) {
        match event {
            SettlementEvent::BatchCommitted {
                commitment,
                at,
                window_ends,
            } => {
                self.finality.on_batch_committed(&commitment, at);
                out.effects.push(Effect::Retrieve {
                    index: commitment.index,
                    da_ref: commitment.da_ref,
                });
                self.unchecked
                    .insert(commitment.index, commitment.commitment);
                self.committed.insert(commitment.index, commitment.clone());
                out.events.push(RollupEvent::BatchCommitted {
                    commitment: Box::new(commitment),
                    window_ends,
                });
            }
            SettlementEvent::ChallengeOpened {
                dispute,
                batch,
                challenger,
                bond,
            } => {
                self.finality.on_challenge(batch);
                *self.open_challenges.entry(batch).or_default() += 1;
                self.verifier.on_opened(dispute, batch, challenger);
                let steps = self
                    .retrieved
                    .get(&batch)
                    .or(self.book.posted(batch))
                    .map_or(0, steps_of);
                out.events.push(RollupEvent::ChallengeOpened {
                    dispute,
                    batch,
                    challenger,
                    bond,
                    steps,
                });
            }
            SettlementEvent::DisputeMoved { dispute, state } => {
                self.disputes.insert(dispute, (*state).clone());
                if state.proposer == self.settings.proposer {
                    self.defend(dispute, &state, out);
                }
                let actions = self.verifier.on_dispute(dispute, &state);
                self.verifier_actions(actions, out);
            }
            SettlementEvent::ChallengeDecided(resolution) => {
                let decision = &resolution.decision;
                self.disputes.remove(&decision.dispute);
                for id in &resolution.dismissed {
                    self.disputes.remove(id);
                    self.verifier.on_decided(*id);
                }
                self.verifier.on_decided(decision.dispute);
                let ledger = self.ledger.on_resolution(&resolution);
                let (batch, blamed) = (decision.batch, decision.height);
                let reverted = resolution.reverted_from;
                out.events.push(RollupEvent::Decided(resolution));
                self.ledger_events(ledger, out);
                match reverted {
                    Some(from) => self.rewind(from, blamed, out),
                    None => {
                        let open = self.open_challenges.entry(batch).or_default();
                        *open = open.saturating_sub(1);
                        if *open == 0 {
                            self.open_challenges.remove(&batch);
                            self.finality.on_challenge_failed(batch);
                        }
                    }
                }
            }
            SettlementEvent::BatchFinalized { index, .. } => {
                if self.unchecked.contains_key(&index) {
                    self.final_unchecked.insert(index);
                } else {
                    self.verifier.on_final(index);
                }
                self.book.finalize(index);
                self.committed.remove(&index);
                self.retrieved.remove(&index);
            }
        }
    }

    /// The proposer's answer in a game over one of its batches.
    fn defend(
        &mut self,
        dispute: crate::settlement::court::DisputeId,
        state: &crate::settlement::bisection::Dispute,
        out: &mut Out<S, F>,
    ) {
        let me = self.settings.proposer;
        match self.book.defend(state) {
            Some(Defense::Play(mv)) => {
                out.events.push(RollupEvent::Moved {
                    dispute,
                    party: Party::Proposer,
                    mv,
                    on: None,
                });
                out.effects.push(Effect::Call(SettlementCall::Play {
                    dispute,
                    mover: me,
                    mv,
                }));
            }
            Some(Defense::Prove(witness)) => {
                self.proved(dispute, Party::Proposer, &witness, out);
                out.effects.push(Effect::Call(SettlementCall::Prove {
                    dispute,
                    prover: me,
                    witness,
                }));
            }
            None => {}
        }
    }

    pub(super) fn on_called(
        &mut self,
        call: SettlementCall,
        result: Result<(), SettlementError>,
        out: &mut Out<S, F>,
    ) {
        let Err(error) = result else {
            // What the call caused is read from settlement's log at once.
            self.request_sync(out);
            return;
        };
        match call {
            SettlementCall::Challenge {
                batch,
                challenger,
                bond,
            } => {
                let unlocked = self.ledger.unlock_bond(&challenger, bond);
                out.events.push(RollupEvent::Warning(format!(
                    "settlement refused the challenge of batch {}: {error}",
                    batch.index
                )));
                if let Err(error) = unlocked {
                    out.events
                        .push(RollupEvent::Warning(format!("ledger: {error}")));
                }
            }
            SettlementCall::Prove {
                dispute, prover, ..
            } if prover == self.verifier.address() && self.verifier_plays(dispute) => {
                out.events.push(RollupEvent::Warning(format!(
                    "settlement refused the proof for game {dispute}: {error}"
                )));
                if let Some(state) = self.disputes.get(&dispute).cloned() {
                    let actions = self.verifier.on_refused(dispute, &state);
                    self.verifier_actions(actions, out);
                }
            }
            // Both sides may prove one step, or a game may already be over when a move lands:
            // only the first call counts.
            SettlementCall::Prove { .. } | SettlementCall::Play { .. } => {
                tracing::debug!(%error, "settlement refused a move");
            }
        }
    }

    fn verifier_plays(&self, dispute: crate::settlement::court::DisputeId) -> bool {
        self.disputes
            .get(&dispute)
            .is_some_and(|d| d.challenger == self.verifier.address())
    }

    /// Asks to read settlement's log now (after a call, whose consequences follow at once).
    pub(super) fn request_sync(&mut self, out: &mut Out<S, F>) {
        if !self.syncing {
            self.syncing = true;
            out.effects.push(Effect::Sync {
                now: self.now_ms / 1_000,
                from: self.cursor,
            });
        }
    }

    /// Settlement reverted batch `from` and every later one, blaming the block at
    /// `blamed`: back to the last valid block, the reverted blocks before the blamed one kept,
    /// the rest handed back to the sequencer.
    fn rewind(&mut self, from: u64, blamed: u64, out: &mut Out<S, F>) {
        // A batch on its way is void: it is cut again from the kept blocks.
        self.publishing = None;
        self.committed.split_off(&from);
        self.unchecked.split_off(&from);
        self.final_unchecked.split_off(&from);
        self.retrieved.split_off(&from);
        self.open_challenges.split_off(&from);
        self.alerted.split_off(&from);
        self.verifier.on_revert(from);
        let Some(mut rewind) = self.book.revert(from, blamed) else {
            out.events.push(RollupEvent::Warning(format!(
                "no replica before batch {from}: cannot rewind"
            )));
            return;
        };
        if let Err(error) = rewind.to.become_head() {
            out.events.push(RollupEvent::Warning(format!(
                "the store could not be taken back to block {}: {error}",
                rewind.to.head().height
            )));
        }
        let (height, state_root) = (rewind.to.head().height, rewind.to.state_root());
        self.finality.on_revert(from, height);
        let requeued = rewind.reverted.iter().map(|b| b.transactions.len()).sum();
        let refused = self.sequencer.rewind(rewind.to, rewind.reverted);
        if !refused.is_empty() {
            tracing::debug!(
                refused = refused.len(),
                "reverted transactions not pooled again"
            );
        }
        out.events.push(RollupEvent::Rewound {
            from_batch: from,
            height,
            state_root,
            kept: rewind.kept,
            requeued,
        });
        self.try_publish(out);
    }
}

impl<S, V, F, L> Rollup<S, V, F, L, InMemoryDa, LocalSettlement>
where
    S: Sequencer,
    V: Verifier,
    F: FinalityGadget,
    L: RollupLedger,
{
    /// Handles `input` and every input its effects bring back from the in-process DA layer and
    /// settlement, synchronously, in the order they come (as altlayer-node's runner does);
    /// returns the events of all of them, in order. One step of an embedder's loop without an
    /// async runtime (messages to peers are dropped: an in-process rollup has none). An error
    /// is a [`RollupError`]: the rollup cannot go on.
    pub fn handle_locally(
        &mut self,
        input: Input<S::Message, F::Message>,
    ) -> Result<Vec<RollupEvent>, RollupError> {
        let mut events = Vec::new();
        let mut inputs = std::collections::VecDeque::from([input]);
        while let Some(input) = inputs.pop_front() {
            let out = self.handle(input)?;
            events.extend(out.events);
            inputs.extend(
                out.effects
                    .into_iter()
                    .filter_map(|e| self.execute_locally(e)),
            );
        }
        Ok(events)
    }

    /// Carries out an effect against the in-process DA layer and settlement, synchronously,
    /// and returns the input that answers it; `None` for a message to peers (an in-process
    /// rollup has none). What an embedder without an async runtime calls.
    pub fn execute_locally(
        &self,
        effect: Effect<S::Message, F::Message>,
    ) -> Option<Input<S::Message, F::Message>> {
        Some(match effect {
            Effect::Send { .. } => return None,
            Effect::Publish { ticket, batch } => Input::Published {
                ticket,
                result: self.da.publish_now(&batch),
            },
            Effect::Commit { ticket, commitment } => Input::Committed {
                ticket,
                result: self.settlement.commit(*commitment),
            },
            Effect::Retrieve { index, da_ref } => Input::Retrieved {
                index,
                result: self.da.retrieve_now(&da_ref),
            },
            Effect::Call(call) => {
                let result = match &call {
                    SettlementCall::Challenge {
                        batch,
                        challenger,
                        bond,
                    } => self
                        .settlement
                        .challenge(batch, *challenger, *bond)
                        .map(|_| ()),
                    SettlementCall::Play { dispute, mover, mv } => {
                        self.settlement.play_move(*dispute, *mover, *mv)
                    }
                    SettlementCall::Prove {
                        dispute, witness, ..
                    } => self.settlement.submit_proof(*dispute, witness),
                };
                Input::Called { call, result }
            }
            Effect::Sync { now, from } => {
                self.settlement.set_time(now);
                let (events, next) = self.settlement.events_since(from);
                Input::Synced {
                    result: Ok(SettlementView {
                        now: self.settlement.time(),
                        events,
                        next,
                    }),
                }
            }
        })
    }
}
