//! The value world: what the oracle stores in gomem's VM API (issue 12's
//! `Value`, `ValueSlot`, `HeapMap`, `WeakSet`), and how the model mirrors it.
//!
//! **The heap side.** Every `Node` carries [`VALS`] value slots
//! (`ValueSlot<Obj>`, on its pointer bitmap: the marker decodes them word by
//! word). [`Obj`] is the pointee type of every value, an enum as a language
//! VM's object type is (the Lox VM's `Obj`), so reading a value means
//! decoding the word (nil, bool, number or pointer) and then the object's
//! kind; being an enum with a `Drop` field it is scanned through its `Trace`
//! impl, the collector's other path. Two kinds:
//!
//! * [`Cell`] — a box of values hung off the graph: an id, a canary
//!   ([`cell_canary`]), [`CELL_VALS`] value slots, a `Member<Node>` back
//!   into the graph (so a node may be reachable only through values) and a
//!   `HeapMap<Obj>` from small numbers (`0..MAP_KEYS`) to values.
//! * [`Key`] — an immutable, string-like key interned in the run's
//!   `WeakSet<Obj>` (module `keys`): an id, a canary ([`key_canary`]), its
//!   text number `n` and its text ([`key_text`], a `Box<str>`: a plain std
//!   type with a Drop, freed by the sweeper).
//!
//! **Immediates** are derived from the id of the object whose slot holds
//! them ([`imm`]): a number `owner << 16 | salt` (exact in an f64), or, for
//! some salts, nil, a boolean or a special float (NaN, ±0, ±∞, the smallest
//! subnormal, `f64::MAX`). A reader without the model can therefore still
//! check an immediate ([`imm_plausible`]); under the lock the model holds
//! its exact bits ([`MVal::Imm`]).
//!
//! **The model side.** A value is an [`MVal`]: the immediate's bits, or the
//! id of an `Obj`. `Model::objs` maps each object id the model knows to an
//! [`MObj`] (a cell's values, node link and map; a key's text number). Ids
//! come from the run's one counter, so an id names a node, a tag, a cell or
//! a key, never two of them, and reachability (`Model::reach`) walks all
//! edges — kids, tags' back edges, values, cells' node links and map values
//! — through one id space.

use std::collections::BTreeMap;

use gomem::{HeapMap, Member, Trace, Value, ValueSlot};

use crate::graph::Node;
use crate::rng::mix64;

/// Value slots per node.
pub(crate) const VALS: usize = 2;
/// Value slots per cell.
pub(crate) const CELL_VALS: usize = 2;
/// Keys of a cell's map are the numbers `0..MAP_KEYS`.
pub(crate) const MAP_KEYS: u8 = 6;

/// The pointee type of every value (module header).
#[derive(Trace)]
pub(crate) enum Obj {
    Cell(Cell),
    Key(Key),
}

/// A box of values hung off the graph (module header).
#[derive(Trace)]
pub(crate) struct Cell {
    pub(crate) id: u64,
    pub(crate) canary: u64,
    pub(crate) vals: [ValueSlot<Obj>; CELL_VALS],
    pub(crate) node: Member<Node>,
    pub(crate) map: HeapMap<Obj>,
}

/// An interned, string-like key (module header).
#[derive(Trace)]
pub(crate) struct Key {
    pub(crate) id: u64,
    pub(crate) canary: u64,
    pub(crate) n: u64,
    pub(crate) text: Box<str>,
}

/// The kind of an `Obj`, as the model names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Cell,
    Key,
}

impl Obj {
    /// The cell, if this is one.
    pub(crate) fn cell(&self) -> Option<&Cell> {
        match self {
            Obj::Cell(c) => Some(c),
            Obj::Key(_) => None,
        }
    }
}

/// The canary of the cell with id `id`.
pub(crate) fn cell_canary(id: u64) -> u64 {
    mix64(id ^ 0xCE11_CE11_CE11_CE11) | 1
}

/// The canary of the key with id `id`.
pub(crate) fn key_canary(id: u64) -> u64 {
    mix64(id ^ 0x0C0F_FEE0_4E75_0001) | 1
}

