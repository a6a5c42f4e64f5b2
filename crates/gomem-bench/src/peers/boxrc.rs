//! The no-GC baseline: Rust's own ownership on the system allocator.
//!
//! * binary-trees: `Box` trees, freed when their owner drops them.
//! * gcbench: `Rc` nodes whose parent back-pointer is a `Weak` (a strong
//!   parent would make every tree a cycle that plain `Rc` leaks); child and
//!   parent fields are `OnceCell`s, set once, so a node is as small as
//!   gomem's (three words and two i32, plus `Rc`'s two counts).
//! * latency: `Box<[u8; 1024]>` messages in a `Vec` window.
//! * mark: not applicable — there is no collector to time.
//!
//! Freeing happens where the last owner goes away, inside the workload's
//! own code, so there are no pauses and no GC count to report.

use std::cell::OnceCell;
use std::rc::{Rc, Weak};

use super::{Implementation, Measured};
use crate::binarytrees::{self, BinaryTrees};
use crate::gcbench::{self, GcBench};
use crate::latency::{self, Latency, MSG_BYTES};

/// The no-GC baseline as `run-one` dispatches to it (no mark: there is no
/// collector to time).
pub const IMPLEMENTATION: Implementation =
    Implementation::new(binary_trees, gcbench, latency, None);

struct BtNode {
    left: Option<Box<BtNode>>,
    right: Option<Box<BtNode>>,
}

fn bt_build(d: u32) -> Box<BtNode> {
    if d == 0 {
        Box::new(BtNode {
            left: None,
            right: None,
        })
    } else {
        Box::new(BtNode {
            left: Some(bt_build(d - 1)),
            right: Some(bt_build(d - 1)),
        })
    }
}

fn bt_count(n: &BtNode) -> u64 {
    match (&n.left, &n.right) {
        (Some(l), Some(r)) => 1 + bt_count(l) + bt_count(r),
        _ => 1,
    }
}

#[derive(Default)]
struct Bt {
    long_lived: Option<Box<BtNode>>,
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

/// binary-trees on `Box`.
pub fn binary_trees(args: &binarytrees::Args) -> Result<Measured, String> {
    let (check, wall) = super::timed_lines(|| binarytrees::drive(&mut Bt::default(), args));
    Ok(Measured {
        check,
        wall,
        ..Measured::default()
    })
}

/// `i` and `j` are the original benchmark's payload: written, never read.
#[allow(dead_code)]
struct Node {
    left: OnceCell<Rc<Node>>,
    right: OnceCell<Rc<Node>>,
    parent: OnceCell<Weak<Node>>,
    i: i32,
    j: i32,
}

fn new_node() -> Node {
    Node {
        left: OnceCell::new(),
        right: OnceCell::new(),
        parent: OnceCell::new(),
        i: 0,
        j: 0,
    }
}

fn populate(d: u32, node: &Rc<Node>) {
    if d > 0 {
        let l = Rc::new(new_node());
        let _ = l.parent.set(Rc::downgrade(node));
        let r = Rc::new(new_node());
        let _ = r.parent.set(Rc::downgrade(node));
        populate(d - 1, &l);
        populate(d - 1, &r);
        let _ = node.left.set(l);
        let _ = node.right.set(r);
    }
}

fn make_tree(d: u32) -> Rc<Node> {
    if d == 0 {
        return Rc::new(new_node());
    }
    let l = make_tree(d - 1);
    let r = make_tree(d - 1);
    let n = Rc::new(new_node());
    let _ = l.parent.set(Rc::downgrade(&n));
    let _ = r.parent.set(Rc::downgrade(&n));
    let _ = n.left.set(l);
    let _ = n.right.set(r);
    n
}

fn count(n: &Node) -> u64 {
    1 + n.left.get().map_or(0, |l| count(l)) + n.right.get().map_or(0, |r| count(r))
}

#[derive(Default)]
struct Gcb {
    long_lived: Option<Rc<Node>>,
    array: Vec<f64>,
}

impl GcBench for Gcb {
    fn stretch(&mut self, d: u32) -> u64 {
        self.bottom_up(d)
    }
    fn make_long_lived(&mut self, d: u32, array_len: usize) {
        let t = Rc::new(new_node());
        populate(d, &t);
        self.long_lived = Some(t);
        self.array = (0..array_len)
            .map(|i| gcbench::array_value(i, array_len))
            .collect();
    }
    fn top_down(&mut self, d: u32) -> u64 {
        let t = Rc::new(new_node());
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

/// gcbench on `Rc` with `Weak` parents.
pub fn gcbench(args: &gcbench::Args) -> Result<Measured, String> {
    let (check, wall) = super::timed_lines(|| gcbench::drive(&mut Gcb::default(), args));
    Ok(Measured {
        check,
        wall,
        ..Measured::default()
    })
}

struct Window(Vec<Option<Box<[u8; MSG_BYTES]>>>);

impl Latency for Window {
    #[inline]
    fn push(&mut self, i: u64, slot: usize) {
        self.0[slot] = Some(Box::new([latency::msg_byte(i); MSG_BYTES]));
    }
    fn checksum(&mut self) -> u64 {
        self.0
            .iter()
            .flatten()
            .map(|m| u64::from(m[0]) + u64::from(m[MSG_BYTES - 1]))
            .sum()
    }
}

/// latency on `Box` messages.
pub fn latency(args: &latency::Args) -> Result<Measured, String> {
    let d = latency::drive(args, |w| Window((0..w).map(|_| None).collect()));
    Ok(Measured {
        check: d.check,
        wall: d.wall,
        latency: Some(d.latency),
        ..Measured::default()
    })
}
