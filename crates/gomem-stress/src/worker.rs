//! A mutator thread: its loop, and the operation mix.
//!
//! A [`Worker`] owns its `Mutator`, its `Rng` and its name, and shares the
//! rest through its `Oracle`. Each turn of its loop picks one operation
//! (`step`; the operations themselves are in module `ops`), then now and
//! then reaches a safepoint (every 1–8 operations), blocks briefly (a
//! sleep or a yield inside `Mutator::blocking`), forces a cycle (thread 0,
//! every `forced_collect_every` operations) or runs the full verification
//! (whichever thread first sees it due). It stops when `stop` is set or
//! after `ops_per_thread` operations.
//!
//! The mix steers the graph's size: it is held between one half and three
//! quarters of the object budget — below, unlinks become allocations;
//! above (or while the model map is full until the next prune), allocations
//! become unlinks.

use std::sync::atomic::Ordering;
use std::sync::MutexGuard;
use std::time::Duration;

use gomem::Mutator;

use crate::model::{lock_model, Model};
use crate::oracle::Oracle;
use crate::rng::Rng;
use crate::shared::Counter;

/// Verification (and pruning) interval while the model map is full.
const PRUNE_EVERY_MS: u64 = 20;

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
}

const _: () = assert!(OP_NAMES.len() == Op::Read as usize + 1);

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
}

impl<'a> Worker<'a> {
    pub(crate) fn fail(&self, msg: String) {
        self.oracle.fail(&self.name, msg);
    }

    fn stopped(&self) -> bool {
        self.oracle.shared.stop.load(Ordering::Relaxed)
    }

    /// Takes the model lock, half the time inside `blocking`.
    pub(crate) fn lock(&mut self, m: &mut Mutator) -> MutexGuard<'a, Model> {
        let shared = self.oracle.shared;
        if self.rng.chance(1, 2) {
            m.blocking(|| lock_model(&shared.model))
        } else {
            lock_model(&shared.model)
        }
    }

    /// The thread's loop (module header).
    pub(crate) fn run(mut self, mut m: Mutator) {
        let shared = self.oracle.shared;
        let mut ops = 0u64;
        let mut until_safepoint = 1 + self.rng.below(8);
        while !self.stopped() {
            if shared.cfg.ops_per_thread.is_some_and(|n| ops >= n) {
                break;
            }
            self.step(&mut m);
            ops += 1;
            shared.add(Counter::Ops, 1);
            until_safepoint -= 1;
            if until_safepoint == 0 {
                m.safepoint();
                until_safepoint = 1 + self.rng.below(8);
            }
            if self.rng.chance(1, 512) {
                let d = Duration::from_micros(self.rng.below(200) as u64);
                m.blocking(|| {
                    if d.is_zero() {
                        std::thread::yield_now()
                    } else {
                        std::thread::sleep(d)
                    }
                });
            }
            if self.thread == 0
                && shared.cfg.forced_collect_every > 0
                && ops.is_multiple_of(shared.cfg.forced_collect_every)
            {
                m.collect();
            }
            if self.verify_due() {
                let mut model = self.lock(&mut m);
                self.oracle.verify(&m, &mut model, &self.name);
            }
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
    fn step(&mut self, m: &mut Mutator) {
        let shared = self.oracle.shared;
        let reachable = shared.reachable.load(Ordering::Relaxed);
        let full = shared.model_len.load(Ordering::Relaxed) >= shared.object_budget;
        let shrink = full || reachable >= shared.object_budget / 4 * 3;
        let grow = !shrink && reachable < shared.object_budget / 2;
        let op = match self.rng.below(100) {
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
        }
    }
}
