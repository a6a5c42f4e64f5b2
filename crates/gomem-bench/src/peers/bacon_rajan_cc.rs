//! The `bacon_rajan_cc` peer (fitzgen's `Cc`: reference counting with
//! Bacon and Rajan's synchronous cycle collection, "trial deletion").
//!
//! A `Cc` dropped to zero frees its object at once; one dropped to a
//! non-zero count is buffered as a possible cycle root, and
//! `collect_cycles()` — which the crate never calls by itself — trial-
//! deletes the subgraphs under the buffered roots to find garbage cycles.
//! The `Trace` impls are written by hand (the crate has no derive).
//!
//! binary-trees and latency make no cycles: refcounting frees everything.
//! gcbench's strong parent pointers make every tree a cycle, so the
//! workload calls `collect_cycles()` on the GOGC=100-style schedule of
//! [`super::Pacer`] (without those calls the trees would leak); the calls
//! are timed as pauses. The mark workload's forced collection is
//! `collect_cycles()`; on trees built by moves nothing is buffered, so it
//! returns at once. The crate keeps no collection count.

use std::cell::OnceCell;
use std::time::Duration;

use bacon_rajan_cc::{collect_cycles, Cc, Trace, Tracer};

use super::{BinaryTrees, Measured, Pacer, Pauses};
use crate::gcbench::{self, GcBench};
use crate::latency::{self, Latency, MSG_BYTES};
use crate::mark::{self, Mark};

fn trace_cell<T: Trace>(c: &OnceCell<Cc<T>>, tracer: &mut Tracer<'_>) {
    if let Some(x) = c.get() {
        x.trace(tracer);
    }
}

// ---- binary-trees ---------------------------------------------------------

struct BtNode {
    left: Option<Cc<BtNode>>,
    right: Option<Cc<BtNode>>,
}

impl Trace for BtNode {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.left.trace(tracer);
        self.right.trace(tracer);
    }
}

fn bt_build(d: u32) -> Cc<BtNode> {
    let (left, right) = if d == 0 {
        (None, None)
    } else {
        (Some(bt_build(d - 1)), Some(bt_build(d - 1)))
    };
    Cc::new(BtNode { left, right })
}

fn bt_count(n: &BtNode) -> u64 {
    match (&n.left, &n.right) {
        (Some(l), Some(r)) => 1 + bt_count(l) + bt_count(r),
        _ => 1,
    }
}

