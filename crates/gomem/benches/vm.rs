//! The VM API's costs (issue 12), each beside the baseline it replaces:
//!
//! * `ValueSlot` get/set next to `Member` get/set, with the barrier off (no
//!   cycle) and on (a cycle held in Mark by a second mutator that adopted
//!   Mark and never reaches a safepoint, as in `benches/barrier.rs`);
//! * `ValueStack` push/pop next to `Vec<u64>` push/pop (target: within 2×),
//!   each both as a plain loop and with the container passed through
//!   `black_box` on every operation (no loop-level optimisation);
//! * `WeakSet` intern hit and miss next to `std::collections::HashMap`
//!   lookup and insert of the same `String` keys (same SipHash hasher);
//! * `HeapMap` get/set next to `HashMap<u64, u64>`.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gomem::{
    Config, Gc, Heap, HeapMap, Member, Mutator, Phase, Trace, Value, ValueSlot, ValueStack, WeakSet,
};

#[derive(Trace)]
enum Obj {
    Str(Box<str>),
    Slots(Slots),
    Map(HeapMap<Obj>),
}

#[derive(Trace)]
struct Slots {
    v: ValueSlot<Obj>,
    m: Member<Obj>,
}

fn slots(m: &Mutator) -> Gc<'_, Obj> {
    m.alloc(Obj::Slots(Slots {
        v: ValueSlot::nil(),
        m: Member::null(),
    }))
}

fn the_slots(o: &Obj) -> &Slots {
    match o {
        Obj::Slots(s) => s,
        _ => unreachable!(),
    }
}

fn slot_ops(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    m: &Mutator,
    tag: &str,
) {
    let x = slots(m);
    let (y, z) = (slots(m), slots(m));
    let s = the_slots(&x);
    g.bench_function(format!("value_slot_set_ptr_{tag}"), |b| {
        let mut flip = false;
        b.iter(|| {
            flip = !flip;
            s.v.set(m, Value::from_gc(if flip { y } else { z }));
        })
    });
    g.bench_function(format!("member_set_{tag}"), |b| {
        let mut flip = false;
        b.iter(|| {
            flip = !flip;
            s.m.set(m, Some(if flip { y } else { z }));
        })
    });
    g.bench_function(format!("value_slot_set_number_{tag}"), |b| {
        let mut x = 0.0;
        b.iter(|| {
            x += 1.0;
            s.v.set(m, Value::from_number(x));
        })
    });
    s.v.set(m, Value::from_gc(y));
    s.m.set(m, Some(y));
    g.bench_function(format!("value_slot_get_{tag}"), |b| {
        b.iter(|| black_box(black_box(s).v.get(m)))
    });
    g.bench_function(format!("member_get_{tag}"), |b| {
        b.iter(|| black_box(black_box(s).m.get(m)))
    });
}

fn value_slots(c: &mut Criterion) {
    let mut g = c.benchmark_group("slot");
    {
        let heap = Heap::new(Config::default().gc_percent(None));
        let m = heap.attach();
        slot_ops(&mut g, &m, "barrier_off");
    }
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
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        while heap.gc_phase() != Phase::Mark {
            std::thread::yield_now();
        }
        let m = heap.attach();
        slot_ops(&mut g, &m, "marking");
        assert_eq!(heap.gc_phase(), Phase::Mark, "the cycle stayed in Mark");
        done.store(true, Ordering::Release);
        drop(m);
        holder.join().unwrap();
    }
    g.finish();
}

/// Values pushed, then popped, per iteration.
const DEPTH: usize = 256;

fn value_stack(c: &mut Criterion) {
    let mut g = c.benchmark_group("stack");
    g.throughput(Throughput::Elements(2 * DEPTH as u64));
    let heap = Heap::new(Config::default().gc_percent(None));
    let m = heap.attach();
    let obj = slots(&m);
    let mut stack: ValueStack<Obj> = m.value_stack();
    g.bench_function("value_stack_push_pop_numbers", |b| {
        b.iter(|| {
            for i in 0..DEPTH {
                stack.push(&m, Value::from_number(black_box(i) as f64));
            }
            let mut sum = 0u64;
            for _ in 0..DEPTH {
                sum = sum.wrapping_add(stack.pop(&m).bits());
            }
            black_box(sum)
        })
    });
    g.bench_function("value_stack_push_pop_pointers", |b| {
        b.iter(|| {
            for _ in 0..DEPTH {
                stack.push(&m, Value::from_gc(obj));
            }
            let mut sum = 0u64;
            for _ in 0..DEPTH {
                sum = sum.wrapping_add(stack.pop(&m).bits());
            }
            black_box(sum)
        })
    });
    let mut v: Vec<u64> = Vec::with_capacity(DEPTH);
    g.bench_function("vec_u64_push_pop", |b| {
        b.iter(|| {
            for i in 0..DEPTH {
                v.push(Value::<Obj>::from_number(black_box(i) as f64).bits());
            }
            let mut sum = 0u64;
            for _ in 0..DEPTH {
                sum = sum.wrapping_add(v.pop().unwrap());
            }
            black_box(sum)
        })
    });
    g.bench_function("vec_u64_push_pop_black_boxed", |b| {
        b.iter(|| {
            for i in 0..DEPTH {
                black_box(&mut v).push(Value::<Obj>::from_number(i as f64).bits());
            }
            let mut sum = 0u64;
            for _ in 0..DEPTH {
                sum = sum.wrapping_add(black_box(&mut v).pop().unwrap());
            }
            black_box(sum)
        })
    });
    g.bench_function("value_stack_push_pop_black_boxed", |b| {
        b.iter(|| {
            for i in 0..DEPTH {
                black_box(&mut stack).push(&m, Value::from_number(i as f64));
            }
            let mut sum = 0u64;
            for _ in 0..DEPTH {
                sum = sum.wrapping_add(black_box(&mut stack).pop(&m).bits());
            }
            black_box(sum)
        })
    });
    g.finish();
}

