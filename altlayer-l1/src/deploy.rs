//! Deploying the contracts on an L1 and the file of their addresses a rollup spec names.

use crate::{
    L1Error,
    bindings::{
        bridge::Bridge, mach::MachServiceManager, rosters::Rosters, settlement::RollupSettlement,
        vital::VitalStepVerifier,
    },
    roster::L1Roster,
};
use alloy_network::ReceiptResponse;
use alloy_primitives::{Address, B256, U256};
use alloy_provider::Provider;
use altlayer_core::{ChainId, RollupId};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What a deployment is made with.
#[derive(Clone, Debug)]
pub struct DeployConfig {
    /// The rollup's chain id, bound into every digest the contracts check.
    pub chain_id: ChainId,
    /// The rollup's id, likewise.
    pub rollup: RollupId,
    /// The first epoch's rosters, in service order (SQUAD, VITAL, MACH).
    pub rosters: [L1Roster; 3],
    /// Percentage of the MACH stake that hands over to the next epoch (inclusive).
    pub handoff_threshold: u8,
    /// Percentage of the MACH stake a fast-finality or alert certificate needs (inclusive).
    pub mach_threshold: u8,
    /// Percentage of the VITAL stake a one-step verdict needs (inclusive).
    pub vital_threshold: u8,
    /// The batches' rules.
    pub batches: BatchRules,
}

/// What `RollupSettlement` is deployed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRules {
    /// The rollup's genesis state root: the first batch's pre-state root.
    pub genesis_state_root: B256,
    /// The only address that commits batches.
    pub proposer: Address,
    /// Seconds of L1 time a batch may be challenged for.
    pub challenge_window_secs: u64,
    /// Seconds each move of a game (and the one-step proof) has.
    pub move_timeout_secs: u64,
    /// The proposer's bond per batch, in wei.
    pub proposer_bond: U256,
    /// The least a challenger locks, in wei.
    pub min_challenge_bond: U256,
}

/// The deployed contracts' addresses: written by `altlayer l1 deploy` as JSON, read by a spec's
/// `[settlement]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deployment {
    /// The chain id of the L1 they are on.
    pub l1_chain_id: u64,
    /// `Rosters`.
    pub rosters: Address,
    /// `MachServiceManager`.
    pub mach: Address,
    /// `VitalStepVerifier`.
    pub vital_verifier: Address,
    /// `RollupSettlement`.
    pub settlement: Address,
    /// `Bridge`.
    pub bridge: Address,
}

/// Gas each deployment transaction used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeployGas {
    /// `Rosters`.
    pub rosters: u64,
    /// `Rosters.initialize` with the first three rosters.
    pub initialize: u64,
    /// `MachServiceManager`.
    pub mach: u64,
    /// `MachServiceManager.setResolver`.
    pub set_resolver: u64,
    /// `VitalStepVerifier`.
    pub vital_verifier: u64,
    /// `RollupSettlement`.
    pub settlement: u64,
    /// `Bridge`.
    pub bridge: u64,
}

