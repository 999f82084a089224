//! A whole SQUAD set in process behind core's [`Sequencer`] trait: one
//! [`SquadNodeSequencer`] per operator, each executing the committed chain on its own replica
//! as it would on its own machine, talking over the deterministic simulator's network. The
//! rollup sees the first sequencer's blocks. What `altlayer devnet` runs.

use super::{
    CryptoMode, Decision, Message, SquadConfig, SquadNode,
    byzantine::Behaviour,
    node::{MemberRecord, SquadNodeSequencer},
};
use crate::{
    qc::Roster,
    sim::{Dest, Effect, NetworkConfig, Node, Simulator},
};
use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, keccak256};
use altlayer_core::{
    Block,
    bls::SecretKey,
    persist::{PersistError, Reopen, Replicas},
    primitives::DaRef,
    sequencer::{Peer, PoolError, Sequencer, SequencerError, SequencerEvent, SubmitError},
    transition::StateTransition,
};
use std::sync::Arc;

/// Settings of an in-process SQUAD set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquadSequencerConfig {
    /// Target time between blocks.
    pub block_time_ms: u64,
    /// Simulated one-way network delay between sequencers.
    pub network_delay_ms: u64,
    /// The blocks' `COINBASE`: the set's fee account.
    pub coinbase: Address,
    /// Ask the state transition for per-transaction state roots.
    pub intermediate_roots: bool,
    /// Most transactions in one block.
    pub max_block_transactions: usize,
    /// Sign and verify every message (production), or not at all (benchmarks of the
    /// protocol alone).
    pub crypto: CryptoMode,
}

impl Default for SquadSequencerConfig {
    fn default() -> Self {
        Self {
            block_time_ms: 1_000,
            network_delay_ms: 2,
            coinbase: Address::ZERO,
            intermediate_roots: false,
            max_block_transactions: 10_000,
            crypto: CryptoMode::Full,
        }
    }
}

/// Why a set could not be made.
pub type SquadSetError = super::SquadError;

/// A member of the set on the simulator: a sequencer and the next time it wants a tick.
struct Member<S> {
    sequencer: SquadNodeSequencer<S>,
    peers: Arc<Vec<Address>>,
    /// The earliest wake-up already scheduled.
    armed: Option<u64>,
    /// Resumed from a record and not started yet: it starts at the set's first tick, not
    /// at the time of the record.
    dormant: bool,
}

type MemberEffect = Effect<Message, (), SequencerEvent<Message>>;

impl<S: StateTransition + Clone> Member<S> {
    fn effects(
        &mut self,
        now_ms: u64,
        result: Result<Vec<SequencerEvent<Message>>, SequencerError>,
    ) -> Vec<MemberEffect> {
        let events = result.unwrap_or_else(|error| {
            tracing::error!(%error, "an in-process sequencer cannot build");
            Vec::new()
        });
        let mut effects = Vec::with_capacity(events.len() + 1);
        for event in events {
            match event {
                SequencerEvent::Send { to, message } => {
                    let to = match to {
                        Peer::All => Dest::All,
                        Peer::One(address) => match self.peers.iter().position(|a| *a == address) {
                            Some(i) => Dest::One(i),
                            None => continue,
                        },
                    };
                    effects.push(Effect::Send { to, message });
                }
                other => effects.push(Effect::Event(other)),
            }
        }
        // Wake up when the sequencer's next timer is due, unless a wake-up comes sooner.
        if let Some(wake) = self.sequencer.next_wake()
            && self
                .armed
                .is_none_or(|armed| armed <= now_ms || wake < armed)
        {
            self.armed = Some(wake);
            effects.push(Effect::Timer {
                timer: (),
                after_ms: wake.saturating_sub(now_ms),
            });
        }
        effects
    }
}

impl<S: StateTransition + Clone> Node for Member<S> {
    type Message = Message;
    type Timer = ();
    type Event = SequencerEvent<Message>;
    type Persisted = ();

    fn start(&mut self, now_ms: u64) -> Vec<MemberEffect> {
        if self.dormant {
            return Vec::new();
        }
        let result = self.sequencer.on_tick(now_ms);
        self.effects(now_ms, result)
    }

    fn on_message(&mut self, now_ms: u64, from: usize, message: Message) -> Vec<MemberEffect> {
        let Some(from) = self.peers.get(from).copied() else {
            return Vec::new();
        };
        let result = self.sequencer.on_message(now_ms, from, message);
        self.effects(now_ms, result)
    }

