//! The Benchmarks Game binary-trees: its options, the steps every
//! implementation provides ([`BinaryTrees`]) and their order ([`drive`]).
//!
//! The classic allocation-heavy GC benchmark: a stretch tree of depth d+1,
//! a long-lived tree of depth d, then for each even depth from 4 to d,
//! 2^(d−depth+4) trees built bottom-up and checked (node counts). The
//! output lines are the standard ones, the same for every implementation
//! and the Go program (`bench/go/binarytrees`):
//!
//! ```text
//! stretch tree of depth 22\t check: 8388607
//! 2097152\t trees of depth 4\t check: 65011712
//! …   (one line per even depth)
//! long lived tree of depth 21\t check: 4194303
//! ```
//!
//! On gomem (`crate::peers::gomem`) each tree is built and checked between
//! two safepoints, as a Go program would be preempted between statements,
//! and with `--threads N`, N mutators split the iterations of each depth.

use crate::sizes::Preset;

/// The size of binary-trees (the Go program's flag too).
#[derive(clap::Args, Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Size {
    /// Maximum tree depth.
    #[arg(long, default_value_t = Size::of(Preset::Default).depth)]
    pub depth: u32,
}

impl Size {
    /// The size of each preset.
    pub const fn of(preset: Preset) -> Size {
        match preset {
            Preset::Default => Size { depth: 21 },
            Preset::Quick => Size { depth: 18 },
            Preset::Tiny => Size { depth: 14 },
        }
    }
}

/// Options of `gomem-bench binary-trees`.
#[derive(clap::Args, Clone)]
pub struct Args {
    #[command(flatten)]
    pub size: Size,
    /// Mutator threads sharing the per-depth iterations.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Print a gctrace line per cycle on stderr.
    #[arg(long)]
    pub gctrace: bool,
}

/// Smallest depth of the short-lived trees.
pub const MIN_DEPTH: u32 = 4;

/// One implementation of binary-trees' steps; [`drive`] runs them in order.
pub trait BinaryTrees {
    /// Builds a tree of depth `d` bottom-up, counts it, drops it (and lets
    /// the collector run, if the implementation has a place for that).
    fn churn(&mut self, d: u32) -> u64;
    /// Churns `iterations` trees of depth `d` and returns the sum of their
    /// counts: one after another, unless the implementation shares them
    /// out among threads.
    fn churn_many(&mut self, d: u32, iterations: u64) -> u64 {
        (0..iterations).map(|_| self.churn(d)).sum()
    }
    /// Builds and keeps the long-lived tree.
    fn make_long_lived(&mut self, d: u32);
    /// Counts the long-lived tree.
    fn long_lived_count(&mut self) -> u64;
}

/// Runs binary-trees of `--depth` on `h` and returns the check lines.
pub fn drive(h: &mut impl BinaryTrees, args: &Args) -> Vec<String> {
    let max_depth = args.size.depth.max(MIN_DEPTH + 2);
    let mut lines = Vec::new();
    let stretch = max_depth + 1;
    let n = h.churn(stretch);
    lines.push(format!("stretch tree of depth {stretch}\t check: {n}"));
    h.make_long_lived(max_depth);
    for d in (MIN_DEPTH..=max_depth).step_by(2) {
        let iterations = 1u64 << (max_depth - d + MIN_DEPTH);
        let total = h.churn_many(d, iterations);
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

/// The check lines a correct run prints: [`drive`] on trees that are
/// counted, not built (a complete tree of depth d has 2^(d+1) − 1 nodes).
pub fn expected(args: &Args) -> String {
    struct Reckoned {
        long_lived: u32,
    }
    impl BinaryTrees for Reckoned {
        fn churn(&mut self, d: u32) -> u64 {
            (1u64 << (d + 1)) - 1
        }
        fn churn_many(&mut self, d: u32, iterations: u64) -> u64 {
            iterations * self.churn(d)
        }
        fn make_long_lived(&mut self, d: u32) {
            self.long_lived = d;
        }
        fn long_lived_count(&mut self) -> u64 {
            self.churn(self.long_lived)
        }
    }
    drive(&mut Reckoned { long_lived: 0 }, args).join("\n")
}
