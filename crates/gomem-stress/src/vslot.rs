//! Value slots and heap maps: the places that hold a `Value`, the one way
//! the oracle stores into them, and the operations on them.
//!
//! A [`VSlot`] is a node's value slot, a cell's value slot, or the entry of
//! a number key in a cell's `HeapMap`. [`Oracle::vslot_set`] stores into
//! one and updates the model together (under the lock, like `slot_set`): a
//! pointer it overwrites is touched (the barrier's deletion half may have
//! shaded it, module `weak`). Removing a map entry drops its value from
//! the model at once: a `HeapMap` clears a removed entry's value (it once
//! kept it in its backing array until the array was rebuilt, which the
//! liveness checks here reported as an object kept alive past its time).
//!
//! Slots are picked by a walk ([`Worker::pick_vslot`]): a node picked by a
//! walk from the roots, one of its value slots, and, while the value is a
//! cell, two times in three down into one of the cell's slots or map
//! entries. Every
//! value passed is read, decoded and compared with the model, and every
//! object met is inspected whole (module `inspect`).
//!
//! The operations:
//! * `op_vslot` stores into a picked slot: an immediate derived from the
//!   slot's owner (often overwriting a pointer: the deletion half), a new
//!   cell (sometimes linked to a node), another slot's object (sharing,
//!   cycles through values), an interned key (module `keys`), or removes a
//!   map entry; or it retargets a cell's node link.
//! * `op_vmove` moves a pointer through the stack: it reads a value slot
//!   holding an object, overwrites it with an immediate, and — half the
//!   time with the lock released, the object recorded in
//!   `Model::in_flight` — allocates garbage before storing the value
//!   elsewhere.
//! * `op_vread` reads values without the lock while others rewrite them:
//!   from a root down kids and value edges, decoding every value and
//!   checking every object (immediates against their owner, objects'
//!   kinds, canaries and keys' texts), reading maps with `for_each` and
//!   `get` while their writers hold only the map's lock.

use std::fmt;

use gomem::{Gc, HeapMap, Member, Mutator, Value, ValueSlot};

use crate::graph::{Node, KIDS};
use crate::keys::KeyEv;
use crate::model::{lock_model, Model};
use crate::oracle::Oracle;
use crate::shared::Counter;
use crate::values::{
    cell_canary, imm, imm_plausible, Cell, MCell, MObj, MVal, Obj, CELL_VALS, MAP_KEYS, VALS,
};
use crate::worker::{Mu, Worker};

/// Longest descent through cells when picking a value slot.
const MAX_VDEPTH: usize = 6;
/// Longest lock-free read.
const VREAD_DEPTH: usize = 24;

/// A place that holds a value (module header).
#[derive(Clone, Copy)]
pub(crate) enum VSlot<'m> {
    /// Value slot `k` of a node.
    Node(Gc<'m, Node>, usize),
    /// Value slot `k` of a cell.
    Cell(Gc<'m, Obj>, usize),
    /// The entry of number key `k` in a cell's map.
    Map(Gc<'m, Obj>, u8),
}

/// The cell an `Obj` known to be one is.
fn cell<'m>(o: Gc<'m, Obj>) -> &'m Cell {
    o.into_ref()
        .cell()
        .expect("stress: a cell slot's holder is a cell")
}

/// The map key for number `k`.
fn map_key<'m>(k: u8) -> Value<'m, Obj> {
    Value::from_number(f64::from(k))
}

impl fmt::Display for VSlot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VSlot::Node(o, k) => write!(f, "value slot {k} of object {}", o.id),
            VSlot::Cell(o, k) => write!(f, "value slot {k} of cell {}", cell(*o).id),
            VSlot::Map(o, k) => write!(f, "map key {k} of cell {}", cell(*o).id),
        }
    }
}

impl VSlot<'_> {
    /// The id of the object that holds the slot.
    pub(crate) fn owner(self) -> u64 {
        match self {
            VSlot::Node(o, _) => o.id,
            VSlot::Cell(o, _) | VSlot::Map(o, _) => cell(o).id,
        }
    }

    /// What the model says the slot holds (`Some(None)`: an absent map
    /// key); `None` when the model does not know the holder.
    pub(crate) fn in_model(self, model: &Model) -> Option<Option<MVal>> {
        let cell_of = |o| match model.objs.get(&cell(o).id) {
            Some(MObj::Cell(c)) => Some(c),
            _ => None,
        };
        match self {
            VSlot::Node(o, k) => model.nodes.get(&o.id).map(|n| Some(n.vals[k])),
            VSlot::Cell(o, k) => cell_of(o).map(|c| Some(c.vals[k])),
            VSlot::Map(o, k) => cell_of(o).map(|c| c.map.get(&k).copied()),
        }
    }

    /// The model's cell that holds the slot (a cell or map slot).
    fn model_cell(self, model: &mut Model) -> Option<&mut MCell> {
        let id = self.owner();
        match model.objs.get_mut(&id) {
            Some(MObj::Cell(c)) => Some(c),
            _ => None,
        }
    }
}

