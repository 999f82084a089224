//! The restaked rollup's blocks go through every tier.

#[tokio::test]
async fn blocks_are_soft_fast_and_firm_final() {
    let report = altlayer_examples::restaked_rollup::run().await.unwrap();
    assert!(report.soft >= Some(5), "{report:?}");
    assert!(report.fast >= Some(5), "{report:?}");
    assert!(report.firm >= Some(2), "{report:?}");
    assert!(report.verified >= 2, "{report:?}");
    assert!(!report.fees.is_zero(), "{report:?}");
}
