//! The `dumpster` peer (Clayton Ramsey's cycle-tracking collector), its
//! thread-local flavour `dumpster::unsync::Gc`.
//!
//! dumpster is reference counting plus cycle detection: a handle dropped to
//! zero frees its object at once; one dropped to a non-zero count marks the
//! object "dirty", and a collection (`dumpster::unsync::collect`, or the
//! automatic one, which runs once more handles have been dropped since the
//! last collection than are alive) searches the dirty objects' graph for
//! garbage cycles, with hash sets of every object it visits.
//!
//! binary-trees and latency make no cycles: refcounting frees everything
//! and no collection has work to do. gcbench's strong parent pointers make
//! every tree a cycle, dropped through one handle — the automatic trigger
//! would hardly ever fire and the garbage would pile up — so the workload
//! calls `collect()` on the GOGC=100-style schedule of [`super::Pacer`];
//! those calls are timed as pauses. The mark workload's forced collection
//! is `collect()`; on trees built by moves there is nothing dirty, so it
//! returns at once. dumpster keeps no collection count.

use dumpster::unsync::{collect, Gc};
use dumpster::Trace;

refcounted_workloads! {
    name: "dumpster",
    ptr: Gc,
    collect: collect,
}

// The node types the workloads build (see `refcounted.rs`).

#[derive(Trace)]
struct BtNode {
    left: Option<Gc<BtNode>>,
    right: Option<Gc<BtNode>>,
}

/// `i` and `j` are the original benchmark's payload: written, never read.
#[derive(Trace)]
#[allow(dead_code)]
struct Node {
    left: OnceCell<Gc<Node>>,
    right: OnceCell<Gc<Node>>,
    parent: OnceCell<Gc<Node>>,
    i: i32,
    j: i32,
}

#[derive(Trace)]
struct Msg {
    data: [u8; MSG_BYTES],
}

/// `v` is payload, written, never read.
#[derive(Trace)]
#[allow(dead_code)]
struct N4 {
    kids: [Option<Gc<N4>>; 4],
    v: u64,
}
