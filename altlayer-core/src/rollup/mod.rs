//! The composition root: a [`Rollup`] owns one component per composition trait and drives them
//! as one sans-IO state machine.
//!
//! Inputs are transactions ([`Rollup::submit`]), time ([`Input::Tick`]), peers' messages, and
//! the results of the DA and settlement calls it asked for. Outputs ([`Outputs`]) are effects
//! for the caller to carry out ([`Effect`]: publish a batch, commit it, read one back, a
//! challenge, a move or a proof, send a message, read settlement's log) and events to report
//! ([`RollupEvent`]: a block, its soft, fast and firm finality, alerts, challenges and their
//! decisions, reverts, slashes). Batching, the proposer's defense of its batches, rewinding to
//! the last valid root after a revert, and the finality tiers live here once.
//!
//! The node (altlayer-node) runs the effects with tokio against the async
//! [`DataAvailability`] and [`Settlement`] traits; the simulator and the benchmarks run the
//! same driver in virtual time; an embedder runs it from its own loop (the in-process
//! [`InMemoryDa`] and [`LocalSettlement`] have synchronous methods for that).
//!
//! # Example
//!
//! A single-sequencer rollup with core's defaults, driven from a plain loop:
//!
//! ```
//! use altlayer_core::{
//!     RollupConfig,
//!     genesis::{parse_genesis, state_transition_from_genesis},
//!     rollup::{Effect, Input, Rollup, RollupEvent, RollupSettings},
//! };
//!
//! let genesis = parse_genesis(r#"{"config":{"chainId":1337},"alloc":{}}"#)?;
//! let stf = state_transition_from_genesis(RollupConfig::default(), &genesis);
//! let settings = RollupSettings { blocks_per_batch: 2, challenge_window_secs: 0, ..Default::default() };
//! let mut rollup = Rollup::builder(stf, settings).build()?;
//!
//! let mut finalized = None;
//! for now_ms in [1_000, 2_000] {
//!     let mut inputs = vec![Input::Tick { now_ms }];
//!     while let Some(input) = inputs.pop() {
//!         let out = rollup.handle(input)?;
//!         for event in &out.events {
//!             if let RollupEvent::Finalized { height } = event {
//!                 finalized = Some(*height);
//!             }
//!         }
//!         // The in-process DA and settlement answer at once.
//!         inputs.extend(out.effects.into_iter().filter_map(|e| rollup.execute_locally(e)));
//!     }
//! }
//! // The same loop in one call: `handle_locally` carries out the effects it brings.
//! let events = rollup.handle_locally(Input::Tick { now_ms: 3_000 })?;
//! assert!(events.iter().any(|e| matches!(e, RollupEvent::Block { .. })));
//! assert_eq!(rollup.head().height, 3);
//! assert_eq!(finalized, Some(2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod book;
mod builder;
mod drive;
mod persist;

pub use persist::{RECORDS, recorded_head, recorded_oldest_state};

pub use book::{BatchBook, Defense, Rewind};
pub use builder::{BuildError, RollupBuilder, RollupSettings};

use crate::{
    Batch, DataAvailability, FinalityGadget, Header, Sequencer, Settlement, StateTransition,
    da::{DaError, InMemoryDa},
    evidence::Evidence,
    execution::{BuiltBlock, RejectedTx},
    ledger::{LedgerEvent, RollupLedger},
    primitives::DaRef,
    sequencer::{Peer, SequencerError, SubmitError},
    settlement::{
        BatchCommitment, LocalSettlement, Resolution, SettlementError, SettlementEvent,
        bisection::{Dispute, Move, Party},
        court::DisputeId,
    },
    transaction::decode_and_recover_all,
    verifier::{BatchCheck, Verifier},
};
use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, Bytes, U256};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

/// A message between a rollup's components and their peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerMessage<S, F> {
    /// For or from the sequencer set.
    Sequencer(S),
    /// For or from the finality gadget's operators.
    Finality(F),
}

