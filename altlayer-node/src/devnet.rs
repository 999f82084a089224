//! `altlayer devnet`: a whole EVM rollup in one process, sequenced by one operator or by a
//! SQUAD set (`--sequencers N`, N >= 4) running its BFT consensus over an in-process network.
//!
//! The devnet wires altlayer-core's in-process defaults together and drives them with tokio:
//! a load generator signs transfers from deterministic funded accounts plus a contract
//! deployment and calls, the transactions go through the full pipeline (EIP-2718 bytes, parallel
//! sender recovery, validation, EVM execution, receipts, state root), the single sequencer
//! builds a block every `block_time_ms`, every `batch_blocks` blocks a batch is published to the
//! in-memory DA layer and committed to the local settlement layer, a VITAL operator retrieves
//! it from DA and re-executes it, and the challenge-window finality gadget reports what became
//! final.
//!
//! With `--fault bad-state-root-at N` the sequencer credits itself 1,000 ether outside any
//! transaction before block `N`, so block `N` and its batch carry a state root no honest
//! replica computes. The VITAL operator catches it, challenges with an ALT bond, and the
//! bisection game and a one-step proof over a Merkle witness decide it at the court; the batch
//! and everything after it are reverted, the sequencer is slashed in the ALT ledger with the
//! challenge as evidence, the challenger is paid, and the sequencer rewinds to the last valid
//! root and re-executes the reverted transactions. Every step is printed.

use alloy_eips::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use altlayer_avs::{
    squad::sequencer::{SquadSequencer, SquadSequencerConfig},
    vital::{
        Accounts, Enforcement,
        bisection::{Move, Party, Status},
        court::{Court, CourtConfig},
        enforce, lock_bond,
        operator::{Action, BatchCheck, Conduct, VitalOperator, proposer_move},
    },
};
use altlayer_core::{
    Batch, Block, DataAvailability, FinalityGadget, RollupConfig, Sequencer, Settlement,
    da::InMemoryDa,
    dev::{DevAccount, counter_init_code, dev_state},
    execution::{DEFAULT_INITIAL_BASE_FEE, EvmStateTransition, stateless::plan_step},
    finality::ChallengeWindowFinality,
    primitives::Header,
    sequencer::{SequencerConfig, SequencerEvent, SingleSequencer},
    settlement::{BatchCommitment, LocalSettlement},
    transaction::{RecoveryBackend, decode_and_recover_all, recover},
};
use altlayer_staking::{
    AltLedger, OperatorKey, OperatorSetConfig, OperatorSetId, Service, StakingParams,
};
use std::{
    collections::BTreeMap,
    io::Write,
    time::{Duration, Instant},
};

/// One ALT (18 decimals).
const ALT: u64 = 1_000_000_000_000_000_000;

/// A fault the devnet injects, to watch VITAL catch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Before building this block the sequencer credits itself 1,000 ether outside any
    /// transaction: the block's state root is wrong.
    BadStateRootAt(u64),
}

impl std::str::FromStr for Fault {
    type Err = String;

    /// `bad-state-root-at:N` (or `bad-state-root-at=N`).
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, value) = s
            .split_once([':', '='])
            .ok_or_else(|| format!("fault {s:?}: expected KIND:VALUE, e.g. bad-state-root-at:7"))?;
        match kind {
            "bad-state-root-at" => {
                let height: u64 = value
                    .parse()
                    .map_err(|_| format!("fault {s:?}: {value:?} is not a block height"))?;
                if height == 0 {
                    return Err("fault: the genesis block cannot be faulty".into());
                }
                Ok(Self::BadStateRootAt(height))
            }
            other => Err(format!(
                "unknown fault {other:?}; the one there is: bad-state-root-at"
            )),
        }
    }
}

/// The devnet's sequencer: one operator, or a SQUAD set in process.
enum DevnetSequencer {
    Single(Box<SingleSequencer<EvmStateTransition>>),
    Squad(Box<SquadSequencer<EvmStateTransition>>),
}

impl DevnetSequencer {
    fn submit(
        &mut self,
        tx: alloy_consensus::transaction::Recovered<alloy_consensus::TxEnvelope>,
    ) -> Result<B256, altlayer_core::sequencer::SubmitError> {
        match self {
            Self::Single(s) => s.submit(tx),
            Self::Squad(s) => s.submit(tx),
        }
    }

