//! Hostile programs: safe code that tries to break the heap the ways issue
//! 11 found (H1–H3), run inside the oracle's mix so that the model and the
//! verification check what they leave behind.
//!
//! * **A Drop that reaches the heap (H1).** For half its batches a worker
//!   moves its `Mutator` into the thread-local [`EXPOSED`] and runs the
//!   batch through a shared borrow of it ([`Exposed`]). Every `Tag`'s Drop
//!   ([`probe_from_drop`]) looks there: when the Drop runs on a worker's
//!   thread during an exposed batch (this P sweeping a span from inside
//!   an allocation), it finds the Mutator and, one drop in [`PROBE_EVERY`],
//!   tries one of [`ATTEMPTS`] in turn — `Member::get`, `Member::set`,
//!   `Root::get` and `Weak::upgrade` on the worker's anchor (a small object
//!   it keeps rooted for its whole life in [`ANCHOR`]), `Mutator::root`,
//!   `Mutator::alloc`, `Heap::attach` — inside `catch_unwind`. gomem must
//!   refuse each with a panic ("a Drop cannot reach the heap", or "already
//!   attached"): refusals are counted in the ledger; an attempt that returns
//!   is a failure ("a Drop reached the heap"), and so is a panic with
//!   another message. A Drop cannot record a failure itself (it may run
//!   under gomem's locks), so the ledger keeps it until the worker's next
//!   `Shared::drain_drop_failures`.
//! * **A second Mutator per thread (H3).** `op_attach_twice` calls
//!   `heap.attach()` on a thread that holds a Mutator of that heap (owned or
//!   exposed); it must panic with "already attached".
//! * **A `&Node` carried to another thread (H2).** `op_lend` picks a node
//!   (three times in four unlinking it: it then lives only on the lender's
//!   stack, recorded in `Model::in_flight`), and lends `&Node` to a helper
//!   thread started in a `std::thread::scope`. The helper attaches its own
//!   Mutator, usually waits for a cycle to be marking and passes a
//!   safepoint (its stack black, the lender's still grey), then, for a few
//!   rounds separated by safepoints, loads a kid (or the tag's back edge)
//!   through the borrowed reference — outside the model lock, then again
//!   under it to compare with the model — and stores what it loaded into a
//!   slot picked by a walk from the roots (sometimes clearing the lent
//!   node's kid: a move through `&T`). The model records each store. The
//!   lender meanwhile keeps allocating without a safepoint, checking its
//!   node; afterwards it re-checks the node against the model and either
//!   links it back or drops it, leaving what the helper stored as the only
//!   path to the loaded nodes — exactly what H2 freed. The verifications
//!   then check everything reachable.
//!
//! The expected panics of these probes are kept off stderr by a panic hook
//! installed once per process ([`quiet_refusals`]) that passes every other
//! panic to the previous hook.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use gomem::{Gc, Member, Mutator, Phase, Root, Slice, Weak};

use crate::canary::Ledger;
use crate::graph::{Node, KIDS};
use crate::model::{lock_model, Model};
use crate::rng::Rng;
use crate::shared::Counter;
use crate::worker::{Mu, Worker};

/// A Drop that finds an exposed Mutator probes the heap once every this
/// many times (each probe is a panic and an unwind).
const PROBE_EVERY: u32 = 4;

/// What a probing Drop tries, in turn.
pub(crate) const ATTEMPTS: &[&str] = &[
    "Member::get",
    "Member::set",
    "Root::get",
    "Weak::upgrade",
    "Mutator::root",
    "Mutator::alloc",
    "Heap::attach",
];

/// How long a helper waits for a cycle to be marking before it loads.
const LEND_WAIT: Duration = Duration::from_millis(4);

/// A worker's anchor: a rooted object outside the graph and a Weak to it.
type AnchorPair = (Root<Slice<u64>>, Weak<Slice<u64>>);

thread_local! {
    /// The worker's Mutator during an exposed batch (module header).
    static EXPOSED: RefCell<Option<Mutator>> = const { RefCell::new(None) };
    /// The worker's anchor: a rooted object and a Weak to it.
    static ANCHOR: RefCell<Option<AnchorPair>> = const { RefCell::new(None) };
    /// Drops on this thread that found the Mutator (picks the attempt).
    static TURN: Cell<u32> = const { Cell::new(0) };
}

