//! Property tests: decoders never panic on arbitrary bytes, and the incremental state root of
//! real EVM execution always equals a from-scratch rebuild.

use alloy_primitives::{Address, Bytes, TxKind, U256};
use altlayer_core::{
    Block, Header, RollupConfig,
    dev::{DevAccount, counter_init_code, dev_state_transition},
    execution::{BlockAttributes, ExecuteOptions},
    transaction::{DEFAULT_MAX_TX_SIZE, RecoveryBackend, decode_transaction, recover},
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn transaction_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_transaction(&bytes, DEFAULT_MAX_TX_SIZE);
    }

    #[test]
    fn transaction_decoder_never_panics_on_typed_prefixes(ty in 0u8..6, bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut input = vec![ty];
        input.extend(bytes);
        if let Ok(tx) = decode_transaction(&input, DEFAULT_MAX_TX_SIZE) {
            let _ = recover(tx, RecoveryBackend::Libsecp256k1);
        }
    }

    #[test]
    fn block_and_header_decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Block::decode_exact(&bytes);
        let _ = Header::decode_exact(&bytes);
    }
}

/// One step of a random workload on the development accounts.
#[derive(Debug, Clone)]
enum Step {
    Transfer { from: usize, to: u8, value: u64 },
    Deploy { from: usize },
    Call { from: usize, contract: usize },
    EndBlock,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..6, 0u8..10, 0u64..1_000).prop_map(|(from, to, value)| Step::Transfer { from, to, value }),
        1 => (0usize..6).prop_map(|from| Step::Deploy { from }),
        3 => (0usize..6, 0usize..4).prop_map(|(from, contract)| Step::Call { from, contract }),
        2 => Just(Step::EndBlock),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// After random blocks of transfers, deployments and contract calls (including transfers
    /// that create and fund fresh accounts), the incremental state root equals the rebuild, a
    /// follower re-executing every block agrees, and the per-transaction roots end at the root.
    #[test]
    fn incremental_root_matches_rebuild_under_execution(steps in prop::collection::vec(step(), 1..60)) {
        let accounts = DevAccount::many(6);
        let mut stf = dev_state_transition(RollupConfig::default(), 6);
        let mut follower = stf.clone();
        let mut nonces = [0u64; 6];
        let mut contracts: Vec<Address> = Vec::new();
        let mut pending = Vec::new();
        let mut timestamp = 0;
        let chain = stf.config().chain_id;
        for step in steps.into_iter().chain([Step::EndBlock]) {
            let tx = match step {
                Step::Transfer { from, to, value } => {
                    Some((from, accounts[from].transfer(chain, nonces[from], Address::with_last_byte(to + 1), U256::from(value))))
                }
                Step::Deploy { from } => {
                    contracts.push(accounts[from].address.create(nonces[from]));
                    Some((from, accounts[from].call(chain, nonces[from], TxKind::Create, counter_init_code(), 200_000)))
                }
                Step::Call { from, contract } => contracts.get(contract).map(|c| {
                    (from, accounts[from].call(chain, nonces[from], TxKind::Call(*c), Bytes::new(), 100_000))
                }),
                Step::EndBlock => {
                    timestamp += 1;
                    let candidates = std::mem::take(&mut pending);
                    let built = stf.build_block(
                        BlockAttributes { timestamp, sequencer: Address::repeat_byte(0xc0), ..Default::default() },
                        candidates,
                        ExecuteOptions::with_intermediate_roots(),
                    ).unwrap();
                    prop_assert!(built.rejected.is_empty(), "{:?}", built.rejected);
                    if let Some(last) = built.outcome.intermediate_roots.last() {
                        prop_assert_eq!(*last, built.block.header.state_root);
                    }
                    prop_assert_eq!(stf.state().clone().state_root_from_scratch(), stf.state_root());
                    follower.execute_block_recovering(&built.block, ExecuteOptions::default()).unwrap();
                    prop_assert_eq!(follower.head(), stf.head());
                    None
                }
            };
            if let Some((from, tx)) = tx {
                nonces[from] += 1;
                pending.push(recover(tx, RecoveryBackend::Libsecp256k1).unwrap());
            }
        }
    }
}