/// A call to settlement the driver asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettlementCall {
    /// Challenge a batch (its data, as read from DA) with a bond.
    Challenge {
        /// The batch.
        batch: Box<Batch>,
        /// Who challenges.
        challenger: Address,
        /// The bond, locked on the ledger.
        bond: U256,
    },
    /// A move in a dispute game.
    Play {
        /// The game.
        dispute: DisputeId,
        /// Who moves.
        mover: Address,
        /// The move.
        mv: Move,
    },
    /// A one-step proof.
    Prove {
        /// The game.
        dispute: DisputeId,
        /// Who submits it.
        prover: Address,
        /// The witness.
        witness: Box<crate::execution::stateless::StepWitness>,
    },
}

/// What settlement's log said since the driver last read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementView {
    /// Settlement time now.
    pub now: u64,
    /// Events since the position asked for.
    pub events: Vec<SettlementEvent>,
    /// The position after them.
    pub next: u64,
}

/// What goes into the driver.
#[derive(Clone, Debug)]
pub enum Input<S, F> {
    /// The rollup's clock reads `now_ms` (milliseconds since the Unix epoch, or virtual).
    Tick {
        /// Now.
        now_ms: u64,
    },
    /// A message from a peer.
    Message {
        /// The peer's operator address.
        from: Address,
        /// The message.
        message: PeerMessage<S, F>,
    },
    /// The result of [`Effect::Publish`].
    Published {
        /// The ticket the effect carried.
        ticket: u64,
        /// Where the batch is, or why it could not be published.
        result: Result<DaRef, DaError>,
    },
    /// The result of [`Effect::Commit`].
    Committed {
        /// The ticket the effect carried.
        ticket: u64,
        /// Whether settlement took the commitment.
        result: Result<(), SettlementError>,
    },
    /// The result of [`Effect::Retrieve`].
    Retrieved {
        /// The batch index asked for.
        index: u64,
        /// The batch, or why it could not be read.
        result: Result<Batch, DaError>,
    },
    /// The result of [`Effect::Sync`].
    Synced {
        /// Settlement's time and log, or why it could not be read.
        result: Result<SettlementView, SettlementError>,
    },
    /// The result of [`Effect::Call`].
    Called {
        /// The call.
        call: SettlementCall,
        /// Whether settlement accepted it.
        result: Result<(), SettlementError>,
    },
}

/// What the driver asks its caller to do.
#[derive(Clone, Debug)]
pub enum Effect<S, F> {
    /// Send a message to peers.
    Send {
        /// To whom.
        to: Peer,
        /// What.
        message: PeerMessage<S, F>,
    },
    /// Publish a batch to DA; answer with [`Input::Published`].
    Publish {
        /// Identifies the answer.
        ticket: u64,
        /// The batch.
        batch: Box<Batch>,
    },
    /// Commit a batch to settlement; answer with [`Input::Committed`].
    Commit {
        /// Identifies the answer.
        ticket: u64,
        /// The commitment.
        commitment: Box<BatchCommitment>,
    },
    /// Read a committed batch back from DA (the verifier's copy); answer with
    /// [`Input::Retrieved`].
    Retrieve {
        /// The batch index.
        index: u64,
        /// Where it is.
        da_ref: DaRef,
    },
    /// Call settlement; answer with [`Input::Called`].
    Call(SettlementCall),
    /// Tell settlement the time (`Settlement::observe_time`), then read its log from `from`;
    /// answer with [`Input::Synced`].
    Sync {
        /// Settlement time by the driver's clock.
        now: u64,
        /// Log position to read from.
        from: u64,
    },
}

