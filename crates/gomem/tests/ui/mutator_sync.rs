//! A `Mutator` is `!Sync`: two threads may not allocate through one P.
use gomem::{Config, Heap};

fn main() {
    let heap = Heap::new(Config::default());
    let m = heap.attach();
    std::thread::scope(|s| {
        s.spawn(|| {
            let _ = m.alloc(7u64);
        });
    });
}
