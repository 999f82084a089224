//! SQUAD behind core's [`Sequencer`] trait: a sequencer set run in process on the
//! deterministic simulator's network, whose committed payloads are executed by core's
//! [`StateTransition`] into blocks. What `altlayer devnet --sequencers N` runs.

use super::{
    CryptoMode, Input, Output, SquadConfig, SquadNode,
    process::{Behaviour, SquadEvent, SquadProcess},
};
use crate::sim::{NetworkConfig, Simulator};
use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, keccak256};
use altlayer_core::{
    execution::{BlockAttributes, ExecuteOptions},
    primitives::DaRef,
    sequencer::{PoolError, Sequencer, SequencerError, SequencerEvent, SubmitError},
    transaction::{check_chain_id, decode_and_recover_all},
    transition::StateTransition,
};
use std::sync::Arc;

/// Settings of an in-process SQUAD set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquadSequencerConfig {
    /// Number of sequencers (at least 4), with equal stake.
    pub sequencers: usize,
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
}

impl Default for SquadSequencerConfig {
    fn default() -> Self {
        Self {
            sequencers: 4,
            block_time_ms: 1_000,
            network_delay_ms: 2,
            coinbase: Address::ZERO,
            intermediate_roots: false,
            max_block_transactions: 10_000,
        }
    }
}

/// A SQUAD set run in process, executing its committed chain.
pub struct SquadSequencer<S> {
    stf: S,
    sim: Simulator<SquadProcess>,
    config: SquadSequencerConfig,
    /// Decisions of the first node already executed.
    executed: usize,
    da_ref: DaRef,
}

impl<S: StateTransition> SquadSequencer<S> {
    /// A set of `config.sequencers` development sequencers (keys derived from their index)
    /// extending the head of `stf`, its clock starting at `now_ms`.
    pub fn new(
        stf: S,
        config: SquadSequencerConfig,
        now_ms: u64,
    ) -> Result<Self, super::SquadError> {
        let n = config.sequencers;
        let rollup = stf.config().rollup_id;
        let super::DevSet {
            keys,
            peers,
            roster,
        } = super::dev_set(n, rollup)?;
        let squad = SquadConfig {
            chain_id: stf.config().chain_id,
            rollup,
            genesis: stf.head().hash(),
            block_interval_ms: config.block_time_ms,
            timeout_propose_ms: config.block_time_ms.max(200) * 2,
            timeout_vote_ms: config.block_time_ms.max(200),
            timeout_delta_ms: config.block_time_ms.max(200),
            max_block_transactions: config.max_block_transactions,
            crypto: CryptoMode::Full,
            ..SquadConfig::default()
        };
        let peers = Arc::new(peers);
        let nodes = (0..n)
            .map(|i| {
                SquadProcess::build(
                    &squad,
                    &roster,
                    &peers,
                    &keys[i],
                    i,
                    Behaviour::Honest,
                    None,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let network = NetworkConfig {
            min_delay_ms: config.network_delay_ms,
            max_delay_ms: config.network_delay_ms,
            drop_ppm: 0,
            duplicate_ppm: 0,
        };
        Ok(Self {
            stf,
            sim: Simulator::starting_at(0, network, nodes, now_ms),
            config,
            executed: 0,
            da_ref: DaRef::default(),
        })
    }

    /// The state transition (the executed chain).
    pub const fn state_transition(&self) -> &S {
        &self.stf
    }

    /// The sequencers.
    pub fn nodes(&self) -> impl Iterator<Item = &SquadNode> {
        self.sim.nodes().iter().flatten().map(SquadProcess::node)
    }

    /// Records the latest DA publication, which the next blocks reference.
    pub const fn set_da_ref(&mut self, da_ref: DaRef) {
        self.da_ref = da_ref;
    }

    /// Soft confirmations seen so far (height, block) by the first sequencer.
    pub fn soft_confirmations(&self) -> usize {
        self.sim
            .events()
            .iter()
            .filter(|(_, node, e)| *node == 0 && matches!(e, SquadEvent::SoftConfirmed(..)))
            .count()
    }

    fn execute(&mut self) -> Result<Vec<SequencerEvent>, SequencerError> {
        let Some(first) = self.sim.nodes().iter().flatten().next() else {
            return Ok(Vec::new());
        };
        let decisions: Vec<_> = first.node().chain()[self.executed..].to_vec();
        let mut events = Vec::new();
        let options = if self.config.intermediate_roots {
            ExecuteOptions::with_intermediate_roots()
        } else {
            ExecuteOptions::default()
        };
        for decision in decisions {
            let payload = &decision.block.payload;
            let max_size = self.stf.config().max_tx_size;
            let mut candidates = Vec::with_capacity(payload.transactions.len());
            for (raw, recovered) in payload
                .transactions
                .iter()
                .zip(decode_and_recover_all(&payload.transactions, max_size))
            {
                match recovered {
                    Ok(tx) => candidates.push(tx),
                    // The pool admitted only decodable transactions; a byzantine leader's
                    // garbage is skipped the same way on every node.
                    Err(error) => {
                        tracing::warn!(hash = %keccak256(raw), %error, "undecodable transaction in a committed payload")
                    }
                }
            }
            let attributes = BlockAttributes {
                timestamp: payload.timestamp.max(self.stf.head().timestamp),
                sequencer: self.config.coinbase,
                da_ref: self.da_ref,
            };
            let built = self.stf.build_block(attributes, candidates, options)?;
            events.extend(built.rejected.iter().cloned().map(SequencerEvent::Rejected));
            events.insert(
                events.len() - built.rejected.len(),
                SequencerEvent::Block(Box::new(built)),
            );
            self.executed += 1;
        }
        Ok(events)
    }
}

impl<S: StateTransition> Sequencer for SquadSequencer<S> {
    fn submit(&mut self, tx: Recovered<TxEnvelope>) -> Result<B256, SubmitError> {
        let config = self.stf.config();
        check_chain_id(tx.inner(), config.chain_id, config.allow_unprotected_txs)?;
        let bytes = alloy_primitives::Bytes::from(tx.inner().encoded_2718());
        let hash = *tx.inner().tx_hash();
        // Submitted to the first sequencer (the one this node's RPC talks to), which gossips
        // it to the others; its pool is where duplicates are caught.
        let mut refused = None;
        self.sim.act(0, |process, now| {
            let outputs = process.node_mut().handle(now, Input::Transaction(bytes));
            for output in &outputs {
                if let Output::Rejected { reason, .. } = output {
                    refused = Some(reason.clone());
                }
            }
            process.effects(outputs)
        });
        match refused {
            None => Ok(hash),
            Some(super::mempool::PoolError::Invalid(error)) => Err(SubmitError::Invalid(error)),
            Some(super::mempool::PoolError::Duplicate(_)) => Err(PoolError::Duplicate(hash).into()),
            Some(super::mempool::PoolError::ReplacementUnderpriced { sender, nonce, .. }) => {
                Err(PoolError::NonceTaken { sender, nonce }.into())
            }
            Some(_) => Err(PoolError::Full(self.pending()).into()),
        }
    }

    fn pending(&self) -> usize {
        self.nodes().map(|n| n.pool().len()).max().unwrap_or(0)
    }

    /// Runs the set's network up to `now_ms` and executes what it committed.
    fn on_tick(&mut self, now_ms: u64) -> Result<Vec<SequencerEvent>, SequencerError> {
        // The check hook has nothing to stop here, so the run always completes.
        let completed: Result<(), std::convert::Infallible> =
            self.sim.run_until(now_ms, |_| Ok(()));
        if let Err(never) = completed {
            match never {}
        }
        self.execute()
    }
}
