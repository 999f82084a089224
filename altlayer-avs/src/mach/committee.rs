//! A MACH operator set in process behind core's [`FinalityGadget`]: every operator re-executes
//! each block on its own replica and signs a finality vote or an alert; an aggregator turns
//! the signatures into stake-weighted BLS certificates; the tiers (soft by SQUAD, fast by
//! MACH, firm on L1) are [`TieredFinality`]'s. Blocks reach the operators, and their
//! signatures the aggregator, after a one-way delay on the rollup's clock, so fast finality
//! comes when it would on a network. What `altlayer devnet` runs.

use super::{Alert, FinalityVote, MachMessage, MachOperator, SignerState, VoteBook};
use crate::{
    aggregator::{Aggregator, AggregatorEvent, Quorum, TaskConfig},
    qc::{Roster, Threshold},
    vital::finality::TieredFinality,
};
use alloy_primitives::{Address, B256};
use altlayer_core::{
    Block, EvmStateTransition, FinalityGadget,
    bls::SecretKey,
    finality::{FinalityEvent, FinalityStatus},
    persist::{self, PersistError, ReplicaRef, Replicas},
    settlement::BatchCommitment,
};
use serde::{Deserialize, Serialize};
use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap, HashMap},
    sync::Arc,
};

/// How a MACH operator behaves (anything but `Honest` is for tests and fault drills).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MachConduct {
    /// Re-executes every block and signs what it finds.
    #[default]
    Honest,
    /// Never signs anything.
    #[cfg(feature = "test-utils")]
    Offline,
}

/// One operator of the committee.
#[derive(Clone, Debug)]
pub struct CommitteeMember {
    /// Its address (in the roster).
    pub address: Address,
    /// Its BLS key.
    pub key: SecretKey,
    /// How it behaves.
    pub conduct: MachConduct,
}

/// Settings of a committee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitteeConfig {
    /// Share of the roster's stake a certificate needs (MACH's 66 %, inclusive, by default).
    pub threshold: Threshold,
    /// L1 challenge window, in settlement seconds (the firm tier).
    pub challenge_window: u64,
    /// One-way delay from the rollup to the operators, and from them to the aggregator.
    pub delay_ms: u64,
    /// Time the aggregator waits for a block's votes before giving up on it.
    pub task_ttl_ms: u64,
}

impl Default for CommitteeConfig {
    fn default() -> Self {
        Self {
            threshold: Threshold::default(),
            challenge_window: 3_600,
            delay_ms: 10,
            task_ttl_ms: 10_000,
        }
    }
}

/// What is on its way in the committee's network.
enum InFlight {
    /// A block to operator `member`.
    Block { member: usize, block: Arc<Block> },
    /// An operator's signature to the aggregator.
    Signature(Box<MachMessage>),
}

/// What a certificate is about.
#[derive(Clone, Copy)]
enum Subject {
    Vote(FinalityVote),
    Alert(Alert),
}

/// MACH operators, their aggregator and the finality tiers, in process; see the
/// [module docs](self).
pub struct MachCommittee {
    config: CommitteeConfig,
    tiers: TieredFinality,
    roster: Arc<Roster>,
    operators: Vec<(MachOperator<EvmStateTransition>, MachConduct)>,
    aggregator: Aggregator,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    in_flight: BTreeMap<u64, InFlight>,
    seq: u64,
    /// Open aggregation tasks: digest -> what the certificate would be about.
    tasks: HashMap<B256, Subject>,
    /// The signatures each open task received, with when: a resumed committee delivers them
    /// to its new aggregator again.
    received: HashMap<B256, Vec<(u64, MachMessage)>>,
    votes: VoteBook,
    /// Blocks re-executed by the operators together.
    executions: u64,
}

impl std::fmt::Debug for MachCommittee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachCommittee")
            .field("config", &self.config)
            .field("operators", &self.operators.len())
            .field("executions", &self.executions)
            .finish_non_exhaustive()
    }
}

impl MachCommittee {
    /// A committee of `members` with the MACH `roster` (its snapshot is the one votes count
    /// against), each with a replica of `genesis`.
    pub fn new(
        config: CommitteeConfig,
        roster: Arc<Roster>,
        members: Vec<CommitteeMember>,
        genesis: &EvmStateTransition,
    ) -> Self {
        let rollup = genesis.config();
        let operators = members
            .into_iter()
            .map(|member| {
                (
                    MachOperator::new(
                        member.address,
                        member.key,
                        genesis.clone(),
                        SignerState::default(),
                    ),
                    member.conduct,
                )
            })
            .collect();
        Self {
            tiers: TieredFinality::new(
                rollup.chain_id,
                rollup.rollup_id,
                config.threshold,
                config.challenge_window,
            ),
            config,
            roster,
            operators,
            aggregator: Aggregator::new(),
            queue: BinaryHeap::new(),
            in_flight: BTreeMap::new(),
            seq: 0,
            tasks: HashMap::new(),
            received: HashMap::new(),
            votes: VoteBook::new(),
            executions: 0,
        }
    }

