//! A contract through the RPC: deployed, written and read; `eth_call` with reverts decoded
//! as geth decodes them and with state overrides; `eth_estimateGas` by binary search;
//! `eth_createAccessList`; `eth_getProof` checked with alloy-trie's verifier; geth's tracers.

mod common;

use alloy_consensus::TxEnvelope;
use alloy_primitives::{Address, B256, Bytes, TxKind, U64, U256, keccak256};
use alloy_rpc_types_eth::{
    AccessListResult, Block, EIP1186AccountProofResponse, TransactionReceipt,
};
use alloy_sol_types::{SolCall, SolError, SolEvent};
use alloy_trie::{Nibbles, TrieAccount, proof::verify_proof};
use common::{CHAIN, IDemo, Node, demo_bytecode, rpc_error};
use jsonrpsee::{core::client::ClientT, rpc_params};
use serde_json::{Value, json};

/// Deploys Demo from account 0 and stores 7 under key 1 from account 1; returns Demo's
/// address and the store transaction.
async fn deploy(node: &Node) -> (Address, TxEnvelope) {
    let owner = &node.accounts[0];
    let create = owner.call(CHAIN, 0, TxKind::Create, demo_bytecode(), 1_000_000);
    node.http
        .request::<B256, _>("eth_sendRawTransaction", rpc_params![Node::raw(&create)])
        .await
        .unwrap();
    node.produce();
    let receipt: TransactionReceipt = node
        .http
        .request("eth_getTransactionReceipt", rpc_params![create.tx_hash()])
        .await
        .unwrap();
    assert!(receipt.status());
    let demo = receipt.contract_address.unwrap();
    assert_eq!(demo, owner.address.create(0));
    let input = IDemo::storeCall {
        key: U256::from(1),
        value: U256::from(7),
    }
    .abi_encode();
    let store = node.accounts[1].call(CHAIN, 0, TxKind::Call(demo), input.into(), 200_000);
    node.http
        .request::<B256, _>("eth_sendRawTransaction", rpc_params![Node::raw(&store)])
        .await
        .unwrap();
    node.produce();
    (demo, store)
}

