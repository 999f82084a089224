//! Runs the rollup with the custom finality gadget and prints its heights.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (safe, finalized) = altlayer_examples::custom_finality::run()?;
    println!("safe (3 confirmations) up to {safe:?}; final on L1 up to {finalized:?}");
    Ok(())
}
