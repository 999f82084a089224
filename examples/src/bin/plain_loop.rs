//! Runs the plain-loop embedding and prints what happened.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let report = altlayer_examples::plain_loop::run()?;
    println!("{report:?}");
    Ok(())
}
