//! The `gc-arena` peer (kyren's incremental, arena-scoped mark-sweep, as in
//! the Ruffle and piccolo interpreters).
//!
//! A `gc_arena::Arena` owns a root; objects are reachable only from inside
//! `Arena::mutate`, and nothing is collected during a `mutate` call. The
//! collector runs only when asked, outside `mutate`: `collect_debt` does
//! incremental work in proportion to what was allocated (its pacing),
//! `finish_cycle` completes a cycle (a full one when the arena is asleep).
//!
//! So every workload is a sequence of small `mutate` calls — one per tree,
//! one per push — each followed by `collect_debt`; every `collect_debt`
//! call that had debt to pay is timed as a pause. The mark workload's
//! forced collection is `finish_cycle` (after one untimed call that finishes
//! whatever cycle the build left running, `finish_cycle` starts from sleep
//! and runs a complete cycle).
//!
//! Mutation goes through `Lock` fields and `Gc::write` (gc-arena's backward
//! write barrier, which re-greys the written object). The latency window
//! lives in the arena root and is replaced through `mutate_root`, whose
//! root barrier makes the collector re-trace the whole root (all W slots)
//! whenever a push lands while it is marking (a cost of this design that
//! Go's and gomem's field-level barrier do not have; it is paid inside the
//! timed push). gc-arena keeps no collection count, so `gc_count` is null.

use std::time::Duration;

use gc_arena::barrier::unlock;
use gc_arena::{Arena, Collect, Gc, Lock, Mutation, Rootable};

use super::{Implementation, Measured, Pauses};
use crate::binarytrees::{self, BinaryTrees};
use crate::gcbench::{self, GcBench};
use crate::latency::{self, Latency, MSG_BYTES};
use crate::mark::{self, Mark};

/// The gc-arena peer as `run-one` dispatches to it.
pub const IMPLEMENTATION: Implementation =
    Implementation::new(binary_trees, gcbench, latency, Some(mark));

/// Pays the arena's allocation debt, timing the call when there was any.
fn pay<R>(arena: &mut Arena<R>, pauses: &mut Vec<Duration>)
where
    R: for<'a> Rootable<'a>,
    for<'a> <R as Rootable<'a>>::Root: Collect<'a>,
{
    if arena.metrics().allocation_debt() > 0.0 {
        super::timed(pauses, || arena.collect_debt());
    }
}

// ---- binary-trees ---------------------------------------------------------

#[derive(Collect)]
#[collect(no_drop)]
struct BtNode<'gc> {
    left: Option<Gc<'gc, BtNode<'gc>>>,
    right: Option<Gc<'gc, BtNode<'gc>>>,
}

#[derive(Collect)]
#[collect(no_drop)]
struct BtRoot<'gc> {
    long_lived: Option<Gc<'gc, BtNode<'gc>>>,
}

fn bt_build<'gc>(mc: &Mutation<'gc>, d: u32) -> Gc<'gc, BtNode<'gc>> {
    let (left, right) = if d == 0 {
        (None, None)
    } else {
        (Some(bt_build(mc, d - 1)), Some(bt_build(mc, d - 1)))
    };
    Gc::new(mc, BtNode { left, right })
}

fn bt_count(n: Gc<'_, BtNode<'_>>) -> u64 {
    match (n.left, n.right) {
        (Some(l), Some(r)) => 1 + bt_count(l) + bt_count(r),
        _ => 1,
    }
}

