//! A rollup's operator sets with their BLS keys, certificates made by the Rust side, and the
//! contracts deployed on a fresh anvil.

#![allow(dead_code)]

use alloy_contract::{CallBuilder, CallDecoder};
use alloy_network::{Ethereum, EthereumWallet, Network, ReceiptResponse};

/// A transaction's receipt on the L1.
pub(crate) type TransactionReceipt = <Ethereum as Network>::ReceiptResponse;
use alloy_node_bindings::AnvilInstance;
use alloy_primitives::{Address, B256, U256};
use alloy_provider::{DynProvider, Provider, ProviderBuilder};
use altlayer_avs::qc::{QuorumCertificate, Roster, RosterEntry, SignerBitmap, StakeSnapshot};
use altlayer_core::{
    RollupId,
    bls::{SecretKey, Signature},
};
use altlayer_l1::{
    BatchRules, DeployConfig, Deployment, L1Operator, L1Roster, anvil::spawn_anvil,
    bindings::rosters::Rosters, l1_certificate, roster::SERVICES,
};
use altlayer_staking::{OperatorSetId, Service};

pub(crate) const CHAIN_ID: u64 = 42_069;
pub(crate) const ROLLUP: RollupId = RollupId(7);
pub(crate) const GENESIS_ROOT: B256 = B256::repeat_byte(0x0a);
pub(crate) const WINDOW: u64 = 3_600;
pub(crate) const MOVE_TIMEOUT: u64 = 600;
pub(crate) const PROPOSER_BOND: u64 = 1_000_000_000_000_000_000;
pub(crate) const CHALLENGE_BOND: u64 = 100_000_000_000_000_000;

/// One service's operators at one epoch: secret keys, stakes, in address order.
#[derive(Clone)]
pub(crate) struct Set {
    pub(crate) epoch: u64,
    pub(crate) service: Service,
    pub(crate) members: Vec<(Address, U256, SecretKey)>,
}

impl Set {
    /// Operators `first..first + stakes.len()` (addresses `0x..0100 + i`, keys `1000 + i`).
    pub(crate) fn new(epoch: u64, service: Service, first: u64, stakes: &[u64]) -> Self {
        let members = stakes
            .iter()
            .enumerate()
            .map(|(i, stake)| {
                let n = first + i as u64;
                (
                    Address::left_padding_from(&(0x100 + n).to_be_bytes()),
                    U256::from(*stake),
                    SecretKey::from_u256(U256::from(1_000 + n)).unwrap(),
                )
            })
            .collect();
        Self {
            epoch,
            service,
            members,
        }
    }

    pub(crate) fn snapshot(&self) -> StakeSnapshot {
        StakeSnapshot::new(OperatorSetId::new(self.service, ROLLUP), self.epoch)
    }

    pub(crate) fn l1(&self) -> L1Roster {
        L1Roster::new(
            self.epoch,
            self.service,
            self.members
                .iter()
                .map(|(operator, stake, key)| L1Operator {
                    operator: *operator,
                    stake: *stake,
                    key: Some(key.public_key_g1()),
                })
                .collect(),
        )
    }

    pub(crate) fn rust(&self) -> Roster {
        Roster::new(
            self.snapshot(),
            self.members
                .iter()
                .map(|(operator, stake, key)| RosterEntry {
                    operator: *operator,
                    stake: *stake,
                    key: Some(key.public_key_g2()),
                })
                .collect(),
        )
    }

    /// The certificate of operators `signers` (positions) on `digest`, as the Rust side
    /// aggregates it, in the contracts' form.
    pub(crate) fn certify(&self, digest: B256, signers: &[usize]) -> Rosters::Certificate {
        let mut bitmap = SignerBitmap::new(self.members.len());
        let mut signatures = Vec::new();
        for &i in signers {
            bitmap.set(i);
            signatures.push(self.members[i].2.sign(&digest));
        }
        let certificate = QuorumCertificate {
            digest,
            snapshot: self.snapshot(),
            signers: bitmap,
            signature: Signature::aggregate(&signatures),
        };
        l1_certificate(&certificate, &self.rust(), &self.l1()).unwrap()
    }
}

