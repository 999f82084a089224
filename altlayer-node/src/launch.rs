//! `altlayer launch`: the rollup a spec describes, composed from its components with the
//! builder and run with tokio in this process until Ctrl-C (or the end of its lifetime).
//!
//! The spec chooses the components: a single sequencer or an in-process SQUAD set, MACH's
//! committee or the plain challenge window, in-memory or directory DA. Each combination is a
//! different [`Rollup`] type, built by swapping components in the builder, and driven by the
//! same generic loop.

use crate::{
    da::DirectoryDa,
    report::{Report, Summary},
    rpc::{NodePool, PoolCommand},
    runner,
    spec::{DaKind, SequencingMode, Spec, SpecError},
    storage::{NodeStore, NodeStoreError, Resume},
};
use alloy_primitives::{Bytes, U256};
use altlayer_avs::{
    mach::committee::{CommitteeConfig, MachCommittee, MachConduct},
    qc::Threshold,
    restaked::{Restaked, RestakedConfig, RestakedError, alt},
    squad::{
        Behaviour,
        sequencer::{SquadSequencer, SquadSequencerConfig},
    },
    vital::operator::{Conduct, VitalOperator},
};
use altlayer_core::{
    Batch, DataAvailability, EvmStateTransition, FinalityGadget, Sequencer,
    da::{DaError, InMemoryDa},
    ledger::RollupLedger,
    persist::PersistError,
    primitives::DaRef,
    rollup::{BuildError, Input, Rollup, RollupError, RollupEvent, RollupSettings},
    sequencer::SingleSequencer,
    settlement::LocalSettlement,
    verifier::Verifier,
};
use altlayer_rpc::{MemoryChain, MemoryChainOptions, RpcConfig, RpcServer};
use async_trait::async_trait;
use std::{
    io::Write,
    net::SocketAddr,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::mpsc;

/// Faults to inject, to watch the rollup catch them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Before building this block, the sequencer credits itself 1,000 ether outside any
    /// transaction: the block's state root is wrong.
    pub bad_state_root_at: Option<u64>,
    /// A SQUAD sequencer (not the one whose node runs the rollup) signs two different
    /// messages for every slot.
    pub equivocate: bool,
    /// This many MACH operators never sign.
    pub mach_offline: usize,
}

/// A load generator: the transactions (EIP-2718 bytes) to submit before the next block, given
/// the replica at the head.
pub type Workload = Box<dyn FnMut(&EvmStateTransition) -> Vec<Bytes> + Send>;

