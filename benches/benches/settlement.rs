//! Settlement on an L1 (anvil, from npm): the gas of a batch commitment, of MACH certificates
//! of 10, 100 and 1,000 operators (all signing, two thirds signing), of a roster hand-over and
//! of a withdrawal proof, printed as a table once (gas is deterministic: it is recorded in
//! `benches/README.md` against EigenLayer's published `checkSignatures` costs); and the time
//! of `Rosters.checkCertificate` as an `eth_call` against the Rust verification of the same
//! certificate (`QuorumCertificate::verify`), measured in the same run.

use alloy_consensus::TxEip1559;
use alloy_network::ReceiptResponse;
use alloy_node_bindings::AnvilInstance;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_provider::{DynProvider, Provider, ProviderBuilder};
use alloy_sol_types::{SolCall, SolValue};
use altlayer_avs::{
    QuorumCertificate, Roster, RosterEntry, SignerBitmap, StakeSnapshot, Threshold,
};
use altlayer_core::{
    RollupConfig, RollupId,
    bls::{SecretKey, Signature},
    dev::DevAccount,
    execution::{BlockAttributes, ExecuteOptions},
    genesis::{parse_genesis, state_transition_from_genesis},
    transaction::{RecoveryBackend, recover},
};
use altlayer_l1::{
    BatchRules, DeployConfig, Deployment, L1Operator, L1Roster, L2_WITHDRAWALS,
    anvil::spawn_anvil,
    bindings::{
        bridge::Bridge, l2_withdrawals::L2Withdrawals, mach::MachServiceManager, rosters::Rosters,
        settlement::RollupSettlement,
    },
    handoff_digest, l1_certificate,
};
use altlayer_staking::{OperatorSetId, Service};
use criterion::{Criterion, criterion_group, criterion_main};
use std::{hint::black_box, time::Duration};
use tokio::runtime::Runtime;

const SIZES: [usize; 3] = [10, 100, 1_000];
const CHAIN_ID: u64 = 1_337;
const ROLLUP: RollupId = RollupId(1);
const ETHER: u64 = 1_000_000_000_000_000_000;

/// One service's operators: addresses in order, equal stakes, keys.
struct Set {
    epoch: u64,
    service: Service,
    members: Vec<(Address, SecretKey)>,
}

impl Set {
    fn new(epoch: u64, service: Service, n: usize, seed: u64) -> Self {
        let members = (0..n)
            .map(|i| {
                let mut bytes = [0u8; 20];
                bytes[12..].copy_from_slice(&(seed * 100_000 + i as u64 + 1).to_be_bytes());
                let key = SecretKey::from_seed(&(seed * 100_000 + i as u64).to_be_bytes())
                    .expect("nonzero");
                (Address::from(bytes), key)
            })
            .collect();
        Self {
            epoch,
            service,
            members,
        }
    }

    fn snapshot(&self) -> StakeSnapshot {
        StakeSnapshot::new(OperatorSetId::new(self.service, ROLLUP), self.epoch)
    }

    fn l1(&self) -> L1Roster {
        L1Roster::new(
            self.epoch,
            self.service,
            self.members
                .iter()
                .map(|(operator, key)| L1Operator {
                    operator: *operator,
                    stake: U256::from(1_000),
                    key: Some(key.public_key_g1()),
                })
                .collect(),
        )
    }

    fn rust(&self) -> Roster {
        Roster::new(
            self.snapshot(),
            self.members
                .iter()
                .map(|(operator, key)| RosterEntry {
                    operator: *operator,
                    stake: U256::from(1_000),
                    key: Some(key.public_key_g2()),
                })
                .collect(),
        )
    }

