//! VITAL as simulator nodes: an L1 (settlement, the court and the ALT ledger), a proposer
//! posting batches, and VITAL operators verifying them, exchanging messages over the
//! simulator's network with settlement time taken from the virtual clock.
//!
//! Data availability is the `Posted` broadcast: every operator gets the batch data with its
//! commitment, as it would read it from DA.

use super::{
    Accounts, Enforcement,
    bisection::Dispute,
    court::{Decision, DisputeId},
    enforce, lock_bond,
    operator::{Action, BatchCheck, BatchProposer, VitalOperator},
};
use crate::sim::{Dest, Effect, Node};
use alloy_primitives::{Address, B256, keccak256};
use altlayer_core::{
    Batch,
    primitives::DaRef,
    settlement::{BatchCommitment, LocalSettlement},
};
use altlayer_core::{settlement::SettlementEvent, verifier::Verifier};
use altlayer_staking::AltLedger;

/// Messages between VITAL nodes.
#[derive(Clone, Debug)]
pub enum VitalMessage {
    /// Proposer to L1: post this batch (data to DA, commitment to settlement).
    Post(Box<Batch>),
    /// L1 to all: a batch was committed; its data.
    Posted {
        /// The commitment.
        commitment: BatchCommitment,
        /// The data.
        batch: Box<Batch>,
    },
    /// An operator or the proposer to L1: a challenge, a move or a one-step proof.
    Act(Action),
    /// L1 to all: a game started.
    Opened {
        /// The game.
        dispute: DisputeId,
        /// Its batch.
        batch: u64,
        /// The challenger.
        challenger: Address,
    },
    /// L1 to all: where a game stands.
    Update {
        /// The game.
        dispute: DisputeId,
        /// Its state.
        state: Box<Dispute>,
    },
    /// L1 to the sender: a move or proof was refused.
    Refused {
        /// The game.
        dispute: DisputeId,
        /// Why.
        reason: String,
    },
    /// L1 to all: a game ended.
    Decided(Box<Decision>),
    /// L1 to all: batch `from` and every later one were reverted.
    Reverted {
        /// First batch reverted.
        from: u64,
        /// The block the decision blamed: the chain goes on from the one before.
        blamed_height: u64,
    },
    /// L1 to all: a batch is final.
    Final {
        /// The batch.
        index: u64,
    },
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VitalTimer {
    /// L1: advance settlement time, decide missed deadlines, report final batches.
    Tick,
    /// Proposer: build and post the next batch.
    Propose,
}

/// What a test observes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VitalEvent {
    /// L1 committed a batch.
    Posted {
        /// Index.
        index: u64,
        /// Its claimed post-state root.
        post_state_root: B256,
        /// Its transactions.
        transactions: usize,
    },
    /// L1 refused a batch, challenge, move or proof.
    Refused(String),
    /// An operator checked a batch.
    Checked {
        /// Batch.
        index: u64,
        /// Verdict.
        check: BatchCheck,
    },
    /// L1 opened a game.
    Opened {
        /// The game.
        dispute: DisputeId,
        /// Batch.
        batch: u64,
        /// Challenger.
        challenger: Address,
    },
    /// L1 enforced a decision.
    Enforced(Box<Enforcement>),
    /// A batch became final.
    Final {
        /// Batch.
        index: u64,
        /// Its post-state root.
        post_state_root: B256,
    },
}

type Out = Vec<Effect<VitalMessage, VitalTimer, VitalEvent>>;

/// The L1 node: settlement (with its court) and the ALT ledger.
#[derive(Debug)]
pub struct L1Node {
    settlement: LocalSettlement,
    ledger: AltLedger,
    accounts: Accounts,
    /// Address of each node, by index.
    addresses: Vec<Address>,
    tick_ms: u64,
    /// Settlement's log read so far.
    cursor: u64,
    /// Batches committed and not reverted, by index, with their data (the DA layer).
    posted: std::collections::BTreeMap<u64, Batch>,
}

impl L1Node {
    /// An L1 serving the nodes at `addresses` (by index; the proposer's address must be
    /// registered in `accounts.proposers` for a slash to land).
    pub fn new(
        settlement: LocalSettlement,
        ledger: AltLedger,
        accounts: Accounts,
        addresses: Vec<Address>,
        tick_ms: u64,
    ) -> Self {
        Self {
            settlement,
            ledger,
            accounts,
            addresses,
            tick_ms,
            cursor: 0,
            posted: std::collections::BTreeMap::new(),
        }
    }