/// How to run.
#[derive(Default)]
pub struct RunOptions {
    /// Stop once the chain's head reaches this height (`None`: until Ctrl-C or the end of the
    /// lifetime). Blocks built again after a revert do not count twice.
    pub blocks: Option<u64>,
    /// Transactions (EIP-2718 bytes) to submit before each block, as a load generator, given
    /// the replica at the head (a resumed node's load goes on from the stored nonces).
    pub workload: Option<Workload>,
    /// Faults to inject.
    pub faults: Faults,
    /// The first line's description of the run (`devnet: ...`).
    pub title: Option<String>,
    /// Where to serve the JSON-RPC, over the spec's `[rpc] http`.
    pub rpc: Option<SocketAddr>,
    /// Lines to print once the JSON-RPC listens, given the address it listens on (the devnet
    /// prints its wallet accounts there, so port 0 shows the port it got).
    pub on_rpc: Option<Box<dyn FnOnce(SocketAddr) -> String + Send>>,
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// The spec is refused.
    #[error("spec: {0}")]
    Spec(#[from] SpecError),
    /// The operators could not be set up.
    #[error("operators: {0}")]
    Operators(#[from] RestakedError),
    /// A component could not be made.
    #[error("{0}")]
    Component(String),
    /// The rollup could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The rollup cannot go on.
    #[error(transparent)]
    Rollup(#[from] RollupError),
    /// The node's database cannot be used.
    #[error(transparent)]
    Storage(#[from] NodeStoreError),
    /// DA could not be opened.
    #[error("data availability: {0}")]
    Da(#[from] DaError),
    /// Writing the report failed.
    #[error("output: {0}")]
    Io(#[from] std::io::Error),
    /// The JSON-RPC could not listen.
    #[error("JSON-RPC on {addr}: {reason}")]
    Rpc {
        /// Where it was to listen.
        addr: SocketAddr,
        /// Why it could not.
        reason: String,
    },
}

/// The DA layer the spec chose.
#[derive(Debug)]
pub enum NodeDa {
    /// In memory.
    Memory(InMemoryDa),
    /// In a directory.
    Directory(DirectoryDa),
}

#[async_trait]
impl DataAvailability for NodeDa {
    async fn publish(&self, batch: &Batch) -> Result<DaRef, DaError> {
        match self {
            Self::Memory(da) => da.publish(batch).await,
            Self::Directory(da) => da.publish(batch).await,
        }
    }

    async fn retrieve(&self, reference: &DaRef) -> Result<Batch, DaError> {
        match self {
            Self::Memory(da) => da.retrieve(reference).await,
            Self::Directory(da) => da.retrieve(reference).await,
        }
    }

    fn persist(&self) -> Result<Vec<u8>, PersistError> {
        match self {
            Self::Memory(da) => da.persist(),
            Self::Directory(da) => da.persist(),
        }
    }

    fn restore(&self, record: &[u8]) -> Result<(), PersistError> {
        match self {
            Self::Memory(da) => da.restore(record),
            Self::Directory(da) => da.restore(record),
        }
    }
}

/// A sequencer whose replica a fault drill can be armed on.
pub trait Drill {
    /// The replica that builds the blocks the rollup posts.
    fn replica_mut(&mut self) -> Option<&mut EvmStateTransition>;
}

impl Drill for SingleSequencer<EvmStateTransition> {
    fn replica_mut(&mut self) -> Option<&mut EvmStateTransition> {
        Some(self.state_transition_mut())
    }
}

impl Drill for SquadSequencer<EvmStateTransition> {
    /// The first sequencer's: the one whose node runs the rollup and posts its batches.
    fn replica_mut(&mut self) -> Option<&mut EvmStateTransition> {
        self.member_mut(0).map(|first| first.state_transition_mut())
    }
}

/// Milliseconds since the Unix epoch: the node is the I/O layer and reads the clock for the
/// cores.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs the rollup `spec` describes (`base` is the directory its relative paths are from),
/// writing its report to `out`, until `options.blocks`, the end of its lifetime, or `stop`.
pub async fn run(
    spec: &Spec,
    base: &Path,
    mut options: RunOptions,
    out: &mut (dyn Write + Send),
    stop: impl std::future::Future<Output = ()>,
) -> Result<Summary, LaunchError> {
    spec.validate()?;
    let node_store = NodeStore::open(spec, base)?;
    let (genesis, resume) = match &node_store {
        Some(store) => store.open_chain(
            spec.rollup_config()?,
            spec.genesis_digest(base)?,
            &composition(spec),
            || spec.genesis_alloc(base),
        )?,
        None => (spec.genesis(base)?, None),
    };
    let faults = options.faults;
    let restaked = dev_operators(spec, genesis.config().rollup_id, &faults)?;
    let rpc_addr = match options.rpc {
        Some(addr) => Some(addr),
        None => spec.rpc_addr()?,
    };
    let chain_options = MemoryChainOptions {
        states: spec.rpc.states,
        fast_finality: spec.avs.mach.operators > 0,
        ..Default::default()
    };
    let chain = Arc::new(match &node_store {
        Some(store) => {
            let failed = |error: altlayer_core::storage::StorageError| NodeStoreError::Storage {
                dir: store.dir.clone(),
                error: error.into(),
            };
            // A resumed chain's RPC starts at the recorded head.
            let head = match resume {
                Some(resume) => EvmStateTransition::open_at(
                    genesis.config().clone(),
                    store.store.clone(),
                    resume.head.height,
                )
                .map_err(|e| {
                    failed(altlayer_core::storage::StorageError::Backend(e.to_string()))
                })?,
                None => genesis.clone(),
            };
            MemoryChain::stored(&head, store.store.clone(), chain_options).map_err(failed)?
        }
        None => MemoryChain::new(&genesis, chain_options),
    });
    for set in crate::rpc::operator_sets(&restaked, spec.avs.mach.threshold) {
        chain.set_operators(set);
    }
    let bond = alt(spec.avs.vital.bond);
    let settings = RollupSettings {
        blocks_per_batch: spec.rollup.blocks_per_batch,
        proposer: restaked.proposer,
        operator: restaked.proposer,
        block_time_ms: spec.rollup.block_time_ms,
        max_txs_per_block: spec.rollup.max_txs_per_block,
        challenge_window_secs: spec.avs.vital.challenge_window_secs,
        move_timeout_secs: spec.move_timeout_secs(),
        challenge_bond: bond,
        verifier: restaked.verifier,
        settlement_poll_ms: 0,
    };
    let da = match spec.da.kind {
        // With a data directory, "memory" DA is kept there: a restart reads its batches.
        DaKind::Memory => match &node_store {
            Some(store) => NodeDa::Directory(DirectoryDa::open(store.dir.join("da"))?),
            None => NodeDa::Memory(InMemoryDa::default()),
        },
        DaKind::Directory => {
            let path = spec.da.path.clone().unwrap_or_default();
            NodeDa::Directory(DirectoryDa::open(base.join(path))?)
        }
    };
    let verifier = VitalOperator::new(restaked.verifier, bond, Conduct::Honest, genesis.clone(), 0);
    let now_ms = unix_ms();
    let header = header(spec, &options, &genesis, &restaked);
    let threshold = Threshold::new(spec.avs.mach.threshold)
        .map_err(|e| LaunchError::Component(e.to_string()))?;
    let mach = (spec.avs.mach.operators > 0).then(|| {
        let (roster, members) = restaked.mach.clone();
        MachCommittee::new(
            CommitteeConfig {
                threshold,
                challenge_window: spec.avs.vital.challenge_window_secs,
                delay_ms: spec.avs.mach.delay_ms,
                task_ttl_ms: spec.rollup.block_time_ms.saturating_mul(10).max(1_000),
            },
            roster,
            members,
            &genesis,
        )
    });
    let set = match &restaked.squad {
        Some((roster, members)) => Some(
            SquadSequencer::new(
                genesis.clone(),
                SquadSequencerConfig {
                    block_time_ms: spec.rollup.block_time_ms,
                    network_delay_ms: spec.avs.mach.delay_ms.max(1),
                    coinbase: restaked.proposer,
                    intermediate_roots: true,
                    max_block_transactions: spec.rollup.max_txs_per_block,
                    ..Default::default()
                },
                roster.clone(),
                members.clone(),
                now_ms,
            )
            .map_err(|e| LaunchError::Component(format!("SQUAD: {e}")))?,
        ),
        None => None,
    };
    let builder = Rollup::builder(genesis, settings)
        .verifier(verifier)
        .ledger(restaked.ledger)
        .da(da);
    let mut report = Report::new(out, spec.avs.mach.threshold);
    report.line(&header)?;
    report.line(NodeStore::describe(node_store.as_ref(), spec))?;
    let rpc = match rpc_addr {
        Some(addr) => Some(serve(spec, addr, chain.clone()).await?),
        None => None,
    };
    if let Some(rpc) = &rpc {
        report.line(format!(
            "rpc     {} (HTTP and WebSocket, chain id {})",
            rpc.server.http_url(),
            spec.rollup.chain_id
        ))?;
        if let Some(lines) = options.on_rpc.take() {
            report.line(lines(rpc.server.local_addr()))?;
        }
    }
    let ctx = Context {
        spec,
        options,
        now_ms,
        chain,
        rpc,
        records: node_store,
        resume,
    };
    match (set, mach) {
        (None, None) => drive(builder.build()?, ctx, report, stop).await,
        (None, Some(mach)) => drive(builder.finality(mach).build()?, ctx, report, stop).await,
        (Some(set), None) => drive(builder.sequencer(set).build()?, ctx, report, stop).await,
        (Some(set), Some(mach)) => {
            drive(
                builder.sequencer(set).finality(mach).build()?,
                ctx,
                report,
                stop,
            )
            .await
        }
    }
}

fn header(
    spec: &Spec,
    options: &RunOptions,
    genesis: &EvmStateTransition,
    restaked: &Restaked,
) -> String {
    let sequencing = match spec.sequencing.mode {
        SequencingMode::Single => "single sequencer".to_owned(),
        SequencingMode::Squad => format!("SQUAD with {} sequencers", spec.sequencing.sequencers()),
    };
    let mach = match spec.avs.mach.operators {
        0 => "no MACH".to_owned(),
        n => format!("MACH {n} operators (>= {} %)", spec.avs.mach.threshold),
    };
    let _ = restaked;
    format!(
        "{}: chain {} rollup {}, {}block time {} ms, {sequencing}, {mach}, VITAL {} verifier, challenge window {} s, genesis root {}",
        if options.workload.is_some() {
            "devnet"
        } else {
            "launch"
        },
        spec.rollup.chain_id,
        spec.rollup.rollup_id,
        options.title.clone().unwrap_or_default(),
        spec.rollup.block_time_ms,
        spec.avs.vital.verifiers,
        spec.avs.vital.challenge_window_secs,
        genesis.state_root()
    )
}

struct Context<'a> {
    spec: &'a Spec,
    options: RunOptions,
    now_ms: u64,
    chain: Arc<MemoryChain>,
    rpc: Option<Rpc>,
    /// Where the rollup's records go, when it keeps them.
    records: Option<NodeStore>,
    /// Where a restarted node resumes.
    resume: Option<Resume>,
}

/// The components `spec` runs, in words: a chain's records are theirs, so a chain is resumed
/// only with the same.
fn composition(spec: &Spec) -> String {
    let sequencing = match spec.sequencing.mode {
        SequencingMode::Single => "a single sequencer".to_owned(),
        SequencingMode::Squad => format!("a SQUAD set of {}", spec.sequencing.sequencers()),
    };
    match spec.avs.mach.operators {
        0 => format!("{sequencing} and no MACH"),
        n => format!("{sequencing} and a MACH committee of {n}"),
    }
}

/// The JSON-RPC of a run: the server, and the requests for the pool it sends the loop.
struct Rpc {
    server: RpcServer,
    commands: mpsc::Receiver<PoolCommand>,
}

/// Starts the JSON-RPC on `addr`, reading `chain`.
async fn serve(spec: &Spec, addr: SocketAddr, chain: Arc<MemoryChain>) -> Result<Rpc, LaunchError> {
    let (pool, commands) = NodePool::channel(1_024);
    let config = RpcConfig {
        gas_cap: spec.rpc.gas_cap,
        evm_timeout: Duration::from_millis(spec.rpc.evm_timeout_ms),
        max_logs_range: spec.rpc.max_log_range,
        max_logs: spec.rpc.max_logs,
        cors: spec.rpc.cors,
        ..Default::default()
    };
    let server = RpcServer::start(addr, chain, Arc::new(pool), config)
        .await
        .map_err(|e| LaunchError::Rpc {
            addr,
            reason: e.to_string(),
        })?;
    Ok(Rpc { server, commands })
}

/// Runs a built rollup: ticks at the block time (and whenever a component has something due
/// sooner), submits the workload, injects faults, and reports.
async fn drive<S, V, F, L, D>(
    mut rollup: Rollup<S, V, F, L, D, LocalSettlement>,
    mut ctx: Context<'_>,
    mut report: Report<'_>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Summary, LaunchError>
where
    S: Sequencer<Transition = EvmStateTransition> + Drill,
    V: Verifier,
    F: FinalityGadget,
    L: RollupLedger,
    D: DataAvailability,
{
    if let (Some(store), Some(resume)) = (&ctx.records, ctx.resume) {
        let replicas = store.replicas(rollup.state_transition().config().clone());
        rollup
            .restore(&|name| store.record(name), &replicas)
            .map_err(|error| NodeStoreError::Persist {
                dir: store.dir.clone(),
                error: error.into(),
            })?;
        let finalized = rollup.finality().finalized_height();
        if let Some(height) = finalized {
            ctx.chain.apply(
                &[RollupEvent::Finalized { height }],
                rollup.state_transition(),
            );
        }
        report.line(format!(
            "resumed at block {} ({}), final up to {}{}",
            resume.head.height,
            resume.head.hash,
            finalized.map_or("none".into(), |h| h.to_string()),
            match resume.unwound {
                0 => String::new(),
                n => format!("; {n} block(s) written after the last records taken back"),
            }
        ))?;
    }
    let started = Instant::now();
    let origin = ctx.now_ms;
    let clock = |at: Instant| origin + at.duration_since(started).as_millis() as u64;
    let block_time = Duration::from_millis(ctx.spec.rollup.block_time_ms);
    // The load generator keeps one block's worth of transactions waiting: one load before
    // the first block, one more after each block produced.
    let mut loads_due = 1;
    let mut fault = ctx.options.faults.bad_state_root_at;
    let mut armed = None;
    let lifetime = ctx.spec.lifetime.clone();
    // A tick at least once a block time, counted from the last tick: RPC requests arriving
    // faster than that must not push it back.
    let mut tick_by = Instant::now() + block_time;
    tokio::pin!(stop);
    loop {
        if ctx
            .options
            .blocks
            .is_some_and(|n| rollup.head().height >= n)
        {
            break;
        }
        let ending = lifetime.as_ref().is_some_and(|l| {
            l.blocks.is_some_and(|b| rollup.head().height >= b)
                || l.secs.is_some_and(|s| started.elapsed().as_secs() >= s)
        });
        if ending && !rollup.is_ended() && rollup.head().height > 0 {
            if !rollup.is_ending() {
                report.line(format!(
                    "lifetime: the rollup ends at height {}: it takes no more transactions and posts its last batch",
                    rollup.head().height
                ))?;
            }
            rollup.end();
        }
        if rollup.is_ended() {
            report.line(format!(
                "lifetime: every block up to {} is final on L1; the rollup is disposed of",
                rollup.head().height
            ))?;
            break;
        }
        // Wake when a component has something due, and at least once a block time.
        let wake = rollup
            .next_wake()
            .map(|ms| started + Duration::from_millis(ms.saturating_sub(origin)))
            .unwrap_or(tick_by)
            .min(tick_by);
        let requests = async {
            match ctx.rpc.as_mut() {
                Some(rpc) => rpc.commands.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut stop => {
                report.line("devnet: interrupted")?;
                break;
            }
            Some(command) = requests => {
                crate::rpc::answer(&mut rollup, &ctx.chain, command);
                // Answer what else is waiting at once, then go round again (a tick that is due
                // is taken next time: the sleep is then ready at once).
                if let Some(rpc) = ctx.rpc.as_mut() {
                    for _ in 0..1_024 {
                        let Ok(command) = rpc.commands.try_recv() else { break };
                        crate::rpc::answer(&mut rollup, &ctx.chain, command);
                    }
                }
                continue;
            }
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
        tick_by = Instant::now() + block_time;
        if let Some(workload) = ctx.options.workload.as_mut() {
            for _ in 0..std::mem::take(&mut loads_due) {
                // The load generator plays the network: signing is not part of the pipeline's
                // time.
                let raw = workload(rollup.state_transition());
                for result in rollup.submit_raw(&raw) {
                    match result {
                        Ok(hash) => ctx.chain.announce_pending(hash),
                        Err(error) => {
                            report.summary.rejected += 1;
                            tracing::warn!(%error, "load generator transaction refused");
                        }
                    }
                }
            }
        }
        if let Some(height) = fault.take() {
            let thief = rollup.settings().proposer;
            if let Some(replica) = rollup.sequencer_mut().replica_mut() {
                replica.credit_before(height, thief, alt(1_000));
                armed = Some(height);
            }
        }
        let busy = Instant::now();
        let events = runner::step(
            &mut rollup,
            Input::Tick {
                now_ms: clock(Instant::now()),
            },
        )
        .await?;
        let busy = busy.elapsed();
        report.summary.busy += busy;
        // The records are durable before anything of this step leaves the process (the RPC
        // answers from the chain below): a restart resumes at least from here.
        if let Some(store) = &ctx.records
            && !events.is_empty()
        {
            let records = rollup.persist().map_err(|error| NodeStoreError::Persist {
                dir: store.dir.clone(),
                error: error.into(),
            })?;
            store.write_records(&records)?;
        }
        ctx.chain.apply(&events, rollup.state_transition());
        // The drill springs as the block is built: say so before the block's line.
        if let Some(height) = armed
            && !rollup
                .sequencer_mut()
                .replica_mut()
                .is_some_and(|replica| replica.drill_armed())
        {
            armed = None;
            report.line(format!(
                "fault   sequencer credits itself 1000 ether outside any transaction before block {height}"
            ))?;
        }
        loads_due += events
            .iter()
            .filter(|e| matches!(e, altlayer_core::rollup::RollupEvent::Block { .. }))
            .count();
        report.events(&events, busy)?;
    }
    report.summary.elapsed = started.elapsed();
    report.summary.state_root = rollup.head().state_root;
    if let Some(rpc) = ctx.rpc.take() {
        rpc.server.stop().await;
    }
    report.finish()?;
    Ok(report.summary)
}

/// The rollup's operator sets as the spec describes them (development keys): the ALT ledger
/// with the SQUAD, MACH and VITAL sets at genesis, with the drills of `faults`.
pub fn dev_operators(
    spec: &Spec,
    rollup: altlayer_core::RollupId,
    faults: &Faults,
) -> Result<Restaked, LaunchError> {
    let squad = spec.sequencing.mode == SequencingMode::Squad;
    Ok(Restaked::dev(&RestakedConfig {
        chain_id: spec.rollup.chain_id,
        rollup,
        params: spec.staking_params()?,
        sequencers: if squad {
            spec.sequencing.sequencers()
        } else {
            0
        },
        sequencer_stake: alt(spec.sequencing.stake),
        mach_operators: spec.avs.mach.operators,
        mach_stake: alt(spec.avs.mach.stake),
        verifier_balance: alt(spec.avs.vital.verifier_balance),
        fee_per_gas: U256::from(spec.token.fee_per_gas),
        epoch_blocks: spec.token.epoch_blocks,
        sequencer_behaviours: if faults.equivocate {
            vec![(1, Behaviour::Equivocate)]
        } else {
            Vec::new()
        },
        mach_conducts: (0..faults.mach_offline)
            .map(|i| (i, MachConduct::Offline))
            .collect(),
    })?)
}