/// The worker's Mutator moved into [`EXPOSED`] for one batch.
pub(crate) struct Exposed(());

impl Exposed {
    /// Moves `m` into the thread-local.
    pub(crate) fn new(m: Mutator) -> Exposed {
        EXPOSED.with(|c| {
            let old = c.borrow_mut().replace(m);
            assert!(old.is_none(), "stress: a Mutator was already exposed");
        });
        Exposed(())
    }

    /// Runs `f` with a shared borrow of the exposed Mutator (the Drops this
    /// thread runs meanwhile can borrow it too).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Mutator) -> R) -> R {
        EXPOSED.with(|c| f(c.borrow().as_ref().expect("stress: exposed Mutator")))
    }

    /// Takes the Mutator back.
    pub(crate) fn take(self) -> Mutator {
        let m = EXPOSED.with(|c| c.borrow_mut().take());
        std::mem::forget(self);
        m.expect("stress: exposed Mutator")
    }
}

impl Drop for Exposed {
    /// On unwind: the Mutator detaches now, not when the thread-locals are
    /// destroyed (after the run may have torn the heap down).
    fn drop(&mut self) {
        let _ = EXPOSED.try_with(|c| c.try_borrow_mut().map(|mut m| m.take()));
    }
}

/// The worker's anchor in [`ANCHOR`], for as long as this guard lives.
pub(crate) struct Anchor(());

impl Anchor {
    pub(crate) fn set(m: &Mutator) -> Anchor {
        let a = m.alloc_slice(1, |_| 0x00A7_C402u64);
        let pair = (m.root(a), m.weak(a));
        ANCHOR.with(|c| *c.borrow_mut() = Some(pair));
        Anchor(())
    }
}

impl Drop for Anchor {
    fn drop(&mut self) {
        let _ = ANCHOR.try_with(|c| c.try_borrow_mut().map(|mut a| a.take()));
    }
}

/// Installs (once per process) the panic hook that keeps the refusals the
/// probes provoke off stderr.
pub(crate) fn quiet_refusals() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !is_refusal(&panic_text(info.payload())) {
                previous(info);
            }
        }));
    });
}

/// The text of a panic payload.
pub(crate) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic)".into())
}

/// Whether a panic is gomem refusing a probe.
fn is_refusal(msg: &str) -> bool {
    msg.starts_with("gomem: ")
        && (msg.contains("a Drop cannot reach the heap") || msg.contains("already attached"))
}

/// Called by every `Tag`'s Drop (module header): if this thread's Mutator
/// is exposed, tries to reach the heap through it and records the outcome
/// in the ledger.
pub(crate) fn probe_from_drop(ledger: &Ledger, tag: u64, back: &Member<Node>) {
    let _ = EXPOSED.try_with(|cell| {
        // Borrowed mutably: the worker is between two batches.
        let Ok(b) = cell.try_borrow() else { return };
        let Some(m) = b.as_ref() else { return };
        ledger.exposed_drops.fetch_add(1, Ordering::Relaxed);
        let turn = TURN.with(|t| {
            let v = t.get();
            t.set(v.wrapping_add(1));
            v
        });
        if !turn.is_multiple_of(PROBE_EVERY) {
            return;
        }
        let what = ATTEMPTS[(turn / PROBE_EVERY) as usize % ATTEMPTS.len()];
        match catch_unwind(AssertUnwindSafe(|| attempt(what, m, back))) {
            Err(p) if is_refusal(&panic_text(&*p)) => {
                ledger.refusals.fetch_add(1, Ordering::Relaxed);
            }
            Err(p) => ledger.reached(format!(
                "the Drop of tag {tag}, trying {what} through its thread's Mutator, panicked with {:?} instead of gomem's refusal",
                panic_text(&*p)
            )),
            Ok(got) => ledger.reached(format!(
                "a Drop reached the heap: the Drop of tag {tag} called {what} through its thread's Mutator and it returned ({got})"
            )),
        }
    });
}