    /// The ALT ledger.
    pub const fn ledger(&self) -> &AltLedger {
        &self.ledger
    }

    /// Settlement.
    pub const fn settlement(&self) -> &LocalSettlement {
        &self.settlement
    }

    fn now(now_ms: u64) -> u64 {
        now_ms / 1_000
    }

    fn refuse(out: &mut Out, from: usize, dispute: Option<DisputeId>, reason: String) {
        if let Some(dispute) = dispute {
            out.push(Effect::Send {
                to: Dest::One(from),
                message: VitalMessage::Refused {
                    dispute,
                    reason: reason.clone(),
                },
            });
        }
        out.push(Effect::Event(VitalEvent::Refused(reason)));
    }

    fn broadcast(out: &mut Out, message: VitalMessage) {
        out.push(Effect::Send {
            to: Dest::All,
            message,
        });
    }

    /// Reports what settlement did since the last read: to every node as messages, and the
    /// decisions mirrored on the ledger.
    fn flush(&mut self, out: &mut Out) {
        let (events, next) = self.settlement.events_since(self.cursor);
        self.cursor = next;
        for event in events {
            match event {
                SettlementEvent::BatchCommitted { commitment, .. } => {
                    let Some(batch) = self.posted.get(&commitment.index).cloned() else {
                        continue;
                    };
                    out.push(Effect::Event(VitalEvent::Posted {
                        index: batch.index,
                        post_state_root: batch.post_state_root,
                        transactions: batch.transaction_count(),
                    }));
                    Self::broadcast(
                        out,
                        VitalMessage::Posted {
                            commitment,
                            batch: Box::new(batch),
                        },
                    );
                }
                SettlementEvent::ChallengeOpened {
                    dispute,
                    batch,
                    challenger,
                    ..
                } => {
                    out.push(Effect::Event(VitalEvent::Opened {
                        dispute,
                        batch,
                        challenger,
                    }));
                    Self::broadcast(
                        out,
                        VitalMessage::Opened {
                            dispute,
                            batch,
                            challenger,
                        },
                    );
                }
                SettlementEvent::DisputeMoved { dispute, state } => {
                    Self::broadcast(out, VitalMessage::Update { dispute, state });
                }
                SettlementEvent::ChallengeDecided(resolution) => {
                    Self::broadcast(
                        out,
                        VitalMessage::Decided(Box::new(resolution.decision.clone())),
                    );
                    match enforce(&resolution, &mut self.ledger, &self.accounts) {
                        Ok(enforcement) => {
                            if let Some(from) = enforcement.reverted_from {
                                self.posted.split_off(&from);
                                Self::broadcast(
                                    out,
                                    VitalMessage::Reverted {
                                        from,
                                        blamed_height: enforcement.decision.height,
                                    },
                                );
                            }
                            out.push(Effect::Event(VitalEvent::Enforced(Box::new(enforcement))));
                        }
                        Err(error) => out.push(Effect::Event(VitalEvent::Refused(format!(
                            "enforcement failed: {error}"
                        )))),
                    }
                }
                SettlementEvent::BatchFinalized {
                    index,
                    post_state_root,
                    ..
                } => {
                    out.push(Effect::Event(VitalEvent::Final {
                        index,
                        post_state_root,
                    }));
                    Self::broadcast(out, VitalMessage::Final { index });
                }
                _ => {}
            }
        }
    }

