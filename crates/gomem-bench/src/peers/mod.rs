//! The Rust peers gomem is compared with: the same four workloads
//! (binary-trees, gcbench, latency, mark) on Rust's own memory management
//! and on Rust's garbage-collection crates, one file per peer.
//!
//! | peer              | pointer                         | collector                                      |
//! |-------------------|---------------------------------|------------------------------------------------|
//! | `boxrc`           | `Box` (trees, messages), `Rc` + `Weak` parents (gcbench) | none: the no-GC baseline |
//! | `gc_arena`        | `gc_arena::Gc` in an `Arena`    | incremental mark-sweep, paid by `collect_debt` |
//! | `gc`              | `gc::Gc` (Manishearth)          | stop-the-world mark-sweep inside allocation    |
//! | `dumpster`        | `dumpster::unsync::Gc`          | refcounting + cycle detection                  |
//! | `bacon_rajan_cc`  | `bacon_rajan_cc::Cc`            | refcounting + Bacon–Rajan trial deletion       |
//!
//! Every workload's structure (what is built, in which order, what is
//! counted) comes from the workload's module (`crate::gcbench`,
//! `crate::latency`, `crate::mark`) through a trait that each peer
//! implements, so the check text is the same by construction; binary-trees,
//! whose gomem module is fixed, gets its driver [`BinaryTrees`] here.
//!
//! Where the collector runs, and what counts as a pause:
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

/// Pause percentiles of a peer that has pauses the workload can time.
#[derive(Clone, Copy, Debug)]
pub struct Pauses {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Longest.
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
        let at = |num, den| Duration::from_nanos(crate::latency::nearest_rank(&ns, num, den));
        Some(Pauses {
            p50: at(1, 2),
            p99: at(99, 100),
            max: Duration::from_nanos(*ns.last().unwrap_or(&0)),
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

/// What one peer run measured.
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
    /// Push percentiles (latency only).
    pub latency: Option<crate::latency::LatencyStats>,
    /// Collection figures (mark only).
    pub mark: Option<crate::mark::MarkStats>,
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

/// One implementation of binary-trees (Benchmarks Game rules), driven by
/// [`binary_trees`]; the check lines are those of `crate::binarytrees`.
pub trait BinaryTrees {
    /// Builds a tree of depth `d` bottom-up, counts it, drops it (and lets
    /// the collector run, if the peer has a place for that).
    fn churn(&mut self, d: u32) -> u64;
    /// Builds and keeps the long-lived tree.
    fn make_long_lived(&mut self, d: u32);
    /// Counts the long-lived tree.
    fn long_lived_count(&mut self) -> u64;
}

/// Runs binary-trees of `--depth` on `h` (single-threaded) and returns
/// the check lines, exactly those `gomem-bench binary-trees` prints.
pub fn binary_trees(h: &mut impl BinaryTrees, args: &crate::binarytrees::Args) -> Vec<String> {
    let min_depth = 4;
    let max_depth = args.depth.max(min_depth + 2);
    let mut lines = Vec::new();
    let stretch = max_depth + 1;
    let n = h.churn(stretch);
    lines.push(format!("stretch tree of depth {stretch}\t check: {n}"));
    h.make_long_lived(max_depth);
    for d in (min_depth..=max_depth).step_by(2) {
        let iterations = 1u64 << (max_depth - d + min_depth);
        let total: u64 = (0..iterations).map(|_| h.churn(d)).sum();
        lines.push(format!(
            "{iterations}\t trees of depth {d}\t check: {total}"
        ));
    }
    lines.push(format!(
        "long lived tree of depth {max_depth}\t check: {}",
        h.long_lived_count()
    ));
    lines
}

/// Runs `f` and returns its check lines joined, with its wall time.
pub fn timed_lines(f: impl FnOnce() -> Vec<String>) -> (String, Duration) {
    let t = Instant::now();
    let lines = f();
    (lines.join("\n"), t.elapsed())
}
