//! The scavenger: returning free pages to the OS.
//!
//! Free pages stay resident after sweeping (reusing them is cheap); the
//! scavenger gives them back with `madvise(MADV_DONTNEED)` when the heap
//! retains more than it needs (Go's `bgscavenge`, `go-runtime-facts.md` §5):
//!
//! * **GOGC goal**: keep retained memory (committed minus released) near
//!   110 % of the in-use heap scaled by how the goal moved:
//!   `inuse_at_last_cycle × goal / last_goal × 1.1`;
//! * **memory-limit goal**: keep mapped, ready memory under 95 % of
//!   GOMEMLIMIT.
//!
//! It runs on the collector's coordinator thread while no cycle is marking,
//! in 64 KiB quanta ([`QUANTUM_BYTES`]) up to a small batch per step, and
//! paces itself to about 1 % of one CPU: after spending `t` scavenging it
//! waits `99·t` before the next batch. The page allocator hands out low
//! addresses first and the scavenger releases high addresses first, so the
//! two rarely meet. `Heap::free_os_memory` releases everything free at once.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::alloc::mheap::MHeap;
use crate::gc::pacer::Pacer;

/// Bytes released per quantum (Go: `scavengeQuantum`).
pub const QUANTUM_BYTES: usize = 64 << 10;
/// Quanta per step.
const BATCH_QUANTA: usize = 16;
/// Extra retained memory allowed over the projected heap (Go: 10 %).
const RETAIN_EXTRA_PERCENT: usize = 10;
/// Share of the memory limit the scavenger keeps mapped memory under.
const LIMIT_PERCENT: usize = 95;
/// CPU share: wait this many times what a step took (≈1 %).
const PACE_FACTOR: u32 = 99;

/// The scavenger's state.
pub struct Scavenger {
    next_allowed: Mutex<Instant>,
    /// Inuse bytes at the last cycle's end.
    pub inuse_at_last_cycle: std::sync::atomic::AtomicUsize,
}

impl Default for Scavenger {
    fn default() -> Self {
        Scavenger {
            next_allowed: Mutex::new(Instant::now()),
            inuse_at_last_cycle: Default::default(),
        }
    }
}

impl Scavenger {
    /// Bytes the heap should give back now to meet both goals.
    pub(crate) fn excess_bytes(&self, mheap: &MHeap, pacer: &Pacer) -> usize {
        let c = &mheap.counters;
        let sys = c.sys.load(Ordering::Relaxed);
        let released = c.released.load(Ordering::Relaxed);
        let retained = sys.saturating_sub(released);
        let mut excess = 0;
        let goal = pacer.goal();
        let last_goal = pacer.last_goal();
        let inuse = self.inuse_at_last_cycle.load(Ordering::Relaxed);
        if goal != usize::MAX && last_goal != 0 && last_goal != usize::MAX && inuse != 0 {
            let projected = (inuse as f64 * goal as f64 / last_goal as f64) as usize;
            let keep = projected + projected * RETAIN_EXTRA_PERCENT / 100;
            excess = retained.saturating_sub(keep);
        }
        let limit = pacer.memory_limit();
        if limit < i64::MAX as u64 {
            let keep = (limit as usize / 100) * LIMIT_PERCENT;
            excess = excess.max(retained.saturating_sub(keep));
        }
        excess
    }

    /// One paced step of background scavenging. Returns bytes released.
    pub(crate) fn step(&self, mheap: &MHeap, pacer: &Pacer) -> usize {
        let now = Instant::now();
        if now < *self.next_allowed.lock() {
            return 0;
        }
        let excess = self.excess_bytes(mheap, pacer);
        if excess < QUANTUM_BYTES {
            return 0;
        }
        let start = Instant::now();
        let released = mheap.scavenge(excess.min(QUANTUM_BYTES * BATCH_QUANTA));
        let took = start.elapsed();
        *self.next_allowed.lock() =
            Instant::now() + (took * PACE_FACTOR).max(Duration::from_micros(100));
        released
    }
}
