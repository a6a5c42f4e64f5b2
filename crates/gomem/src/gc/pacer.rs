//! The pacer: when to start a cycle, and how much assists must pay.
//!
//! Go's model (the 1.18 pacer, `go-runtime-facts.md` §4): the heap goal is
//! `live + live × GOGC/100` (at least 4 MiB × GOGC/100), where `live` is what
//! the last cycle marked; a cycle is triggered early enough that marking at
//! the background rate finishes as the heap reaches the goal. The trigger is
//! placed at the goal minus the *runway*: the heap growth observed during the
//! last mark phase (the bytes the mutators allocated while it ran, Go's
//! cons/mark ratio expressed in bytes), with 10 % slack, bounded to between
//! 70 % and 95 % of the way from the live heap to the goal, as Go bounds it.
//!
//! Mark assists keep the goal when the estimate is wrong: during marking,
//! each byte allocated owes `assist_ratio` bytes of scan work, where the
//! ratio is the scan work expected (the last live heap) over the heap
//! distance left to the goal when marking starts.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use crate::config::Config;
use crate::heap::HeapInner;

/// Minimum heap goal at GOGC=100 (Go: `defaultHeapMinimum`, 4 MiB).
pub const HEAP_MINIMUM_BYTES: usize = 4 << 20;
/// Lower bound of the trigger, as a fraction of the way to the goal (Go:
/// 45/64 ≈ 0.70).
const TRIGGER_MIN: (usize, usize) = (45, 64);
/// Upper bound (Go: 61/64 ≈ 0.95).
const TRIGGER_MAX: (usize, usize) = (61, 64);
/// Smallest heap distance assists plan with (Go's `minRunway` spirit).
const MIN_DISTANCE_BYTES: usize = 64 << 10;

/// Pacing state of one heap (module header).
pub struct Pacer {
    gc_percent: AtomicI64,
    heap_marked: AtomicUsize,
    goal: AtomicUsize,
    runway: AtomicUsize,
    live_at_trigger: AtomicUsize,
    assist_ratio_bits: AtomicU64,
}

impl Pacer {
    /// A pacer for a fresh heap.
    pub fn new(config: &Config) -> Pacer {
        let pct = config.gc_percent_value().map_or(-1, i64::from);
        Pacer {
            gc_percent: AtomicI64::new(pct),
            heap_marked: AtomicUsize::new(0),
            goal: AtomicUsize::new(0),
            runway: AtomicUsize::new(0),
            live_at_trigger: AtomicUsize::new(0),
            assist_ratio_bits: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// GOGC (−1 when off).
    pub fn gc_percent(&self) -> i64 {
        self.gc_percent.load(Ordering::Relaxed)
    }

    /// Sets GOGC (−1 = off); returns the previous value.
    pub fn set_gc_percent(&self, pct: i64) -> i64 {
        self.gc_percent.swap(pct, Ordering::Relaxed)
    }

    /// The current heap goal in bytes (`usize::MAX` when GOGC is off).
    pub fn goal(&self) -> usize {
        self.goal.load(Ordering::Relaxed)
    }

    /// Bytes the last cycle marked.
    pub fn heap_marked(&self) -> usize {
        self.heap_marked.load(Ordering::Relaxed)
    }

    /// Scan work owed per byte allocated during marking.
    pub fn assist_ratio(&self) -> f64 {
        f64::from_bits(self.assist_ratio_bits.load(Ordering::Relaxed))
    }

    /// Computes goal and trigger from the live heap and publishes the
    /// trigger to the mheap.
    pub(crate) fn commit(&self, heap: &HeapInner) {
        let pct = self.gc_percent();
        let (goal, trigger) = if pct < 0 {
            (usize::MAX, usize::MAX)
        } else {
            let marked = self.heap_marked();
            let pct = pct as usize;
            let goal = marked
                .saturating_add(marked.saturating_mul(pct) / 100)
                .max(HEAP_MINIMUM_BYTES.saturating_mul(pct) / 100);
            (goal, self.trigger_for(marked, goal))
        };
        self.goal.store(goal, Ordering::Relaxed);
        heap.mheap.gc_trigger.store(trigger, Ordering::Relaxed);
        heap.mheap.note_heap_growth();
    }

    fn trigger_for(&self, marked: usize, goal: usize) -> usize {
        let distance = goal.saturating_sub(marked);
        let lo = marked + distance * TRIGGER_MIN.0 / TRIGGER_MIN.1;
        let hi = marked + distance * TRIGGER_MAX.0 / TRIGGER_MAX.1;
        let runway = self.runway.load(Ordering::Relaxed);
        goal.saturating_sub(runway + runway / 10).clamp(lo, hi)
    }

    /// At the start of a cycle: remember where it triggered.
    pub(crate) fn on_cycle_start(&self, heap: &HeapInner) {
        let live = heap.mheap.counters.heap_live.load(Ordering::Relaxed);
        self.live_at_trigger.store(live, Ordering::Relaxed);
    }

    /// The assist ratio now: scan work still expected over heap distance
    /// still left to the goal (Go revises it as marking goes on). Zero when
    /// the background workers are ahead.
    pub(crate) fn assist_ratio_now(&self, heap: &HeapInner) -> f64 {
        let expected = self.heap_marked().max(HEAP_MINIMUM_BYTES / 4) as u64;
        let done = heap.mark.bytes_scanned.load(Ordering::Relaxed);
        let remaining = expected.saturating_sub(done);
        if remaining == 0 {
            return 0.0;
        }
        let live = heap.mheap.counters.heap_live.load(Ordering::Relaxed);
        let distance = self.goal().saturating_sub(live).max(MIN_DISTANCE_BYTES);
        remaining as f64 / distance as f64
    }

    /// When marking starts: set the assist ratio.
    pub(crate) fn on_mark_start(&self, heap: &HeapInner) {
        let live = heap.mheap.counters.heap_live.load(Ordering::Relaxed);
        let distance = self.goal().saturating_sub(live).max(MIN_DISTANCE_BYTES);
        let expected_scan = self.heap_marked().max(HEAP_MINIMUM_BYTES / 4);
        let ratio = expected_scan as f64 / distance as f64;
        self.assist_ratio_bits
            .store(ratio.to_bits(), Ordering::Relaxed);
    }

    /// At the flip: the marked bytes become the live heap; the growth seen
    /// during marking becomes the next runway; goal and trigger follow.
    pub(crate) fn on_flip(&self, heap: &HeapInner, marked: usize) {
        let live = heap.mheap.counters.heap_live.load(Ordering::Relaxed);
        let grown = live.saturating_sub(self.live_at_trigger.load(Ordering::Relaxed));
        self.runway.store(grown, Ordering::Relaxed);
        self.heap_marked.store(marked, Ordering::Relaxed);
        heap.mheap
            .counters
            .heap_live
            .store(marked, Ordering::Relaxed);
        self.commit(heap);
    }
}
