//! Heap: the shared handle that owns everything below it.
//!
//! A [`Heap`] is a cheap, cloneable, `Send + Sync` handle to one managed
//! heap. Behind it, [`HeapInner`] owns the page heap and central lists
//! ([`MHeap`]), the Ps, the root table, the marking state, the pacer and the
//! statistics; the collector's threads (one coordinator, a few mark workers;
//! `gc/cycle.rs`) hold it too.
//!
//! Lifetime: every `Mutator`, `Root` and `Weak` holds a `Heap`, so while any
//! of them exists the heap lives. When the last `Heap` handle goes, the
//! collector threads are stopped and joined, the Drop of every object still
//! in the heap runs, and every reservation is unmapped: a dropped heap leaks
//! neither memory nor threads, and nothing can reach it any more.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar};
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::Mutex;

use crate::alloc::arena;
use crate::alloc::mheap::MHeap;
use crate::config::Config;
use crate::gc::mark::{Drain, MarkState};
use crate::gc::pacer::Pacer;
use crate::gc::roots::{RootSlot, RootTable, Shader};
use crate::gc::scavenge::Scavenger;
use crate::gc::state::{GcWord, GcWordCell, Phase};
use crate::gc::weak::WeakHandle;
use crate::gc::{cycle, sweep};
use crate::mutator::{Mutator, P};
use crate::stats::{format_gctrace, GcStats, GcSummary, SizeClassStats};
pub use crate::stats::{CycleRecord, MemStats};

/// A managed heap (module header).
///
/// ```
/// use gomem::{Config, Heap};
/// let heap = Heap::new(Config::default());
/// let other = heap.clone(); // same heap
/// let mut m = other.attach();
/// let x = m.alloc(7u32);
/// assert_eq!(*x, 7);
/// m.collect();
/// assert!(heap.gc_summary().cycles >= 1);
/// ```
#[derive(Clone)]
pub struct Heap {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Arc<HeapInner>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.inner.shutdown();
    }
}

/// Everything a heap owns (module header).
pub(crate) struct HeapInner {
    pub(crate) mheap: MHeap,
    pub(crate) config: Config,
    pub(crate) roots: RootTable,
    pub(crate) mark: MarkState,
    pub(crate) pacer: Pacer,
    pub(crate) stats: GcStats,
    pub(crate) collector: CollectorState,
    pub(crate) scavenger: Scavenger,
    pub(crate) created: Instant,
    ps: Mutex<Vec<NonNull<P>>>,
    free_ps: Mutex<Vec<NonNull<P>>>,
}

// SAFETY: the P pointers are boxes owned by the heap, shared under the
// ownership protocol of `mutator.rs`; everything else is Sync.
unsafe impl Send for HeapInner {}
// SAFETY: as above.
unsafe impl Sync for HeapInner {}

/// When the phases of the current cycle began.
#[derive(Default, Clone, Copy)]
pub(crate) struct CycleTimes {
    pub(crate) start: Option<Instant>,
    pub(crate) mark: Option<Instant>,
    pub(crate) drained: Option<Instant>,
    pub(crate) term: std::time::Duration,
    pub(crate) heap_start: usize,
    pub(crate) assist_ns: u64,
    pub(crate) worker_ns: u64,
    pub(crate) forced: bool,
}

/// The collector's own state.
#[derive(Default)]
pub(crate) struct CollectorState {
    pub(crate) shutdown: AtomicBool,
    pub(crate) roots_done: AtomicU32,
    requested: AtomicU32,
    swept: std::sync::Mutex<u32>,
    swept_cv: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
    times: Mutex<CycleTimes>,
    pub(crate) start_lock: Mutex<()>,
    workers: Mutex<Vec<std::thread::Thread>>,
    forced_pending: AtomicBool,
}

impl Heap {
    /// A new, empty heap with its collector threads. No memory is reserved
    /// until the first allocation.
    pub fn new(config: Config) -> Heap {
        let mheap = MHeap::new();
        mheap
            .clobber_free
            .store(config.clobber_free_value(), Ordering::Relaxed);
        if let Some(limit) = config.hard_memory_limit_value() {
            mheap.hard_limit.store(limit, Ordering::Relaxed);
        }
        let inner = Arc::new(HeapInner {
            mheap,
            pacer: Pacer::new(&config),
            config,
            roots: RootTable::default(),
            mark: MarkState::default(),
            stats: GcStats::default(),
            collector: CollectorState::default(),
            scavenger: Scavenger::default(),
            created: Instant::now(),
            ps: Mutex::new(Vec::new()),
            free_ps: Mutex::new(Vec::new()),
        });
        inner.pacer.commit(&inner);
        inner.start_threads();
        Heap {
            shared: Arc::new(Shared { inner }),
        }
    }

