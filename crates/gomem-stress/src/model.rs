//! The shadow model: what the graph must look like, kept outside the heap.
//!
//! [`Model`] holds, for every node the graph may reach, its kid ids, payload
//! length, tag id and values; each tag's back edge; every cell and key the
//! values may reach (module `values`); the model of every root (the root
//! array's slots, the extra roots — whose `Root` handles it owns — and the
//! vector); the objects each thread holds on its Rust stack between two
//! locked sections (`in_flight`) and on its `ValueStack`s (`on_stack`,
//! module `vstack`); the live `Weak`s (module `weak`); and the state of
//! every key text of the weak set (module `keys`).
//!
//! Invariant: one `Mutex<Model>` (in `Shared`) guards it, and every store
//! into the heap graph is made under that lock together with the matching
//! model update (`Oracle::slot_set`, `Oracle::vslot_set`, and the ops that
//! edit payloads, tags and cells' node links). So whoever holds the lock may compare heap and model and expect
//! them equal. The model also keeps entries nothing reaches any more until
//! `prune` (run by each verification) drops them: a node pinned by a weak
//! or a stack stays, so that an upgrade or a move can still be checked.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use gomem::Root;

use crate::graph::{Node, KIDS};
use crate::keys::{KeyState, KEY_TEXTS};
use crate::values::{MObj, MVal, VALS};
use crate::weak::WeakEntry;

/// What the model knows of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ModelNode {
    pub(crate) kids: [Option<u64>; KIDS],
    /// Payload length.
    pub(crate) payload: Option<u32>,
    /// Tag id.
    pub(crate) tag: Option<u64>,
    /// Its value slots.
    pub(crate) vals: [MVal; VALS],
}

impl ModelNode {
    /// A leaf: no kids, no payload, no tag, these values.
    pub(crate) fn leaf(vals: [MVal; VALS]) -> ModelNode {
        ModelNode {
            kids: [None; KIDS],
            payload: None,
            tag: None,
            vals,
        }
    }
}

/// A tag just allocated with a node, as the model records it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TagRecord {
    pub(crate) id: u64,
    /// The node its back edge points at.
    pub(crate) back: Option<u64>,
}

/// The shadow model (module header).
pub(crate) struct Model {
    /// Node id → what it holds.
    pub(crate) nodes: HashMap<u64, ModelNode>,
    /// Tag id → its back edge.
    pub(crate) tags: HashMap<u64, Option<u64>>,
    /// Cell or key id → what it holds (module `values`).
    pub(crate) objs: HashMap<u64, MObj>,
    /// The root array's slots.
    pub(crate) root_slots: Vec<Option<u64>>,
    /// The extra roots: the node id and the handle that roots it.
    pub(crate) extra_roots: Vec<Option<(u64, Root<Node>)>>,
    /// The vector's elements.
    pub(crate) vector: Vec<Option<u64>>,
    /// Per thread: objects (nodes, cells, keys) unlinked from the graph
    /// and held on its Rust stack.
    pub(crate) in_flight: Vec<Vec<u64>>,
    /// Per thread: the objects its `ValueStack`s hold (once per value).
    pub(crate) on_stack: Vec<Vec<u64>>,
    /// Per key text `n`: what the verifier knows of it (module `keys`).
    pub(crate) keys: Vec<KeyState>,
    /// The Weaks taken and not yet forgotten.
    pub(crate) weaks: Vec<WeakEntry>,
    /// Objects a mutator may have shaded since the last verification: the
    /// targets of weak upgrades, the old targets of overwritten slots and
    /// value slots (the write barrier's deletion half), and the objects
    /// that left a value stack (its scan). The collector keeps each one's
    /// whole subgraph one more cycle, so the next verification restarts
    /// the liveness clocks of every weak entry and key text they reach
    /// (modules `weak`, `keys`).
    pub(crate) touched: Vec<u64>,
}

