//! `#[derive(Trace)]` on a union must not compile: the collector could not
//! tell which field holds a Member.
use gomem::{Member, Trace};

#[derive(Trace)]
union Either {
    word: u64,
    member: std::mem::ManuallyDrop<Member<u64>>,
}

fn main() {}
