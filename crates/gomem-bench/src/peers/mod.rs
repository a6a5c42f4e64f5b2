//! The implementations every workload runs on, one file each: gomem and
//! the Rust peers it is compared with (Rust's own memory management and
//! Rust's garbage-collection crates), all filling the same [`Measured`]
//! record and dispatched alike through [`Impl`] and [`Implementation`].
//!
//! | implementation    | pointer                         | collector                                      |
//! |-------------------|---------------------------------|------------------------------------------------|
//! | `gomem`           | `gomem::Gc` / `Member` / `Root` | Go's concurrent mark-sweep, paced by GOGC      |
//! | `boxrc`           | `Box` (trees, messages), `Rc` + `Weak` parents (gcbench) | none: the no-GC baseline |
//! | `gc_arena`        | `gc_arena::Gc` in an `Arena`    | incremental mark-sweep, paid by `collect_debt` |
//! | `gc`              | `gc::Gc` (Manishearth)          | stop-the-world mark-sweep inside allocation    |
//! | `dumpster`        | `dumpster::unsync::Gc`          | refcounting + cycle detection                  |
//! | `bacon_rajan_cc`  | `bacon_rajan_cc::Cc`            | refcounting + Bacon–Rajan trial deletion       |
//!
//! Every workload's structure (what is built, in which order, what is
//! counted) comes from the workload's module (`crate::binarytrees`,
//! `crate::gcbench`, `crate::latency`, `crate::mark`) through a trait that
//! each implementation implements, so the check text is the same by
//! construction.
//!
//! Where the collector runs, and what counts as a pause:
//! * `gomem` collects concurrently; a pause is the time a mutator was held
//!   at a poll by the collector, and its mark assists and background
//!   marking are reported too (`gomem::GcSummary`).
//! * `gc_arena` never collects by itself: the workload calls
//!   `collect_debt` after every unit of work (a tree, a push), the crate's
//!   intended use. Each call that had debt to pay is one pause.
//! * `gc` collects inside `Gc::new` when its threshold is passed; the
//!   pause cannot be separated from the allocation, so pauses are unknown.
//! * `dumpster` and `bacon_rajan_cc` free acyclic garbage at once, by
//!   reference counting. Garbage cycles (gcbench's parent pointers) need a
//!   collection, which `bacon_rajan_cc` never starts by itself and
//!   `dumpster` starts only when more handles were dropped than are alive
//!   (almost never here: a tree is dropped through one handle). So in
//!   gcbench the workload paces them as Go paces its collector with
//!   GOGC=100: it collects once the nodes discarded since the last
//!   collection reach the live nodes ([`Pacer`]). Those calls are the pauses.
//! * `boxrc` has no collector; its pauses and GC count are not applicable.

use std::time::{Duration, Instant};

#[macro_use]
mod refcounted;

pub mod bacon_rajan_cc;
pub mod boxrc;
pub mod dumpster;
pub mod gc;
pub mod gc_arena;
pub mod gomem;

use crate::{binarytrees, gcbench, latency, mark};

/// An implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Impl {
    /// gomem (this repository).
    Gomem,
    /// `Box` / `Rc`: no collector.
    Boxrc,
    /// The `gc-arena` crate.
    GcArena,
    /// The `gc` crate (Manishearth).
    Gc,
    /// The `dumpster` crate (`unsync`).
    Dumpster,
    /// The `bacon_rajan_cc` crate.
    BaconRajanCc,
}

impl Impl {
    /// Its workloads.
    pub fn implementation(self) -> &'static Implementation {
        match self {
            Impl::Gomem => &gomem::IMPLEMENTATION,
            Impl::Boxrc => &boxrc::IMPLEMENTATION,
            Impl::GcArena => &gc_arena::IMPLEMENTATION,
            Impl::Gc => &gc::IMPLEMENTATION,
            Impl::Dumpster => &dumpster::IMPLEMENTATION,
            Impl::BaconRajanCc => &bacon_rajan_cc::IMPLEMENTATION,
        }
    }
}

/// One workload on one implementation: what it measured, or why it could
/// not run.
pub type Run<A> = fn(&A) -> Result<Measured, String>;

