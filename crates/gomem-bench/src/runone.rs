//! `gomem-bench run-one`: one measurement, one process, one line of JSON.
//!
//! `compare` runs every (implementation, workload) pair as a separate
//! process of this subcommand, so that each gets a fresh heap and its own
//! rusage (CPU time and peak RSS, which `compare` reads from the child).
//!
//! ```text
//! gomem-bench run-one --impl <gomem|boxrc|gc-arena|gc|dumpster|bacon-rajan-cc>
//!                     --workload <binary-trees|gcbench|latency|mark>
//!                     [--size default|quick|tiny]
//! ```
//!
//! prints exactly one JSON object on stdout (diagnostics go to stderr):
//!
//! ```text
//! {"impl":"gomem","workload":"gcbench","size":"tiny",
//!  "flags":["--stretch","10",…],          the workload flags of this size
//!  "check":"stretch tree of depth 10\t check: 2047\n…",
//!  "wall_s":0.01,"gc_count":3,             null where the peer keeps no count
//!  "pause_p50_ns":…,"pause_p99_ns":…,"pause_max_ns":…,   null where unknown
//!  "latency_ns":{"p50":…,"p99":…,"p999":…,"max":…},     latency only, else null
//!  "mark_ms_per_gc":…,"mark_gc_ms":[…],"mark_mb_per_s":…} mark only, else null
//! ```
//!
//! gomem's heap comes from the environment (`Heap::from_env`: `GOGC`,
//! `GOMEMLIMIT`, `GOMEM_DEBUG=gctrace=1` prints Go's gctrace on stderr).
//! Pauses: on gomem, the time a mutator was held at a poll by the
//! collector (`GcSummary`); on the peers, see `crate::peers`.
//!
//! The sizes of every workload are defined here, once, as command-line
//! flags ([`size_flags`]): the Rust workloads parse them with their own
//! `Args`, and the Go programs (`bench/go/<workload>`) accept the very same
//! flags, so `compare` passes `flags` from the JSON to the Go program and
//! compares its check text (its stdout lines that do not start with `# `,
//! joined by `\n`) with `check`.
//!
//! * `default`: the benchmarks' standard sizes (binary-trees 21; GCBench
//!   18/16/500,000/16; latency 200,000 × 1 KiB live, 1 M pushes; mark
//!   2 × 4-ary depth 10 ≈ 134 MB, 10 collections).
//! * `quick`: each workload takes at most about 3 s on gomem: binary-trees
//!   at depth 18; the others already do at their default sizes, which
//!   `quick` keeps.
//! * `tiny`: well under a second everywhere (tests).

use std::error::Error;

use clap::{Parser, ValueEnum};
use serde::Serialize;

use crate::peers::{Impl, Measured};
use crate::{gcbench, latency, mark};

/// A workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Benchmarks Game binary-trees.
    BinaryTrees,
    /// Ellis/Kovac/Boehm GCBench.
    Gcbench,
    /// Push latency with a window of live messages.
    Latency,
    /// Forced-collection (marking) throughput.
    Mark,
}

/// A problem size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Size {
    /// The benchmarks' standard sizes.
    Default,
    /// At most about 3 s per workload on gomem.
    Quick,
    /// Well under a second (tests).
    Tiny,
}

fn name<T: ValueEnum>(v: T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

/// The flags that give `workload` its `size`, for the Rust workloads and
/// the Go programs alike. The single definition of every size.
pub fn size_flags(workload: Workload, size: Size) -> &'static [&'static str] {
    use Size::*;
    use Workload::*;
    match (workload, size) {
        (BinaryTrees, Default) => &["--depth", "21"],
        (BinaryTrees, Quick) => &["--depth", "18"],
        (BinaryTrees, Tiny) => &["--depth", "14"],
        (Gcbench, Default) => &[
            "--stretch",
            "18",
            "--long-lived",
            "16",
            "--array",
            "500000",
            "--max-depth",
            "16",
        ],
        (Gcbench, Quick) => &[
            "--stretch",
            "18",
            "--long-lived",
            "16",
            "--array",
            "500000",
            "--max-depth",
            "16",
        ],
        (Gcbench, Tiny) => &[
            "--stretch",
            "16",
            "--long-lived",
            "14",
            "--array",
            "4096",
            "--max-depth",
            "14",
        ],
        (Latency, Default) => &["--window", "200000", "--pushes", "1000000"],
        (Latency, Quick) => &["--window", "200000", "--pushes", "1000000"],
        (Latency, Tiny) => &["--window", "2000", "--pushes", "10000"],
        (Mark, Default) => &["--depth", "10", "--copies", "2", "--gcs", "10"],
        (Mark, Quick) => &["--depth", "10", "--copies", "2", "--gcs", "10"],
        (Mark, Tiny) => &["--depth", "5", "--copies", "2", "--gcs", "3"],
    }
}