/// One attempt to reach the heap from a Drop; returns what it got.
fn attempt(what: &str, m: &Mutator, back: &Member<Node>) -> String {
    let anchor = || {
        ANCHOR.with(|a| {
            a.borrow()
                .as_ref()
                .map(|(r, w)| (r.get(m).as_ptr(), w.upgrade(m).map(|g| g.as_ptr())))
        })
    };
    match what {
        "Member::get" => format!("{:?}", back.get(m).map(|g| g.as_ptr())),
        "Member::set" => {
            back.set(m, None);
            "stored".into()
        }
        "Root::get" => format!("{:?}", anchor().map(|a| a.0)),
        "Weak::upgrade" => {
            let w = ANCHOR.with(|a| a.borrow().as_ref().map(|(_, w)| w.clone()));
            format!("{:?}", w.map(|w| w.upgrade(m).map(|g| g.as_ptr())))
        }
        "Mutator::root" => {
            let r = back.get(m).map(|g| m.root(g));
            format!("root {}", r.is_some())
        }
        "Mutator::alloc" => format!("{:p}", m.alloc(7u64).as_ptr()),
        "Heap::attach" => {
            drop(m.heap().attach());
            "a Mutator".into()
        }
        _ => unreachable!("stress: unknown attempt {what}"),
    }
}

