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
use crate::gc::state::{GcWord, GcWordCell, Phase};
use crate::gc::weak::WeakHandle;
use crate::gc::{cycle, sweep};
use crate::mutator::P;
use crate::stats::{GcStats, GcSummary};

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
    workers: Mutex<Vec<std::thread::Thread>>,
    cycle_start: Mutex<Option<Instant>>,
    forced_pending: AtomicBool,
    last_cycle_ns: AtomicU64,
}

impl Heap {
    /// A new, empty heap with its collector threads. No memory is reserved
    /// until the first allocation.
    pub fn new(config: Config) -> Heap {
        let mheap = MHeap::new();
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
            ps: Mutex::new(Vec::new()),
            free_ps: Mutex::new(Vec::new()),
        });
        inner.pacer.commit(&inner);
        inner.start_threads();
        Heap {
            shared: Arc::new(Shared { inner }),
        }
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

    /// The page heap (for benchmarks and white-box tests).
    #[doc(hidden)]
    pub fn mheap(&self) -> &MHeap {
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
                let unswept = ssg == sg.wrapping_sub(2) || ssg == sg.wrapping_sub(1);
                let alive = if unswept && span.weak_sweepgen.load(Ordering::Acquire) != sg {
                    let idx = if span.spanclass.size_class() == 0 {
                        0
                    } else {
                        span.object_index(addr)
                    };
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

    /// Whether the coordinator should start cycle `n + 1` now.
    pub(crate) fn wants_cycle(&self, n: u32, timer_due: bool) -> bool {
        if self.collector.requested.load(Ordering::Acquire) > n {
            return true;
        }
        let c = &self.mheap;
        let live = c.counters.heap_live.load(Ordering::Relaxed);
        if live >= c.gc_trigger.load(Ordering::Relaxed) {
            return true;
        }
        c.cycle_wanted.store(false, Ordering::Release);
        timer_due && self.pacer.gc_percent() >= 0
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

    pub(crate) fn on_cycle_start(&self, _n: u32) {
        *self.collector.cycle_start.lock() = Some(Instant::now());
        *self.collector.times.lock() = CycleTimes {
            start: Some(Instant::now()),
            ..CycleTimes::default()
        };
        self.mheap.cycle_wanted.store(false, Ordering::Release);
        if self.collector.forced_pending.swap(false, Ordering::AcqRel) {
            self.stats.num_forced.fetch_add(1, Ordering::Relaxed);
        }
        self.pacer.on_cycle_start(self);
    }

    pub(crate) fn on_flip(&self, n: u32) {
        let marked = self.mark.bytes_marked.load(Ordering::Relaxed);
        let live_at_end = self.mheap.counters.heap_live.load(Ordering::Relaxed);
        let goal = self.pacer.goal();
        self.pacer.on_flip(self, marked);
        self.stats.num_gc.fetch_add(1, Ordering::Relaxed);
        let took = self
            .collector
            .cycle_start
            .lock()
            .take()
            .map_or(0, |t| t.elapsed().as_nanos() as u64);
        self.collector.last_cycle_ns.store(took, Ordering::Relaxed);
        if self.config.gctrace_value() {
            let t = *self.collector.times.lock();
            let ms = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
                (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64() * 1e3,
                _ => 0.0,
            };
            let now = Some(Instant::now());
            eprintln!(
                "gc {n}: {:.3} ms (arm {:.2} + mark {:.2} + stacks {:.2}), {} -> {} MB, {} MB goal, next goal {} MB trigger {} MB",
                took as f64 / 1e6,
                ms(t.start, t.mark),
                ms(t.mark, t.drained),
                ms(t.drained, now),
                live_at_end >> 20,
                marked >> 20,
                goal >> 20,
                self.pacer.goal() >> 20,
                self.mheap.gc_trigger.load(Ordering::Relaxed) >> 20
            );
        }
    }
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
