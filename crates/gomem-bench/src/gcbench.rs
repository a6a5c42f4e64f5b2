//! The Ellis/Kovac/Boehm GCBench: its options, the steps every
//! implementation provides ([`GcBench`]) and their order ([`drive`]).
//!
//! The classic collector benchmark, as in Boehm's `GCBench.c`:
//!
//! 1. a *stretch* tree of depth `--stretch` (18) is built bottom-up, counted
//!    and dropped;
//! 2. a *long-lived* tree of depth `--long-lived` (16) is built top-down and
//!    an array of `--array` (500,000) f64 is allocated and kept (`a[i] = 1/i`
//!    for the first half, as in the original);
//! 3. for each depth d = 4, 6, … `--max-depth` (16),
//!    `num_iters(d) = 2·tree_size(max_depth)/tree_size(d)` trees are built
//!    top-down (`populate`: a node is allocated, then its children) and as
//!    many bottom-up (`make_tree`: the children first), each counted and
//!    dropped, so every depth allocates about the same number of nodes;
//! 4. the long-lived tree and the array are checked.
//!
//! (Boehm's original sizes `num_iters` by the stretch depth, which makes
//! each depth 4× longer; ours is the lead's specification.)
//!
//! A node is two child pointers, a parent back-pointer and two i32 (32 bytes
//! on gomem and Go). The parent pointer is what makes the trees cyclic: a
//! tracing collector does not care, a cycle collector (`dumpster`,
//! `bacon_rajan_cc`) must find the cycles, and the plain-`Rc` peer uses
//! `Weak` parents instead.
//!
//! The check text, identical for every implementation and the Go program
//! (`bench/go/gcbench`), is made by [`drive`]:
//!
//! ```text
//! stretch tree of depth 18\t check: 524287
//! 8456\t trees of depth 4\t top-down check: 262136\t bottom-up check: 262136
//! …   (one line per depth)
//! long lived tree of depth 16\t check: 131071
//! array of 500000\t a[1000]: 0.001000
//! ```

use crate::sizes::Preset;

/// The sizes of GCBench (the same flags as the Go program).
#[derive(clap::Args, Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Size {
    /// Depth of the stretch tree.
    #[arg(long, default_value_t = Size::of(Preset::Default).stretch)]
    pub stretch: u32,
    /// Depth of the long-lived tree.
    #[arg(long, default_value_t = Size::of(Preset::Default).long_lived)]
    pub long_lived: u32,
    /// Elements of the long-lived f64 array (at least 2002: the check reads a[1000]).
    #[arg(long, default_value_t = Size::of(Preset::Default).array)]
    pub array: usize,
    /// Largest depth of the short-lived trees (from 4, step 2).
    #[arg(long, default_value_t = Size::of(Preset::Default).max_depth)]
    pub max_depth: u32,
}

impl Size {
    /// The sizes of each preset (`quick` keeps the standard sizes).
    pub const fn of(preset: Preset) -> Size {
        match preset {
            Preset::Default | Preset::Quick => Size {
                stretch: 18,
                long_lived: 16,
                array: 500_000,
                max_depth: 16,
            },
            Preset::Tiny => Size {
                stretch: 16,
                long_lived: 14,
                array: 4096,
                max_depth: 14,
            },
        }
    }
}

/// Options of `gomem-bench gcbench`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub size: Size,
    /// Print a gctrace line per cycle on stderr.
    #[arg(long)]
    pub gctrace: bool,
}

/// Smallest depth of the short-lived trees.
pub const MIN_DEPTH: u32 = 4;
/// The array element the check reads.
pub const ARRAY_PROBE: usize = 1000;

/// Nodes of a complete binary tree of depth `d`.
pub fn tree_size(d: u32) -> u64 {
    (1u64 << (d + 1)) - 1
}

/// Trees built per depth, in each direction.
pub fn num_iters(args: &Args, d: u32) -> u64 {
    2 * tree_size(args.size.max_depth) / tree_size(d)
}

