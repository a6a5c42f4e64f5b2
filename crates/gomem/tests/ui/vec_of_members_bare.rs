//! Allocating a bare `Vec<Member<T>>` is rejected too. This one is a
//! post-monomorphization error (raised when `alloc::<Vec<Member<u64>>>` is
//! instantiated), so `cargo check` misses it: trybuild catches it because
//! it builds (not checks) the cases whenever a `t.pass` case exists, which
//! `tests/compile_fail.rs` always has.
use gomem::{Config, Heap, Member};

fn main() {
    let heap = Heap::new(Config::default());
    let m = heap.attach();
    let _ = m.alloc(Vec::<Member<u64>>::new());
}