/// One implementation: its four workloads, and what it needs to print
/// Go's gctrace lines.
pub struct Implementation {
    /// The environment variable and the item to add to it that make the
    /// implementation print a gctrace line per cycle on stderr, if it can
    /// (`compare` charts the heap over time from them).
    pub gctrace_env: Option<(&'static str, &'static str)>,
    /// binary-trees.
    pub binary_trees: Run<binarytrees::Args>,
    /// GCBench.
    pub gcbench: Run<gcbench::Args>,
    /// The latency window.
    pub latency: Run<latency::Args>,
    /// Forced-collection throughput; `None` where there is no collector.
    pub mark: Option<Run<mark::Args>>,
}

impl Implementation {
    /// An implementation of the workloads given, which prints no gctrace.
    pub const fn new(
        binary_trees: Run<binarytrees::Args>,
        gcbench: Run<gcbench::Args>,
        latency: Run<latency::Args>,
        mark: Option<Run<mark::Args>>,
    ) -> Implementation {
        Implementation {
            gctrace_env: None,
            binary_trees,
            gcbench,
            latency,
            mark,
        }
    }
}

/// Pause percentiles of a peer that has pauses the workload can time.
#[derive(Clone, Copy, Debug)]
pub struct Pauses {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Longest.
    pub max: Duration,
    /// How many there were.
    pub count: u64,
}

/// Mark assists: marking work the collector had allocating threads do.
#[derive(Clone, Copy, Debug)]
pub struct Assists {
    /// How many.
    pub count: u64,
    /// Their total time.
    pub total: Duration,
    /// The longest.
    pub max: Duration,
}

impl Pauses {
    /// The percentiles of `samples`; `None` if there are none.
    pub fn from_samples(samples: &mut [Duration]) -> Option<Pauses> {
        if samples.is_empty() {
            return None;
        }
        let mut ns: Vec<u64> = samples.iter().map(|d| d.as_nanos() as u64).collect();
        ns.sort_unstable();
        let at = |num, den| Duration::from_nanos(latency::nearest_rank(&ns, num, den));
        Some(Pauses {
            p50: at(1, 2),
            p99: at(99, 100),
            max: Duration::from_nanos(*ns.last().unwrap_or(&0)),
            count: ns.len() as u64,
        })
    }
}

/// Times `f` into `pauses`.
pub fn timed<R>(pauses: &mut Vec<Duration>, f: impl FnOnce() -> R) -> R {
    let t = Instant::now();
    let r = f();
    pauses.push(t.elapsed());
    r
}

/// What one run of a workload measured, on any implementation; a figure
/// the implementation does not have is `None`.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    /// The check text (lines joined by `\n`).
    pub check: String,
    /// Wall time.
    pub wall: Duration,
    /// Collections, where the peer counts them.
    pub gc_count: Option<u64>,
    /// Pauses, where the workload can time them.
    pub pauses: Option<Pauses>,
    /// Mark assists, where the collector has them.
    pub assists: Option<Assists>,
    /// Time the collector's background workers spent marking, where it
    /// has them.
    pub background_mark: Option<Duration>,
    /// Push percentiles (latency only).
    pub latency: Option<latency::LatencyStats>,
    /// Collection figures (mark only).
    pub mark: Option<mark::MarkStats>,
}

/// A GOGC=100-style trigger for the cycle collectors in gcbench: collect
/// once the nodes discarded since the last collection reach the live nodes
/// (at least [`Pacer::MIN_NODES`], Go's 4 MiB minimum heap in 32-byte
/// nodes).
#[derive(Default)]
pub struct Pacer {
    live: u64,
    discarded: u64,
}

impl Pacer {
    /// Smallest trigger, in nodes.
    pub const MIN_NODES: u64 = 1 << 17;

    /// Records `n` nodes made live (kept).
    pub fn kept(&mut self, n: u64) {
        self.live += n;
    }

    /// Records `n` nodes discarded; true when a collection is due (the
    /// count restarts).
    pub fn discarded(&mut self, n: u64) -> bool {
        self.discarded += n;
        if self.discarded >= self.live.max(Self::MIN_NODES) {
            self.discarded = 0;
            true
        } else {
            false
        }
    }
}

/// Runs `f` and returns its check lines joined, with its wall time.
pub fn timed_lines(f: impl FnOnce() -> Vec<String>) -> (String, Duration) {
    let t = Instant::now();
    let lines = f();
    (lines.join("\n"), t.elapsed())
}
