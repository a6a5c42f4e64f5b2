//! The full verification: under the model lock, the whole heap graph is
//! walked from its roots and compared with the model walked from its roots.
//!
//! In order: the frame (root array and vector headers); each root — root
//! slot, extra root, vector element — must hold what the model says; every
//! node, cell and key reached in the heap (through kids, tags' back edges,
//! value slots, cells' node links and map values) is inspected (module
//! `inspect`) and compared with the model, and no two may carry one id;
//! the set the heap reaches must equal the set the model reaches. Then the
//! weak pointers (module `weak`) and the weak set of keys (module `keys`)
//! are checked, both against what the model says is alive (reachable from
//! the roots, the stacks in flight and the value stacks) and against the
//! nodes touched since the last verification; and finally the model is
//! pruned to what can still matter (`Model::prune`). The first mismatch
//! stops the verification and is recorded as a failure; the model is then
//! left unpruned.
//!
//! One thread verifies at a time (the lock), every `verify_every`, or every
//! `PRUNE_EVERY_MS` while the model map is full (module `worker`), and once
//! more at the end (module `teardown`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use gomem::{Gc, Mutator};

use crate::graph::Node;
use crate::model::Model;
use crate::oracle::Oracle;
use crate::shared::Counter;
use crate::values::Obj;

impl Oracle<'_> {
    /// The full verification (module header), under the lock; `who` names
    /// the verifier in a failure. Returns the number of reachable nodes, or
    /// `None` after a failure.
    pub(crate) fn verify(&self, m: &Mutator, model: &mut Model, who: &str) -> Option<usize> {
        let checked = self.verify_graph(m, model).and_then(|reachable| {
            let reset = model.touched_reach();
            let (alive, _) = model.reach(model.live_seeds());
            self.check_weaks(m, model, &alive, &reset)?;
            self.check_keys(m, model, &alive, &reset)?;
            Ok(reachable)
        });
        match checked {
            Err(msg) => {
                self.fail(who, format!("verification: {msg}"));
                None
            }
            Ok(reachable) => {
                model.prune();
                self.shared
                    .model_len
                    .store(model.nodes.len(), Ordering::Relaxed);
                Some(reachable)
            }
        }
    }

    /// The heap graph against the model graph; the number of reachable
    /// nodes (cells and keys not counted: the mix steers the node count).
    fn verify_graph(&self, m: &Mutator, model: &Model) -> Result<usize, String> {
        let mut stack: Vec<Gc<'_, Node>> = Vec::new();
        self.check_frame(m)?;
        let id_of = |o: Option<Gc<'_, Node>>| -> Result<Option<u64>, String> {
            o.map(|o| self.node_id(o)).transpose()
        };
        for (i, s) in self.root_array.get(m).iter().enumerate() {
            let h = s.get(m);
            match id_of(h) {
                Err(e) => return Err(format!("root slot {i}: {e}")),
                Ok(hid) if hid != model.root_slots[i] => {
                    return Err(format!(
                        "root slot {i}: the heap holds {hid:?}, the model says {:?}",
                        model.root_slots[i]
                    ))
                }
                Ok(_) => stack.extend(h),
            }
        }
        for (i, e) in model.extra_roots.iter().enumerate() {
            if let Some((id, r)) = e {
                let o = r.get(m);
                match self.node_id(o) {
                    Err(e) => return Err(format!("extra root {i}: {e}")),
                    Ok(h) if h != *id => {
                        return Err(format!(
                            "extra root {i}: the heap holds {h}, the model {id}"
                        ))
                    }
                    Ok(_) => stack.push(o),
                }
            }
        }
        let v = self.vector.get(m);
        if v.len() != model.vector.len() {
            return Err(format!(
                "the vector has length {}, the model {}",
                v.len(),
                model.vector.len()
            ));
        }
        for i in 0..v.len() {
            let h = v.get(m, i);
            match id_of(h) {
                Err(e) => return Err(format!("vector element {i}: {e}")),
                Ok(hid) if hid != model.vector[i] => {
                    return Err(format!(
                        "vector element {i}: the heap holds {hid:?}, the model says {:?}",
                        model.vector[i]
                    ))
                }
                Ok(_) => stack.extend(h),
            }
        }
        let mut visited: HashSet<usize> = HashSet::with_capacity(model.nodes.len());
        let mut ids: HashMap<u64, usize> =
            HashMap::with_capacity(model.nodes.len() + model.objs.len());
        let mut objs: Vec<Gc<'_, Obj>> = Vec::new();
        let mut nodes = 0;
        loop {
            let (addr, id) = if let Some(o) = stack.pop() {
                let addr = o.as_ptr() as usize;
                if !visited.insert(addr) {
                    continue;
                }
                let read = self.inspect(m, o)?;
                self.compare(model, &read)?;
                stack.extend(o.kids.iter().filter_map(|k| k.get(m)));
                if let Some(b) = o.tag.get(m).and_then(|t| t.back.get(m)) {
                    stack.push(b);
                }
                objs.extend(o.vals.iter().filter_map(|v| v.get(m).as_gc()));
                nodes += 1;
                (addr, read.id)
            } else if let Some(x) = objs.pop() {
                let addr = x.as_ptr() as usize;
                if !visited.insert(addr) {
                    continue;
                }
                let read = self.inspect_obj(m, x, true)?;
                self.compare_obj(model, &read)?;
                if let Some(c) = x.into_ref().cell() {
                    objs.extend(c.vals.iter().filter_map(|v| v.get(m).as_gc()));
                    c.map.for_each(m, |_, v| objs.extend(v.as_gc()));
                    stack.extend(c.node.get(m));
                }
                (addr, read.id)
            } else {
                break;
            };
            if let Some(other) = ids.insert(id, addr) {
                return Err(format!(
                    "two objects carry id {id}: at {other:#x} and at {addr:#x}"
                ));
            }
        }
        let (reach, _) = model.reach(model.root_ids());
        if reach.len() != ids.len() || reach.iter().any(|id| !ids.contains_key(id)) {
            let missing: Vec<u64> = reach
                .iter()
                .filter(|id| !ids.contains_key(id))
                .take(8)
                .copied()
                .collect();
            let extra: Vec<u64> = ids
                .keys()
                .filter(|id| !reach.contains(id))
                .take(8)
                .copied()
                .collect();
            return Err(format!(
                "the heap reaches {} objects, the model {}; in the model only: {missing:?}; in the heap only: {extra:?}",
                ids.len(),
                reach.len()
            ));
        }
        self.shared.add(Counter::Verifications, 1);
        self.shared.reachable.store(nodes, Ordering::Relaxed);
        self.shared
            .max_reachable
            .fetch_max(ids.len(), Ordering::Relaxed);
        Ok(nodes)
    }
}
