//! Heap: the public handle to one managed heap.
//!
//! A [`Heap`] is a cheap, cloneable, `Send + Sync` handle. The type itself,
//! and what it owns — the collector state (page heap, mcentrals, Ps, roots,
//! marking, pacer, statistics) and its threads — are defined below the API,
//! in `gc/collector.rs`, so that the API layer (`mutator.rs`, `ptr.rs`) can
//! hold a `Heap` without importing this file. This file is the top of the
//! library: the public methods of a heap, each a thin call into the
//! collector (creating it and starting its threads, attaching a thread,
//! the GOGC and GOMEMLIMIT knobs, and the statistics, gathered into Go's
//! `MemStats`).
//!
//! Lifetime: every `Mutator`, `Root` and `Weak` holds a `Heap`, so while any
//! of them exists the heap lives. When the last `Heap` handle goes, the
//! collector threads are stopped and joined, the Drop of every object still
//! in the heap runs, and every reservation is unmapped: a dropped heap leaks
//! neither memory nor threads, and nothing can reach it any more.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::alloc::sizeclass::{CLASS_TO_SIZE, NUM_SIZE_CLASSES};
use crate::config::{Config, ConfigError};
use crate::gc::collector::{Collector, Heap};
use crate::gc::cycle;
use crate::gc::state::{GcWordCell, Phase};
use crate::mutator::Mutator;
use crate::stats::{CycleRecord, GcSummary, MemStats, SizeClassStats};

impl Heap {
    /// A new, empty heap with its collector threads. No memory is reserved
    /// until the first allocation.
    pub fn new(config: Config) -> Heap {
        let inner = Arc::new(Collector::new(config));
        inner.commit_pacing();
        cycle::start_threads(&inner);
        Heap::from_collector(inner)
    }

    /// A heap configured from the environment, as a Go program is: `GOGC`,
    /// `GOMEMLIMIT` and `GOMEM_DEBUG=gctrace=1` (see [`Config::from_env`]).
    /// A bad value is an error that names the variable and the value.
    ///
    /// ```
    /// let heap = gomem::Heap::from_env().expect("GOGC/GOMEMLIMIT");
    /// # drop(heap);
    /// ```
    pub fn from_env() -> Result<Heap, ConfigError> {
        Ok(Heap::new(Config::from_env()?))
    }

    /// Attaches this thread to the heap: takes a P and returns the Mutator
    /// through which it allocates and reads the heap.
    ///
    /// # Panics
    /// If called from the Drop of a heap object while gomem sweeps it.
    pub fn attach(&self) -> Mutator {
        Mutator::attach_to(self)
    }

    /// Whether two handles name the same heap.
    pub fn ptr_eq(a: &Heap, b: &Heap) -> bool {
        Heap::same(a, b)
    }

    /// The configuration this heap was built with.
    pub fn config(&self) -> &Config {
        &self.inner().config
    }

    /// What the collector has done so far.
    pub fn gc_summary(&self) -> GcSummary {
        self.inner().stats.summary()
    }

    /// The live heap the last cycle left (Go's `heapMarked`): bytes it
    /// marked, plus bytes allocated black while it ran up to the cycle's
    /// heap distance. The next goal is computed from it.
    pub fn live_bytes(&self) -> usize {
        self.inner().pacer.heap_marked()
    }

    /// The current heap goal (Go's `NextGC`).
    pub fn heap_goal(&self) -> usize {
        self.inner().pacer.goal()
    }

    /// Makes the next `n` address-space reservations fail as if the OS had
    /// refused them (fault injection for tests).
    #[doc(hidden)]
    pub fn inject_reserve_failures(&self, n: usize) {
        self.inner().mheap.faults.refuse_reservations(n);
    }

    /// Makes the next `n` commits fail as if the OS had refused them (fault
    /// injection for tests).
    #[doc(hidden)]
    pub fn inject_commit_failures(&self, n: usize) {
        self.inner().mheap.faults.refuse_commits(n);
    }

    /// Number of registered roots.
    pub fn root_count(&self) -> usize {
        self.inner().roots.len()
    }

    /// Sets GOGC (`None` = off) and returns the previous value, as Go's
    /// `debug.SetGCPercent` does. Takes effect for the next trigger.
    pub fn set_gc_percent(&self, percent: Option<u32>) -> Option<u32> {
        let inner = self.inner();
        let prev = inner.pacer.set_gc_percent(percent.map_or(-1, i64::from));
        inner.commit_pacing();
        inner.wake_collector();
        u32::try_from(prev).ok()
    }

