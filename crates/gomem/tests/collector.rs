//! Collector integration tests: what survives, what is freed, Drop exactly
//! once, weak pointers, concurrent mutation during marking, many threads,
//! deep structures, blocking, and the no-deadlock rule.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gomem::{Config, Gc, Heap, Member, Mutator, Phase, Trace};

/// Every collector test runs with checkmark (each mark verified by an
/// independent traversal) and clobber-on-free (freed memory poisoned).
fn debug() -> Config {
    Config::default().checkmark(true).clobber_free(true)
}

#[derive(Trace)]
struct Node {
    left: Member<Node>,
    right: Member<Node>,
    value: u64,
}

impl Node {
    fn new(value: u64) -> Node {
        Node {
            left: Member::null(),
            right: Member::null(),
            value,
        }
    }
}

fn tree<'m>(m: &'m Mutator, depth: u32, seed: u64) -> Gc<'m, Node> {
    tree_with(m, depth, seed, &mut |_| {})
}

/// [`tree`], calling `before_node` before each node is allocated (to
/// interleave other objects with the tree's).
fn tree_with<'m>(
    m: &'m Mutator,
    depth: u32,
    seed: u64,
    before_node: &mut impl FnMut(&'m Mutator),
) -> Gc<'m, Node> {
    before_node(m);
    let n = m.alloc(Node::new(seed));
    if depth > 0 {
        n.left
            .set(m, Some(tree_with(m, depth - 1, seed * 2, before_node)));
        n.right
            .set(m, Some(tree_with(m, depth - 1, seed * 2 + 1, before_node)));
    }
    n
}

fn check(m: &Mutator, n: Gc<'_, Node>, depth: u32, seed: u64) -> u64 {
    assert_eq!(n.value, seed, "corrupted node");
    if depth == 0 {
        assert!(n.left.get(m).is_none() && n.right.get(m).is_none());
        return 1;
    }
    1 + check(m, n.left.get(m).unwrap(), depth - 1, seed * 2)
        + check(m, n.right.get(m).unwrap(), depth - 1, seed * 2 + 1)
}

#[test]
fn reachable_objects_survive_many_cycles_intact() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let root = {
        let t = tree(&m, 12, 1);
        m.root(t)
    };
    for round in 0..30 {
        // Garbage to drive cycles.
        for i in 0..20_000 {
            let g = m.alloc(Node::new(i));
            g.left.set(&m, Some(m.alloc(Node::new(i))));
        }
        m.safepoint();
        if round % 10 == 9 {
            m.collect();
        }
        assert_eq!(check(&m, root.get(&m), 12, 1), (1 << 13) - 1);
    }
    assert!(heap.gc_summary().cycles >= 3, "{:?}", heap.gc_summary());
}

