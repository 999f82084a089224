//! The minimal rollup makes Alice's payment final.

#[tokio::test]
async fn the_payment_is_final() {
    let (balance, finalized) = altlayer_examples::minimal_rollup::run().await.unwrap();
    assert_eq!(balance, altlayer_core::alloy::primitives::U256::from(1_000));
    assert!(finalized >= Some(1));
}
