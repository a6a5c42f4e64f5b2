//! gomem-bench: demos and benchmarks for gomem.
//!
//! Each subcommand runs one workload and prints its figures; see `--help`.

use clap::{Parser, Subcommand};

mod alloc;
mod binarytrees;

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
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sizeclasses => {
            print!("{}", gomem::alloc::sizeclass::table_tsv());
            Ok(())
        }
        Command::Alloc(args) => alloc::run(&args),
        Command::BinaryTrees(args) => binarytrees::run(&args),
    };
    if let Err(e) = result {
        eprintln!("gomem-bench: {e}");
        std::process::exit(1);
    }
}
