//! A `Gc` may not be returned from the scope that owns its Mutator.
use gomem::{Config, Gc, Heap};

fn escape<'a>(heap: &'a Heap) -> Gc<'a, u64> {
    let m = heap.attach();
    m.alloc(7u64)
}

fn main() {
    let heap = Heap::new(Config::default());
    println!("{}", *escape(&heap));
}
