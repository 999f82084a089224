//! An optimistic rollup from altlayer-core's defaults alone: a single sequencer, in-memory
//! DA, a local settlement layer with a challenge window, a re-executing verifier, and
//! challenge-window finality. A faulty batch (a lying state root) is caught by the verifier,
//! challenged at settlement, decided by a one-step proof of the first wrong transaction
//! (revm over a Merkle witness of the state before it), and reverted; the honest batch that
//! replaces it finalizes. (altlayer-avs's VITAL adds the bisection game that finds that
//! transaction between parties who do not trust each other, bonds and slashing.)

use altlayer_core::{
    Batch, DaRef, DataAvailability, FinalityGadget, RollupConfig, RollupId, Sequencer, Settlement,
    StateTransition, Verifier,
    alloy::primitives::{Address, B256, U256},
    da::{DaError, InMemoryDa},
    dev::{DevAccount, dev_state_transition},
    execution::stateless::{Replay, StepError, StepOutcome, claimed_step_roots, verify_step},
    finality::ChallengeWindowFinality,
    sequencer::{SequencerConfig, SequencerEvent, SingleSequencer},
    settlement::{BatchCommitment, ChallengeOutcome, LocalSettlement, SettlementError},
    transaction::{RecoveryBackend, recover},
    verifier::{BatchVerdict, ReExecutionVerifier},
};

/// The example's rollup.
const ROLLUP: RollupId = RollupId(1);

/// Challenge window of the local settlement layer, in settlement seconds.
const WINDOW: u64 = 100;

/// What the example observed.
#[derive(Debug, Default)]
pub struct Report {
    /// Human-readable log of the run.
    pub lines: Vec<String>,
    /// Whether the verifier caught the faulty batch.
    pub fraud_caught: bool,
    /// Index of the first wrong transaction the verifier pointed at.
    pub first_bad_tx: Option<usize>,
    /// What the one-step proof of that transaction established.
    pub proven: Option<StepOutcome>,
    /// Highest final height at the end.
    pub finalized_height: Option<u64>,
}