/// What the driver reports.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RollupEvent {
    /// A block was produced (built, or committed and executed by a set).
    Block {
        /// The block, its receipts and what the builder left out.
        built: Box<BuiltBlock>,
        /// Its hash.
        hash: B256,
    },
    /// A transaction was left out of a block, and why.
    Rejected(RejectedTx),
    /// The block at `height` is soft-confirmed by the sequencer set.
    SoftConfirmed {
        /// Height.
        height: u64,
        /// The certificate's hash.
        certificate: B256,
        /// When the certificate formed.
        at_ms: u64,
    },
    /// The block at `height` is fast-final.
    FastFinal {
        /// Height.
        height: u64,
        /// Block hash.
        hash: B256,
        /// The certificate's hash.
        certificate: B256,
    },
    /// Every block up to `height` is final on L1 (firm).
    Finalized {
        /// Height.
        height: u64,
    },
    /// An alert against a block was confirmed: it is never fast-final.
    Alerted {
        /// Height.
        height: u64,
        /// Block hash.
        hash: B256,
        /// The confirmed alert's hash.
        alert: B256,
    },
    /// Fast-finality votes on a block expired below the threshold.
    Stalled {
        /// Height.
        height: u64,
        /// Stake that signed.
        signed: U256,
        /// Stake of the set.
        total: U256,
    },
    /// A batch was published to DA.
    BatchPublished {
        /// Index.
        index: u64,
        /// Where it is.
        da_ref: DaRef,
        /// Its first and last height.
        heights: (u64, u64),
        /// Its transactions.
        transactions: usize,
    },
    /// Settlement recorded a batch; its window closes at `window_ends`.
    BatchCommitted {
        /// The commitment.
        commitment: Box<BatchCommitment>,
        /// Settlement time at which its challenge window closes.
        window_ends: u64,
    },
    /// The verifier re-executed a batch read from DA.
    BatchChecked {
        /// Index.
        index: u64,
        /// What it found.
        check: BatchCheck,
        /// For a wrong batch, where its first wrong step is: the block's height and the
        /// transaction's position in it (none for a step of system calls only).
        located: Option<(u64, Option<usize>)>,
    },
    /// A dispute game started.
    ChallengeOpened {
        /// The game.
        dispute: DisputeId,
        /// The batch.
        batch: u64,
        /// Who challenges.
        challenger: Address,
        /// Its bond.
        bond: U256,
        /// Steps the game bisects over.
        steps: u64,
    },
    /// This node moved in a game.
    Moved {
        /// The game.
        dispute: DisputeId,
        /// As which party.
        party: Party,
        /// The move, and (for a verdict) the root it was on.
        mv: Move,
        /// The proposer's root the verdict judges: `(steps, root)`.
        on: Option<(u64, B256)>,
    },
    /// This node submitted a one-step proof.
    Proved {
        /// The game.
        dispute: DisputeId,
        /// As which party.
        party: Party,
        /// The step.
        step: u64,
        /// Trie nodes in the witness.
        nodes: usize,
        /// Contracts in the witness.
        codes: usize,
        /// Size of the witness in bytes.
        bytes: usize,
    },
    /// A game ended and settlement enforced it.
    Decided(Box<Resolution>),
    /// After a revert the chain went back to the last valid block.
    Rewound {
        /// The first batch reverted.
        from_batch: u64,
        /// The last valid block, where the chain goes on.
        height: u64,
        /// Its state root.
        state_root: B256,
        /// Reverted blocks before the blamed one, re-executed unchanged.
        kept: usize,
        /// Transactions of the reverted blocks handed back to the sequencer.
        requeued: usize,
    },
    /// The token ledger did something.
    Ledger(LedgerEvent),
    /// A component reported misbehaviour.
    Evidence(Box<Evidence>),
    /// Something failed at an I/O edge or was refused; the driver carries on (retrying what
    /// can be retried).
    Warning(String),
}

/// The outputs of one input.
#[derive(Clone, Debug)]
pub struct Outputs<S, F> {
    /// Effects to carry out, in order.
    pub effects: Vec<Effect<S, F>>,
    /// Events to report, in order.
    pub events: Vec<RollupEvent>,
}

impl<S, F> Default for Outputs<S, F> {
    fn default() -> Self {
        Self {
            effects: Vec::new(),
            events: Vec::new(),
        }
    }
}

/// Why the driver stopped: the chain cannot go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RollupError {
    /// The sequencer failed outside any transaction's fault.
    #[error("sequencer: {0}")]
    Sequencer(#[from] SequencerError),
}

/// A batch on its way to settlement.
#[derive(Debug)]
struct Publication {
    ticket: u64,
    batch: Batch,
    da_ref: Option<DaRef>,
    /// An effect for it is out and unanswered.
    waiting: bool,
}

