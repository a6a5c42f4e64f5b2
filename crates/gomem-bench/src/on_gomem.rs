//! `gomem-bench binary-trees | gcbench | latency | mark`: one workload on
//! gomem, for a reader: its check lines, then its figures (`figures.rs`).
//!
//! The workload runs through gomem's entry in `crate::peers`, exactly as
//! `run-one` runs it for `compare`; only the printing differs.

use std::error::Error;

use crate::peers::{gomem, Measured};
use crate::{binarytrees, gcbench, latency, mark};

/// Prints the check text and the figures of a run.
fn show(run: Result<Measured, String>) -> Result<(), Box<dyn Error>> {
    let m = run?;
    println!("{}", m.check);
    crate::figures::print_figures(&m);
    Ok(())
}

/// `gomem-bench binary-trees`.
pub fn binary_trees(args: &binarytrees::Args) -> Result<(), Box<dyn Error>> {
    show(gomem::binary_trees(args))
}

/// `gomem-bench gcbench`.
pub fn gcbench(args: &gcbench::Args) -> Result<(), Box<dyn Error>> {
    gcbench::validate(args)?;
    show(gomem::gcbench(args))
}

/// `gomem-bench latency`.
pub fn latency(args: &latency::Args) -> Result<(), Box<dyn Error>> {
    latency::validate(args)?;
    show(gomem::latency(args))
}

/// `gomem-bench mark`.
pub fn mark(args: &mark::Args) -> Result<(), Box<dyn Error>> {
    mark::validate(args)?;
    show(gomem::mark(args))
}
