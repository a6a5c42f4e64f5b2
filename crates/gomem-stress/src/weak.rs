//! Weak pointers: the entries the model keeps, and the two promises the
//! verifier checks on them.
//!
//! * **Safety**: a `Weak` whose target the model says is alive (reachable
//!   from the roots, from a stack in flight or from a value stack) must
//!   upgrade, to that very node, intact.
//! * **Liveness**: a `Weak` whose target has been unreachable since a
//!   verification at which `c` cycles had completed must no longer upgrade
//!   once `c + LIVENESS_CYCLES` cycles have. The clock is
//!   `WeakEntry::unreachable_since`. An upgrade shades its target (if a
//!   cycle is marking), and so does a store that overwrites a pointer to it
//!   (the deletion barrier), and so may a value stack that held it (its
//!   scan); each keeps the target *and everything it reaches* one more
//!   cycle. So both note the node (`Model::touch`), and
//!   the next verification first restarts the clock of every entry for a
//!   node the touched nodes reach. (Restarting only the upgraded target's
//!   own entries, as the oracle once did, let a weak to a node below a
//!   repeatedly upgraded one "outlive" its clock: a false failure.) The
//!   verifier never upgrades a weak whose clock runs until it has expired.
//!
//! The weaks pin their targets in the model (`Model::prune` keeps what they
//! reach), so an upgrade can always be compared with the model.

use std::collections::HashSet;

use gomem::{Gc, Mutator, Weak};

use crate::graph::Node;
use crate::model::Model;
use crate::oracle::Oracle;
use crate::rng::Rng;

/// Weak entries the model keeps (a new one then replaces a random one).
const MAX_WEAKS: usize = 64;

/// Cycles after which a verified-unreachable node must be gone (its Weak no
/// longer upgrades). DESIGN §4 promises two; the oracle allows a third
/// because its clock starts at a verification that may fall inside a cycle
/// whose snapshot predates it.
const LIVENESS_CYCLES: u32 = 3;

/// A `Weak` the model keeps, with its liveness clock.
pub(crate) struct WeakEntry {
    /// The target node.
    pub(crate) id: u64,
    pub(crate) weak: Weak<Node>,
    /// Completed cycles at the first verification that found the target
    /// unreachable (reset by any upgrade, which shades the target).
    pub(crate) unreachable_since: Option<u32>,
}

impl Model {
    /// Records a Weak to `o`, replacing a random entry once there are
    /// `MAX_WEAKS`.
    pub(crate) fn add_weak(&mut self, m: &Mutator, o: Gc<'_, Node>, rng: &mut Rng) {
        let e = WeakEntry {
            id: o.id,
            weak: m.weak(o),
            unreachable_since: None,
        };
        if self.weaks.len() < MAX_WEAKS {
            self.weaks.push(e);
        } else {
            let i = rng.below(self.weaks.len());
            self.weaks[i] = e;
        }
    }

    /// Notes that node `id` may have been shaded (an upgrade of a Weak to
    /// it, or a store that overwrote a pointer to it): the next verification
    /// restarts the clock of every entry for a node it reaches.
    pub(crate) fn touch(&mut self, id: u64) {
        self.touched.push(id);
    }

    /// For a liveness failure: the other weak targets whose subgraphs (in
    /// the model) reach the late object, which an upgrade could have kept.
    fn weak_holders(&self, id: u64) -> String {
        let holders: Vec<String> = self
            .weaks
            .iter()
            .filter(|e| e.id != id && self.reach([e.id]).0.contains(&id))
            .take(4)
            .map(|e| format!("{} (clock {:?})", e.id, e.unreachable_since))
            .collect();
        if holders.is_empty() {
            "no other weak target reaches it in the model".into()
        } else {
            format!("other weak targets that reach it: {}", holders.join(", "))
        }
    }

    /// What the model reaches from the nodes and objects touched since the
    /// last call: the clocks of every weak entry (and key text, module
    /// `keys`) for them restart. Reachability is taken now, not at the
    /// touch, which loses nothing: an edge cut since a touch was a store
    /// that overwrote it, so its old target was touched too.
    pub(crate) fn touched_reach(&mut self) -> HashSet<u64> {
        let touched = std::mem::take(&mut self.touched);
        if touched.is_empty() {
            return HashSet::new();
        }
        self.reach(touched).0
    }
}

impl Oracle<'_> {
    /// Checks every weak entry (module header), starting or reading the
    /// clocks; under the lock, after the graph was verified. `alive` is
    /// what the model reaches from the roots and the stacks, `reset` what
    /// it reaches from the touched nodes (`Model::touched_reach`).
    pub(crate) fn check_weaks(
        &self,
        m: &Mutator,
        model: &mut Model,
        alive: &HashSet<u64>,
        reset: &HashSet<u64>,
    ) -> Result<(), String> {
        for e in model.weaks.iter_mut().filter(|e| reset.contains(&e.id)) {
            e.unreachable_since = None;
        }
        let done = self.heap.gc_summary().cycles;
        let mut late = None;
        for e in model.weaks.iter_mut() {
            if alive.contains(&e.id) {
                e.unreachable_since = None;
                match e.weak.upgrade(m) {
                    None => {
                        return Err(format!(
                            "a Weak to object {} upgraded to None, but the object is reachable",
                            e.id
                        ))
                    }
                    Some(o) => match self.node_id(o) {
                        Ok(id) if id == e.id => {}
                        Ok(id) => {
                            return Err(format!(
                                "a Weak to object {} upgraded to object {id}",
                                e.id
                            ))
                        }
                        Err(err) => {
                            return Err(format!("a Weak to object {} upgraded to: {err}", e.id))
                        }
                    },
                }
            } else {
                match e.unreachable_since {
                    None => e.unreachable_since = Some(done),
                    Some(c) if done >= c + LIVENESS_CYCLES => {
                        if let Some(o) = e.weak.upgrade(m) {
                            let what = match self.node_id(o) {
                                Ok(id) => format!("object {id}"),
                                Err(err) => err,
                            };
                            late = Some((e.id, format!(
                                "object {} has been unreachable since a verification at which {c} cycles had completed, yet after {done} cycles its Weak still upgrades (to {what}): unreachable objects must be freed within {LIVENESS_CYCLES} cycles",
                                e.id
                            )));
                            break;
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        match late {
            None => Ok(()),
            Some((id, msg)) => Err(format!("{msg}; {}", model.weak_holders(id))),
        }
    }
}
