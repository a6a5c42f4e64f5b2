//! The `gc` peer (Manishearth's rust-gc): a thread-local, stop-the-world,
//! non-incremental mark-sweep collector.
//!
//! A `gc::Gc<T>` on the Rust stack (or in a `Vec` outside the GC heap) is a
//! root: the crate counts, per object, how many such handles exist, and
//! unroots a handle when it is moved into a GC object (`Gc::new` of a value
//! holding it, or a `GcCell` write). A collection runs inside `Gc::new`
//! once the bytes allocated pass a threshold (which grows so that at most
//! 70 % of it is live after a collection), walks every object to find the
//! rooted ones, marks recursively from them and sweeps. That pause cannot
//! be separated from the allocation that triggered it, so pauses are
//! reported as unknown; `gc_count` comes from the crate's
//! `unstable-stats` counter. The forced collection of the mark workload is
//! `gc::force_collect()`.
//!
//! gcbench nodes hold their three pointers in one `GcCell` (mutation after
//! allocation needs one); the parent pointer is strong, so the trees are
//! cyclic, which a tracing collector handles.

// gc_derive 0.5 expands `#[derive(Trace, Finalize)]` into impls inside a
// `const _` block, which today's rustc flags as non-local definitions.
#![allow(non_local_definitions)]

use gc::{Finalize, Gc, GcCell, Trace};

use super::{Implementation, Measured};
use crate::binarytrees::{self, BinaryTrees};
use crate::gcbench::{self, GcBench};
use crate::latency::{self, Latency, MSG_BYTES};
use crate::mark::{self, Mark};

/// The `gc` peer as `run-one` dispatches to it.
pub const IMPLEMENTATION: Implementation =
    Implementation::new(binary_trees, gcbench, latency, Some(mark));

fn collections() -> u64 {
    gc::stats().collections_performed as u64
}

/// Runs `f` and fills in the collections it made.
fn counting(f: impl FnOnce() -> Measured) -> Measured {
    let before = collections();
    let mut m = f();
    m.gc_count = Some(collections() - before);
    m
}

// ---- binary-trees ---------------------------------------------------------

#[derive(Trace, Finalize)]
struct BtNode {
    left: Option<Gc<BtNode>>,
    right: Option<Gc<BtNode>>,
}

fn bt_build(d: u32) -> Gc<BtNode> {
    let (left, right) = if d == 0 {
        (None, None)
    } else {
        (Some(bt_build(d - 1)), Some(bt_build(d - 1)))
    };
    Gc::new(BtNode { left, right })
}

fn bt_count(n: &BtNode) -> u64 {
    match (&n.left, &n.right) {
        (Some(l), Some(r)) => 1 + bt_count(l) + bt_count(r),
        _ => 1,
    }
}

#[derive(Default)]
struct Bt {
    long_lived: Option<Gc<BtNode>>,
}

impl BinaryTrees for Bt {
    fn churn(&mut self, d: u32) -> u64 {
        bt_count(&bt_build(d))
    }
    fn make_long_lived(&mut self, d: u32) {
        self.long_lived = Some(bt_build(d));
    }
    fn long_lived_count(&mut self) -> u64 {
        bt_count(self.long_lived.as_ref().expect("long-lived tree"))
    }
}

/// binary-trees on `gc`.
pub fn binary_trees(args: &binarytrees::Args) -> Result<Measured, String> {
    Ok(counting(|| {
        let (check, wall) = super::timed_lines(|| binarytrees::drive(&mut Bt::default(), args));
        Measured {
            check,
            wall,
            ..Measured::default()
        }
    }))
}

// ---- gcbench --------------------------------------------------------------

#[derive(Trace, Finalize, Default)]
struct Links {
    left: Option<Gc<Node>>,
    right: Option<Gc<Node>>,
    parent: Option<Gc<Node>>,
}

/// `i` and `j` are the original benchmark's payload: written, never read.
#[derive(Trace, Finalize)]
#[allow(dead_code)]
struct Node {
    links: GcCell<Links>,
    i: i32,
    j: i32,
}

fn new_node(links: Links) -> Gc<Node> {
    Gc::new(Node {
        links: GcCell::new(links),
        i: 0,
        j: 0,
    })
}

fn populate(d: u32, node: &Gc<Node>) {
    if d > 0 {
        let l = new_node(Links {
            left: None,
            right: None,
            parent: Some(node.clone()),
        });
        let r = new_node(Links {
            left: None,
            right: None,
            parent: Some(node.clone()),
        });
        {
            let mut links = node.links.borrow_mut();
            links.left = Some(l.clone());
            links.right = Some(r.clone());
        }
        populate(d - 1, &l);
        populate(d - 1, &r);
    }
}

