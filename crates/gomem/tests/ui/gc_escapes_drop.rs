//! A `Gc` may not outlive its Mutator (dropped).
use gomem::{Config, Gc, Heap};

fn escape(heap: &Heap) -> Gc<'static, u64> {
    let m = heap.attach();
    let x = m.alloc(7u64);
    drop(m);
    x
}

fn main() {
    let heap = Heap::new(Config::default());
    println!("{}", *escape(&heap));
}
