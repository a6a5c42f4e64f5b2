//! Checking one object read from the heap, and comparing it with the model.
//!
//! Every pointer read from the heap is checked before it is followed: it
//! must be 8-aligned and lie in this run's heap (`gomem::hooks::heap_owns`,
//! the oracle's one hook into gomem), so a wild pointer in a freed-and-
//! reused object becomes a report, not a crash. Then the object's canary
//! must match its id (module `canary`): a freed object fails here, with the
//! clobber-free poison named when that is what was found. A node's payload
//! words and its tag's canary are checked too; a tag whose canary reads
//! `DROPPED` was dropped while still reachable.
//!
//! The value world (module `values`) is checked the same way: every value
//! word read is decoded (`value_read`): an immediate must be one its slot's
//! owner can hold, a pointer must lie in this heap, and the object's kind
//! (the enum's variant), canary and — for a key — text must agree
//! (`obj_id`); `inspect_obj` reads a cell whole (values, node link, map).
//!
//! These checks need no lock (the lock-free readers use them); `compare`
//! and `compare_obj`, which hold an object up against the model, need the
//! model lock. Errors
//! are `String`s that say what was found where; the caller adds where it
//! came from and records the failure.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use gomem::{Gc, Mutator, Slice, Value};

use crate::canary::{node_canary, payload_word, tag_canary, CLOBBERED, DROPPED};
use crate::graph::{Node, Tag, KIDS, MAX_PAYLOAD, VEC_MAX};
use crate::keys::KEY_TEXTS;
use crate::model::{Model, ModelNode};
use crate::oracle::Oracle;
use crate::shared::Counter;
use crate::values::{
    cell_canary, imm_plausible, key_canary, key_text, Kind, MCell, MObj, MVal, Obj, CELL_VALS,
    MAP_KEYS, VALS,
};

/// A node as read from the heap.
pub(crate) struct NodeRead {
    pub(crate) id: u64,
    /// The node in the model's terms.
    pub(crate) node: ModelNode,
    /// Its tag's back edge, if it has a tag.
    pub(crate) tag_back: Option<u64>,
}

/// A cell or a key as read from the heap.
pub(crate) struct ObjRead {
    pub(crate) id: u64,
    /// The object in the model's terms.
    pub(crate) obj: MObj,
    /// A cell's `HeapMap::len` (0 for a key).
    pub(crate) map_len: usize,
}

/// What a clobbered or reused id field says about the object.
fn freed_hint(id: u64) -> &'static str {
    if id == CLOBBERED {
        " (clobber-free poison: the object was freed)"
    } else {
        " (freed and reused, or corrupted)"
    }
}