    fn on_timer(&mut self, now_ms: u64, _timer: ()) -> Vec<MemberEffect> {
        if self.armed.is_some_and(|armed| armed <= now_ms) {
            self.armed = None;
        }
        let result = self.sequencer.on_tick(now_ms);
        self.effects(now_ms, result)
    }

    fn persist(&self) {}

    fn state_hash(&self) -> B256 {
        keccak256(serde_json::to_vec(self.sequencer.node().state()).unwrap_or_default())
    }
}

/// A SQUAD set run in process; see the [module docs](self).
pub struct SquadSequencer<S: StateTransition + Clone> {
    sim: Simulator<Member<S>>,
    addresses: Arc<Vec<Address>>,
    network: NetworkConfig,
    /// Resumed from a record: the members start at the next tick.
    dormant: bool,
}

/// A set's record: the set's clock and each member's record (each holding the decisions the
/// most behind member has yet to execute). Messages on their way between members are not
/// kept: a crash of the process loses them as a network would, and each member sends again
/// what it signed at its height when it starts.
#[derive(serde::Serialize, serde::Deserialize)]
struct SetRecord {
    now_ms: u64,
    /// The members' decisions, once (they commit the same ones): `decisions[0]` is decision
    /// `first`.
    #[serde(default)]
    first: u64,
    #[serde(default)]
    decisions: Vec<Decision>,
    members: Vec<MemberRecord>,
}

impl SetRecord {
    /// Moves the members' decisions into the set's list, each once; a member whose decisions
    /// do not line up with the others' keeps its own.
    fn share(&mut self) {
        self.first = self
            .members
            .iter()
            .map(|m| m.state.forgotten)
            .min()
            .unwrap_or(0);
        for member in &mut self.members {
            let start = (member.state.forgotten - self.first) as usize;
            let chain = &member.state.chain;
            let lines_up = start <= self.decisions.len()
                && chain
                    .iter()
                    .zip(&self.decisions[start..])
                    .all(|(mine, shared)| mine == shared);
            if !lines_up {
                continue;
            }
            let known = self.decisions.len() - start;
            let chain = std::mem::take(&mut member.state.chain);
            member.shared = Some(chain.len() as u64);
            self.decisions.extend(chain.into_iter().skip(known));
        }
    }

    /// Puts each member's decisions back into its state.
    fn unshare(&mut self) -> Result<(), PersistError> {
        for member in &mut self.members {
            let Some(count) = member.shared.take() else {
                continue;
            };
            let start = member
                .state
                .forgotten
                .checked_sub(self.first)
                .map(|s| s as usize)
                .filter(|s| {
                    usize::try_from(count)
                        .ok()
                        .and_then(|count| s.checked_add(count))
                        .is_some_and(|end| end <= self.decisions.len())
                })
                .ok_or_else(|| PersistError::Decode {
                    what: "sequencer",
                    reason: format!(
                        "a member's {count} decisions from {} are not in the set's record",
                        member.state.forgotten
                    ),
                })?;
            member.state.chain = self.decisions[start..start + count as usize].to_vec();
        }
        Ok(())
    }
}

/// One member of a set to build: its key, and how it behaves.
#[derive(Clone, Debug)]
pub struct SetMember {
    /// Its BLS key (its address is in the roster).
    pub key: SecretKey,
    /// Its address.
    pub address: Address,
    /// How it behaves.
    pub behaviour: Behaviour,
}

impl<S: StateTransition + Clone> SquadSequencer<S> {
    /// A set of `members` with the SQUAD `roster`, each extending the head of `stf` with its
    /// own replica, its clock starting at `now_ms`. The first member is the one whose blocks
    /// the rollup sees.
    pub fn new(
        stf: S,
        config: SquadSequencerConfig,
        roster: Arc<Roster>,
        members: Vec<SetMember>,
        now_ms: u64,
    ) -> Result<Self, SquadSetError> {
        let rollup = stf.config().rollup_id;
        let squad = SquadConfig {
            chain_id: stf.config().chain_id,
            rollup,
            genesis: stf.head().hash(),
            block_interval_ms: config.block_time_ms,
            timeout_propose_ms: config.block_time_ms.max(200) * 2,
            timeout_vote_ms: config.block_time_ms.max(200),
            timeout_delta_ms: config.block_time_ms.max(200),
            max_block_transactions: config.max_block_transactions,
            crypto: config.crypto,
            ..SquadConfig::default()
        };
        let addresses: Arc<Vec<Address>> = Arc::new(members.iter().map(|m| m.address).collect());
        let nodes = members
            .into_iter()
            .map(|member| {
                let node = SquadNode::new(
                    squad.clone(),
                    roster.clone(),
                    member.address,
                    member.key.clone(),
                )?;
                let sequencer = SquadNodeSequencer::new(
                    node,
                    member.key,
                    addresses.to_vec(),
                    stf.clone(),
                    config.coinbase,
                    config.intermediate_roots,
                );
                #[cfg(feature = "test-utils")]
                let sequencer = sequencer.with_behaviour(member.behaviour);
                Ok(Member {
                    sequencer,
                    peers: addresses.clone(),
                    armed: None,
                    dormant: false,
                })
            })
            .collect::<Result<Vec<_>, SquadSetError>>()?;
        let network = NetworkConfig {
            min_delay_ms: config.network_delay_ms,
            max_delay_ms: config.network_delay_ms,
            drop_ppm: 0,
            duplicate_ppm: 0,
        };
        Ok(Self {
            sim: Simulator::starting_at(0, network, nodes, now_ms),
            addresses,
            network,
            dormant: false,
        })
    }

