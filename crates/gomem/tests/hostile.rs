//! Hostile programs: safe code that tries to break the heap through its
//! public API (issue 11's H1–H5). Each test is a reproducer that ended in a
//! segfault, a read of freed memory, a hang or lost data before the fix; now
//! each must end in a clean panic naming the rule, or in a correct result.
//! All heaps run with checkmark and clobber-on-free, so a freed object that
//! is read shows its poison (0xef bytes) instead of stale but plausible data.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use gomem::{AllocError, Config, Heap, Member, Mutator, ObjectKind, Trace};

mod common;

fn debug() -> Config {
    Config::default().checkmark(true).clobber_free(true)
}

/// Keeps the expected "gomem: ..." panics of these tests off stderr (the
/// tests count them instead); every other panic is reported as usual.
fn quiet_gomem_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !msg.contains("gomem: ") {
                default(info);
            }
        }));
    });
}

// ---- H1: a Drop that reaches a Mutator through a thread-local ------------

thread_local! {
    static M: RefCell<Option<Mutator>> = const { RefCell::new(None) };
}

static H1_READS: AtomicUsize = AtomicUsize::new(0);
static H1_REFUSED: AtomicUsize = AtomicUsize::new(0);
static H1_ROOTED: AtomicUsize = AtomicUsize::new(0);

#[derive(Trace)]
struct Named {
    s: String,
}

#[derive(Trace)]
struct Parent {
    c: Member<Named>,
    me: Member<Parent>,
}

impl Drop for Parent {
    fn drop(&mut self) {
        M.with(|cell| {
            let Ok(b) = cell.try_borrow() else { return };
            let Some(m) = b.as_ref() else { return };
            // Read a child (swept already, perhaps) through the Mutator.
            match catch_unwind(AssertUnwindSafe(|| {
                self.c.get(m).map(|c| c.s.starts_with('#'))
            })) {
                Ok(Some(ok)) => {
                    assert!(ok, "a Drop read a freed child");
                    H1_READS.fetch_add(1, Ordering::Relaxed);
                }
                Ok(None) => {}
                Err(_) => {
                    H1_REFUSED.fetch_add(1, Ordering::Relaxed);
                }
            }
            // Root this dying object through its own back edge.
            if let Ok(Some(root)) =
                catch_unwind(AssertUnwindSafe(|| self.me.get(m).map(|me| m.root(me))))
            {
                H1_ROOTED.fetch_add(1, Ordering::Relaxed);
                drop(root);
            }
        });
    }
}

#[test]
fn h1_a_drop_that_finds_a_mutator_cannot_reach_the_heap() {
    quiet_gomem_panics();
    // Small GOGC: many cycles, so that flips are adopted at allocation polls
    // and refills sweep lazily, running Drops on this thread while `M` is
    // borrowed. Rounds go on until that has happened a few times.
    let heap = Heap::new(debug().gc_percent(Some(10)));
    M.with(|cell| *cell.borrow_mut() = Some(heap.attach()));
    let mut round = 0;
    while round < 60 || (H1_REFUSED.load(Ordering::Relaxed) < 10 && round < 5000) {
        round += 1;
        M.with(|cell| {
            let b = cell.borrow();
            let m = b.as_ref().expect("attached");
            for i in 0..3000 {
                let p = m.alloc(Parent {
                    c: Member::null(),
                    me: Member::null(),
                });
                p.c.set(
                    m,
                    Some(m.alloc(Named {
                        s: format!("#{round}-{i}"),
                    })),
                );
                p.me.set(m, Some(p));
            }
        });
        M.with(|cell| cell.borrow_mut().as_mut().expect("attached").safepoint());
    }
    M.with(|cell| cell.borrow_mut().as_mut().expect("attached").collect());
    M.with(|cell| cell.borrow_mut().take());
    drop(heap);
    assert_eq!(
        H1_READS.load(Ordering::Relaxed),
        0,
        "a Drop read the heap through a Mutator"
    );
    assert_eq!(
        H1_ROOTED.load(Ordering::Relaxed),
        0,
        "a Drop rooted its own dying object"
    );
    assert!(
        H1_REFUSED.load(Ordering::Relaxed) > 0,
        "no Drop ran while its Mutator was reachable: the test did not test"
    );
}

