//! One SQUAD sequencer behind core's [`Sequencer`] trait: a [`SquadNode`] with its timers, its
//! mempool, and its own replica executing the committed payloads into blocks. Messages to and
//! from the other sequencers go through [`Sequencer::on_message`] and
//! [`SequencerEvent::Send`], so a node runs in its own process with any transport, or in
//! process beside the others ([`super::sequencer::SquadSequencer`]).

use super::{
    Behaviour, Input, Message, Output, SquadNode, SquadState, Target, Timer, byzantine_sends,
    mempool::PoolError as SquadPoolError,
};
use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, keccak256};
use altlayer_core::{
    Block,
    bls::SecretKey,
    execution::{BlockAttributes, ExecuteOptions},
    persist::{PersistError, Reopen, ReplicaRef, Replicas},
    primitives::DaRef,
    sequencer::{Peer, PoolError, Sequencer, SequencerError, SequencerEvent, SubmitError},
    transaction::{check_chain_id, decode_and_recover_all},
    transition::StateTransition,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Decisions a sequencer keeps after executing them: what a rewind re-executes from (older
/// blocks are rebuilt from the reverted blocks themselves) and what a peer behind is sent.
const KEEP_DECISIONS: u64 = 1_024;

/// A sequencer's record: its consensus state holding the decisions from the first one the
/// record needs, and what it executed them into (its replica by block).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct MemberRecord {
    /// Its consensus state; its decisions are in the set's record when `shared` says so.
    pub(crate) state: SquadState,
    /// How many decisions of the set's record, from the member's first, are its chain.
    #[serde(default)]
    pub(crate) shared: Option<u64>,
    /// Its replica's block.
    pub(crate) head: ReplicaRef,
    executed: u64,
    heights: BTreeMap<u64, u64>,
    soft: BTreeMap<u64, (B256, u64)>,
    proposed: BTreeMap<u64, u64>,
    da_ref: DaRef,
    now_ms: u64,
    blocks_executed: u64,
}

/// One SQUAD sequencer executing its committed chain; see the [module docs](self).
pub struct SquadNodeSequencer<S> {
    node: SquadNode,
    /// Its key again, to sign the second of two conflicting messages (fault drills).
    key: SecretKey,
    behaviour: Behaviour,
    /// The set's members, in roster order (an equivocator splits them in two).
    peers: Vec<Address>,
    stf: S,
    coinbase: Address,
    intermediate_roots: bool,
    da_ref: DaRef,
    started: bool,
    now_ms: u64,
    /// Timers set, by when they fire.
    timers: BTreeSet<(u64, Timer)>,
    /// Decisions of the committed chain executed into blocks.
    executed: u64,
    /// Rollup height -> the decision it executed (to re-execute after a rewind).
    heights: BTreeMap<u64, u64>,
    /// Reverted blocks to build again before the next decision, when a rewind reaches
    /// further back than the decisions kept.
    rebuild: VecDeque<Block>,
    /// SQUAD height -> its soft confirmation (certificate hash, when).
    soft: BTreeMap<u64, (B256, u64)>,
    /// SQUAD height -> when this node first saw (or sent) a proposal for it.
    proposed: BTreeMap<u64, u64>,
    /// Sends and refusals produced outside a tick (a submitted transaction's gossip).
    outbox: Vec<SequencerEvent<Message>>,
    /// Blocks executed by this node.
    blocks_executed: u64,
}

impl<S: StateTransition + Clone> SquadNodeSequencer<S> {
    /// A sequencer around `node` (whose key is `key`), executing on `stf`, with the set's
    /// members `peers`; blocks pay priority fees to `coinbase`.
    pub fn new(
        node: SquadNode,
        key: SecretKey,
        peers: Vec<Address>,
        stf: S,
        coinbase: Address,
        intermediate_roots: bool,
    ) -> Self {
        Self {
            node,
            key,
            behaviour: Behaviour::Honest,
            peers,
            stf,
            coinbase,
            intermediate_roots,
            da_ref: DaRef::default(),
            started: false,
            now_ms: 0,
            timers: BTreeSet::new(),
            executed: 0,
            heights: BTreeMap::new(),
            rebuild: VecDeque::new(),
            soft: BTreeMap::new(),
            proposed: BTreeMap::new(),
            outbox: Vec::new(),
            blocks_executed: 0,
        }
    }

    /// Makes it misbehave as `behaviour` says (fault drills).
    #[cfg(feature = "test-utils")]
    pub const fn with_behaviour(mut self, behaviour: Behaviour) -> Self {
        self.behaviour = behaviour;
        self
    }

    /// The consensus node.
    pub const fn node(&self) -> &SquadNode {
        &self.node
    }

    /// Its address.
    pub const fn address(&self) -> Address {
        self.node.address()
    }

    /// The replica, to change what it builds on (fault drills).
    #[cfg(feature = "test-utils")]
    pub const fn state_transition_mut(&mut self) -> &mut S {
        &mut self.stf
    }

    /// When this node first saw (or sent) a proposal for SQUAD height `height`.
    pub fn proposed_at(&self, height: u64) -> Option<u64> {
        self.proposed.get(&height).copied()
    }

    /// Blocks this node executed (including re-executions after a rewind).
    pub const fn blocks_executed(&self) -> u64 {
        self.blocks_executed
    }

    fn start(&mut self, now_ms: u64, events: &mut Vec<SequencerEvent<Message>>) {
        if !self.started {
            self.started = true;
            let outputs = self.node.start(now_ms);
            self.apply(now_ms, outputs, events);
        }
    }

    /// Turns the node's outputs into events, timers and executed blocks.
    fn apply(
        &mut self,
        now_ms: u64,
        outputs: Vec<Output>,
        events: &mut Vec<SequencerEvent<Message>>,
    ) {
        for output in outputs {
            match output {
                Output::Send { to, message } => {
                    if let Message::Proposal(proposal) = &message {
                        self.proposed.entry(proposal.block.height).or_insert(now_ms);
                    }
                    for (to, message) in byzantine_sends(
                        self.behaviour,
                        &self.node,
                        &self.key,
                        &self.peers,
                        to,
                        message,
                    ) {
                        let to = match to {
                            Target::All => Peer::All,
                            Target::One(address) => Peer::One(address),
                        };
                        events.push(SequencerEvent::Send { to, message });
                    }
                }
                Output::SetTimer { timer, after_ms } => {
                    self.timers.insert((now_ms.saturating_add(after_ms), timer));
                }
                Output::SoftConfirmed {
                    height,
                    certificate,
                    ..
                } => {
                    self.soft.insert(height, (certificate.hash(), now_ms));
                }
                Output::Committed(_) => {}
                Output::Evidence(evidence) => events.push(SequencerEvent::Evidence(evidence)),
                Output::NeedRoster { epoch, .. } => {
                    tracing::warn!(epoch, "SQUAD node waits for the roster of a new epoch");
                }
                Output::Rejected { .. } => {}
            }
        }
    }

    /// Executes the committed decisions not executed yet into blocks.
    fn execute(&mut self, events: &mut Vec<SequencerEvent<Message>>) -> Result<(), SequencerError> {
        let options = if self.intermediate_roots {
            ExecuteOptions::with_intermediate_roots()
        } else {
            ExecuteOptions::default()
        };
        self.rebuild_reverted(options, events)?;
        while let Some(decision) = self.node.decision(self.executed) {
            let payload = decision.block.payload.clone();
            let payload = &payload;
            let squad_height = decision.block.height;
            let max_size = self.stf.config().max_tx_size;
            // What this node pooled comes recovered; the rest (from peers' pools) is decoded
            // and recovered on all cores.
            let hashes: Vec<B256> = payload.transactions.iter().map(keccak256).collect();
            let mut known: Vec<Option<Recovered<TxEnvelope>>> = hashes
                .iter()
                .map(|hash| self.node.take_recovered(hash))
                .collect();
            let missing: Vec<alloy_primitives::Bytes> = payload
                .transactions
                .iter()
                .zip(&known)
                .filter(|(_, tx)| tx.is_none())
                .map(|(raw, _)| raw.clone())
                .collect();
            let mut recovered = decode_and_recover_all(&missing, max_size).into_iter();
            let mut candidates = Vec::with_capacity(payload.transactions.len());
            for (hash, tx) in hashes.iter().zip(&mut known) {
                match tx.take().map(Ok).or_else(|| recovered.next()) {
                    Some(Ok(tx)) => candidates.push(tx),
                    // The pool admitted only decodable transactions; a byzantine leader's
                    // garbage is skipped the same way on every node.
                    Some(Err(error)) => {
                        tracing::warn!(%hash, %error, "undecodable transaction in a committed payload")
                    }
                    None => {}
                }
            }
            let attributes = BlockAttributes {
                timestamp: payload.timestamp.max(self.stf.head().timestamp),
                sequencer: self.coinbase,
                da_ref: self.da_ref,
            };
            let built = self.stf.build_block(attributes, candidates, options)?;
            let height = built.block.header.height;
            self.heights.insert(height, self.executed);
            self.executed += 1;
            self.blocks_executed += 1;
            let rejected: Vec<_> = built.rejected.clone();
            events.push(SequencerEvent::Block(Box::new(built)));
            events.extend(rejected.into_iter().map(SequencerEvent::Rejected));
            if let Some((certificate, at_ms)) = self.soft.get(&squad_height) {
                events.push(SequencerEvent::SoftConfirmed {
                    height,
                    certificate: *certificate,
                    at_ms: *at_ms,
                });
            }
        }
        // Only the heights a rewind can reach matter.
        self.node
            .forget_before(self.executed.saturating_sub(KEEP_DECISIONS));
        let held = self.executed.saturating_sub(KEEP_DECISIONS);
        if let Some((&first, _)) = self.heights.iter().find(|(_, d)| **d >= held) {
            self.heights = self.heights.split_off(&first);
        }
        let keep = self.soft.len().saturating_sub(KEEP_DECISIONS as usize);
        if keep > 0
            && let Some(&first) = self.soft.keys().nth(keep)
        {
            self.soft = self.soft.split_off(&first);
            self.proposed = self.proposed.split_off(&first);
        }
        Ok(())
    }

    /// Builds the reverted blocks a rewind asked for again, on the replica it went back to:
    /// the same transactions in the same order, with the same attributes (what re-executing
    /// their decisions would give; the decisions themselves are no longer held).
    fn rebuild_reverted(
        &mut self,
        options: ExecuteOptions,
        events: &mut Vec<SequencerEvent<Message>>,
    ) -> Result<(), SequencerError> {
        while let Some(block) = self.rebuild.front() {
            if block.header.height != self.stf.head().height + 1 {
                // Not the next block: the rewind went elsewhere since.
                self.rebuild.clear();
                break;
            }
            let max_size = self.stf.config().max_tx_size;
            let candidates = decode_and_recover_all(
                &block
                    .transactions
                    .iter()
                    .map(|tx| alloy_eips::Encodable2718::encoded_2718(tx).into())
                    .collect::<Vec<alloy_primitives::Bytes>>(),
                max_size,
            )
            .into_iter()
            .filter_map(Result::ok)
            .collect();
            let attributes = BlockAttributes {
                timestamp: block.header.timestamp.max(self.stf.head().timestamp),
                sequencer: block.header.sequencer,
                da_ref: block.header.da_ref,
            };
            let built = self.stf.build_block(attributes, candidates, options)?;
            self.blocks_executed += 1;
            self.rebuild.pop_front();
            let rejected: Vec<_> = built.rejected.clone();
            events.push(SequencerEvent::Block(Box::new(built)));
            events.extend(rejected.into_iter().map(SequencerEvent::Rejected));
        }
        Ok(())
    }

    /// Decisions executed into blocks so far.
    pub(crate) const fn executed(&self) -> u64 {
        self.executed
    }

    /// Its record, holding the decisions from the `from`th on (a set's record holds what its
    /// most behind member has yet to execute).
    pub(crate) fn record(&self, from: u64) -> MemberRecord {
        MemberRecord {
            state: self.node.state_from(from),
            shared: None,
            head: ReplicaRef::of(&self.stf),
            executed: self.executed,
            heights: self
                .heights
                .iter()
                .filter(|(_, decision)| **decision >= from)
                .map(|(h, d)| (*h, *d))
                .collect(),
            soft: self.soft.range(from + 1..).map(|(h, s)| (*h, *s)).collect(),
            proposed: self
                .proposed
                .range(from + 1..)
                .map(|(h, p)| (*h, *p))
                .collect(),
            da_ref: self.da_ref,
            now_ms: self.now_ms,
            blocks_executed: self.blocks_executed,
        }
    }

    /// This sequencer (key, peers, settings) as `record` says it was, on `stf`: the record's
    /// replica, or an earlier block of the chain it executed (a member of a set that ran ahead
    /// of the block the rollup resumes from executes its decisions again from there). Its
    /// node starts again at its next input: it sends again what it signed at its height and
    /// sets its timers.
    pub(crate) fn resumed(&self, record: MemberRecord, stf: S) -> Result<Self, PersistError> {
        let decode = |reason: String| PersistError::Decode {
            what: "sequencer",
            reason,
        };
        let node = self
            .node
            .resumed(record.state)
            .map_err(|e| decode(e.to_string()))?;
        let mut heights = record.heights;
        let mut executed = record.executed;
        let height = stf.head().height;
        if height < record.head.height {
            executed = *heights.get(&(height + 1)).ok_or_else(|| {
                decode(format!(
                    "no decision kept for block {}, the block it resumes after",
                    height + 1
                ))
            })?;
            heights.split_off(&(height + 1));
        }
        if node.decision(executed).is_none() && executed < node.committed() {
            return Err(decode(format!("decision {executed} is not kept")));
        }
        Ok(Self {
            node,
            key: self.key.clone(),
            behaviour: self.behaviour,
            peers: self.peers.clone(),
            stf,
            coinbase: self.coinbase,
            intermediate_roots: self.intermediate_roots,
            da_ref: record.da_ref,
            started: false,
            now_ms: record.now_ms,
            timers: BTreeSet::new(),
            executed,
            heights,
            rebuild: VecDeque::new(),
            soft: record.soft,
            proposed: record.proposed,
            outbox: Vec::new(),
            blocks_executed: record.blocks_executed,
        })
    }

    fn finish(
        &mut self,
        mut events: Vec<SequencerEvent<Message>>,
    ) -> Result<Vec<SequencerEvent<Message>>, SequencerError> {
        self.execute(&mut events)?;
        let mut out = std::mem::take(&mut self.outbox);
        out.append(&mut events);
        Ok(out)
    }
}

impl<S: StateTransition + Clone> Sequencer for SquadNodeSequencer<S> {
    type Transition = S;
    type Message = Message;

    /// Pools the transaction and gossips it to the other sequencers (at the next tick).
    fn submit(&mut self, tx: Recovered<TxEnvelope>) -> Result<B256, SubmitError> {
        let config = self.stf.config();
        check_chain_id(tx.inner(), config.chain_id, config.allow_unprotected_txs)?;
        let hash = *tx.inner().tx_hash();
        let outputs = self
            .node
            .handle(self.now_ms, Input::Recovered(Box::new(tx)));
        let refused = outputs.iter().find_map(|output| match output {
            Output::Rejected { reason, .. } => Some(reason.clone()),
            _ => None,
        });
        let mut events = Vec::new();
        self.apply(self.now_ms, outputs, &mut events);
        self.outbox.extend(events);
        match refused {
            None => Ok(hash),
            Some(SquadPoolError::Invalid(error)) => Err(SubmitError::Invalid(error)),
            Some(SquadPoolError::Duplicate(_)) => Err(PoolError::Duplicate(hash).into()),
            Some(SquadPoolError::ReplacementUnderpriced { sender, nonce, .. }) => {
                Err(PoolError::ReplacementUnderpriced { sender, nonce }.into())
            }
            Some(_) => Err(PoolError::Full(self.pending()).into()),
        }
    }

    fn pending(&self) -> usize {
        self.node.pool().len()
    }

    fn pool_nonce(&self, sender: &Address, account_nonce: u64) -> u64 {
        self.node.pool().next_nonce(sender, account_nonce)
    }

    fn pooled(&self, hash: &B256) -> Option<Recovered<TxEnvelope>> {
        self.node.pool().get(hash).cloned()
    }

    /// Fires the timers due by `now_ms` and executes what was committed.
    fn on_tick(&mut self, now_ms: u64) -> Result<Vec<SequencerEvent<Message>>, SequencerError> {
        self.now_ms = self.now_ms.max(now_ms);
        let mut events = Vec::new();
        self.start(self.now_ms, &mut events);
        while let Some(&(at, timer)) = self.timers.first() {
            if at > self.now_ms {
                break;
            }
            self.timers.pop_first();
            let outputs = self.node.handle(at, Input::Timeout(timer));
            self.apply(at, outputs, &mut events);
        }
        self.finish(events)
    }

    fn on_message(
        &mut self,
        now_ms: u64,
        from: Address,
        message: Message,
    ) -> Result<Vec<SequencerEvent<Message>>, SequencerError> {
        self.now_ms = self.now_ms.max(now_ms);
        let mut events = Vec::new();
        self.start(self.now_ms, &mut events);
        if let Message::Proposal(proposal) = &message {
            self.proposed
                .entry(proposal.block.height)
                .or_insert(self.now_ms);
        }
        let outputs = self
            .node
            .handle(self.now_ms, Input::Message { from, message });
        self.apply(self.now_ms, outputs, &mut events);
        self.finish(events)
    }

    fn state_transition(&self) -> &S {
        &self.stf
    }

    /// The committed payloads' order is final: the node goes back to `to` and executes them
    /// again from the first one after it (at its next input).
    fn rewind(&mut self, to: S, reverted: Vec<Block>) -> Vec<PoolError> {
        let next = to.head().height + 1;
        self.rebuild.clear();
        match self.heights.get(&next) {
            Some(&decision) if self.node.decision(decision).is_some() => {
                self.executed = decision;
            }
            // Its decision is no longer held: the reverted blocks it had executed are built
            // again, then the decisions after them.
            _ => {
                let own = self.stf.head().height;
                self.rebuild = reverted
                    .into_iter()
                    .filter(|b| (next..=own).contains(&b.header.height))
                    .collect()
            }
        }
        self.heights.split_off(&next);
        self.stf = to;
        Vec::new()
    }

    fn set_da_ref(&mut self, da_ref: DaRef) {
        self.da_ref = da_ref;
    }

    fn next_wake(&self) -> Option<u64> {
        self.timers.first().map(|(at, _)| *at)
    }

    /// Its consensus state (locks, what it signed at its height, the decisions it has yet to
    /// execute), its replica's block and its execution progress; pooled transactions are not
    /// kept. Written before what it signs leaves (the node's driver writes records before
    /// sending), a restarted sequencer cannot sign anything conflicting.
    fn persist(&self) -> Result<Vec<u8>, PersistError> {
        altlayer_core::persist::encode("sequencer", &self.record(self.executed))
    }

    fn restore(&mut self, record: &[u8], replicas: &Replicas) -> Result<(), PersistError>
    where
        S: Reopen,
    {
        let record: MemberRecord = altlayer_core::persist::decode("sequencer", record)?;
        let stf = S::reopen(replicas, record.head)?;
        *self = self.resumed(record, stf)?;
        Ok(())
    }
}
