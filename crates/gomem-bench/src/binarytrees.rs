//! `gomem-bench binary-trees`: the Benchmarks Game binary-trees on gomem.
//!
//! The classic allocation-heavy GC benchmark: a stretch tree of depth d+1,
//! a long-lived tree of depth d kept through a `Root`, then for each even
//! depth from 4 to d, 2^(d−depth+4) trees built bottom-up and checked
//! (node counts). The output lines are the standard ones. Each tree is built
//! and checked between two safepoints, as a Go program would be preempted
//! between statements. With `--threads N`, N mutators split the iterations
//! of each depth.
//!
//! After the check lines it reports wall time, cycles, the time mutators
//! were held at polls by the collector (max and p99: gomem's "pause"),
//! assist time and peak RSS.

use std::error::Error;
use std::time::{Duration, Instant};

use gomem::{Config, Gc, Heap, Member, Mutator, Trace};

/// Options of `gomem-bench binary-trees`.
#[derive(clap::Args, Clone)]
pub struct Args {
    /// Maximum tree depth.
    #[arg(long, default_value_t = 21)]
    pub depth: u32,
    /// Mutator threads sharing the per-depth iterations.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Print a gctrace line per cycle on stderr.
    #[arg(long)]
    pub gctrace: bool,
}

#[derive(Trace)]
struct Node {
    left: Member<Node>,
    right: Member<Node>,
}

fn bottom_up(m: &Mutator, depth: u32) -> Gc<'_, Node> {
    let n = m.alloc(Node {
        left: Member::null(),
        right: Member::null(),
    });
    if depth > 0 {
        n.left.set(m, Some(bottom_up(m, depth - 1)));
        n.right.set(m, Some(bottom_up(m, depth - 1)));
    }
    n
}

fn check(m: &Mutator, n: Gc<'_, Node>) -> u64 {
    match (n.left.get(m), n.right.get(m)) {
        (Some(l), Some(r)) => 1 + check(m, l) + check(m, r),
        _ => 1,
    }
}

/// What a run measured.
pub struct Outcome {
    /// The check lines, in order.
    pub lines: Vec<String>,
    /// Wall time.
    pub wall: Duration,
    /// The collector's summary.
    pub summary: gomem::GcSummary,
}

/// Runs binary-trees on `heap` and returns its output and figures.
pub fn run_on(heap: &Heap, args: &Args) -> Outcome {
    let start = Instant::now();
    let mut lines = Vec::new();
    let min_depth = 4;
    let max_depth = args.depth.max(min_depth + 2);
    let mut m = heap.attach();
    {
        let stretch = max_depth + 1;
        let t = bottom_up(&m, stretch);
        lines.push(format!(
            "stretch tree of depth {stretch}\t check: {}",
            check(&m, t)
        ));
    }
    m.safepoint();
    let long_lived = {
        let t = bottom_up(&m, max_depth);
        m.root(t)
    };
    m.safepoint();
    for d in (min_depth..=max_depth).step_by(2) {
        let iterations = 1u64 << (max_depth - d + min_depth);
        let total = m.blocking(|| run_depth(heap, d, iterations, args.threads.max(1)));
        lines.push(format!(
            "{iterations}\t trees of depth {d}\t check: {total}"
        ));
    }
    lines.push(format!(
        "long lived tree of depth {max_depth}\t check: {}",
        check(&m, long_lived.get(&m))
    ));
    drop(long_lived);
    drop(m);
    Outcome {
        lines,
        wall: start.elapsed(),
        summary: heap.gc_summary(),
    }
}

fn run_depth(heap: &Heap, depth: u32, iterations: u64, threads: usize) -> u64 {
    let work = |count: u64| {
        let mut m = heap.attach();
        let mut sum = 0;
        for _ in 0..count {
            sum += {
                let t = bottom_up(&m, depth);
                check(&m, t)
            };
            m.safepoint();
        }
        sum
    };
    if threads == 1 {
        return work(iterations);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|i| {
                let share =
                    iterations / threads as u64 + u64::from(i < iterations % threads as u64);
                s.spawn(move || work(share))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

/// Runs the demo and prints the check lines and the figures.
pub fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let config = Config::from_env()?;
    let trace = config.gctrace_value() || args.gctrace;
    let heap = Heap::new(config.gctrace(trace));
    let out = run_on(&heap, args);
    for l in &out.lines {
        println!("{l}");
    }
    crate::figures::print_figures(out.wall, &out.summary);
    Ok(())
}
