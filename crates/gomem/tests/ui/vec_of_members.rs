//! A std container of Members inside a heap object is rejected at compile
//! time, by an assertion the derive writes, naming the field: the
//! collector cannot trace a Vec's buffer, which lies outside the GC heap.
use gomem::{Config, Heap, Member, Trace};

#[derive(Trace)]
struct Bad {
    v: Vec<Member<u64>>,
}

fn main() {
    let heap = Heap::new(Config::default());
    let m = heap.attach();
    let _ = m.alloc(Bad { v: Vec::new() });
}
