//! (being written)
use std::error::Error;

/// Options.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: &Args) -> Result<(), Box<dyn Error>> {
    Err("not built yet".into())
}
