//! The oracle's handles on one run, and the slots of the graph.
//!
//! [`Oracle`] is what every thread holds: the shared state (module
//! `shared`), the heap, the two heap objects the roots live in (the root
//! array and the vector, each held by a `Root`) and the weak set of keys.
//! It is `Copy`; its methods are spread over the modules by concept:
//! reading and checking an object (`inspect`), the full verification
//! (`verify`), the weak checks (`weak`), value slots (`vslot`), the weak
//! set (`keys`). This module has the part that touches node slots.
//!
//! A [`Slot`] is a place that holds a pointer to a node: a root slot, a kid
//! of a node, an extra root, a vector element. [`Oracle::slot_set`] is the
//! one way the oracle stores a node pointer into a slot: it updates the heap
//! and the model together, so it must be called under the model lock (it
//! takes the locked `Model` to make that hard to forget).

use std::fmt;

use gomem::{Gc, Heap, Member, Mutator, Root, Slice, Vector, WeakSet};

use crate::graph::Node;
use crate::model::Model;
use crate::shared::{Counter, Shared};
use crate::values::Obj;

/// Everything a thread needs: the shared state and the heap handles.
#[derive(Clone, Copy)]
pub(crate) struct Oracle<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) heap: &'a Heap,
    /// The root array (its slots are `Slot::Root`).
    pub(crate) root_array: &'a Root<Slice<Member<Node>>>,
    /// The vector (its elements are `Slot::Vec`).
    pub(crate) vector: &'a Root<Vector<Node>>,
    /// The weak set of keys (module `keys`).
    pub(crate) keys: &'a WeakSet<Obj>,
}

/// A place that holds a pointer to a node.
#[derive(Clone, Copy)]
pub(crate) enum Slot<'m> {
    /// A slot of the root array.
    Root(usize),
    /// Kid `k` of a node.
    Kid(Gc<'m, Node>, usize),
    /// An extra root (a `Root<Node>` owned by the model).
    Extra(usize),
    /// An element of the vector.
    Vec(usize),
}

impl fmt::Display for Slot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slot::Root(i) => write!(f, "root slot {i}"),
            Slot::Kid(o, k) => write!(f, "kid {k} of object {} (at {:p})", o.id, o.as_ptr()),
            Slot::Extra(i) => write!(f, "extra root {i}"),
            Slot::Vec(i) => write!(f, "vector element {i}"),
        }
    }
}

impl Slot<'_> {
    /// What the model says the slot holds; `None` when the model does not
    /// know the slot's holder (a node pruned from the model).
    pub(crate) fn in_model(self, model: &Model) -> Option<Option<u64>> {
        match self {
            Slot::Root(i) => Some(model.root_slots[i]),
            Slot::Kid(o, k) => model.nodes.get(&o.id).map(|n| n.kids[k]),
            Slot::Extra(i) => Some(model.extra_roots[i].as_ref().map(|(id, _)| *id)),
            Slot::Vec(i) => model.vector.get(i).copied(),
        }
    }
}

impl Oracle<'_> {
    /// Records a failure, with the time, the thread and the GC's state.
    pub(crate) fn fail(&self, who: &str, msg: String) {
        let s = self.heap.gc_summary();
        self.shared.record(format!(
            "[{:.3}s {who}, {} cycles done, phase {:?}] {msg}",
            self.shared.start.elapsed().as_secs_f64(),
            s.cycles,
            self.heap.gc_phase()
        ));
    }

    /// What the slot holds in the heap (unchecked).
    pub(crate) fn slot_get<'m>(
        &self,
        m: &'m Mutator,
        model: &Model,
        s: Slot<'m>,
    ) -> Option<Gc<'m, Node>> {
        match s {
            Slot::Root(i) => self.root_array.get(m)[i].get(m),
            Slot::Kid(o, k) => o.kids[k].get(m),
            Slot::Extra(i) => model.extra_roots[i].as_ref().map(|(_, r)| r.get(m)),
            Slot::Vec(i) => self.vector.get(m).get(m, i),
        }
    }

    /// Stores into a slot and the model together (under the lock).
    pub(crate) fn slot_set(
        &self,
        m: &Mutator,
        model: &mut Model,
        s: Slot<'_>,
        v: Option<Gc<'_, Node>>,
    ) {
        let id = v.map(|o| o.id);
        if let Some(Some(old)) = s.in_model(model) {
            model.touch(old);
        }
        match s {
            Slot::Root(i) => {
                self.root_array.get(m)[i].set(m, v);
                model.root_slots[i] = id;
            }
            Slot::Kid(o, k) => {
                o.kids[k].set(m, v);
                if let Some(n) = model.nodes.get_mut(&o.id) {
                    n.kids[k] = id;
                }
            }
            Slot::Extra(i) => match (v, model.extra_roots[i].as_mut()) {
                (Some(o), Some((rid, root))) => {
                    root.set(m, o);
                    *rid = o.id;
                }
                (Some(o), None) => model.extra_roots[i] = Some((o.id, m.root(o))),
                (None, _) => model.extra_roots[i] = None,
            },
            Slot::Vec(i) => {
                self.vector.get(m).set(m, i, v);
                model.vector[i] = id;
            }
        }
        self.shared.add(
            if v.is_some() {
                Counter::Links
            } else {
                Counter::Unlinks
            },
            1,
        );
    }
}
