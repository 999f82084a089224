//! The `altlayer` binary end to end: outputs, exit codes, one-line errors.

mod common;

use common::{altlayer, assert_one_line_error};

fn fixture(name: &str) -> String {
    format!(
        "{}/../altlayer-core/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn genesis_root_prints_the_root() {
    let output = altlayer(&["genesis-root", &fixture("sepolia-genesis.json")]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "0x5eb6e371a698b8d68f665192350ffcecbbbf322916f4b51bd79bb6887da3f494\n"
    );
}

#[test]
fn tx_decode_prints_one_json_object() {
    // An EIP-1559 transaction signed by development account 0.
    let account = altlayer_core::dev::DevAccount::new(0);
    let tx = account.transfer(
        1337,
        4,
        alloy_primitives::Address::repeat_byte(0x11),
        alloy_primitives::U256::from(7),
    );
    let raw = alloy_primitives::hex::encode_prefixed(alloy_eips::Encodable2718::encoded_2718(&tx));
    let output = altlayer(&["tx", "decode", &raw]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["type"], "0x2");
    assert_eq!(json["chainId"], "0x539");
    assert_eq!(json["nonce"], "0x4");
    assert_eq!(json["from"], account.address.to_string().to_lowercase());
    assert_eq!(json["to"], "0x1111111111111111111111111111111111111111");
    assert_eq!(json["value"], "0x7");
    assert_eq!(json["gas"], "0x5208");
    assert_eq!(json["maxFeePerGas"], "0x174876e800");
    assert_eq!(json["maxPriorityFeePerGas"], "0x77359400");
    assert_eq!(json["input"], "0x");
    assert_eq!(json["hash"], tx.tx_hash().to_string());
    assert!(json.get("gasPrice").is_none());
}

#[test]
fn errors_are_one_line_with_a_non_zero_exit() {
    assert_one_line_error(&altlayer(&["genesis-root", "/nonexistent/genesis.json"]), 1);
    assert_one_line_error(&altlayer(&["genesis-root", &fixture("../execution.rs")]), 1);
    assert_one_line_error(&altlayer(&["tx", "decode", "0xnothex"]), 1);
    assert_one_line_error(&altlayer(&["tx", "decode", "0xc0"]), 1);
    assert_one_line_error(&altlayer(&["tx", "decode", "0x7f01"]), 1);
    assert_one_line_error(&altlayer(&["frobnicate"]), 2);
    assert_one_line_error(&altlayer(&["devnet", "--blocks", "0"]), 2);
    assert_one_line_error(&altlayer(&["devnet", "--blocks", "-3"]), 2);
    assert_one_line_error(&altlayer(&["devnet", "--block-time-ms", "0"]), 2);
    assert_one_line_error(&altlayer(&["devnet", "--txs-per-block", "lots"]), 2);
    assert_one_line_error(&altlayer(&["devnet", "--fault", "meteor-strike", "7"]), 1);
    assert_one_line_error(
        &altlayer(&["devnet", "--fault", "bad-state-root-at", "seven"]),
        1,
    );
    assert_one_line_error(
        &altlayer(&["devnet", "--fault", "bad-state-root-at", "0"]),
        1,
    );
    assert_one_line_error(&altlayer(&["devnet", "--fault", "bad-state-root-at"]), 1);
    assert_one_line_error(
        &altlayer(&["devnet", "--sequencers", "1", "--fault", "equivocate"]),
        1,
    );
    assert_one_line_error(&altlayer(&["devnet", "--fault", "mach-offline", "9"]), 1);
    assert_one_line_error(&altlayer(&["devnet", "--fault", "equivocate", "2"]), 1);
    assert_one_line_error(&altlayer(&["devnet", "--sequencers", "2"]), 1);
    assert_one_line_error(&altlayer(&["devnet", "--log-format", "xml"]), 2);
    assert_one_line_error(&altlayer(&["spec", "check", "/nonexistent/rollup.toml"]), 1);
    assert_one_line_error(&altlayer(&["launch", "/nonexistent/rollup.toml"]), 1);
}

#[test]
fn a_fault_in_the_devnet_is_caught_proven_reverted_and_slashed() {
    let output = altlayer(&[
        "devnet",
        "--blocks",
        "8",
        "--txs-per-block",
        "10",
        "--block-time-ms",
        "100",
        "--batch-blocks",
        "2",
        "--fault",
        "bad-state-root-at",
        "3",
    ]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "fault   sequencer credits itself 1000 ether outside any transaction before block 3",
        "mach    block 3 alerted by a quorum of operators",
        "vital   batch 1 re-executed: the root after step 0 (block 3, transaction 0) is wrong",
        "challenges batch 1 with a 1000 ALT bond: bisection over 20 steps",
        "vital   decided: Challenger wins by OneStepProof at step 0 (block 3)",
        "vital   settlement reverted batch 1 and every later one",
        "slashed 100000 ALT for invalid state root; the reporter paid 10000 ALT and its bond back",
        "vital   sequencer rewound to height 2",
        "summary: 1 fraud(s) caught, proven and reverted",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
    // After the rewind the re-executed batch verifies.
    assert!(
        stdout.contains("vital   batch 1 re-executed: every root right"),
        "{stdout}"
    );
}

/// A temporary directory for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("altlayer-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn spec_init_prints_a_spec_that_checks() {
    let output = altlayer(&["spec", "init"]);
    assert!(output.status.success(), "{output:?}");
    let dir = scratch("init");
    let file = dir.join("rollup.toml");
    std::fs::write(&file, &output.stdout).unwrap();
    let check = altlayer(&["spec", "check", file.to_str().unwrap()]);
    assert!(check.status.success(), "{check:?}");
    let resolved = String::from_utf8_lossy(&check.stdout);
    assert!(resolved.contains(": valid"), "{resolved}");
    assert!(resolved.contains("# genesis state root 0x"), "{resolved}");
    // Derived values are written out.
    assert!(resolved.contains("sequencers = 4"), "{resolved}");
    assert!(resolved.contains("move_timeout_secs = 22400"), "{resolved}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn spec_check_refuses_bad_specs_in_one_line_naming_the_key() {
    let dir = scratch("check");
    let cases = [
        ("[avs.mach]\ntreshold = 70\n", "treshold"),
        ("[sequencing]\nsequencers = 3\n", "sequencing.sequencers"),
        ("[avs.mach]\nthreshold = 101\n", "avs.mach.threshold"),
        (
            "[avs.vital]\nchallenge_window_secs = 60\nmove_timeout_secs = 10\n",
            "avs.vital.move_timeout_secs",
        ),
        ("[rollup]\nchain_id = -1\n", "[rollup]"),
        ("not toml at all", "line 1"),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let file = dir.join(format!("bad-{i}.toml"));
        std::fs::write(&file, text).unwrap();
        for command in ["check", "launch"] {
            let args: Vec<&str> = match command {
                "check" => vec!["spec", "check", file.to_str().unwrap()],
                _ => vec!["launch", file.to_str().unwrap()],
            };
            let output = altlayer(&args);
            assert_one_line_error(&output, 1);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(key), "{text:?}: {stderr}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn launch_runs_an_ephemeral_rollup_to_its_end() {
    let dir = scratch("launch");
    let file = dir.join("rollup.toml");
    std::fs::write(
        &file,
        r#"
[rollup]
block_time_ms = 20
blocks_per_batch = 2

[sequencing]
mode = "single"

[genesis]
dev_accounts = 2

[avs.vital]
challenge_window_secs = 1

[da]
kind = "directory"
path = "da"

[lifetime]
blocks = 5
"#,
    )
    .unwrap();
    let output = altlayer(&["launch", file.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("launch: chain 1337 rollup 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("lifetime: the rollup ends at height 5"),
        "{stdout}"
    );
    assert!(
        stdout.contains("lifetime: every block up to 5 is final on L1"),
        "{stdout}"
    );
    // The last, partial batch went out too, and everything was firm before the end.
    assert!(stdout.contains("firm    up to height 5"), "{stdout}");
    assert!(dir.join("da").join("batch-2.rlp").exists(), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn devnet_runs_to_the_requested_height() {
    let output = altlayer(&[
        "devnet",
        "--sequencers",
        "1",
        "--blocks",
        "3",
        "--txs-per-block",
        "20",
        "--block-time-ms",
        "5",
        "--batch-blocks",
        "3",
    ]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("block ")).count(),
        3,
        "{stdout}"
    );
    assert!(
        stdout.contains("batch     0  blocks 1..=3  txs     60"),
        "{stdout}"
    );
    assert!(
        stdout.contains("summary: 3 blocks, 60 txs (0 rejected), 1 batches"),
        "{stdout}"
    );
}