impl Deployment {
    /// Deploys the contracts with `provider`'s default sender, who becomes the deployer of
    /// record: it sets the first rosters and names `resolver` as the one who may end MACH
    /// alerts (the operator of the rollup, typically the sender itself).
    pub async fn deploy<P: Provider>(
        provider: &P,
        config: &DeployConfig,
        resolver: Address,
    ) -> Result<(Self, DeployGas), L1Error> {
        for (name, percent) in [
            ("handoff", config.handoff_threshold),
            ("MACH", config.mach_threshold),
            ("VITAL", config.vital_threshold),
        ] {
            if !(1..=100).contains(&percent) {
                return Err(L1Error::Config(format!(
                    "the {name} threshold must be in 1..=100 %, got {percent}"
                )));
            }
        }
        let epoch = config.rosters[0].epoch();
        if config.rosters.iter().any(|r| r.epoch() != epoch) {
            return Err(L1Error::Config(
                "the first rosters must all be of one epoch".into(),
            ));
        }
        let l1_chain_id = provider.get_chain_id().await.map_err(L1Error::rpc)?;
        let receipt = Rosters::deploy_builder(
            provider,
            config.chain_id,
            config.rollup.0,
            config.handoff_threshold,
        )
        .send()
        .await?
        .get_receipt()
        .await
        .map_err(L1Error::rpc)?;
        let rosters = deployed(&receipt, "Rosters")?;
        let mut gas = DeployGas {
            rosters: receipt.gas_used(),
            ..DeployGas::default()
        };
        let initial = config
            .rosters
            .iter()
            .map(|r| r.operators_sol().to_vec())
            .collect();
        let receipt = Rosters::new(rosters, provider)
            .initialize(epoch, initial)
            .send()
            .await?
            .get_receipt()
            .await
            .map_err(L1Error::rpc)?;
        if !receipt.status() {
            return Err(L1Error::Config("setting the first rosters reverted".into()));
        }
        gas.initialize = receipt.gas_used();
        let receipt = MachServiceManager::deploy_builder(provider, rosters, config.mach_threshold)
            .send()
            .await?
            .get_receipt()
            .await
            .map_err(L1Error::rpc)?;
        let mach = deployed(&receipt, "MachServiceManager")?;
        gas.mach = receipt.gas_used();
        let receipt = MachServiceManager::new(mach, provider)
            .setResolver(resolver)
            .send()
            .await?
            .get_receipt()
            .await
            .map_err(L1Error::rpc)?;
        gas.set_resolver = receipt.gas_used();
        let receipt = VitalStepVerifier::deploy_builder(provider, rosters, config.vital_threshold)
            .send()
            .await?
            .get_receipt()
            .await
            .map_err(L1Error::rpc)?;
        let vital_verifier = deployed(&receipt, "VitalStepVerifier")?;
        gas.vital_verifier = receipt.gas_used();
        let rules = &config.batches;
        let receipt = RollupSettlement::deploy_builder(
            provider,
            config.chain_id,
            config.rollup.0,
            rules.genesis_state_root,
            rules.proposer,
            vital_verifier,
            rules.challenge_window_secs,
            rules.move_timeout_secs,
            rules.proposer_bond,
            rules.min_challenge_bond,
        )
        .send()
        .await?
        .get_receipt()
        .await
        .map_err(L1Error::rpc)?;
        let settlement = deployed(&receipt, "RollupSettlement")?;
        gas.settlement = receipt.gas_used();
        let receipt = Bridge::deploy_builder(provider, settlement, mach, crate::L2_WITHDRAWALS)
            .send()
            .await?
            .get_receipt()
            .await
            .map_err(L1Error::rpc)?;
        let bridge = deployed(&receipt, "Bridge")?;
        gas.bridge = receipt.gas_used();
        Ok((
            Self {
                l1_chain_id,
                rosters,
                mach,
                vital_verifier,
                settlement,
                bridge,
            },
            gas,
        ))
    }

    /// Writes the addresses to `path` as JSON.
    pub fn write(&self, path: &Path) -> Result<(), L1Error> {
        let text =
            serde_json::to_string_pretty(self).map_err(|e| L1Error::Config(e.to_string()))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| L1Error::Config(format!("cannot write {}: {e}", path.display())))
    }

    /// Reads the addresses written by [`Deployment::write`].
    pub fn read(path: &Path) -> Result<Self, L1Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| L1Error::Config(format!("cannot read {}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| L1Error::Config(format!("{}: {e}", path.display())))
    }
}

fn deployed(receipt: &impl ReceiptResponse, name: &str) -> Result<Address, L1Error> {
    if !receipt.status() {
        return Err(L1Error::Config(format!("deploying {name} reverted")));
    }
    receipt
        .contract_address()
        .ok_or_else(|| L1Error::Config(format!("deploying {name} created no contract")))
}
