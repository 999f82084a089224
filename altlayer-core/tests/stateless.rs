//! One-step proofs: every step of a batch re-executed from its witness alone reaches the root
//! full re-execution reaches; the witness agrees with alloy-trie's proof verification; a
//! witness for another root, or lacking anything, is refused; an invalid transaction is proven
//! invalid.

use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_trie::{Nibbles, TrieAccount, nodes::TrieNode, proof::verify_proof};
use altlayer_core::{
    Batch, Block, EvmStateTransition, RollupConfig,
    dev::{
        DevAccount, counter_init_code, dev_state, install_system_contracts, store_call,
        store_init_code,
    },
    execution::{
        BlockAttributes, DEFAULT_INITIAL_BASE_FEE, ExecuteOptions, ExecutionError,
        stateless::{
            Replay, StepError, StepOutcome, StepWitness, claimed_step_roots, plan_step, step_count,
            verify_step,
        },
    },
    transaction::{RecoveryBackend, recover},
};
use std::collections::HashMap;

const CHAIN: u64 = 1_337;

fn recovered(tx: TxEnvelope) -> Recovered<TxEnvelope> {
    recover(tx, RecoveryBackend::Libsecp256k1).unwrap()
}

/// A chain with Ethereum's system contracts (so every block's system calls write state),
/// 8 funded accounts, and blocks 1..=7: deployments, transfers, store calls that write and
/// delete 32 slots and read block hashes, counter calls, and empty blocks in between and at
/// the end. Returns the genesis state transition, the blocks, and their intermediate roots.
fn chain() -> (EvmStateTransition, Vec<Block>, Vec<Vec<B256>>) {
    let mut state = dev_state(8);
    install_system_contracts(&mut state).unwrap();
    let genesis =
        EvmStateTransition::new(RollupConfig::default(), state, 0, DEFAULT_INITIAL_BASE_FEE);
    let mut sequencer = genesis.clone();
    let accounts = DevAccount::many(8);
    let store = accounts[0].address.create(0);
    let counter = accounts[1].address.create(0);
    let mut nonces = [0u64; 8];
    let mut next = |i: usize| {
        nonces[i] += 1;
        nonces[i] - 1
    };
    let call = |who: usize, nonce: u64, to: Address, input: Bytes| {
        recovered(accounts[who].call(CHAIN, nonce, TxKind::Call(to), input, 1_000_000))
    };
    let transfer = |who: usize, nonce: u64, to: Address| {
        recovered(accounts[who].transfer(CHAIN, nonce, to, U256::from(1_000_000_007u64)))
    };
    let plan: Vec<Vec<Recovered<TxEnvelope>>> = vec![
        vec![
            recovered(accounts[0].call(CHAIN, next(0), TxKind::Create, store_init_code(), 500_000)),
            recovered(accounts[1].call(
                CHAIN,
                next(1),
                TxKind::Create,
                counter_init_code(),
                200_000,
            )),
            transfer(2, next(2), Address::repeat_byte(0x77)),
        ],
        vec![],
        vec![
            call(
                3,
                next(3),
                store,
                store_call(U256::from(100), U256::from(5)),
            ),
            transfer(4, next(4), accounts[5].address),
            call(5, next(5), counter, Bytes::new()),
        ],
        vec![],
        vec![],
        vec![
            call(3, next(3), store, store_call(U256::from(100), U256::ZERO)),
            call(
                6,
                next(6),
                store,
                store_call(U256::from(116), U256::from(9)),
            ),
            transfer(7, next(7), Address::repeat_byte(0x78)),
        ],
        vec![],
    ];
    let mut blocks = Vec::new();
    let mut roots = Vec::new();
    for (i, txs) in plan.into_iter().enumerate() {
        let count = txs.len();
        let built = sequencer
            .build_block(
                BlockAttributes {
                    timestamp: 12 * (i as u64 + 1),
                    sequencer: Address::repeat_byte(0xc0),
                    ..Default::default()
                },
                txs,
                ExecuteOptions::with_intermediate_roots(),
            )
            .unwrap();
        assert!(built.rejected.is_empty(), "{:?}", built.rejected);
        assert_eq!(built.block.transactions.len(), count);
        roots.push(built.outcome.intermediate_roots);
        blocks.push(built.block);
    }
    // The system contracts make empty blocks change state: steps must account for them.
    assert_ne!(blocks[1].header.state_root, blocks[0].header.state_root);
    (genesis, blocks, roots)
}

fn batch(pre: &EvmStateTransition, blocks: &[Block], roots: &[Vec<B256>]) -> Batch {
    Batch {
        rollup_id: pre.config().rollup_id,
        index: 0,
        pre_state_root: pre.state_root(),
        post_state_root: blocks.last().unwrap().header.state_root,
        blocks: blocks.to_vec(),
        intermediate_roots: roots.concat(),
    }
}