/// Why the example failed.
#[derive(Debug, thiserror::Error)]
pub enum ExampleError {
    /// Sequencing failed.
    #[error(transparent)]
    Sequencer(#[from] altlayer_core::sequencer::SequencerError),
    /// A transaction was refused.
    #[error(transparent)]
    Submit(#[from] altlayer_core::sequencer::SubmitError),
    /// Recovery failed.
    #[error(transparent)]
    Transaction(#[from] altlayer_core::transaction::TxError),
    /// DA failed.
    #[error(transparent)]
    Da(#[from] DaError),
    /// Settlement refused something.
    #[error(transparent)]
    Settlement(#[from] SettlementError),
    /// The one-step proof could not be made or was refused.
    #[error(transparent)]
    Step(#[from] StepError),
}

/// Produces batch 0: two blocks of one transfer per account, from genesis, with the
/// per-transaction roots the sequencer reports.
fn produce_batch<S: StateTransition>(
    sequencer: &mut SingleSequencer<S>,
    accounts: &[DevAccount],
    genesis_root: B256,
) -> Result<Batch, ExampleError> {
    let (mut blocks, mut roots) = (Vec::new(), Vec::new());
    for nonce in 0..2 {
        for account in accounts {
            let tx = account.transfer(1_337, nonce, Address::repeat_byte(0xb0), U256::from(1));
            sequencer.submit(recover(tx, RecoveryBackend::Libsecp256k1)?)?;
        }
        for event in sequencer.on_tick((nonce + 1) * 1_000)? {
            if let SequencerEvent::Block(built) = event {
                roots.extend(built.outcome.intermediate_roots);
                blocks.push(built.block);
            }
        }
    }
    Ok(Batch {
        rollup_id: ROLLUP,
        index: 0,
        pre_state_root: genesis_root,
        post_state_root: blocks.last().map_or(genesis_root, |b| b.header.state_root),
        blocks,
        intermediate_roots: roots,
    })
}

/// Publishes a batch to DA and commits it to settlement; the finality gadget starts its
/// window.
async fn post(
    batch: &Batch,
    da: &InMemoryDa,
    l1: &LocalSettlement,
    finality: &mut ChallengeWindowFinality,
) -> Result<DaRef, ExampleError> {
    let reference = da.publish(batch).await?;
    let commitment = BatchCommitment::new(batch, 1_337, reference, Address::repeat_byte(0x5e));
    l1.commit_batch(commitment.clone()).await?;
    finality.on_batch_committed(&commitment, l1.now().await?);
    Ok(reference)
}

/// Runs the example.
pub async fn run() -> Result<Report, ExampleError> {
    let mut report = Report::default();
    let accounts = DevAccount::many(3);
    let genesis = dev_state_transition(RollupConfig::default(), 3);
    let genesis_root = genesis.state_root();
    let mut verifier = ReExecutionVerifier::new(genesis.clone());
    let config = SequencerConfig {
        intermediate_roots: true,
        ..Default::default()
    };
    let mut sequencer = SingleSequencer::new(genesis.clone(), config.clone());
    let da = InMemoryDa::default();
    let l1 = LocalSettlement::new(ROLLUP, genesis_root, WINDOW, U256::from(1_000));
    let mut finality = ChallengeWindowFinality::new(WINDOW);

    // Batch 0, but the sequencer lies about the root after the fifth transaction.
    let mut faulty = produce_batch(&mut sequencer, &accounts, genesis_root)?;
    faulty.intermediate_roots[4] = B256::repeat_byte(0xba);
    faulty.post_state_root = B256::repeat_byte(0xba);
    let reference = post(&faulty, &da, &l1, &mut finality).await?;
    report.lines.push(format!(
        "batch 0 posted at DA position {}",
        reference.position
    ));

    // The verifier reads the batch from DA and re-executes it.
    let fetched = da.retrieve(&reference).await?;
    if let BatchVerdict::Invalid {
        first_bad_tx,
        reason,
        ..
    } = verifier.clone().verify_batch(&fetched)
    {
        report.fraud_caught = true;
        report.first_bad_tx = first_bad_tx;
        report.lines.push(format!(
            "verifier: batch 0 is wrong ({reason}); challenging"
        ));
        l1.open_challenge(0, Address::repeat_byte(0xcc), U256::from(1_000))
            .await?;
        finality.on_challenge(0);
        // Settlement decides the disputed transaction from a witness alone: the roots before
        // it are agreed (the verifier found them right), the proof recomputes the one after.
        let step = first_bad_tx.unwrap_or(0);
        let witness = Replay::new(&genesis, fetched.clone())?.prove(step)?;
        let pre_root = match step {
            0 => fetched.pre_state_root,
            _ => fetched.intermediate_roots[step - 1],
        };
        let outcome = verify_step(genesis.config(), &fetched, step, pre_root, &witness)?;
        let claimed = claimed_step_roots(&fetched)[step];
        report.lines.push(format!(
            "one-step proof of transaction {step}: witness of {} trie nodes ({} bytes) gives {outcome:?}; the batch claims {claimed}",
            witness.state.len(),
            witness.size()
        ));
        let verdict = if outcome == StepOutcome::Root(claimed) {
            ChallengeOutcome::BatchValid
        } else {
            ChallengeOutcome::BatchInvalid
        };
        report.proven = Some(outcome);
        l1.resolve_challenge(0, Address::repeat_byte(0xcc), verdict)
            .await?;
        if verdict == ChallengeOutcome::BatchInvalid {
            finality.on_revert(0);
            report
                .lines
                .push("settlement: batch 0 reverted, challenger refunded".into());
        }
    }

    // The rollup starts over from the last valid root with an honest sequencer.
    let mut sequencer = SingleSequencer::new(genesis, config);
    let honest = produce_batch(&mut sequencer, &accounts, genesis_root)?;
    let reference = post(&honest, &da, &l1, &mut finality).await?;
    let verdict = verifier.verify_batch(&da.retrieve(&reference).await?);
    report
        .lines
        .push(format!("verifier: honest batch 0 is {verdict:?}"));

    l1.advance_time(WINDOW);
    finality.on_tick(l1.now().await?);
    report.finalized_height = l1.finalized_height().await?;
    report.lines.push(format!(
        "settlement: final up to height {:?}; finality gadget agrees: {:?}",
        report.finalized_height,
        finality.finalized_height()
    ));
    Ok(report)
}