    /// The single sequencer builds a block on every tick; SQUAD's consensus runs up to `now`
    /// and the blocks it committed are executed.
    fn produce(
        &mut self,
        now_ms: u64,
    ) -> Result<Vec<SequencerEvent>, altlayer_core::sequencer::SequencerError> {
        match self {
            Self::Single(s) => s.build_now(now_ms),
            Self::Squad(s) => s.on_tick(now_ms),
        }
    }

    fn state_root(&self) -> B256 {
        match self {
            Self::Single(s) => s.state_transition().state_root(),
            Self::Squad(s) => s.state_transition().state_root(),
        }
    }

    /// The single sequencer (fault drills and rewinds need its replica).
    fn single(&mut self) -> Option<&mut SingleSequencer<EvmStateTransition>> {
        match self {
            Self::Single(s) => Some(s),
            Self::Squad(_) => None,
        }
    }
}

/// Settings of a devnet run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevnetConfig {
    /// Blocks to produce before stopping; `None` runs until Ctrl-C.
    pub blocks: Option<u64>,
    /// Transactions the load generator sends per block.
    pub txs_per_block: usize,
    /// Time between blocks.
    pub block_time_ms: u64,
    /// Blocks per batch posted to DA and settlement.
    pub batch_blocks: u64,
    /// Challenge window of the local settlement layer, in seconds.
    pub challenge_window_secs: u64,
    /// The rollup's execution settings.
    pub rollup: RollupConfig,
    /// Sequencers: 1 runs the single sequencer, 4 or more a SQUAD set.
    pub sequencers: usize,
    /// A fault to inject (single sequencer only).
    pub fault: Option<Fault>,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        Self {
            blocks: None,
            txs_per_block: 200,
            block_time_ms: 1_000,
            batch_blocks: 5,
            challenge_window_secs: 2,
            rollup: RollupConfig::default(),
            sequencers: 1,
            fault: None,
        }
    }
}

