//! A `Gc` may not live across `safepoint`: it borrows the Mutator shared,
//! `safepoint` takes it mutably, and a cycle may free the object there.
use gomem::{Config, Heap};

fn main() {
    let heap = Heap::new(Config::default());
    let mut m = heap.attach();
    let x = m.alloc(7u64);
    m.safepoint();
    println!("{}", *x);
}