    /// A heap configured from the environment, as a Go program is: `GOGC`,
    /// `GOMEMLIMIT` and `GOMEM_DEBUG=gctrace=1` (see [`Config::from_env`]).
    /// A bad value is an error that names the variable and the value.
    ///
    /// ```
    /// let heap = gomem::Heap::from_env().expect("GOGC/GOMEMLIMIT");
    /// # drop(heap);
    /// ```
    pub fn from_env() -> Result<Heap, crate::config::ConfigError> {
        Ok(Heap::new(Config::from_env()?))
    }

    #[inline(always)]
    pub(crate) fn inner(&self) -> &HeapInner {
        &self.shared.inner
    }

    pub(crate) fn arc_inner(&self) -> Arc<HeapInner> {
        self.shared.inner.clone()
    }

    /// Whether two handles name the same heap.
    pub fn ptr_eq(a: &Heap, b: &Heap) -> bool {
        Arc::ptr_eq(&a.shared, &b.shared)
    }

    /// The configuration this heap was built with.
    pub fn config(&self) -> &Config {
        &self.inner().config
    }

    /// The page heap (white-box tests inside the crate).
    #[cfg(test)]
    pub(crate) fn mheap(&self) -> &MHeap {
        &self.inner().mheap
    }

    /// What the collector has done so far.
    pub fn gc_summary(&self) -> GcSummary {
        self.inner().stats.summary()
    }

    /// Bytes the last cycle found live.
    pub fn live_bytes(&self) -> usize {
        self.inner().pacer.heap_marked()
    }

    /// The current heap goal (Go's `NextGC`).
    pub fn heap_goal(&self) -> usize {
        self.inner().pacer.goal()
    }

    /// Makes the next `n` address-space reservations fail as if the OS had
    /// refused them (fault injection for tests).
    pub fn inject_reserve_failures(&self, n: usize) {
        self.inner().mheap.faults.refuse_reservations(n);
    }

