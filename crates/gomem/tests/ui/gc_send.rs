//! A `Gc` is `!Send`: another thread has no safepoints of this mutator to
//! bound its life.
use gomem::{Config, Heap};

fn main() {
    let heap = Heap::new(Config::default());
    let m = heap.attach();
    let x = m.alloc(7u64);
    std::thread::scope(|s| {
        s.spawn(move || println!("{}", *x));
    });
}
