//! The operations a worker runs (module `worker` picks them; the crate docs
//! list what each is for).
//!
//! Every operation that stores into the graph holds the model lock across
//! the store and the model update (`Oracle::slot_set`, or a direct edit of
//! `Model::nodes`/`Model::tags` next to a payload or tag store). Two of them
//! deliberately hold heap objects *without* the lock, which is where the
//! write barrier earns its keep: `op_subtree` builds a private subtree
//! before linking it (insertion half), and `op_move` unlinks a node and
//! keeps it only on its stack — recorded in `Model::in_flight` so the
//! verifier knows it must stay alive — while it allocates garbage and other
//! threads run (deletion half). `op_read` reads without the lock at all,
//! checking each node but not comparing it with a model others are
//! changing.

use std::sync::atomic::Ordering;

use gomem::Gc;

use crate::graph::{Node, KIDS, VEC_MAX};
use crate::model::{lock_model, Model, ModelNode, TagRecord};
use crate::oracle::Slot;
use crate::shared::Counter;
use crate::worker::{Mu, Worker};

/// Largest private subtree.
const MAX_SUBTREE: usize = 16;
/// Longest lock-free read.
const READ_DEPTH: usize = 32;

impl Worker<'_> {
    pub(crate) fn op_alloc_link(&mut self, m: &mut Mu<'_>) {
        let mut model = self.lock(m);
        let m = m.get();
        let Some((s, old)) = self.pick_slot(m, &model) else {
            return;
        };
        let (o, mut node, tag) = self.new_node(m);
        if let Some(old) = old.filter(|_| !self.rng.chance(1, 8)) {
            // Splice the new node above the old target.
            o.kids[0].set(m, Some(old));
            node.kids[0] = Some(old.id);
        }
        for k in 1..KIDS {
            if self.rng.chance(1, 5) {
                if let Some(x) = self.pick_node(m, &model) {
                    o.kids[k].set(m, Some(x));
                    node.kids[k] = Some(x.id);
                }
            }
        }
        model.insert(o.id, node, tag);
        self.oracle
            .shared
            .model_len
            .store(model.nodes.len(), Ordering::Relaxed);
        self.starve();
        self.oracle.slot_set(m, &mut model, s, Some(o));
    }

    pub(crate) fn op_subtree(&mut self, m: &mut Mu<'_>) {
        let m = m.get();
        let n = 1 + self.rng.below(MAX_SUBTREE);
        let mut nodes: Vec<(Gc<'_, Node>, ModelNode, Option<TagRecord>)> = Vec::with_capacity(n);
        for i in 0..n {
            let (o, node, tag) = self.new_node(m);
            if i > 0 {
                let p = self.rng.below(i);
                let k = self.rng.below(KIDS);
                nodes[p].0.kids[k].set(m, Some(o));
                nodes[p].1.kids[k] = Some(o.id);
            }
            nodes.push((o, node, tag));
            if self.rng.chance(1, 4) {
                let k = 1 + self.rng.below(4);
                self.churn(m, k, None);
            }
        }
        if n > 2 && self.rng.chance(1, 4) {
            // A back edge: a cycle inside the subtree.
            let (a, b) = (self.rng.below(n), self.rng.below(n));
            let k = self.rng.below(KIDS);
            nodes[a].0.kids[k].set(m, Some(nodes[b].0));
            nodes[a].1.kids[k] = Some(nodes[b].0.id);
        }
        // Attached, with the subtree only on this stack.
        self.starve();
        let mut model = lock_model(&self.oracle.shared.model);
        for (o, node, tag) in &nodes {
            model.insert(o.id, *node, *tag);
        }
        self.oracle
            .shared
            .model_len
            .store(model.nodes.len(), Ordering::Relaxed);
        for (o, _, _) in &nodes {
            if let Err(e) = self.oracle.inspect(m, *o) {
                self.fail(format!("a private subtree node: {e}"));
                return;
            }
        }
        let Some((s, old)) = self.pick_slot(m, &model) else {
            return;
        };
        let root = nodes[0].0;
        self.starve();
        if let Some(old) = old {
            // Keep the old target under the subtree's root if it has room.
            if let Some(k) = (0..KIDS).find(|&k| root.kids[k].is_null()) {
                root.kids[k].set(m, Some(old));
                model.nodes.get_mut(&root.id).expect("just inserted").kids[k] = Some(old.id);
            }
        }
        self.oracle.slot_set(m, &mut model, s, Some(root));
    }

    pub(crate) fn op_unlink(&mut self, m: &mut Mu<'_>) {
        let mut model = self.lock(m);
        let m = m.get();
        if let Some((s, _)) = self.pick_full(m, &model, 12) {
            self.oracle.slot_set(m, &mut model, s, None);
        }
    }

    pub(crate) fn op_move(&mut self, m: &mut Mu<'_>) {
        let shared = self.oracle.shared;
        let mut model = self.lock(m);
        let m = m.get();
        let Some((src, o)) = self.pick_full(m, &model, 4) else {
            return;
        };
        let id = o.id;
        self.oracle.slot_set(m, &mut model, src, None);
        shared.add(Counter::Moves, 1);
        if self.rng.chance(1, 2) {
            // The node lives only on this stack while others run.
            model.in_flight[self.thread].push(id);
            drop(model);
            let n = self.rng.below(48);
            self.churn(m, n, Some(o));
            if self.rng.chance(1, 4) {
                std::thread::yield_now();
            }
            self.starve();
            model = lock_model(&shared.model);
            Model::unhold(&mut model.in_flight, self.thread, id);
        } else {
            let n = self.rng.below(8);
            self.churn(m, n, Some(o));
        }
        if let Err(e) = self.oracle.inspect_and_compare(m, &model, o) {
            self.fail(format!("an object moved through the stack: {e}"));
            return;
        }
        if let Some((dst, _)) = self.pick_slot(m, &model) {
            self.oracle.slot_set(m, &mut model, dst, Some(o));
        }
    }

    pub(crate) fn op_copy(&mut self, m: &mut Mu<'_>) {
        let mut model = self.lock(m);
        let m = m.get();
        let Some((_, o)) = self.pick_full(m, &model, 3) else {
            return;
        };
        if let Some((dst, _)) = self.pick_slot(m, &model) {
            self.oracle.slot_set(m, &mut model, dst, Some(o));
        }
    }

    pub(crate) fn op_root(&mut self, m: &mut Mu<'_>) {
        let mut model = self.lock(m);
        let m = m.get();
        let i = self.rng.below(model.extra_roots.len());
        if self.rng.chance(1, 2) {
            if let Some(o) = self.pick_node(m, &model) {
                self.oracle.slot_set(m, &mut model, Slot::Extra(i), Some(o));
            }
        } else if model.extra_roots[i].is_some() {
            self.oracle.slot_set(m, &mut model, Slot::Extra(i), None);
        }
    }

    pub(crate) fn op_weak_take(&mut self, m: &mut Mu<'_>) {
        let mut model = self.lock(m);
        let m = m.get();
        let Some(o) = self.pick_node(m, &model) else {
            return;
        };
        model.add_weak(m, o, &mut self.rng);
    }

    pub(crate) fn op_weak_upgrade(&mut self, m: &mut Mu<'_>) {
        let shared = self.oracle.shared;
        let mut model = self.lock(m);
        let m = m.get();
        if model.weaks.is_empty() {
            return;
        }
        let i = self.rng.below(model.weaks.len());
        let want = model.weaks[i].id;
        match model.weaks[i].weak.upgrade(m) {
            Some(o) => {
                shared.add(Counter::WeakUpgrades, 1);
                self.starve();
                // The upgrade shaded the target (if a cycle is marking).
                model.touch(want);
                match self.oracle.node_id(o) {
                    Ok(id) if id == want => {}
                    Ok(id) => {
                        return self
                            .fail(format!("a Weak to object {want} upgraded to object {id}"))
                    }
                    Err(e) => {
                        return self.fail(format!("a Weak to object {want} upgraded to: {e}"))
                    }
                }
                // Its model entry is pinned by the weak, so the whole
                // subgraph can be checked and, sometimes, linked back.
                if let Err(e) = self.oracle.inspect_and_compare(m, &model, o) {
                    return self.fail(format!("object {want} from a Weak upgrade: {e}"));
                }
                if self.rng.chance(1, 3) {
                    if let Some((dst, _)) = self.pick_slot(m, &model) {
                        self.oracle.slot_set(m, &mut model, dst, Some(o));
                        shared.add(Counter::Resurrections, 1);
                    }
                }
            }
            None => {
                shared.add(Counter::WeakCleared, 1);
                if self.rng.chance(1, 2) {
                    model.weaks.swap_remove(i);
                }
            }
        }
    }

    pub(crate) fn op_payload(&mut self, m: &mut Mu<'_>) {
        let mut model = self.lock(m);
        let m = m.get();
        let Some(o) = self.pick_node(m, &model) else {
            return;
        };
        let len = if self.rng.chance(1, 4) {
            o.payload.set(m, None);
            None
        } else {
            let (p, len) = self.new_payload(m, o.id);
            o.payload.set(m, Some(p));
            Some(len)
        };
        if let Some(node) = model.nodes.get_mut(&o.id) {
            node.payload = len;
        }
    }

    pub(crate) fn op_tag(&mut self, m: &mut Mu<'_>) {
        let mut model = self.lock(m);
        let m = m.get();
        let Some(o) = self.pick_node(m, &model) else {
            return;
        };
        let id = o.id;
        // Every case overwrites the tag or its back edge: the barrier may
        // shade the old tag, which keeps its back edge's target one more cycle.
        let old_tag = model.nodes.get(&id).and_then(|n| n.tag);
        if let Some(Some(b)) = old_tag.and_then(|t| model.tags.get(&t).copied()) {
            model.touch(b);
        }
        match self.rng.below(4) {
            0 => {
                let back = if self.rng.chance(1, 2) {
                    self.pick_node(m, &model)
                } else {
                    None
                };
                let (t, tid) = self.new_tag(m, back);
                o.tag.set(m, Some(t));
                model.tags.insert(tid, back.map(|b| b.id));
                model.nodes.get_mut(&id).expect("checked node").tag = Some(tid);
            }
            1 => {
                o.tag.set(m, None);
                model.nodes.get_mut(&id).expect("checked node").tag = None;
            }
            2 => {
                // Share another node's tag.
                let Some(p) = self.pick_node(m, &model) else {
                    return;
                };
                let t = p.tag.get(m);
                o.tag.set(m, t);
                let tid = model.nodes.get(&p.id).expect("checked node").tag;
                model.nodes.get_mut(&id).expect("checked node").tag = tid;
            }
            _ => {
                let Some(t) = o.tag.get(m) else { return };
                let back = self.pick_node(m, &model);
                t.back.set(m, back);
                let tid = model
                    .nodes
                    .get(&id)
                    .expect("checked node")
                    .tag
                    .expect("tagged");
                model.tags.insert(tid, back.map(|b| b.id));
            }
        }
    }

    pub(crate) fn op_vec(&mut self, m: &mut Mu<'_>) {
        let mut model = self.lock(m);
        let m = m.get();
        if let Err(e) = self.oracle.check_frame(m) {
            return self.fail(e);
        }
        let v = self.oracle.vector.get(m);
        let r = self.rng.below(3);
        if (r == 0 && model.vector.len() < VEC_MAX) || model.vector.is_empty() {
            let o = self.pick_node(m, &model).filter(|_| self.rng.chance(7, 8));
            v.push(m, o);
            model.vector.push(o.map(|o| o.id));
            self.oracle.shared.add(
                if o.is_some() {
                    Counter::Links
                } else {
                    Counter::Unlinks
                },
                1,
            );
        } else if r == 1 || model.vector.len() >= VEC_MAX {
            let got = v.pop(m).map(|o| self.oracle.node_id(o)).transpose();
            let want = model.vector.pop().flatten();
            if let Some(w) = want {
                model.touch(w);
            }
            match got {
                Ok(id) if id == want => self.oracle.shared.add(Counter::Unlinks, 1),
                Ok(id) => self.fail(format!(
                    "Vector::pop returned {id:?}, the model says {want:?}"
                )),
                Err(e) => self.fail(format!("Vector::pop: {e}")),
            }
        } else {
            let i = self.rng.below(model.vector.len());
            let o = self.pick_node(m, &model).filter(|_| self.rng.chance(3, 4));
            self.oracle.slot_set(m, &mut model, Slot::Vec(i), o);
        }
    }

    pub(crate) fn op_garbage(&mut self, m: &mut Mu<'_>) {
        let m = m.get();
        let n = 1 + self.rng.below(32);
        self.churn(m, n, None);
        if self.rng.chance(1, 4) {
            // A Weak to a node that was never reachable: it must clear.
            let (o, node, tag) = self.new_node(m);
            let mut model = lock_model(&self.oracle.shared.model);
            model.insert(o.id, node, tag);
            model.add_weak(m, o, &mut self.rng);
        }
    }

    /// Reads a random path without the lock, while others rewire it.
    pub(crate) fn op_read(&mut self, m: &mut Mu<'_>) {
        let m = m.get();
        if let Err(e) = self.oracle.check_frame(m) {
            return self.fail(format!("lock-free read: {e}"));
        }
        let mut cur = if self.rng.chance(1, 8) {
            let v = self.oracle.vector.get(m);
            let len = v.len();
            if len == 0 {
                return;
            }
            v.get(m, self.rng.below(len))
        } else {
            let arr = self.oracle.root_array.get(m);
            arr[self.rng.below(arr.len())].get(m)
        };
        for _ in 0..READ_DEPTH {
            let Some(o) = cur else { return };
            self.starve();
            if let Err(e) = self.oracle.inspect(m, o) {
                return self.fail(format!("lock-free read: {e}"));
            }
            cur = if self.rng.chance(1, 6) {
                o.tag.get(m).and_then(|t| t.back.get(m))
            } else {
                o.kids[self.rng.below(KIDS)].get(m)
            };
        }
    }
}
