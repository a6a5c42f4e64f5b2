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
//! The sizes of every workload are defined once, in the workload's module
//! (its `Size::of` table, see `crate::sizes`); [`size_flags`] spells a size
//! as command-line flags: the Rust workloads parse them with their own
//! `Args`, and the Go programs (`bench/go/<workload>`) accept the very same
//! flags, so `compare` passes `flags` from the JSON to the Go program and
//! compares its check text (its stdout lines that do not start with `# `,
//! joined by `\n`) with `check`.
//!
//! * `default`: the benchmarks' standard sizes.
//! * `quick`: each workload takes at most about 3 s on gomem: binary-trees
//!   is smaller; the others already do at their standard sizes, which
//!   `quick` keeps.
//! * `tiny`: well under a second everywhere (tests).

use std::error::Error;

use clap::{Parser, ValueEnum};
use serde::Serialize;

use crate::peers::{Impl, Measured};
use crate::sizes::{self, Preset};
use crate::{binarytrees, gcbench, latency, mark};

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

/// The command-line name of `v`.
pub fn name<T: ValueEnum>(v: T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

/// The flags that give `workload` its `size`, for the Rust workloads and
/// the Go programs alike, from the workload's own table of sizes.
pub fn size_flags(workload: Workload, size: Preset) -> Vec<String> {
    match workload {
        Workload::BinaryTrees => sizes::flags(&binarytrees::Size::of(size)),
        Workload::Gcbench => sizes::flags(&gcbench::Size::of(size)),
        Workload::Latency => sizes::flags(&latency::Size::of(size)),
        Workload::Mark => sizes::flags(&mark::Size::of(size)),
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
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    pub size: Preset,
}

/// Parses a workload's flags with its own `Args`.
#[derive(Parser)]
#[command(no_binary_name = true)]
struct FlagsOf<A: clap::Args> {
    #[command(flatten)]
    args: A,
}

fn parse<A: clap::Args>(flags: &[String]) -> Result<A, String> {
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
fn measure(imp: Impl, workload: Workload, flags: &[String]) -> Result<Measured, String> {
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
    let m = measure(args.imp, args.workload, &flags)?;
    let ns = |d: std::time::Duration| d.as_nanos() as u64;
    let record = Record {
        imp: name(args.imp),
        workload: name(args.workload),
        size: name(args.size),
        flags,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags of every size parse back into that size, through the
    /// workload's own `Args`.
    #[test]
    fn size_flags_give_the_size_back() {
        for preset in Preset::value_variants().iter().copied() {
            let f = |w| size_flags(w, preset);
            let bt: binarytrees::Args = parse(&f(Workload::BinaryTrees)).unwrap();
            assert_eq!(bt.size, binarytrees::Size::of(preset));
            let gcb: gcbench::Args = parse(&f(Workload::Gcbench)).unwrap();
            assert_eq!(gcb.size, gcbench::Size::of(preset));
            let lat: latency::Args = parse(&f(Workload::Latency)).unwrap();
            assert_eq!(lat.size, latency::Size::of(preset));
            let mk: mark::Args = parse(&f(Workload::Mark)).unwrap();
            assert_eq!(mk.size, mark::Size::of(preset));
        }
        assert_eq!(
            size_flags(Workload::Gcbench, Preset::Default),
            [
                "--stretch",
                "18",
                "--long-lived",
                "16",
                "--array",
                "500000",
                "--max-depth",
                "16"
            ]
        );
    }
}
