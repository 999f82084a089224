//! What a running rollup prints: one line per block and its tiers (soft with the block, fast
//! when its certificate forms, firm when its window passes), batches, verification,
//! challenges with every bisection round, decisions, reverts, slashes and alerts; and the
//! summary at the end.

use alloy_primitives::{Address, B256, U256};
use altlayer_core::{
    ledger::LedgerEvent,
    rollup::RollupEvent,
    settlement::bisection::{Move, Party},
    verifier::BatchCheck,
};
use std::{
    collections::BTreeMap,
    io::Write,
    time::{Duration, Instant},
};

/// One ALT (18 decimals).
const ALT: u64 = 1_000_000_000_000_000_000;

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Blocks produced (including blocks built again after a revert).
    pub blocks: u64,
    /// Transactions included.
    pub transactions: u64,
    /// Transactions refused or left out.
    pub rejected: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Batches committed to settlement.
    pub batches: u64,
    /// Highest firm (L1-final) height.
    pub finalized_height: Option<u64>,
    /// Highest fast-final height.
    pub fast_height: Option<u64>,
    /// Blocks soft-confirmed by the SQUAD set.
    pub soft_confirmed: u64,
    /// Blocks whose fast-finality votes expired below the threshold.
    pub stalled: u64,
    /// Blocks alerted by a quorum of MACH operators.
    pub alerted: u64,
    /// State root at the head when the run ended.
    pub state_root: B256,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Time spent handling ticks (sequencing, every replica's execution, batching,
    /// verification, finality).
    pub busy: Duration,
    /// Challenges the verifier won (frauds caught, proven and reverted).
    pub frauds_caught: u64,
    /// Batches reverted.
    pub reverted_batches: u64,
    /// Transactions handed back to the sequencer after reverts.
    pub reexecuted: u64,
    /// ALT slashed, for any infraction.
    pub slashed: U256,
    /// Equivocations proven (evidence slashed).
    pub equivocations: u64,
    /// ALT charged as fees.
    pub fees: U256,
    /// ALT distributed as rewards.
    pub rewards: U256,
}

impl Summary {
    /// Included transactions per second of wall time.
    pub fn tx_per_sec(&self) -> f64 {
        self.transactions as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// Included transactions per second of handling time: the pipeline's capacity.
    pub fn busy_tx_per_sec(&self) -> f64 {
        self.transactions as f64 / self.busy.as_secs_f64().max(f64::EPSILON)
    }

    /// Million gas per second of handling time.
    pub fn busy_mgas_per_sec(&self) -> f64 {
        self.gas_used as f64 / 1e6 / self.busy.as_secs_f64().max(f64::EPSILON)
    }
}

/// An ALT amount for printing: whole ALT, or with up to six decimals below 1,000.
fn alt(amount: U256) -> String {
    let whole = amount / U256::from(ALT);
    if whole >= U256::from(1_000) || (amount % U256::from(ALT)).is_zero() {
        return whole.to_string();
    }
    let micro = (amount % U256::from(ALT)) / U256::from(ALT / 1_000_000);
    format!("{whole}.{:06}", micro.to::<u64>())
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_owned()
}

/// Writes the events of a run as lines, keeping its [`Summary`].
pub struct Report<'a> {
    out: &'a mut (dyn Write + Send),
    /// The summary so far.
    pub summary: Summary,
    /// When each recent block was produced (for the fast tier's latency).
    produced: BTreeMap<u64, Instant>,
    /// Batches published and not yet committed: heights and transactions.
    published: BTreeMap<u64, ((u64, u64), usize, u64)>,
    /// The verdicts of the current game's challenger, numbered.
    round: u32,
    /// MACH's threshold, in percent.
    threshold_pct: u8,
    /// Operators whose evidence was reported.
    accused: std::collections::BTreeSet<Address>,
}