/// The initial value of array element `i` of an array of `len`.
pub fn array_value(i: usize, len: usize) -> f64 {
    if i < len / 2 {
        1.0 / i as f64
    } else {
        0.0
    }
}

/// Rejects sizes the check cannot describe.
pub fn validate(args: &Args) -> Result<(), String> {
    let s = args.size;
    if s.array < 2 * ARRAY_PROBE + 2 {
        return Err(format!(
            "gcbench: --array must be at least {} (the check reads a[{ARRAY_PROBE}])",
            2 * ARRAY_PROBE + 2
        ));
    }
    if s.max_depth < MIN_DEPTH || s.stretch > 40 || s.long_lived > 40 {
        return Err(format!(
            "gcbench: depths must lie in {MIN_DEPTH}..=40 (--max-depth ≥ {MIN_DEPTH})"
        ));
    }
    Ok(())
}

/// One implementation of GCBench's steps; [`drive`] runs them in order.
/// Every method builds, counts and drops what it says, and returns the node
/// count it found by walking the tree.
pub trait GcBench {
    /// Builds a tree of depth `d` bottom-up, counts it, drops it.
    fn stretch(&mut self, d: u32) -> u64;
    /// Builds and keeps the long-lived tree (top-down) and the array.
    fn make_long_lived(&mut self, d: u32, array_len: usize);
    /// Builds a tree of depth `d` top-down, counts it, drops it.
    fn top_down(&mut self, d: u32) -> u64;
    /// Builds a tree of depth `d` bottom-up, counts it, drops it.
    fn bottom_up(&mut self, d: u32) -> u64;
    /// Counts the long-lived tree.
    fn long_lived_count(&mut self) -> u64;
    /// Reads element `i` of the long-lived array.
    fn array_get(&mut self, i: usize) -> f64;
}

/// Runs GCBench on `h` and returns the check lines.
pub fn drive(h: &mut impl GcBench, args: &Args) -> Vec<String> {
    let Size {
        stretch,
        long_lived,
        array,
        max_depth,
    } = args.size;
    let mut lines = Vec::new();
    let n = h.stretch(stretch);
    lines.push(format!("stretch tree of depth {stretch}\t check: {n}"));
    h.make_long_lived(long_lived, array);
    for d in (MIN_DEPTH..=max_depth).step_by(2) {
        let iters = num_iters(args, d);
        let top_down: u64 = (0..iters).map(|_| h.top_down(d)).sum();
        let bottom_up: u64 = (0..iters).map(|_| h.bottom_up(d)).sum();
        lines.push(format!(
            "{iters}\t trees of depth {d}\t top-down check: {top_down}\t bottom-up check: {bottom_up}"
        ));
    }
    lines.push(format!(
        "long lived tree of depth {long_lived}\t check: {}",
        h.long_lived_count()
    ));
    lines.push(format!(
        "array of {array}\t a[{ARRAY_PROBE}]: {:.6}",
        h.array_get(ARRAY_PROBE)
    ));
    lines
}

/// The check lines a correct run prints: [`drive`] on trees that are
/// counted, not built, and an array that is computed, not kept.
pub fn expected(args: &Args) -> String {
    struct Reckoned {
        long_lived: u32,
        array_len: usize,
    }
    impl GcBench for Reckoned {
        fn stretch(&mut self, d: u32) -> u64 {
            tree_size(d)
        }
        fn make_long_lived(&mut self, d: u32, array_len: usize) {
            (self.long_lived, self.array_len) = (d, array_len);
        }
        fn top_down(&mut self, d: u32) -> u64 {
            tree_size(d)
        }
        fn bottom_up(&mut self, d: u32) -> u64 {
            tree_size(d)
        }
        fn long_lived_count(&mut self) -> u64 {
            tree_size(self.long_lived)
        }
        fn array_get(&mut self, i: usize) -> f64 {
            array_value(i, self.array_len)
        }
    }
    let mut h = Reckoned {
        long_lived: 0,
        array_len: 0,
    };
    drive(&mut h, args).join("\n")
}