impl Worker<'_> {
    /// H3 (module header): a second `attach()` must be refused.
    pub(crate) fn op_attach_twice(&mut self) {
        let heap = self.oracle.heap;
        match catch_unwind(AssertUnwindSafe(|| heap.attach())) {
            Err(p) => {
                let msg = panic_text(&*p);
                if msg.contains("already attached") {
                    self.oracle.shared.add(Counter::AttachRefusals, 1);
                } else {
                    self.fail(format!(
                        "a second attach() on a thread holding a Mutator of the heap panicked with {msg:?}, not \"already attached\""
                    ));
                }
            }
            Ok(second) => {
                self.fail(
                    "a second Mutator of the heap was attached on a thread that holds one".into(),
                );
                drop(second);
            }
        }
    }

    /// H2 (module header): lends a node to a helper thread.
    pub(crate) fn op_lend(&mut self, mu: &mut Mu<'_>) {
        let shared = self.oracle.shared;
        let mut model = self.lock(mu);
        let m = mu.get();
        let Some((src, o)) = self.pick_full(m, &model, 4) else {
            return;
        };
        let id = o.id;
        let unlinked = self.rng.chance(3, 4);
        if unlinked {
            self.oracle.slot_set(m, &mut model, src, None);
        }
        // Pinned in the model even if still linked: others may unlink it.
        model.in_flight[self.thread].push(id);
        drop(model);
        shared.add(Counter::Lends, 1);
        self.starve();

        let lent: &Node = &o;
        let done = &AtomicBool::new(false);
        // The helper's Worker is made on its thread (a Worker is not Send:
        // it may own value stacks).
        let (oracle, thread) = (self.oracle, self.thread);
        let name = format!("{} (lend helper)", self.name);
        let seed = self.rng.next();
        let joined = std::thread::scope(|s| {
            let h = std::thread::Builder::new()
                .name(format!("stress-lend-{}", self.thread))
                .spawn_scoped(s, move || {
                    let mut helper = Worker {
                        oracle,
                        thread,
                        name,
                        rng: Rng::new(seed),
                        disabled_ops: 0,
                        stacks: None,
                    };
                    /// Tells the lender the helper is done, even if it unwinds.
                    struct Done<'a>(&'a AtomicBool);
                    impl Drop for Done<'_> {
                        fn drop(&mut self) {
                            self.0.store(true, Ordering::Release);
                        }
                    }
                    let _done = Done(done);
                    helper.lend_helper(lent, id);
                })
                .expect("stress: cannot spawn a lend helper");
            // Keep allocating, without a safepoint (this stack stays grey).
            while !done.load(Ordering::Acquire) {
                let n = 1 + self.rng.below(4);
                self.churn(m, n, Some(o));
                self.starve();
                std::thread::yield_now();
            }
            h.join()
        });
        if let Err(p) = joined {
            self.fail(format!("a lend helper panicked: {}", panic_text(&*p)));
            return;
        }

        let mut model = lock_model(&shared.model);
        Model::unhold(&mut model.in_flight, self.thread, id);
        if let Err(e) = self.oracle.inspect_and_compare(m, &model, o) {
            return self.fail(format!("object {id}, after it was lent to a helper: {e}"));
        }
        if unlinked && self.rng.chance(1, 2) {
            if let Some((dst, _)) = self.pick_slot(m, &model) {
                self.oracle.slot_set(m, &mut model, dst, Some(o));
            }
        }
    }

    /// The helper thread of `op_lend` (module header); `self` is the
    /// helper's own `Worker` (its rng, a name for failures).
    fn lend_helper(&mut self, lent: &Node, id: u64) {
        let heap = self.oracle.heap;
        let mut mt = heap.attach();
        if self.rng.chance(3, 4) {
            let until = Instant::now() + LEND_WAIT;
            while heap.gc_phase() != Phase::Mark
                && Instant::now() < until
                && !self.oracle.shared.stop.load(Ordering::Relaxed)
            {
                mt.safepoint();
                std::thread::yield_now();
            }
        }
        mt.safepoint(); // black, if a cycle is marking
        if self.rng.chance(1, 2) {
            std::thread::sleep(Duration::from_micros(self.rng.below(300) as u64));
        }
        for _ in 0..1 + self.rng.below(3) {
            if !self.lend_round(&mt, lent, id) {
                return;
            }
            self.starve();
            mt.safepoint();
        }
    }

    /// One load through the lent node and one store of what it loaded;
    /// false after a failure.
    fn lend_round(&mut self, mt: &Mutator, lent: &Node, id: u64) -> bool {
        let shared = self.oracle.shared;
        let via_tag = self.rng.chance(1, 4);
        // A kid that is set, if there is one (a null load tests little).
        let set: Vec<usize> = (0..KIDS).filter(|&k| !lent.kids[k].is_null()).collect();
        let k = if set.is_empty() {
            self.rng.below(KIDS)
        } else {
            set[self.rng.below(set.len())]
        };
        fn load<'m>(lent: &Node, mt: &'m Mutator, via_tag: bool, k: usize) -> Option<Gc<'m, Node>> {
            if via_tag {
                lent.tag.get(mt).and_then(|t| t.back.get(mt))
            } else {
                lent.kids[k].get(mt)
            }
        }
        let what = if via_tag {
            format!("the back edge of lent object {id}'s tag")
        } else {
            format!("kid {k} of lent object {id}")
        };
        // Outside the lock: others may be rewiring the node (it may be shared).
        let first = load(lent, mt, via_tag, k);
        self.starve();
        if let Some(x) = first {
            if let Err(e) = self.oracle.inspect(mt, x) {
                self.fail(format!("{what}, loaded through a lent &Node: {e}"));
                return false;
            }
        }
        let mut model = lock_model(&shared.model);
        let now = load(lent, mt, via_tag, k);
        let Some(entry) = model.nodes.get(&id).copied() else {
            self.fail(format!("lent object {id} is not in the model"));
            return false;
        };
        let want = if via_tag {
            entry
                .tag
                .and_then(|t| model.tags.get(&t).copied().flatten())
        } else {
            entry.kids[k]
        };
        match now.map(|o| self.oracle.node_id(o)).transpose() {
            Err(e) => {
                self.fail(format!("{what}, loaded through a lent &Node: {e}"));
                return false;
            }
            Ok(got) if got != want => {
                self.fail(format!(
                    "{what}, loaded through a lent &Node: the heap holds {got:?}, the model says {want:?}"
                ));
                return false;
            }
            Ok(_) => {}
        }
        // Prefer what was loaded before the lock, if the model still knows
        // it (then its model entry is exact: see `Model::prune`).
        let v = match first {
            Some(x) if model.nodes.contains_key(&x.id) => Some(x),
            _ => now,
        };
        let Some(v) = v else { return true };
        if let Err(e) = self.oracle.inspect_and_compare(mt, &model, v) {
            self.fail(format!("{what}, loaded through a lent &Node: {e}"));
            return false;
        }
        if !via_tag && self.rng.chance(1, 4) {
            // A move through &T: the lent node lets go of the kid.
            lent.kids[k].set(mt, None);
            if let Some(n) = model.nodes.get_mut(&id) {
                n.kids[k] = None;
            }
            if let Some(old) = want {
                model.touch(old);
            }
            shared.add(Counter::Unlinks, 1);
        }
        if let Some((dst, _)) = self.pick_slot(mt, &model) {
            self.oracle.slot_set(mt, &mut model, dst, Some(v));
            shared.add(Counter::LendStores, 1);
        }
        true
    }
}
