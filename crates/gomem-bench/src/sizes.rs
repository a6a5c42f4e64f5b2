//! The named size sets of the workloads (`--size default|quick|tiny`) and
//! the command line that gives a size.
//!
//! Each workload defines its sizes once, as a `Size` struct whose fields are
//! its size flags (`--depth`, `--window`, …, the same flags as its Go
//! program) and a table `Size::of(Preset)`; the subcommand's defaults, the
//! flags `run-one` reports and passes to the workload, and the Go
//! program's command line in `compare` all come from there ([`flags`]).

use serde::Serialize;

/// A named size set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// The benchmarks' standard sizes.
    Default,
    /// At most about 3 s per workload on gomem.
    Quick,
    /// Well under a second (tests).
    Tiny,
}

/// The Lox benchmark programs (`test/benchmark/<name>.lox`) the `lox`
/// group of `compare` runs at `size`: all of them by default; `quick`
/// leaves out `zoo_batch` (a fixed 10 s on each VM); `tiny` runs one short
/// program.
pub fn lox_programs(size: Preset) -> &'static [&'static str] {
    const ALL: [&str; 11] = [
        "binary_trees",
        "equality",
        "fib",
        "instantiation",
        "invocation",
        "method_call",
        "properties",
        "string_equality",
        "trees",
        "zoo",
        "zoo_batch",
    ];
    match size {
        Preset::Default => &ALL,
        Preset::Quick => &ALL[..10],
        Preset::Tiny => &["method_call"],
    }
}

/// The command line that gives `size`: `--flag value` for each of its
/// flags, in the order the struct declares them.
pub fn flags<S: clap::Args + Serialize>(size: &S) -> Vec<String> {
    let values = serde_json::to_value(size).expect("a size is plain numbers");
    S::augment_args(clap::Command::new("size"))
        .get_arguments()
        .flat_map(|a| {
            let long = a.get_long().expect("size flags are long flags");
            [format!("--{long}"), values[a.get_id().as_str()].to_string()]
        })
        .collect()
}