const KEYS: usize = 10_000;

fn is_str(o: &Obj, s: &str) -> bool {
    matches!(o, Obj::Str(x) if &**x == s)
}

fn weak_set(c: &mut Criterion) {
    let mut g = c.benchmark_group("intern");
    let keys: Vec<String> = (0..KEYS).map(|i| format!("identifier_{i}")).collect();
    let hasher = RandomState::new();
    let hashes: Vec<u64> = keys.iter().map(|k| hasher.hash_one(k)).collect();
    let heap = Heap::new(Config::default());
    let mut m = heap.attach();

    // Hits: every key interned and kept alive by a value stack.
    {
        let set = WeakSet::<Obj>::new(&heap);
        let mut keep: ValueStack<Obj> = m.value_stack();
        for (k, &h) in keys.iter().zip(&hashes) {
            let s = set.intern(
                &m,
                h,
                |o| is_str(o, k),
                |m| m.alloc(Obj::Str(k.as_str().into())),
            );
            keep.push(&m, Value::from_gc(s));
        }
        m.collect();
        let mut i = 0;
        g.bench_function("weak_set_intern_hit", |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                let (k, h) = (&keys[i], hasher.hash_one(&keys[i]));
                black_box(set.intern(
                    &m,
                    h,
                    |o| is_str(o, k),
                    |m| m.alloc(Obj::Str(k.as_str().into())),
                ));
            })
        });
        let map: HashMap<String, u64> = keys.iter().cloned().zip(0..).collect();
        let mut i = 0;
        g.bench_function("hashmap_string_lookup_hit", |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                black_box(map.get(&keys[i]));
            })
        });
    }

    // Misses: each key interned once into a fresh set (the object is
    // allocated by `make`); the sets are dropped between batches.
    g.bench_function("weak_set_intern_miss", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let n = left.min(KEYS);
                let set = WeakSet::<Obj>::new(&heap);
                let start = Instant::now();
                for k in keys.iter().take(n) {
                    let h = hasher.hash_one(k);
                    black_box(set.intern(
                        &m,
                        h,
                        |o| is_str(o, k),
                        |m| m.alloc(Obj::Str(k.as_str().into())),
                    ));
                }
                total += start.elapsed();
                left -= n;
                drop(set);
                m.safepoint();
            }
            total
        })
    });
    g.bench_function("hashmap_string_insert_miss", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let n = left.min(KEYS);
                let mut map: HashMap<String, u64> = HashMap::new();
                let start = Instant::now();
                for (i, key) in keys.iter().enumerate().take(n) {
                    black_box(map.insert(key.clone(), i as u64));
                }
                total += start.elapsed();
                left -= n;
                drop(map);
            }
            total
        })
    });
    g.finish();
}

fn heap_map(c: &mut Criterion) {
    let mut g = c.benchmark_group("heap_map");
    let heap = Heap::new(Config::default().gc_percent(None));
    let m = heap.attach();
    let obj = m.alloc(Obj::Map(HeapMap::new()));
    let Obj::Map(map) = &*obj else { unreachable!() };
    let n = 1024u64;
    let val = slots(&m);
    for i in 0..n {
        map.set(&m, Value::from_number(i as f64), Value::from_gc(val));
    }
    let mut i = 0u64;
    g.bench_function("heap_map_get", |b| {
        b.iter(|| {
            i = (i + 1) % n;
            black_box(map.get(&m, Value::from_number(i as f64)))
        })
    });
    g.bench_function("heap_map_set_existing", |b| {
        b.iter(|| {
            i = (i + 1) % n;
            map.set(
                &m,
                Value::from_number(i as f64),
                Value::from_number(i as f64),
            )
        })
    });
    let mut std_map: HashMap<u64, u64> = (0..n).map(|i| (i, i)).collect();
    g.bench_function("hashmap_u64_get", |b| {
        b.iter(|| {
            i = (i + 1) % n;
            black_box(std_map.get(&i).copied())
        })
    });
    g.bench_function("hashmap_u64_set_existing", |b| {
        b.iter(|| {
            i = (i + 1) % n;
            black_box(std_map.insert(i, i))
        })
    });
    g.finish();
}

criterion_group!(benches, value_slots, value_stack, weak_set, heap_map);
criterion_main!(benches);
