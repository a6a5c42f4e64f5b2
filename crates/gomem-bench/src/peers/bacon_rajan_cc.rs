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

use bacon_rajan_cc::{collect_cycles, Cc, Trace, Tracer};

refcounted_workloads! {
    name: "`Cc`",
    ptr: Cc,
    collect: collect_cycles,
}

// The node types the workloads build (see `refcounted.rs`).

struct BtNode {
    left: Option<Cc<BtNode>>,
    right: Option<Cc<BtNode>>,
}

/// `i` and `j` are the original benchmark's payload: written, never read.
#[allow(dead_code)]
struct Node {
    left: OnceCell<Cc<Node>>,
    right: OnceCell<Cc<Node>>,
    parent: OnceCell<Cc<Node>>,
    i: i32,
    j: i32,
}

struct Msg {
    data: [u8; MSG_BYTES],
}

/// `v` is payload, written, never read.
#[allow(dead_code)]
struct N4 {
    kids: [Option<Cc<N4>>; 4],
    v: u64,
}

// The crate has no derive: each node type's Members, by hand.

fn trace_cell<T: Trace>(c: &OnceCell<Cc<T>>, tracer: &mut Tracer<'_>) {
    if let Some(x) = c.get() {
        x.trace(tracer);
    }
}

impl Trace for BtNode {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.left.trace(tracer);
        self.right.trace(tracer);
    }
}

impl Trace for Node {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        trace_cell(&self.left, tracer);
        trace_cell(&self.right, tracer);
        trace_cell(&self.parent, tracer);
    }
}

impl Trace for Msg {
    fn trace(&self, _: &mut Tracer<'_>) {}
}

impl Trace for N4 {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        for k in &self.kids {
            k.trace(tracer);
        }
    }
}
