//! The optimistic-rollup example catches the fraud and finalizes the honest replacement.

#[tokio::test]
async fn fraud_is_caught_and_the_honest_batch_finalizes() {
    let report = altlayer_examples::optimistic_rollup::run()
        .await
        .expect("example runs");
    assert!(report.fraud_caught, "{:#?}", report.lines);
    assert_eq!(report.first_bad_tx, Some(4), "{:#?}", report.lines);
    // The one-step proof computes a root, and it is not the one the batch claimed.
    assert!(
        matches!(
            report.proven,
            Some(altlayer_core::execution::stateless::StepOutcome::Root(root))
                if root != altlayer_core::alloy::primitives::B256::repeat_byte(0xba)
        ),
        "{:#?}",
        report.lines
    );
    assert_eq!(report.finalized_height, Some(2), "{:#?}", report.lines);
}
