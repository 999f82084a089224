//! `altlayer l1 deploy` against anvil: the contracts of the rollup a spec describes, deployed
//! by the real binary, hold that rollup's ids, genesis root, rules and first rosters; bad keys
//! and unreachable L1s give one-line errors.

mod common;

use alloy_primitives::U256;
use alloy_provider::{Provider, ProviderBuilder};
use altlayer_avs::qc::StakeSnapshot;
use altlayer_l1::{
    Deployment, L1Roster,
    anvil::spawn_anvil,
    bindings::{rosters::Rosters, settlement::RollupSettlement},
};
use altlayer_node::{
    launch::{Faults, dev_operators},
    spec::Spec,
};
use altlayer_staking::{OperatorSetId, Service};
use common::{altlayer, assert_one_line_error};

/// anvil's first development key.
const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

#[test]
fn l1_deploy_puts_the_specs_rollup_on_the_l1() {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("rollup.toml");
    let template = altlayer(&["spec", "init"]);
    std::fs::write(&spec_path, &template.stdout).unwrap();
    let anvil = spawn_anvil(&[]).unwrap();
    let out = dir.path().join("contracts.json");
    let output = altlayer(&[
        "l1",
        "deploy",
        spec_path.to_str().unwrap(),
        "--rpc",
        &anvil.endpoint(),
        "--key",
        KEY,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("RollupSettlement"), "{stdout}");
    let deployment = Deployment::read(&out).unwrap();
    assert_eq!(deployment.l1_chain_id, anvil.chain_id());

    // What the contracts hold is the spec's rollup.
    let spec = Spec::load(&spec_path).unwrap();
    let genesis = spec.genesis(dir.path()).unwrap();
    let rollup = genesis.config().rollup_id;
    let operators = dev_operators(&spec, rollup, &Faults::default()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let provider = ProviderBuilder::new().connect_http(anvil.endpoint_url());
        let settlement = RollupSettlement::new(deployment.settlement, &provider);
        assert_eq!(
            settlement.genesisStateRoot().call().await.unwrap(),
            genesis.head().state_root
        );
        assert_eq!(
            settlement.chainId().call().await.unwrap(),
            spec.rollup.chain_id
        );
        assert_eq!(settlement.rollupId().call().await.unwrap(), rollup.0);
        assert_eq!(
            settlement.challengeWindow().call().await.unwrap(),
            spec.avs.vital.challenge_window_secs
        );
        assert_eq!(
            settlement.proposer().call().await.unwrap(),
            anvil.addresses()[0]
        );
        assert_eq!(
            settlement.proposerBond().call().await.unwrap(),
            U256::from(10u64.pow(18))
        );
        let rosters = Rosters::new(deployment.rosters, &provider);
        assert_eq!(rosters.currentEpoch().call().await.unwrap(), 0);
        let mach = L1Roster::from_ledger(
            operators.ledger.ledger(),
            StakeSnapshot::new(OperatorSetId::new(Service::Mach, rollup), 0),
        )
        .unwrap();
        assert!(
            mach.total_stake() > U256::ZERO,
            "the template has MACH operators"
        );
        assert_eq!(rosters.rosterHash(2, 0).call().await.unwrap(), mach.hash());
        for address in [
            deployment.mach,
            deployment.vital_verifier,
            deployment.bridge,
        ] {
            assert!(!provider.get_code_at(address).await.unwrap().is_empty());
        }
    });
}

#[test]
fn l1_deploy_refuses_bad_keys_and_unreachable_l1s_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("rollup.toml");
    std::fs::write(&spec_path, altlayer(&["spec", "init"]).stdout).unwrap();
    let out = dir.path().join("contracts.json");
    let deploy = |rpc: &str, key: &str| {
        altlayer(&[
            "l1",
            "deploy",
            spec_path.to_str().unwrap(),
            "--rpc",
            rpc,
            "--key",
            key,
            "--out",
            out.to_str().unwrap(),
        ])
    };
    // A port nothing listens on (bound, then released).
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    for (rpc, key) in [
        (closed.as_str(), KEY),
        ("http://127.0.0.1:1", "0x1234"),
        ("http://127.0.0.1:1", &format!("0x{}", "00".repeat(32))),
        ("not a url", KEY),
    ] {
        assert_one_line_error(&deploy(rpc, key), 1);
        assert!(!out.exists(), "nothing written on failure");
    }
}