impl Oracle<'_> {
    /// What the slot holds in the heap (unchecked); `None`: an absent map
    /// key.
    pub(crate) fn vslot_get<'m>(&self, m: &'m Mutator, s: VSlot<'_>) -> Option<Value<'m, Obj>> {
        match s {
            VSlot::Node(o, k) => Some(o.vals[k].get(m)),
            VSlot::Cell(o, k) => Some(cell(o).vals[k].get(m)),
            VSlot::Map(o, k) => cell(o).map.get(m, map_key(k)),
        }
    }

    /// Stores into a value slot and the model together (under the lock);
    /// `None` removes a map entry (module header). An error when the map
    /// says it had (or lacked) the key against the model.
    pub(crate) fn vslot_set(
        &self,
        m: &Mutator,
        model: &mut Model,
        s: VSlot<'_>,
        v: Option<(Value<'_, Obj>, MVal)>,
    ) -> Result<(), String> {
        let old = s.in_model(model).flatten();
        let owner = s.owner();
        if let Some(MVal::Obj(o)) = old {
            model.touch(o);
            if let Some(n) = model.key_text_of(o) {
                self.shared.log_key(n, KeyEv::Overwritten { id: o, owner });
            }
        }
        if let Some((_, MVal::Obj(o))) = v {
            if let Some(n) = model.key_text_of(o) {
                self.shared.log_key(n, KeyEv::Stored { id: o, owner });
            }
        }
        self.shared.add(Counter::ValueStores, 1);
        match (s, v) {
            (VSlot::Node(o, k), Some((v, mv))) => {
                o.vals[k].set(m, v);
                if let Some(n) = model.nodes.get_mut(&o.id) {
                    n.vals[k] = mv;
                }
            }
            (VSlot::Cell(o, k), Some((v, mv))) => {
                cell(o).vals[k].set(m, v);
                if let Some(c) = s.model_cell(model) {
                    c.vals[k] = mv;
                }
            }
            (VSlot::Map(o, k), v) => {
                self.shared.add(Counter::MapOps, 1);
                let map = &cell(o).map;
                let (new, had) = match v {
                    Some((v, mv)) => {
                        let new = map.set(m, map_key(k), v);
                        let had = s.model_cell(model).and_then(|c| c.map.insert(k, mv));
                        (new, had)
                    }
                    None => {
                        let removed = map.remove(m, map_key(k));
                        let had = s.model_cell(model).and_then(|c| c.map.remove(&k));
                        (!removed, had)
                    }
                };
                if new == had.is_some() {
                    return Err(format!(
                        "{s}: HeapMap::{} says the key was {}, the model had {had:?}",
                        if v.is_some() { "set" } else { "remove" },
                        if new { "absent" } else { "present" },
                    ));
                }
            }
            (_, None) => unreachable!("stress: only a map entry can be removed"),
        }
        self.shared.add(
            if matches!(v, Some((_, MVal::Obj(_)))) {
                Counter::Links
            } else {
                Counter::Unlinks
            },
            1,
        );
        Ok(())
    }
}