fn call(to: Address, data: Vec<u8>) -> Value {
    json!({ "to": to, "data": Bytes::from(data) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_read_state_and_reverts_are_decoded_as_geth_decodes_them() {
    let node = Node::start().await;
    let (demo, _) = deploy(&node).await;
    let http = &node.http;
    let code: Bytes = http
        .request("eth_getCode", rpc_params![demo, "latest"])
        .await
        .unwrap();
    assert!(!code.is_empty());
    let value: Bytes = http
        .request(
            "eth_call",
            rpc_params![
                call(demo, IDemo::valuesCall { key: U256::from(1) }.abi_encode()),
                "latest"
            ],
        )
        .await
        .unwrap();
    assert_eq!(U256::from_be_slice(&value), U256::from(7));
    // Before the store, at block 1, the value was zero.
    let before: Bytes = http
        .request(
            "eth_call",
            rpc_params![
                call(demo, IDemo::valuesCall { key: U256::from(1) }.abi_encode()),
                "0x1"
            ],
        )
        .await
        .unwrap();
    assert_eq!(U256::from_be_slice(&before), U256::ZERO);
    // The slot of `total` (slot 1) through eth_getStorageAt.
    let total: B256 = http
        .request("eth_getStorageAt", rpc_params![demo, "0x1", "latest"])
        .await
        .unwrap();
    assert_eq!(U256::from_be_bytes(total.0), U256::from(7));

    // require(false, reason): code 3, geth's message, Error(string) in data.
    let failing = call(
        demo,
        IDemo::failCall {
            code: U256::from(1),
        }
        .abi_encode(),
    );
    let (code, message, data) =
        rpc_error(http.request("eth_call", rpc_params![failing.clone()]).await);
    assert_eq!(code, 3);
    assert_eq!(message, "execution reverted: Demo: failure requested");
    let data: Bytes = serde_json::from_str(&data.unwrap()).unwrap();
    assert_eq!(
        alloy_sol_types::Revert::abi_decode(&data).unwrap().reason,
        "Demo: failure requested"
    );
    // A custom error: not decoded by geth, its bytes in data.
    let (code, message, data) = rpc_error(
        http.request(
            "eth_call",
            rpc_params![json!({
                "from": node.accounts[2].address,
                "to": demo,
                "data": Bytes::from(IDemo::guardedCall {}.abi_encode()),
            })],
        )
        .await,
    );
    assert_eq!((code, message.as_str()), (3, "execution reverted"));
    let data: Bytes = serde_json::from_str(&data.unwrap()).unwrap();
    let error = IDemo::Unauthorized::abi_decode(&data).unwrap();
    assert_eq!(error.who, node.accounts[2].address);
    // A panic: geth's words for division by zero.
    let (code, message, _) = rpc_error(
        http.request(
            "eth_call",
            rpc_params![call(
                demo,
                IDemo::divideCall {
                    a: U256::from(1),
                    b: U256::ZERO
                }
                .abi_encode()
            )],
        )
        .await,
    );
    assert_eq!(
        (code, message.as_str()),
        (3, "execution reverted: division or modulo by zero")
    );

    // State overrides: another value in `values[1]`, and a balance for an empty account.
    let slot = keccak256(
        [
            U256::from(1).to_be_bytes::<32>(),
            U256::ZERO.to_be_bytes::<32>(),
        ]
        .concat(),
    );
    let overridden: Bytes = http
        .request(
            "eth_call",
            rpc_params![
                call(demo, IDemo::valuesCall { key: U256::from(1) }.abi_encode()),
                "latest",
                json!({ demo.to_string(): { "stateDiff": { slot.to_string(): B256::from(U256::from(99)) } } })
            ],
        )
        .await
        .unwrap();
    assert_eq!(U256::from_be_slice(&overridden), U256::from(99));
    // The override changed nothing: the chain still says 7.
    let value: Bytes = http
        .request(
            "eth_call",
            rpc_params![call(
                demo,
                IDemo::valuesCall { key: U256::from(1) }.abi_encode()
            )],
        )
        .await
        .unwrap();
    assert_eq!(U256::from_be_slice(&value), U256::from(7));
    // An unknown override key is refused as a bad parameter.
    let (code, _, _) = rpc_error(
        http.request(
            "eth_call",
            rpc_params![
                call(demo, vec![]),
                "latest",
                json!({ demo.to_string(): { "balanse": "0x1" } })
            ],
        )
        .await,
    );
    assert_eq!(code, -32_602);

    // Estimates: a plain transfer is 21,000; a store is enough, and not much more.
    let transfer: U64 = http
        .request(
            "eth_estimateGas",
            rpc_params![json!({ "from": node.accounts[3].address, "to": Address::repeat_byte(9), "value": "0x1" })],
        )
        .await
        .unwrap();
    assert_eq!(transfer, U64::from(21_000));
    let estimate: U64 = http
        .request(
            "eth_estimateGas",
            rpc_params![json!({
                "from": node.accounts[1].address,
                "to": demo,
                "data": Bytes::from(IDemo::storeCall { key: U256::from(2), value: U256::from(5) }.abi_encode()),
            })],
        )
        .await
        .unwrap();
    let estimate = estimate.to::<u64>();
    // A store at that gas succeeds, and the estimate is within 10 % of what it uses.
    let exact = node.accounts[1].call(
        CHAIN,
        1,
        TxKind::Call(demo),
        IDemo::storeCall {
            key: U256::from(2),
            value: U256::from(5),
        }
        .abi_encode()
        .into(),
        estimate,
    );
    http.request::<B256, _>("eth_sendRawTransaction", rpc_params![Node::raw(&exact)])
        .await
        .unwrap();
    node.produce();
    let receipt: TransactionReceipt = http
        .request("eth_getTransactionReceipt", rpc_params![exact.tx_hash()])
        .await
        .unwrap();
    assert!(receipt.status());
    assert!(estimate >= receipt.gas_used);
    assert!(
        estimate < receipt.gas_used * 11 / 10,
        "{estimate} vs {}",
        receipt.gas_used
    );
    // A reverting call cannot be estimated: the revert comes back as from eth_call.
    let (code, message, _) = rpc_error(http.request("eth_estimateGas", rpc_params![failing]).await);
    assert_eq!(
        (code, message.as_str()),
        (3, "execution reverted: Demo: failure requested")
    );

    // The access list of a store names Demo and the slots it touches.
    let list: AccessListResult = http
        .request(
            "eth_createAccessList",
            rpc_params![json!({
                "from": node.accounts[1].address,
                "to": demo,
                "data": Bytes::from(IDemo::storeCall { key: U256::from(1), value: U256::from(8) }.abi_encode()),
            })],
        )
        .await
        .unwrap();
    assert!(list.error.is_none());
    let item = list
        .access_list
        .0
        .iter()
        .find(|item| item.address == demo)
        .unwrap();
    assert!(item.storage_keys.contains(&slot));
    assert!(item.storage_keys.contains(&B256::from(U256::from(1))));
    assert!(list.gas_used > U256::from(21_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_verify_against_the_blocks_state_root() {
    let node = Node::start().await;
    let (demo, _) = deploy(&node).await;
    let block: Block = node
        .http
        .request("eth_getBlockByNumber", rpc_params!["latest", false])
        .await
        .unwrap();
    let root = block.header.state_root;
    let total_slot = B256::from(U256::from(1));
    let unset = B256::repeat_byte(0x42);
    for (address, slots) in [
        (demo, vec![total_slot, unset]),
        (node.accounts[0].address, vec![]),
        // An account that does not exist: a proof of absence.
        (Address::repeat_byte(0xee), vec![unset]),
    ] {
        let proof: EIP1186AccountProofResponse = node
            .http
            .request(
                "eth_getProof",
                rpc_params![address, slots.clone(), "latest"],
            )
            .await
            .unwrap();
        let exists = proof.nonce != 0
            || !proof.balance.is_zero()
            || proof.code_hash != alloy_trie::KECCAK_EMPTY;
        let account = exists.then(|| {
            alloy_rlp::encode(TrieAccount {
                nonce: proof.nonce,
                balance: proof.balance,
                storage_root: proof.storage_hash,
                code_hash: proof.code_hash,
            })
        });
        verify_proof(
            root,
            Nibbles::unpack(keccak256(address)),
            account,
            &proof.account_proof,
        )
        .unwrap();
        assert_eq!(proof.storage_proof.len(), slots.len());
        for (asked, slot) in slots.iter().zip(&proof.storage_proof) {
            assert_eq!(slot.key.as_b256(), *asked);
            if !exists {
                continue;
            }
            let value = (!slot.value.is_zero()).then(|| alloy_rlp::encode(slot.value));
            verify_proof(
                proof.storage_hash,
                Nibbles::unpack(keccak256(asked)),
                value,
                &slot.proof,
            )
            .unwrap();
        }
    }
    let proof: EIP1186AccountProofResponse = node
        .http
        .request(
            "eth_getProof",
            rpc_params![demo, vec![total_slot], "latest"],
        )
        .await
        .unwrap();
    assert_eq!(proof.storage_proof[0].value, U256::from(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracers_show_calls_and_state_as_geths() {
    let node = Node::start().await;
    let (demo, store) = deploy(&node).await;
    let http = &node.http;
    let calls: Value = http
        .request(
            "debug_traceTransaction",
            rpc_params![
                store.tx_hash(),
                json!({ "tracer": "callTracer", "tracerConfig": { "withLog": true } })
            ],
        )
        .await
        .unwrap();
    assert_eq!(calls["type"], "CALL");
    assert_eq!(calls["to"], json!(demo));
    assert_eq!(calls["from"], json!(node.accounts[1].address));
    let receipt: TransactionReceipt = http
        .request("eth_getTransactionReceipt", rpc_params![store.tx_hash()])
        .await
        .unwrap();
    assert_eq!(calls["gasUsed"], json!(format!("{:#x}", receipt.gas_used)));
    assert_eq!(
        calls["logs"][0]["topics"][0],
        json!(IDemo::Stored::SIGNATURE_HASH)
    );
    // The prestate: Demo's `total` was zero before the store; the diff shows it become 7.
    let prestate: Value = http
        .request(
            "debug_traceTransaction",
            rpc_params![store.tx_hash(), json!({ "tracer": "prestateTracer" })],
        )
        .await
        .unwrap();
    assert!(
        prestate[demo.to_string().to_lowercase()].is_object(),
        "{prestate}"
    );
    let diff: Value = http
        .request(
            "debug_traceTransaction",
            rpc_params![
                store.tx_hash(),
                json!({ "tracer": "prestateTracer", "tracerConfig": { "diffMode": true } })
            ],
        )
        .await
        .unwrap();
    let post = &diff["post"][demo.to_string().to_lowercase()]["storage"];
    assert_eq!(
        post[B256::from(U256::from(1)).to_string()],
        json!(B256::from(U256::from(7)))
    );
    // A call traced: the revert shows in the frame.
    let traced: Value = http
        .request(
            "debug_traceCall",
            rpc_params![
                call(
                    demo,
                    IDemo::failCall {
                        code: U256::from(1)
                    }
                    .abi_encode()
                ),
                "latest",
                json!({ "tracer": "callTracer" })
            ],
        )
        .await
        .unwrap();
    assert_eq!(traced["error"], "execution reverted");
    assert_eq!(traced["revertReason"], "Demo: failure requested");
    // An unknown transaction, an unknown tracer.
    let (code, message, _) = rpc_error(
        http.request("debug_traceTransaction", rpc_params![B256::ZERO])
            .await,
    );
    assert_eq!((code, message.as_str()), (-32_000, "transaction not found"));
    let (code, _, _) = rpc_error(
        http.request(
            "debug_traceTransaction",
            rpc_params![store.tx_hash(), json!({ "tracer": "function() {}" })],
        )
        .await,
    );
    assert_eq!(code, -32_602);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_bounded_by_the_gas_cap_and_the_time_limit() {
    // JUMPDEST PUSH1 0 JUMP: a loop that runs until its gas is gone, put in place with a
    // state override.
    let spinner = Address::repeat_byte(0x5b);
    let looping = json!({ spinner.to_string(): { "code": "0x5b600056" } });
    let request = json!({ "to": spinner, "gas": "0x989680" });

    let capped = Node::start_with(
        1,
        3,
        altlayer_rpc::RpcConfig {
            gas_cap: 100_000,
            ..Default::default()
        },
    )
    .await;
    // The request asks for 10 M gas; the cap gives it 100,000, and the loop spends them.
    let (code, message, _) = rpc_error(
        capped
            .http
            .request(
                "eth_call",
                rpc_params![request.clone(), "latest", looping.clone()],
            )
            .await,
    );
    assert_eq!((code, message.as_str()), (-32_000, "out of gas"));
    let (code, message, _) = rpc_error(
        capped
            .http
            .request(
                "eth_estimateGas",
                rpc_params![json!({ "to": spinner }), "latest", looping.clone()],
            )
            .await,
    );
    assert_eq!(
        (code, message.as_str()),
        (-32_000, "gas required exceeds allowance (100000)")
    );

    let hurried = Node::start_with(
        1,
        3,
        altlayer_rpc::RpcConfig {
            gas_cap: 30_000_000,
            evm_timeout: std::time::Duration::from_millis(1),
            ..Default::default()
        },
    )
    .await;
    let (code, message, _) = rpc_error(
        hurried
            .http
            .request(
                "eth_call",
                rpc_params![json!({ "to": spinner }), "latest", looping.clone()],
            )
            .await,
    );
    assert_eq!(
        (code, message.as_str()),
        (-32_000, "execution aborted (timeout = 1ms)")
    );
    // Tracers and estimates are held to the same time, and stopped when it is up.
    let (code, message, _) = rpc_error(
        hurried
            .http
            .request(
                "debug_traceCall",
                rpc_params![
                    json!({ "to": spinner }),
                    "latest",
                    json!({ "tracer": "callTracer", "stateOverrides": looping.clone() })
                ],
            )
            .await,
    );
    assert_eq!(
        (code, message.as_str()),
        (-32_000, "execution aborted (timeout = 1ms)")
    );
    // The server goes on answering.
    let number: U64 = hurried
        .http
        .request("eth_blockNumber", rpc_params![])
        .await
        .unwrap();
    assert_eq!(number, U64::ZERO);
}
