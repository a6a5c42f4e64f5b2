//! A mutator thread: its loop, and the operation mix.
//!
//! A [`Worker`] owns its `Mutator`, its `Rng`, its name and its two value
//! stacks (module `vstack`), and shares the rest through its `Oracle`. Its
//! loop runs batches of 1–8 operations (`step` picks each; the operations
//! themselves are in modules `ops`, `hostile`, `vslot`, `vstack` and
//! `keys`), and after each batch reaches a safepoint (with yield
//! injection around it, module `starve`), now and then blocks briefly (a
//! sleep or a yield inside `Mutator::blocking`), forces a cycle (thread 0,
//! every `forced_collect_every` operations) or runs the full verification
//! (whichever thread first sees it due). It stops when `stop` is set or
//! after `ops_per_thread` operations; it then empties its value stacks
//! from the model and drops them.
//!
//! **Exposed batches.** With `drop_probes` on, half the batches run with
//! the Mutator moved into a thread-local (module `hostile`) and borrowed
//! shared from there, so that a Drop run by this thread's sweeping finds it
//! and tries to reach the heap. An operation sees its Mutator as a [`Mu`]:
//! owned (it may enter `blocking` to take the model lock) or exposed
//! (shared only: the lock is taken attached). Safepoints, collections and
//! verifications happen between batches, with the Mutator owned.
//!
//! The mix steers the graph's size: it is held between one half and three
//! quarters of the object budget — below, unlinks become allocations;
//! above (or while the model map is full until the next prune), allocations
//! become unlinks. Two rare operations, `lend` and `attach_twice`, run
//! every `lend_every` and `attach_twice_every` operations on average. With
//! `vm_ops` on, one operation in five is a VM API operation: `vslot`
//! (30 %), `vmove` (10 %), `vread` (15 %), `stack` (25 %), `intern` (10 %)
//! and `intern_free` (10 %).

use std::sync::atomic::Ordering;
use std::sync::MutexGuard;
use std::time::Duration;

use gomem::Mutator;

use crate::model::{lock_model, Model};
use crate::oracle::Oracle;
use crate::rng::Rng;
use crate::shared::Counter;
use crate::vstack::VmStacks;

/// Verification (and pruning) interval while the model map is full.
const PRUNE_EVERY_MS: u64 = 20;

/// A worker's Mutator as an operation sees it (module header).
pub(crate) enum Mu<'a> {
    /// Owned by the loop: `Worker::lock` may enter `blocking`.
    Own(&'a mut Mutator),
    /// Exposed through the thread-local to Drops (module `hostile`), so
    /// shared only.
    Exposed(&'a Mutator),
}

impl Mu<'_> {
    /// The Mutator, shared.
    pub(crate) fn get(&self) -> &Mutator {
        match self {
            Mu::Own(m) => m,
            Mu::Exposed(m) => m,
        }
    }
}

/// The operations, in the order of [`OP_NAMES`].
#[derive(Clone, Copy)]
enum Op {
    AllocLink,
    Subtree,
    Unlink,
    Move,
    Copy,
    Root,
    WeakTake,
    WeakUpgrade,
    Payload,
    Tag,
    Vec,
    Garbage,
    Read,
    Lend,
    AttachTwice,
    VSlot,
    VMove,
    VRead,
    Stack,
    Intern,
    InternFree,
}

const _: () = assert!(OP_NAMES.len() == Op::InternFree as usize + 1);

/// Names of the operations, for
/// [`StressConfig::disabled_ops`](crate::StressConfig::disabled_ops).
pub const OP_NAMES: &[&str] = &[
    "alloc_link",
    "subtree",
    "unlink",
    "move",
    "copy",
    "root",
    "weak_take",
    "weak_upgrade",
    "payload",
    "tag",
    "vec",
    "garbage",
    "read",
    "lend",
    "attach_twice",
    "vslot",
    "vmove",
    "vread",
    "stack",
    "intern",
    "intern_free",
];

/// The bit set of the operations named in `names` (bit `i`: `OP_NAMES[i]`).
///
/// # Panics
/// On a name that is not in [`OP_NAMES`].
pub(crate) fn op_mask(names: &[String]) -> u32 {
    let mut mask = 0u32;
    for name in names {
        let Some(i) = OP_NAMES.iter().position(|n| n == name) else {
            panic!("stress: unknown operation {name:?}; the operations are {OP_NAMES:?}")
        };
        mask |= 1 << i;
    }
    mask
}

/// A mutator thread (module header).
pub(crate) struct Worker<'a> {
    pub(crate) oracle: Oracle<'a>,
    /// The thread's index (its stack in `Model::in_flight`).
    pub(crate) thread: usize,
    /// "thread N", for failures.
    pub(crate) name: String,
    pub(crate) rng: Rng,
    /// Bit `op` set: the operation is disabled (see [`op_mask`]).
    pub(crate) disabled_ops: u32,
    /// The thread's value stacks (module `vstack`; `None` for a lend
    /// helper, or with `vm_ops` off).
    pub(crate) stacks: Option<VmStacks>,
}

impl<'a> Worker<'a> {
    pub(crate) fn fail(&self, msg: String) {
        self.oracle.fail(&self.name, msg);
    }

    fn stopped(&self) -> bool {
        self.oracle.shared.stop.load(Ordering::Relaxed)
    }

