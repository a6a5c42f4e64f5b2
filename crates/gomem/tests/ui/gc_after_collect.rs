//! A `Gc` may not live across `collect`, which runs a whole cycle.
use gomem::{Config, Heap};

fn main() {
    let heap = Heap::new(Config::default());
    let mut m = heap.attach();
    let x = m.alloc(7u64);
    m.collect();
    println!("{}", *x);
}