struct Counted {
    drops: Arc<AtomicUsize>,
    _payload: [u64; 1],
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: no Members.
unsafe impl Trace for Counted {
    const NO_MEMBERS: bool = true;
    const MEMBER_WORDS: Option<u64> = Some(0);
    fn trace(&self, _: &mut gomem::Tracer<'_>) {}
}

#[test]
fn unreachable_objects_are_dropped_exactly_once() {
    let heap = Heap::new(debug());
    let drops = Arc::new(AtomicUsize::new(0));
    let mut m = heap.attach();
    let keep = {
        let k = m.alloc(Counted {
            drops: drops.clone(),
            _payload: [0],
        });
        m.root(k)
    };
    const N: usize = 10_000;
    for _ in 0..N {
        m.alloc(Counted {
            drops: drops.clone(),
            _payload: [1],
        });
    }
    m.collect();
    m.collect();
    assert_eq!(drops.load(Ordering::SeqCst), N);
    drop(keep);
    m.collect();
    m.collect();
    assert_eq!(drops.load(Ordering::SeqCst), N + 1);
    drop(m);
    drop(heap);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        N + 1,
        "no double drop at teardown"
    );
}

#[test]
fn objects_still_alive_are_dropped_when_the_heap_goes() {
    let drops = Arc::new(AtomicUsize::new(0));
    {
        let heap = Heap::new(debug());
        let m = heap.attach();
        let k = m.alloc(Counted {
            drops: drops.clone(),
            _payload: [0],
        });
        let _root = m.root(k);
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn slots_freed_by_typed_objects_serve_bitmap_objects() {
    // Every span of the class holds live Nodes and dead Counted objects, so it
    // is swept and reused, not freed. A slot whose typed bit outlived its
    // Drop object would make the collector read the Node that takes it next
    // as a typed object: its `value` as a type word.
    let heap = Heap::new(debug());
    let drops = Arc::new(AtomicUsize::new(0));
    let mut m = heap.attach();
    const DEPTH: u32 = 12;
    const NODES: u64 = (1 << (DEPTH + 1)) - 1;
    let first = {
        // A dead Counted beside every node (16 bytes and a Drop: with its
        // type word, a 24-byte slot, a Node's class).
        let t = tree_with(&m, DEPTH, 1, &mut |m| {
            m.alloc(Counted {
                drops: drops.clone(),
                _payload: [0],
            });
        });
        m.root(t)
    };
    m.collect();
    m.collect();
    assert_eq!(drops.load(Ordering::SeqCst) as u64, NODES);
    let second = {
        let t = tree(&m, DEPTH, 3);
        m.root(t)
    };
    for _ in 0..3 {
        m.collect();
        assert_eq!(check(&m, first.get(&m), DEPTH, 1), NODES);
        assert_eq!(check(&m, second.get(&m), DEPTH, 3), NODES);
    }
}

#[test]
fn cyclic_garbage_is_collected() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let weak = {
        let a = m.alloc(Node::new(1));
        let b = m.alloc(Node::new(2));
        a.left.set(&m, Some(b));
        b.left.set(&m, Some(a));
        m.weak(a)
    };
    assert!(weak.upgrade(&m).is_some());
    m.collect();
    m.collect();
    assert!(weak.upgrade(&m).is_none());
    assert!(weak.is_cleared());
}

#[test]
fn weak_pointers_follow_their_target() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let (root, weak) = {
        let a = m.alloc(Node::new(7));
        (m.root(a), m.weak(a))
    };
    let weak2 = {
        let a = root.get(&m);
        m.weak(a)
    };
    assert!(gomem::Weak::ptr_eq(&weak, &weak2), "one handle per object");
    m.collect();
    assert_eq!(weak.upgrade(&m).unwrap().value, 7);
    drop(root);
    m.collect();
    m.collect();
    assert!(weak.upgrade(&m).is_none());
}

#[test]
fn a_million_node_list_is_marked_without_recursion() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let head = {
        let head = m.alloc(Node::new(0));
        let mut tail = head;
        for i in 1..1_000_000u64 {
            let n = m.alloc(Node::new(i));
            tail.left.set(&m, Some(n));
            tail = n;
        }
        m.root(head)
    };
    m.collect();
    let mut n = Some(head.get(&m));
    let mut count = 0u64;
    while let Some(x) = n {
        assert_eq!(x.value, count);
        count += 1;
        n = x.left.get(&m);
    }
    assert_eq!(count, 1_000_000);
}

/// A node whose value is a checksum of its identity, so a freed-and-reused
/// or corrupted node shows up on every read.
fn checked(m: &Mutator, id: u64) -> Gc<'_, Node> {
    m.alloc(Node::new(id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1))
}

fn is_valid(n: &Node) -> bool {
    n.value & 1 == 1
}

