//! Page allocator: alloc + free of small runs on a large, fragmented heap.
//!
//! The heap is 64 GiB (8 Mi pages, 16 Ki chunks). It is carved into spans of
//! 1–16 pages (chosen by a fixed pseudo-random sequence) up to its top
//! 1 GiB, and about a third of them are freed again, leaving holes of every
//! size all over the heap, as after a few GC cycles; runs longer than about
//! 100 pages exist only in the free top 1 GiB. Each iteration allocates a run and frees it, so the
//! heap is the same before and after every iteration.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gomem::internals::PageAlloc;
use std::hint::black_box;

const PAGE: usize = 8192;
const BASE: usize = 0xc0_0000_0000;
const ARENA_PAGES: usize = 8192;
const HEAP_PAGES: usize = 8 << 20;

/// A small, fixed xorshift generator so every run builds the same heap.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn fragmented_heap() -> PageAlloc {
    let mut a = PageAlloc::new();
    for i in 0..HEAP_PAGES / ARENA_PAGES {
        a.grow(BASE + i * ARENA_PAGES * PAGE, ARENA_PAGES);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Carve all but the top 1 GiB into spans, then free a third of them.
    let top = BASE + (HEAP_PAGES - (1 << 17)) * PAGE;
    let mut spans = Vec::new();
    loop {
        let r = a
            .alloc(1 + (rng.next() % 16) as usize)
            .expect("heap has room");
        if r.addr >= top {
            a.free(r.addr, r.npages);
            break;
        }
        spans.push(r);
    }
    for r in spans {
        if rng.next().is_multiple_of(3) {
            a.free(r.addr, r.npages);
        }
    }
    a
}

fn bench_pages(c: &mut Criterion) {
    let mut heap = fragmented_heap();
    let mut g = c.benchmark_group("pages_fragmented_64GiB");
    for n in [1usize, 16, 64, 600] {
        g.bench_with_input(BenchmarkId::new("alloc_free", n), &n, |b, &n| {
            b.iter(|| {
                let r = heap.alloc(black_box(n)).expect("heap has room");
                heap.free(r.addr, r.npages);
                r.addr
            })
        });
    }
    g.finish();

    // The same on an empty heap of the same size: the best case.
    let mut empty = PageAlloc::new();
    empty.grow(BASE, HEAP_PAGES);
    let mut g = c.benchmark_group("pages_empty_64GiB");
    for n in [1usize, 16] {
        g.bench_with_input(BenchmarkId::new("alloc_free", n), &n, |b, &n| {
            b.iter(|| {
                let r = empty.alloc(black_box(n)).expect("heap has room");
                empty.free(r.addr, r.npages);
                r.addr
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_pages);
criterion_main!(benches);
