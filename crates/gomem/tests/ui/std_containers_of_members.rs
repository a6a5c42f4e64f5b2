//! Std containers that would hide Members from the collector are compile
//! errors that name the field: their memory is outside the GC heap (Vec,
//! Box, Arc, maps) or hands out `&mut` to a Member, bypassing the write
//! barrier (Cell, Mutex). Wrapping them in Option or a tuple changes
//! nothing, and neither does `#[gomem(skip)]`.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gomem::{Member, Trace, ValueSlot};

#[derive(Trace)]
struct Boxed {
    b: Box<Member<u64>>,
}

#[derive(Trace)]
struct Locked {
    m: Mutex<Member<u64>>,
}

#[derive(Trace)]
struct Mapped {
    ok: HashMap<String, u64>,
    values: HashMap<u64, ValueSlot<u64>>,
}

#[derive(Trace)]
enum Shared {
    Plain(u64),
    Hidden(Option<(u8, Arc<[Member<u64>]>)>),
}

#[derive(Trace)]
struct Skipped {
    #[gomem(skip)]
    v: Vec<Member<u64>>,
}

fn main() {}
