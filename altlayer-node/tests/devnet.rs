//! The devnet driven as a library: the whole restaked rollup by default, the single
//! sequencer, and the three faults, each caught visibly.

use altlayer_node::devnet::{DevnetConfig, Fault, run};

async fn devnet(config: DevnetConfig) -> (altlayer_node::devnet::DevnetSummary, String) {
    let mut out = Vec::new();
    let summary = run(config, &mut out, std::future::pending())
        .await
        .expect("devnet runs");
    (summary, String::from_utf8(out).unwrap())
}

fn small() -> DevnetConfig {
    DevnetConfig {
        blocks: Some(6),
        txs_per_block: 40,
        block_time_ms: 100,
        batch_blocks: 2,
        challenge_window_secs: 0,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restaked_devnet_produces_soft_fast_and_firm_final_blocks() {
    let (summary, text) = devnet(small()).await;
    assert!(text.contains("SQUAD with 4 sequencers"), "{text}");
    assert!(text.contains("MACH 4 operators (>= 66 %)"), "{text}");
    // SQUAD may commit several blocks in one tick (more of them on a loaded machine, where
    // a tick comes late): the run stops at height 6 or a little past it.
    assert!((6..=12).contains(&summary.blocks), "{text}");
    // A leader may propose before the load submitted after the last block reached it: the
    // blocks hold whole loads, most of them.
    assert!(summary.transactions >= 160, "{text}");
    assert_eq!(summary.transactions % 40, 0, "{text}");
    assert_eq!(summary.rejected, 0, "{text}");
    assert!(summary.batches >= 3, "{text}");
    // Every block is soft-confirmed by SQUAD; MACH's certificates make them fast-final; with
    // a zero window each batch is firm at once (the last one may not have been read yet).
    assert_eq!(summary.soft_confirmed, summary.blocks, "{text}");
    // The run stops at height 6; the last certificates may still be on their way.
    assert!(summary.fast_height >= Some(3), "{text}");
    assert!(summary.finalized_height >= Some(4), "{text}");
    assert!(text.contains("firm    up to height"), "{text}");
    assert!(
        text.contains("vital   batch 0 re-executed: every root right"),
        "{text}"
    );
    // Fees are charged in ALT on every block.
    assert!(!summary.fees.is_zero(), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sequencer_without_mach_is_final_when_the_window_passes() {
    let (summary, text) = devnet(DevnetConfig {
        sequencers: 1,
        mach_operators: 0,
        ..small()
    })
    .await;
    assert!(text.contains("single sequencer, no MACH"), "{text}");
    assert_eq!(summary.transactions, 240, "{text}");
    assert_eq!(summary.soft_confirmed, 0);
    assert_eq!(summary.fast_height, None);
    assert!(summary.finalized_height >= Some(4), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_state_root_is_alerted_challenged_reverted_and_slashed() {
    for sequencers in [4, 1] {
        let (summary, text) = devnet(DevnetConfig {
            blocks: Some(10),
            txs_per_block: 10,
            challenge_window_secs: 2,
            sequencers,
            fault: Some(Fault::BadStateRootAt(3)),
            ..small()
        })
        .await;
        for expected in [
            "fault   sequencer credits itself 1000 ether outside any transaction before block 3",
            "mach    block 3 alerted by a quorum of operators",
            "vital   batch 1 re-executed: the root after step 0 (block 3, transaction 0) is wrong",
            "challenges batch 1 with a 1000 ALT bond: bisection over 20 steps",
            "vital   decided: Challenger wins by OneStepProof at step 0 (block 3)",
            "vital   settlement reverted batch 1 and every later one",
            "slashed 100000 ALT for invalid state root; the reporter paid 10000 ALT and its bond back",
            "vital   sequencer rewound to height 2",
            "vital   batch 1 re-executed: every root right",
        ] {
            assert!(
                text.contains(expected),
                "{sequencers}: missing {expected:?} in\n{text}"
            );
        }
        assert_eq!(summary.frauds_caught, 1, "{text}");
        assert_eq!(summary.alerted, 1, "{text}");
        // The wrong block 3 was never fast-final (it was alerted first); the chain built again
        // after the rewind is.
        let alerted = text.find("mach    block 3 alerted").unwrap();
        let rewound = text.find("vital   sequencer rewound").unwrap();
        assert!(!text[..rewound].contains("fast      3  "), "{text}");
        assert!(alerted < rewound, "{text}");
        assert!(text[rewound..].contains("\nfast "), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_sequencer_is_slashed_and_tombstoned() {
    let (summary, text) = devnet(DevnetConfig {
        fault: Some(Fault::Equivocate),
        ..small()
    })
    .await;
    assert!(text.contains("evidence equivocation by"), "{text}");
    assert!(
        text.contains("slashed 5000 ALT for equivocation and tombstoned"),
        "{text}"
    );
    assert_eq!(summary.equivocations, 1, "{text}");
    // The other three keep the chain going and final.
    assert!(summary.blocks >= 6, "{text}");
    assert!(summary.fast_height >= Some(3), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mach_operators_offline_below_the_threshold_stop_fast_finality_not_firm() {
    // 1 of 4 offline: 75 % still signs, above 66 %.
    let (summary, text) = devnet(DevnetConfig {
        fault: Some(Fault::MachOffline(1)),
        ..small()
    })
    .await;
    assert!(summary.fast_height >= Some(3), "{text}");
    // 2 of 4: 50 %, below; nothing becomes fast-final and the output says so.
    let (summary, text) = devnet(DevnetConfig {
        blocks: Some(15),
        fault: Some(Fault::MachOffline(2)),
        ..small()
    })
    .await;
    assert_eq!(summary.fast_height, None, "{text}");
    assert!(summary.stalled >= 1, "{text}");
    assert!(
        text.contains(
            "not fast-final: operators with 50 % of the stake signed, below the 66 % threshold"
        ),
        "{text}"
    );
    assert!(summary.finalized_height >= Some(8), "{text}");
}

#[tokio::test]
async fn devnet_stops_when_told() {
    let config = DevnetConfig {
        blocks: None,
        txs_per_block: 5,
        block_time_ms: 5,
        sequencers: 1,
        ..Default::default()
    };
    let mut out = Vec::new();
    // Long enough for a block even on a loaded machine (setting up the operators comes
    // first); the run ends at the signal whatever the height.
    let stop = tokio::time::sleep(std::time::Duration::from_millis(1_000));
    let summary = run(config, &mut out, stop).await.expect("devnet runs");
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("devnet: interrupted"), "{text}");
    assert!(summary.blocks >= 1, "{text}");
}

#[tokio::test]
async fn bad_settings_are_refused() {
    let refused = |config: DevnetConfig| async move {
        let mut out = Vec::new();
        run(config, &mut out, std::future::pending())
            .await
            .unwrap_err()
            .to_string()
    };
    assert!(
        refused(DevnetConfig {
            block_time_ms: 0,
            ..Default::default()
        })
        .await
        .contains("--block-time-ms")
    );
    assert!(
        refused(DevnetConfig {
            batch_blocks: 0,
            ..Default::default()
        })
        .await
        .contains("--batch-blocks")
    );
    // Two or three sequencers cannot tolerate a fault.
    assert!(
        refused(DevnetConfig {
            sequencers: 3,
            ..Default::default()
        })
        .await
        .contains("at least 4")
    );
    assert!(
        refused(DevnetConfig {
            sequencers: 1,
            fault: Some(Fault::Equivocate),
            ..Default::default()
        })
        .await
        .contains("needs a SQUAD set")
    );
    assert!(
        refused(DevnetConfig {
            fault: Some(Fault::MachOffline(5)),
            ..Default::default()
        })
        .await
        .contains("there are 4 MACH operators")
    );
}
