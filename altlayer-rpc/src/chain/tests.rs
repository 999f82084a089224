//! The chain's finality records and its reads over a store.
use super::*;
use altlayer_core::{
    StateTransition,
    dev::dev_state_transition,
    execution::{BlockAttributes, ExecuteOptions},
};

/// A chain of `n` empty blocks on core's development genesis, as the rollup reports them.
fn blocks(n: u64) -> (EvmStateTransition, MemoryChain, Vec<RollupEvent>) {
    let mut state = dev_state_transition(RollupConfig::default(), 1);
    let chain = MemoryChain::new(&state, MemoryChainOptions::default());
    let events = (1..=n)
        .map(|t| {
            let attrs = BlockAttributes {
                timestamp: t,
                ..Default::default()
            };
            let built = state
                .build_block(attrs, Vec::new(), ExecuteOptions::default())
                .unwrap();
            let hash = built.block.header.hash();
            RollupEvent::Block {
                built: Box::new(built),
                hash,
            }
        })
        .collect();
    (state, chain, events)
}

fn hash_of(chain: &MemoryChain, height: u64) -> B256 {
    chain.block(height).unwrap().hash
}

/// MACH's certificate over the block at `height`.
fn fast_final(chain: &MemoryChain, height: u64) -> RollupEvent {
    RollupEvent::FastFinal {
        height,
        hash: hash_of(chain, height),
        certificate: B256::repeat_byte(height as u8),
    }
}

/// A confirmed alert on the block at `height`.
fn alerted(chain: &MemoryChain, height: u64) -> RollupEvent {
    RollupEvent::Alerted {
        height,
        hash: hash_of(chain, height),
        alert: B256::repeat_byte(0xaa),
    }
}

/// A chain over a store keeps only its window in memory, reads the rest (blocks, their
/// transactions, the log index) from the store, answers nothing above its head, follows
/// a revert the store made, and starts again from the store after a restart.
#[test]
fn a_chain_over_a_store_reads_what_is_not_in_memory_from_it() {
    use alloy_primitives::TxKind;
    use altlayer_core::{
        dev::{DevAccount, counter_init_code},
        storage::{MemoryStore, StateStore},
    };
    let config = RollupConfig::default();
    let store = Arc::new(MemoryStore::new(1_000));
    let mut state = dev_state_transition(config.clone(), 1)
        .store_genesis(store.clone())
        .unwrap();
    let chain = MemoryChain::stored(&state, store.clone(), MemoryChainOptions::default()).unwrap();
    let account = DevAccount::many(1).remove(0);
    let counter = account.address.create(0);
    let blocks = MIN_WINDOW as u64 + 20;
    let mut hashes = vec![state.head().hash()];
    for t in 1..=blocks {
        // A call to the counter (which logs) in every tenth block.
        let txs = match t {
            1 => vec![(TxKind::Create, counter_init_code())],
            t if t % 10 == 0 => vec![(TxKind::Call(counter), Default::default())],
            _ => Vec::new(),
        };
        let txs = txs
            .into_iter()
            .map(|(to, input)| {
                let nonce = state.nonce(&account.address).unwrap();
                let tx = account.call(config.chain_id, nonce, to, input, 200_000);
                alloy_consensus::transaction::Recovered::new_unchecked(tx, account.address)
            })
            .collect();
        let attrs = BlockAttributes {
            timestamp: t,
            ..Default::default()
        };
        let built = state
            .build_block(attrs, txs, ExecuteOptions::default())
            .unwrap();
        let hash = built.block.header.hash();
        hashes.push(hash);
        chain.apply(
            &[RollupEvent::Block {
                built: Box::new(built),
                hash,
            }],
            &state,
        );
    }
    assert_eq!(chain.tip().latest, blocks);
    assert!(chain.read().blocks.len() <= MIN_WINDOW);
    // Below the window: from the store, the same blocks.
    for number in [0, 1, 10, blocks - MIN_WINDOW as u64 - 1, blocks] {
        let block = chain.block(number).unwrap();
        assert_eq!(block.hash, hashes[number as usize]);
        assert_eq!(chain.block_number(&block.hash), Some(number));
    }
    let call = chain.block(10).unwrap().block.transactions[0].clone();
    assert_eq!(chain.transaction_location(call.tx_hash()), Some((10, 0)));
    let criteria = LogCriteria {
        addresses: vec![counter],
        ..Default::default()
    };
    assert_eq!(
        chain.log_blocks(&criteria, 0, blocks),
        Some((1..=blocks / 10).map(|i| i * 10).collect())
    );
    assert_eq!(chain.log_blocks(&criteria, 21, 29), Some(Vec::new()));
    // A revert below the window: the store unwinds first (the replica becomes the head
    // again), then the chain hears of it.
    store.unwind(15).unwrap();
    chain.apply(
        &[RollupEvent::Rewound {
            from_batch: 0,
            height: 15,
            state_root: B256::ZERO,
            kept: 0,
            requeued: 0,
        }],
        &state,
    );
    assert_eq!(chain.tip().latest, 15);
    assert!(chain.block(16).is_none());
    assert_eq!(chain.block(15).unwrap().hash, hashes[15]);
    assert_eq!(chain.log_blocks(&criteria, 0, blocks), Some(vec![10]));
    // A restart: a replica opened on the store, the chain over it.
    let reopened = EvmStateTransition::open(config, store.clone()).unwrap();
    let chain = MemoryChain::stored(&reopened, store, MemoryChainOptions::default()).unwrap();
    assert_eq!(chain.tip().latest, 15);
    assert_eq!(chain.block(10).unwrap().hash, hashes[10]);
    assert_eq!(chain.transaction_location(call.tx_hash()), Some((10, 0)));
    assert!(chain.state(15).is_some());
}

