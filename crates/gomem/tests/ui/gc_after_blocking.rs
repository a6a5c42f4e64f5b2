//! A `Gc` may not live across `blocking` (used after it returns).
use gomem::{Config, Heap};

fn main() {
    let heap = Heap::new(Config::default());
    let mut m = heap.attach();
    let x = m.alloc(7u64);
    m.blocking(|| std::thread::sleep(std::time::Duration::from_millis(1)));
    println!("{}", *x);
}
