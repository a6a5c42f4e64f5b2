//! Write-barrier cost: `Member::set` with the barrier off (no cycle), and on
//! (a cycle held in its mark phase by a second mutator that adopted Mark and
//! then sleeps without reaching a safepoint, so the stack-black handshake
//! never completes). Also `Member::get`, the read side, which checks that
//! the Member lives in this heap and that no Drop is running through this
//! Mutator, and, once the P's stack is black in Mark, runs the load barrier
//! (a span lookup and a mark-bit test per load; `get_black_p_marking`).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use gomem::{Config, Heap, Member, Phase, Trace};

#[derive(Trace)]
struct Node {
    a: Member<Node>,
    b: Member<Node>,
}

fn node() -> Node {
    Node {
        a: Member::null(),
        b: Member::null(),
    }
}

fn barrier(c: &mut Criterion) {
    let mut g = c.benchmark_group("member");
    // Barrier off.
    {
        let heap = Heap::new(Config::default().gc_percent(None));
        let m = heap.attach();
        let x = m.alloc(node());
        let y = m.alloc(node());
        let z = m.alloc(node());
        g.bench_function("set_barrier_off", |b| {
            let mut flip = false;
            b.iter(|| {
                flip = !flip;
                x.a.set(&m, Some(if flip { y } else { z }));
            })
        });
        g.bench_function("get", |b| b.iter(|| black_box(x.a.get(&m))));
    }
    // Barrier on: hold a cycle in Mark.
    {
        let heap = Heap::new(Config::default().gc_percent(None));
        let done = Arc::new(AtomicBool::new(false));
        let holder = {
            let (heap, done) = (heap.clone(), done.clone());
            std::thread::spawn(move || {
                let m = heap.attach();
                heap.request_cycle();
                while heap.gc_phase() != Phase::Mark {
                    black_box(m.alloc(1u64));
                }
                black_box(m.alloc(1u64)); // adopt Mark, then never safepoint
                while !done.load(Ordering::Acquire) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            })
        };
        while heap.gc_phase() != Phase::Mark {
            std::thread::yield_now();
        }
        let m = heap.attach();
        let x = m.alloc(node());
        let y = m.alloc(node());
        let z = m.alloc(node());
        assert_eq!(heap.gc_phase(), Phase::Mark);
        g.bench_function("set_barrier_on_marking", |b| {
            let mut flip = false;
            b.iter(|| {
                flip = !flip;
                x.a.set(&m, Some(if flip { y } else { z }));
            })
        });
        g.bench_function("alloc_16B_marking", |b| {
            b.iter(|| black_box(m.alloc(node())))
        });
        g.bench_function("get_grey_p_marking", |b| b.iter(|| black_box(x.a.get(&m))));
        // The same load from a P whose stack turned black: the load barrier.
        let mut m = m;
        let keep = {
            let x = m.alloc(node());
            x.a.set(&m, Some(m.alloc(node())));
            m.root(x)
        };
        m.safepoint();
        let x = keep.get(&m);
        g.bench_function("get_black_p_marking", |b| b.iter(|| black_box(x.a.get(&m))));
        assert_eq!(heap.gc_phase(), Phase::Mark, "the cycle stayed in Mark");
        done.store(true, Ordering::Release);
        drop(keep);
        drop(m);
        holder.join().unwrap();
    }
    // Allocation with the collector idle, for comparison.
    {
        let heap = Heap::new(Config::default().gc_percent(None));
        let m = heap.attach();
        g.bench_function("alloc_16B_idle", |b| b.iter(|| black_box(m.alloc(node()))));
    }
    g.finish();
}

criterion_group!(benches, barrier);
criterion_main!(benches);
