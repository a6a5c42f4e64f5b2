//! A `Gc` may not be used after its Mutator is detached.
use gomem::{Config, Heap};

fn main() {
    let heap = Heap::new(Config::default());
    let m = heap.attach();
    let x = m.alloc(7u64);
    m.detach();
    println!("{}", *x);
}
