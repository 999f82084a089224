//! A deterministic simulator for sans-IO protocol nodes: seeded randomness, a virtual clock,
//! a network with per-link delay, loss, duplication, reordering (by random delays) and
//! partitions, and crash and restart of a node from its persisted state. Same seed, same
//! run, same final state hash.
//!
//! It drives any [`Node`]: SQUAD's sequencers here, MACH and VITAL operators and node tests
//! later. The simulator never reads a clock or spawns a thread.

use alloy_primitives::{B256, keccak256};
use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap},
};

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// Every other node.
    All,
    /// One node.
    One(usize),
}

/// What a node asks of the simulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect<M, T, E> {
    /// Send a message.
    Send {
        /// To whom.
        to: Dest,
        /// What.
        message: M,
    },
    /// Call [`Node::on_timer`] with `timer` after `after_ms`.
    Timer {
        /// The timer.
        timer: T,
        /// Delay.
        after_ms: u64,
    },
    /// Something the test observes (a commit, evidence).
    Event(E),
}

/// A protocol node the simulator can drive.
pub trait Node {
    /// Messages between nodes.
    type Message: Clone;
    /// Timers.
    type Timer: Clone;
    /// Observable events.
    type Event: Clone;
    /// What survives a crash.
    type Persisted: Clone;

    /// Starts (or restarts) the node.
    fn start(&mut self, now_ms: u64) -> Vec<Effect<Self::Message, Self::Timer, Self::Event>>;

    /// A message from node `from`.
    fn on_message(
        &mut self,
        now_ms: u64,
        from: usize,
        message: Self::Message,
    ) -> Vec<Effect<Self::Message, Self::Timer, Self::Event>>;

    /// A timer fired.
    fn on_timer(
        &mut self,
        now_ms: u64,
        timer: Self::Timer,
    ) -> Vec<Effect<Self::Message, Self::Timer, Self::Event>>;

    /// The state a restart resumes from.
    fn persist(&self) -> Self::Persisted;

    /// A hash of the node's state, for the run's fingerprint.
    fn state_hash(&self) -> B256;
}

/// Network behaviour, the same on every link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Least one-way delay.
    pub min_delay_ms: u64,
    /// Most one-way delay (uniform in between; different delays reorder messages).
    pub max_delay_ms: u64,
    /// Messages lost, per million.
    pub drop_ppm: u32,
    /// Messages delivered twice, per million.
    pub duplicate_ppm: u32,
}

impl Default for NetworkConfig {
    /// 10–50 ms, no loss, no duplication.
    fn default() -> Self {
        Self {
            min_delay_ms: 10,
            max_delay_ms: 50,
            drop_ppm: 0,
            duplicate_ppm: 0,
        }
    }
}

/// SplitMix64: small, fast, and the same everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub const fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub const fn range(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            low
        } else {
            low + self.next_u64() % (high - low + 1)
        }
    }

    /// True with probability `ppm / 1,000,000`.
    pub const fn chance(&mut self, ppm: u32) -> bool {
        self.next_u64() % 1_000_000 < ppm as u64
    }
}

enum Pending<M, T> {
    Deliver {
        from: usize,
        to: usize,
        message: M,
    },
    Fire {
        node: usize,
        incarnation: u64,
        timer: T,
    },
}

/// The simulator.
pub struct Simulator<N: Node> {
    rng: Rng,
    now: u64,
    seq: u64,
    network: NetworkConfig,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    pending: BTreeMap<u64, Pending<N::Message, N::Timer>>,
    nodes: Vec<Option<N>>,
    persisted: Vec<Option<N::Persisted>>,
    incarnation: Vec<u64>,
    /// Partition group of each node; nodes in different groups cannot talk.
    groups: Vec<u32>,
    events: Vec<(u64, usize, N::Event)>,
    delivered: u64,
}

