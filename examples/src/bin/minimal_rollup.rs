//! Runs the minimal rollup and prints what happened.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let (balance, finalized) = runtime.block_on(altlayer_examples::minimal_rollup::run())?;
    println!("bob holds {balance} wei; final up to height {finalized:?}");
    Ok(())
}
