//! The `altlayer` binary serving the JSON-RPC: `altlayer launch` with `[rpc] http` in the
//! spec and `altlayer devnet --http`, asked over plain HTTP/1.1 as any client would.

use alloy_eips::Encodable2718;
use alloy_primitives::{Address, U256, hex};
use altlayer_core::dev::DevAccount;
use serde_json::{Value, json};
use std::net::SocketAddr;

mod common;

use common::*;

/// Whether a browser page from another origin may read the node's answers.
fn cross_origin_allowed(addr: SocketAddr) -> bool {
    let request = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
    let (status, head, _) = exchange(addr, "Origin: http://dapp.example\r\n", request);
    assert_eq!(status, 200);
    head.contains("access-control-allow-origin: *")
}

#[test]
fn launch_serves_the_spec_rpc_and_a_signed_transfer_reaches_a_receipt() {
    let dir = std::env::temp_dir().join(format!("altlayer-rpc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rollup.toml");
    std::fs::write(
        &file,
        "[rollup]\nchain_id = 4242\nblock_time_ms = 50\nblocks_per_batch = 2\n\n\
         [sequencing]\nmode = \"single\"\n\n[genesis]\ndev_accounts = 2\n\n\
         [avs.vital]\nchallenge_window_secs = 1\n\n[rpc]\nhttp = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let node = start(&["launch", file.to_str().unwrap()], 0);
    let addr = node.addr;

    assert_eq!(call(addr, "eth_chainId", json!([])), json!("0x1092"));
    // Off unless the spec says `cors = true`, as geth's.
    assert!(!cross_origin_allowed(addr));
    assert_eq!(call(addr, "net_version", json!([])), json!("4242"));
    wait_for("a block", || {
        quantity(&call(addr, "eth_blockNumber", json!([]))) > 0
    });

    let sender = DevAccount::new(0);
    let to = Address::repeat_byte(0x77);
    let nonce = quantity(&call(
        addr,
        "eth_getTransactionCount",
        json!([sender.address, "pending"]),
    ));
    let tx = sender.transfer(4242, nonce, to, U256::from(1_000_000u64));
    let raw = hex::encode_prefixed(tx.encoded_2718());
    let hash = call(addr, "eth_sendRawTransaction", json!([raw]));
    assert_eq!(hash, json!(tx.tx_hash()));
    // Pooled until a block holds it, then a successful receipt.
    let mut receipt = Value::Null;
    wait_for("the receipt", || {
        receipt = call(addr, "eth_getTransactionReceipt", json!([hash]));
        !receipt.is_null()
    });
    assert_eq!(receipt["status"], json!("0x1"));
    assert_eq!(receipt["to"], json!(to));
    assert_eq!(
        call(addr, "eth_getBalance", json!([to, "latest"])),
        json!("0xf4240")
    );
    // The same transaction again is refused with geth's words, and nothing changes.
    let request =
        json!({"jsonrpc": "2.0", "id": 7, "method": "eth_sendRawTransaction", "params": [raw]});
    let (_, body) = post(addr, &request.to_string());
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["error"]["code"], json!(-32000), "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nonce too low"),
        "{answer}"
    );

    // A batch as ethers sends it, answered in one array with the ids kept.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_getBlockByNumber", "params": ["latest", false]},
        {"jsonrpc": "2.0", "id": 3, "method": "no_such_method", "params": []},
    ]);
    let (status, body) = post(addr, &batch.to_string());
    assert_eq!(status, 200);
    let answers: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(answers.len(), 3);
    let by_id = |id: u64| answers.iter().find(|a| a["id"] == json!(id)).unwrap();
    assert_eq!(by_id(1)["result"], json!("0x1092"));
    assert!(by_id(2)["result"]["hash"].is_string());
    assert_eq!(by_id(3)["error"]["code"], json!(-32601));
    drop(node);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn devnet_http_prints_its_funded_accounts_and_serves_them() {
    // One sequencer, no MACH: quick blocks. After the RPC line come twelve: a title, ten
    // accounts and the URL.
    let node = start(
        &[
            "devnet",
            "--http",
            "127.0.0.1:0",
            "--sequencers",
            "1",
            "--mach-operators",
            "0",
            "--block-time-ms",
            "50",
            "--txs-per-block",
            "5",
        ],
        12,
    );
    let addr = node.addr;
    let banner = node.lines.join("\n");
    // anvil's first development account, with its key, and the URL it can be reached at.
    assert!(
        banner.contains(
            "(0) 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
        ),
        "{banner}"
    );
    assert!(
        banner.contains(&format!("RPC URL: http://{addr}")),
        "{banner}"
    );
    // A development node answers dApps in a browser page, as anvil does.
    assert!(cross_origin_allowed(addr));
    assert_eq!(
        call(
            addr,
            "eth_getBalance",
            json!(["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "latest"])
        ),
        json!("0x21e19e0c9bab2400000")
    );
    // The load generator's blocks are readable while they come.
    wait_for("two blocks", || {
        quantity(&call(addr, "eth_blockNumber", json!([]))) >= 2
    });
    // The operator sets: one sequencer, no MACH, one VITAL verifier.
    let squad = call(addr, "altlayer_operators", json!(["squad"]));
    assert_eq!(
        squad["operators"].as_array().map(Vec::len),
        Some(1),
        "{squad}"
    );
    assert!(call(addr, "altlayer_operators", json!(["mach"])).is_null());
    let vital = call(addr, "altlayer_operators", json!(["VITAL"]));
    assert_eq!(vital["service"], json!("Vital"), "{vital}");
    let block = call(addr, "eth_getBlockByNumber", json!(["0x1", true]));
    assert_eq!(block["number"], json!("0x1"));
    assert!(
        !block["transactions"].as_array().unwrap().is_empty(),
        "{block}"
    );
}

#[test]
fn an_alert_shows_in_the_altlayer_namespace_and_goes_when_the_batch_is_reverted() {
    // The restaked devnet (SQUAD 4, MACH 4, VITAL 1) with a wrong state root at block 3.
    let node = start(
        &[
            "devnet",
            "--http",
            "127.0.0.1:0",
            "--block-time-ms",
            "100",
            "--txs-per-block",
            "5",
            "--batch-blocks",
            "2",
            "--challenge-window-secs",
            "1",
            "--fault",
            "bad-state-root-at",
            "3",
        ],
        0,
    );
    let addr = node.addr;
    let mut alerts = Value::Null;
    wait_for("MACH's alert", || {
        alerts = call(addr, "altlayer_alerts", json!([]));
        !alerts.as_array().unwrap().is_empty()
    });
    let alert = &alerts[0];
    assert_eq!(alert["number"], json!("0x3"), "{alerts}");
    // The revert takes the wrong block out; the alert is no longer active, and a block at
    // height 3 built again becomes fast-final.
    wait_for("the revert and a new block 3 certified", || {
        let finality = call(addr, "altlayer_finality", json!(["0x3"]));
        !call(addr, "altlayer_hasActiveAlerts", json!([]))
            .as_bool()
            .unwrap()
            && ["fast", "firm"].contains(&finality["tier"].as_str().unwrap_or(""))
            && finality["hash"] != alert["hash"]
    });
    let safe = call(addr, "eth_getBlockByNumber", json!(["safe", false]));
    assert!(quantity(&safe["number"]) >= 3, "{safe}");
}