    fn handle(&mut self, now_ms: u64, from: usize, message: VitalMessage) -> Out {
        let mut out = Vec::new();
        let now = Self::now(now_ms);
        self.settlement.set_time(now);
        let sender = self.addresses.get(from).copied().unwrap_or_default();
        let chain_id = self.ledger.chain_id();
        match message {
            VitalMessage::Post(batch) => {
                let commitment = BatchCommitment::new(
                    &batch,
                    chain_id,
                    DaRef {
                        position: batch.index,
                        commitment: batch.commitment(chain_id),
                    },
                    sender,
                );
                if let Err(error) = self.settlement.commit(commitment) {
                    Self::refuse(
                        &mut out,
                        from,
                        None,
                        format!("batch {}: {error}", batch.index),
                    );
                    return out;
                }
                // The ledger follows the rollup's height, so evidence about these blocks can
                // name their stake.
                let height = batch.last_height().unwrap_or_default();
                if height > self.ledger.height() {
                    let _ = self.ledger.advance(height, now.max(self.ledger.now()));
                }
                self.posted.insert(batch.index, *batch);
            }
            VitalMessage::Act(Action::Challenge { batch, bond }) => {
                let Some(data) = self.posted.get(&batch).cloned() else {
                    Self::refuse(&mut out, from, None, format!("no live batch {batch}"));
                    return out;
                };
                if let Err(error) = lock_bond(&mut self.ledger, &self.accounts, &sender, bond) {
                    Self::refuse(
                        &mut out,
                        from,
                        None,
                        format!("challenge of {batch}: {error}"),
                    );
                    return out;
                }
                if let Err(error) = self.settlement.challenge(&data, sender, bond) {
                    use altlayer_core::TokenLedger;
                    // Nothing changed at settlement: the bond goes back.
                    let _ = self.ledger.transfer(&self.accounts.escrow, &sender, bond);
                    Self::refuse(
                        &mut out,
                        from,
                        None,
                        format!("challenge of {batch}: {error}"),
                    );
                }
            }
            VitalMessage::Act(Action::Play { dispute, mv }) => {
                if let Err(error) = self.settlement.play_move(dispute, sender, mv) {
                    Self::refuse(&mut out, from, Some(dispute), error.to_string());
                }
            }
            VitalMessage::Act(Action::Prove { dispute, witness }) => {
                if let Err(error) = self.settlement.submit_proof(dispute, &witness) {
                    Self::refuse(&mut out, from, Some(dispute), error.to_string());
                }
            }
            _ => {}
        }
        self.flush(&mut out);
        out
    }

    fn tick(&mut self, now_ms: u64) -> Out {
        let mut out = Vec::new();
        self.settlement.set_time(Self::now(now_ms));
        self.flush(&mut out);
        out.push(Effect::Timer {
            timer: VitalTimer::Tick,
            after_ms: self.tick_ms,
        });
        out
    }
}

/// Settings of a proposer node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProposerConfig {
    /// Blocks per batch.
    pub blocks_per_batch: usize,
    /// Most transactions per block.
    pub txs_per_block: usize,
    /// Time between batches.
    pub interval_ms: u64,
}

/// The proposer node: builds a batch from its queue every `interval_ms` and defends it.
#[derive(Debug)]
pub struct ProposerNode {
    proposer: BatchProposer,
    config: ProposerConfig,
}

impl ProposerNode {
    /// A node around a proposer (with its transactions queued).
    pub const fn new(proposer: BatchProposer, config: ProposerConfig) -> Self {
        Self { proposer, config }
    }

    /// The proposer.
    pub const fn proposer(&self) -> &BatchProposer {
        &self.proposer
    }

    fn propose(&mut self, now_ms: u64) -> Out {
        let mut out = vec![Effect::Timer {
            timer: VitalTimer::Propose,
            after_ms: self.config.interval_ms,
        }];
        if self.proposer.queued() == 0 {
            return out;
        }
        match self.proposer.build_batch(
            self.config.blocks_per_batch,
            self.config.txs_per_block,
            now_ms / 1_000,
        ) {
            Ok(batch) => out.push(Effect::Send {
                to: Dest::One(0),
                message: VitalMessage::Post(Box::new(batch)),
            }),
            Err(error) => out.push(Effect::Event(VitalEvent::Refused(format!(
                "proposer could not build: {error}"
            )))),
        }
        out
    }

    fn handle(&mut self, message: VitalMessage) -> Out {
        let actions = match message {
            VitalMessage::Update { dispute, state } => self.proposer.on_dispute(dispute, &state),
            VitalMessage::Reverted {
                from,
                blamed_height,
            } => {
                self.proposer.on_revert(from, blamed_height);
                Vec::new()
            }
            VitalMessage::Final { index } => {
                self.proposer.on_final(index);
                Vec::new()
            }
            _ => Vec::new(),
        };
        to_l1(actions)
    }
}

/// A VITAL operator node.
#[derive(Debug)]
pub struct OperatorNode {
    operator: VitalOperator,
    /// Games seen, with their last state (to retry a refused proof).
    games: std::collections::BTreeMap<DisputeId, Dispute>,
}