#[test]
fn objects_survive_being_moved_between_members_during_marking() {
    let heap = Heap::new(debug().gc_percent(Some(5)));
    let mut m = heap.attach();
    const SLOTS: usize = 64;
    let holder = {
        let arr = m.alloc_slice(SLOTS, |_| Member::<Node>::null());
        for (i, slot) in arr.iter().enumerate() {
            slot.set(&m, Some(checked(&m, i as u64)));
        }
        m.root(arr)
    };
    let mut rng = 0x1234_5678u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..3000 {
        {
            let arr = holder.get(&m);
            for _ in 0..50 {
                // Move a pointer from one Member to another, through the
                // stack only: the deletion half must keep it alive.
                let a = (next() as usize) % SLOTS;
                let b = (next() as usize) % SLOTS;
                let moved = arr[a].get(&m);
                arr[a].set(&m, None);
                let _garbage = checked(&m, next());
                arr[b].set(&m, moved);
                if arr[a].get(&m).is_none() {
                    arr[a].set(&m, Some(checked(&m, next())));
                }
            }
            for slot in arr.iter() {
                if let Some(n) = slot.get(&m) {
                    assert!(is_valid(&n), "round {round}: a live node was freed");
                }
            }
        }
        m.safepoint();
        if round % 300 == 299 {
            m.collect();
        }
    }
    let summary = heap.gc_summary();
    assert!(summary.cycles >= 10, "{summary:?}");
    assert!(summary.checkmarked_objects > 0, "checkmark ran");
}

#[test]
fn four_threads_share_a_graph_through_roots_while_cycles_run() {
    let heap = Heap::new(
        Config::default()
            .gc_percent(Some(10))
            .gctrace(std::env::var("T").is_ok()),
    );
    const SLOTS: usize = 256;
    let shared = {
        let m = heap.attach();
        let arr = m.alloc_slice(SLOTS, |_| Member::<Node>::null());
        for (i, slot) in arr.iter().enumerate() {
            slot.set(&m, Some(checked(&m, i as u64)));
        }
        Arc::new(m.root(arr))
    };
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let heap = heap.clone();
            let shared = shared.clone();
            s.spawn(move || {
                let mut m = heap.attach();
                let mut rng = 0x9E37_79B9 ^ (t + 1);
                for round in 0..6000 {
                    {
                        let arr = shared.get(&m);
                        for _ in 0..40 {
                            rng ^= rng << 13;
                            rng ^= rng >> 7;
                            rng ^= rng << 17;
                            let i = rng as usize % SLOTS;
                            let n = checked(&m, rng);
                            // Link the old node under the new one, then
                            // replace: old nodes stay reachable for a while.
                            if let Some(old) = arr[i].get(&m) {
                                assert!(is_valid(&old), "thread {t} round {round}");
                                n.left.set(&m, Some(old));
                                if let Some(gc) = old.left.get(&m) {
                                    assert!(is_valid(&gc));
                                    old.left.set(&m, None);
                                }
                            }
                            arr[i].set(&m, Some(n));
                        }
                    }
                    m.safepoint();
                    if t == 0 && round % 500 == 499 {
                        // Forced cycles on top of the paced ones.
                        m.collect();
                    }
                }
            });
        }
    });
    let m = heap.attach();
    let arr = shared.get(&m);
    for slot in arr.iter() {
        assert!(is_valid(&slot.get(&m).unwrap()));
    }
    assert!(heap.gc_summary().cycles >= 10, "{:?}", heap.gc_summary());
}

#[test]
fn blocking_lets_a_cycle_finish_while_a_thread_sleeps() {
    // The other thread waits, inside `blocking`, for a message that is only
    // sent after two full collections have finished: if a cycle needed that
    // thread, the collections could never finish and it would never wake.
    let heap = Heap::new(debug());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let sleeper = {
        let heap = heap.clone();
        std::thread::spawn(move || {
            let mut m = heap.attach();
            let keep = {
                let n = checked(&m, 5);
                m.root(n)
            };
            ready_tx.send(()).unwrap();
            // A safety valve so that a regression fails instead of hanging.
            let woke = m.blocking(|| rx.recv_timeout(std::time::Duration::from_secs(60)));
            assert!(woke.is_ok(), "collect waited for the blocked thread");
            assert!(is_valid(&keep.get(&m)));
        })
    };
    ready_rx.recv().unwrap();
    let mut m = heap.attach();
    let before = heap.gc_summary().cycles;
    m.collect();
    m.collect();
    assert!(heap.gc_summary().cycles >= before + 2);
    tx.send(()).unwrap();
    sleeper.join().unwrap();
}