/// The three services' sets of one epoch, MACH with `mach_stakes`.
pub(crate) fn epoch_sets(epoch: u64, mach_stakes: &[u64]) -> [Set; 3] {
    [
        Set::new(epoch, SERVICES[0], 0, &[10, 10, 10, 10]),
        Set::new(epoch, SERVICES[1], 10, &[5, 5]),
        Set::new(epoch, SERVICES[2], 20, mach_stakes),
    ]
}

pub(crate) struct L1 {
    pub(crate) anvil: AnvilInstance,
    pub(crate) provider: DynProvider,
    pub(crate) deployment: Deployment,
    pub(crate) sets: [Set; 3],
}

impl L1 {
    /// anvil with the contracts deployed for `sets` (MACH threshold 66 %, handoff 66 %).
    pub(crate) async fn start(sets: [Set; 3]) -> Self {
        Self::start_with_genesis(sets, GENESIS_ROOT).await
    }

    /// The same, for a rollup whose genesis state root is `genesis`.
    pub(crate) async fn start_with_genesis(sets: [Set; 3], genesis: B256) -> Self {
        let anvil = spawn_anvil(&[]).unwrap();
        let wallet: EthereumWallet = anvil.wallet().unwrap();
        let provider = ProviderBuilder::new()
            .wallet(wallet)
            .connect_http(anvil.endpoint_url())
            .erased();
        let config = DeployConfig {
            chain_id: CHAIN_ID,
            rollup: ROLLUP,
            rosters: [sets[0].l1(), sets[1].l1(), sets[2].l1()],
            handoff_threshold: 66,
            mach_threshold: 66,
            vital_threshold: 66,
            batches: BatchRules {
                genesis_state_root: genesis,
                proposer: anvil.addresses()[0],
                challenge_window_secs: WINDOW,
                move_timeout_secs: MOVE_TIMEOUT,
                proposer_bond: U256::from(PROPOSER_BOND),
                min_challenge_bond: U256::from(CHALLENGE_BOND),
            },
        };
        let (deployment, gas) = Deployment::deploy(&provider, &config, anvil.addresses()[0])
            .await
            .unwrap();
        println!(
            "gas: deploy Rosters {}, its first rosters {}, MachServiceManager {}, setResolver {}, VitalStepVerifier {}, \
             RollupSettlement {}, Bridge {}",
            gas.rosters,
            gas.initialize,
            gas.mach,
            gas.set_resolver,
            gas.vital_verifier,
            gas.settlement,
            gas.bridge
        );
        Self {
            anvil,
            provider,
            deployment,
            sets,
        }
    }

    pub(crate) fn mach_set(&self) -> &Set {
        &self.sets[2]
    }
}

/// Sends a contract call and waits for its receipt: every test's transactions must reach
/// the L1.
pub(crate) trait Mined {
    async fn mined(self) -> TransactionReceipt;
}

impl<P: Provider, D: CallDecoder> Mined for CallBuilder<P, D> {
    async fn mined(self) -> TransactionReceipt {
        self.send().await.unwrap().get_receipt().await.unwrap()
    }
}

/// The gas a transaction used, after checking it succeeded.
pub(crate) fn gas_of(receipt: &impl ReceiptResponse) -> u64 {
    assert!(receipt.status(), "transaction reverted");
    receipt.gas_used()
}

/// Moves the L1's clock `seconds` on and mines a block.
pub(crate) async fn advance(provider: &DynProvider, seconds: u64) {
    provider
        .raw_request::<_, serde_json::Value>("evm_increaseTime".into(), (seconds,))
        .await
        .unwrap();
    mine(provider).await;
}

/// Mines a block (so what was accepted in the last one may be used).
pub(crate) async fn mine(provider: &DynProvider) {
    provider
        .raw_request::<_, String>("evm_mine".into(), ())
        .await
        .unwrap();
}
