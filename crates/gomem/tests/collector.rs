//! Collector integration tests: what survives, what is freed, Drop exactly
//! once, weak pointers, concurrent mutation during marking, many threads,
//! deep structures, blocking, and the no-deadlock rule.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gomem::{Config, Gc, Heap, Member, Mutator, Trace};

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
    let n = m.alloc(Node::new(seed));
    if depth > 0 {
        n.left.set(m, Some(tree(m, depth - 1, seed * 2)));
        n.right.set(m, Some(tree(m, depth - 1, seed * 2 + 1)));
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
    let heap = Heap::new(Config::default());
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
    _payload: [u64; 3],
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
    let heap = Heap::new(Config::default());
    let drops = Arc::new(AtomicUsize::new(0));
    let mut m = heap.attach();
    let keep = {
        let k = m.alloc(Counted {
            drops: drops.clone(),
            _payload: [0; 3],
        });
        m.root(k)
    };
    const N: usize = 10_000;
    for _ in 0..N {
        m.alloc(Counted {
            drops: drops.clone(),
            _payload: [1; 3],
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
        let heap = Heap::new(Config::default());
        let m = heap.attach();
        let k = m.alloc(Counted {
            drops: drops.clone(),
            _payload: [0; 3],
        });
        let _root = m.root(k);
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn cyclic_garbage_is_collected() {
    let heap = Heap::new(Config::default());
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
    let heap = Heap::new(Config::default());
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
    let heap = Heap::new(Config::default());
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
