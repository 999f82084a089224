//! A block of 1,000 signed EIP-1559 transfers from distinct senders over a state of 100,000
//! accounts: the full pipeline (decode, recover, validate, execute, receipts, state root), each
//! stage alone, and `bare_revm`, the same transactions through a minimal revm loop with senders
//! known and no root, all measured in the same run.

use alloy_evm::FromRecoveredTx;
use alloy_primitives::{Address, B256, U256};
use altlayer_benches::TransferBlock;
use altlayer_core::{
    execution::{BlockAttributes, ExecuteOptions},
    transaction::{DEFAULT_MAX_TX_SIZE, RecoveryBackend, decode_transaction, recover_all},
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use revm::{
    Context, ExecuteCommitEvm, MainBuilder, MainContext,
    context::TxEnv,
    database::{CacheDB, EmptyDB},
    primitives::hardfork::SpecId,
    state::AccountInfo,
};

const ACCOUNTS: usize = 100_000;
const TXS: usize = 1_000;

fn attrs() -> BlockAttributes {
    BlockAttributes {
        timestamp: 1,
        sequencer: Address::repeat_byte(0xc0),
        ..Default::default()
    }
}

fn state_transition(c: &mut Criterion) {
    let fixture = TransferBlock::new(ACCOUNTS, TXS);
    let recovered: Vec<_> = recover_all(fixture.txs.clone(), RecoveryBackend::Libsecp256k1)
        .into_iter()
        .map(|r| r.expect("fixture transactions are valid"))
        .collect();
    let mut group = c.benchmark_group("state_transition");
    group.sample_size(20);
    group.throughput(Throughput::Elements(TXS as u64));

    group.bench_function("full_pipeline", |b| {
        b.iter_batched(
            || fixture.stf.clone(),
            |mut stf| {
                // Raw bytes in, block with every root out; decoding and recovery on all cores
                // overlap execution on this thread.
                let built = stf
                    .build_block_from_raw(attrs(), &fixture.raw, ExecuteOptions::default())
                    .expect("builds");
                assert_eq!(built.block.transactions.len(), TXS);
                (stf, built)
            },
            BatchSize::LargeInput,
        )
    });

    group.bench_function("stage/decode", |b| {
        b.iter(|| {
            fixture
                .raw
                .iter()
                .map(|raw| decode_transaction(raw, DEFAULT_MAX_TX_SIZE).expect("valid"))
                .collect::<Vec<_>>()
        })
    });

    group.bench_function("stage/recover_parallel", |b| {
        b.iter_batched(
            || fixture.txs.clone(),
            |txs| recover_all(txs, RecoveryBackend::Libsecp256k1),
            BatchSize::LargeInput,
        )
    });

    group.bench_function("stage/validate_execute_receipts", |b| {
        b.iter_batched(
            || recovered.clone(),
            |txs| {
                let simulation = fixture.stf.simulate_block(attrs(), txs).expect("executes");
                assert_eq!(simulation.receipts.len(), TXS);
                simulation
            },
            BatchSize::LargeInput,
        )
    });

    let changes = fixture
        .stf
        .simulate_block(attrs(), recovered.clone())
        .expect("executes")
        .changes;
    group.bench_function("stage/state_root", |b| {
        b.iter_batched(
            || fixture.stf.state().clone(),
            |mut state| {
                state.apply(&changes).unwrap();
                (state.state_root().unwrap(), state)
            },
            BatchSize::LargeInput,
        )
    });

    // The baseline: revm alone, senders known, state in revm's CacheDB, no receipts kept and
    // no root.
    let mut db = CacheDB::new(EmptyDB::default());
    for (address, account) in fixture.stf.state().accounts() {
        db.insert_account_info(
            *address,
            AccountInfo {
                balance: account.balance,
                nonce: account.nonce,
                ..Default::default()
            },
        );
    }
    let tx_envs: Vec<TxEnv> = recovered
        .iter()
        .map(|tx| TxEnv::from_recovered_tx(tx.inner(), tx.signer()))
        .collect();
    let chain_id = fixture.stf.config().chain_id;
    let base_fee = fixture.stf.next_base_fee();
    group.bench_function("bare_revm", |b| {
        b.iter_batched(
            || (db.clone(), tx_envs.clone()),
            |(db, txs)| {
                let mut evm = Context::mainnet()
                    .with_db(db)
                    .modify_cfg_chained(|cfg| {
                        cfg.chain_id = chain_id;
                        cfg.set_spec_and_mainnet_gas_params(SpecId::PRAGUE);
                    })
                    .modify_block_chained(|block| {
                        block.number = U256::from(1);
                        block.timestamp = U256::from(1);
                        block.gas_limit = 30_000_000;
                        block.basefee = base_fee;
                        block.beneficiary = Address::repeat_byte(0xc0);
                        block.prevrandao = Some(B256::ZERO);
                    })
                    .build_mainnet();
                for tx in txs {
                    let result = evm.transact_commit(tx).expect("valid");
                    assert!(result.is_success());
                }
                evm
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, state_transition);
criterion_main!(benches);