impl Worker<'_> {
    /// A fresh cell linked to `node`, with immediates derived from its id
    /// and a few map entries; recorded in the model (the caller holds the
    /// lock and stores it).
    pub(crate) fn new_cell<'m>(
        &mut self,
        m: &'m Mutator,
        model: &mut Model,
        node: Option<Gc<'_, Node>>,
    ) -> (Gc<'m, Obj>, u64) {
        let shared = self.oracle.shared;
        let id = shared
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let salts = [self.rng.next() as u16, self.rng.next() as u16];
        let o = m.alloc(Obj::Cell(Cell {
            id,
            canary: cell_canary(id),
            vals: salts.map(|s| ValueSlot::new(imm(id, s))),
            node: Member::null(),
            map: HeapMap::new(),
        }));
        shared.add(Counter::Allocated, 1);
        self.starve();
        let c = cell(o);
        c.node.set(m, node);
        let mut map = std::collections::BTreeMap::new();
        for _ in 0..self.rng.below(4) {
            let k = self.rng.below(MAP_KEYS as usize) as u8;
            let v = imm(id, self.rng.next() as u16);
            c.map.set(m, map_key(k), v);
            map.insert(k, MVal::imm(v));
        }
        model.objs.insert(
            id,
            MObj::Cell(MCell {
                vals: salts.map(|s| MVal::imm(imm::<Obj>(id, s))),
                node: node.map(|n| n.id),
                map,
            }),
        );
        (o, id)
    }

    /// Reads a value slot and checks it (and its object) against the model:
    /// the value (`None`: an absent map key) and its model.
    fn read_vslot<'m>(
        &mut self,
        m: &'m Mutator,
        model: &Model,
        s: VSlot<'m>,
    ) -> Option<(Option<Value<'m, Obj>>, Option<MVal>)> {
        let v = self.oracle.vslot_get(m, s);
        self.starve();
        let read = v.map(|v| self.oracle.value_read(s.owner(), v)).transpose();
        let in_heap = self.heap_agrees_with_model(&s, read, s.in_model(model))?;
        if let Some(o) = v.and_then(|v| v.as_gc()) {
            if let Err(e) = self.oracle.inspect_and_compare_obj(m, model, o) {
                self.fail(format!("via {s}: {e}"));
                return None;
            }
        }
        Some((v, in_heap))
    }

    /// A value slot found by a walk (module header), what it holds and the
    /// model of that.
    #[allow(clippy::type_complexity)]
    pub(crate) fn pick_vslot<'m>(
        &mut self,
        m: &'m Mutator,
        model: &Model,
    ) -> Option<(VSlot<'m>, Option<Value<'m, Obj>>, Option<MVal>)> {
        let o = self.pick_node(m, model)?;
        let mut s = VSlot::Node(o, self.rng.below(VALS));
        for _ in 0..MAX_VDEPTH {
            let (v, mv) = self.read_vslot(m, model, s)?;
            match v.and_then(|v| v.as_gc()) {
                Some(p) if p.cell().is_some() && self.rng.chance(2, 3) => {
                    s = if self.rng.chance(1, 2) {
                        VSlot::Map(p, self.rng.below(MAP_KEYS as usize) as u8)
                    } else {
                        VSlot::Cell(p, self.rng.below(CELL_VALS))
                    };
                }
                _ => return Some((s, v, mv)),
            }
        }
        let (v, mv) = self.read_vslot(m, model, s)?;
        Some((s, v, mv))
    }

    /// A value slot that holds an object, if one is found in a few walks.
    #[allow(clippy::type_complexity)]
    pub(crate) fn pick_full_vslot<'m>(
        &mut self,
        m: &'m Mutator,
        model: &Model,
    ) -> Option<(VSlot<'m>, Gc<'m, Obj>, u64)> {
        for _ in 0..4 {
            if let (s, Some(v), Some(MVal::Obj(id))) = self.pick_vslot(m, model)? {
                return Some((s, v.as_gc().expect("a pointer value"), id));
            }
        }
        None
    }

    /// An immediate for a slot of object `owner`.
    pub(crate) fn imm_for<'m>(&mut self, owner: u64) -> (Value<'m, Obj>, MVal) {
        let v = imm(owner, self.rng.next() as u16);
        (v, MVal::imm(v))
    }

    pub(crate) fn op_vslot(&mut self, mu: &mut Mu<'_>) {
        let mut model = self.lock(mu);
        let m = mu.get();
        let Some((s, cur, _)) = self.pick_vslot(m, &model) else {
            return;
        };
        let owner = s.owner();
        let room = model.objs.len() < self.oracle.shared.object_budget / 2;
        let new = match self.rng.below(16) {
            0..=5 => Some(self.imm_for(owner)),
            6..=8 if room => {
                let node = if self.rng.chance(1, 2) {
                    self.pick_node(m, &model)
                } else {
                    None
                };
                let (c, id) = self.new_cell(m, &mut model, node);
                self.starve();
                Some((Value::from_gc(c), MVal::Obj(id)))
            }
            9..=10 => match self.pick_vslot(m, &model) {
                Some((_, Some(v), Some(mv @ MVal::Obj(_)))) => Some((v, mv)),
                _ => Some(self.imm_for(owner)),
            },
            11..=12 => {
                let n = self.pick_text();
                let Some((k, id)) = self.intern_locked(m, &mut model, n) else {
                    return;
                };
                Some((Value::from_gc(k), MVal::Obj(id)))
            }
            13 if matches!(s, VSlot::Map(..)) && cur.is_some() => None,
            13..=14 => {
                // Retarget the node link of the cell this slot holds.
                let Some(c) = cur.and_then(|v| v.as_gc()).filter(|c| c.cell().is_some()) else {
                    return;
                };
                let cid = cell(c).id;
                let target = if self.rng.chance(3, 4) {
                    self.pick_node(m, &model)
                } else {
                    None
                };
                let Some(MObj::Cell(mc)) = model.objs.get_mut(&cid) else {
                    return self.fail(format!("cell {cid} is not in the model"));
                };
                let old = std::mem::replace(&mut mc.node, target.map(|t| t.id));
                cell(c).node.set(m, target);
                if let Some(old) = old {
                    model.touch(old);
                }
                self.oracle.shared.add(Counter::ValueStores, 1);
                return;
            }
            _ => Some(self.imm_for(owner)),
        };
        if let Err(e) = self.oracle.vslot_set(m, &mut model, s, new) {
            self.fail(e);
        }
    }

    pub(crate) fn op_vmove(&mut self, mu: &mut Mu<'_>) {
        let shared = self.oracle.shared;
        let mut model = self.lock(mu);
        let m = mu.get();
        let Some((src, o, id)) = self.pick_full_vslot(m, &model) else {
            return;
        };
        let v = Value::from_gc(o);
        let i = self.imm_for(src.owner());
        if let Err(e) = self.oracle.vslot_set(m, &mut model, src, Some(i)) {
            return self.fail(e);
        }
        shared.add(Counter::ValueMoves, 1);
        if self.rng.chance(1, 2) {
            // The object lives only on this stack while others run.
            model.in_flight[self.thread].push(id);
            if let Some(n) = model.key_text_of(id) {
                shared.log_key(n, KeyEv::InFlight { id });
            }
            drop(model);
            for _ in 0..self.rng.below(6) {
                let n = self.rng.below(8);
                self.churn(m, n, None);
                if let Err(e) = self.oracle.obj_id(o) {
                    return self.fail(format!("an object moved through the stack: {e}"));
                }
            }
            if self.rng.chance(1, 4) {
                std::thread::yield_now();
            }
            self.starve();
            model = lock_model(&shared.model);
            Model::unhold(&mut model.in_flight, self.thread, id);
            model.touch(id);
            if let Some(n) = model.key_text_of(id) {
                shared.log_key(n, KeyEv::Landed { id });
            }
        }
        if let Err(e) = self.oracle.inspect_and_compare_obj(m, &model, o) {
            return self.fail(format!("an object moved through the stack: {e}"));
        }
        if let Some((dst, _, _)) = self.pick_vslot(m, &model) {
            if let Err(e) = self
                .oracle
                .vslot_set(m, &mut model, dst, Some((v, MVal::Obj(id))))
            {
                self.fail(e);
            }
        }
    }

    /// Reads values without the lock (module header).
    pub(crate) fn op_vread(&mut self, mu: &mut Mu<'_>) {
        let m = mu.get();
        if let Err(e) = self.oracle.check_frame(m) {
            return self.fail(format!("lock-free value read: {e}"));
        }
        let arr = self.oracle.root_array.get(m);
        let mut cur = arr[self.rng.below(arr.len())].get(m);
        let mut steps = 0;
        while steps < VREAD_DEPTH {
            let Some(o) = cur else { return };
            self.starve();
            if let Err(e) = self.oracle.inspect(m, o) {
                return self.fail(format!("lock-free value read: {e}"));
            }
            cur = o.kids[self.rng.below(KIDS)].get(m);
            let v = o.vals[self.rng.below(VALS)].get(m);
            let mut p = match self.oracle.value_read(o.id, v) {
                Err(e) => {
                    return self.fail(format!(
                        "lock-free value read, a value slot of object {}: {e}",
                        o.id
                    ))
                }
                Ok(_) => v.as_gc(),
            };
            // Down through cells, while there are some.
            while let Some(x) = p {
                steps += 1;
                if steps >= VREAD_DEPTH {
                    return;
                }
                self.starve();
                if let Err(e) = self.oracle.inspect_obj(m, x, false) {
                    return self.fail(format!("lock-free value read: {e}"));
                }
                let Some(c) = x.into_ref().cell() else { break };
                if self.rng.chance(1, 2) {
                    let k = self.rng.below(MAP_KEYS as usize) as u8;
                    if let Some(mv) = c.map.get(m, map_key(k)) {
                        if let Err(e) = self.oracle.value_read(c.id, mv) {
                            return self.fail(format!(
                                "lock-free HeapMap::get({k}) on cell {}: {e}",
                                c.id
                            ));
                        }
                    }
                }
                if self.rng.chance(1, 3) {
                    if let Some(n) = c.node.get(m) {
                        cur = Some(n);
                        break;
                    }
                }
                let w = c.vals[self.rng.below(CELL_VALS)].get(m);
                if !w.is_gc() && !imm_plausible(c.id, w) {
                    return self.fail(format!(
                        "lock-free value read: cell {} holds the immediate {w:?}, never stored there",
                        c.id
                    ));
                }
                p = w.as_gc();
            }
            steps += 1;
        }
    }
}
