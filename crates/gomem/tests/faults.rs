//! Fault injection and misuse: refused memory, a panicking Drop, a panicking
//! mutator thread, and a heap dropped while mutators are attached. Each must
//! fail cleanly and leave the heap consistent and usable.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gomem::{AllocError, Config, Gc, Heap, Member, Mutator, Trace};

fn debug() -> Config {
    Config::default().checkmark(true).clobber_free(true)
}

#[derive(Trace)]
struct Node {
    next: Member<Node>,
    value: u64,
}

fn chain(m: &Mutator, n: u64) -> Gc<'_, Node> {
    let head = m.alloc(Node {
        next: Member::null(),
        value: 0,
    });
    let mut tail = head;
    for i in 1..n {
        let x = m.alloc(Node {
            next: Member::null(),
            value: i,
        });
        tail.next.set(m, Some(x));
        tail = x;
    }
    head
}

fn sum<'m>(m: &'m Mutator, mut n: Option<Gc<'m, Node>>) -> u64 {
    let mut s = 0;
    while let Some(x) = n {
        s += x.value;
        n = x.next.get(m);
    }
    s
}

#[test]
fn refused_memory_is_an_error_and_allocation_recovers() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let keep = {
        let c = chain(&m, 1000);
        m.root(c)
    };
    // The next reservation fails: an object larger than an arena needs one.
    heap.inject_reserve_failures(1);
    let e = m
        .try_alloc_slice(128 << 20, |_| 0u8)
        .err()
        .expect("refused");
    assert!(matches!(e, AllocError::OutOfMemory { .. }), "{e}");
    assert!(e.to_string().contains("refused"), "{e}");
    heap.inject_commit_failures(3);
    for _ in 0..3 {
        assert!(m.try_alloc_slice(8 << 20, |_| 0u8).is_err());
    }
    // Memory is back: allocation works, nothing was lost, cycles run.
    let big = m.alloc_slice(8 << 20, |i| i as u8);
    assert_eq!(big[1000], (1000 % 256) as u8);
    m.collect();
    assert_eq!(sum(&m, Some(keep.get(&m))), 999 * 1000 / 2);
}

#[test]
#[should_panic(expected = "out of memory")]
fn alloc_panics_with_a_clear_message_when_memory_is_refused() {
    let heap = Heap::new(debug());
    let m = heap.attach();
    heap.inject_reserve_failures(1);
    let _ = m.alloc_slice(128 << 20, |_| 0u8);
}

struct Bomb {
    explode: bool,
    drops: Arc<AtomicUsize>,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.explode {
            panic!("a Drop that panics");
        }
    }
}

// SAFETY: no Members.
unsafe impl Trace for Bomb {
    const NO_MEMBERS: bool = true;
    const MEMBER_WORDS: Option<u64> = Some(0);
    fn trace(&self, _: &mut gomem::Tracer<'_>) {}
}

#[test]
fn a_panicking_drop_is_reported_and_sweeping_goes_on() {
    let heap = Heap::new(debug());
    let drops = Arc::new(AtomicUsize::new(0));
    let mut m = heap.attach();
    let before = gomem::internals::panicked_drops();
    for i in 0..1000 {
        m.alloc(Bomb {
            explode: i % 100 == 0,
            drops: drops.clone(),
        });
    }
    m.collect();
    m.collect();
    assert_eq!(drops.load(Ordering::SeqCst), 1000, "every Drop ran once");
    assert!(gomem::internals::panicked_drops() >= before + 10);
    // The heap is intact and keeps working.
    let c = chain(&m, 100);
    let r = m.root(c);
    m.collect();
    assert_eq!(sum(&m, Some(r.get(&m))), 99 * 100 / 2);
}

#[test]
fn a_mutator_thread_that_panics_returns_its_p_and_cycles_go_on() {
    let heap = Heap::new(debug());
    let h = heap.clone();
    let r = std::thread::spawn(move || {
        let m = h.attach();
        let _x = chain(&m, 10);
        h.request_cycle();
        // Panic while attached, holding Gcs, possibly mid-cycle.
        panic!("mutator thread dies");
    })
    .join();
    assert!(r.is_err());
    // The dead thread's P went back: a full cycle completes without it.
    let mut m = heap.attach();
    let keep = {
        let c = chain(&m, 50);
        m.root(c)
    };
    m.collect();
    m.collect();
    assert!(heap.gc_summary().cycles >= 2);
    assert_eq!(sum(&m, Some(keep.get(&m))), 49 * 50 / 2);
}

#[test]
fn dropping_the_heap_handle_while_mutators_are_attached_is_safe() {
    let heap = Heap::new(debug());
    let m = heap.attach();
    let x = chain(&m, 100);
    // The last user-held Heap handle goes away; the Mutator keeps the heap
    // alive, so its objects stay valid.
    drop(heap);
    assert_eq!(sum(&m, Some(x)), 99 * 100 / 2);
    let mut m = m;
    let r = {
        let c = chain(&m, 10);
        m.root(c)
    };
    m.collect();
    assert_eq!(sum(&m, Some(r.get(&m))), 45);
    // Roots too keep the heap alive after the mutator is gone.
    drop(m);
    let heap = r.heap().clone();
    let m = heap.attach();
    assert_eq!(sum(&m, Some(r.get(&m))), 45);
}