#[test]
fn a_thread_allocating_under_a_mutex_never_deadlocks_with_threads_waiting_for_it() {
    let heap = Heap::new(debug().gc_percent(Some(1)));
    let lock = Arc::new(Mutex::new(0u64));
    let done = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        {
            let (heap, lock, done) = (heap.clone(), lock.clone(), done.clone());
            s.spawn(move || {
                let mut m = heap.attach();
                while heap.gc_summary().cycles < 200 {
                    {
                        let mut g = lock.lock().unwrap();
                        // Allocate a lot while holding the lock; cycles
                        // want to advance meanwhile.
                        for i in 0..2000 {
                            let n = checked(&m, i);
                            n.left.set(&m, Some(checked(&m, i + 1)));
                        }
                        *g += 1;
                    }
                    m.safepoint();
                    // Give the waiters a chance at the lock (std's Mutex is
                    // not fair); progress of cycles needs them to run too.
                    std::thread::yield_now();
                }
                done.store(1, Ordering::SeqCst);
            });
        }
        for _ in 0..3 {
            let (heap, lock, done) = (heap.clone(), lock.clone(), done.clone());
            s.spawn(move || {
                let mut m = heap.attach();
                while done.load(Ordering::SeqCst) == 0 {
                    // Wait for the lock while attached (not in `blocking`).
                    let g = lock.lock().unwrap();
                    let _n = checked(&m, *g);
                    drop(g);
                    m.safepoint();
                }
            });
        }
    });
    assert!(heap.gc_summary().cycles >= 200);
}

