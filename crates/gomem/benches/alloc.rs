//! Allocation benchmarks: the small-object fast path (16 B, 64 B, 1 KiB),
//! the refill path, large objects, with one and two threads, each beside
//! `Box::new` on the system allocator.
//!
//! Nothing is freed while a batch runs (no collector here), so each batch
//! allocates into a fresh heap and the heap is dropped outside the timing.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gomem::{Config, Heap, ObjectKind};

/// Objects per batch: bounds the memory a batch touches.
const BATCH: u64 = 1 << 18;

fn gomem_batches(iters: u64, size: usize, kind: ObjectKind) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        let heap = Heap::new(Config::default().gc_percent(None));
        let p = heap.attach();
        let start = Instant::now();
        for _ in 0..n {
            black_box(p.alloc_raw(size, kind).unwrap());
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

fn box_batches<const N: usize>(iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut keep: Vec<Box<[u8; N]>> = Vec::with_capacity(BATCH as usize);
    while left > 0 {
        let n = left.min(BATCH);
        let start = Instant::now();
        for _ in 0..n {
            keep.push(black_box(Box::new([0u8; N])));
        }
        total += start.elapsed();
        keep.clear();
        left -= n;
    }
    total
}

fn small(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_small");
    g.throughput(Throughput::Elements(1));
    for &(size, kind) in &[
        (16usize, ObjectKind::Scan),
        (64, ObjectKind::Noscan),
        (1024, ObjectKind::Noscan),
    ] {
        g.bench_with_input(BenchmarkId::new("gomem", size), &size, |b, &size| {
            b.iter_custom(|iters| gomem_batches(iters, size, kind))
        });
    }
    g.bench_function(BenchmarkId::new("box", 16), |b| {
        b.iter_custom(box_batches::<16>)
    });
    g.bench_function(BenchmarkId::new("box", 64), |b| {
        b.iter_custom(box_batches::<64>)
    });
    g.bench_function(BenchmarkId::new("box", 1024), |b| {
        b.iter_custom(box_batches::<1024>)
    });
    g.finish();
}

fn tiny(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_tiny");
    g.bench_function("gomem_8B_noscan", |b| {
        b.iter_custom(|iters| gomem_batches(iters, 8, ObjectKind::Noscan))
    });
    g.bench_function("box_8B", |b| b.iter_custom(box_batches::<8>));
    g.finish();
}

fn refill_and_large(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_span");
    // A 32 KiB object fills its span alone: every allocation refills.
    g.bench_function("gomem_refill_32KiB", |b| {
        b.iter_custom(|iters| gomem_batches_capped(iters, 32 << 10))
    });
    g.bench_function("gomem_large_64KiB", |b| {
        b.iter_custom(|iters| gomem_batches_capped(iters, 64 << 10))
    });
    g.bench_function("box_64KiB", |b| {
        b.iter(|| black_box(vec![0u8; 64 << 10].into_boxed_slice()))
    });
    g.finish();
}

/// As `gomem_batches`, with batches small enough for big objects.
fn gomem_batches_capped(iters: u64, size: usize) -> Duration {
    let per_batch = ((256usize << 20) / size) as u64;
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(per_batch);
        let heap = Heap::new(Config::default().gc_percent(None));
        let p = heap.attach();
        let start = Instant::now();
        for _ in 0..n {
            black_box(p.alloc_raw(size, ObjectKind::Noscan).unwrap());
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_2_threads");
    g.throughput(Throughput::Elements(2));
    g.bench_function("gomem_16B", |b| {
        b.iter_custom(|iters| {
            let heap = Heap::new(Config::default().gc_percent(None));
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    let heap = heap.clone();
                    s.spawn(move || {
                        let p = heap.attach();
                        for _ in 0..iters {
                            black_box(p.alloc_raw(16, ObjectKind::Scan).unwrap());
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    g.bench_function("box_16B", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(move || {
                        let mut keep = Vec::with_capacity(iters as usize);
                        for _ in 0..iters {
                            keep.push(black_box(Box::new([0u8; 16])));
                        }
                        keep
                    });
                }
            });
            start.elapsed()
        })
    });
    g.finish();
}

criterion_group!(benches, small, tiny, refill_and_large, two_threads);
criterion_main!(benches);
