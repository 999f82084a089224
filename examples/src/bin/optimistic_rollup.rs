//! Runs the optimistic-rollup example and prints what happened.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let report = runtime.block_on(altlayer_examples::optimistic_rollup::run())?;
    for line in report.lines {
        println!("{line}");
    }
    Ok(())
}