    /// The Rust certificate of the first `signers` operators on `digest`.
    fn certificate(&self, digest: B256, signers: usize) -> QuorumCertificate {
        let mut bitmap = SignerBitmap::new(self.members.len());
        for i in 0..signers {
            bitmap.set(i);
        }
        let signatures: Vec<Signature> = self.members[..signers]
            .iter()
            .map(|(_, key)| key.sign(&digest))
            .collect();
        QuorumCertificate {
            digest,
            snapshot: self.snapshot(),
            signers: bitmap,
            signature: Signature::aggregate(&signatures),
        }
    }
}

/// What a transaction's input costs before execution: 21,000 and 4 / 16 gas per zero /
/// non-zero byte (EIP-2028), the part of its gas that is not execution.
fn intrinsic(input: &[u8]) -> u64 {
    21_000
        + input
            .iter()
            .map(|b| if *b == 0 { 4 } else { 16 })
            .sum::<u64>()
}

struct Deployed {
    provider: DynProvider,
    deployment: Deployment,
    mach: Set,
}

async fn deploy(anvil: &AnvilInstance, n: usize, genesis: B256) -> Deployed {
    let provider = ProviderBuilder::new()
        .wallet(anvil.wallet().expect("anvil's keys"))
        .connect_http(anvil.endpoint_url())
        .erased();
    let proposer = provider.get_accounts().await.unwrap()[0];
    let squad = Set::new(1, Service::Squad, 4, 1);
    let vital = Set::new(1, Service::Vital, 4, 2);
    let mach = Set::new(1, Service::Mach, n, 3);
    let config = DeployConfig {
        chain_id: CHAIN_ID,
        rollup: ROLLUP,
        rosters: [squad.l1(), vital.l1(), mach.l1()],
        handoff_threshold: 66,
        mach_threshold: 66,
        vital_threshold: 66,
        batches: BatchRules {
            genesis_state_root: genesis,
            proposer,
            challenge_window_secs: 3_600,
            move_timeout_secs: 600,
            proposer_bond: U256::from(ETHER),
            min_challenge_bond: U256::from(ETHER / 10),
        },
    };
    let (deployment, gas) = Deployment::deploy(&provider, &config, proposer)
        .await
        .unwrap();
    println!(
        "gas: MACH set of {n}: Rosters.initialize (SQUAD 4, VITAL 4, MACH {n}) {}",
        gas.initialize
    );
    provider
        .raw_request::<_, String>("evm_mine".into(), ())
        .await
        .unwrap();
    Deployed {
        provider,
        deployment,
        mach,
    }
}

/// The vote digest of block `height` (MachServiceManager.voteDigest's Rust twin).
fn vote(height: u64) -> altlayer_avs::mach::FinalityVote {
    altlayer_avs::mach::FinalityVote {
        chain_id: CHAIN_ID,
        rollup: ROLLUP,
        height,
        block_hash: keccak256(height.to_be_bytes()),
        state_root: keccak256((height + 1).to_be_bytes()),
        snapshot_height: 1,
    }
}