// ---- H2: a pointer carried between threads outside the heap --------------

#[derive(Trace)]
struct Holder {
    f: Member<Leaf>,
}

#[derive(Trace)]
struct Leaf {
    canary: u64,
    _pad: [u64; 3],
}

/// One cycle in which a black mutator loads, through a `&Holder` lent from
/// a grey mutator's stack, a leaf only that stack reaches, and stores it
/// into a rooted object; the leaf must survive.
fn lend_a_leaf_across_threads_for_one_cycle(heap: &Heap) {
    let mut m1 = heap.attach();
    let root = m1.root(m1.alloc(Holder { f: Member::null() }));
    let collector = {
        // `h` is only on m1's stack (grey for the whole cycle: m1 passes
        // no safepoint while it holds it).
        let h = m1.alloc(Holder { f: Member::null() });
        h.f.set(
            &m1,
            Some(m1.alloc(Leaf {
                canary: 42,
                _pad: [0; 3],
            })),
        );
        let hr: &Holder = &h;
        common::borrow_on_a_black_mutator_while_the_lender_is_grey(heap, &m1, |mt| {
            let l = hr.f.get(mt).expect("set above");
            root.get(mt).f.set(mt, Some(l));
        })
    };
    // m1 forgets `h` (the only other way to the leaf) at this safepoint.
    m1.safepoint();
    m1.blocking(|| collector.join().expect("collector thread"));
    m1.collect();
    m1.collect();
    let leaf = root
        .get(&m1)
        .f
        .get(&m1)
        .expect("stored by the other thread");
    assert_eq!(leaf.canary, 42, "a reachable object was freed");
}

#[test]
fn h2_an_object_loaded_by_a_black_mutator_through_a_shared_reference_survives() {
    for _ in 0..3 {
        lend_a_leaf_across_threads_for_one_cycle(&Heap::new(debug().gc_percent(None)));
    }
}

#[test]
fn h2_the_load_barrier_is_back_in_every_later_cycle() {
    // Each cycle ends with every stack black, which stands the load
    // barrier down for that cycle (`gc/cycle.rs`); a later cycle of the
    // same heap must start with it up again.
    let heap = Heap::new(debug().gc_percent(None));
    for _ in 0..4 {
        lend_a_leaf_across_threads_for_one_cycle(&heap);
    }
}

// ---- H3: two Mutators of one heap on one thread ---------------------------

#[test]
fn h3_a_second_mutator_of_the_same_heap_on_one_thread_is_refused() {
    quiet_gomem_panics();
    let heap = Heap::new(debug());
    let m1 = heap.attach();
    let second = catch_unwind(AssertUnwindSafe(|| heap.attach()));
    let err = second
        .err()
        .expect("a second attach on this thread must panic");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("already attached"), "message: {msg}");
    // The first still works, and after it is gone the thread may attach again.
    let x = m1.alloc(5u64);
    assert_eq!(*x, 5);
    drop(m1);
    let mut m2 = heap.attach();
    m2.collect();
    // Another heap on the same thread is fine.
    let other = Heap::new(debug());
    let mut m3 = other.attach();
    m3.collect();
    m2.collect();
}

// ---- H4: impossible sizes --------------------------------------------------

