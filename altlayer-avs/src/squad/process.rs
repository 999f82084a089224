//! A [`SquadNode`] as a simulator [`Node`], optionally byzantine.

pub use super::Behaviour;
use super::{
    Decision, Input, Message, Output, SquadConfig, SquadNode, SquadState, Target, Timer,
    byzantine_sends,
};
use crate::{
    qc::Roster,
    sim::{Dest, Effect, Node},
};
use alloy_primitives::{Address, B256, keccak256};
use altlayer_core::bls::SecretKey;
use std::sync::Arc;

/// What a simulated sequencer reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SquadEvent {
    /// A committed block.
    Committed(Box<Decision>),
    /// Evidence of equivocation.
    Evidence(Box<altlayer_staking::Evidence>),
    /// A soft confirmation (height, block).
    SoftConfirmed(u64, B256),
    /// The node waits for an epoch's roster.
    NeedRoster(u64),
}

/// A sequencer in the simulator.
pub struct SquadProcess {
    node: SquadNode,
    peers: Arc<Vec<Address>>,
    key: SecretKey,
    behaviour: Behaviour,
}

impl SquadProcess {
    /// Wraps `node`; `peers[i]` is the address of simulator node `i`.
    pub fn new(
        node: SquadNode,
        peers: Arc<Vec<Address>>,
        key: SecretKey,
        behaviour: Behaviour,
    ) -> Self {
        Self {
            node,
            peers,
            key,
            behaviour,
        }
    }

    /// Builds the sequencer at `index` of `peers` (from `keys[index]`), fresh or from
    /// persisted state.
    pub fn build(
        config: &SquadConfig,
        roster: &Arc<Roster>,
        peers: &Arc<Vec<Address>>,
        key: &SecretKey,
        index: usize,
        behaviour: Behaviour,
        state: Option<SquadState>,
    ) -> Result<Self, super::SquadError> {
        let address = peers[index];
        let node = match state {
            Some(state) => {
                SquadNode::restore(config.clone(), roster.clone(), address, key.clone(), state)?
            }
            None => SquadNode::new(config.clone(), roster.clone(), address, key.clone())?,
        };
        Ok(Self::new(node, peers.clone(), key.clone(), behaviour))
    }

    /// The node.
    pub const fn node(&self) -> &SquadNode {
        &self.node
    }

    /// The node, mutably.
    pub const fn node_mut(&mut self) -> &mut SquadNode {
        &mut self.node
    }

    /// How it behaves.
    pub const fn behaviour(&self) -> Behaviour {
        self.behaviour
    }

    fn index(&self, address: &Address) -> Option<usize> {
        self.peers.iter().position(|a| a == address)
    }

    /// Turns node outputs into simulator effects, applying the byzantine behaviour.
    pub fn effects(&self, outputs: Vec<Output>) -> Vec<Effect<Message, Timer, SquadEvent>> {
        let mut effects = Vec::with_capacity(outputs.len());
        for output in outputs {
            match output {
                Output::Send { to, message } => {
                    let dest = match to {
                        Target::All => Dest::All,
                        Target::One(address) => match self.index(&address) {
                            Some(i) => Dest::One(i),
                            None => continue,
                        },
                    };
                    self.send(dest, message, &mut effects);
                }
                Output::SetTimer { timer, after_ms } => {
                    effects.push(Effect::Timer { timer, after_ms })
                }
                Output::Committed(decision) => {
                    effects.push(Effect::Event(SquadEvent::Committed(decision)))
                }
                Output::Evidence(evidence) => {
                    effects.push(Effect::Event(SquadEvent::Evidence(evidence)))
                }
                Output::SoftConfirmed { height, block, .. } => {
                    effects.push(Effect::Event(SquadEvent::SoftConfirmed(height, block)));
                }
                Output::NeedRoster { epoch, .. } => {
                    effects.push(Effect::Event(SquadEvent::NeedRoster(epoch)));
                }
                Output::Rejected { .. } => {}
            }
        }
        effects
    }

    fn send(
        &self,
        dest: Dest,
        message: Message,
        effects: &mut Vec<Effect<Message, Timer, SquadEvent>>,
    ) {
        let to = match dest {
            Dest::All => Target::All,
            Dest::One(i) => match self.peers.get(i) {
                Some(address) => Target::One(*address),
                None => return,
            },
        };
        for (to, message) in byzantine_sends(
            self.behaviour,
            &self.node,
            &self.key,
            &self.peers,
            to,
            message,
        ) {
            let to = match to {
                Target::All => Dest::All,
                Target::One(address) => match self.index(&address) {
                    Some(i) => Dest::One(i),
                    None => continue,
                },
            };
            effects.push(Effect::Send { to, message });
        }
    }
}

impl Node for SquadProcess {
    type Message = Message;
    type Timer = Timer;
    type Event = SquadEvent;
    type Persisted = SquadState;

    fn start(&mut self, now_ms: u64) -> Vec<Effect<Message, Timer, SquadEvent>> {
        let outputs = self.node.start(now_ms);
        self.effects(outputs)
    }

    fn on_message(
        &mut self,
        now_ms: u64,
        from: usize,
        message: Message,
    ) -> Vec<Effect<Message, Timer, SquadEvent>> {
        let Some(from) = self.peers.get(from).copied() else {
            return Vec::new();
        };
        let outputs = self.node.handle(now_ms, Input::Message { from, message });
        self.effects(outputs)
    }

    fn on_timer(&mut self, now_ms: u64, timer: Timer) -> Vec<Effect<Message, Timer, SquadEvent>> {
        let outputs = self.node.handle(now_ms, Input::Timeout(timer));
        self.effects(outputs)
    }

    fn persist(&self) -> SquadState {
        self.node.state().clone()
    }

    fn state_hash(&self) -> B256 {
        keccak256(serde_json::to_vec(self.node.state()).unwrap_or_default())
    }
}