#[derive(Default)]
struct Bt {
    long_lived: Option<Cc<BtNode>>,
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

/// binary-trees on `Cc`.
pub fn binary_trees(args: &crate::binarytrees::Args) -> Measured {
    let (check, wall) = super::timed_lines(|| super::binary_trees(&mut Bt::default(), args));
    Measured {
        check,
        wall,
        ..Measured::default()
    }
}

// ---- gcbench --------------------------------------------------------------

/// `i` and `j` are the original benchmark's payload: written, never read.
#[allow(dead_code)]
struct Node {
    left: OnceCell<Cc<Node>>,
    right: OnceCell<Cc<Node>>,
    parent: OnceCell<Cc<Node>>,
    i: i32,
    j: i32,
}

impl Trace for Node {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        trace_cell(&self.left, tracer);
        trace_cell(&self.right, tracer);
        trace_cell(&self.parent, tracer);
    }
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

fn populate(d: u32, node: &Cc<Node>) {
    if d > 0 {
        let l = Cc::new(new_node());
        let _ = l.parent.set(node.clone());
        let r = Cc::new(new_node());
        let _ = r.parent.set(node.clone());
        populate(d - 1, &l);
        populate(d - 1, &r);
        let _ = node.left.set(l);
        let _ = node.right.set(r);
    }
}

fn make_tree(d: u32) -> Cc<Node> {
    if d == 0 {
        return Cc::new(new_node());
    }
    let l = make_tree(d - 1);
    let r = make_tree(d - 1);
    let n = Cc::new(new_node());
    let _ = l.parent.set(n.clone());
    let _ = r.parent.set(n.clone());
    let _ = n.left.set(l);
    let _ = n.right.set(r);
    n
}

fn count(n: &Node) -> u64 {
    1 + n.left.get().map_or(0, |l| count(l)) + n.right.get().map_or(0, |r| count(r))
}

#[derive(Default)]
struct Gcb {
    long_lived: Option<Cc<Node>>,
    array: Vec<f64>,
    pacer: Pacer,
    pauses: Vec<Duration>,
}

impl Gcb {
    /// Drops a counted tree and collects cycles when the pacer says so.
    fn discard(&mut self, t: Cc<Node>, nodes: u64) -> u64 {
        drop(t);
        if self.pacer.discarded(nodes) {
            super::timed(&mut self.pauses, collect_cycles);
        }
        nodes
    }
}

impl GcBench for Gcb {
    fn stretch(&mut self, d: u32) -> u64 {
        self.bottom_up(d)
    }
    fn make_long_lived(&mut self, d: u32, array_len: usize) {
        let t = Cc::new(new_node());
        populate(d, &t);
        self.pacer.kept(count(&t));
        self.long_lived = Some(t);
        self.array = (0..array_len)
            .map(|i| gcbench::array_value(i, array_len))
            .collect();
    }
    fn top_down(&mut self, d: u32) -> u64 {
        let t = Cc::new(new_node());
        populate(d, &t);
        let n = count(&t);
        self.discard(t, n)
    }
    fn bottom_up(&mut self, d: u32) -> u64 {
        let t = make_tree(d);
        let n = count(&t);
        self.discard(t, n)
    }
    fn long_lived_count(&mut self) -> u64 {
        count(self.long_lived.as_ref().expect("long-lived tree"))
    }
    fn array_get(&mut self, i: usize) -> f64 {
        self.array[i]
    }
}

/// gcbench on `Cc` (strong parent pointers: every tree is a cycle).
pub fn gcbench(args: &gcbench::Args) -> Measured {
    let mut h = Gcb::default();
    let (check, wall) = super::timed_lines(|| gcbench::drive(&mut h, args));
    Measured {
        check,
        wall,
        pauses: Pauses::from_samples(&mut h.pauses),
        ..Measured::default()
    }
}

// ---- latency --------------------------------------------------------------

struct Msg {
    data: [u8; MSG_BYTES],
}

impl Trace for Msg {
    fn trace(&self, _: &mut Tracer<'_>) {}
}

struct Window(Vec<Option<Cc<Msg>>>);

impl Latency for Window {
    #[inline]
    fn push(&mut self, i: u64, slot: usize) {
        self.0[slot] = Some(Cc::new(Msg {
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

/// latency on `Cc`.
pub fn latency(args: &latency::Args) -> Measured {
    let d = latency::drive(args, |w| Window((0..w).map(|_| None).collect()));
    Measured {
        check: d.check,
        wall: d.wall,
        latency: Some(d.latency),
        ..Measured::default()
    }
}

// ---- mark -----------------------------------------------------------------

/// `v` is payload, written, never read.
#[allow(dead_code)]
struct N4 {
    kids: [Option<Cc<N4>>; 4],
    v: u64,
}

impl Trace for N4 {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        for k in &self.kids {
            k.trace(tracer);
        }
    }
}

fn n4_build(d: u32) -> Cc<N4> {
    let kids = if d == 0 {
        [None, None, None, None]
    } else {
        std::array::from_fn(|_| Some(n4_build(d - 1)))
    };
    Cc::new(N4 {
        kids,
        v: u64::from(d),
    })
}

fn n4_count(n: &N4) -> u64 {
    1 + n.kids.iter().flatten().map(|k| n4_count(k)).sum::<u64>()
}

#[derive(Default)]
struct Mk {
    trees: Vec<Cc<N4>>,
}

impl Mark for Mk {
    fn build(&mut self, depth: u32, copies: u32) {
        for _ in 0..copies {
            self.trees.push(n4_build(depth));
        }
    }
    fn collect(&mut self) {
        collect_cycles();
    }
    fn count(&mut self) -> u64 {
        self.trees.iter().map(|t| n4_count(t)).sum()
    }
}

/// mark on `Cc` (`collect_cycles()`).
pub fn mark(args: &mark::Args) -> Measured {
    let mut d = mark::drive(args, Mk::default);
    // Nothing was traced (no count was ever decremented): a marking rate
    // would be meaningless.
    d.stats.mb_per_s = None;
    Measured {
        check: d.check,
        wall: d.wall,
        mark: Some(d.stats),
        ..Measured::default()
    }
}