impl Oracle<'_> {
    /// Whether `o` may be an object of this run's heap: aligned and in one
    /// of its arenas.
    fn plausible<T>(&self, o: Gc<'_, T>) -> bool {
        (o.as_ptr() as usize).is_multiple_of(8) && gomem::hooks::heap_owns(self.heap, o)
    }

    /// The id of a node, after checking its address and canary.
    pub(crate) fn node_id(&self, o: Gc<'_, Node>) -> Result<u64, String> {
        let addr = o.as_ptr() as usize;
        if !self.plausible(o) {
            return Err(format!(
                "wild pointer {addr:#x} to a node (not an aligned address of this heap)"
            ));
        }
        let (id, c) = (o.id, o.canary);
        if c != node_canary(id) {
            return Err(format!(
                "node at {addr:#x}: canary {c:#x} does not match its id field {id:#x}{}",
                freed_hint(id)
            ));
        }
        if id == 0 || id >= self.shared.next_id.load(Ordering::Relaxed) {
            return Err(format!(
                "node at {addr:#x} carries id {id}, which was never allocated"
            ));
        }
        Ok(id)
    }

    /// The payload's length, after checking its address and words.
    fn check_payload(&self, owner: u64, p: Gc<'_, Slice<u64>>) -> Result<u32, String> {
        let addr = p.as_ptr() as usize;
        if !self.plausible(p) {
            return Err(format!("object {owner}: wild payload pointer {addr:#x}"));
        }
        let len = p.len();
        if len > MAX_PAYLOAD {
            return Err(format!(
                "object {owner}: payload at {addr:#x} has length {len:#x} (corrupt header)"
            ));
        }
        if len > 0 {
            let step = (len / 16).max(1);
            let idx = (0..len).step_by(step).chain(std::iter::once(len - 1));
            for i in idx {
                let want = payload_word(owner, len, i);
                if p[i] != want {
                    return Err(format!(
                        "object {owner}: payload at {addr:#x} (len {len}) word {i} is {:#x}, expected {want:#x} (a noscan object freed and reused?)",
                        p[i]
                    ));
                }
            }
        }
        Ok(len as u32)
    }

    /// A tag's id and back edge, after checking it.
    fn check_tag(
        &self,
        m: &Mutator,
        owner: u64,
        t: Gc<'_, Tag>,
    ) -> Result<(u64, Option<u64>), String> {
        let addr = t.as_ptr() as usize;
        if !self.plausible(t) {
            return Err(format!("object {owner}: wild tag pointer {addr:#x}"));
        }
        let id = t.id;
        let c = t.canary.load(Ordering::SeqCst);
        if c == DROPPED {
            return Err(format!(
                "object {owner}: tagged object {id} at {addr:#x} is still reachable but its Drop already ran"
            ));
        }
        if c != tag_canary(id) {
            return Err(format!(
                "object {owner}: tagged object at {addr:#x}: canary {c:#x} does not match its id {id:#x} (freed and reused, or corrupted)"
            ));
        }
        let back = match t.back.get(m) {
            None => None,
            Some(b) => Some(
                self.node_id(b)
                    .map_err(|e| format!("back edge of tagged object {id}: {e}"))?,
            ),
        };
        Ok((id, back))
    }

    /// Reads a node whole: canary, kids' canaries, payload, tag.
    pub(crate) fn inspect(&self, m: &Mutator, o: Gc<'_, Node>) -> Result<NodeRead, String> {
        let id = self.node_id(o)?;
        let mut kids = [None; KIDS];
        for (k, slot) in o.kids.iter().enumerate() {
            if let Some(c) = slot.get(m) {
                kids[k] = Some(
                    self.node_id(c)
                        .map_err(|e| format!("kid {k} of object {id}: {e}"))?,
                );
            }
        }
        let payload = match o.payload.get(m) {
            None => None,
            Some(p) => Some(self.check_payload(id, p)?),
        };
        let (tag, tag_back) = match o.tag.get(m) {
            None => (None, None),
            Some(t) => {
                let (t, b) = self.check_tag(m, id, t)?;
                (Some(t), b)
            }
        };
        let mut vals = [MVal::Imm(0); VALS];
        for (k, slot) in o.vals.iter().enumerate() {
            vals[k] = self
                .value_read(id, slot.get(m))
                .map_err(|e| format!("value slot {k} of object {id}: {e}"))?;
        }
        self.shared.add(Counter::VerifiedReads, 1);
        Ok(NodeRead {
            id,
            node: ModelNode {
                kids,
                payload,
                tag,
                vals,
            },
            tag_back,
        })
    }

    /// The id and kind of a value's object, after checking its address, its
    /// canary and, for a key, its text (module header).
    pub(crate) fn obj_id(&self, o: Gc<'_, Obj>) -> Result<(u64, Kind), String> {
        let addr = o.as_ptr() as usize;
        if !self.plausible(o) {
            return Err(format!(
                "wild pointer {addr:#x} in a value (not an aligned address of this heap)"
            ));
        }
        let (kind, id, c, want) = match &*o {
            Obj::Cell(x) => (Kind::Cell, x.id, x.canary, cell_canary(x.id)),
            Obj::Key(x) => (Kind::Key, x.id, x.canary, key_canary(x.id)),
        };
        if c != want {
            return Err(format!(
                "value object at {addr:#x} (a {kind:?} by its variant): canary {c:#x} does not match its id field {id:#x}{}",
                freed_hint(id)
            ));
        }
        if id == 0 || id >= self.shared.next_id.load(Ordering::Relaxed) {
            return Err(format!(
                "value object at {addr:#x} carries id {id}, which was never allocated"
            ));
        }
        if let Obj::Key(k) = &*o {
            if k.n >= KEY_TEXTS || *k.text != *key_text(k.n) {
                return Err(format!(
                    "key {id} at {addr:#x}: number {} with text {:?} (its text's memory freed?)",
                    k.n,
                    k.text.get(..40).unwrap_or(&k.text)
                ));
            }
        }
        Ok((id, kind))
    }

    /// Decodes a value read from a slot of object `owner` (module header).
    pub(crate) fn value_read(&self, owner: u64, v: Value<'_, Obj>) -> Result<MVal, String> {
        self.shared.add(Counter::ValueReads, 1);
        match v.as_gc() {
            Some(o) => self.obj_id(o).map(|(id, _)| MVal::Obj(id)),
            None if imm_plausible(owner, v) => Ok(MVal::imm(v)),
            None => Err(format!(
                "the immediate {v:?} (word {:#x}) was never stored in a slot of object {owner}",
                v.bits()
            )),
        }
    }

    /// Reads a cell or key whole. `exact`: under the model lock, where no
    /// one writes the map meanwhile (a key met twice by `for_each` and a
    /// `get` that disagrees with it are then failures).
    pub(crate) fn inspect_obj(
        &self,
        m: &Mutator,
        o: Gc<'_, Obj>,
        exact: bool,
    ) -> Result<ObjRead, String> {
        let (id, _) = self.obj_id(o)?;
        let c = match o.into_ref() {
            Obj::Key(k) => {
                return Ok(ObjRead {
                    id,
                    obj: MObj::Key(k.n),
                    map_len: 0,
                })
            }
            Obj::Cell(c) => c,
        };
        let mut vals = [MVal::Imm(0); CELL_VALS];
        for (i, s) in c.vals.iter().enumerate() {
            vals[i] = self
                .value_read(id, s.get(m))
                .map_err(|e| format!("value slot {i} of cell {id}: {e}"))?;
        }
        let node = match c.node.get(m) {
            None => None,
            Some(n) => Some(
                self.node_id(n)
                    .map_err(|e| format!("the node link of cell {id}: {e}"))?,
            ),
        };
        let map_len = c.map.len();
        let mut map = BTreeMap::new();
        let mut err = None;
        c.map.for_each(m, |k, v| {
            if err.is_some() {
                return;
            }
            let key = match k.as_number() {
                Some(x) if (0.0..f64::from(MAP_KEYS)).contains(&x) && x.fract() == 0.0 => x as u8,
                _ => {
                    err = Some(format!("the map of cell {id} has a key {k:?} never set"));
                    return;
                }
            };
            match self.value_read(id, v) {
                Ok(mv) => {
                    if map.insert(key, mv).is_some() && exact {
                        err = Some(format!("the map of cell {id} holds key {key} twice"));
                    }
                }
                Err(e) => err = Some(format!("key {key} of the map of cell {id}: {e}")),
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        if exact {
            for (&k, &want) in &map {
                let got = c
                    .map
                    .get(m, Value::from_number(f64::from(k)))
                    .map(|v| self.value_read(id, v))
                    .transpose()
                    .map_err(|e| format!("HeapMap::get({k}) on cell {id}: {e}"))?;
                if got != Some(want) {
                    return Err(format!(
                        "HeapMap::get({k}) on cell {id} gave {got:?}, for_each {want:?}"
                    ));
                }
            }
        }
        self.shared.add(Counter::VerifiedReads, 1);
        Ok(ObjRead {
            id,
            obj: MObj::Cell(MCell { vals, node, map }),
            map_len,
        })
    }

    /// Compares a cell or key read from the heap with the model (under the
    /// lock).
    pub(crate) fn compare_obj(&self, model: &Model, read: &ObjRead) -> Result<(), String> {
        let Some(want) = model.objs.get(&read.id) else {
            return Err(format!(
                "value object {} ({:?}) is reachable in the heap but the model does not know it",
                read.id,
                read.obj.kind()
            ));
        };
        if want.kind() != read.obj.kind() {
            return Err(format!(
                "value object {} is a {:?} in the heap, a {:?} in the model",
                read.id,
                read.obj.kind(),
                want.kind()
            ));
        }
        if *want != read.obj {
            return Err(format!(
                "value object {}: heap {:?} != model {:?}",
                read.id, read.obj, want
            ));
        }
        if let MObj::Cell(c) = want {
            if c.map.len() != read.map_len {
                return Err(format!(
                    "the map of cell {}: HeapMap::len() is {}, the model has {} entries",
                    read.id,
                    read.map_len,
                    c.map.len()
                ));
            }
        }
        Ok(())
    }

    /// [`Oracle::inspect_obj`] (exact), then [`Oracle::compare_obj`] (under
    /// the lock).
    pub(crate) fn inspect_and_compare_obj(
        &self,
        m: &Mutator,
        model: &Model,
        o: Gc<'_, Obj>,
    ) -> Result<(), String> {
        self.inspect_obj(m, o, true)
            .and_then(|r| self.compare_obj(model, &r))
    }

    /// Compares a node read from the heap with the model (under the lock).
    pub(crate) fn compare(&self, model: &Model, read: &NodeRead) -> Result<(), String> {
        let Some(want) = model.nodes.get(&read.id) else {
            return Err(format!(
                "object {} is reachable in the heap but the model does not know it",
                read.id
            ));
        };
        if *want != read.node {
            return Err(format!(
                "object {}: heap {:?} != model {:?}",
                read.id, read.node, want
            ));
        }
        if let Some(t) = read.node.tag {
            let want = model.tags.get(&t).copied();
            if want != Some(read.tag_back) {
                return Err(format!(
                    "tagged object {t} (of object {}): heap back edge {:?} != model {:?}",
                    read.id, read.tag_back, want
                ));
            }
        }
        Ok(())
    }

    /// [`Oracle::inspect`], then [`Oracle::compare`] (under the lock).
    pub(crate) fn inspect_and_compare(
        &self,
        m: &Mutator,
        model: &Model,
        o: Gc<'_, Node>,
    ) -> Result<(), String> {
        self.inspect(m, o).and_then(|r| self.compare(model, &r))
    }

    /// Checks the two objects every walk starts from: the root array's
    /// length header and the vector's length. A freed one reads as garbage,
    /// and indexing it would crash the oracle instead of reporting.
    pub(crate) fn check_frame(&self, m: &Mutator) -> Result<(), String> {
        let arr = self.root_array.get(m);
        if arr.len() != self.shared.cfg.root_slots {
            return Err(format!(
                "the root array (at {:p}) has length {:#x}, not {} (freed?)",
                arr.as_ptr(),
                arr.len(),
                self.shared.cfg.root_slots
            ));
        }
        let v = self.vector.get(m);
        if v.len() > VEC_MAX {
            return Err(format!(
                "the vector (at {:p}) has length {:#x}, more than its cap {VEC_MAX} (freed?)",
                v.as_ptr(),
                v.len()
            ));
        }
        Ok(())
    }
}
