//! The `eth_`, `net_` and `web3_` methods over HTTP against a rollup with core's defaults:
//! answers in geth's shape, transactions from pool to receipt, and refusals with geth's codes
//! and words.

mod common;

use alloy_consensus::{Transaction as _, TxEip1559, TxEnvelope, TxLegacy};
use alloy_primitives::{Address, B256, Bytes, TxKind, U64, U256, b256};
use alloy_rpc_types_eth::{Block, BlockTransactions, Transaction, TransactionReceipt};
use altlayer_core::dev::dev_balance;
use altlayer_rpc::ChainReader;
use common::{CHAIN, Node, rpc_error};
use jsonrpsee::{core::client::ClientT, rpc_params};
use serde_json::{Value, json};

fn transfer(node: &Node, from: usize, nonce: u64, value: u64) -> TxEnvelope {
    node.accounts[from].transfer(CHAIN, nonce, Address::repeat_byte(0x77), U256::from(value))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_answers_as_geth_does() {
    let node = Node::start().await;
    let http = &node.http;
    let chain_id: U64 = http.request("eth_chainId", rpc_params![]).await.unwrap();
    assert_eq!(chain_id, U64::from(CHAIN));
    let version: String = http.request("net_version", rpc_params![]).await.unwrap();
    assert_eq!(version, CHAIN.to_string());
    let client: String = http
        .request("web3_clientVersion", rpc_params![])
        .await
        .unwrap();
    assert!(client.starts_with("altlayer/v"), "{client}");
    // keccak256 of nothing, the known constant.
    let empty: B256 = http.request("web3_sha3", rpc_params!["0x"]).await.unwrap();
    assert_eq!(
        empty,
        b256!("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
    );
    let syncing: bool = http.request("eth_syncing", rpc_params![]).await.unwrap();
    assert!(!syncing);
    let accounts: Vec<Address> = http.request("eth_accounts", rpc_params![]).await.unwrap();
    assert!(accounts.is_empty());
    let listening: bool = http.request("net_listening", rpc_params![]).await.unwrap();
    assert!(listening);

    let number: U64 = http
        .request("eth_blockNumber", rpc_params![])
        .await
        .unwrap();
    assert_eq!(number, U64::ZERO);
    let genesis: Block = http
        .request("eth_getBlockByNumber", rpc_params!["earliest", false])
        .await
        .unwrap();
    assert_eq!(genesis.header.number, 0);
    assert_eq!(genesis.header.hash, node.chain_head_hash(0));
    // The shape wallets read: a London base fee, an empty uncle list, post-Shanghai
    // withdrawals, and the genesis state root.
    assert!(genesis.header.base_fee_per_gas.is_some());
    assert!(genesis.uncles.is_empty());
    assert_eq!(genesis.withdrawals.as_ref().map(|w| w.len()), Some(0));
    let raw: Value = http
        .request("eth_getBlockByNumber", rpc_params!["latest", false])
        .await
        .unwrap();
    for key in [
        "hash",
        "parentHash",
        "sha3Uncles",
        "miner",
        "stateRoot",
        "transactionsRoot",
        "receiptsRoot",
        "logsBloom",
        "difficulty",
        "number",
        "gasLimit",
        "gasUsed",
        "timestamp",
        "extraData",
        "mixHash",
        "nonce",
        "baseFeePerGas",
        "size",
        "transactions",
        "uncles",
    ] {
        assert!(raw.get(key).is_some(), "{key} missing from {raw}");
    }
    assert_eq!(raw["number"], "0x0");
    // Unknown blocks are null, unknown state is an error.
    let missing: Option<Block> = http
        .request("eth_getBlockByNumber", rpc_params!["0x64", false])
        .await
        .unwrap();
    assert!(missing.is_none());
    let balance: U256 = http
        .request(
            "eth_getBalance",
            rpc_params![node.accounts[0].address, "latest"],
        )
        .await
        .unwrap();
    assert_eq!(balance, dev_balance());
    let (code, message, _) = rpc_error(
        http.request(
            "eth_getBalance",
            rpc_params![node.accounts[0].address, "0x64"],
        )
        .await,
    );
    assert_eq!((code, message.as_str()), (-32_000, "header not found"));
    let (code, message, _) = rpc_error(
        http.request("eth_getBalance", rpc_params![Address::ZERO, B256::ZERO])
            .await,
    );
    assert_eq!(
        (code, message.as_str()),
        (-32_000, "header for hash not found")
    );
    // Unknown methods are -32601, bad parameters -32602.
    let (code, _, _) = rpc_error(http.request("eth_nope", rpc_params![]).await);
    assert_eq!(code, -32_601);
    let (code, _, _) = rpc_error(
        http.request("eth_getBalance", rpc_params!["0x12", "latest"])
            .await,
    );
    assert_eq!(code, -32_602);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_is_pending_then_included_with_its_receipt() {
    let node = Node::start().await;
    let http = &node.http;
    let sender = node.accounts[0].address;
    let tx = transfer(&node, 0, 0, 1_000);
    let hash: B256 = http
        .request("eth_sendRawTransaction", rpc_params![Node::raw(&tx)])
        .await
        .unwrap();
    assert_eq!(hash, *tx.tx_hash());
    // Pooled: the transaction with null block fields, no receipt, the pending nonce ahead.
    let pending: Value = http
        .request("eth_getTransactionByHash", rpc_params![hash])
        .await
        .unwrap();
    assert_eq!(pending["blockNumber"], Value::Null);
    assert_eq!(pending["blockHash"], Value::Null);
    assert_eq!(pending["from"], serde_json::to_value(sender).unwrap());
    let receipt: Option<TransactionReceipt> = http
        .request("eth_getTransactionReceipt", rpc_params![hash])
        .await
        .unwrap();
    assert!(receipt.is_none());
    let nonce = |tag: &'static str| {
        let http = http.clone();
        async move {
            let n: U256 = http
                .request("eth_getTransactionCount", rpc_params![sender, tag])
                .await
                .unwrap();
            n
        }
    };
    assert_eq!(nonce("pending").await, U256::from(1));
    assert_eq!(nonce("latest").await, U256::ZERO);

    node.produce();
    let included: Transaction = http
        .request("eth_getTransactionByHash", rpc_params![hash])
        .await
        .unwrap();
    assert_eq!(included.block_number, Some(1));
    assert_eq!(included.transaction_index, Some(0));
    assert_eq!(included.inner.signer(), sender);
    let receipt: TransactionReceipt = http
        .request("eth_getTransactionReceipt", rpc_params![hash])
        .await
        .unwrap();
    assert!(receipt.status());
    assert_eq!(receipt.gas_used, 21_000);
    assert_eq!(receipt.from, sender);
    assert_eq!(receipt.to, Some(Address::repeat_byte(0x77)));
    assert_eq!(receipt.block_number, Some(1));
    let block: Block = http
        .request("eth_getBlockByNumber", rpc_params!["latest", true])
        .await
        .unwrap();
    assert_eq!(Some(block.header.hash), receipt.block_hash);
    let BlockTransactions::Full(txs) = &block.transactions else {
        panic!("full transactions asked for");
    };
    assert_eq!(*txs[0].inner.tx_hash(), hash);
    // The effective price: the base fee plus the tip, capped by the fee cap.
    let base_fee = block.header.base_fee_per_gas.unwrap();
    assert_eq!(
        receipt.effective_gas_price,
        tx.effective_gas_price(Some(base_fee))
    );
    let by_hash: Block = http
        .request("eth_getBlockByHash", rpc_params![block.header.hash, false])
        .await
        .unwrap();
    assert_eq!(
        by_hash.transactions.hashes().collect::<Vec<_>>(),
        vec![hash]
    );
    let receipts: Vec<TransactionReceipt> = http
        .request("eth_getBlockReceipts", rpc_params!["latest"])
        .await
        .unwrap();
    assert_eq!(receipts, vec![receipt]);
    let count: U64 = http
        .request("eth_getBlockTransactionCountByNumber", rpc_params!["0x1"])
        .await
        .unwrap();
    assert_eq!(count, U64::from(1));
    let by_index: Transaction = http
        .request(
            "eth_getTransactionByBlockNumberAndIndex",
            rpc_params!["0x1", "0x0"],
        )
        .await
        .unwrap();
    assert_eq!(by_index, included);
    let uncles: U64 = http
        .request("eth_getUncleCountByBlockNumber", rpc_params!["0x1"])
        .await
        .unwrap();
    assert_eq!(uncles, U64::ZERO);
    let block_hash = block.header.hash;
    let count: U64 = http
        .request(
            "eth_getBlockTransactionCountByHash",
            rpc_params![block_hash],
        )
        .await
        .unwrap();
    assert_eq!(count, U64::from(1));
    let by_hash_index: Transaction = http
        .request(
            "eth_getTransactionByBlockHashAndIndex",
            rpc_params![block_hash, "0x0"],
        )
        .await
        .unwrap();
    assert_eq!(by_hash_index, included);
    // Past the end, and unknown blocks: null, as geth answers.
    let none: Option<Transaction> = http
        .request(
            "eth_getTransactionByBlockHashAndIndex",
            rpc_params![block_hash, "0x1"],
        )
        .await
        .unwrap();
    assert!(none.is_none());
    let none: Option<U64> = http
        .request(
            "eth_getBlockTransactionCountByHash",
            rpc_params![B256::ZERO],
        )
        .await
        .unwrap();
    assert!(none.is_none());
    let uncles: U64 = http
        .request("eth_getUncleCountByBlockHash", rpc_params![block_hash])
        .await
        .unwrap();
    assert_eq!(uncles, U64::ZERO);
    for (method, at) in [
        ("eth_getUncleByBlockHashAndIndex", json!(block_hash)),
        ("eth_getUncleByBlockNumberAndIndex", json!("0x1")),
    ] {
        let uncle: Option<Block> = http.request(method, rpc_params![at, "0x0"]).await.unwrap();
        assert!(uncle.is_none(), "{method}");
    }
    // Fees: the tip the last blocks paid (this one's 2 gwei), and the next base fee plus it.
    let tip: U256 = http
        .request("eth_maxPriorityFeePerGas", rpc_params![])
        .await
        .unwrap();
    assert_eq!(tip, U256::from(tx.effective_tip_per_gas(base_fee).unwrap()));
    let price: U256 = http.request("eth_gasPrice", rpc_params![]).await.unwrap();
    let next_base_fee = altlayer_core::execution::base_fee_after(
        node.chain.config(),
        &node.chain.block(1).unwrap().block.header,
    );
    assert_eq!(price, U256::from(next_base_fee) + tip);
    let peers: U64 = http.request("net_peerCount", rpc_params![]).await.unwrap();
    assert_eq!(peers, U64::ZERO);
    assert_eq!(nonce("latest").await, U256::from(1));
    assert_eq!(nonce("pending").await, U256::from(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_transactions_carry_geths_code_and_words() {
    let node = Node::start().await;
    let http = &node.http;
    let send = |tx: Bytes| {
        let http = http.clone();
        async move {
            http.request::<Value, _>("eth_sendRawTransaction", rpc_params![tx])
                .await
        }
    };
    let first = transfer(&node, 0, 0, 1);
    send(Node::raw(&first)).await.unwrap();
    let cases: Vec<(Bytes, &str)> = vec![
        (Node::raw(&first), "already known"),
        (
            Node::raw(&transfer(&node, 0, 0, 2)),
            "replacement transaction underpriced",
        ),
        (
            Node::raw(&node.accounts[1].transfer(CHAIN, 0, Address::ZERO, dev_balance())),
            "insufficient funds for gas * price + value",
        ),
        (
            Node::raw(&node.accounts[1].sign_eip1559(TxEip1559 {
                chain_id: CHAIN,
                gas_limit: 20_000,
                max_fee_per_gas: 100_000_000_000,
                to: TxKind::Call(Address::ZERO),
                ..Default::default()
            })),
            "intrinsic gas too low",
        ),
        (
            Node::raw(&node.accounts[1].sign_eip1559(TxEip1559 {
                chain_id: CHAIN,
                gas_limit: 21_000,
                max_fee_per_gas: 1,
                to: TxKind::Call(Address::ZERO),
                ..Default::default()
            })),
            "max fee per gas less than block base fee",
        ),
        (
            Node::raw(&node.accounts[1].sign_eip1559(TxEip1559 {
                chain_id: CHAIN,
                gas_limit: 100_000_000,
                max_fee_per_gas: 100_000_000_000,
                to: TxKind::Call(Address::ZERO),
                ..Default::default()
            })),
            "exceeds block gas limit",
        ),
        (
            Node::raw(&node.accounts[1].transfer(CHAIN + 1, 0, Address::ZERO, U256::ZERO)),
            "invalid chain id for signer",
        ),
        (
            Node::raw(&node.accounts[1].sign_legacy(TxLegacy {
                chain_id: None,
                gas_limit: 21_000,
                gas_price: 100_000_000_000,
                to: TxKind::Call(Address::ZERO),
                ..Default::default()
            })),
            "only replay-protected (EIP-155) transactions allowed over RPC",
        ),
        (Bytes::from_static(&[0x02, 0xc0]), "invalid transaction"),
    ];
    for (raw, words) in cases {
        let result = send(raw).await;
        assert!(result.is_err(), "{words}: accepted");
        let (code, message, _) = rpc_error(result);
        assert_eq!(code, -32_000, "{message}");
        assert!(
            message.starts_with(words),
            "{message} does not start with {words}"
        );
    }
    node.produce();
    let (code, message, _) = rpc_error(send(Node::raw(&first)).await);
    assert_eq!(code, -32_000);
    assert_eq!(message, "nonce too low: next nonce 1, tx nonce 0");
    // Ten per cent more in fee cap and tip replaces a pooled transaction.
    let pooled = node.accounts[2].sign_eip1559(TxEip1559 {
        chain_id: CHAIN,
        gas_limit: 21_000,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(Address::ZERO),
        ..Default::default()
    });
    let bumped = node.accounts[2].sign_eip1559(TxEip1559 {
        max_fee_per_gas: 11_000_000_000,
        max_priority_fee_per_gas: 1_100_000_000,
        ..pooled.as_eip1559().unwrap().tx().clone()
    });
    send(Node::raw(&pooled)).await.unwrap();
    send(Node::raw(&bumped)).await.unwrap();
    node.produce();
    let gone: Option<Transaction> = http
        .request("eth_getTransactionByHash", rpc_params![pooled.tx_hash()])
        .await
        .unwrap();
    assert!(gone.is_none());
    let receipt: TransactionReceipt = http
        .request("eth_getTransactionReceipt", rpc_params![bumped.tx_hash()])
        .await
        .unwrap();
    assert!(receipt.status());
}