impl<'a> Report<'a> {
    /// A report writing to `out`; `threshold_pct` is MACH's, for stalled blocks.
    pub fn new(out: &'a mut (dyn Write + Send), threshold_pct: u8) -> Self {
        Self {
            out,
            summary: Summary::default(),
            produced: BTreeMap::new(),
            published: BTreeMap::new(),
            round: 0,
            threshold_pct,
            accused: std::collections::BTreeSet::new(),
        }
    }

    /// Writes one line.
    pub fn line(&mut self, line: impl std::fmt::Display) -> std::io::Result<()> {
        writeln!(self.out, "{line}")
    }

    /// Reports the events of one tick, `busy` the time it took.
    pub fn events(&mut self, events: &[RollupEvent], busy: Duration) -> std::io::Result<()> {
        let now = Instant::now();
        // A block's soft confirmation comes with it: print them on one line.
        let soft: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                RollupEvent::SoftConfirmed { height, .. } => Some(*height),
                _ => None,
            })
            .collect();
        for event in events {
            self.event(event, &soft, busy, now)?;
        }
        Ok(())
    }

    fn event(
        &mut self,
        event: &RollupEvent,
        soft: &[u64],
        busy: Duration,
        now: Instant,
    ) -> std::io::Result<()> {
        let s = &mut self.summary;
        match event {
            RollupEvent::Block { built, .. } => {
                let header = &built.block.header;
                s.blocks += 1;
                s.transactions += built.block.transactions.len() as u64;
                s.gas_used += header.gas_used;
                self.produced.insert(header.height, now);
                while self.produced.len() > 4_096 {
                    self.produced.pop_first();
                }
                let soft = if soft.contains(&header.height) {
                    "  soft"
                } else {
                    ""
                };
                writeln!(
                    self.out,
                    "block {:>5}  txs {:>5}  gas {:>10}  root {}  {:>7.1} ms{soft}",
                    header.height,
                    built.block.transactions.len(),
                    header.gas_used,
                    header.state_root,
                    busy.as_secs_f64() * 1e3
                )?;
            }
            RollupEvent::Rejected(rejected) => {
                s.rejected += 1;
                writeln!(self.out, "  rejected {}: {}", rejected.hash, rejected.error)?;
            }
            RollupEvent::SoftConfirmed { .. } => s.soft_confirmed += 1,
            RollupEvent::FastFinal {
                height,
                certificate,
                ..
            } => {
                s.fast_height = s.fast_height.max(Some(*height));
                let after = self
                    .produced
                    .get(height)
                    .map(|at| now.saturating_duration_since(*at));
                writeln!(
                    self.out,
                    "fast  {height:>5}  {} after the block  (MACH certificate {certificate})",
                    after.map_or_else(
                        || "-".into(),
                        |d| format!("{:.1} ms", d.as_secs_f64() * 1e3)
                    )
                )?;
            }
            RollupEvent::Finalized { height } => {
                s.finalized_height = Some(*height);
                writeln!(
                    self.out,
                    "firm    up to height {height} (challenge window passed)"
                )?;
            }
            RollupEvent::Alerted { height, alert, .. } => {
                s.alerted += 1;
                writeln!(
                    self.out,
                    "mach    block {height} alerted by a quorum of operators (alert {alert}): it and its descendants will never be fast-final"
                )?;
            }
            RollupEvent::Stalled {
                height,
                signed,
                total,
            } => {
                s.stalled += 1;
                let pct = if total.is_zero() {
                    U256::ZERO
                } else {
                    *signed * U256::from(100) / *total
                };
                writeln!(
                    self.out,
                    "mach    block {height} not fast-final: operators with {pct} % of the stake signed, below the {} % threshold",
                    self.threshold_pct
                )?;
            }
            RollupEvent::BatchPublished {
                index,
                da_ref,
                heights,
                transactions,
            } => {
                self.published
                    .insert(*index, (*heights, *transactions, da_ref.position));
            }
            RollupEvent::BatchCommitted { commitment, .. } => {
                s.batches += 1;
                let (heights, txs, position) = self
                    .published
                    .remove(&commitment.index)
                    .unwrap_or(((0, commitment.last_height), 0, commitment.da_ref.position));
                writeln!(
                    self.out,
                    "batch {:>5}  blocks {}..={}  txs {:>6}  DA position {position}  committed",
                    commitment.index, heights.0, heights.1, txs
                )?;
            }
            RollupEvent::BatchChecked {
                index,
                check,
                located,
            } => match check {
                BatchCheck::Valid => {
                    writeln!(
                        self.out,
                        "vital   batch {index} re-executed: every root right"
                    )?;
                }
                BatchCheck::Wrong { step, invalid } => writeln!(
                    self.out,
                    "vital   batch {index} re-executed: the root after step {step} (block {}, transaction {}) is wrong{}",
                    located.map_or(0, |(height, _)| height),
                    located
                        .and_then(|(_, tx)| tx)
                        .map_or_else(|| "none".to_string(), |t| t.to_string()),
                    invalid
                        .as_ref()
                        .map_or_else(String::new, |e| format!(" ({e})"))
                )?,
                BatchCheck::Unknown => writeln!(
                    self.out,
                    "vital   batch {index} does not start from a state the verifier holds"
                )?,
                BatchCheck::Stuck(reason) => {
                    writeln!(
                        self.out,
                        "vital   batch {index} cannot be disputed: {reason}"
                    )?;
                }
            },
            RollupEvent::ChallengeOpened {
                batch,
                challenger,
                bond,
                steps,
                ..
            } => {
                self.round = 0;
                writeln!(
                    self.out,
                    "vital   operator {challenger} challenges batch {batch} with a {} ALT bond: bisection over {steps} steps",
                    alt(*bond)
                )?;
            }
            RollupEvent::Moved {
                party: Party::Challenger,
                mv: Move::Verdict { agree },
                on: Some((index, root)),
                ..
            } => {
                self.round += 1;
                writeln!(
                    self.out,
                    "vital     round {}: sequencer's root after step {index} {root}; operator {}",
                    self.round,
                    if *agree { "agrees" } else { "disagrees" }
                )?;
            }
            RollupEvent::Proved {
                party,
                step,
                nodes,
                codes,
                bytes,
                ..
            } => writeln!(
                self.out,
                "vital     one-step proof of step {step} by the {}: witness of {nodes} trie nodes, {codes} contracts, {bytes} bytes",
                match party {
                    Party::Challenger => "operator",
                    Party::Proposer => "sequencer",
                }
            )?,
            RollupEvent::Decided(resolution) => {
                let decision = &resolution.decision;
                writeln!(
                    self.out,
                    "vital   decided: {:?} wins by {:?} at step {} (block {})",
                    decision.winner,
                    decision.reason,
                    decision.step.map_or_else(|| "-".into(), |s| s.to_string()),
                    decision.height
                )?;
                if let Some(from) = resolution.reverted_from {
                    s.frauds_caught += 1;
                    writeln!(
                        self.out,
                        "vital   settlement reverted batch {from} and every later one"
                    )?;
                }
                if !resolution.forfeited.is_zero() {
                    writeln!(
                        self.out,
                        "vital   the batch stands; the challenger forfeits {} ALT",
                        alt(resolution.forfeited)
                    )?;
                }
            }
            RollupEvent::Rewound {
                from_batch,
                height,
                state_root,
                kept,
                requeued,
            } => {
                s.reverted_batches += 1;
                s.reexecuted += *requeued as u64;
                let _ = from_batch;
                writeln!(
                    self.out,
                    "vital   sequencer rewound to height {height} (root {state_root}), keeping {kept} valid block(s) of the reverted batch; re-executing {requeued} reverted transactions"
                )?;
            }
            RollupEvent::Ledger(event) => self.ledger(event)?,
            RollupEvent::Evidence(evidence) => {
                // Every honest member reports what it saw: one line per offender.
                let offender = evidence.offender().unwrap_or_default();
                if self.accused.insert(offender) {
                    writeln!(
                        self.out,
                        "evidence {} by {offender} at height {} in the {:?} set, submitted to the ALT ledger",
                        evidence.infraction(),
                        evidence.height(),
                        evidence.set().service
                    )?;
                }
            }
            RollupEvent::Warning(warning) => {
                tracing::warn!(%warning);
                writeln!(self.out, "warning {warning}")?;
            }
            _ => {}
        }
        Ok(())
    }

    fn ledger(&mut self, event: &LedgerEvent) -> std::io::Result<()> {
        let s = &mut self.summary;
        match event {
            LedgerEvent::Slashed {
                operator,
                amount,
                reward,
                infraction,
                tombstoned,
                ..
            } => {
                s.slashed += *amount;
                if *infraction == "equivocation" {
                    s.equivocations += 1;
                }
                let who = if *infraction == "invalid state root" {
                    "sequencer"
                } else {
                    "operator"
                };
                writeln!(
                    self.out,
                    "slash   {who} {operator} slashed {} ALT for {infraction}{}; the reporter paid {} ALT{}",
                    alt(*amount),
                    if *tombstoned { " and tombstoned" } else { "" },
                    alt(*reward),
                    if *infraction == "invalid state root" {
                        " and its bond back"
                    } else {
                        ""
                    }
                )?;
            }
            LedgerEvent::SlashRefused { operator, reason } => {
                writeln!(self.out, "slash   no slash of {operator}: {reason}")?;
            }
            LedgerEvent::Fees { amount, .. } => s.fees += *amount,
            LedgerEvent::Rewards { height, amount } => {
                s.rewards += *amount;
                writeln!(
                    self.out,
                    "alt     epoch ends at height {height}: {} ALT of fees distributed to the operator sets",
                    alt(*amount)
                )?;
            }
            LedgerEvent::Bond { .. } => {}
            _ => {}
        }
        Ok(())
    }

    /// Writes the summary lines.
    pub fn finish(&mut self) -> std::io::Result<()> {
        let s = self.summary.clone();
        if s.frauds_caught > 0 {
            writeln!(
                self.out,
                "summary: {} fraud(s) caught, proven and reverted ({} batch(es)), {} ALT slashed, {} transactions re-executed",
                s.frauds_caught,
                s.reverted_batches,
                alt(s.slashed),
                s.reexecuted
            )?;
        }
        if s.equivocations > 0 {
            writeln!(
                self.out,
                "summary: {} equivocation(s) proven, slashed and tombstoned",
                s.equivocations
            )?;
        }
        writeln!(
            self.out,
            "summary: {} blocks, {} txs ({} rejected), {} batches, fast-final up to {}, final height {}, state root {}",
            s.blocks,
            s.transactions,
            s.rejected,
            s.batches,
            s.fast_height
                .map_or_else(|| "none".to_string(), |h| h.to_string()),
            s.finalized_height
                .map_or_else(|| "none".to_string(), |h| h.to_string()),
            s.state_root
        )?;
        if s.stalled > 0 || s.alerted > 0 {
            writeln!(
                self.out,
                "summary: {} block(s) not fast-final below the threshold, {} alerted",
                s.stalled, s.alerted
            )?;
        }
        if !s.fees.is_zero() {
            writeln!(
                self.out,
                "summary: {} ALT of fees charged, {} ALT distributed to operators and delegators",
                alt(s.fees),
                alt(s.rewards)
            )?;
        }
        writeln!(
            self.out,
            "summary: {:.0} tx/s over {:.2} s wall time; pipeline {:.0} tx/s, {:.1} Mgas/s while handling (every replica included)",
            s.tx_per_sec(),
            s.elapsed.as_secs_f64(),
            s.busy_tx_per_sec(),
            s.busy_mgas_per_sec()
        )
    }
}

/// A short form of an address for the header line.
pub fn short(address: &Address) -> String {
    let text = address.to_string();
    format!("{}…{}", &text[..6], &text[text.len() - 4..])
}
