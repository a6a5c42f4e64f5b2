//! gomem, as an implementation of the four workloads, beside the Rust
//! peers.
//!
//! Each run gets its own heap, configured from the environment (`GOGC`,
//! `GOMEMLIMIT`, `GOMEM_DEBUG`; a workload's `--gctrace` turns the trace on
//! as well) and one mutator (binary-trees with `--threads N`: N more, one
//! per thread, for the short-lived trees). Every tree, push or forced
//! collection is followed by a safepoint, where a Go program would be
//! preempted between statements. Live data hangs from `Root`s; fields are
//! `Member`s, written through the write barrier.
//!
//! Besides the check and wall time, a run reports the collector's own
//! figures (`gomem::GcSummary`): cycles, the time mutators were held at
//! polls by the collector (gomem's pauses), mark assists and background
//! marking time.

use std::time::Duration;

use gomem::{Config, Gc, Heap, Member, Mutator, Root, Slice, Trace};

use super::{Assists, Implementation, Measured, Pauses};
use crate::binarytrees::{self, BinaryTrees};
use crate::gcbench::{self, GcBench};
use crate::latency::{self, Latency, MSG_BYTES};
use crate::mark::{self, Mark};

/// gomem as `run-one` dispatches to it; `compare` has it print Go's
/// gctrace lines through `GOMEM_DEBUG`.
pub const IMPLEMENTATION: Implementation = Implementation {
    gctrace_env: Some(("GOMEM_DEBUG", "gctrace=1")),
    ..Implementation::new(binary_trees, gcbench, latency, Some(mark))
};

/// The heap of one run: configured from the environment (`GOGC`,
/// `GOMEMLIMIT`, `GOMEM_DEBUG`), with `gctrace` turning the trace on as
/// well. A bad variable is an error that names it.
pub fn heap_from_env(gctrace: bool) -> Result<Heap, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let trace = config.gctrace_value() || gctrace;
    Ok(Heap::new(config.gctrace(trace)))
}

/// The record of a run on `heap`: its check and wall time, and the
/// collector's figures.
fn measured(heap: &Heap, check: String, wall: Duration) -> Measured {
    let s = heap.gc_summary();
    Measured {
        check,
        wall,
        gc_count: Some(u64::from(s.cycles)),
        pauses: Some(Pauses {
            p50: s.poll_p50,
            p99: s.poll_p99,
            max: s.poll_max,
            count: s.polls,
        }),
        assists: Some(Assists {
            count: s.assists,
            total: s.assist_time,
            max: s.assist_max,
        }),
        background_mark: Some(s.mark_worker_time),
        ..Measured::default()
    }
}

// ---- binary-trees ---------------------------------------------------------

#[derive(Trace)]
struct BtNode {
    left: Member<BtNode>,
    right: Member<BtNode>,
}

fn bt_build(m: &Mutator, depth: u32) -> Gc<'_, BtNode> {
    let n = m.alloc(BtNode {
        left: Member::null(),
        right: Member::null(),
    });
    if depth > 0 {
        n.left.set(m, Some(bt_build(m, depth - 1)));
        n.right.set(m, Some(bt_build(m, depth - 1)));
    }
    n
}

fn bt_count(m: &Mutator, n: Gc<'_, BtNode>) -> u64 {
    match (n.left.get(m), n.right.get(m)) {
        (Some(l), Some(r)) => 1 + bt_count(m, l) + bt_count(m, r),
        _ => 1,
    }
}

/// binary-trees on one mutator, whose short-lived trees are built by
/// `threads` mutators of their own while it waits in `blocking`.
struct Bt<'h> {
    heap: &'h Heap,
    m: Mutator,
    threads: usize,
    long_lived: Option<Root<BtNode>>,
}

impl BinaryTrees for Bt<'_> {
    fn churn(&mut self, d: u32) -> u64 {
        let n = {
            let t = bt_build(&self.m, d);
            bt_count(&self.m, t)
        };
        self.m.safepoint();
        n
    }

    fn churn_many(&mut self, d: u32, iterations: u64) -> u64 {
        let (heap, threads) = (self.heap, self.threads);
        if threads == 1 {
            // This thread's own Mutator: a thread holds one per heap.
            return (0..iterations).map(|_| self.churn(d)).sum();
        }
        self.m
            .blocking(|| churn_on_threads(heap, d, iterations, threads))
    }

    fn make_long_lived(&mut self, d: u32) {
        let t = bt_build(&self.m, d);
        self.long_lived = Some(self.m.root(t));
        self.m.safepoint();
    }

    fn long_lived_count(&mut self) -> u64 {
        let root = self.long_lived.as_ref().expect("long-lived tree");
        bt_count(&self.m, root.get(&self.m))
    }
}

