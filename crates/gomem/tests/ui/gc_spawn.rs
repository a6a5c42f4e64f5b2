//! A `Gc` is `!Send` (also with `std::thread::spawn`).
use gomem::{Config, Gc, Heap};

fn leak<'m>(x: Gc<'m, u64>) {
    // Would also need 'static; the Send error is the one this case is about.
    std::thread::spawn(move || println!("{}", *x));
}

fn main() {
    let heap = Heap::new(Config::default());
    let m = heap.attach();
    leak(m.alloc(7u64));
}