/// The state transition after the first `n` blocks.
fn after(genesis: &EvmStateTransition, blocks: &[Block], n: usize) -> EvmStateTransition {
    let mut state = genesis.clone();
    for block in &blocks[..n] {
        state
            .execute_block_recovering(block, ExecuteOptions::default())
            .unwrap();
    }
    state
}

fn pre_root(batch: &Batch, roots: &[B256], step: usize) -> B256 {
    if step == 0 {
        batch.pre_state_root
    } else {
        roots[step - 1]
    }
}

#[test]
fn every_step_verified_from_its_witness_reaches_the_true_root() {
    let (genesis, blocks, roots) = chain();
    // Two batches: blocks 1-2, and 3-7, whose first steps need ancestors from the first.
    for (from, to) in [(0, 2), (2, 7)] {
        let pre = after(&genesis, &blocks, from);
        let batch = batch(&pre, &blocks[from..to], &roots[from..to]);
        let mut replay = Replay::new(&pre, batch.clone()).unwrap();
        let true_roots = replay.run().unwrap().to_vec();
        assert_eq!(
            true_roots,
            claimed_step_roots(&batch),
            "batch from block {}",
            from + 1
        );

        let mut prover = Replay::new(&pre, batch.clone()).unwrap();
        for step in 0..step_count(&batch) {
            let witness = prover.prove(step).unwrap();
            let outcome = verify_step(
                pre.config(),
                &batch,
                step,
                pre_root(&batch, &true_roots, step),
                &witness,
            )
            .unwrap();
            assert_eq!(outcome, StepOutcome::Root(true_roots[step]), "step {step}");
            // The witness is serialisable as it would be posted.
            let json = serde_json::to_string(&witness).unwrap();
            assert_eq!(serde_json::from_str::<StepWitness>(&json).unwrap(), witness);
        }
    }
}

#[test]
fn steps_cover_empty_blocks_and_the_batch_end() {
    let (genesis, blocks, roots) = chain();
    let batch = batch(&genesis, &blocks[2..7], &roots[2..7]);
    assert_eq!(step_count(&batch), 6);
    // Step 3 enters block 6 (position 3): leaves block 3, runs empty blocks 4 and 5 whole.
    let plan = plan_step(&batch, 3).unwrap();
    let shape: Vec<(usize, bool, Option<usize>, bool)> = plan
        .parts
        .iter()
        .map(|p| (p.block, p.pre, p.transaction, p.post))
        .collect();
    assert_eq!(
        shape,
        vec![
            (0, false, None, true),
            (1, true, None, true),
            (2, true, None, true),
            (3, true, Some(0), false)
        ]
    );
    // The last step runs to the end of the batch, its trailing empty block included.
    let last = plan_step(&batch, 5).unwrap();
    assert_eq!(last.parts.last().unwrap().block, 4);
    assert!(matches!(
        plan_step(&batch, 6),
        Err(StepError::NoSuchStep { index: 6, steps: 6 })
    ));
    // A batch of empty blocks is one step.
    let empty = Batch {
        blocks: blocks[3..5].to_vec(),
        ..Default::default()
    };
    assert_eq!(step_count(&empty), 1);
    assert_eq!(plan_step(&empty, 0).unwrap().parts.len(), 2);
}

/// Walks the witness's nodes from `root` along `key` and returns the path's nodes, root
/// first: the proof alloy-trie verifies.
fn proof_from_witness(root: B256, key: B256, nodes: &[Bytes]) -> Vec<Bytes> {
    let by_hash: HashMap<B256, &Bytes> = nodes.iter().map(|n| (keccak256(n), n)).collect();
    let path = Nibbles::unpack(key);
    let mut proof = Vec::new();
    let mut next = Some(root);
    let mut depth = 0;
    while let Some(hash) = next.take() {
        let Some(bytes) = by_hash.get(&hash) else {
            break;
        };
        proof.push((*bytes).clone());
        let mut node = <TrieNode as alloy_rlp::Decodable>::decode(&mut &bytes[..]).unwrap();
        // Nodes under 32 bytes are inline; follow them without a hash lookup.
        loop {
            match node {
                TrieNode::Branch(branch) => {
                    if depth >= path.len() {
                        break;
                    }
                    let nibble = path.get_unchecked(depth);
                    depth += 1;
                    let branch_ref = branch.as_ref();
                    let Some(child) = branch_ref
                        .children()
                        .find(|(n, _)| *n == nibble)
                        .and_then(|(_, c)| c.cloned())
                    else {
                        break;
                    };
                    match child.as_hash() {
                        Some(h) => next = Some(h),
                        None => {
                            node = <TrieNode as alloy_rlp::Decodable>::decode(&mut &child[..])
                                .unwrap();
                            continue;
                        }
                    }
                }
                TrieNode::Extension(ext) => {
                    depth += ext.key.len();
                    match ext.child.as_hash() {
                        Some(h) => next = Some(h),
                        None => {
                            node = <TrieNode as alloy_rlp::Decodable>::decode(&mut &ext.child[..])
                                .unwrap();
                            continue;
                        }
                    }
                }
                TrieNode::Leaf(_) | TrieNode::EmptyRoot => {}
            }
            break;
        }
    }
    proof
}