/// A restaked rollup as one sans-IO state machine; see the [module docs](self).
pub struct Rollup<S: Sequencer, V, F: FinalityGadget, L, D, St> {
    settings: RollupSettings,
    sequencer: S,
    verifier: V,
    finality: F,
    ledger: L,
    da: Arc<D>,
    settlement: Arc<St>,
    book: BatchBook<S::Transition>,
    now_ms: u64,
    next_ticket: u64,
    publishing: Option<Publication>,
    /// Settlement log position and time.
    cursor: u64,
    settlement_now: u64,
    syncing: bool,
    last_sync_ms: Option<u64>,
    /// Committed batches not yet final.
    committed: BTreeMap<u64, BatchCommitment>,
    /// Batches the verifier is to read from DA: their commitment.
    unchecked: BTreeMap<u64, B256>,
    /// Batches final before the verifier checked them: it hears of it after the check.
    final_unchecked: BTreeSet<u64>,
    /// Batches the verifier read from DA, not yet final.
    retrieved: BTreeMap<u64, Batch>,
    /// Batches a confirmed alert wants challenged, waiting for their data.
    alerted: BTreeSet<u64>,
    /// Open games: their latest state.
    disputes: BTreeMap<DisputeId, Dispute>,
    /// Open challenges per batch.
    open_challenges: BTreeMap<u64, usize>,
    /// Highest height seen by the finality gadget as firm.
    finalized: Option<u64>,
    /// The rollup is ending: no more blocks; what is left goes out in a last batch.
    ending: bool,
}

impl<S, V, F, L, D, St> std::fmt::Debug for Rollup<S, V, F, L, D, St>
where
    S: Sequencer,
    F: FinalityGadget,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rollup")
            .field("settings", &self.settings)
            .field("head", &self.sequencer.state_transition().head().height)
            .field("now_ms", &self.now_ms)
            .finish_non_exhaustive()
    }
}

/// A rollup of core's in-process defaults.
pub type DefaultRollup = Rollup<
    crate::sequencer::SingleSequencer<crate::EvmStateTransition>,
    crate::verifier::ReExecutionVerifier,
    crate::finality::ChallengeWindowFinality,
    crate::ledger::NoLedger,
    InMemoryDa,
    LocalSettlement,
>;