    /// The finality tiers, for their certificates and alerts.
    pub const fn tiers(&self) -> &TieredFinality {
        &self.tiers
    }

    /// The finality tiers, mutably (their parameters).
    pub const fn tiers_mut(&mut self) -> &mut TieredFinality {
        &mut self.tiers
    }

    /// The roster certificates are checked against.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// Blocks re-executed by the operators together.
    pub const fn executions(&self) -> u64 {
        self.executions
    }

    fn send(&mut self, at: u64, item: InFlight) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.in_flight.insert(self.seq, item);
    }

    /// Delivers everything due by `now_ms`, in order.
    fn run(&mut self, now_ms: u64, events: &mut Vec<FinalityEvent>) {
        while let Some(&Reverse((at, seq))) = self.queue.peek() {
            if at > now_ms {
                break;
            }
            self.queue.pop();
            match self.in_flight.remove(&seq) {
                Some(InFlight::Block { member, block }) => self.sign(at, member, &block),
                Some(InFlight::Signature(message)) => self.aggregate(at, *message, events),
                None => {}
            }
        }
        let expired = self.aggregator.tick(now_ms);
        self.certified(expired, events);
        events.extend(
            self.tiers
                .take_challenges()
                .into_iter()
                .map(|batch| FinalityEvent::Challenge { batch }),
        );
    }

    /// Operator `member` re-executes the block and signs; its signature leaves for the
    /// aggregator.
    fn sign(&mut self, at: u64, member: usize, block: &Block) {
        let snapshot = self.roster.snapshot().height;
        let Some((operator, conduct)) = self.operators.get_mut(member) else {
            return;
        };
        if *conduct != MachConduct::Honest {
            return;
        }
        self.executions += 1;
        match operator.on_block(block, snapshot) {
            Ok(message) => self.send(
                at + self.config.delay_ms,
                InFlight::Signature(Box::new(message)),
            ),
            Err(error) => {
                tracing::debug!(%error, height = block.header.height, "MACH operator signs nothing")
            }
        }
    }

    /// A signature reaches the aggregator.
    fn aggregate(&mut self, at: u64, message: MachMessage, events: &mut Vec<FinalityEvent>) {
        let digest = message.digest();
        if let MachMessage::Vote {
            vote,
            signer,
            signature,
        } = &message
            && let Some(evidence) = self.votes.record(*signer, *vote, *signature)
        {
            events.push(FinalityEvent::Evidence(Box::new(evidence)));
        }
        if !self.tasks.contains_key(&digest) {
            let subject = match &message {
                MachMessage::Vote { vote, .. } => Subject::Vote(*vote),
                MachMessage::Alert { alert, .. } => Subject::Alert(*alert),
            };
            let task = TaskConfig {
                digest,
                quorums: vec![Quorum {
                    roster: self.roster.clone(),
                    threshold: self.tiers.mach().avs_params().mach_threshold,
                }],
                time_to_live_ms: self.config.task_ttl_ms,
                window_ms: 0,
            };
            if self.aggregator.new_task(at, task).is_ok() {
                self.tasks.insert(digest, subject);
            }
        }
        if self.tasks.contains_key(&digest) {
            self.received
                .entry(digest)
                .or_default()
                .push((at, message.clone()));
        }
        match self
            .aggregator
            .add_signature(at, digest, message.signer(), message.signature())
        {
            Ok(certified) => self.certified(certified, events),
            Err(error) => tracing::debug!(%error, "MACH signature not aggregated"),
        }
    }

    fn certified(&mut self, results: Vec<AggregatorEvent>, events: &mut Vec<FinalityEvent>) {
        for result in results {
            match result {
                AggregatorEvent::Certified {
                    digest,
                    certificates,
                } => {
                    self.received.remove(&digest);
                    let (Some(subject), Some(certificate)) =
                        (self.tasks.remove(&digest), certificates.into_iter().next())
                    else {
                        continue;
                    };
                    let hash = certificate.hash();
                    match subject {
                        Subject::Vote(vote) => {
                            match self
                                .tiers
                                .on_vote_certificate(vote, certificate, &self.roster)
                            {
                                Ok(()) => events.push(FinalityEvent::FastFinal {
                                    height: vote.height,
                                    hash: vote.block_hash,
                                    certificate: hash,
                                }),
                                Err(error) => tracing::debug!(%error, "MACH certificate refused"),
                            }
                        }
                        Subject::Alert(alert) => {
                            match self
                                .tiers
                                .on_alert_certificate(alert, certificate, &self.roster)
                            {
                                Ok(confirmed) => events.push(FinalityEvent::Alerted {
                                    height: alert.height,
                                    hash: alert.block_hash,
                                    alert: confirmed.hash(),
                                }),
                                Err(error) => tracing::debug!(%error, "MACH alert refused"),
                            }
                        }
                    }
                }
                AggregatorEvent::Expired { digest, signed } => {
                    self.received.remove(&digest);
                    let Some(subject) = self.tasks.remove(&digest) else {
                        continue;
                    };
                    let height = match subject {
                        Subject::Vote(vote) => vote.height,
                        Subject::Alert(alert) => alert.height,
                    };
                    if let Some((_, signed, total)) = signed.into_iter().next() {
                        events.push(FinalityEvent::Stalled {
                            height,
                            signed,
                            total,
                        });
                    }
                }
                AggregatorEvent::InvalidSignature { signer, .. } => {
                    tracing::warn!(%signer, "MACH operator sent a bad signature");
                }
            }
        }
    }
}