    /// Takes the model lock, half the time inside `blocking` (when the
    /// Mutator is owned).
    pub(crate) fn lock(&mut self, m: &mut Mu<'_>) -> MutexGuard<'a, Model> {
        let shared = self.oracle.shared;
        match m {
            Mu::Own(m) if self.rng.chance(1, 2) => m.blocking(|| lock_model(&shared.model)),
            _ => lock_model(&shared.model),
        }
    }

    /// The thread's loop (module header).
    pub(crate) fn run(mut self, mut m: Mutator) {
        let shared = self.oracle.shared;
        let _anchor = crate::hostile::Anchor::set(&m);
        crate::keys::set_who(self.thread);
        if shared.cfg.vm_ops {
            self.stacks = Some(VmStacks::new(&m));
        }
        let mut ops = 0u64;
        while !self.stopped() && !self.limit_reached(ops) {
            let before = ops;
            let n = 1 + self.rng.below(8);
            if shared.cfg.drop_probes && self.rng.chance(1, 2) {
                let exposed = crate::hostile::Exposed::new(m);
                exposed.with(|em| self.batch(&mut Mu::Exposed(em), n, &mut ops));
                m = exposed.take();
                shared.add(Counter::ExposedBatches, 1);
                shared.drain_drop_failures();
            } else {
                self.batch(&mut Mu::Own(&mut m), n, &mut ops);
            }
            self.starve();
            m.safepoint();
            self.starve();
            if self.rng.chance(1, 100) {
                let d = Duration::from_micros(self.rng.below(200) as u64);
                m.blocking(|| {
                    if d.is_zero() {
                        std::thread::yield_now()
                    } else {
                        std::thread::sleep(d)
                    }
                });
            }
            let every = shared.cfg.forced_collect_every;
            if self.thread == 0 && every > 0 && ops / every != before / every {
                m.collect();
            }
            if self.verify_due() {
                let mut model = self.lock(&mut Mu::Own(&mut m));
                self.oracle.verify(&m, &mut model, &self.name);
            }
        }
        self.drop_stacks();
    }

    fn limit_reached(&self, ops: u64) -> bool {
        self.oracle
            .shared
            .cfg
            .ops_per_thread
            .is_some_and(|n| ops >= n)
    }

    /// Runs up to `n` operations (fewer if the run stops).
    fn batch(&mut self, m: &mut Mu<'_>, n: usize, ops: &mut u64) {
        for _ in 0..n {
            if self.stopped() || self.limit_reached(*ops) {
                return;
            }
            self.step(m);
            *ops += 1;
            self.oracle.shared.add(Counter::Ops, 1);
        }
    }

    /// Whether this thread should verify now: every `verify_every`, and
    /// sooner (every [`PRUNE_EVERY_MS`]) while the model map is full, since a
    /// verification also prunes it.
    fn verify_due(&self) -> bool {
        let shared = self.oracle.shared;
        let now = shared.start.elapsed().as_millis() as u64;
        let last = shared.last_verify_ms.load(Ordering::Relaxed);
        let full = shared.model_len.load(Ordering::Relaxed) >= shared.object_budget;
        let wait = if full {
            PRUNE_EVERY_MS
        } else {
            shared.cfg.verify_every.as_millis() as u64
        };
        now >= last + wait
            && shared
                .last_verify_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Picks and runs one operation (module header).
    fn step(&mut self, m: &mut Mu<'_>) {
        let shared = self.oracle.shared;
        let cfg = &shared.cfg;
        let reachable = shared.reachable.load(Ordering::Relaxed);
        let full = shared.model_len.load(Ordering::Relaxed) >= shared.object_budget;
        let shrink = full || reachable >= shared.object_budget / 4 * 3;
        let grow = !shrink && reachable < shared.object_budget / 2;
        let op = if cfg.lend_every > 0 && self.rng.below(cfg.lend_every as usize) == 0 {
            Op::Lend
        } else if cfg.attach_twice_every > 0 && self.rng.below(cfg.attach_twice_every as usize) == 0
        {
            Op::AttachTwice
        } else if cfg.vm_ops && self.rng.chance(1, 5) {
            match self.rng.below(100) {
                0..=29 => Op::VSlot,
                30..=39 => Op::VMove,
                40..=54 => Op::VRead,
                55..=79 => Op::Stack,
                80..=89 => Op::Intern,
                _ => Op::InternFree,
            }
        } else {
            match self.rng.below(100) {
                0..=21 if !shrink => Op::AllocLink,
                22..=31 if !shrink => Op::Subtree,
                32..=37 if grow => Op::AllocLink,
                0..=37 => Op::Unlink,
                38..=49 => Op::Move,
                50..=55 => Op::Copy,
                56..=60 => Op::Root,
                61..=65 => Op::WeakTake,
                66..=71 => Op::WeakUpgrade,
                72..=75 => Op::Payload,
                76..=80 => Op::Tag,
                81..=85 => Op::Vec,
                86..=91 => Op::Garbage,
                _ => Op::Read,
            }
        };
        if self.disabled_ops & (1 << op as u32) != 0 {
            return;
        }
        match op {
            Op::AllocLink => self.op_alloc_link(m),
            Op::Subtree => self.op_subtree(m),
            Op::Unlink => self.op_unlink(m),
            Op::Move => self.op_move(m),
            Op::Copy => self.op_copy(m),
            Op::Root => self.op_root(m),
            Op::WeakTake => self.op_weak_take(m),
            Op::WeakUpgrade => self.op_weak_upgrade(m),
            Op::Payload => self.op_payload(m),
            Op::Tag => self.op_tag(m),
            Op::Vec => self.op_vec(m),
            Op::Garbage => self.op_garbage(m),
            Op::Read => self.op_read(m),
            Op::Lend => self.op_lend(m),
            Op::AttachTwice => self.op_attach_twice(),
            Op::VSlot => self.op_vslot(m),
            Op::VMove => self.op_vmove(m),
            Op::VRead => self.op_vread(m),
            Op::Stack => self.op_stack(m),
            Op::Intern => self.op_intern(m),
            Op::InternFree => self.op_intern_free(m),
        }
    }
}
