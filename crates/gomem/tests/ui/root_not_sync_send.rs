//! A `Root<T>` of a non-`Sync` `T` is `!Send`: the other thread would get
//! `&T` while this one may still use it.
use gomem::{Config, Heap, Trace};
use std::cell::Cell;

#[derive(Trace)]
struct Counter {
    n: Cell<u64>,
}

fn main() {
    let heap = Heap::new(Config::default());
    let m = heap.attach();
    let root = m.root(m.alloc(Counter { n: Cell::new(0) }));
    let heap2 = heap.clone();
    std::thread::spawn(move || {
        let m2 = heap2.attach();
        root.get(&m2).n.set(1);
    });
}