struct Bt {
    arena: Arena<Rootable![BtRoot<'_>]>,
    pauses: Vec<Duration>,
}

impl BinaryTrees for Bt {
    fn churn(&mut self, d: u32) -> u64 {
        let n = self.arena.mutate(|mc, _| bt_count(bt_build(mc, d)));
        pay(&mut self.arena, &mut self.pauses);
        n
    }
    fn make_long_lived(&mut self, d: u32) {
        self.arena
            .mutate_root(|mc, root| root.long_lived = Some(bt_build(mc, d)));
        pay(&mut self.arena, &mut self.pauses);
    }
    fn long_lived_count(&mut self) -> u64 {
        self.arena
            .mutate(|_, root| bt_count(root.long_lived.expect("long-lived tree")))
    }
}

/// binary-trees on gc-arena.
pub fn binary_trees(args: &binarytrees::Args) -> Result<Measured, String> {
    let mut h = Bt {
        arena: Arena::new(|_| BtRoot { long_lived: None }),
        pauses: Vec::new(),
    };
    let (check, wall) = super::timed_lines(|| binarytrees::drive(&mut h, args));
    Ok(Measured {
        check,
        wall,
        pauses: Pauses::from_samples(&mut h.pauses),
        ..Measured::default()
    })
}

// ---- gcbench --------------------------------------------------------------

type NodePtr<'gc> = Gc<'gc, Node<'gc>>;

/// `i` and `j` are the original benchmark's payload: written, never read.
#[derive(Collect)]
#[collect(no_drop)]
#[allow(dead_code)]
struct Node<'gc> {
    left: Lock<Option<NodePtr<'gc>>>,
    right: Lock<Option<NodePtr<'gc>>>,
    parent: Lock<Option<NodePtr<'gc>>>,
    i: i32,
    j: i32,
}

fn new_node<'gc>(mc: &Mutation<'gc>, parent: Option<NodePtr<'gc>>) -> NodePtr<'gc> {
    Gc::new(
        mc,
        Node {
            left: Lock::new(None),
            right: Lock::new(None),
            parent: Lock::new(parent),
            i: 0,
            j: 0,
        },
    )
}

fn populate<'gc>(mc: &Mutation<'gc>, d: u32, node: NodePtr<'gc>) {
    if d > 0 {
        let l = new_node(mc, Some(node));
        unlock!(Gc::write(mc, node), Node, left).set(Some(l));
        let r = new_node(mc, Some(node));
        unlock!(Gc::write(mc, node), Node, right).set(Some(r));
        populate(mc, d - 1, l);
        populate(mc, d - 1, r);
    }
}

fn make_tree<'gc>(mc: &Mutation<'gc>, d: u32) -> NodePtr<'gc> {
    if d == 0 {
        return new_node(mc, None);
    }
    let l = make_tree(mc, d - 1);
    let r = make_tree(mc, d - 1);
    let n = Gc::new(
        mc,
        Node {
            left: Lock::new(Some(l)),
            right: Lock::new(Some(r)),
            parent: Lock::new(None),
            i: 0,
            j: 0,
        },
    );
    unlock!(Gc::write(mc, l), Node, parent).set(Some(n));
    unlock!(Gc::write(mc, r), Node, parent).set(Some(n));
    n
}

fn count(n: NodePtr<'_>) -> u64 {
    1 + n.left.get().map_or(0, count) + n.right.get().map_or(0, count)
}

#[derive(Collect)]
#[collect(no_drop)]
struct GcbRoot<'gc> {
    long_lived: Option<NodePtr<'gc>>,
    array: Vec<f64>,
}

struct Gcb {
    arena: Arena<Rootable![GcbRoot<'_>]>,
    pauses: Vec<Duration>,
}

impl GcBench for Gcb {
    fn stretch(&mut self, d: u32) -> u64 {
        self.bottom_up(d)
    }
    fn make_long_lived(&mut self, d: u32, array_len: usize) {
        self.arena.mutate_root(|mc, root| {
            let t = new_node(mc, None);
            populate(mc, d, t);
            root.long_lived = Some(t);
            root.array = (0..array_len)
                .map(|i| gcbench::array_value(i, array_len))
                .collect();
        });
        pay(&mut self.arena, &mut self.pauses);
    }
    fn top_down(&mut self, d: u32) -> u64 {
        let n = self.arena.mutate(|mc, _| {
            let t = new_node(mc, None);
            populate(mc, d, t);
            count(t)
        });
        pay(&mut self.arena, &mut self.pauses);
        n
    }
    fn bottom_up(&mut self, d: u32) -> u64 {
        let n = self.arena.mutate(|mc, _| count(make_tree(mc, d)));
        pay(&mut self.arena, &mut self.pauses);
        n
    }
    fn long_lived_count(&mut self) -> u64 {
        self.arena
            .mutate(|_, root| count(root.long_lived.expect("long-lived tree")))
    }
    fn array_get(&mut self, i: usize) -> f64 {
        self.arena.mutate(|_, root| root.array[i])
    }
}

/// gcbench on gc-arena (plain parent pointers: the trees are cyclic).
pub fn gcbench(args: &gcbench::Args) -> Result<Measured, String> {
    let mut h = Gcb {
        arena: Arena::new(|_| GcbRoot {
            long_lived: None,
            array: Vec::new(),
        }),
        pauses: Vec::new(),
    };
    let (check, wall) = super::timed_lines(|| gcbench::drive(&mut h, args));
    Ok(Measured {
        check,
        wall,
        pauses: Pauses::from_samples(&mut h.pauses),
        ..Measured::default()
    })
}

// ---- latency --------------------------------------------------------------

#[derive(Collect)]
#[collect(require_static)]
struct Msg {
    data: [u8; MSG_BYTES],
}

#[derive(Collect)]
#[collect(no_drop)]
struct Window<'gc> {
    slots: Vec<Option<Gc<'gc, Msg>>>,
}

