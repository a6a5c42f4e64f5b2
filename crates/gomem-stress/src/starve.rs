//! Starvation: the oracle's own yield injection, and CPU hogs.
//!
//! The races H6 found needed a thread preempted inside a few-instruction
//! window (between an allocation and the store that publishes it, say). On
//! an idle machine with as many cores as threads that almost never happens,
//! so the oracle makes it happen:
//!
//! * **Yield injection** (`StressConfig::yield_every`): `Worker::starve` is
//!   called at the windows that matter — between an allocation and the
//!   store that publishes it (`new_node`, `op_alloc_link`, `op_subtree`),
//!   between a load and its use (every slot a walk reads, the lock-free
//!   reads, a weak upgrade, a helper's load through a lent `&Node`), while a
//!   node lives only on a stack (`op_move`, `op_lend`), and before and after
//!   every safepoint. With probability `1 / yield_every` it gives up the
//!   CPU: `yield_now()`, or one time in eight a sleep of 1–200 µs (attached,
//!   not in `blocking`: the collector has to wait for this thread, as for a
//!   preempted one). Off (`0`), it draws no random number, so a seed's mix
//!   is the same as before the option existed.
//! * **CPU hogs** (`StressConfig::hogs`): threads that spin until the run
//!   stops, so that the workers, the collector and the background sweeper
//!   compete for the cores and are preempted at arbitrary points.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::shared::Counter;
use crate::worker::Worker;

impl Worker<'_> {
    /// A yield-injection point (module header).
    pub(crate) fn starve(&mut self) {
        let every = self.oracle.shared.cfg.yield_every;
        if every == 0 || !self.rng.chance(1, every as usize) {
            return;
        }
        self.oracle.shared.add(Counter::Yields, 1);
        if self.rng.chance(1, 8) {
            std::thread::sleep(Duration::from_micros(1 + self.rng.below(200) as u64));
        } else {
            std::thread::yield_now();
        }
    }
}

/// A CPU hog: spins until `stop` is set.
pub(crate) fn hog(stop: &AtomicBool) {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..10_000 {
            x = std::hint::black_box(x.rotate_left(7) ^ x.wrapping_mul(0x2545_F491_4F6C_DD1D));
        }
    }
    std::hint::black_box(x);
}
