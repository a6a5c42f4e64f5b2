//! `#[gomem(skip)]` on a field that holds a Member must not compile: the
//! collector would never see the Member and could free a live object.
use gomem::{Member, Trace};

#[derive(Trace)]
struct Node {
    value: u64,
    #[gomem(skip)]
    next: Member<Node>,
}

fn main() {}