impl Model {
    /// Forgets one hold of `id` by thread `thread` (in flight between two
    /// locked sections, or on a value stack: `holds` picks which).
    pub(crate) fn unhold(holds: &mut [Vec<u64>], thread: usize, id: u64) {
        let held = &mut holds[thread];
        if let Some(i) = held.iter().position(|&x| x == id) {
            held.swap_remove(i);
        }
    }

    /// An empty graph with `root_slots` empty slots, `extra_roots` unset
    /// extra roots and `threads` empty stacks.
    pub(crate) fn new(root_slots: usize, extra_roots: usize, threads: usize) -> Model {
        Model {
            nodes: HashMap::new(),
            tags: HashMap::new(),
            objs: HashMap::new(),
            root_slots: vec![None; root_slots],
            extra_roots: (0..extra_roots).map(|_| None).collect(),
            vector: Vec::new(),
            in_flight: vec![Vec::new(); threads],
            on_stack: vec![Vec::new(); threads],
            keys: (0..KEY_TEXTS).map(|_| KeyState::default()).collect(),
            weaks: Vec::new(),
            touched: Vec::new(),
        }
    }

    /// Nodes and values' objects (one id space), and tags, reachable from
    /// `seeds` in the model.
    pub(crate) fn reach(
        &self,
        seeds: impl IntoIterator<Item = u64>,
    ) -> (HashSet<u64>, HashSet<u64>) {
        let mut nodes = HashSet::with_capacity(self.nodes.len() + self.objs.len());
        let mut tags = HashSet::new();
        let mut stack: Vec<u64> = seeds.into_iter().collect();
        while let Some(id) = stack.pop() {
            if !nodes.insert(id) {
                continue;
            }
            let Some(n) = self.nodes.get(&id) else {
                if let Some(o) = self.objs.get(&id) {
                    stack.extend(o.edges());
                }
                continue;
            };
            stack.extend(n.kids.iter().flatten());
            stack.extend(n.vals.iter().filter_map(|v| v.obj()));
            if let Some(t) = n.tag {
                if tags.insert(t) {
                    if let Some(Some(b)) = self.tags.get(&t) {
                        stack.push(*b);
                    }
                }
            }
        }
        (nodes, tags)
    }

    /// The nodes the roots hold: root slots, extra roots, vector.
    pub(crate) fn root_ids(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.root_slots.iter().flatten().copied().collect();
        v.extend(self.extra_roots.iter().flatten().map(|(id, _)| *id));
        v.extend(self.vector.iter().flatten());
        v
    }

    /// The roots' nodes and the objects held on stacks (Rust stacks and
    /// value stacks): what must be alive.
    pub(crate) fn live_seeds(&self) -> impl Iterator<Item = u64> + '_ {
        self.root_ids()
            .into_iter()
            .chain(self.in_flight.iter().flatten().copied())
            .chain(self.on_stack.iter().flatten().copied())
    }

    /// Records a new node (and the tag allocated with it).
    pub(crate) fn insert(&mut self, id: u64, node: ModelNode, tag: Option<TagRecord>) {
        self.nodes.insert(id, node);
        if let Some(t) = tag {
            self.tags.insert(t.id, t.back);
        }
    }

    /// Forgets what neither the roots, the stacks in flight nor the weaks
    /// can reach any more.
    pub(crate) fn prune(&mut self) {
        let seeds: Vec<u64> = self
            .live_seeds()
            .chain(self.weaks.iter().map(|w| w.id))
            .collect();
        let (keep, keep_tags) = self.reach(seeds);
        self.nodes.retain(|id, _| keep.contains(id));
        self.objs.retain(|id, _| keep.contains(id));
        self.tags.retain(|id, _| keep_tags.contains(id));
    }
}

/// Locks the model; a thread that panicked holding it does not stop the
/// others (its panic is reported when it is joined).
pub(crate) fn lock_model(m: &Mutex<Model>) -> MutexGuard<'_, Model> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
