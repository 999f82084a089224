//! Runs the restaked rollup and prints how far each tier got.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let report = runtime.block_on(altlayer_examples::restaked_rollup::run())?;
    println!(
        "soft up to {:?}, fast-final up to {:?}, final on L1 up to {:?}; {} batches verified; {} ALT base units of fees",
        report.soft, report.fast, report.firm, report.verified, report.fees
    );
    Ok(())
}