struct Lat {
    arena: Arena<Rootable![Window<'_>]>,
    pauses: Vec<Duration>,
}

impl Latency for Lat {
    #[inline]
    fn push(&mut self, i: u64, slot: usize) {
        self.arena.mutate_root(|mc, w| {
            w.slots[slot] = Some(Gc::new(
                mc,
                Msg {
                    data: [latency::msg_byte(i); MSG_BYTES],
                },
            ));
        });
        pay(&mut self.arena, &mut self.pauses);
    }
    fn checksum(&mut self) -> u64 {
        self.arena.mutate(|_, w| {
            w.slots
                .iter()
                .flatten()
                .map(|m| u64::from(m.data[0]) + u64::from(m.data[MSG_BYTES - 1]))
                .sum()
        })
    }
    fn take_pauses(&mut self) -> Vec<Duration> {
        std::mem::take(&mut self.pauses)
    }
}

/// latency on gc-arena.
pub fn latency(args: &latency::Args) -> Result<Measured, String> {
    let mut d = latency::drive(args, |w| Lat {
        arena: Arena::new(|_| Window {
            slots: vec![None; w],
        }),
        pauses: Vec::new(),
    });
    Ok(Measured {
        check: d.check,
        wall: d.wall,
        latency: Some(d.latency),
        pauses: Pauses::from_samples(&mut d.pauses),
        ..Measured::default()
    })
}

// ---- mark -----------------------------------------------------------------

/// `v` is payload, written, never read.
#[derive(Collect)]
#[collect(no_drop)]
#[allow(dead_code)]
struct N4<'gc> {
    kids: [Option<Gc<'gc, N4<'gc>>>; 4],
    v: u64,
}

fn n4_build<'gc>(mc: &Mutation<'gc>, d: u32) -> Gc<'gc, N4<'gc>> {
    let kids = if d == 0 {
        [None; 4]
    } else {
        std::array::from_fn(|_| Some(n4_build(mc, d - 1)))
    };
    Gc::new(
        mc,
        N4 {
            kids,
            v: u64::from(d),
        },
    )
}

fn n4_count(n: Gc<'_, N4<'_>>) -> u64 {
    1 + n.kids.iter().flatten().map(|&k| n4_count(k)).sum::<u64>()
}

#[derive(Collect)]
#[collect(no_drop)]
struct Trees<'gc> {
    trees: Vec<Gc<'gc, N4<'gc>>>,
}

struct Mk {
    arena: Arena<Rootable![Trees<'_>]>,
}

impl Mark for Mk {
    fn build(&mut self, depth: u32, copies: u32) {
        for _ in 0..copies {
            self.arena
                .mutate_root(|mc, root| root.trees.push(n4_build(mc, depth)));
            self.arena.collect_debt();
        }
    }
    fn collect(&mut self) {
        self.arena.finish_cycle();
    }
    fn count(&mut self) -> u64 {
        self.arena
            .mutate(|_, root| root.trees.iter().map(|&t| n4_count(t)).sum())
    }
}

/// mark on gc-arena (`finish_cycle` from sleep: a full cycle).
pub fn mark(args: &mark::Args) -> Result<Measured, String> {
    let d = mark::drive(args, || Mk {
        arena: Arena::new(|_| Trees { trees: Vec::new() }),
    });
    Ok(Measured {
        check: d.check,
        wall: d.wall,
        mark: Some(d.stats),
        ..Measured::default()
    })
}