    /// A set of `n` development sequencers ([`super::dev_set`]) with equal stake, all honest
    /// but those given a behaviour in `behaviours` (by index).
    #[cfg(feature = "test-utils")]
    pub fn dev(
        stf: S,
        config: SquadSequencerConfig,
        n: usize,
        behaviours: &[(usize, Behaviour)],
        now_ms: u64,
    ) -> Result<Self, SquadSetError> {
        let set = super::dev_set(n, stf.config().rollup_id)?;
        let members = set
            .keys
            .into_iter()
            .zip(set.peers)
            .enumerate()
            .map(|(i, (key, address))| SetMember {
                key,
                address,
                behaviour: behaviours
                    .iter()
                    .find(|(index, _)| *index == i)
                    .map_or(Behaviour::Honest, |(_, b)| *b),
            })
            .collect();
        Self::new(stf, config, set.roster, members, now_ms)
    }

    fn members(&self) -> impl Iterator<Item = &SquadNodeSequencer<S>> {
        self.sim.nodes().iter().flatten().map(|m| &m.sequencer)
    }

    /// The sequencers, in the roster's order of the set given.
    pub fn nodes(&self) -> impl Iterator<Item = &SquadNode> {
        self.members().map(SquadNodeSequencer::node)
    }

    /// The members' addresses.
    pub fn addresses(&self) -> &[Address] {
        &self.addresses
    }

    /// The sequencer the rollup sees.
    pub fn first(&self) -> Option<&SquadNodeSequencer<S>> {
        self.members().next()
    }

    /// A member, mutably (fault drills).
    #[cfg(feature = "test-utils")]
    pub fn member_mut(&mut self, i: usize) -> Option<&mut SquadNodeSequencer<S>> {
        self.sim.node_mut(i).map(|m| &mut m.sequencer)
    }

    /// Blocks executed by all members together (each executes the whole chain).
    pub fn blocks_executed(&self) -> u64 {
        self.members()
            .map(SquadNodeSequencer::blocks_executed)
            .sum()
    }

    /// When the first proposal for SQUAD height `height` was sent (the earliest any member
    /// saw or sent one).
    pub fn proposed_at(&self, height: u64) -> Option<u64> {
        self.members().filter_map(|s| s.proposed_at(height)).min()
    }
}

impl<S: StateTransition + Clone> Sequencer for SquadSequencer<S> {
    type Transition = S;
    type Message = std::convert::Infallible;

    /// Submitted to the first sequencer (the one this node's RPC talks to), which gossips it
    /// to the others; its pool is where duplicates are caught.
    fn submit(&mut self, tx: Recovered<TxEnvelope>) -> Result<B256, SubmitError> {
        let mut result = Err(SubmitError::Pool(PoolError::Full(0)));
        self.sim.act(0, |member, now| {
            result = member.sequencer.submit(tx);
            let events = Ok(Vec::new());
            member.effects(now, events)
        });
        result
    }

    fn pending(&self) -> usize {
        self.first().map_or(0, Sequencer::pending)
    }

    fn pool_nonce(&self, sender: &Address, account_nonce: u64) -> u64 {
        self.first().map_or(account_nonce, |first| {
            first.pool_nonce(sender, account_nonce)
        })
    }

    fn pooled(&self, hash: &B256) -> Option<Recovered<TxEnvelope>> {
        self.first().and_then(|first| first.pooled(hash))
    }

