//! The custom gadget counts confirmations; L1 finality waits for the window.

#[test]
fn three_confirmations_make_a_block_safe() {
    let (safe, finalized) = altlayer_examples::custom_finality::run().unwrap();
    assert_eq!(safe, Some(7));
    assert_eq!(finalized, None);
}
