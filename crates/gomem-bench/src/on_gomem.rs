//! `gomem-bench binary-trees | gcbench | latency | mark`: one workload on
//! gomem, for a reader: its check lines, then its figures (`figures.rs`).
//!
//! The workload runs through gomem's entry in `crate::peers`, exactly as
//! `run-one` runs it for `compare`; only the printing differs. The check
//! lines are held against those the workload says a correct run prints
//! (its `expected`): a difference makes the command fail, after printing.

use std::error::Error;

use crate::peers::{gomem, Measured};
use crate::{binarytrees, gcbench, latency, mark};

/// Prints the check text and the figures of a run; an error if the check
/// is not `expected`.
fn show(run: Result<Measured, String>, expected: String) -> Result<(), Box<dyn Error>> {
    let m = run?;
    println!("{}", m.check);
    crate::figures::print_figures(&m);
    if m.check != expected {
        return Err(format!("wrong check lines; a correct run prints:\n{expected}").into());
    }
    Ok(())
}

/// `gomem-bench binary-trees`.
pub fn binary_trees(args: &binarytrees::Args) -> Result<(), Box<dyn Error>> {
    show(gomem::binary_trees(args), binarytrees::expected(args))
}

/// `gomem-bench gcbench`.
pub fn gcbench(args: &gcbench::Args) -> Result<(), Box<dyn Error>> {
    gcbench::validate(args)?;
    show(gomem::gcbench(args), gcbench::expected(args))
}

/// `gomem-bench latency`.
pub fn latency(args: &latency::Args) -> Result<(), Box<dyn Error>> {
    latency::validate(args)?;
    show(gomem::latency(args), latency::expected(args))
}

/// `gomem-bench mark`.
pub fn mark(args: &mark::Args) -> Result<(), Box<dyn Error>> {
    mark::validate(args)?;
    show(gomem::mark(args), mark::expected(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_check_line_fails() {
        let args = binarytrees::Args {
            size: binarytrees::Size { depth: 6 },
            threads: 1,
            gctrace: false,
        };
        let right = gomem::binary_trees(&args).unwrap();
        assert_eq!(right.check, binarytrees::expected(&args));
        assert!(show(Ok(right.clone()), binarytrees::expected(&args)).is_ok());
        let wrong = Measured {
            check: right.check.replacen("check: 127", "check: 126", 1),
            ..right
        };
        assert_ne!(wrong.check, binarytrees::expected(&args));
        assert!(show(Ok(wrong), binarytrees::expected(&args)).is_err());
    }
}