/// The text of key number `n`.
pub(crate) fn key_text(n: u64) -> String {
    format!("key-{n}-{:016x}", mix64(n ^ 0x7E47_7E47_7E47_7E47))
}

/// The hash a key's text is interned under (a function of the text alone).
pub(crate) fn key_hash(n: u64) -> u64 {
    mix64(n ^ 0x4A54_4A54_4A54_4A54)
}

/// Salts whose low four bits are below this give a special immediate; the
/// others a number that names its owner.
const SPECIALS: u64 = 10;

/// The immediate that slot `salt` of object `owner` holds (module header).
pub(crate) fn imm<'m, O>(owner: u64, salt: u16) -> Value<'m, O> {
    let s = u64::from(salt);
    match s % 16 {
        0 => Value::nil(),
        1 => Value::from_bool(true),
        2 => Value::from_bool(false),
        3 => Value::from_number(f64::NAN),
        4 => Value::from_number(-0.0),
        5 => Value::from_number(f64::INFINITY),
        6 => Value::from_number(f64::NEG_INFINITY),
        7 => Value::from_number(5e-324),
        8 => Value::from_number(f64::MAX),
        9 => Value::from_number(0.0),
        _ => Value::from_number(((owner << 16) | s) as f64),
    }
}

/// Whether `v`, an immediate read from a slot of object `owner`, is one
/// [`imm`] can give for that owner.
pub(crate) fn imm_plausible<O>(owner: u64, v: Value<'_, O>) -> bool {
    if v.is_nil() || v.as_bool().is_some() {
        return true;
    }
    let Some(x) = v.as_number() else {
        return false;
    };
    let special = [
        f64::INFINITY,
        f64::NEG_INFINITY,
        5e-324,
        f64::MAX,
        0.0, // also -0.0
    ];
    if x.is_nan() || special.contains(&x) {
        return true;
    }
    let i = x as u64;
    i as f64 == x && i >> 16 == owner && (i & 0xF) >= SPECIALS
}

/// A value as the model knows it (module header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MVal {
    /// An immediate: its exact word.
    Imm(u64),
    /// A pointer to the `Obj` with this id.
    Obj(u64),
}

impl MVal {
    /// The model of an immediate value.
    pub(crate) fn imm<O>(v: Value<'_, O>) -> MVal {
        debug_assert!(!v.is_gc());
        MVal::Imm(v.bits())
    }

    /// The object id, if this is a pointer.
    pub(crate) fn obj(self) -> Option<u64> {
        match self {
            MVal::Obj(id) => Some(id),
            MVal::Imm(_) => None,
        }
    }
}

/// A cell as the model knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MCell {
    pub(crate) vals: [MVal; CELL_VALS],
    /// The node its `Member` points at.
    pub(crate) node: Option<u64>,
    pub(crate) map: BTreeMap<u8, MVal>,
}

/// An `Obj` as the model knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MObj {
    Cell(MCell),
    /// A key, with its text number.
    Key(u64),
}

impl MObj {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            MObj::Cell(_) => Kind::Cell,
            MObj::Key(_) => Kind::Key,
        }
    }

    /// The ids this object points at.
    pub(crate) fn edges(&self) -> impl Iterator<Item = u64> + '_ {
        let cell = match self {
            MObj::Cell(c) => Some(c),
            MObj::Key(_) => None,
        };
        cell.into_iter().flat_map(|c| {
            c.vals
                .iter()
                .chain(c.map.values())
                .filter_map(|v| v.obj())
                .chain(c.node)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type V = Value<'static, Obj>;

    #[test]
    fn immediates_are_plausible_for_their_owner_only() {
        for owner in [1u64, 7, 1 << 30] {
            for salt in 0..=u16::MAX {
                let v: V = imm(owner, salt);
                assert!(!v.is_gc());
                assert!(imm_plausible(owner, v), "{owner} {salt}");
                if salt % 16 >= SPECIALS as u16 {
                    assert!(!imm_plausible(owner + 1, v), "{owner} {salt}");
                }
            }
        }
        assert_ne!(cell_canary(5), key_canary(5));
        assert_ne!(cell_canary(5), crate::canary::node_canary(5));
        assert_ne!(key_hash(1), key_hash(2));
    }
}