impl<S, V, F, L, D, St> Rollup<S, V, F, L, D, St>
where
    S: Sequencer,
    V: Verifier,
    F: FinalityGadget,
    L: RollupLedger,
    D: DataAvailability,
    St: Settlement,
{
    /// The settings.
    pub const fn settings(&self) -> &RollupSettings {
        &self.settings
    }

    /// The sequencer.
    pub const fn sequencer(&self) -> &S {
        &self.sequencer
    }

    /// The sequencer, mutably (to hand it peers' rosters, or for fault drills).
    pub const fn sequencer_mut(&mut self) -> &mut S {
        &mut self.sequencer
    }

    /// The verifier.
    pub const fn verifier(&self) -> &V {
        &self.verifier
    }

    /// The finality gadget.
    pub const fn finality(&self) -> &F {
        &self.finality
    }

    /// The finality gadget, mutably.
    pub const fn finality_mut(&mut self) -> &mut F {
        &mut self.finality
    }

    /// The token ledger.
    pub const fn ledger(&self) -> &L {
        &self.ledger
    }

    /// The token ledger, mutably.
    pub const fn ledger_mut(&mut self) -> &mut L {
        &mut self.ledger
    }

    /// The DA layer, for the caller to run [`Effect::Publish`] and [`Effect::Retrieve`]
    /// against.
    pub const fn da(&self) -> &Arc<D> {
        &self.da
    }

    /// Settlement, for the caller to run [`Effect::Commit`], [`Effect::Call`] and
    /// [`Effect::Sync`] against.
    pub const fn settlement(&self) -> &Arc<St> {
        &self.settlement
    }

    /// The head of the chain.
    pub fn head(&self) -> &Header {
        self.sequencer.state_transition().head()
    }

    /// The rollup's clock, as last ticked.
    pub const fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Settlement time, as last read.
    pub const fn settlement_now(&self) -> u64 {
        self.settlement_now
    }

    /// Blocks built and not yet in a batch.
    pub fn unbatched_blocks(&self) -> usize {
        self.book.pending()
    }

    /// Whether anything is still on its way: a batch being published or committed, a read of
    /// settlement outstanding, blocks waiting for a batch, batches or games not yet settled.
    pub fn is_settled(&self) -> bool {
        self.publishing.is_none()
            && !self.syncing
            && self.book.pending() == 0
            && self.committed.is_empty()
            && self.disputes.is_empty()
    }

    /// Ends the rollup (an ephemeral rollup's end of life): the sequencer takes no more
    /// transactions and builds no more blocks, and the blocks not yet in a batch go out in a
    /// last one. Ticks go on carrying batches to finality; [`Rollup::is_ended`] tells when
    /// everything is final.
    pub fn end(&mut self) {
        self.ending = true;
    }

    /// Whether [`Rollup::end`] was called.
    pub const fn is_ending(&self) -> bool {
        self.ending
    }

    /// Whether [`Rollup::end`] was called and everything is final since.
    pub fn is_ended(&self) -> bool {
        self.ending && self.is_settled()
    }

    /// The earliest `now_ms` at which a tick has something to do, when a component knows.
    pub fn next_wake(&self) -> Option<u64> {
        [self.sequencer.next_wake(), self.finality.next_wake()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Offers a transaction whose sender is recovered to the sequencer, once the head's
    /// state admits it ([`StateTransition::admit`]: fees, gas, nonce, balance, as geth's pool
    /// checks them).
    pub fn submit(&mut self, tx: Recovered<TxEnvelope>) -> Result<B256, SubmitError> {
        if self.ending {
            return Err(SubmitError::Ended);
        }
        self.sequencer.state_transition().admit(&tx)?;
        self.sequencer.submit(tx)
    }

    /// The replica at the head, as the sequencer built it: for reading the state (balances,
    /// `eth_call`) at the head.
    pub fn state_transition(&self) -> &S::Transition {
        self.sequencer.state_transition()
    }

    /// The next nonce of `sender` counting the transactions the pool holds for it; an error
    /// when the state's store cannot be read.
    pub fn pool_nonce(&self, sender: &Address) -> Result<u64, crate::storage::StorageError> {
        let transition = self.sequencer.state_transition();
        Ok(self.sequencer.pool_nonce(sender, transition.nonce(sender)?))
    }

    /// A transaction waiting in the pool.
    pub fn pooled(&self, hash: &B256) -> Option<Recovered<TxEnvelope>> {
        self.sequencer.pooled(hash)
    }

    /// Offers raw EIP-2718 transactions: decoded and recovered on all cores, then pooled in
    /// order. Returns each one's hash or why it was refused.
    pub fn submit_raw(&mut self, raw: &[Bytes]) -> Vec<Result<B256, SubmitError>> {
        let max = self.sequencer.state_transition().config().max_tx_size;
        decode_and_recover_all(raw, max)
            .into_iter()
            .map(|tx| tx.map_err(SubmitError::from).and_then(|tx| self.submit(tx)))
            .collect()
    }

    /// Handles one input.
    pub fn handle(
        &mut self,
        input: Input<S::Message, F::Message>,
    ) -> Result<Outputs<S::Message, F::Message>, RollupError> {
        let mut out = Outputs::default();
        match input {
            Input::Tick { now_ms } => self.on_tick(now_ms, &mut out)?,
            Input::Message { from, message } => match message {
                PeerMessage::Sequencer(message) => {
                    let events = self.sequencer.on_message(self.now_ms, from, message)?;
                    self.on_sequencer(events, &mut out);
                    self.try_publish(&mut out);
                }
                PeerMessage::Finality(message) => {
                    let events = self.finality.on_message(self.now_ms, from, message);
                    self.on_finality(events, &mut out);
                }
            },
            Input::Published { ticket, result } => self.on_published(ticket, result, &mut out),
            Input::Committed { ticket, result } => self.on_committed(ticket, result, &mut out),
            Input::Retrieved { index, result } => self.on_retrieved(index, result, &mut out),
            Input::Synced { result } => self.on_synced(result, &mut out),
            Input::Called { call, result } => self.on_called(call, result, &mut out),
        }
        Ok(out)
    }

    fn ticket(&mut self) -> u64 {
        self.next_ticket += 1;
        self.next_ticket
    }

    fn on_tick(
        &mut self,
        now_ms: u64,
        out: &mut Outputs<S::Message, F::Message>,
    ) -> Result<(), RollupError> {
        self.now_ms = self.now_ms.max(now_ms);
        // Finality first: what its operators were due to do by now (judge a block, certify
        // it, alert on it) happened before anything the sequencer does now.
        let events = self.finality.on_tick(self.now_ms);
        self.on_finality(events, out);
        if !self.ending {
            let events = self.sequencer.on_tick(self.now_ms)?;
            self.on_sequencer(events, out);
        }
        self.try_publish(out);
        let due = self.last_sync_ms.is_none_or(|last| {
            self.now_ms >= last.saturating_add(self.settings.settlement_poll_ms)
        });
        if !self.syncing && due {
            self.syncing = true;
            self.last_sync_ms = Some(self.now_ms);
            out.effects.push(Effect::Sync {
                now: self.now_ms / 1_000,
                from: self.cursor,
            });
        }
        Ok(())
    }

    /// Cuts the next batch when a full one waits and none is on its way; re-sends a
    /// publication whose last attempt failed.
    fn try_publish(&mut self, out: &mut Outputs<S::Message, F::Message>) {
        let cut = if self.publishing.is_some() {
            None
        } else if self.ending {
            self.book
                .flush_with(self.sequencer.state_transition(), |_| {})
        } else {
            self.book.cut(self.sequencer.state_transition())
        };
        if let Some(batch) = cut {
            let ticket = self.ticket();
            self.publishing = Some(Publication {
                ticket,
                batch,
                da_ref: None,
                waiting: false,
            });
        }
        let chain_id = self.sequencer.state_transition().config().chain_id;
        let proposer = self.settings.proposer;
        let Some(publication) = self.publishing.as_mut().filter(|p| !p.waiting) else {
            return;
        };
        publication.waiting = true;
        out.effects.push(match publication.da_ref {
            None => Effect::Publish {
                ticket: publication.ticket,
                batch: Box::new(publication.batch.clone()),
            },
            Some(da_ref) => Effect::Commit {
                ticket: publication.ticket,
                commitment: Box::new(BatchCommitment::new(
                    &publication.batch,
                    chain_id,
                    da_ref,
                    proposer,
                )),
            },
        });
    }

    fn on_published(
        &mut self,
        ticket: u64,
        result: Result<DaRef, DaError>,
        out: &mut Outputs<S::Message, F::Message>,
    ) {
        let Some(publication) = self.publishing.as_mut().filter(|p| p.ticket == ticket) else {
            return;
        };
        publication.waiting = false;
        match result {
            Ok(da_ref) => {
                publication.da_ref = Some(da_ref);
                let batch = &publication.batch;
                out.events.push(RollupEvent::BatchPublished {
                    index: batch.index,
                    da_ref,
                    heights: (
                        batch.first_height().unwrap_or_default(),
                        batch.last_height().unwrap_or_default(),
                    ),
                    transactions: batch.transaction_count(),
                });
                self.sequencer.set_da_ref(da_ref);
                self.try_publish(out);
            }
            // Retried at the next tick.
            Err(error) => out.events.push(RollupEvent::Warning(format!(
                "publishing batch {} to DA failed: {error}",
                publication.batch.index
            ))),
        }
    }

    fn on_committed(
        &mut self,
        ticket: u64,
        result: Result<(), SettlementError>,
        out: &mut Outputs<S::Message, F::Message>,
    ) {
        let Some(publication) = self.publishing.as_mut().filter(|p| p.ticket == ticket) else {
            return;
        };
        publication.waiting = false;
        match result {
            Ok(()) => {
                self.publishing = None;
                self.try_publish(out);
                // Settlement's record of the commit is read at once.
                self.request_sync(out);
            }
            Err(error) => out.events.push(RollupEvent::Warning(format!(
                "committing batch {} failed: {error}",
                publication.batch.index
            ))),
        }
    }
}

/// Steps a dispute game over `batch` bisects over.
fn steps_of(batch: &Batch) -> u64 {
    crate::execution::stateless::step_count(batch) as u64
}
