//! A `Mutator` is `!Send`: it is one thread's attachment to the heap.
use gomem::{Config, Heap};

fn main() {
    let heap = Heap::new(Config::default());
    let m = heap.attach();
    std::thread::spawn(move || {
        let _ = m.alloc(7u64);
    });
}