impl<N: Node> Simulator<N> {
    /// A simulation of `nodes` with `seed`, started at time zero.
    pub fn new(seed: u64, network: NetworkConfig, nodes: Vec<N>) -> Self {
        Self::starting_at(seed, network, nodes, 0)
    }

    /// A simulation whose clock starts at `start_ms` (the Unix time, when an in-process
    /// deployment runs on the simulated network).
    pub fn starting_at(seed: u64, network: NetworkConfig, nodes: Vec<N>, start_ms: u64) -> Self {
        let count = nodes.len();
        let mut sim = Self {
            rng: Rng::new(seed),
            now: start_ms,
            seq: 0,
            network,
            queue: BinaryHeap::new(),
            pending: BTreeMap::new(),
            persisted: nodes.iter().map(|n| Some(n.persist())).collect(),
            nodes: nodes.into_iter().map(Some).collect(),
            incarnation: vec![0; count],
            groups: vec![0; count],
            events: Vec::new(),
            delivered: 0,
        };
        for i in 0..count {
            if let Some(node) = sim.nodes[i].as_mut() {
                let effects = node.start(start_ms);
                sim.apply(i, effects);
            }
        }
        sim
    }

    /// Virtual time now.
    pub const fn now(&self) -> u64 {
        self.now
    }

    /// Messages delivered so far.
    pub const fn delivered(&self) -> u64 {
        self.delivered
    }

    /// The nodes (a crashed one is `None`).
    pub fn nodes(&self) -> &[Option<N>] {
        &self.nodes
    }

    /// A node, mutably (to inject inputs between steps).
    pub fn node_mut(&mut self, i: usize) -> Option<&mut N> {
        self.nodes.get_mut(i).and_then(Option::as_mut)
    }

    /// Every event observed: (time, node, event).
    pub fn events(&self) -> &[(u64, usize, N::Event)] {
        &self.events
    }

    /// Takes the events observed so far, leaving none (a long run keeps memory bounded).
    pub fn take_events(&mut self) -> Vec<(u64, usize, N::Event)> {
        std::mem::take(&mut self.events)
    }