/// Whether `imp` runs `workload` (`boxrc` has no collector, so there is
/// nothing for mark to time).
pub fn supported(imp: Impl, workload: Workload) -> bool {
    workload != Workload::Mark || imp.implementation().mark.is_some()
}

/// Options of `gomem-bench run-one`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// The implementation.
    #[arg(long = "impl", value_enum)]
    pub imp: Impl,
    /// The workload.
    #[arg(long, value_enum)]
    pub workload: Workload,
    /// The problem size.
    #[arg(long, value_enum, default_value_t = Size::Default)]
    pub size: Size,
}

/// Parses a workload's flags with its own `Args`.
#[derive(Parser)]
#[command(no_binary_name = true)]
struct FlagsOf<A: clap::Args> {
    #[command(flatten)]
    args: A,
}

fn parse<A: clap::Args>(flags: &[&str]) -> Result<A, String> {
    FlagsOf::<A>::try_parse_from(flags)
        .map(|f| f.args)
        .map_err(|e| e.to_string())
}

/// The JSON line.
#[derive(Serialize)]
struct Record {
    #[serde(rename = "impl")]
    imp: String,
    workload: String,
    size: String,
    flags: Vec<String>,
    check: String,
    wall_s: f64,
    gc_count: Option<u64>,
    pause_p50_ns: Option<u64>,
    pause_p99_ns: Option<u64>,
    pause_max_ns: Option<u64>,
    latency_ns: Option<latency::LatencyStats>,
    mark_ms_per_gc: Option<f64>,
    mark_gc_ms: Option<Vec<f64>>,
    mark_mb_per_s: Option<f64>,
}

/// Runs `workload` with `flags` on `imp`.
fn measure(imp: Impl, workload: Workload, flags: &[&str]) -> Result<Measured, String> {
    let on = imp.implementation();
    match workload {
        Workload::BinaryTrees => (on.binary_trees)(&parse(flags)?),
        Workload::Gcbench => {
            let a: gcbench::Args = parse(flags)?;
            gcbench::validate(&a)?;
            (on.gcbench)(&a)
        }
        Workload::Latency => {
            let a: latency::Args = parse(flags)?;
            latency::validate(&a)?;
            (on.latency)(&a)
        }
        Workload::Mark => {
            let a: mark::Args = parse(flags)?;
            mark::validate(&a)?;
            (on.mark.expect("checked by `supported`"))(&a)
        }
    }
}

/// Runs one measurement and prints its JSON line.
pub fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    if !supported(args.imp, args.workload) {
        return Err(format!(
            "run-one: {} does not run {} (no collector to measure)",
            name(args.imp),
            name(args.workload)
        )
        .into());
    }
    let flags = size_flags(args.workload, args.size);
    let m = measure(args.imp, args.workload, flags)?;
    let ns = |d: std::time::Duration| d.as_nanos() as u64;
    let record = Record {
        imp: name(args.imp),
        workload: name(args.workload),
        size: name(args.size),
        flags: flags.iter().map(|s| s.to_string()).collect(),
        check: m.check,
        wall_s: m.wall.as_secs_f64(),
        gc_count: m.gc_count,
        pause_p50_ns: m.pauses.map(|p| ns(p.p50)),
        pause_p99_ns: m.pauses.map(|p| ns(p.p99)),
        pause_max_ns: m.pauses.map(|p| ns(p.max)),
        latency_ns: m.latency,
        mark_ms_per_gc: m.mark.as_ref().map(|s| s.ms_per_gc),
        mark_gc_ms: m.mark.as_ref().map(|s| s.gc_ms.clone()),
        mark_mb_per_s: m.mark.as_ref().and_then(|s| s.mb_per_s),
    };
    println!("{}", serde_json::to_string(&record)?);
    Ok(())
}