#[test]
fn witness_accounts_verify_with_alloy_trie_proofs() {
    let (genesis, blocks, roots) = chain();
    let pre = after(&genesis, &blocks, 2);
    let batch = batch(&pre, &blocks[2..7], &roots[2..7]);
    let mut prover = Replay::new(&pre, batch.clone()).unwrap();
    let witness = prover.prove(0).unwrap();
    let accounts = DevAccount::many(8);
    let store = accounts[0].address.create(0);
    let mut checked = 0;
    for address in [accounts[3].address, store, Address::repeat_byte(0xc0)] {
        let key = keccak256(address);
        let proof = proof_from_witness(batch.pre_state_root, key, &witness.state);
        let expected = pre.state().account(&address).map(|account| {
            let storage_root = pre
                .state()
                .clone()
                .account_storage_root(&address)
                .unwrap()
                .unwrap();
            alloy_rlp::encode(TrieAccount {
                nonce: account.nonce,
                balance: account.balance,
                storage_root,
                code_hash: account.code_hash,
            })
        });
        verify_proof(batch.pre_state_root, Nibbles::unpack(key), expected, &proof)
            .unwrap_or_else(|e| panic!("{address}: {e}"));
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn a_witness_for_another_root_or_lacking_anything_is_refused() {
    let (genesis, blocks, roots) = chain();
    let pre = after(&genesis, &blocks, 2);
    let batch = batch(&pre, &blocks[2..7], &roots[2..7]);
    let config = pre.config().clone();
    let mut prover = Replay::new(&pre, batch.clone()).unwrap();
    // Step 0: enters the batch, runs the system calls and a store call writing 32 slots.
    let witness = prover.prove(0).unwrap();
    let root = batch.pre_state_root;
    assert!(verify_step(&config, &batch, 0, root, &witness).is_ok());

    assert!(matches!(
        verify_step(&config, &batch, 0, B256::repeat_byte(1), &witness),
        Err(StepError::Witness(_))
    ));
    // Every node is needed: without any one of them the step is refused, never decided.
    assert!(witness.state.len() > 10, "{} nodes", witness.state.len());
    for i in 1..witness.state.len() {
        let mut lacking = witness.clone();
        lacking.state.remove(i);
        let result = verify_step(&config, &batch, 0, root, &lacking);
        assert!(
            matches!(
                result,
                Err(StepError::Missing(_) | StepError::MissingNode(_))
            ),
            "without node {i}: {result:?}"
        );
    }
    let mut no_code = witness.clone();
    no_code.codes.clear();
    assert!(matches!(
        verify_step(&config, &batch, 0, root, &no_code),
        Err(StepError::Missing(_))
    ));
    let mut forged = witness.clone();
    forged.ancestors[0].timestamp += 1;
    assert!(matches!(
        verify_step(&config, &batch, 0, root, &forged),
        Err(StepError::Ancestors { .. })
    ));
    let mut headless = witness;
    headless.ancestors.clear();
    assert!(matches!(
        verify_step(&config, &batch, 0, root, &headless),
        Err(StepError::Ancestors { .. } | StepError::Missing(_))
    ));
}

#[test]
fn an_invalid_transaction_is_proven_invalid() {
    let (genesis, blocks, roots) = chain();
    let pre = after(&genesis, &blocks, 2);
    let mut bad = blocks[2..7].to_vec();
    // A replayed transaction: its nonce is used by the time it runs.
    let replayed = bad[0].transactions[0].clone();
    bad[0].transactions.insert(2, replayed);
    let mut roots = roots[2..7].to_vec();
    roots[0].insert(2, B256::repeat_byte(0xee));
    let batch = batch(&pre, &bad, &roots);
    let mut replay = Replay::new(&pre, batch.clone()).unwrap();
    assert_eq!(replay.run().unwrap().len(), 2);
    assert!(matches!(
        replay.invalid(),
        Some((2, ExecutionError::InvalidTransaction { .. }))
    ));
    let true_roots = replay.roots().to_vec();
    let mut prover = Replay::new(&pre, batch.clone()).unwrap();
    let witness = prover.prove(2).unwrap();
    let outcome = verify_step(pre.config(), &batch, 2, true_roots[1], &witness).unwrap();
    assert!(matches!(
        outcome,
        StepOutcome::Invalid(ExecutionError::InvalidTransaction { .. })
    ));
    // Steps past an invalid one cannot be proven.
    assert!(matches!(prover.prove(3), Err(StepError::Prover(_))));
}
