//! Mark-loop cost: a forced collection of a heap whose every object is
//! live, reported per object marked. A cycle's other costs (the handshakes,
//! scanning a single root, sweeping spans that free nothing) are small next
//! to marking a million objects, so the figure is the mark loop's: finding
//! each object's span, setting its mark bit, queueing it and loading its
//! pointers.
//!
//! Shapes: a binary tree of 16-byte nodes (the densest heap: two pointers,
//! no data, Go's binary-trees node) and a 4-ary tree of 48-byte nodes with
//! a payload (the `mark` workload's node), each about a million objects.

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use gomem::{Config, Gc, Heap, Member, Mutator, Root, Trace};

#[derive(Trace)]
struct Pair {
    left: Member<Pair>,
    right: Member<Pair>,
}

#[derive(Trace)]
struct Quad {
    kids: [Member<Quad>; 4],
    value: u64,
    pad: u64,
}

fn pair_tree<'m>(m: &'m Mutator, depth: u32) -> Gc<'m, Pair> {
    let n = m.alloc(Pair {
        left: Member::null(),
        right: Member::null(),
    });
    if depth > 0 {
        n.left.set(m, Some(pair_tree(m, depth - 1)));
        n.right.set(m, Some(pair_tree(m, depth - 1)));
    }
    n
}

fn quad_tree<'m>(m: &'m Mutator, depth: u32) -> Gc<'m, Quad> {
    let n = m.alloc(Quad {
        kids: Default::default(),
        value: depth as u64,
        pad: 0,
    });
    if depth > 0 {
        for k in &n.kids {
            k.set(m, Some(quad_tree(m, depth - 1)));
        }
    }
    n
}

/// Times `iters` forced collections of the heap `m` is attached to.
fn collections(m: &mut Mutator, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        m.collect();
    }
    start.elapsed()
}

/// Benchmarks forced collections of a heap holding what `build` roots:
/// `objects` live objects.
fn live_heap<T>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    objects: u64,
    build: impl FnOnce(&Mutator) -> Root<T>,
) {
    let heap = Heap::new(Config::default().gc_percent(None));
    let mut m = heap.attach();
    let _root = build(&m);
    m.collect();
    g.throughput(Throughput::Elements(objects));
    g.bench_function(BenchmarkId::new(name, objects), |b| {
        b.iter_custom(|iters| collections(&mut m, iters))
    });
}

fn mark(c: &mut Criterion) {
    let mut g = c.benchmark_group("mark_live_heap");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));
    // 2^20 − 1 nodes of 16 B.
    let depth = 19;
    live_heap(&mut g, "binary_tree_16B", (1 << (depth + 1)) - 1, |m| {
        m.root(pair_tree(m, depth))
    });
    // (4^11 − 1)/3 ≈ 1.4 M nodes of 48 B.
    let depth = 10;
    live_heap(
        &mut g,
        "quad_tree_48B",
        ((1 << (2 * (depth + 1))) - 1) / 3,
        |m| m.root(quad_tree(m, depth)),
    );
    g.finish();
}

criterion_group!(benches, mark);
criterion_main!(benches);
