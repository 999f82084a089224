//! Logs, filters and WebSocket subscriptions, the finality tags and the `altlayer_`
//! namespace as settlement finalizes batches, and a revert taking blocks out of every answer.

mod common;

use alloy_primitives::{Address, B256, TxKind, U64, U256};
use alloy_rpc_types_eth::{Block, Header, Log, TransactionReceipt};
use alloy_sol_types::{SolCall, SolEvent};
use common::{CHAIN, IDemo, Node, demo_bytecode, rpc_error};
use jsonrpsee::{
    core::client::{ClientT, Subscription, SubscriptionClientT},
    rpc_params,
};
use jsonrpsee_ws_client::WsClientBuilder;
use serde_json::{Value, json};
use std::time::Duration;

async fn next<T: serde::de::DeserializeOwned>(subscription: &mut Subscription<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .expect("a notification in time")
        .expect("the subscription is open")
        .expect("the notification decodes")
}

async fn send(node: &Node, tx: &alloy_consensus::TxEnvelope) -> B256 {
    node.http
        .request("eth_sendRawTransaction", rpc_params![Node::raw(tx)])
        .await
        .unwrap()
}

fn store(
    node: &Node,
    from: usize,
    nonce: u64,
    demo: Address,
    key: u64,
    value: u64,
) -> alloy_consensus::TxEnvelope {
    let input = IDemo::storeCall {
        key: U256::from(key),
        value: U256::from(value),
    }
    .abi_encode();
    node.accounts[from].call(CHAIN, nonce, TxKind::Call(demo), input.into(), 200_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_filters_and_subscriptions_see_what_the_chain_does() {
    let node = Node::start().await;
    let http = &node.http;
    let ws = WsClientBuilder::default()
        .build(node.server.ws_url())
        .await
        .unwrap();
    let demo = node.accounts[0].address.create(0);
    let mut heads: Subscription<Header> = ws
        .subscribe("eth_subscribe", rpc_params!["newHeads"], "eth_unsubscribe")
        .await
        .unwrap();
    let mut logs: Subscription<Log> = ws
        .subscribe(
            "eth_subscribe",
            rpc_params!["logs", json!({ "address": demo })],
            "eth_unsubscribe",
        )
        .await
        .unwrap();
    let mut pending: Subscription<B256> = ws
        .subscribe(
            "eth_subscribe",
            rpc_params!["newPendingTransactions"],
            "eth_unsubscribe",
        )
        .await
        .unwrap();
    let log_filter: String = http
        .request("eth_newFilter", rpc_params![json!({ "address": demo })])
        .await
        .unwrap();
    assert!(
        log_filter.starts_with("0x") && log_filter.len() == 34,
        "{log_filter}"
    );
    let block_filter: String = http
        .request("eth_newBlockFilter", rpc_params![])
        .await
        .unwrap();
    let pending_filter: String = http
        .request("eth_newPendingTransactionFilter", rpc_params![])
        .await
        .unwrap();

    let create = node.accounts[0].call(CHAIN, 0, TxKind::Create, demo_bytecode(), 1_000_000);
    let created = send(&node, &create).await;
    assert_eq!(next(&mut pending).await, created);
    node.produce();
    assert_eq!(next(&mut heads).await.number, 1);
    let first = store(&node, 1, 0, demo, 1, 7);
    let second = store(&node, 2, 0, demo, 2, 9);
    for tx in [&first, &second] {
        let hash = send(&node, tx).await;
        assert_eq!(next(&mut pending).await, hash);
    }
    node.produce();
    let head = next(&mut heads).await;
    assert_eq!(head.number, 2);
    // One Stored log per store, by subscription, in order, with their places.
    let one = next(&mut logs).await;
    let two = next(&mut logs).await;
    assert_eq!(one.transaction_hash, Some(*first.tx_hash()));
    assert_eq!(two.transaction_hash, Some(*second.tx_hash()));
    assert_eq!((one.log_index, two.log_index), (Some(0), Some(1)));
    assert_eq!(one.block_hash, Some(head.hash));
    assert!(!one.removed);
    let stored = IDemo::Stored::decode_log(&two.inner).unwrap();
    assert_eq!(stored.who, node.accounts[2].address);
    assert_eq!(stored.value, U256::from(9));

    // eth_getLogs: by address over a range, by topic with OR and wildcards, by block hash.
    let found: Vec<Log> = http
        .request(
            "eth_getLogs",
            rpc_params![json!({ "address": demo, "fromBlock": "earliest", "toBlock": "latest" })],
        )
        .await
        .unwrap();
    assert_eq!(found, vec![one.clone(), two.clone()]);
    let key2 = B256::from(U256::from(2));
    let by_topic: Vec<Log> = http
        .request(
            "eth_getLogs",
            rpc_params![json!({
                "fromBlock": "0x0",
                "topics": [IDemo::Stored::SIGNATURE_HASH, null, [B256::from(U256::from(5)), key2]],
            })],
        )
        .await
        .unwrap();
    assert_eq!(by_topic, vec![two.clone()]);
    let by_hash: Vec<Log> = http
        .request(
            "eth_getLogs",
            rpc_params![json!({ "blockHash": head.hash, "address": [Address::ZERO, demo] })],
        )
        .await
        .unwrap();
    assert_eq!(by_hash.len(), 2);
    let none: Vec<Log> = http
        .request(
            "eth_getLogs",
            rpc_params![json!({ "fromBlock": "0x0", "address": Address::repeat_byte(1) })],
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    let (code, _, _) = rpc_error(
        http.request(
            "eth_getLogs",
            rpc_params![json!({ "fromBlock": "0x2", "toBlock": "0x1" })],
        )
        .await,
    );
    assert_eq!(code, -32_602);

    // Filters hand over what came since the last poll, once.
    let changes: Vec<Log> = http
        .request("eth_getFilterChanges", rpc_params![log_filter.clone()])
        .await
        .unwrap();
    assert_eq!(changes, vec![one.clone(), two.clone()]);
    let again: Vec<Log> = http
        .request("eth_getFilterChanges", rpc_params![log_filter.clone()])
        .await
        .unwrap();
    assert!(again.is_empty());
    let all: Vec<Log> = http
        .request("eth_getFilterLogs", rpc_params![log_filter.clone()])
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let blocks: Vec<B256> = http
        .request("eth_getFilterChanges", rpc_params![block_filter.clone()])
        .await
        .unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[1], head.hash);
    let txs: Vec<B256> = http
        .request("eth_getFilterChanges", rpc_params![pending_filter])
        .await
        .unwrap();
    assert_eq!(txs, vec![created, *first.tx_hash(), *second.tx_hash()]);
    let removed: bool = http
        .request("eth_uninstallFilter", rpc_params![block_filter.clone()])
        .await
        .unwrap();
    assert!(removed);
    let (code, message, _) = rpc_error(
        http.request("eth_getFilterChanges", rpc_params![block_filter.clone()])
            .await,
    );
    assert_eq!((code, message.as_str()), (-32_000, "filter not found"));
    let removed: bool = http
        .request("eth_uninstallFilter", rpc_params![block_filter])
        .await
        .unwrap();
    assert!(!removed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_queries_over_the_limits_are_refused() {
    let config = altlayer_rpc::RpcConfig {
        max_logs_range: 2,
        max_logs: 1,
        max_filters: 2,
        filter_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let node = Node::start_with(1, 3, config).await;
    let http = &node.http;
    let demo = node.accounts[0].address.create(0);
    send(
        &node,
        &node.accounts[0].call(CHAIN, 0, TxKind::Create, demo_bytecode(), 1_000_000),
    )
    .await;
    node.produce();
    send(&node, &store(&node, 1, 0, demo, 1, 1)).await;
    send(&node, &store(&node, 2, 0, demo, 2, 2)).await;
    node.produce();
    let (code, message, _) = rpc_error(
        http.request("eth_getLogs", rpc_params![json!({ "address": demo })])
            .await,
    );
    assert_eq!(
        (code, message.as_str()),
        (-32_005, "query returned more than 1 results")
    );
    // Blocks 0 to 2 are three blocks: over a range of 2. The range counts up to the head.
    let (code, message, _) = rpc_error(
        http.request(
            "eth_getLogs",
            rpc_params![json!({ "fromBlock": "0x0", "toBlock": "0x100" })],
        )
        .await,
    );
    assert_eq!(
        (code, message.as_str()),
        (-32_005, "query exceeds max block range 2")
    );
    for _ in 0..2 {
        http.request::<String, _>("eth_newBlockFilter", rpc_params![])
            .await
            .unwrap();
    }
    let (code, _, _) = rpc_error(http.request("eth_newBlockFilter", rpc_params![]).await);
    assert_eq!(code, -32_005);
    // Filters nobody polls expire, and make room.
    tokio::time::sleep(Duration::from_millis(400)).await;
    http.request::<String, _>("eth_newBlockFilter", rpc_params![])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tags_follow_finality_and_a_revert_takes_blocks_out_of_every_answer() {
    // Two blocks per batch, a 5 s challenge window.
    let node = Node::start_with(2, 5, Default::default()).await;
    let http = &node.http;
    let ws = WsClientBuilder::default()
        .build(node.server.ws_url())
        .await
        .unwrap();
    let mut heads: Subscription<Header> = ws
        .subscribe("eth_subscribe", rpc_params!["newHeads"], "eth_unsubscribe")
        .await
        .unwrap();
    let tag = |name: &'static str| {
        let http = http.clone();
        async move {
            let block: Option<Block> = http
                .request("eth_getBlockByNumber", rpc_params![name, false])
                .await
                .unwrap();
            block.map(|b| b.header.number)
        }
    };
    // Two honest blocks (batch 0), final once their window passes.
    let mut nonces = [0u64; 8];
    let mut transfer = |node: &Node, from: usize| {
        let tx = node.accounts[from].transfer(
            CHAIN,
            nonces[from],
            Address::repeat_byte(0x77),
            U256::from(1),
        );
        nonces[from] += 1;
        tx
    };
    for _ in 0..2 {
        send(&node, &transfer(&node, 0)).await;
        node.produce();
        next(&mut heads).await;
    }
    assert_eq!(tag("latest").await, Some(2));
    assert_eq!(tag("finalized").await, Some(0));
    let finality: Value = http
        .request("altlayer_finality", rpc_params!["latest"])
        .await
        .unwrap();
    assert_eq!(finality["tier"], "soft");
    assert_eq!(finality["batch"], "0x0");
    let pending: Value = http
        .request("altlayer_finality", rpc_params!["0x10"])
        .await
        .unwrap();
    assert_eq!(pending["tier"], "pending");
    let batch: Value = http
        .request("altlayer_getBatch", rpc_params!["0x0"])
        .await
        .unwrap();
    assert_eq!(batch["firstBlock"], "0x1");
    assert_eq!(batch["lastBlock"], "0x2");
    assert_eq!(batch["status"], "committed");

    // The sequencer mints itself a fortune before block 3: batch 1 (blocks 3 and 4) is
    // wrong.
    node.rollup
        .lock()
        .unwrap()
        .sequencer_mut()
        .state_transition_mut()
        .corrupt_state(|state| {
            let thief = Address::repeat_byte(0x5e);
            state
                .set_balance(
                    thief,
                    state.balance(&thief).unwrap() + U256::from(10u64).pow(U256::from(21)),
                )
                .unwrap();
        });
    let doomed = transfer(&node, 1);
    send(&node, &doomed).await;
    node.produce();
    assert_eq!(next(&mut heads).await.number, 3);
    let receipt: Option<TransactionReceipt> = http
        .request("eth_getTransactionReceipt", rpc_params![doomed.tx_hash()])
        .await
        .unwrap();
    assert_eq!(receipt.unwrap().block_number, Some(3));
    let mut reverted = false;
    for _ in 0..12 {
        let events = node.produce();
        if events
            .iter()
            .any(|e| matches!(e, altlayer_core::rollup::RollupEvent::Rewound { .. }))
        {
            reverted = true;
            break;
        }
    }
    assert!(reverted, "the wrong batch is reverted");
    // The chain is back at block 2: latest, the new head to subscribers, and nothing of
    // blocks 3 on anywhere.
    assert_eq!(tag("latest").await, Some(2));
    loop {
        if next(&mut heads).await.number == 2 {
            break;
        }
    }
    let gone: Option<Block> = http
        .request("eth_getBlockByNumber", rpc_params!["0x3", false])
        .await
        .unwrap();
    assert!(gone.is_none());
    let receipt: Option<TransactionReceipt> = http
        .request("eth_getTransactionReceipt", rpc_params![doomed.tx_hash()])
        .await
        .unwrap();
    assert!(receipt.is_none(), "{receipt:?}");
    let batch: Value = http
        .request("altlayer_getBatch", rpc_params!["0x1"])
        .await
        .unwrap();
    assert_eq!(batch["status"], "reverted");
    assert_eq!(batch["challenges"][0]["outcome"], "challengerWon");
    // The reverted transfer is pooled again and goes into the next block.
    node.produce();
    let receipt: TransactionReceipt = http
        .request("eth_getTransactionReceipt", rpc_params![doomed.tx_hash()])
        .await
        .unwrap();
    assert_eq!(receipt.block_number, Some(3));
    // Time passes: everything up to the head becomes final; safe is finalized without MACH.
    for _ in 0..10 {
        node.produce();
    }
    let latest = tag("latest").await.unwrap();
    let finalized = tag("finalized").await.unwrap();
    assert!(finalized >= 3, "finalized {finalized} of {latest}");
    assert_eq!(tag("safe").await, Some(finalized));
    let finality: Value = http
        .request("altlayer_finality", rpc_params!["0x3"])
        .await
        .unwrap();
    assert_eq!(finality["tier"], "firm");
    let active: bool = http
        .request("altlayer_hasActiveAlerts", rpc_params![])
        .await
        .unwrap();
    assert!(!active);
    let number: U64 = http
        .request("eth_blockNumber", rpc_params![])
        .await
        .unwrap();
    assert_eq!(number, U64::from(latest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_are_answered_at_every_block_when_one_step_adds_several() {
    let node = Node::start().await;
    let http = &node.http;
    let to = Address::repeat_byte(0x99);
    let sender = node.accounts[0].address;
    send(
        &node,
        &node.accounts[0].transfer(CHAIN, 0, to, U256::from(5_000)),
    )
    .await;
    // Three blocks in one step, the chain given only the state after the third.
    node.produce_many(3);
    let head: U64 = http
        .request("eth_blockNumber", rpc_params![])
        .await
        .unwrap();
    assert_eq!(head, U64::from(3));
    for block in ["0x1", "0x2", "0x3"] {
        let balance: U256 = http
            .request("eth_getBalance", rpc_params![to, block])
            .await
            .unwrap();
        assert_eq!(balance, U256::from(5_000), "at {block}");
        let nonce: U64 = http
            .request("eth_getTransactionCount", rpc_params![sender, block])
            .await
            .unwrap();
        assert_eq!(nonce, U64::from(1), "at {block}");
        // NUMBER PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN: the call runs on that block's own
        // state and header, not the head's copied down.
        let clock = Address::repeat_byte(0x43);
        let code = json!({ clock.to_string(): { "code": "0x4360005260206000f3" } });
        let number: U256 = http
            .request("eth_call", rpc_params![json!({ "to": clock }), block, code])
            .await
            .unwrap();
        assert_eq!(
            number,
            U256::from_str_radix(&block[2..], 16).unwrap(),
            "at {block}"
        );
        let header: Block = http
            .request("eth_getBlockByNumber", rpc_params![block, false])
            .await
            .unwrap();
        let proof: alloy_rpc_types_eth::EIP1186AccountProofResponse = http
            .request("eth_getProof", rpc_params![to, Vec::<B256>::new(), block])
            .await
            .unwrap();
        // The proof checks against that block's state root: the state is that block's.
        assert_eq!(proof.balance, U256::from(5_000));
        let account = alloy_rlp::encode(alloy_trie::TrieAccount {
            nonce: proof.nonce,
            balance: proof.balance,
            storage_root: proof.storage_hash,
            code_hash: proof.code_hash,
        });
        alloy_trie::proof::verify_proof(
            header.header.state_root,
            alloy_trie::Nibbles::unpack(alloy_primitives::keccak256(to)),
            Some(account),
            &proof.account_proof,
        )
        .unwrap();
    }
    let before: U256 = http
        .request("eth_getBalance", rpc_params![to, "0x0"])
        .await
        .unwrap();
    assert_eq!(before, U256::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_over_the_limit_are_refused_and_the_connection_goes_on() {
    let config = altlayer_rpc::RpcConfig {
        max_subscriptions_per_connection: 2,
        ..Default::default()
    };
    let node = Node::start_with(1, 3, config).await;
    let ws = WsClientBuilder::default()
        .build(node.server.ws_url())
        .await
        .unwrap();
    let subscribe =
        || ws.subscribe::<Header, _>("eth_subscribe", rpc_params!["newHeads"], "eth_unsubscribe");
    let first = subscribe().await.unwrap();
    let _second = subscribe().await.unwrap();
    let third = subscribe().await;
    assert!(third.is_err(), "a third subscription on one connection");
    // The connection still answers, and room comes back when one is dropped.
    let number: U64 = ws.request("eth_blockNumber", rpc_params![]).await.unwrap();
    assert_eq!(number, U64::ZERO);
    first.unsubscribe().await.unwrap();
    // The server frees the slot just after it answers the unsubscription: give it a moment.
    let mut again = None;
    for _ in 0..100 {
        match subscribe().await {
            Ok(subscription) => {
                again = Some(subscription);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
    let mut again = again.expect("room for a subscription once one is dropped");
    node.produce();
    assert_eq!(next(&mut again).await.number, 1);
}
