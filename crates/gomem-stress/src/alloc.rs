//! Allocating the oracle's objects: payloads, tags, nodes, and chains of
//! garbage.
//!
//! Each allocation takes a fresh id from `Shared::next_id`, writes the
//! canary and payload words the checks expect (module `canary`) and a
//! node's first immediates (module `values`), and counts
//! itself (`Allocated`; `Droppable` for tags, which the drop ledger must
//! balance at teardown). The helpers return the new object together with
//! what the model should record for it, but never touch the model: the
//! caller inserts it under the lock when it links the object, or never,
//! for garbage. `churn` allocates garbage while, optionally, re-checking a
//! node the thread holds only on its stack (the moved pointer of `op_move`).

use std::sync::atomic::{AtomicU64, Ordering};

use gomem::{Gc, Member, Mutator, Slice, ValueSlot};

use crate::canary::{node_canary, payload_word, tag_canary, LedgerRef};
use crate::graph::{Node, Tag, KIDS, LARGE_PAYLOAD};
use crate::model::{ModelNode, TagRecord};
use crate::rng::mix64;
use crate::shared::Counter;
use crate::values::{imm, MVal, Obj, VALS};
use crate::worker::Worker;

impl Worker<'_> {
    /// A payload for node `owner`: empty (tiny), short, medium or large.
    pub(crate) fn new_payload<'m>(
        &mut self,
        m: &'m Mutator,
        owner: u64,
    ) -> (Gc<'m, Slice<u64>>, u32) {
        let len = match self.rng.below(1000) {
            0..=149 => 0,
            150..=649 => 1 + self.rng.below(16),
            650..=996 => 16 + self.rng.below(500),
            _ => LARGE_PAYLOAD + self.rng.below(1000),
        };
        self.oracle.shared.add(Counter::Allocated, 1);
        (
            m.alloc_slice(len, |i| payload_word(owner, len, i)),
            len as u32,
        )
    }

    /// A tag whose back edge points at `back`.
    pub(crate) fn new_tag<'m>(
        &mut self,
        m: &'m Mutator,
        back: Option<Gc<'_, Node>>,
    ) -> (Gc<'m, Tag>, u64) {
        let shared = self.oracle.shared;
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let t = m.alloc(Tag {
            id,
            canary: AtomicU64::new(tag_canary(id)),
            back: Member::null(),
            ledger: LedgerRef(shared.ledger.clone()),
        });
        t.back.set(m, back);
        shared.add(Counter::Allocated, 1);
        shared.add(Counter::Droppable, 1);
        (t, id)
    }

    /// A fresh leaf node, maybe with a payload and a tag (whose back edge
    /// may point at the node itself).
    pub(crate) fn new_node<'m>(
        &mut self,
        m: &'m Mutator,
    ) -> (Gc<'m, Node>, ModelNode, Option<TagRecord>) {
        let id = self.oracle.shared.next_id.fetch_add(1, Ordering::Relaxed);
        // Immediates from the id alone (no random draw: a seed's mix does
        // not depend on the value world).
        let salts: [u16; VALS] = std::array::from_fn(|k| (mix64(id) >> (16 * k)) as u16);
        let o = m.alloc(Node {
            id,
            canary: node_canary(id),
            kids: [Member::null(), Member::null(), Member::null()],
            payload: Member::null(),
            tag: Member::null(),
            vals: salts.map(|s| ValueSlot::new(imm(id, s))),
        });
        self.oracle.shared.add(Counter::Allocated, 1);
        self.starve();
        let mut node = ModelNode::leaf(salts.map(|s| MVal::imm(imm::<Obj>(id, s))));
        if self.rng.chance(1, 3) {
            let (p, len) = self.new_payload(m, id);
            o.payload.set(m, Some(p));
            node.payload = Some(len);
        }
        let mut tag = None;
        if self.rng.chance(1, 8) {
            let back = self.rng.chance(1, 2).then_some(o);
            let (t, tid) = self.new_tag(m, back);
            o.tag.set(m, Some(t));
            node.tag = Some(tid);
            tag = Some(TagRecord {
                id: tid,
                back: back.map(|_| id),
            });
        }
        (o, node, tag)
    }

    /// Allocates `n` garbage nodes (a chain), checking `held` in between.
    pub(crate) fn churn(&mut self, m: &Mutator, n: usize, held: Option<Gc<'_, Node>>) {
        let mut prev: Option<Gc<'_, Node>> = None;
        for i in 0..n {
            let (o, _, _) = self.new_node(m);
            if let Some(p) = prev {
                p.kids[i % KIDS].set(m, Some(o));
            }
            prev = Some(o);
            if let Some(h) = held {
                if i % 8 == 0 {
                    if let Err(e) = self.oracle.inspect(m, h) {
                        self.fail(format!("an object held on the stack, unlinked: {e}"));
                        return;
                    }
                }
            }
        }
    }
}