#[test]
fn an_alerted_block_and_its_descendants_never_become_safe() {
    let (state, chain, events) = blocks(3);
    chain.apply(&events, &state);
    chain.apply(&[fast_final(&chain, 1)], &state);
    assert_eq!(chain.tip().safe, 1);
    chain.apply(&[alerted(&chain, 2)], &state);
    // Certificates over the alerted block or above it change nothing.
    chain.apply(&[fast_final(&chain, 2), fast_final(&chain, 3)], &state);
    assert_eq!(chain.tip().safe, 1);
    assert_eq!(chain.finality(2).unwrap().tier, Tier::Alerted);
    assert_eq!(chain.finality(3).unwrap().tier, Tier::Soft);
    assert_eq!(chain.finality(1).unwrap().tier, Tier::Fast);
    assert_eq!(chain.alerts().len(), 1);
    assert!(chain.alerts()[0].active);
}

#[test]
fn an_alert_after_a_certificate_takes_safe_below_the_alerted_block() {
    let (state, chain, events) = blocks(3);
    chain.apply(&events, &state);
    chain.apply(&[fast_final(&chain, 3)], &state);
    assert_eq!(chain.tip().safe, 3);
    chain.apply(&[alerted(&chain, 2)], &state);
    assert_eq!(chain.tip().safe, 1);
    // No block at or above the alerted one says it is fast-final any more.
    assert_eq!(chain.finality(3).unwrap().tier, Tier::Soft);
    assert_eq!(chain.finality(3).unwrap().fast_certificate, None);
    // The alerted block outlives its window (the challenge was lost): the alert no
    // longer holds certificates back.
    chain.apply(&[RollupEvent::Finalized { height: 2 }], &state);
    assert!(!chain.alerts()[0].active);
    chain.apply(&[fast_final(&chain, 3)], &state);
    assert_eq!(chain.tip().safe, 3);
    assert_eq!(chain.finality(3).unwrap().tier, Tier::Fast);
}
