//! `altlayer l1 deploy`: the rollup's settlement contracts (`altlayer-l1`) deployed on an
//! Ethereum L1, for the rollup a spec describes: its chain and rollup ids, its genesis state
//! root, the first epoch's rosters from its ALT ledger at genesis, its challenge window and
//! move timeout. The contracts' addresses are written to a JSON file a spec can name.

use crate::{
    launch::{Faults, LaunchError, dev_operators},
    spec::{Spec, SpecError},
};
use alloy_network::EthereumWallet;
use alloy_primitives::{B256, U256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_signer_local::PrivateKeySigner;
use altlayer_avs::qc::StakeSnapshot;
use altlayer_l1::{
    BatchRules, DeployConfig, DeployGas, Deployment, L1Error, L1Roster, roster::SERVICES,
};
use altlayer_staking::{OperatorSetId, StakingError};
use std::{io::Write, path::Path};

/// The environment variable `altlayer l1 deploy` reads the deployer's key from when `--key`
/// is not given.
pub const KEY_ENV: &str = "ALTLAYER_L1_KEY";

/// Why `altlayer l1 deploy` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum L1CommandError {
    /// No key, or not a secp256k1 secret key in hex.
    #[error("the L1 key (--key or ${KEY_ENV}) {0}")]
    Key(String),
    /// The RPC URL does not parse.
    #[error("--rpc {url}: {reason}")]
    Url {
        /// As given.
        url: String,
        /// Why.
        reason: String,
    },
    /// The spec's rollup could not be built.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Its operator sets could not be built.
    #[error(transparent)]
    Operators(#[from] LaunchError),
    /// A roster could not be read from its ALT ledger.
    #[error("roster: {0}")]
    Roster(#[from] StakingError),
    /// The L1 refused or failed.
    #[error("L1: {0}")]
    L1(#[from] L1Error),
}

/// What `altlayer l1 deploy` is given besides the spec.
#[derive(Clone, Debug)]
pub struct DeployArgs {
    /// The L1's JSON-RPC URL.
    pub rpc: String,
    /// The deployer's secret key in hex: it deploys, proposes batches, and names MACH's alert
    /// resolver (itself).
    pub key: String,
    /// The proposer's bond per batch, in wei.
    pub proposer_bond_wei: U256,
    /// The least a challenger bonds, in wei.
    pub challenge_bond_wei: U256,
}

/// Deploys the contracts for `spec` (its files relative to `base`) and describes them on
/// `out`.
pub async fn deploy(
    spec: &Spec,
    base: &Path,
    args: &DeployArgs,
    out: &mut (dyn Write + Send),
) -> Result<(Deployment, DeployGas), L1CommandError> {
    let key: B256 = args
        .key
        .trim()
        .parse()
        .map_err(|_| L1CommandError::Key("is not 32 bytes of hex".into()))?;
    let signer = PrivateKeySigner::from_bytes(&key)
        .map_err(|_| L1CommandError::Key("is not a secp256k1 secret key".into()))?;
    let proposer = signer.address();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect(&args.rpc)
        .await
        .map_err(|e| L1CommandError::Url {
            url: args.rpc.clone(),
            reason: e.to_string(),
        })?;
    let genesis = spec.genesis(base)?;
    let rollup = genesis.config().rollup_id;
    let operators = dev_operators(spec, rollup, &Faults::default())?;
    let ledger = operators.ledger.ledger();
    let mut rosters = Vec::with_capacity(SERVICES.len());
    for service in SERVICES {
        let snapshot = StakeSnapshot::new(OperatorSetId::new(service, rollup), 0);
        rosters.push(match L1Roster::from_ledger(ledger, snapshot) {
            Ok(roster) => roster,
            // A service without an operator set (no VITAL set, say) has an empty roster.
            Err(StakingError::UnknownSet(_)) => L1Roster::new(0, service, Vec::new()),
            Err(error) => return Err(error.into()),
        });
    }
    let [squad, vital, mach] = <[L1Roster; 3]>::try_from(rosters)
        .map_err(|_| L1CommandError::L1(L1Error::Config("three rosters".into())))?;
    let threshold = spec.avs.mach.threshold;
    let config = DeployConfig {
        chain_id: spec.rollup.chain_id,
        rollup,
        rosters: [squad, vital, mach],
        handoff_threshold: threshold,
        mach_threshold: threshold,
        vital_threshold: threshold,
        batches: BatchRules {
            genesis_state_root: genesis.head().state_root,
            proposer,
            challenge_window_secs: spec.avs.vital.challenge_window_secs,
            move_timeout_secs: spec.move_timeout_secs(),
            proposer_bond: args.proposer_bond_wei,
            min_challenge_bond: args.challenge_bond_wei,
        },
    };
    let (deployment, gas) = Deployment::deploy(&provider, &config, proposer).await?;
    let chain = provider
        .get_chain_id()
        .await
        .map_err(|e| L1CommandError::L1(L1Error::Rpc(e.to_string())))?;
    let line = |out: &mut (dyn Write + Send), text: String| {
        // The deployment is done: a closed output loses only the description.
        let _ = writeln!(out, "{text}");
    };
    line(
        out,
        format!(
            "L1 chain {chain}: contracts of rollup {} (chain {}), proposer {proposer}",
            rollup.0, spec.rollup.chain_id
        ),
    );
    for (name, address, gas) in [
        ("Rosters", deployment.rosters, gas.rosters + gas.initialize),
        (
            "MachServiceManager",
            deployment.mach,
            gas.mach + gas.set_resolver,
        ),
        (
            "VitalStepVerifier",
            deployment.vital_verifier,
            gas.vital_verifier,
        ),
        ("RollupSettlement", deployment.settlement, gas.settlement),
        ("Bridge", deployment.bridge, gas.bridge),
    ] {
        line(out, format!("  {name:<19} {address}  ({gas} gas)"));
    }
    Ok((deployment, gas))
}
