//! Driven from a plain loop, the rollup catches the lie, reverts and goes on.

#[test]
fn the_lie_is_caught_and_the_chain_goes_on() {
    let report = altlayer_examples::plain_loop::run().unwrap();
    assert_eq!(
        report.winner,
        Some(altlayer_core::settlement::bisection::Party::Challenger),
        "{report:?}"
    );
    assert_eq!(report.rewound_to, Some(2), "{report:?}");
    assert!(report.head >= 18, "{report:?}");
    assert!(report.finalized >= Some(10), "{report:?}");
}