impl OperatorNode {
    /// A node around an operator.
    pub const fn new(operator: VitalOperator) -> Self {
        Self {
            operator,
            games: std::collections::BTreeMap::new(),
        }
    }

    /// The operator.
    pub const fn operator(&self) -> &VitalOperator {
        &self.operator
    }

    fn handle(&mut self, message: VitalMessage) -> Out {
        let mut out = Vec::new();
        let actions = match message {
            VitalMessage::Posted { batch, .. } => {
                let (check, actions) = self.operator.on_batch(&batch);
                out.push(Effect::Event(VitalEvent::Checked {
                    index: batch.index,
                    check,
                }));
                actions
            }
            VitalMessage::Opened {
                dispute,
                batch,
                challenger,
            } => {
                self.operator.on_opened(dispute, batch, challenger);
                Vec::new()
            }
            VitalMessage::Update { dispute, state } => {
                let actions = self.operator.on_dispute(dispute, &state);
                self.games.insert(dispute, *state);
                actions
            }
            VitalMessage::Refused { dispute, .. } => match self.games.get(&dispute) {
                Some(state) => self.operator.on_refused(dispute, &state.clone()),
                None => Vec::new(),
            },
            VitalMessage::Decided(decision) => {
                self.games.remove(&decision.dispute);
                self.operator.on_decided(decision.dispute);
                Vec::new()
            }
            VitalMessage::Reverted { from, .. } => {
                self.operator.on_revert(from);
                Vec::new()
            }
            VitalMessage::Final { index } => {
                self.operator.on_final(index);
                Vec::new()
            }
            _ => Vec::new(),
        };
        out.extend(to_l1(actions));
        out
    }
}

fn to_l1(actions: Vec<Action>) -> Out {
    actions
        .into_iter()
        .map(|action| Effect::Send {
            to: Dest::One(0),
            message: VitalMessage::Act(action),
        })
        .collect()
}

/// A VITAL node of the simulator: the L1 must be node 0.
#[derive(Debug)]
pub enum VitalProcess {
    /// Settlement, court and ledger.
    L1(Box<L1Node>),
    /// The batch proposer.
    Proposer(Box<ProposerNode>),
    /// A VITAL operator.
    Operator(Box<OperatorNode>),
}

impl VitalProcess {
    /// The L1 node, if this is it.
    pub fn l1(&self) -> Option<&L1Node> {
        match self {
            Self::L1(node) => Some(node),
            _ => None,
        }
    }

    /// The proposer node, if this is it.
    pub fn proposer(&self) -> Option<&ProposerNode> {
        match self {
            Self::Proposer(node) => Some(node),
            _ => None,
        }
    }
}

impl Node for VitalProcess {
    type Message = VitalMessage;
    type Timer = VitalTimer;
    type Event = VitalEvent;
    type Persisted = ();

    fn start(&mut self, _now_ms: u64) -> Out {
        match self {
            Self::L1(node) => vec![Effect::Timer {
                timer: VitalTimer::Tick,
                after_ms: node.tick_ms,
            }],
            Self::Proposer(node) => vec![Effect::Timer {
                timer: VitalTimer::Propose,
                after_ms: node.config.interval_ms,
            }],
            Self::Operator(_) => Vec::new(),
        }
    }

    fn on_message(&mut self, now_ms: u64, from: usize, message: VitalMessage) -> Out {
        match self {
            Self::L1(node) => node.handle(now_ms, from, message),
            Self::Proposer(node) => node.handle(message),
            Self::Operator(node) => node.handle(message),
        }
    }

    fn on_timer(&mut self, now_ms: u64, timer: VitalTimer) -> Out {
        match (self, timer) {
            (Self::L1(node), VitalTimer::Tick) => node.tick(now_ms),
            (Self::Proposer(node), VitalTimer::Propose) => node.propose(now_ms),
            _ => Vec::new(),
        }
    }

    fn persist(&self) {}

    fn state_hash(&self) -> B256 {
        match self {
            Self::L1(node) => node.ledger.state_hash(),
            Self::Proposer(node) => node.proposer.state().state_root(),
            Self::Operator(node) => keccak256(node.operator.address()),
        }
    }
}