/// Churns `iterations` trees of depth `depth` on `threads` threads with
/// mutators of their own, sharing the iterations out; the sum of their
/// counts.
fn churn_on_threads(heap: &Heap, depth: u32, iterations: u64, threads: usize) -> u64 {
    let work = |count: u64| {
        let mut m = heap.attach();
        let mut sum = 0;
        for _ in 0..count {
            sum += {
                let t = bt_build(&m, depth);
                bt_count(&m, t)
            };
            m.safepoint();
        }
        sum
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|i| {
                let share =
                    iterations / threads as u64 + u64::from(i < iterations % threads as u64);
                s.spawn(move || work(share))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

/// binary-trees on gomem.
pub fn binary_trees(args: &binarytrees::Args) -> Result<Measured, String> {
    let heap = heap_from_env(args.gctrace)?;
    let (check, wall) = super::timed_lines(|| {
        let mut h = Bt {
            heap: &heap,
            m: heap.attach(),
            threads: args.threads.max(1),
            long_lived: None,
        };
        binarytrees::drive(&mut h, args)
    });
    Ok(measured(&heap, check, wall))
}

// ---- gcbench --------------------------------------------------------------

/// `i` and `j` are the original benchmark's payload: written, never read.
#[derive(Trace)]
#[allow(dead_code)]
struct Node {
    left: Member<Node>,
    right: Member<Node>,
    parent: Member<Node>,
    i: i32,
    j: i32,
}

fn new_node(m: &Mutator) -> Gc<'_, Node> {
    m.alloc(Node {
        left: Member::null(),
        right: Member::null(),
        parent: Member::null(),
        i: 0,
        j: 0,
    })
}

/// Gives `node` two children and recurses (top-down construction).
fn populate<'m>(m: &'m Mutator, d: u32, node: Gc<'m, Node>) {
    if d > 0 {
        let l = new_node(m);
        l.parent.set(m, Some(node));
        node.left.set(m, Some(l));
        let r = new_node(m);
        r.parent.set(m, Some(node));
        node.right.set(m, Some(r));
        populate(m, d - 1, l);
        populate(m, d - 1, r);
    }
}

/// Builds the children first, then their parent (bottom-up construction).
fn make_tree(m: &Mutator, d: u32) -> Gc<'_, Node> {
    if d == 0 {
        return new_node(m);
    }
    let l = make_tree(m, d - 1);
    let r = make_tree(m, d - 1);
    let n = new_node(m);
    n.left.set(m, Some(l));
    n.right.set(m, Some(r));
    l.parent.set(m, Some(n));
    r.parent.set(m, Some(n));
    n
}

fn count(m: &Mutator, n: Gc<'_, Node>) -> u64 {
    1 + n.left.get(m).map_or(0, |l| count(m, l)) + n.right.get(m).map_or(0, |r| count(m, r))
}

/// GCBench on one gomem mutator: every tree is built and counted between
/// two safepoints.
struct Gcb {
    m: Mutator,
    long_lived: Option<Root<Node>>,
    array: Option<Root<Slice<f64>>>,
}

impl GcBench for Gcb {
    fn stretch(&mut self, d: u32) -> u64 {
        self.bottom_up(d)
    }

    fn make_long_lived(&mut self, d: u32, array_len: usize) {
        let m = &self.m;
        let t = new_node(m);
        populate(m, d, t);
        self.long_lived = Some(m.root(t));
        let a = m.alloc_slice(array_len, |i| gcbench::array_value(i, array_len));
        self.array = Some(m.root(a));
        self.m.safepoint();
    }

    fn top_down(&mut self, d: u32) -> u64 {
        let n = {
            let m = &self.m;
            let t = new_node(m);
            populate(m, d, t);
            count(m, t)
        };
        self.m.safepoint();
        n
    }