    /// Makes the next `n` commits fail as if the OS had refused them.
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
        inner.pacer.commit(inner);
        inner.wake_collector();
        u32::try_from(prev).ok()
    }

    /// Sets GOMEMLIMIT (`None` = no limit) and returns the previous value,
    /// as Go's `debug.SetMemoryLimit` does.
    pub fn set_memory_limit(&self, bytes: Option<u64>) -> Option<u64> {
        let inner = self.inner();
        let prev = inner.pacer.set_memory_limit(bytes.unwrap_or(u64::MAX));
        inner.pacer.commit(inner);
        inner.wake_collector();
        (prev < i64::MAX as u64).then_some(prev)
    }

    /// The collector's current phase.
    pub fn gc_phase(&self) -> Phase {
        self.inner().word().phase()
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
        let by_size: Vec<SizeClassStats> = (0..crate::alloc::sizeclass::NUM_SIZE_CLASSES)
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
                    size: crate::alloc::sizeclass::CLASS_TO_SIZE[class],
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
        let heap_alloc = inner.heap_alloc_bytes() as u64;
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

impl Mutator {
    /// Runs a full collection, then returns every free page to the OS (Go's
    /// `debug.FreeOSMemory`). Like [`Mutator::collect`], it waits for the
    /// other mutators to pass a safepoint.
    pub fn free_os_memory(&mut self) {
        self.collect();
        let inner = self.heap().inner();
        inner.mheap.scavenge(usize::MAX);
    }
}

impl HeapInner {
    fn start_threads(self: &Arc<Self>) {
        let mut threads = self.collector.threads.lock();
        let coordinator = {
            let heap = self.clone();
            std::thread::Builder::new()
                .name("gomem-gc".into())
                .spawn(move || cycle::coordinator(heap))
                .expect("gomem: cannot spawn the collector thread")
        };
        self.mheap
            .coordinator
            .set(coordinator.thread().clone())
            .expect("coordinator set once");
        threads.push(coordinator);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        for i in 0..(cpus / 4).max(1) {
            let heap = self.clone();
            let t = std::thread::Builder::new()
                .name(format!("gomem-mark-{i}"))
                .spawn(move || cycle::worker(heap))
                .expect("gomem: cannot spawn a mark worker");
            self.collector.workers.lock().push(t.thread().clone());
            threads.push(t);
        }
    }

    fn shutdown(&self) {
        self.collector.shutdown.store(true, Ordering::Release);
        let threads: Vec<_> = std::mem::take(&mut *self.collector.threads.lock());
        for t in &threads {
            t.thread().unpark();
        }
        for t in threads {
            let _ = t.join();
        }
    }

    /// The GC word.
    #[inline(always)]
    pub(crate) fn gc_word(&self) -> &AtomicU64 {
        &self.mheap.gc_word
    }

    /// The GC word, decoded.
    #[inline(always)]
    pub(crate) fn word(&self) -> GcWord {
        self.mheap.gc_state()
    }

    pub(crate) fn wake_collector(&self) {
        if let Some(t) = self.mheap.coordinator.get() {
            t.unpark();
        }
    }

    pub(crate) fn wake_workers(&self) {
        for t in self.collector.workers.lock().iter() {
            t.unpark();
        }
    }

    // ---- Ps --------------------------------------------------------------

    pub(crate) fn take_p(&self) -> NonNull<P> {
        if let Some(p) = self.free_ps.lock().pop() {
            return p;
        }
        let mut ps = self.ps.lock();
        let p = NonNull::from(Box::leak(Box::new(P::new(ps.len(), self))));
        ps.push(p);
        p
    }

    pub(crate) fn put_p(&self, p: NonNull<P>) {
        self.free_ps.lock().push(p);
    }

    pub(crate) fn all_ps(&self) -> Vec<NonNull<P>> {
        self.ps.lock().clone()
    }

    // ---- shading, roots, weak pointers -------------------------------

    /// Greys `addr` for cycle `n` from outside a drain: as a registered
    /// agent in Arm or Mark; in Term, after setting `dirty` and waiting for
    /// the terminator to go back to Mark (a short wait for the collector,
    /// never for a mutator). Does nothing once cycle n is over.
    pub(crate) fn shade_now(&self, n: u32, addr: usize) {
        self.with_registration(n, || {
            let mut drain = Drain::new(&self.mark);
            drain.shade(addr);
        });
    }

    /// Runs `f` as a registered agent of cycle `n` (see `shade_now`).
    /// Returns `None` if cycle n ended first.
    pub(crate) fn with_registration<R>(&self, n: u32, f: impl FnOnce() -> R) -> Option<R> {
        let cell = self.gc_word();
        loop {
            let w = cell.word();
            if w.cycle() != n || w.phase() == Phase::Off {
                return None;
            }
            if w.phase() == Phase::Term {
                cell.set_dirty_if_term(n);
                std::thread::yield_now();
                continue;
            }
            if cell.register(n).is_ok() {
                let r = f();
                cell.deregister();
                return Some(r);
            }
        }
    }

    pub(crate) fn root_register(&self, hint: usize, addr: usize) -> NonNull<RootSlot> {
        self.roots.register(hint, addr, self)
    }

    pub(crate) fn root_load(&self, slot: NonNull<RootSlot>) -> usize {
        self.roots.load(slot)
    }

    pub(crate) fn root_store(&self, slot: NonNull<RootSlot>, addr: usize) {
        self.roots.store(slot, addr, self)
    }

    pub(crate) fn root_unregister(&self, slot: NonNull<RootSlot>) {
        self.roots.unregister(slot, self)
    }

    /// Upgrades a weak handle (the protocol of `gc/weak.rs`).
    pub(crate) fn upgrade_weak(&self, handle: &WeakHandle) -> Option<usize> {
        loop {
            let addr = handle.target();
            if addr == 0 {
                return None;
            }
            let span = arena::span_of(addr);
            // SAFETY: a handle's target stays in this heap's arenas; span
            // structs are never freed while the heap lives.
            let span = unsafe { &*span };
            let w = self.word();
            if w.phase() == Phase::Off {
                let _guard = span.lock_weak();
                if self.word() != w {
                    continue;
                }
                let sg = w.sweepgen();
                let ssg = span.sweepgen.load(Ordering::Acquire);
                // Not yet swept for this cycle: waiting (h−2), being swept
                // (h−1), or cached by a P since before the flip (h+1) and so
                // swept only when that P lets it go.
                let unswept = ssg == sg.wrapping_sub(2)
                    || ssg == sg.wrapping_sub(1)
                    || ssg == sg.wrapping_add(1);
                let alive = if unswept && span.weak_sweepgen.load(Ordering::Acquire) != sg {
                    let idx = span.find_object(addr).0;
                    handle.target() != 0 && span.is_marked(idx)
                } else {
                    handle.target() != 0
                };
                return alive.then_some(addr);
            }
            let decided = self.with_registration(w.cycle(), || {
                (handle.target() != 0).then(|| {
                    let mut drain = Drain::new(&self.mark);
                    drain.shade(addr);
                    addr
                })
            });
            if let Some(result) = decided {
                return result;
            }
        }
    }

    // ---- cycles --------------------------------------------------------

    /// Asks for a full cycle that starts after now; returns its number.
    pub(crate) fn request_forced_cycle(&self) -> u32 {
        let target = self.word().cycle() + 1;
        self.collector.requested.fetch_max(target, Ordering::AcqRel);
        self.collector.forced_pending.store(true, Ordering::Release);
        self.wake_collector();
        target
    }

    /// Blocks until cycle `target` has been marked and swept.
    pub(crate) fn wait_for_swept_cycle(&self, target: u32) {
        let mut swept = self.collector.swept.lock().expect("swept lock");
        while *swept < target {
            swept = self.collector.swept_cv.wait(swept).expect("swept lock");
        }
    }

    pub(crate) fn swept_cycle(&self) -> u32 {
        *self.collector.swept.lock().expect("swept lock")
    }

    pub(crate) fn note_swept(&self, n: u32) {
        let mut swept = self.collector.swept.lock().expect("swept lock");
        if *swept < n {
            *swept = n;
            self.collector.swept_cv.notify_all();
        }
    }

    /// Called by a mutator after its heap grew (a refill, a large object):
    /// starts the next cycle itself when the trigger is crossed and the
    /// previous sweep is done.
    pub(crate) fn maybe_start_cycle(&self) {
        if !self.mheap.cycle_wanted.load(Ordering::Relaxed) {
            return;
        }
        let w = self.word();
        if w.phase() == Phase::Off
            && !self.pacer.limiting()
            && self.mheap.counters.heap_live.load(Ordering::Relaxed)
                >= self.mheap.gc_trigger.load(Ordering::Relaxed)
            && self.swept_cycle() == w.cycle()
        {
            cycle::start_cycle(self, w.cycle() + 1);
        }
    }

    /// Whether the coordinator should start cycle `n + 1` now.
    pub(crate) fn wants_cycle(&self, n: u32, timer_due: bool) -> bool {
        if self.collector.requested.load(Ordering::Acquire) > n {
            return true;
        }
        if self.pacer.limiting() {
            // The collector has used more than half the machine for a
            // while: let the mutators run (the heap may overshoot).
            return false;
        }
        let c = &self.mheap;
        let live = c.counters.heap_live.load(Ordering::Relaxed);
        if live >= c.gc_trigger.load(Ordering::Relaxed) {
            return true;
        }
        c.cycle_wanted.store(false, Ordering::Release);
        timer_due && self.pacer.gc_percent() >= 0
    }

    pub(crate) fn note_term(&self, d: std::time::Duration) {
        self.collector.times.lock().term = d;
    }

    pub(crate) fn note_mark_start(&self) {
        self.collector.times.lock().mark = Some(Instant::now());
    }

    pub(crate) fn note_mark_drained(&self) {
        let mut t = self.collector.times.lock();
        if t.drained.is_none() {
            t.drained = Some(Instant::now());
        }
    }

    pub(crate) fn on_cycle_start(&self, n: u32) {
        let forced = self.collector.requested.load(Ordering::Acquire) > n - 1
            && self.collector.forced_pending.swap(false, Ordering::AcqRel);
        if forced {
            self.stats.num_forced.fetch_add(1, Ordering::Relaxed);
        }
        *self.collector.times.lock() = CycleTimes {
            start: Some(Instant::now()),
            heap_start: self.mheap.counters.heap_live.load(Ordering::Relaxed),
            assist_ns: self.stats.assist_ns.load(Ordering::Relaxed),
            worker_ns: self.stats.worker_ns.load(Ordering::Relaxed),
            forced,
            ..CycleTimes::default()
        };
        self.stats.cycle_max_poll_ns.store(0, Ordering::Relaxed);
        self.mheap.cycle_wanted.store(false, Ordering::Release);
        self.pacer.on_cycle_start(self);
    }

    pub(crate) fn on_flip(&self, n: u32) {
        let marked = self.mark.bytes_marked.load(Ordering::Relaxed);
        let black = self.mark.bytes_black.load(Ordering::Relaxed);
        let heap_end = self.mheap.counters.heap_live.load(Ordering::Relaxed);
        let goal = self.pacer.goal();
        self.scavenger.inuse_at_last_cycle.store(
            self.mheap.counters.inuse.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        self.pacer.on_flip(self, marked, black);
        self.stats.num_gc.fetch_add(1, Ordering::Relaxed);
        let t = *self.collector.times.lock();
        let now = Instant::now();
        let span = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            _ => std::time::Duration::ZERO,
        };
        let ns = |x: u64| std::time::Duration::from_nanos(x);
        let record = CycleRecord {
            n,
            start_s: t.start.map_or(0.0, |s| (s - self.created).as_secs_f64()),
            cpu_pct: (self.gc_cpu_fraction() * 100.0) as u32,
            arm: span(t.start, t.mark),
            mark: span(t.mark, Some(now)).saturating_sub(t.term),
            term: t.term,
            assist_cpu: ns(self.stats.assist_ns.load(Ordering::Relaxed) - t.assist_ns),
            worker_cpu: ns(self.stats.worker_ns.load(Ordering::Relaxed) - t.worker_ns),
            heap_start: t.heap_start,
            heap_end,
            marked,
            goal,
            procs: self.ps.lock().len(),
            forced: t.forced,
            max_poll: ns(self.stats.cycle_max_poll_ns.load(Ordering::Relaxed)),
            end_unix_ns: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
        };
        if self.config.gctrace_value() {
            eprintln!("{}", format_gctrace(&record));
        }
        self.stats.push_cycle(record);
    }

    /// Share of the machine's CPU the collector used since the heap began.
    pub(crate) fn gc_cpu_fraction(&self) -> f64 {
        let wall = self.created.elapsed().as_secs_f64() * cpus() as f64;
        if wall == 0.0 {
            return 0.0;
        }
        self.stats.gc_cpu().as_secs_f64() / wall
    }

    /// Whether the heap has grown past its goal.
    pub(crate) fn past_goal(&self) -> bool {
        self.mheap.counters.heap_live.load(Ordering::Relaxed) >= self.pacer.goal()
    }

    /// Bytes of allocated objects (Go's HeapAlloc), as of the Ps' last flush.
    pub(crate) fn heap_alloc_bytes(&self) -> usize {
        let c = &self.mheap.counters;
        (c.total_alloc.load(Ordering::Relaxed)).saturating_sub(c.total_free.load(Ordering::Relaxed))
            as usize
    }

    /// One step of the coordinator's idle-time duties: the CPU limiter, the
    /// memory-limit goal (which moves with non-heap memory), scavenging.
    pub(crate) fn idle_duties(&self) {
        self.pacer.update_limiter(self.stats.gc_cpu(), cpus());
        if self.pacer.memory_limit() < i64::MAX as u64 {
            self.pacer.commit(self);
        }
        crate::gc::scavenge::step(self);
    }
}

/// CPUs available to the process.
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Shader for HeapInner {
    fn shade_for_root(&self, addr: usize) {
        let w = self.word();
        if w.marking() && addr != 0 {
            self.shade_now(w.cycle(), addr);
        }
    }
}

impl Drop for HeapInner {
    fn drop(&mut self) {
        // No mutator, root or collector thread is left: run the Drop of every
        // object still in the heap, then free the Ps; the mheap unmaps.
        let ps = std::mem::take(self.ps.get_mut());
        for p in ps {
            // SAFETY: Ps were leaked boxes owned by this heap; nothing else
            // refers to them now.
            let p = unsafe { Box::from_raw(p.as_ptr()) };
            p.release_caches(self);
            drop(p);
        }
        sweep::drop_all_objects(&self.mheap);
    }
}