/// A rollup of 1,000 funded accounts and the withdrawal predeploy in which sixteen accounts
/// withdraw in block 1; the genesis root, the post-state root, the first withdrawal and its
/// proofs.
fn withdrawal_state() -> (B256, B256, Bridge::Withdrawal, Vec<Bytes>, Vec<Bytes>) {
    let users = DevAccount::many(1_000);
    let alloc: Vec<String> = users
        .iter()
        .map(|u| {
            format!(
                r#""{}": {{"balance": "0x{:x}"}}"#,
                u.address,
                U256::from(10 * ETHER)
            )
        })
        .collect();
    let genesis = parse_genesis(&format!(
        r#"{{"config": {{"chainId": {CHAIN_ID}}}, "alloc": {{ {}, "{L2_WITHDRAWALS}": {{"balance": "0x0", "code": "{}"}} }}}}"#,
        alloc.join(","),
        L2Withdrawals::DEPLOYED_BYTECODE
    ))
    .unwrap();
    let config = RollupConfig {
        chain_id: CHAIN_ID,
        rollup_id: ROLLUP,
        ..RollupConfig::default()
    };
    let mut l2 = state_transition_from_genesis(config, &genesis);
    let genesis_root = l2.head().state_root;
    let recipient = Address::repeat_byte(0x77);
    let txs = users[..16]
        .iter()
        .map(|user| {
            let tx = user.sign_eip1559(TxEip1559 {
                chain_id: CHAIN_ID,
                nonce: 0,
                gas_limit: 200_000,
                max_fee_per_gas: 100_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                to: TxKind::Call(L2_WITHDRAWALS),
                value: U256::from(ETHER),
                access_list: Default::default(),
                input: L2Withdrawals::withdrawCall { recipient }
                    .abi_encode()
                    .into(),
            });
            recover(tx, RecoveryBackend::default()).unwrap()
        })
        .collect();
    let built = l2
        .build_block(
            BlockAttributes {
                timestamp: 1,
                ..Default::default()
            },
            txs,
            ExecuteOptions::default(),
        )
        .unwrap();
    let withdrawal = Bridge::Withdrawal {
        nonce: U256::ZERO,
        sender: users[0].address,
        recipient,
        amount: U256::from(ETHER),
    };
    let hash = keccak256(
        (
            withdrawal.nonce,
            withdrawal.sender,
            withdrawal.recipient,
            withdrawal.amount,
        )
            .abi_encode(),
    );
    let slot = keccak256((hash, U256::ZERO).abi_encode());
    let proof = l2.state().proof(&L2_WITHDRAWALS, &[slot]).unwrap().unwrap();
    (
        genesis_root,
        built.block.header.state_root,
        withdrawal,
        proof.account_proof,
        proof.storage[0].proof.clone(),
    )
}

