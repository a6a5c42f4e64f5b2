//! A `Root<T>` of a `Sync` `T` may move to another thread and be read there
//! through that thread's own Mutator.
use gomem::{Config, Heap, Member, Trace};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Trace)]
struct Node {
    next: Member<Node>,
    value: AtomicU64,
}

fn main() {
    let heap = Heap::new(Config::default());
    let mut m = heap.attach();
    let root = {
        let a = m.alloc(Node {
            next: Member::null(),
            value: AtomicU64::new(1),
        });
        let b = m.alloc(Node {
            next: Member::null(),
            value: AtomicU64::new(2),
        });
        a.next.set(&m, Some(b));
        m.root(a)
    };
    m.safepoint();
    let heap2 = heap.clone();
    let sum = std::thread::spawn(move || {
        let mut m2 = heap2.attach();
        m2.safepoint();
        let a = root.get(&m2);
        a.value.fetch_add(10, Ordering::Relaxed);
        let b = a.next.get(&m2).unwrap();
        a.value.load(Ordering::Relaxed) + b.value.load(Ordering::Relaxed)
    })
    .join()
    .unwrap();
    assert_eq!(sum, 13);
    m.collect();
}