    /// Sets GOMEMLIMIT (`None` = no limit) and returns the previous value,
    /// as Go's `debug.SetMemoryLimit` does.
    pub fn set_memory_limit(&self, bytes: Option<u64>) -> Option<u64> {
        let inner = self.inner();
        let prev = inner.pacer.set_memory_limit(bytes.unwrap_or(u64::MAX));
        inner.commit_pacing();
        inner.wake_collector();
        (prev < i64::MAX as u64).then_some(prev)
    }

    /// The collector's current phase.
    pub fn gc_phase(&self) -> Phase {
        self.inner().gc_word().word().phase()
    }

    /// Asks for a cycle without waiting for it (for benchmarks and tests
    /// that need a cycle under way; programs use [`Mutator::collect`]).
    #[doc(hidden)]
    pub fn request_cycle(&self) {
        self.inner().request_forced_cycle();
    }

    /// Whether the GC CPU limiter is currently holding the collector back.
    pub fn cpu_limiter_active(&self) -> bool {
        self.inner().pacer.limiting()
    }

    /// How many times the GC CPU limiter engaged.
    pub fn cpu_limiter_engagements(&self) -> u64 {
        self.inner().pacer.limiter_engagements()
    }

    /// The last cycles (up to 256), oldest first.
    pub fn cycle_history(&self) -> Vec<CycleRecord> {
        self.inner().stats.history.lock().iter().cloned().collect()
    }

    /// Go's `runtime.MemStats`, gathered without stopping anyone (see
    /// [`MemStats`] for what that means for the counts).
    pub fn stats(&self) -> MemStats {
        let inner = self.inner();
        let c = &inner.mheap.counters;
        let by_size: Vec<SizeClassStats> = (0..NUM_SIZE_CLASSES)
            .map(|class| {
                let (m, f) = if class == 0 {
                    (
                        c.large_mallocs.load(Ordering::Relaxed),
                        c.large_frees.load(Ordering::Relaxed),
                    )
                } else {
                    (
                        c.by_class[class].mallocs.load(Ordering::Relaxed),
                        c.by_class[class].frees.load(Ordering::Relaxed),
                    )
                };
                SizeClassStats {
                    size: CLASS_TO_SIZE[class],
                    mallocs: m,
                    frees: f,
                }
            })
            .collect();
        let tiny = c.tiny_allocs.load(Ordering::Relaxed);
        let mallocs = by_size.iter().map(|s| s.mallocs).sum::<u64>() + tiny;
        // Tiny sub-objects are counted in both, as Go counts them: their
        // memory is freed with their 16-byte block, which the class counts.
        let frees = by_size.iter().map(|s| s.frees).sum::<u64>() + tiny;
        let sys = c.sys.load(Ordering::Relaxed) as u64;
        let inuse = c.inuse.load(Ordering::Relaxed) as u64;
        let heap_alloc = inner.mheap.heap_alloc_bytes() as u64;
        let mut pause_ns = [0u64; 256];
        let mut pause_end = [0u64; 256];
        let history = inner.stats.history.lock();
        let num_gc = inner.stats.num_gc.load(Ordering::Relaxed);
        for r in history.iter() {
            let i = (r.n as usize + 255) % 256;
            pause_ns[i] = r.max_poll.as_nanos() as u64;
            pause_end[i] = r.end_unix_ns;
        }
        let goal = inner.pacer.goal();
        MemStats {
            alloc: heap_alloc,
            total_alloc: c.total_alloc.load(Ordering::Relaxed),
            sys,
            mallocs,
            frees,
            heap_alloc,
            heap_sys: sys,
            heap_idle: sys.saturating_sub(inuse),
            heap_inuse: inuse,
            heap_released: c.released.load(Ordering::Relaxed) as u64,
            heap_objects: mallocs.saturating_sub(frees),
            next_gc: if goal == usize::MAX { 0 } else { goal as u64 },
            last_gc: history.back().map_or(0, |r| r.end_unix_ns),
            pause_total_ns: inner.stats.pause_total_ns.load(Ordering::Relaxed),
            pause_ns,
            pause_end,
            num_gc,
            num_forced_gc: inner.stats.num_forced.load(Ordering::Relaxed),
            gc_cpu_fraction: inner.gc_cpu_fraction(),
            enable_gc: true,
            by_size,
        }
    }
}