    fn bottom_up(&mut self, d: u32) -> u64 {
        let n = {
            let t = make_tree(&self.m, d);
            count(&self.m, t)
        };
        self.m.safepoint();
        n
    }

    fn long_lived_count(&mut self) -> u64 {
        let root = self.long_lived.as_ref().expect("long-lived tree");
        count(&self.m, root.get(&self.m))
    }

    fn array_get(&mut self, i: usize) -> f64 {
        self.array.as_ref().expect("array").get(&self.m)[i]
    }
}

/// gcbench on gomem (one mutator).
pub fn gcbench(args: &gcbench::Args) -> Result<Measured, String> {
    let heap = heap_from_env(args.gctrace)?;
    let (check, wall) = super::timed_lines(|| {
        let mut h = Gcb {
            m: heap.attach(),
            long_lived: None,
            array: None,
        };
        gcbench::drive(&mut h, args)
    });
    Ok(measured(&heap, check, wall))
}

// ---- latency --------------------------------------------------------------

/// A message: 1 KiB of plain data (noscan, Go's 1024-byte size class).
#[derive(Trace)]
struct Msg {
    data: [u8; MSG_BYTES],
}

struct Window {
    m: Mutator,
    window: Root<Slice<Member<Msg>>>,
}

impl Latency for Window {
    #[inline]
    fn push(&mut self, i: u64, slot: usize) {
        {
            let m = &self.m;
            let msg = m.alloc(Msg {
                data: [latency::msg_byte(i); MSG_BYTES],
            });
            self.window.get(m)[slot].set(m, Some(msg));
        }
        self.m.safepoint();
    }

    fn checksum(&mut self) -> u64 {
        let m = &self.m;
        self.window
            .get(m)
            .iter()
            .filter_map(|e| e.get(m))
            .map(|msg| u64::from(msg.data[0]) + u64::from(msg.data[MSG_BYTES - 1]))
            .sum()
    }
}

/// latency on gomem (one mutator).
pub fn latency(args: &latency::Args) -> Result<Measured, String> {
    let heap = heap_from_env(args.gctrace)?;
    let d = latency::drive(args, |w| {
        let m = heap.attach();
        let window = {
            let s = m.alloc_slice(w, |_| Member::null());
            m.root(s)
        };
        Window { m, window }
    });
    Ok(Measured {
        latency: Some(d.latency),
        ..measured(&heap, d.check, d.wall)
    })
}

// ---- mark -----------------------------------------------------------------

/// `v` is payload, written, never read.
#[derive(Trace)]
#[allow(dead_code)]
struct N4 {
    kids: [Member<N4>; 4],
    v: u64,
}

fn n4_build(m: &Mutator, d: u32) -> Gc<'_, N4> {
    let n = m.alloc(N4 {
        kids: [const { Member::null() }; 4],
        v: u64::from(d),
    });
    if d > 0 {
        for k in &n.kids {
            k.set(m, Some(n4_build(m, d - 1)));
        }
    }
    n
}

fn n4_count(m: &Mutator, n: Gc<'_, N4>) -> u64 {
    1 + n
        .kids
        .iter()
        .filter_map(|k| k.get(m))
        .map(|k| n4_count(m, k))
        .sum::<u64>()
}

struct Mk {
    m: Mutator,
    trees: Vec<Root<N4>>,
}

impl Mark for Mk {
    fn build(&mut self, depth: u32, copies: u32) {
        for _ in 0..copies {
            let r = {
                let t = n4_build(&self.m, depth);
                self.m.root(t)
            };
            self.trees.push(r);
            self.m.safepoint();
        }
    }

    fn collect(&mut self) {
        self.m.collect();
    }

    fn count(&mut self) -> u64 {
        self.trees
            .iter()
            .map(|r| n4_count(&self.m, r.get(&self.m)))
            .sum()
    }
}

/// mark on gomem (`Mutator::collect`).
pub fn mark(args: &mark::Args) -> Result<Measured, String> {
    let heap = heap_from_env(args.gctrace)?;
    let d = mark::drive(args, || Mk {
        m: heap.attach(),
        trees: Vec::new(),
    });
    Ok(Measured {
        mark: Some(d.stats),
        ..measured(&heap, d.check, d.wall)
    })
}