    /// Runs the set's network up to `now_ms`; returns the first sequencer's blocks and soft
    /// confirmations, and every member's evidence of the others' equivocation.
    fn on_tick(&mut self, now_ms: u64) -> Result<Vec<SequencerEvent>, SequencerError> {
        if std::mem::take(&mut self.dormant) {
            // The set stood still while the process was down: it goes on from now, without
            // making up the blocks of the time it missed.
            self.sim.resume_at(now_ms);
            for i in 0..self.addresses.len() {
                self.sim.act(i, |member, now| {
                    member.dormant = false;
                    member.start(now)
                });
            }
        }
        // The check hook has nothing to stop here, so the run always completes.
        let completed: Result<(), std::convert::Infallible> =
            self.sim.run_until(now_ms, |_| Ok(()));
        if let Err(never) = completed {
            match never {}
        }
        let mut events = Vec::new();
        for (_, node, event) in self.sim.take_events() {
            match event {
                SequencerEvent::Evidence(evidence) => {
                    events.push(SequencerEvent::Evidence(evidence))
                }
                SequencerEvent::Block(built) if node == 0 => {
                    events.push(SequencerEvent::Block(built))
                }
                SequencerEvent::Rejected(rejected) if node == 0 => {
                    events.push(SequencerEvent::Rejected(rejected));
                }
                SequencerEvent::SoftConfirmed {
                    height,
                    certificate,
                    at_ms,
                } if node == 0 => events.push(SequencerEvent::SoftConfirmed {
                    height,
                    certificate,
                    at_ms,
                }),
                _ => {}
            }
        }
        Ok(events)
    }

    fn state_transition(&self) -> &S {
        self.first()
            .map(Sequencer::state_transition)
            .expect("a SQUAD set has at least four members")
    }

    /// The first sequencer goes back to `to` and executes its committed payloads again from
    /// there; so does any other member standing on a reverted block (one resumed on the
    /// first's head, its own replica's block never stored); the others' replicas were right.
    fn rewind(&mut self, to: S, reverted: Vec<Block>) -> Vec<PoolError> {
        let hashes: Vec<B256> = reverted.iter().map(Block::hash).collect();
        for i in 1..self.addresses.len() {
            if let Some(member) = self.sim.node_mut(i)
                && hashes.contains(&member.sequencer.state_transition().head().hash())
            {
                member.sequencer.rewind(to.clone(), reverted.clone());
            }
        }
        self.sim
            .node_mut(0)
            .map(|m| m.sequencer.rewind(to, reverted))
            .unwrap_or_default()
    }

    fn set_da_ref(&mut self, da_ref: DaRef) {
        for i in 0..self.addresses.len() {
            if let Some(member) = self.sim.node_mut(i) {
                member.sequencer.set_da_ref(da_ref);
            }
        }
    }

    fn next_wake(&self) -> Option<u64> {
        self.sim.next_time()
    }

    /// Every member's record ([`SquadNodeSequencer`]'s) and the set's clock.
    fn persist(&self) -> Result<Vec<u8>, PersistError> {
        let from = self
            .members()
            .map(SquadNodeSequencer::executed)
            .min()
            .unwrap_or(0);
        let mut record = SetRecord {
            now_ms: self.sim.now(),
            first: 0,
            decisions: Vec::new(),
            members: self.members().map(|m| m.record(from)).collect(),
        };
        record.share();
        altlayer_core::persist::encode("sequencer", &record)
    }

    /// Every member resumed from its record, on a new network at the set's clock: the first
    /// member on the replica the rollup resumes from, a member that had run ahead of it back
    /// at that block (to execute its decisions again), a member whose own block was never
    /// stored (its replica disagreed with the first's) on the first's block (a revert takes it
    /// back with the first).
    fn restore(&mut self, record: &[u8], replicas: &Replicas) -> Result<(), PersistError>
    where
        S: Reopen,
    {
        let mut record: SetRecord = altlayer_core::persist::decode("sequencer", record)?;
        record.unshare()?;
        if record.members.len() != self.addresses.len() {
            return Err(PersistError::Decode {
                what: "sequencer",
                reason: format!(
                    "{} members recorded, the set has {}",
                    record.members.len(),
                    self.addresses.len()
                ),
            });
        }
        let first = record.members.first().map(|m| m.head);
        let mut members = Vec::with_capacity(record.members.len());
        for (member, record) in self.members().zip(record.members) {
            let replica = match first {
                Some(first) if record.head.height > first.height => S::reopen(replicas, first)?,
                Some(first) => {
                    S::reopen(replicas, record.head).or_else(|_| S::reopen(replicas, first))?
                }
                None => S::reopen(replicas, record.head)?,
            };
            members.push(Member {
                sequencer: member.resumed(record, replica)?,
                peers: self.addresses.clone(),
                armed: None,
                dormant: true,
            });
        }
        self.sim = Simulator::starting_at(0, self.network, members, record.now_ms);
        self.dormant = true;
        Ok(())
    }
}
