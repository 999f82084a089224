//! [`RollupBuilder`]: core's in-process defaults for every component, each swapped for another
//! implementation of its trait with one call, checked at compile time.

use super::{Rollup, book::BatchBook};
use crate::{
    DataAvailability, EvmStateTransition, FinalityGadget, Sequencer, Settlement,
    da::InMemoryDa,
    finality::ChallengeWindowFinality,
    ledger::{NoLedger, RollupLedger},
    sequencer::{SequencerConfig, SingleSequencer},
    settlement::{LocalSettlement, SettlementConfig},
    verifier::{ReExecutionVerifier, Verifier},
};
use alloy_primitives::{Address, U256};
use std::{collections::BTreeMap, sync::Arc};

/// How a [`Rollup`] runs, and how its default components are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollupSettings {
    /// Blocks per batch posted to DA and settlement (at least 1).
    pub blocks_per_batch: u64,
    /// Who posts the batches and defends them in dispute games: the sequencer's operator,
    /// slashed if a batch is proven wrong.
    pub proposer: Address,
    /// This node's operator address: it submits the evidence its components report, and is
    /// paid the submitter's share of the slash.
    pub operator: Address,
    /// Time between blocks of the default sequencer.
    pub block_time_ms: u64,
    /// Most transactions in a block of the default sequencer.
    pub max_txs_per_block: usize,
    /// Challenge window of the default settlement and finality gadget, in seconds.
    pub challenge_window_secs: u64,
    /// Time each move of a dispute game has at the default settlement, in seconds.
    pub move_timeout_secs: u64,
    /// Least challenge bond at the default settlement, which the default verifier locks.
    pub challenge_bond: U256,
    /// The default verifier's address.
    pub verifier: Address,
    /// How often settlement's log is read, in milliseconds of the rollup's clock (0: at every
    /// tick).
    pub settlement_poll_ms: u64,
}

impl Default for RollupSettings {
    fn default() -> Self {
        Self {
            blocks_per_batch: 5,
            proposer: Address::repeat_byte(0x5e),
            operator: Address::repeat_byte(0x5e),
            block_time_ms: 1_000,
            max_txs_per_block: 10_000,
            challenge_window_secs: 3_600,
            move_timeout_secs: 60,
            challenge_bond: U256::from(1),
            verifier: Address::repeat_byte(0x7a),
            settlement_poll_ms: 0,
        }
    }
}

/// Why a rollup could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting is out of range.
    #[error("invalid rollup setting {name}: {reason}")]
    Setting {
        /// The setting.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Builds a [`Rollup`]: starts from core's in-process defaults, each replaced with one call.
///
/// ```
/// use altlayer_core::{
///     RollupConfig,
///     finality::ChallengeWindowFinality,
///     genesis::{parse_genesis, state_transition_from_genesis},
///     rollup::{Rollup, RollupSettings},
/// };
///
/// let genesis = parse_genesis(r#"{"config":{"chainId":1337},"alloc":{}}"#)?;
/// let stf = state_transition_from_genesis(RollupConfig::default(), &genesis);
/// // A one-day challenge window instead of the settings' default for the finality gadget.
/// let rollup = Rollup::builder(stf, RollupSettings::default())
///     .finality(ChallengeWindowFinality::new(86_400))
///     .build()?;
/// assert_eq!(rollup.head().height, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RollupBuilder<S, V, F, L, D, St> {
    settings: RollupSettings,
    sequencer: S,
    verifier: V,
    finality: F,
    ledger: L,
    da: Arc<D>,
    settlement: Arc<St>,
}

impl
    Rollup<
        SingleSequencer<EvmStateTransition>,
        ReExecutionVerifier,
        ChallengeWindowFinality,
        NoLedger,
        InMemoryDa,
        LocalSettlement,
    >
{
    /// A builder whose components are core's defaults over `genesis`: the single sequencer,
    /// the re-execution verifier, finality after the challenge window, no token, in-memory DA
    /// and the in-process settlement.
    pub fn builder(
        genesis: EvmStateTransition,
        settings: RollupSettings,
    ) -> RollupBuilder<
        SingleSequencer<EvmStateTransition>,
        ReExecutionVerifier,
        ChallengeWindowFinality,
        NoLedger,
        InMemoryDa,
        LocalSettlement,
    > {
        let settlement = LocalSettlement::new(SettlementConfig {
            challenge_window: settings.challenge_window_secs,
            min_bond: settings.challenge_bond,
            move_timeout: settings.move_timeout_secs,
            ..SettlementConfig::new(genesis.config().clone(), genesis.state_root())
        });
        let verifier = ReExecutionVerifier::new(
            settings.verifier,
            settings.challenge_bond,
            genesis.clone(),
            0,
        );
        let sequencer = SingleSequencer::new(
            genesis,
            SequencerConfig {
                block_time_ms: settings.block_time_ms,
                max_txs_per_block: settings.max_txs_per_block,
                address: settings.proposer,
                intermediate_roots: true,
                ..Default::default()
            },
        );
        RollupBuilder {
            finality: ChallengeWindowFinality::new(settings.challenge_window_secs),
            settings,
            sequencer,
            verifier,
            ledger: NoLedger,
            da: Arc::new(InMemoryDa::default()),
            settlement: Arc::new(settlement),
        }
    }
}