#[test]
fn h4_impossible_sizes_are_errors_not_overflows() {
    let heap = Heap::new(debug());
    let m = heap.attach();
    for len in [
        (1usize << 61) - 2,
        (1usize << 61) - 1,
        1usize << 62,
        usize::MAX / 8,
        usize::MAX,
    ] {
        let r = m.try_alloc_slice(len, |_| Member::<Leaf>::null());
        assert!(
            matches!(r, Err(AllocError::TooLarge { .. })),
            "len {len}: {:?}",
            r.map(|_| ())
        );
        let r = m.try_alloc_slice(len, |_| 0u8);
        assert!(r.is_err(), "len {len} of bytes");
    }
    for size in [usize::MAX, usize::MAX - 7, usize::MAX - 8191, 1usize << 63] {
        for kind in [ObjectKind::Scan, ObjectKind::Noscan] {
            let r = m.alloc_raw(size, kind);
            assert!(
                matches!(r, Err(AllocError::TooLarge { .. })),
                "size {size:#x} {kind:?}: {r:?}"
            );
        }
    }
    // Nothing was lost: the heap still allocates and collects.
    let x = m.alloc(Holder { f: Member::null() });
    x.f.set(
        &m,
        Some(m.alloc(Leaf {
            canary: 7,
            _pad: [0; 3],
        })),
    );
    assert_eq!(x.f.get(&m).unwrap().canary, 7);
}

// ---- H5: Vector::push from two threads loses nothing ------------------------

#[derive(Trace)]
struct Bag {
    items: gomem::Vector<Leaf>,
}

#[test]
fn h5_vector_push_keeps_every_element_across_collections() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let bag = m.root(m.alloc(Bag {
        items: gomem::Vector::new(),
    }));
    for round in 0..20u64 {
        {
            let b = bag.get(&m);
            for i in 0..1000u64 {
                let l = m.alloc(Leaf {
                    canary: round * 1000 + i,
                    _pad: [0; 3],
                });
                b.items.push(&m, Some(l));
            }
        }
        if round % 5 == 0 {
            m.collect();
        } else {
            m.safepoint();
        }
    }
    let b = bag.get(&m);
    assert_eq!(b.items.len(), 20_000);
    for i in 0..20_000 {
        assert_eq!(b.items.get(&m, i).unwrap().canary, i as u64);
    }
}

#[test]
fn h5_two_threads_pushing_into_one_vector_lose_no_element() {
    const PER_THREAD: u64 = 20_000;
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let bag = m.root(m.alloc(Bag {
        items: gomem::Vector::new(),
    }));
    m.blocking(|| {
        std::thread::scope(|s| {
            for t in 0..2u64 {
                let (heap, bag) = (&heap, &bag);
                s.spawn(move || {
                    let mut mt = heap.attach();
                    for i in 0..PER_THREAD {
                        {
                            let l = mt.alloc(Leaf {
                                canary: t * PER_THREAD + i,
                                _pad: [0; 3],
                            });
                            bag.get(&mt).items.push(&mt, Some(l));
                        }
                        if i % 256 == 0 {
                            mt.safepoint();
                        }
                    }
                });
            }
        })
    });
    m.collect();
    let b = bag.get(&m);
    assert_eq!(b.items.len(), 2 * PER_THREAD as usize);
    let mut seen = vec![false; 2 * PER_THREAD as usize];
    for i in 0..b.items.len() {
        let c = b.items.get(&m, i).expect("no hole").canary as usize;
        assert!(!seen[c], "element {c} twice");
        seen[c] = true;
    }
}

// ---- absurd knobs ------------------------------------------------------------

#[test]
fn absurd_knobs_leave_the_heap_working() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let keep = m.root(m.alloc(Holder { f: Member::null() }));
    for (pct, limit) in [
        (Some(u32::MAX), None),
        (Some(0), Some(0)),
        (None, Some(1)),
        (Some(1), Some(u64::MAX - 1)),
        (Some(100), Some(i64::MAX as u64)),
    ] {
        heap.set_gc_percent(pct);
        heap.set_memory_limit(limit);
        for i in 0..20_000u64 {
            let l = m.alloc(Leaf {
                canary: i,
                _pad: [i; 3],
            });
            keep.get(&m).f.set(&m, Some(l));
            if i % 1000 == 0 {
                m.safepoint();
            }
        }
        m.collect();
        let l = keep.get(&m).f.get(&m).expect("kept");
        assert_eq!((l.canary, l._pad[2]), (19_999, 19_999));
    }
    assert_eq!(heap.set_gc_percent(Some(100)), Some(100));
    // i64::MAX and above mean "no limit", as in Go.
    assert_eq!(heap.set_memory_limit(None), None);
}