fn settlement(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let anvil =
        spawn_anvil(&["--gas-limit", "100000000"]).expect("anvil (contracts/setup installs it)");
    let (genesis_root, post_root, withdrawal, account_proof, storage_proof) = withdrawal_state();
    let mut group = c.benchmark_group("settlement");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    for (k, n) in SIZES.into_iter().enumerate() {
        let net = runtime.block_on(deploy(&anvil, n, genesis_root));
        let rosters = Rosters::new(net.deployment.rosters, &net.provider);
        let mach = MachServiceManager::new(net.deployment.mach, &net.provider);
        let l1_roster = net.mach.l1();
        let rust_roster = net.mach.rust();
        for (label, signers) in [("all", n), ("two_thirds", n.div_ceil(3) * 2)] {
            let vote = vote(10 * k as u64 + signers as u64);
            let qc = net.mach.certificate(vote.digest(), signers);
            let certificate = l1_certificate(&qc, &rust_roster, &l1_roster).unwrap();
            // Gas: the view check (what EigenLayer's checkSignatures is), and the confirmation.
            let check = rosters.checkCertificate(
                l1_roster.as_sol().clone(),
                vote.digest(),
                certificate.clone(),
                66,
            );
            let total = runtime.block_on(check.estimate_gas()).unwrap();
            let input = check.calldata().clone();
            let receipt = runtime.block_on(async {
                mach.confirmFastFinality(
                    vote.height,
                    vote.block_hash,
                    vote.state_root,
                    l1_roster.as_sol().clone().into(),
                    certificate.clone().into(),
                )
                .send()
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap()
            });
            assert!(receipt.status());
            println!(
                "gas: {n} operators, {label} ({signers} signing, {} listed): checkCertificate {} \
                 ({} calldata, {} bytes; {} execution), confirmFastFinality {}",
                certificate.listed.len(),
                total,
                intrinsic(&input),
                input.len(),
                total.saturating_sub(intrinsic(&input)),
                receipt.gas_used()
            );
            // Time: the L1's check over JSON-RPC against the Rust check of the same certificate.
            group.bench_function(format!("l1_check_certificate/{n}/{label}"), |b| {
                b.iter(|| {
                    runtime
                        .block_on(async {
                            rosters
                                .checkCertificate(
                                    l1_roster.as_sol().clone(),
                                    vote.digest(),
                                    certificate.clone(),
                                    66,
                                )
                                .call()
                                .await
                        })
                        .unwrap()
                })
            });
            group.bench_function(format!("rust_verify/{n}/{label}"), |b| {
                b.iter(|| {
                    black_box(&qc)
                        .verify(&rust_roster, Threshold::new(66).unwrap())
                        .unwrap()
                })
            });
        }
        // The hand-over to the next epoch's sets (MACH of the same size), by all of this one.
        let next = [
            Set::new(2, Service::Squad, 4, 11),
            Set::new(2, Service::Vital, 4, 12),
            Set::new(2, Service::Mach, n, 13),
        ];
        let hashes = [
            next[0].l1().hash(),
            next[1].l1().hash(),
            next[2].l1().hash(),
        ];
        let digest = handoff_digest(CHAIN_ID, ROLLUP, 2, hashes);
        let qc = net.mach.certificate(digest, n);
        let certificate = l1_certificate(&qc, &rust_roster, &l1_roster).unwrap();
        let receipt = runtime.block_on(async {
            rosters
                .advanceEpoch(
                    2,
                    next.iter()
                        .map(|s| s.l1().operators_sol().to_vec())
                        .collect(),
                    l1_roster.as_sol().clone(),
                    certificate,
                )
                .send()
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap()
        });
        assert!(receipt.status());
        println!(
            "gas: {n} operators: advanceEpoch (SQUAD 4, VITAL 4, MACH {n}) {}",
            receipt.gas_used()
        );
        if k == 0 {
            // A batch commitment, and a withdrawal proven against it once final.
            let settlement = RollupSettlement::new(net.deployment.settlement, &net.provider);
            let bridge = Bridge::new(net.deployment.bridge, &net.provider);
            runtime.block_on(async {
                bridge
                    .deposit(Address::repeat_byte(1))
                    .value(U256::from(5 * ETHER))
                    .send()
                    .await
                    .unwrap()
                    .get_receipt()
                    .await
                    .unwrap();
                let first = settlement
                    .commitBatch(0, genesis_root, post_root, 1, B256::repeat_byte(0xda), 16, 3, B256::repeat_byte(0xee))
                    .value(U256::from(ETHER))
                    .send()
                    .await
                    .unwrap()
                    .get_receipt()
                    .await
                    .unwrap();
                let second = settlement
                    .commitBatch(1, post_root, B256::repeat_byte(2), 2, B256::repeat_byte(0xdb), 16, 3, B256::repeat_byte(0xee))
                    .value(U256::from(ETHER))
                    .send()
                    .await
                    .unwrap()
                    .get_receipt()
                    .await
                    .unwrap();
                println!(
                    "gas: commitBatch: first {}, next {}",
                    first.gas_used(),
                    second.gas_used()
                );
                net.provider
                    .raw_request::<_, serde_json::Value>("evm_increaseTime".into(), (3_600u64,))
                    .await
                    .unwrap();
                net.provider
                    .raw_request::<_, String>("evm_mine".into(), ())
                    .await
                    .unwrap();
                settlement.finalize().send().await.unwrap().get_receipt().await.unwrap();
                let receipt = bridge
                    .finalizeWithdrawal(0, withdrawal.clone(), account_proof.clone(), storage_proof.clone())
                    .send()
                    .await
                    .unwrap()
                    .get_receipt()
                    .await
                    .unwrap();
                assert!(receipt.status());
                println!(
                    "gas: finalizeWithdrawal ({} account and {} storage proof nodes, 1,016 accounts): {}",
                    account_proof.len(),
                    storage_proof.len(),
                    receipt.gas_used()
                );
            });
        }
    }
    group.finish();
}

criterion_group!(benches, settlement);
criterion_main!(benches);