    /// When the next scheduled delivery or timer is due, if anything is scheduled.
    pub fn next_time(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse((at, _))| *at)
    }

    /// Changes the network's behaviour from now on.
    pub const fn set_network(&mut self, network: NetworkConfig) {
        self.network = network;
    }

    /// Splits the nodes: `group[i]` is node i's side; only nodes on one side talk.
    pub fn partition(&mut self, groups: Vec<u32>) {
        self.groups = groups;
        self.groups.resize(self.nodes.len(), 0);
    }

    /// Ends every partition.
    pub fn heal(&mut self) {
        self.groups = vec![0; self.nodes.len()];
    }

    /// Crashes node `i`: it stops; its persisted state is kept; its timers die with it.
    pub fn crash(&mut self, i: usize) {
        if let Some(node) = self.nodes.get_mut(i).and_then(Option::take) {
            self.persisted[i] = Some(node.persist());
            self.incarnation[i] += 1;
        }
    }

    /// Restarts a crashed node `i` from its persisted state with `make`.
    pub fn restart(&mut self, i: usize, make: impl FnOnce(N::Persisted) -> N) {
        if self.nodes[i].is_some() {
            return;
        }
        if let Some(persisted) = self.persisted[i].clone() {
            let mut node = make(persisted);
            let effects = node.start(self.now);
            self.nodes[i] = Some(node);
            self.apply(i, effects);
        }
    }

    /// Lets node `i` act now on an input of the caller's (a submitted transaction), and
    /// routes its effects.
    pub fn act(
        &mut self,
        i: usize,
        input: impl FnOnce(&mut N, u64) -> Vec<Effect<N::Message, N::Timer, N::Event>>,
    ) {
        let now = self.now;
        if let Some(node) = self.nodes.get_mut(i).and_then(Option::as_mut) {
            let effects = input(node, now);
            self.apply(i, effects);
        }
    }

    fn push(&mut self, at: u64, item: Pending<N::Message, N::Timer>) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.pending.insert(self.seq, item);
    }

    fn apply(&mut self, from: usize, effects: Vec<Effect<N::Message, N::Timer, N::Event>>) {
        for effect in effects {
            match effect {
                Effect::Send { to, message } => {
                    let targets: Vec<usize> = match to {
                        Dest::All => (0..self.nodes.len()).filter(|t| *t != from).collect(),
                        Dest::One(t) if t < self.nodes.len() && t != from => vec![t],
                        Dest::One(_) => Vec::new(),
                    };
                    for to in targets {
                        if self.rng.chance(self.network.drop_ppm) {
                            continue;
                        }
                        let copies = if self.rng.chance(self.network.duplicate_ppm) {
                            2
                        } else {
                            1
                        };
                        for _ in 0..copies {
                            let delay = self
                                .rng
                                .range(self.network.min_delay_ms, self.network.max_delay_ms);
                            self.push(
                                self.now + delay,
                                Pending::Deliver {
                                    from,
                                    to,
                                    message: message.clone(),
                                },
                            );
                        }
                    }
                }
                Effect::Timer { timer, after_ms } => {
                    let incarnation = self.incarnation[from];
                    self.push(
                        self.now + after_ms,
                        Pending::Fire {
                            node: from,
                            incarnation,
                            timer,
                        },
                    );
                }
                Effect::Event(event) => self.events.push((self.now, from, event)),
            }
        }
    }

    /// Moves the clock forward to `until` as if the whole network had stood still until then
    /// (a process resumed after a stop): what was due before arrives at `until`.
    pub fn resume_at(&mut self, until: u64) {
        if until <= self.now {
            return;
        }
        self.now = until;
        self.queue = self
            .queue
            .drain()
            .map(|Reverse((at, seq))| Reverse((at.max(until), seq)))
            .collect();
    }

    /// Processes the next scheduled item; `false` when nothing is left.
    pub fn step(&mut self) -> bool {
        let Some(Reverse((at, seq))) = self.queue.pop() else {
            return false;
        };
        let Some(item) = self.pending.remove(&seq) else {
            return true;
        };
        self.now = self.now.max(at);
        let now = self.now;
        match item {
            Pending::Deliver { from, to, message } => {
                // A partition drops messages across it at delivery time.
                if self.groups[from] != self.groups[to] {
                    return true;
                }
                if let Some(node) = self.nodes[to].as_mut() {
                    self.delivered += 1;
                    let effects = node.on_message(now, from, message);
                    self.apply(to, effects);
                }
            }
            Pending::Fire {
                node,
                incarnation,
                timer,
            } => {
                if incarnation == self.incarnation[node]
                    && let Some(n) = self.nodes[node].as_mut()
                {
                    let effects = n.on_timer(now, timer);
                    self.apply(node, effects);
                }
            }
        }
        true
    }

    /// Runs until virtual time `until` (or nothing is left), calling `check` after every
    /// step; stops early with its error.
    pub fn run_until<Err>(
        &mut self,
        until: u64,
        mut check: impl FnMut(&Self) -> Result<(), Err>,
    ) -> Result<(), Err> {
        while let Some(Reverse((at, _))) = self.queue.peek() {
            if *at > until {
                break;
            }
            self.step();
            check(self)?;
        }
        self.now = self.now.max(until);
        Ok(())
    }

    /// Fingerprint of the run: time, messages delivered, and every live node's state hash.
    pub fn state_hash(&self) -> B256 {
        let mut buf = Vec::with_capacity(16 + 32 * self.nodes.len());
        buf.extend_from_slice(&self.now.to_be_bytes());
        buf.extend_from_slice(&self.delivered.to_be_bytes());
        for node in &self.nodes {
            buf.extend_from_slice(
                node.as_ref()
                    .map(Node::state_hash)
                    .unwrap_or_default()
                    .as_slice(),
            );
        }
        keccak256(&buf)
    }
}
