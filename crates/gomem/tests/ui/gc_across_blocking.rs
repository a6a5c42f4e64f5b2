//! A `Gc` may not be used inside `blocking`: the P is handed to the
//! collector for its duration, so a cycle may finish and free the object.
use gomem::{Config, Heap};

fn main() {
    let heap = Heap::new(Config::default());
    let mut m = heap.attach();
    let x = m.alloc(7u64);
    let y = m.blocking(|| *x + 1);
    println!("{}", y);
}
