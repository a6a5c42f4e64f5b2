//! gomem-bench: demos and benchmarks for gomem.
//!
//! Each subcommand runs one workload on gomem and prints its figures;
//! `compare` runs every workload on gomem, on Go and on Rust's GC crates, as
//! separate processes, and reports them side by side. See `--help`.

use clap::{Parser, Subcommand};

mod alloc;
mod binarytrees;
mod compare;
mod figures;
mod gcbench;
mod latency;
mod mark;
mod on_gomem;
mod peers;
mod runone;
mod sizes;
mod stress;

/// Demos and benchmarks for gomem, Go's memory manager in Rust.
#[derive(Parser)]
#[command(name = "gomem-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print Go's size-class table as gomem uses it (tab-separated).
    Sizeclasses,
    /// Allocation microbenchmark: ns/op, Mops/s and RSS per object size.
    Alloc(alloc::Args),
    /// The Benchmarks Game binary-trees on gomem, with pause and RSS figures.
    #[command(name = "binary-trees")]
    BinaryTrees(binarytrees::Args),
    /// Ellis/Kovac/Boehm GCBench on gomem.
    Gcbench(gcbench::Args),
    /// Push latency with a window of live messages on gomem.
    Latency(latency::Args),
    /// Pure marking throughput on gomem.
    Mark(mark::Args),
    /// Run every workload on gomem, Go and Rust's GC crates; print a table,
    /// write results.json and SVG charts.
    Compare(compare::Args),
    /// Run the stress oracle (threads mutating a shared graph checked
    /// against a shadow model, cycles back to back) for as long as asked.
    Stress(stress::Args),
    /// Run one workload on one implementation and print one JSON line
    /// (used by `compare`, which runs each measurement in its own process).
    #[command(name = "run-one", hide = true)]
    RunOne(runone::Args),
    /// Run a Lox script on gomem-lox, exactly as the `lox` binary does
    /// (used by the `lox` group of `compare`).
    #[command(hide = true)]
    Lox {
        /// The script (none: a REPL).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sizeclasses => {
            print!("{}", gomem::internals::table_tsv());
            Ok(())
        }
        Command::Alloc(args) => alloc::run(&args),
        Command::BinaryTrees(args) => on_gomem::binary_trees(&args),
        Command::Gcbench(args) => on_gomem::gcbench(&args),
        Command::Latency(args) => on_gomem::latency(&args),
        Command::Mark(args) => on_gomem::mark(&args),
        Command::Compare(args) => compare::run(&args),
        Command::RunOne(args) => runone::run(&args),
        Command::Stress(args) => stress::run(&args),
        Command::Lox { args } => {
            let argv: Vec<String> = std::iter::once("lox".to_string()).chain(args).collect();
            let status = gomem_lox::cli::main_with_args(&argv);
            std::process::exit(i32::from(status));
        }
    };
    if let Err(e) = result {
        eprintln!("gomem-bench: {e}");
        std::process::exit(1);
    }
}