impl<S, V, F, L, D, St> RollupBuilder<S, V, F, L, D, St> {
    /// The settings.
    pub const fn settings(&self) -> &RollupSettings {
        &self.settings
    }

    /// Replaces the sequencer. It must build on the same genesis and report per-transaction
    /// state roots (the batches carry them for dispute games).
    pub fn sequencer<S2: Sequencer>(self, sequencer: S2) -> RollupBuilder<S2, V, F, L, D, St> {
        RollupBuilder {
            settings: self.settings,
            sequencer,
            verifier: self.verifier,
            finality: self.finality,
            ledger: self.ledger,
            da: self.da,
            settlement: self.settlement,
        }
    }

    /// Replaces the verifier.
    pub fn verifier<V2: Verifier>(self, verifier: V2) -> RollupBuilder<S, V2, F, L, D, St> {
        RollupBuilder {
            settings: self.settings,
            sequencer: self.sequencer,
            verifier,
            finality: self.finality,
            ledger: self.ledger,
            da: self.da,
            settlement: self.settlement,
        }
    }

    /// Replaces the finality gadget.
    pub fn finality<F2: FinalityGadget>(self, finality: F2) -> RollupBuilder<S, V, F2, L, D, St> {
        RollupBuilder {
            settings: self.settings,
            sequencer: self.sequencer,
            verifier: self.verifier,
            finality,
            ledger: self.ledger,
            da: self.da,
            settlement: self.settlement,
        }
    }

    /// Replaces the token ledger.
    pub fn ledger<L2: RollupLedger>(self, ledger: L2) -> RollupBuilder<S, V, F, L2, D, St> {
        RollupBuilder {
            settings: self.settings,
            sequencer: self.sequencer,
            verifier: self.verifier,
            finality: self.finality,
            ledger,
            da: self.da,
            settlement: self.settlement,
        }
    }

    /// Replaces the DA layer.
    pub fn da<D2: DataAvailability>(self, da: D2) -> RollupBuilder<S, V, F, L, D2, St> {
        self.shared_da(Arc::new(da))
    }

    /// Replaces the DA layer with one shared with others.
    pub fn shared_da<D2: DataAvailability>(self, da: Arc<D2>) -> RollupBuilder<S, V, F, L, D2, St> {
        RollupBuilder {
            settings: self.settings,
            sequencer: self.sequencer,
            verifier: self.verifier,
            finality: self.finality,
            ledger: self.ledger,
            da,
            settlement: self.settlement,
        }
    }

    /// Replaces settlement.
    pub fn settlement<St2: Settlement>(self, settlement: St2) -> RollupBuilder<S, V, F, L, D, St2> {
        self.shared_settlement(Arc::new(settlement))
    }

    /// Replaces settlement with one shared with others.
    pub fn shared_settlement<St2: Settlement>(
        self,
        settlement: Arc<St2>,
    ) -> RollupBuilder<S, V, F, L, D, St2> {
        RollupBuilder {
            settings: self.settings,
            sequencer: self.sequencer,
            verifier: self.verifier,
            finality: self.finality,
            ledger: self.ledger,
            da: self.da,
            settlement,
        }
    }
}

impl<S, V, F, L, D, St> RollupBuilder<S, V, F, L, D, St>
where
    S: Sequencer,
    V: Verifier,
    F: FinalityGadget,
    L: RollupLedger,
    D: DataAvailability,
    St: Settlement,
{
    /// The rollup, starting at the sequencer's head.
    pub fn build(self) -> Result<Rollup<S, V, F, L, D, St>, BuildError> {
        let blocks_per_batch =
            usize::try_from(self.settings.blocks_per_batch).unwrap_or(usize::MAX);
        if blocks_per_batch == 0 {
            return Err(BuildError::Setting {
                name: "blocks_per_batch",
                reason: "must be at least 1".into(),
            });
        }
        let book = BatchBook::new(self.sequencer.state_transition().clone(), blocks_per_batch);
        Ok(Rollup {
            settings: self.settings,
            sequencer: self.sequencer,
            verifier: self.verifier,
            finality: self.finality,
            ledger: self.ledger,
            da: self.da,
            settlement: self.settlement,
            book,
            now_ms: 0,
            next_ticket: 0,
            publishing: None,
            cursor: 0,
            settlement_now: 0,
            syncing: false,
            last_sync_ms: None,
            committed: BTreeMap::new(),
            unchecked: BTreeMap::new(),
            final_unchecked: Default::default(),
            retrieved: BTreeMap::new(),
            alerted: Default::default(),
            disputes: BTreeMap::new(),
            open_challenges: BTreeMap::new(),
            finalized: None,
            ending: false,
        })
    }
}
