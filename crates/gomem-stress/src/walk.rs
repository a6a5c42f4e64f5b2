//! Random walks from the roots, under the model lock: how an operation
//! picks the slot it stores into and the nodes it links.
//!
//! A walk starts at a random root (a root slot 70% of the time, an extra
//! root 15%, a vector element otherwise) and follows random kids, stopping
//! at each node with probability `1/stop` (a deeper walk, as unlinks use,
//! cuts a smaller subgraph). Every slot it passes is read and checked
//! against the model, and every node it meets is inspected and compared
//! (`read_slot`), so walks are also the oracle's most frequent check. A
//! failed check is recorded and ends the walk with `None`; the operation
//! then does nothing.

use gomem::{Gc, Mutator};

use crate::graph::{Node, KIDS};
use crate::model::Model;
use crate::oracle::Slot;
use crate::worker::Worker;

/// Longest walk.
const MAX_DEPTH: usize = 24;

impl Worker<'_> {
    /// A random root slot (module header).
    fn start_slot<'m>(&mut self, model: &Model) -> Slot<'m> {
        match self.rng.below(100) {
            0..=69 => Slot::Root(self.rng.below(model.root_slots.len())),
            70..=84 => Slot::Extra(self.rng.below(model.extra_roots.len())),
            _ if !model.vector.is_empty() => Slot::Vec(self.rng.below(model.vector.len())),
            _ => Slot::Root(self.rng.below(model.root_slots.len())),
        }
    }

    /// Checks what a slot `s` holds in the heap (`in_heap`, or the error
    /// reading it) against what the model says it holds (`None`: the model
    /// does not know the holder); reports a difference and returns `None`,
    /// else the heap's value.
    /// Shared by graph slots and value slots (module `vslot`).
    pub(crate) fn heap_agrees_with_model<T: PartialEq + std::fmt::Debug>(
        &mut self,
        s: &dyn std::fmt::Display,
        in_heap: Result<T, String>,
        in_model: Option<T>,
    ) -> Option<T> {
        let in_heap = match in_heap {
            Ok(x) => x,
            Err(e) => {
                self.fail(format!("{s}: {e}"));
                return None;
            }
        };
        let Some(in_model) = in_model else {
            self.fail(format!("{s}: the model does not know the holder"));
            return None;
        };
        if in_heap != in_model {
            self.fail(format!(
                "{s}: the heap holds {in_heap:?}, the model says {in_model:?}"
            ));
            return None;
        }
        Some(in_heap)
    }

    /// Reads a slot and checks it (and its node) against the model.
    fn read_slot<'m>(
        &mut self,
        m: &'m Mutator,
        model: &Model,
        s: Slot<'m>,
    ) -> Option<Option<Gc<'m, Node>>> {
        let h = self.oracle.slot_get(m, model, s);
        self.starve();
        let in_heap = h.map(|o| self.oracle.node_id(o)).transpose();
        self.heap_agrees_with_model(&s, in_heap, s.in_model(model))?;
        if let Some(o) = h {
            if let Err(e) = self.oracle.inspect_and_compare(m, model, o) {
                self.fail(format!("via {s}: {e}"));
                return None;
            }
        }
        Some(h)
    }

    /// A random walk from a root: a slot and what it holds.
    pub(crate) fn pick_slot<'m>(
        &mut self,
        m: &'m Mutator,
        model: &Model,
    ) -> Option<(Slot<'m>, Option<Gc<'m, Node>>)> {
        self.walk(m, model, 3)
    }

    /// A random walk from a root that stops at each node with probability
    /// `1/stop`: a slot and what it holds.
    fn walk<'m>(
        &mut self,
        m: &'m Mutator,
        model: &Model,
        stop: usize,
    ) -> Option<(Slot<'m>, Option<Gc<'m, Node>>)> {
        if let Err(e) = self.oracle.check_frame(m) {
            self.fail(e);
            return None;
        }
        let mut s = self.start_slot(model);
        for _ in 0..MAX_DEPTH {
            match self.read_slot(m, model, s)? {
                Some(o) if !self.rng.chance(1, stop) => s = Slot::Kid(o, self.rng.below(KIDS)),
                cur => return Some((s, cur)),
            }
        }
        let cur = self.read_slot(m, model, s)?;
        Some((s, cur))
    }

    /// A slot that holds a node, if one is found in a few walks; `stop` as
    /// in [`Worker::walk`].
    pub(crate) fn pick_full<'m>(
        &mut self,
        m: &'m Mutator,
        model: &Model,
        stop: usize,
    ) -> Option<(Slot<'m>, Gc<'m, Node>)> {
        for _ in 0..6 {
            if let (s, Some(o)) = self.walk(m, model, stop)? {
                return Some((s, o));
            }
        }
        None
    }

    /// A reachable node, if one is found in a few walks.
    pub(crate) fn pick_node<'m>(&mut self, m: &'m Mutator, model: &Model) -> Option<Gc<'m, Node>> {
        for _ in 0..4 {
            match self.pick_slot(m, model)? {
                (_, Some(o)) | (Slot::Kid(o, _), None) => return Some(o),
                _ => {}
            }
        }
        None
    }
}
