//! The heap side: the two object types the oracle allocates in the gomem
//! heap, and the limits on the graph's shape.
//!
//! * [`Node`] — a graph node: an id, a canary derived from the id, `KIDS`
//!   kids, a payload (`Slice<u64>`, noscan; length 0 lands in the tiny
//!   allocator, some are large objects), a tag, and `VALS` value slots
//!   (module `values`: immediates or pointers to cells and keys). It has no
//!   Drop and fits a pointer bitmap (value slots count as pointer words), so
//!   the collector scans it by words.
//! * [`Tag`] — a droppable, scanned object hung off a node, with a back edge
//!   into the graph. Its Drop reports to the drop ledger (module `canary`),
//!   then looks for its thread's Mutator and, if it finds one, tries to
//!   reach the heap through it (module `hostile`: gomem must refuse).
//!   Being typed (it needs a Drop), it is scanned through its `Trace` impl,
//!   the other path of the collector.
//!
//! Invariants: a node's `canary` is `node_canary(id)` for its whole life and
//! a tag's is `tag_canary(id)` until its Drop; ids come from one counter
//! (`Shared::next_id`), so no two objects of a run share one. Nothing in
//! this module checks them: `inspect` does, on every read.

use std::sync::atomic::AtomicU64;

use gomem::{Member, Slice, Trace, ValueSlot};

use crate::canary::LedgerRef;
use crate::values::{Obj, VALS};

/// Kids per node.
pub(crate) const KIDS: usize = 3;
/// The longest payload a check accepts (a longer length is a corrupt header).
pub(crate) const MAX_PAYLOAD: usize = 8192;
/// Length of the large payloads (plus up to 1000 words).
pub(crate) const LARGE_PAYLOAD: usize = 4200;
/// Extra roots (`Root<Node>` handles) per thread.
pub(crate) const EXTRA_ROOTS_PER_THREAD: usize = 4;
/// Cap on the vector's length.
pub(crate) const VEC_MAX: usize = 512;

/// A graph node (module header).
#[derive(Trace)]
pub(crate) struct Node {
    pub(crate) id: u64,
    pub(crate) canary: u64,
    pub(crate) kids: [Member<Node>; KIDS],
    pub(crate) payload: Member<Slice<u64>>,
    pub(crate) tag: Member<Tag>,
    pub(crate) vals: [ValueSlot<Obj>; VALS],
}

/// A droppable, scanned object hung off a node (module header).
#[derive(Trace)]
pub(crate) struct Tag {
    pub(crate) id: u64,
    pub(crate) canary: AtomicU64,
    pub(crate) back: Member<Node>,
    pub(crate) ledger: LedgerRef,
}

impl Drop for Tag {
    fn drop(&mut self) {
        self.ledger.0.record_drop(self.id, &self.canary);
        crate::hostile::probe_from_drop(&self.ledger.0, self.id, &self.back);
    }
}