impl FinalityGadget for MachCommittee {
    type Message = std::convert::Infallible;

    fn status(&self, height: u64) -> FinalityStatus {
        self.tiers.status(height)
    }

    fn finalized_height(&self) -> Option<u64> {
        self.tiers.finalized_height()
    }

    fn safe_height(&self) -> Option<u64> {
        self.tiers.safe_height()
    }

    /// The block leaves for every operator.
    fn on_block(&mut self, now_ms: u64, hash: B256, block: &Block) -> Vec<FinalityEvent> {
        let mut events = self.tiers.on_block(now_ms, hash, block);
        let block = Arc::new(block.clone());
        for member in 0..self.operators.len() {
            self.send(
                now_ms + self.config.delay_ms,
                InFlight::Block {
                    member,
                    block: block.clone(),
                },
            );
        }
        self.run(now_ms, &mut events);
        events
    }

    fn on_soft(&mut self, height: u64, certificate: B256) {
        self.tiers.on_soft(height, certificate);
    }

    fn on_tick(&mut self, now_ms: u64) -> Vec<FinalityEvent> {
        let mut events = Vec::new();
        self.run(now_ms, &mut events);
        events
    }

    fn next_wake(&self) -> Option<u64> {
        let queued = self.queue.peek().map(|Reverse((at, _))| *at);
        [queued, self.aggregator.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    fn on_batch_committed(&mut self, batch: &BatchCommitment, at: u64) {
        self.tiers.on_batch_committed(batch, at);
    }

    fn on_challenge(&mut self, batch: u64) {
        self.tiers.on_challenge(batch);
    }

    fn on_challenge_failed(&mut self, batch: u64) {
        self.tiers.on_challenge_failed(batch);
    }

    /// The operators may sign the new blocks at the reverted heights (see
    /// [`MachOperator::on_revert`]).
    fn on_revert(&mut self, batch: u64, to_height: u64) {
        self.tiers.on_revert(batch, to_height);
        // Reverted blocks still on their way are not judged: their heights get new blocks.
        self.in_flight.retain(|_, item| match item {
            InFlight::Block { block, .. } => block.header.height <= to_height,
            InFlight::Signature(_) => true,
        });
        for (operator, _) in &mut self.operators {
            operator.on_revert(to_height);
        }
    }

    /// Votes at firm heights can no longer matter: forgotten with the tiers' firm blocks.
    fn on_settlement_time(&mut self, now: u64) -> Option<u64> {
        let moved = self.tiers.on_settlement_time(now);
        if let Some(finalized) = moved {
            self.votes.prune_below(finalized + 1);
        }
        moved
    }

    /// The tiers, each operator's signer state and replica (by block), what is on its way
    /// (blocks to operators, signatures to the aggregator, with when they arrive), the
    /// signatures the open tasks received (delivered again on restore, at the times they
    /// first arrived) and the tasks closed recently. Written by the node before anything a
    /// step produced leaves the process, so an operator never signs twice at one height.
    fn persist(&self) -> Result<Vec<u8>, PersistError> {
        let mut blocks = BTreeMap::new();
        let mut queue = Vec::with_capacity(self.in_flight.len());
        for (at, seq) in self.queue.iter().map(|Reverse(item)| *item) {
            match self.in_flight.get(&seq) {
                Some(InFlight::Block { member, block }) => {
                    let hash = block.hash();
                    blocks.entry(hash).or_insert_with(|| block.as_ref().clone());
                    queue.push((
                        at,
                        seq,
                        Delivery::Block {
                            member: *member,
                            hash,
                        },
                    ));
                }
                Some(InFlight::Signature(message)) => {
                    queue.push((at, seq, Delivery::Signature(message.as_ref().clone())));
                }
                None => {}
            }
        }
        queue.sort_by_key(|(at, seq, _)| (*at, *seq));
        let mut received: Vec<(u64, MachMessage)> =
            self.received.values().flatten().cloned().collect();
        received.sort_by_key(|(at, message)| (*at, message.digest(), message.signer()));
        persist::encode(
            "finality",
            &CommitteeRecord {
                tiers: self.tiers.clone(),
                operators: self
                    .operators
                    .iter()
                    .map(|(operator, _)| (operator.state(), ReplicaRef::of(operator.transition())))
                    .collect(),
                blocks: blocks.into_values().collect(),
                queue: queue
                    .into_iter()
                    .map(|(at, _, delivery)| (at, delivery))
                    .collect(),
                received,
                closed: self.aggregator.closed().collect(),
                votes: self.votes.clone(),
                executions: self.executions,
            },
        )
    }

    /// Puts back what [`MachCommittee::persist`](FinalityGadget::persist) wrote; the
    /// configuration (threshold, challenge window) stays this committee's. Changes nothing on
    /// error.
    fn restore(&mut self, record: &[u8], replicas: &Replicas) -> Result<(), PersistError> {
        let record: CommitteeRecord = persist::decode("finality", record)?;
        let decode = |reason: String| PersistError::Decode {
            what: "finality",
            reason,
        };
        if record.operators.len() != self.operators.len() {
            return Err(decode(format!(
                "{} operators recorded, the committee has {}",
                record.operators.len(),
                self.operators.len()
            )));
        }
        let mut resumed = Vec::with_capacity(record.operators.len());
        for ((state, at), (_, conduct)) in record.operators.iter().zip(&self.operators) {
            let replica = match replicas.reopen(*at) {
                Ok(replica) => Some(replica),
                // An operator that never signs never moved its replica: the state it stands
                // on may be gone from the history, and it is never read.
                Err(_) if *conduct != MachConduct::Honest => None,
                Err(error) => return Err(error),
            };
            resumed.push((*state, replica));
        }
        let blocks: HashMap<B256, Arc<Block>> = record
            .blocks
            .into_iter()
            .map(|block| (block.hash(), Arc::new(block)))
            .collect();
        let mut in_flight = Vec::with_capacity(record.queue.len() + record.received.len());
        // The signatures the open tasks had come first: they arrived before anything still on
        // its way.
        for (at, message) in record.received {
            in_flight.push((at, InFlight::Signature(Box::new(message))));
        }
        for (at, delivery) in record.queue {
            in_flight.push((
                at,
                match delivery {
                    Delivery::Block { member, hash } => InFlight::Block {
                        member,
                        block: blocks.get(&hash).cloned().ok_or_else(|| {
                            decode(format!("block {hash} on its way is not in the record"))
                        })?,
                    },
                    Delivery::Signature(message) => InFlight::Signature(Box::new(message)),
                },
            ));
        }
        let params = self.tiers.mach().avs_params().clone();
        self.tiers = record.tiers;
        self.tiers.mach_mut().set_avs_params(params);
        for ((operator, _), (state, replica)) in self.operators.iter_mut().zip(resumed) {
            let replica = replica.unwrap_or_else(|| operator.transition().clone());
            operator.resume(replica, state);
        }
        self.aggregator = Aggregator::new();
        for (digest, until) in record.closed {
            self.aggregator.close(digest, until);
        }
        self.queue.clear();
        self.in_flight.clear();
        self.seq = 0;
        self.tasks.clear();
        self.received.clear();
        for (at, item) in in_flight {
            self.send(at, item);
        }
        self.votes = record.votes;
        self.executions = record.executions;
        Ok(())
    }
}

/// Something on its way in a recorded committee.
#[derive(Serialize, Deserialize)]
enum Delivery {
    /// A block (by hash, among the record's blocks) to an operator.
    Block { member: usize, hash: B256 },
    /// A signature to the aggregator.
    Signature(MachMessage),
}

/// [`MachCommittee`]'s record.
#[derive(Serialize, Deserialize)]
struct CommitteeRecord {
    tiers: TieredFinality,
    operators: Vec<(super::SignerState, ReplicaRef)>,
    #[serde(with = "altlayer_core::persist::rlp::list")]
    blocks: Vec<Block>,
    queue: Vec<(u64, Delivery)>,
    received: Vec<(u64, MachMessage)>,
    closed: Vec<(B256, u64)>,
    votes: VoteBook,
    executions: u64,
}
