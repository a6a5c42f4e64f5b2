//! The mark workload: marking throughput on a large, fully live heap.
//!
//! `--copies` (2) complete 4-ary trees of depth `--depth` (10) are built and
//! kept: a node is four child pointers and a u64 (40 bytes, Go's and
//! gomem's 48-byte size class), a tree of depth 10 has
//! (4¹¹ − 1)/3 = 1,398,101 nodes (≈ 67 MB), two of them ≈ 134 MB, all live.
//! Then one untimed collection settles whatever the build left running,
//! and `--gcs` (10) forced collections are timed one by one: `m.collect()`
//! on gomem, `runtime.GC()` in Go (`bench/go/mark`), and the peer's own
//! full-collection call where it has one. Nothing is garbage, so each
//! collection is almost all marking (sweeping finds every span full).
//!
//! Reported: the mean time per collection, every collection's time, and
//! the marking rate in MB/s, where the marked heap is counted as
//! `nodes × 48 B` (the size class; the same figure for every
//! implementation, so MB/s compares like with like).
//!
//! Reference-counting cycle collectors (`dumpster`, `bacon_rajan_cc`) only
//! examine objects whose count was decremented; on a tree that was built
//! by moves alone their "collection" has nothing to look at, and their
//! figures say so rather than measure marking.
//!
//! The check text, identical for every implementation and the Go program:
//! `C trees of depth D\t nodes: N`, N counted by walking the trees after
//! the collections.

use std::time::{Duration, Instant};

use crate::sizes::Preset;

/// The sizes of the mark workload (the same flags as the Go program).
#[derive(clap::Args, Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Size {
    /// Depth of each 4-ary tree (a lone node has depth 0).
    #[arg(long, default_value_t = Size::of(Preset::Default).depth)]
    pub depth: u32,
    /// Trees kept live.
    #[arg(long, default_value_t = Size::of(Preset::Default).copies)]
    pub copies: u32,
    /// Timed forced collections.
    #[arg(long, default_value_t = Size::of(Preset::Default).gcs)]
    pub gcs: u32,
}

impl Size {
    /// The sizes of each preset (`quick` keeps the standard sizes).
    pub const fn of(preset: Preset) -> Size {
        match preset {
            Preset::Default | Preset::Quick => Size {
                depth: 10,
                copies: 2,
                gcs: 10,
            },
            Preset::Tiny => Size {
                depth: 5,
                copies: 2,
                gcs: 3,
            },
        }
    }
}

/// Options of `gomem-bench mark`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub size: Size,
    /// Print a gctrace line per cycle on stderr.
    #[arg(long)]
    pub gctrace: bool,
}

/// Bytes a node occupies in Go's and gomem's heap (its size class): the
/// unit of the MB/s figure.
pub const NODE_BYTES: u64 = 48;

/// Rejects sizes the workload cannot run.
pub fn validate(args: &Args) -> Result<(), String> {
    if args.size.depth > 14 {
        return Err("mark: --depth must be at most 14".into());
    }
    if args.size.gcs == 0 {
        return Err("mark: --gcs must be at least 1".into());
    }
    Ok(())
}

/// Collection figures.
#[derive(Clone, Debug, Default)]
pub struct MarkStats {
    /// Mean milliseconds per forced collection.
    pub ms_per_gc: f64,
    /// Every timed collection, in milliseconds.
    pub gc_ms: Vec<f64>,
    /// Marked heap (`nodes × 48 B`) per second of collection, in MB/s;
    /// `None` for collectors that do not trace the live heap.
    pub mb_per_s: Option<f64>,
}

/// One implementation of the live trees; [`drive`] builds and collects.
pub trait Mark {
    /// Builds `copies` trees of depth `depth` and keeps them.
    fn build(&mut self, depth: u32, copies: u32);
    /// A full, forced collection.
    fn collect(&mut self);
    /// Nodes reachable from the kept trees.
    fn count(&mut self) -> u64;
}

/// What [`drive`] measured.
pub struct Driven {
    /// The check text.
    pub check: String,
    /// Collection figures.
    pub stats: MarkStats,
    /// Wall time of the whole run.
    pub wall: Duration,
}

/// Builds the trees, settles with one untimed collection, times `--gcs`
/// collections, counts the nodes.
pub fn drive<M: Mark>(args: &Args, make: impl FnOnce() -> M) -> Driven {
    let Size { depth, copies, gcs } = args.size;
    let start = Instant::now();
    let mut h = make();
    h.build(depth, copies);
    h.collect();
    let mut gc_ms = Vec::with_capacity(gcs as usize);
    for _ in 0..gcs {
        let t = Instant::now();
        h.collect();
        gc_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let nodes = h.count();
    drop(h);
    let ms_per_gc = gc_ms.iter().sum::<f64>() / gc_ms.len() as f64;
    let mb = (nodes * NODE_BYTES) as f64 / 1e6;
    Driven {
        check: check_text(args.size, nodes),
        stats: MarkStats {
            ms_per_gc,
            mb_per_s: (ms_per_gc > 0.0).then(|| mb / (ms_per_gc / 1e3)),
            gc_ms,
        },
        wall: start.elapsed(),
    }
}

/// The check text of a run of `size` that counted `nodes`.
fn check_text(size: Size, nodes: u64) -> String {
    format!(
        "{} trees of depth {}\t nodes: {nodes}",
        size.copies, size.depth
    )
}

/// The check text a correct run prints: `--copies` complete 4-ary trees
/// of (4^(depth+1) − 1)/3 nodes each.
pub fn expected(args: &Args) -> String {
    let Size { depth, copies, .. } = args.size;
    let per_tree = ((1u64 << (2 * (depth + 1))) - 1) / 3;
    check_text(args.size, u64::from(copies) * per_tree)
}
