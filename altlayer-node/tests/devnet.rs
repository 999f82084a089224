//! The devnet driven as a library: blocks, batches, verification and finality.

use altlayer_node::devnet::{DevnetConfig, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_produces_verifies_and_finalizes() {
    let config = DevnetConfig {
        blocks: Some(6),
        txs_per_block: 40,
        block_time_ms: 10,
        batch_blocks: 2,
        challenge_window_secs: 0,
        ..Default::default()
    };
    let mut out = Vec::new();
    let summary = run(config, &mut out, std::future::pending())
        .await
        .expect("devnet runs");
    let text = String::from_utf8(out).unwrap();
    assert_eq!(summary.blocks, 6, "{text}");
    assert_eq!(summary.transactions, 240, "{text}");
    assert_eq!(summary.rejected, 0, "{text}");
    assert_eq!(summary.batches, 3, "{text}");
    // With a zero challenge window each batch is final at the next tick; the last one may not
    // have seen a tick yet.
    assert!(summary.finalized_height >= Some(4), "{text}");
    assert!(text.contains("final   up to height"), "{text}");
}

#[tokio::test]
async fn devnet_stops_when_told() {
    let config = DevnetConfig {
        blocks: None,
        txs_per_block: 5,
        block_time_ms: 5,
        ..Default::default()
    };
    let mut out = Vec::new();
    let stop = tokio::time::sleep(std::time::Duration::from_millis(60));
    let summary = run(config, &mut out, stop).await.expect("devnet runs");
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("devnet: interrupted"), "{text}");
    assert!(summary.blocks >= 1, "{text}");
}

#[tokio::test]
async fn bad_settings_are_refused() {
    let mut out = Vec::new();
    let config = DevnetConfig {
        block_time_ms: 0,
        ..Default::default()
    };
    assert!(run(config, &mut out, std::future::pending()).await.is_err());
    let config = DevnetConfig {
        batch_blocks: 0,
        ..Default::default()
    };
    assert!(run(config, &mut out, std::future::pending()).await.is_err());
    // Two or three sequencers cannot tolerate a fault: refused.
    let config = DevnetConfig {
        sequencers: 3,
        ..Default::default()
    };
    let err = run(config, &mut out, std::future::pending())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at least 4"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_runs_with_a_squad_set() {
    let config = DevnetConfig {
        blocks: Some(4),
        txs_per_block: 20,
        block_time_ms: 20,
        batch_blocks: 2,
        challenge_window_secs: 0,
        sequencers: 4,
        ..Default::default()
    };
    let mut out = Vec::new();
    let summary = run(config, &mut out, std::future::pending())
        .await
        .expect("devnet runs");
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("SQUAD with 4 sequencers"), "{text}");
    assert!(summary.blocks >= 4, "{text}");
    assert_eq!(summary.rejected, 0, "{text}");
    // Every batch was re-executed from DA by the independent verifier.
    assert!(summary.batches >= 2, "{text}");
}
