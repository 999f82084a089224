//! Deploying the contracts on an L1 and the file of their addresses a rollup spec names.

use crate::{
    L1Error,
    bindings::{mach::MachServiceManager, rosters::Rosters},
    roster::L1Roster,
};
use alloy_network::ReceiptResponse;
use alloy_primitives::Address;
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
}

/// Gas each deployment transaction used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeployGas {
    /// `Rosters` (with its first three rosters).
    pub rosters: u64,
    /// `MachServiceManager`.
    pub mach: u64,
    /// `MachServiceManager.setResolver`.
    pub set_resolver: u64,
}

impl Deployment {
    /// Deploys the contracts with `provider`'s default sender, who becomes the deployer of
    /// record (it names MACH's alert resolver: `resolver`, or itself when `None`).
    pub async fn deploy<P: Provider>(
        provider: &P,
        config: &DeployConfig,
        resolver: Option<Address>,
    ) -> Result<(Self, DeployGas), L1Error> {
        if !(1..=100).contains(&config.handoff_threshold)
            || !(1..=100).contains(&config.mach_threshold)
        {
            return Err(L1Error::Config(format!(
                "thresholds must be in 1..=100 %, got {} and {}",
                config.handoff_threshold, config.mach_threshold
            )));
        }
        let l1_chain_id = provider.get_chain_id().await.map_err(L1Error::rpc)?;
        let initial = config.rosters.iter().map(|r| r.as_sol().clone()).collect();
        let receipt = Rosters::deploy_builder(
            provider,
            config.chain_id,
            config.rollup.0,
            config.handoff_threshold,
            initial,
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
        let receipt = MachServiceManager::deploy_builder(provider, rosters, config.mach_threshold)
            .send()
            .await?
            .get_receipt()
            .await
            .map_err(L1Error::rpc)?;
        let mach = deployed(&receipt, "MachServiceManager")?;
        gas.mach = receipt.gas_used();
        let resolver = match resolver {
            Some(resolver) => resolver,
            None => provider
                .get_accounts()
                .await
                .map_err(L1Error::rpc)?
                .first()
                .copied()
                .ok_or_else(|| L1Error::Config("the provider has no account".into()))?,
        };
        let receipt = MachServiceManager::new(mach, provider)
            .setResolver(resolver)
            .send()
            .await?
            .get_receipt()
            .await
            .map_err(L1Error::rpc)?;
        gas.set_resolver = receipt.gas_used();
        Ok((
            Self {
                l1_chain_id,
                rosters,
                mach,
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