/// Why a devnet run stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevnetError {
    /// A configuration value is out of range.
    #[error("invalid devnet setting: {0}")]
    Config(String),
    /// The sequencer failed.
    #[error("sequencer: {0}")]
    Sequencer(#[from] altlayer_core::sequencer::SequencerError),
    /// Publishing or retrieving a batch failed.
    #[error("data availability: {0}")]
    Da(#[from] altlayer_core::da::DaError),
    /// Settlement refused a batch.
    #[error("settlement: {0}")]
    Settlement(#[from] altlayer_core::settlement::SettlementError),
    /// The VITAL operator could not follow the chain.
    #[error("verifier cannot follow batch {index}: {reason}")]
    Verification {
        /// Batch index.
        index: u64,
        /// Why.
        reason: String,
    },
    /// A VITAL challenge could not be played or enforced.
    #[error("vital: {0}")]
    Vital(String),
    /// Writing the report failed.
    #[error("output: {0}")]
    Io(#[from] std::io::Error),
}

/// What a devnet run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DevnetSummary {
    /// Blocks produced.
    pub blocks: u64,
    /// Transactions included.
    pub transactions: u64,
    /// Transactions the sequencer left out.
    pub rejected: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Batches posted.
    pub batches: u64,
    /// Highest final height.
    pub finalized_height: Option<u64>,
    /// Final state root.
    pub state_root: B256,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Time spent building blocks (decode to state root).
    pub busy: Duration,
    /// Challenges the VITAL operator won (frauds caught, proven and reverted).
    pub frauds_caught: u64,
    /// Batches reverted.
    pub reverted_batches: u64,
    /// Transactions re-executed after reverts.
    pub reexecuted: u64,
    /// ALT slashed from the sequencer.
    pub slashed: U256,
}

impl DevnetSummary {
    /// Included transactions per second of wall time.
    pub fn tx_per_sec(&self) -> f64 {
        self.transactions as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// Included transactions per second of block-building time: the pipeline's capacity.
    pub fn busy_tx_per_sec(&self) -> f64 {
        self.transactions as f64 / self.busy.as_secs_f64().max(f64::EPSILON)
    }

    /// Million gas per second of block-building time.
    pub fn busy_mgas_per_sec(&self) -> f64 {
        self.gas_used as f64 / 1e6 / self.busy.as_secs_f64().max(f64::EPSILON)
    }
}

/// The load generator: funded accounts, each with its next nonce, and the counter contract.
struct Load {
    chain_id: u64,
    accounts: Vec<DevAccount>,
    nonces: Vec<u64>,
    cursor: usize,
    contract: Option<Address>,
}

impl Load {
    fn new(chain_id: u64, accounts: usize) -> Self {
        Self {
            chain_id,
            accounts: DevAccount::many(accounts as u64),
            nonces: vec![0; accounts],
            cursor: 0,
            contract: None,
        }
    }

    /// Signed EIP-2718 bytes for the next block: `count` transactions, the first of which
    /// deploys the counter (first block) or calls it (later blocks); the rest are transfers,
    /// each from a different account while there are enough of them.
    fn next_block(&mut self, count: usize) -> Vec<Bytes> {
        use rayon::prelude::*;
        let mut plan = Vec::with_capacity(count);
        for i in 0..count {
            let index = self.cursor;
            self.cursor = (self.cursor + 1) % self.accounts.len();
            let nonce = self.nonces[index];
            self.nonces[index] += 1;
            let kind = match (i, self.contract) {
                (0, None) => {
                    let address = self.accounts[index].address.create(nonce);
                    self.contract = Some(address);
                    TxKind::Create
                }
                (0, Some(contract)) => TxKind::Call(contract),
                _ => TxKind::Call(self.accounts[(index + 1) % self.accounts.len()].address),
            };
            plan.push((index, nonce, kind, i == 0));
        }
        let chain_id = self.chain_id;
        let accounts = &self.accounts;
        plan.into_par_iter()
            .map(|(index, nonce, kind, contract_tx)| {
                let account = &accounts[index];
                let tx = if contract_tx {
                    let input = if kind == TxKind::Create {
                        counter_init_code()
                    } else {
                        Bytes::new()
                    };
                    account.call(chain_id, nonce, kind, input, 200_000)
                } else {
                    let TxKind::Call(to) = kind else {
                        unreachable!("transfers have a recipient")
                    };
                    account.transfer(chain_id, nonce, to, U256::from(1_000_000_000u64))
                };
                tx.encoded_2718().into()
            })
            .collect()
    }
}

/// Runs a devnet, writing one line per block and per batch and a summary to `out`, until the
/// configured number of blocks or until `stop` resolves (Ctrl-C in the binary).
pub async fn run(
    config: DevnetConfig,
    out: &mut (dyn Write + Send),
    stop: impl std::future::Future<Output = ()>,
) -> Result<DevnetSummary, DevnetError> {
    if config.block_time_ms == 0 {
        return Err(DevnetError::Config(
            "--block-time-ms must be at least 1".into(),
        ));
    }
    if config.batch_blocks == 0 {
        return Err(DevnetError::Config(
            "--batch-blocks must be at least 1".into(),
        ));
    }
    let accounts = config.txs_per_block.clamp(16, 100_000);
    // The node is the I/O layer: it reads the wall clock and hands time to the cores.
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let genesis = EvmStateTransition::new(
        config.rollup.clone(),
        dev_state(accounts as u64),
        unix_ms / 1_000,
        DEFAULT_INITIAL_BASE_FEE,
    );
    let genesis_root = genesis.state_root();
    let sequencer_address = Address::repeat_byte(0x5e);
    if config.fault.is_some() && config.sequencers != 1 {
        return Err(DevnetError::Config(
            "--fault runs with the single sequencer (--sequencers 1)".into(),
        ));
    }
    let mut vital = Vital::new(&config, sequencer_address, genesis.clone())?;
    // The sequencer's replica before each batch not yet final: where it rewinds to.
    let mut checkpoints: BTreeMap<u64, EvmStateTransition> = BTreeMap::from([(0, genesis.clone())]);
    let mut fault = config.fault;
    let mut sequencer = match config.sequencers {
        1 => DevnetSequencer::Single(Box::new(SingleSequencer::new(
            genesis,
            SequencerConfig {
                block_time_ms: config.block_time_ms,
                max_txs_per_block: config.txs_per_block.max(1),
                address: sequencer_address,
                intermediate_roots: true,
                ..Default::default()
            },
        ))),
        n if n >= altlayer_avs::squad::MIN_SEQUENCERS => DevnetSequencer::Squad(Box::new(
            SquadSequencer::new(
                genesis,
                SquadSequencerConfig {
                    sequencers: n,
                    block_time_ms: config.block_time_ms,
                    coinbase: sequencer_address,
                    intermediate_roots: true,
                    max_block_transactions: config.txs_per_block.max(1),
                    ..Default::default()
                },
                unix_ms,
            )
            .map_err(|e| DevnetError::Config(e.to_string()))?,
        )),
        n => {
            return Err(DevnetError::Config(format!(
                "--sequencers {n}: 1 runs a single sequencer, a SQUAD set needs at least {}",
                altlayer_avs::squad::MIN_SEQUENCERS
            )));
        }
    };
    let da = InMemoryDa::default();
    let settlement = LocalSettlement::new(
        config.rollup.rollup_id,
        genesis_root,
        config.challenge_window_secs,
        U256::from(1),
    );
    let mut finality = ChallengeWindowFinality::new(config.challenge_window_secs);
    let mut load = Load::new(config.rollup.chain_id, accounts);

    writeln!(
        out,
        "devnet: chain {} {}, {} funded accounts, {} tx/block, block time {} ms, {}, genesis root {genesis_root}",
        config.rollup.chain_id,
        config.rollup.rollup_id,
        accounts,
        config.txs_per_block,
        config.block_time_ms,
        match config.sequencers {
            1 => "single sequencer".to_owned(),
            n => format!("SQUAD with {n} sequencers"),
        }
    )?;

    let mut summary = DevnetSummary::default();
    let mut pending_blocks: Vec<(Block, Vec<B256>)> = Vec::new();
    let mut batch_pre_root = genesis_root;
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(config.block_time_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);

    while config.blocks.is_none_or(|n| summary.blocks < n) {
        tokio::select! {
            _ = &mut stop => {
                writeln!(out, "devnet: interrupted")?;
                break;
            }
            _ = ticker.tick() => {}
        }
        // The load generator plays the network: signing is not part of the pipeline's time.
        let raw = load.next_block(config.txs_per_block);
        let block_started = Instant::now();
        // The full pipeline from wire bytes: decode and recover in parallel, then pool.
        for tx in decode_and_recover_all(&raw, config.rollup.max_tx_size) {
            match tx {
                Ok(tx) => {
                    if let Err(err) = sequencer.submit(tx) {
                        summary.rejected += 1;
                        tracing::warn!(%err, "load generator transaction refused");
                    }
                }
                Err(err) => {
                    summary.rejected += 1;
                    tracing::warn!(%err, "load generator transaction invalid");
                }
            }
        }
        if let (Some(Fault::BadStateRootAt(height)), Some(single)) = (fault, sequencer.single())
            && single.state_transition().head().height + 1 == height
        {
            single.state_transition_mut().corrupt_state(|state| {
                let stolen = U256::from(1_000u64) * U256::from(ALT);
                state.set_balance(
                    sequencer_address,
                    state.balance(&sequencer_address) + stolen,
                );
            });
            fault = None;
            writeln!(
                out,
                "fault   sequencer credits itself 1000 ether outside any transaction before block {height}"
            )?;
        }
        let now_ms = unix_ms + started.elapsed().as_millis() as u64;
        let events = sequencer.produce(now_ms)?;
        let busy = block_started.elapsed();
        summary.busy += busy;
        for event in events {
            match event {
                SequencerEvent::Block(built) => {
                    let header: &Header = &built.block.header;
                    summary.blocks += 1;
                    summary.transactions += built.block.transactions.len() as u64;
                    summary.gas_used += header.gas_used;
                    finality.on_block(header.height);
                    writeln!(
                        out,
                        "block {:>5}  txs {:>5}  gas {:>10}  root {}  {:>7.1} ms",
                        header.height,
                        built.block.transactions.len(),
                        header.gas_used,
                        header.state_root,
                        busy.as_secs_f64() * 1e3
                    )?;
                    pending_blocks.push((built.block, built.outcome.intermediate_roots));
                }
                SequencerEvent::Rejected(rejected) => {
                    summary.rejected += 1;
                    writeln!(out, "  rejected {}: {}", rejected.hash, rejected.error)?;
                }
                _ => {}
            }
        }

        let now_secs = started.elapsed().as_secs();
        settlement.set_time(now_secs);
        if let Some(height) = finality.on_tick(settlement.now().await?) {
            writeln!(
                out,
                "final   up to height {height} (challenge window passed)"
            )?;
        }
        // SQUAD may commit several blocks in one tick: every full batch's worth goes out.
        while pending_blocks.len() as u64 >= config.batch_blocks {
            let index = vital.next_batch;
            let take = usize::try_from(config.batch_blocks).unwrap_or(usize::MAX);
            let (blocks, roots): (Vec<Block>, Vec<Vec<B256>>) =
                pending_blocks.drain(..take).unzip();
            let post_state_root = blocks
                .last()
                .map(|b| b.header.state_root)
                .unwrap_or(batch_pre_root);
            let batch = Batch {
                rollup_id: config.rollup.rollup_id,
                index,
                pre_state_root: batch_pre_root,
                post_state_root,
                blocks,
                intermediate_roots: roots.concat(),
            };
            let da_ref = da.publish(&batch).await?;
            let commitment =
                BatchCommitment::new(&batch, config.rollup.chain_id, da_ref, sequencer_address);
            settlement.commit_batch(commitment.clone()).await?;
            let now = settlement.now().await?;
            finality.on_batch_committed(&commitment, now);
            vital.follow(&batch, now);
            writeln!(
                out,
                "batch {index:>5}  blocks {}..={}  txs {:>6}  DA position {}  committed",
                batch.first_height().unwrap_or_default(),
                batch.last_height().unwrap_or_default(),
                batch.transaction_count(),
                da_ref.position
            )?;
            vital.next_batch += 1;
            batch_pre_root = post_state_root;
            summary.batches += 1;
            // The sequencer's head is the batch's last block when nothing is pending (always
            // so for the single sequencer, one block per tick): its replica is the next
            // batch's pre-state, where a revert of that batch rewinds to.
            if let (true, Some(single)) = (pending_blocks.is_empty(), sequencer.single()) {
                checkpoints.insert(vital.next_batch, single.state_transition().clone());
                // Only batches still in their window can be reverted.
                while checkpoints.len() > 16 {
                    checkpoints.pop_first();
                }
            }
            // A VITAL operator reads the batch back from DA and re-executes it.
            let fetched = da.retrieve(&da_ref).await?;
            let (check, actions) = vital.operator.on_batch(&fetched);
            match check {
                BatchCheck::Valid => {
                    writeln!(out, "vital   batch {index} re-executed: every root right")?
                }
                BatchCheck::Wrong { step, invalid } => {
                    let plan =
                        plan_step(&fetched, step).map_err(|e| DevnetError::Vital(e.to_string()))?;
                    let part = plan
                        .parts
                        .iter()
                        .find(|p| p.transaction.is_some())
                        .or(plan.parts.last());
                    let (height, tx) = part.map_or((0, None), |p| {
                        (fetched.blocks[p.block].header.height, p.transaction)
                    });
                    writeln!(
                        out,
                        "vital   batch {index} re-executed: the root after step {step} (block {height}, transaction {}) is wrong{}",
                        tx.map_or_else(|| "none".to_string(), |t| t.to_string()),
                        invalid.map_or_else(String::new, |e| format!(" ({e})"))
                    )?;
                }
                BatchCheck::Unknown | BatchCheck::Stuck(_) => {
                    return Err(DevnetError::Verification {
                        index,
                        reason: format!("{check:?}"),
                    });
                }
            }
            for action in actions {
                let Action::Challenge {
                    batch: challenged,
                    bond,
                } = action
                else {
                    continue;
                };
                finality.on_challenge(challenged);
                let enforcement = vital.challenge(&settlement, &commitment, &fetched, bond, out)?;
                let Some(from) = enforcement.reverted_from else {
                    finality.on_challenge_failed(challenged);
                    continue;
                };
                finality.on_revert(from);
                summary.frauds_caught += 1;
                summary.reverted_batches += vital.next_batch - from;
                if let Some(slash) = &enforcement.slash {
                    summary.slashed += slash.slashed;
                }
                // Rewind: the sequencer goes back to its replica before the reverted batch and
                // re-executes the reverted transactions in its next blocks.
                let Some(checkpoint) = checkpoints.get(&from).cloned() else {
                    return Err(DevnetError::Vital(format!(
                        "no checkpoint before batch {from}"
                    )));
                };
                // Blocks built after the reverted batch built on it: they go too.
                let requeue: Vec<_> = fetched
                    .blocks
                    .iter()
                    .chain(std::mem::take(&mut pending_blocks).iter().map(|(b, _)| b))
                    .flat_map(|b| b.transactions.iter().cloned())
                    .filter_map(|tx| recover(tx, RecoveryBackend::Libsecp256k1).ok())
                    .collect();
                let count = requeue.len() as u64;
                let (height, root) = (checkpoint.head().height, checkpoint.state_root());
                if let Some(single) = sequencer.single() {
                    single.rewind(checkpoint, requeue);
                }
                checkpoints.split_off(&(from + 1));
                vital.operator.on_revert(from);
                vital.next_batch = from;
                batch_pre_root = root;
                summary.reexecuted += count;
                writeln!(
                    out,
                    "vital   sequencer rewound to height {height} (root {root}); re-executing {count} reverted transactions"
                )?;
            }
        }
    }

    summary.elapsed = started.elapsed();
    if summary.frauds_caught > 0 {
        writeln!(
            out,
            "summary: {} fraud(s) caught, proven and reverted ({} batch(es)), {} ALT slashed from the sequencer, {} transactions re-executed",
            summary.frauds_caught,
            summary.reverted_batches,
            summary.slashed / U256::from(ALT),
            summary.reexecuted
        )?;
    }
    summary.finalized_height = finality.finalized_height();
    summary.state_root = sequencer.state_root();
    writeln!(
        out,
        "summary: {} blocks, {} txs ({} rejected), {} batches, final height {}, state root {}",
        summary.blocks,
        summary.transactions,
        summary.rejected,
        summary.batches,
        summary
            .finalized_height
            .map_or_else(|| "none".to_string(), |h| h.to_string()),
        summary.state_root
    )?;
    writeln!(
        out,
        "summary: {:.0} tx/s over {:.2} s wall time; pipeline {:.0} tx/s, {:.1} Mgas/s while building",
        summary.tx_per_sec(),
        summary.elapsed.as_secs_f64(),
        summary.busy_tx_per_sec(),
        summary.busy_mgas_per_sec()
    )?;
    Ok(summary)
}

/// The devnet's VITAL side: the court and the ALT ledger at settlement, and one operator.
struct Vital {
    court: Court,
    ledger: AltLedger,
    accounts: Accounts,
    operator: VitalOperator,
    sequencer: Address,
    next_batch: u64,
}

impl Vital {
    const BOND: u64 = 1_000;

    fn new(
        config: &DevnetConfig,
        sequencer: Address,
        genesis: EvmStateTransition,
    ) -> Result<Self, DevnetError> {
        let accounts = Accounts {
            authority: Address::repeat_byte(0xaa),
            escrow: Address::repeat_byte(0xe5),
            proposers: OperatorSetId::new(Service::Squad, config.rollup.rollup_id),
        };
        let operator = Address::repeat_byte(0x7a);
        let staking = |e: altlayer_staking::StakingError| DevnetError::Vital(e.to_string());
        let mut ledger = AltLedger::new(
            StakingParams::default(),
            accounts.authority,
            config.rollup.chain_id,
        )
        .map_err(staking)?;
        let alt = |n: u64| U256::from(n) * U256::from(ALT);
        ledger
            .create_set(
                &accounts.authority,
                accounts.proposers,
                OperatorSetConfig { min_stake: alt(1) },
            )
            .map_err(staking)?;
        ledger
            .register_operator(sequencer, OperatorKey::EcdsaOnly, 1_000)
            .map_err(staking)?;
        ledger
            .mint(&accounts.authority, &sequencer, alt(100_000))
            .map_err(staking)?;
        ledger.stake(&sequencer, alt(100_000)).map_err(staking)?;
        ledger
            .delegate(&sequencer, &sequencer, alt(100_000))
            .map_err(staking)?;
        ledger
            .join_set(&sequencer, accounts.proposers)
            .map_err(staking)?;
        ledger
            .mint(&accounts.authority, &operator, alt(10 * Self::BOND))
            .map_err(staking)?;
        let court = Court::new(CourtConfig {
            rollup: config.rollup.clone(),
            move_timeout: 60,
            min_bond: alt(Self::BOND),
        });
        Ok(Self {
            court,
            ledger,
            accounts,
            operator: VitalOperator::new(operator, alt(Self::BOND), Conduct::Honest, genesis, 0),
            sequencer,
            next_batch: 0,
        })
    }

    /// The ledger follows the rollup's height, so a slash can name a block's stake.
    fn follow(&mut self, batch: &Batch, now: u64) {
        let height = batch.last_height().unwrap_or_default();
        if height > self.ledger.height() {
            let _ = self.ledger.advance(height, now.max(self.ledger.now()));
        }
    }

    /// Plays a challenge of `batch` to its end at the court and enforces the decision,
    /// printing each step.
    fn challenge(
        &mut self,
        settlement: &LocalSettlement,
        commitment: &BatchCommitment,
        batch: &Batch,
        bond: U256,
        out: &mut (dyn Write + Send),
    ) -> Result<Enforcement, DevnetError> {
        let vital = |e: &dyn std::fmt::Display| DevnetError::Vital(e.to_string());
        let challenger = self.operator.address();
        let now = settlement.time();
        settlement
            .challenge(batch.index, challenger, bond)
            .map_err(|e| vital(&e))?;
        lock_bond(&mut self.ledger, &self.accounts, &challenger, bond).map_err(|e| vital(&e))?;
        let id = self
            .court
            .open(commitment, batch, challenger, bond, now)
            .map_err(|e| vital(&e))?;
        self.operator.on_opened(id, batch.index, challenger);
        writeln!(
            out,
            "vital   operator {challenger} challenges batch {} with a {} ALT bond: bisection over {} steps",
            batch.index,
            Self::BOND,
            altlayer_core::execution::stateless::step_count(batch)
        )?;
        let mut round = 0;
        let decision = loop {
            let dispute = self
                .court
                .dispute(id)
                .cloned()
                .ok_or_else(|| DevnetError::Vital(format!("dispute {id} vanished")))?;
            let played = match dispute.status() {
                Status::Bisecting {
                    turn: Party::Proposer,
                    ..
                } => {
                    let mv = proposer_move(batch, &dispute)
                        .ok_or_else(|| DevnetError::Vital("no proposer move".into()))?;
                    self.court
                        .play(id, now, self.sequencer, mv)
                        .map_err(|e| vital(&e))?
                }
                Status::Bisecting { .. } | Status::OneStep { .. } => {
                    let actions = self.operator.on_dispute(id, &dispute);
                    let Some(action) = actions.into_iter().next() else {
                        return Err(DevnetError::Vital("the operator has no move".into()));
                    };
                    match action {
                        Action::Play { mv, .. } => {
                            if let (Move::Verdict { agree }, Some((index, root))) =
                                (mv, dispute.pending())
                            {
                                round += 1;
                                writeln!(
                                    out,
                                    "vital     round {round}: sequencer's root after step {index} {root}; operator {}",
                                    if agree { "agrees" } else { "disagrees" }
                                )?;
                            }
                            self.court
                                .play(id, now, challenger, mv)
                                .map_err(|e| vital(&e))?
                        }
                        Action::Prove { witness, .. } => {
                            let Status::OneStep {
                                index,
                                claimed_root,
                                ..
                            } = dispute.status()
                            else {
                                unreachable!("a proof is offered only at the last step")
                            };
                            writeln!(
                                out,
                                "vital     one-step proof of step {index}: witness of {} trie nodes, {} contracts, {} bytes; the sequencer claims {claimed_root}",
                                witness.state.len(),
                                witness.codes.len(),
                                witness.size()
                            )?;
                            Some(self.court.prove(id, now, &witness).map_err(|e| vital(&e))?)
                        }
                        Action::Challenge { .. } => None,
                    }
                }
                Status::Decided { .. } => None,
            };
            if let Some(decision) = played {
                break decision;
            }
        };
        self.operator.on_decided(id);
        writeln!(
            out,
            "vital   decided: {:?} wins by {:?} at step {} (block {})",
            decision.winner,
            decision.reason,
            decision.step.map_or_else(|| "-".into(), |s| s.to_string()),
            decision.height
        )?;
        let enforcement = enforce(
            decision,
            &mut self.court,
            settlement,
            &mut self.ledger,
            &self.accounts,
        )
        .map_err(|e| vital(&e))?;
        if let Some(from) = enforcement.reverted_from {
            writeln!(
                out,
                "vital   settlement reverted batch {from} and every later one"
            )?;
        }
        match (&enforcement.slash, &enforcement.slash_refused) {
            (Some(slash), _) => writeln!(
                out,
                "vital   sequencer {} slashed {} ALT; challenger paid {} ALT and its bond back",
                slash.operator,
                slash.slashed / U256::from(ALT),
                slash.reward / U256::from(ALT)
            )?,
            (None, Some(refused)) => writeln!(out, "vital   no slash: {refused}")?,
            (None, None) => writeln!(
                out,
                "vital   the batch stands; the challenger forfeits {} ALT",
                enforcement.forfeited / U256::from(ALT)
            )?,
        }
        Ok(enforcement)
    }
}