#[test]
fn drop_of_a_heap_object_cannot_attach() {
    struct Sneaky {
        heap: Heap,
        attached: Arc<AtomicUsize>,
    }
    impl Drop for Sneaky {
        fn drop(&mut self) {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _m = self.heap.attach();
            }));
            if r.is_ok() {
                self.attached.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    // SAFETY: no Members.
    unsafe impl Trace for Sneaky {
        const NO_MEMBERS: bool = true;
        const MEMBER_WORDS: Option<u64> = Some(0);
        fn trace(&self, _: &mut gomem::Tracer<'_>) {}
    }
    let heap = Heap::new(debug());
    let attached = Arc::new(AtomicUsize::new(0));
    let mut m = heap.attach();
    // A heap handle inside a heap object keeps the heap alive until the
    // object is dropped; the object is garbage right away.
    m.alloc(Sneaky {
        heap: heap.clone(),
        attached: attached.clone(),
    });
    m.collect();
    m.collect();
    assert_eq!(attached.load(Ordering::SeqCst), 0);
}

#[test]
#[should_panic(expected = "not inside an object")]
fn a_member_outside_the_heap_fails_loudly() {
    let heap = Heap::new(debug());
    let m = heap.attach();
    let on_stack: Member<Node> = Member::null();
    let n = m.alloc(Node::new(1));
    on_stack.set(&m, Some(n));
}

#[test]
#[should_panic(expected = "another heap")]
fn pointers_never_cross_heaps() {
    let a = Heap::new(debug());
    let b = Heap::new(debug());
    let ma = a.attach();
    let mb = b.attach();
    let x = ma.alloc(Node::new(1));
    let y = mb.alloc(Node::new(2));
    x.left.set(&ma, Some(y));
}

/// The Mutator remembers the arena its last home check found in its heap;
/// a Member of another heap, stored through after many stores that warmed
/// that memory, must still be refused.
#[test]
#[should_panic(expected = "not inside an object of this Mutator's heap")]
fn a_warm_arena_check_still_refuses_a_member_of_another_heap() {
    let a = Heap::new(debug());
    let b = Heap::new(debug());
    let ma = a.attach();
    let mb = b.attach();
    let x = ma.alloc(Node::new(1));
    for i in 0..100 {
        x.left.set(&ma, Some(ma.alloc(Node::new(i))));
    }
    let foreign = mb.alloc(Node::new(2));
    foreign.left.set(&ma, Some(x));
}

#[test]
#[should_panic(expected = "non-null Member")]
fn allocating_a_value_with_a_non_null_member_panics() {
    let heap = Heap::new(debug());
    let m = heap.attach();
    let a = m.alloc(Node::new(1));
    let b = m.alloc(Node::new(2));
    a.left.set(&m, Some(b));
    // Safe code cannot move a non-null Member out of a heap object (only a
    // Drop could); stand in for that with a bitwise copy.
    // SAFETY: a Member is one atomic word with no Drop; the copy is only
    // handed to `alloc`, which must refuse it before storing it anywhere.
    let taken: Member<Node> = unsafe { std::ptr::read(&a.left) };
    let _ = m.alloc(Node {
        left: taken,
        right: Member::null(),
        value: 3,
    });
}

#[test]
fn zero_sized_and_slice_objects_work() {
    #[derive(Trace)]
    struct Unit;
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let u1 = m.alloc(Unit);
    let u2 = m.alloc(Unit);
    assert!(!std::ptr::eq(u1.as_ptr(), u2.as_ptr()) || std::mem::size_of::<Unit>() == 0);
    let words = m.alloc_slice(1000, |i| i as u64 * 3);
    assert_eq!(words.len(), 1000);
    assert_eq!(words[999], 2997);
    let strings = m.root(m.alloc_slice(10, |i| format!("s{i}")));
    m.collect();
    assert_eq!(strings.get(&m)[7], "s7");
    let v = m.root(m.alloc(gomem::Vector::<Node>::new()));
    for i in 0..100 {
        let vec = v.get(&m);
        vec.push(&m, Some(checked(&m, i)));
        if i % 10 == 0 {
            m.safepoint();
        }
    }
    m.collect();
    let vec = v.get(&m);
    assert_eq!(vec.len(), 100);
    for i in 0..100 {
        assert!(is_valid(&vec.get(&m, i).unwrap()));
    }
}

#[derive(Trace)]
struct PNode {
    left: Member<PNode>,
    right: Member<PNode>,
    parent: Member<PNode>,
    i: i32,
}

fn pnode(m: &Mutator) -> Gc<'_, PNode> {
    m.alloc(PNode {
        left: Member::null(),
        right: Member::null(),
        parent: Member::null(),
        i: 0,
    })
}

fn populate<'m>(m: &'m Mutator, d: u32, node: Gc<'m, PNode>) {
    if d > 0 {
        let l = pnode(m);
        l.parent.set(m, Some(node));
        node.left.set(m, Some(l));
        let r = pnode(m);
        r.parent.set(m, Some(node));
        node.right.set(m, Some(r));
        populate(m, d - 1, l);
        populate(m, d - 1, r);
    }
}

fn pcount(m: &Mutator, n: Gc<'_, PNode>) -> u64 {
    1 + n.left.get(m).map_or(0, |l| pcount(m, l)) + n.right.get(m).map_or(0, |r| pcount(m, r))
}

/// GCBench's shape (a rooted long-lived tree, short-lived trees built
/// top-down between safepoints) on two heaps at once, so that cycles flip
/// while mcaches refill. Regression test: a refill racing a flip used to
/// drop a span from its central list; the span kept one cycle's marks into
/// the next and a rooted tree lost nodes (checkmark catches it at once).
#[test]
fn rooted_trees_survive_refills_racing_flips() {
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..3 {
                    let heap = Heap::new(debug());
                    let mut m = heap.attach();
                    let long = {
                        let t = pnode(&m);
                        populate(&m, 14, t);
                        m.root(t)
                    };
                    for d in (4..=12).step_by(2) {
                        for _ in 0..(1u32 << (14 - d)) {
                            {
                                let t = pnode(&m);
                                populate(&m, d, t);
                            }
                            m.safepoint();
                        }
                        assert_eq!(pcount(&m, long.get(&m)), (1 << 15) - 1);
                    }
                }
            });
        }
    });
}