fn make_tree(d: u32) -> Gc<Node> {
    if d == 0 {
        return new_node(Links::default());
    }
    let l = make_tree(d - 1);
    let r = make_tree(d - 1);
    let n = new_node(Links {
        left: Some(l.clone()),
        right: Some(r.clone()),
        parent: None,
    });
    l.links.borrow_mut().parent = Some(n.clone());
    r.links.borrow_mut().parent = Some(n.clone());
    n
}

fn count(n: &Node) -> u64 {
    let links = n.links.borrow();
    1 + links.left.as_deref().map_or(0, count) + links.right.as_deref().map_or(0, count)
}

#[derive(Default)]
struct Gcb {
    long_lived: Option<Gc<Node>>,
    array: Vec<f64>,
}

impl GcBench for Gcb {
    fn stretch(&mut self, d: u32) -> u64 {
        self.bottom_up(d)
    }
    fn make_long_lived(&mut self, d: u32, array_len: usize) {
        let t = new_node(Links::default());
        populate(d, &t);
        self.long_lived = Some(t);
        self.array = (0..array_len)
            .map(|i| gcbench::array_value(i, array_len))
            .collect();
    }
    fn top_down(&mut self, d: u32) -> u64 {
        let t = new_node(Links::default());
        populate(d, &t);
        count(&t)
    }
    fn bottom_up(&mut self, d: u32) -> u64 {
        count(&make_tree(d))
    }
    fn long_lived_count(&mut self) -> u64 {
        count(self.long_lived.as_ref().expect("long-lived tree"))
    }
    fn array_get(&mut self, i: usize) -> f64 {
        self.array[i]
    }
}

/// gcbench on `gc` (strong parent pointers: the trees are cyclic).
pub fn gcbench(args: &gcbench::Args) -> Result<Measured, String> {
    Ok(counting(|| {
        let (check, wall) = super::timed_lines(|| gcbench::drive(&mut Gcb::default(), args));
        Measured {
            check,
            wall,
            ..Measured::default()
        }
    }))
}

// ---- latency --------------------------------------------------------------

#[derive(Trace, Finalize)]
struct Msg {
    #[unsafe_ignore_trace]
    data: [u8; MSG_BYTES],
}

struct Window(Vec<Option<Gc<Msg>>>);

impl Latency for Window {
    #[inline]
    fn push(&mut self, i: u64, slot: usize) {
        self.0[slot] = Some(Gc::new(Msg {
            data: [latency::msg_byte(i); MSG_BYTES],
        }));
    }
    fn checksum(&mut self) -> u64 {
        self.0
            .iter()
            .flatten()
            .map(|m| u64::from(m.data[0]) + u64::from(m.data[MSG_BYTES - 1]))
            .sum()
    }
}

/// latency on `gc`.
pub fn latency(args: &latency::Args) -> Result<Measured, String> {
    Ok(counting(|| {
        let d = latency::drive(args, |w| Window((0..w).map(|_| None).collect()));
        Measured {
            check: d.check,
            wall: d.wall,
            latency: Some(d.latency),
            ..Measured::default()
        }
    }))
}

// ---- mark -----------------------------------------------------------------

/// `v` is payload, written, never read.
#[derive(Trace, Finalize)]
#[allow(dead_code)]
struct N4 {
    kids: [Option<Gc<N4>>; 4],
    v: u64,
}

fn n4_build(d: u32) -> Gc<N4> {
    let kids = if d == 0 {
        [None, None, None, None]
    } else {
        std::array::from_fn(|_| Some(n4_build(d - 1)))
    };
    Gc::new(N4 {
        kids,
        v: u64::from(d),
    })
}

fn n4_count(n: &N4) -> u64 {
    1 + n.kids.iter().flatten().map(|k| n4_count(k)).sum::<u64>()
}

#[derive(Default)]
struct Mk {
    trees: Vec<Gc<N4>>,
}

impl Mark for Mk {
    fn build(&mut self, depth: u32, copies: u32) {
        for _ in 0..copies {
            self.trees.push(n4_build(depth));
        }
    }
    fn collect(&mut self) {
        gc::force_collect();
    }
    fn count(&mut self) -> u64 {
        self.trees.iter().map(|t| n4_count(t)).sum()
    }
}

/// mark on `gc` (`gc::force_collect`).
pub fn mark(args: &mark::Args) -> Result<Measured, String> {
    Ok(counting(|| {
        let d = mark::drive(args, Mk::default);
        Measured {
            check: d.check,
            wall: d.wall,
            mark: Some(d.stats),
            ..Measured::default()
        }
    }))
}