/// Minor page faults taken by this thread so far.
#[cfg(target_os = "linux")]
fn minor_faults_of_this_thread() -> u64 {
    // SAFETY: an all-zero rusage is a valid value, and getrusage only writes
    // the struct it is given.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut ru), 0);
        ru.ru_minflt as u64
    }
}

#[cfg(target_os = "linux")]
#[test]
fn fresh_heap_pages_fault_once() {
    // Allocating into a span fresh from the OS must write each page before
    // reading it: a page read first maps the zero page and faults again
    // when written (a TLB shootdown across every CPU of the process). 16 MiB
    // of 16-byte objects with pointers, collector off, on this thread.
    let heap = Heap::new(Config::default().gc_percent(None));
    let m = heap.attach();
    const BYTES: usize = 16 << 20;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let before = minor_faults_of_this_thread();
    for _ in 0..BYTES / 16 {
        m.alloc(Pair {
            left: Member::null(),
            right: Member::null(),
        });
    }
    let faults = minor_faults_of_this_thread() - before;
    let pages = (BYTES / page) as u64;
    // Span structs and bitmaps fault too (about one page in ten here);
    // reading before writing would make it three faults in two pages.
    assert!(
        faults < pages * 5 / 4,
        "{faults} minor faults for {pages} pages of heap"
    );
}

#[derive(Trace)]
struct Pair {
    left: Member<Pair>,
    right: Member<Pair>,
}

/// Mark bytes come from one pool for the whole process
/// (`alloc/markpool.rs`): a span borrows a block at its first mark of a
/// cycle and its sweep gives it back zeroed. Heaps collecting on several
/// threads at once, and heaps dropped in the middle of a cycle (their
/// spans still holding blocks), must never hand one another a mark: a
/// stale mark would make a white object look black, its children would go
/// unscanned, and checkmark would abort (or clobber-on-free would corrupt
/// a tree that `check` then reads).
#[test]
fn heaps_on_several_threads_share_the_mark_pool_and_none_sees_anothers_marks() {
    std::thread::scope(|s| {
        for t in 0..3u64 {
            s.spawn(move || {
                let heap = Heap::new(debug());
                let mut m = heap.attach();
                let root = {
                    let n = tree(&m, 11, t + 1);
                    m.root(n)
                };
                for round in 0..12 {
                    {
                        let _garbage = tree(&m, 10, 99);
                    }
                    m.safepoint();
                    if round % 3 == 2 {
                        m.collect();
                    }
                    assert_eq!(check(&m, root.get(&m), 11, t + 1), (1 << 12) - 1);
                }
                assert!(heap.gc_summary().cycles >= 4, "{:?}", heap.gc_summary());
            });
        }
        // Heaps dropped while a cycle may be marking: allocation after the
        // request installs blocks (allocate-black), then the heap goes.
        s.spawn(|| {
            for i in 0..25 {
                let heap = Heap::new(debug());
                let mut m = heap.attach();
                let _root = {
                    let n = tree(&m, 9, i);
                    m.root(n)
                };
                heap.request_cycle();
                // Until the cycle marks (bounded: a fast cycle may be over
                // before this loop sees it), then allocate black once more.
                for _ in 0..200 {
                    {
                        let _garbage = tree(&m, 8, 7);
                    }
                    m.safepoint();
                    if heap.gc_phase() == Phase::Mark {
                        let _black = tree(&m, 8, 8);
                        break;
                    }
                }
                drop(m);
                drop(heap);
            }
        });
    });
}
