//! The collector's shared state: everything one heap owns, and the handle
//! that keeps it alive.
//!
//! [`Collector`] owns the page heap ([`MHeap`]) and the mcentrals
//! ([`Centrals`]), the GC word, the Ps, the root table, the weak-handle
//! table, the marking state, the pacer, the scavenger and the statistics.
//! Every thread that works on the heap holds it: the mutators (through a
//! [`Heap`]), the coordinator and the mark workers (`gc/cycle.rs`, which
//! drives cycles through the methods here).
//!
//! It is also where the layers meet: it implements the allocator's
//! [`Sweeper`] and [`HeapGrowth`] (so an mcentral sweeps lazily through
//! `gc/sweep.rs` and an mcache refill checks the pacer's trigger), a P's
//! [`POwner`], and the root table's [`RootBarrier`].
//!
//! **The GC word** is one `AtomicU64` ([`Collector::gc_word`]); every
//! decision reads it through [`GcWordCell`] (`gc_word().word()` decodes it).
//!
//! **Lifetime.** A [`Heap`] is a cheap, cloneable, `Send + Sync` handle;
//! every `Mutator`, `Root` and `Weak` holds one, so while any of them exists
//! the heap lives. When the last handle goes, the collector threads are
//! stopped and joined; when the last reference to the `Collector` goes, the
//! Drop of every object still in the heap runs and every reservation is
//! unmapped: a dropped heap leaks neither memory nor threads. The public
//! methods of [`Heap`] are in `heap.rs`.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::Mutex;

use crate::alloc::cache::HeapGrowth;
use crate::alloc::central::{Centrals, Sweeper};
use crate::alloc::mheap::MHeap;
use crate::alloc::span::SpanPtr;
use crate::config::Config;
use crate::gc::mark::MarkState;
use crate::gc::pacer::Pacer;
use crate::gc::proc::{POwner, P, P_RUNNING};
use crate::gc::roots::{RootBarrier, RootSlot, RootTable};
use crate::gc::scavenge::Scavenger;
use crate::gc::state::{GcWord, GcWordCell, Phase};
use crate::gc::sweep;
use crate::gc::weak::{self, WeakHandle, WeakTable};
use crate::stats::{format_gctrace, CycleRecord, GcStats};

/// A managed heap (module header; its methods are in `heap.rs`).
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
    inner: Arc<Collector>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.inner.shutdown();
    }
}

impl Heap {
    /// The handle of a collector whose threads run.
    pub(crate) fn from_collector(inner: Arc<Collector>) -> Heap {
        Heap {
            shared: Arc::new(Shared { inner }),
        }
    }

    #[inline(always)]
    pub(crate) fn inner(&self) -> &Collector {
        &self.shared.inner
    }

    pub(crate) fn arc_inner(&self) -> Arc<Collector> {
        self.shared.inner.clone()
    }

    /// Whether two handles name the same heap.
    pub(crate) fn same(a: &Heap, b: &Heap) -> bool {
        Arc::ptr_eq(&a.shared, &b.shared)
    }
}

/// Everything a heap owns (module header).
pub(crate) struct Collector {
    pub(crate) mheap: MHeap,
    pub(crate) centrals: Centrals,
    /// The GC word (`gc/state.rs`): phase, cycle, and so the sweep generation.
    gc_word: AtomicU64,
    pub(crate) config: Config,
    /// Clobber on free: freed objects are overwritten with `0xEF` bytes.
    clobber_free: bool,
    pub(crate) roots: RootTable,
    /// Weak handles of this heap's objects, cleared by the sweeper.
    pub(crate) weaks: WeakTable,
    pub(crate) mark: MarkState,
    pub(crate) pacer: Pacer,
    pub(crate) stats: GcStats,
    pub(crate) control: CycleControl,
    pub(crate) scavenger: Scavenger,
    pub(crate) created: Instant,
    ps: Mutex<Vec<NonNull<P>>>,
    free_ps: Mutex<Vec<NonNull<P>>>,
    /// How many Ps this heap has made (never falls: Ps are reused, not
    /// freed). While it is 1, no two Mutators of the heap have ever existed
    /// at once, so no pointer can travel between two of them outside the
    /// heap, and the load barrier has nothing to do (`Mutator::load_barrier`).
    pub(crate) ps_made: AtomicUsize,
}

// SAFETY: the P pointers are boxes owned by the heap, shared under the
// ownership protocol of `gc/proc.rs`; everything else is Sync.
unsafe impl Send for Collector {}
// SAFETY: as above.
unsafe impl Sync for Collector {}

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

/// The collector threads and the bookkeeping of cycle requests.
#[derive(Default)]
pub(crate) struct CycleControl {
    pub(crate) shutdown: AtomicBool,
    pub(crate) roots_done: AtomicU32,
    requested: AtomicU32,
    swept: std::sync::Mutex<u32>,
    swept_cv: Condvar,
    pub(crate) threads: Mutex<Vec<JoinHandle<()>>>,
    /// Idle mark workers marking right now (`gc/cycle.rs`).
    pub(crate) idle_marking: AtomicUsize,
    /// The last cycle in which every P's stack was seen black (Release, by
    /// the coordinator): from then on no grey stack is left to lend a `&T`
    /// from, and the load barrier stands down (`Mutator::load_barrier`).
    pub(crate) stacks_black_cycle: AtomicU32,
    times: Mutex<CycleTimes>,
    pub(crate) start_lock: Mutex<()>,
    pub(crate) workers: Mutex<Vec<std::thread::Thread>>,
    /// The coordinator thread, to wake when the trigger is crossed.
    pub(crate) coordinator: OnceLock<std::thread::Thread>,
    forced_pending: AtomicBool,
}

impl Collector {
    /// The state of a new, empty heap (its threads are started by
    /// `gc/cycle.rs`).
    pub(crate) fn new(config: Config) -> Collector {
        let mheap = MHeap::new();
        if let Some(limit) = config.hard_memory_limit_value() {
            mheap.hard_limit.store(limit, Ordering::Relaxed);
        }
        Collector {
            mheap,
            centrals: Centrals::default(),
            gc_word: AtomicU64::new(GcWord::new(Phase::Off, 0).0),
            clobber_free: config.clobber_free_value(),
            pacer: Pacer::new(&config),
            config,
            roots: RootTable::default(),
            weaks: WeakTable::default(),
            mark: MarkState::default(),
            stats: GcStats::default(),
            control: CycleControl::default(),
            scavenger: Scavenger::default(),
            created: Instant::now(),
            ps: Mutex::new(Vec::new()),
            free_ps: Mutex::new(Vec::new()),
            ps_made: AtomicUsize::new(0),
        }
    }

    /// Stops and joins the collector threads (the last `Heap` went).
    fn shutdown(&self) {
        self.control.shutdown.store(true, Ordering::Release);
        let threads: Vec<_> = std::mem::take(&mut *self.control.threads.lock());
        for t in &threads {
            t.thread().unpark();
        }
        for t in threads {
            let _ = t.join();
        }
    }

    /// The GC word (module header).
    #[inline(always)]
    pub(crate) fn gc_word(&self) -> &AtomicU64 {
        &self.gc_word
    }

    pub(crate) fn wake_collector(&self) {
        if let Some(t) = self.control.coordinator.get() {
            t.unpark();
        }
    }

    pub(crate) fn wake_workers(&self) {
        for t in self.control.workers.lock().iter() {
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
        self.ps_made.store(ps.len(), Ordering::Release);
        p
    }

    pub(crate) fn put_p(&self, p: NonNull<P>) {
        self.free_ps.lock().push(p);
    }

    pub(crate) fn all_ps(&self) -> Vec<NonNull<P>> {
        self.ps.lock().clone()
    }

    /// Ps whose mutator is running now (not idle, blocking or detached):
    /// the CPUs the program is using, for the idle mark workers.
    pub(crate) fn running_ps(&self) -> usize {
        self.ps
            .lock()
            .iter()
            // SAFETY: Ps live as long as their heap.
            .filter(|p| unsafe { p.as_ref() }.status.load(Ordering::Relaxed) == P_RUNNING)
            .count()
    }

    // ---- roots, weak pointers --------------------------------------------

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
        weak::upgrade(handle, &self.gc_word, &self.mark)
    }

    // ---- cycles ------------------------------------------------------------

    /// Asks for a full cycle that starts after now; returns its number.
    pub(crate) fn request_forced_cycle(&self) -> u32 {
        let target = self.gc_word.word().cycle() + 1;
        self.control.requested.fetch_max(target, Ordering::AcqRel);
        self.control.forced_pending.store(true, Ordering::Release);
        self.wake_collector();
        target
    }

    /// Blocks until cycle `target` has been marked and swept.
    pub(crate) fn wait_for_swept_cycle(&self, target: u32) {
        let mut swept = self.control.swept.lock().expect("swept lock");
        while *swept < target {
            swept = self.control.swept_cv.wait(swept).expect("swept lock");
        }
    }

    pub(crate) fn swept_cycle(&self) -> u32 {
        *self.control.swept.lock().expect("swept lock")
    }

    pub(crate) fn note_swept(&self, n: u32) {
        let mut swept = self.control.swept.lock().expect("swept lock");
        if *swept < n {
            *swept = n;
            self.control.swept_cv.notify_all();
        }
    }

    /// Whether the coordinator should start cycle `n + 1` now.
    pub(crate) fn wants_cycle(&self, n: u32, timer_due: bool) -> bool {
        if self.control.requested.load(Ordering::Acquire) > n {
            return true;
        }
        if self.pacer.limiting() {
            // The collector has used more than half the machine for a
            // while: let the mutators run (the heap may overshoot).
            return false;
        }
        if self.pacer.trigger_crossed(&self.mheap) {
            return true;
        }
        self.pacer.clear_cycle_wanted();
        timer_due && self.pacer.gc_percent() >= 0
    }

    pub(crate) fn note_term(&self, d: std::time::Duration) {
        self.control.times.lock().term = d;
    }

    pub(crate) fn note_mark_start(&self) {
        self.control.times.lock().mark = Some(Instant::now());
    }

    pub(crate) fn note_mark_drained(&self) {
        let mut t = self.control.times.lock();
        if t.drained.is_none() {
            t.drained = Some(Instant::now());
        }
    }

    pub(crate) fn on_cycle_start(&self, n: u32) {
        let forced = self.control.requested.load(Ordering::Acquire) > n - 1
            && self.control.forced_pending.swap(false, Ordering::AcqRel);
        if forced {
            self.stats.num_forced.fetch_add(1, Ordering::Relaxed);
        }
        *self.control.times.lock() = CycleTimes {
            start: Some(Instant::now()),
            heap_start: self.mheap.counters.heap_live.load(Ordering::Relaxed),
            assist_ns: self.stats.assist_ns.load(Ordering::Relaxed),
            worker_ns: self.stats.worker_ns.load(Ordering::Relaxed),
            forced,
            ..CycleTimes::default()
        };
        self.stats.cycle_max_poll_ns.store(0, Ordering::Relaxed);
        self.pacer.clear_cycle_wanted();
        self.pacer.on_cycle_start(&self.mheap);
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
        for central in self.centrals.iter() {
            central.start_sweep();
        }
        let utilization = self.cycle_gc_utilization();
        self.pacer
            .on_flip(&self.mheap, &self.roots, marked, black, utilization);
        self.note_heap_growth();
        self.stats.num_gc.fetch_add(1, Ordering::Relaxed);
        let record = self.cycle_record(n, heap_end, marked, goal);
        if self.config.gctrace_value() {
            // Not `eprintln!`: it panics when stderr is gone (a closed pipe),
            // and a trace line is not worth the collector thread.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "{}", format_gctrace(&record));
        }
        self.stats.push_cycle(record);
    }

    /// The share of the machine's CPU the collector (assists and
    /// background marking) used from this cycle's start to now: the pacer
    /// scales the growth it saw during marking by it (Go's cons/mark).
    fn cycle_gc_utilization(&self) -> f64 {
        let t = *self.control.times.lock();
        let Some(start) = t.start else { return 0.0 };
        let wall_ns = start.elapsed().as_nanos() as f64 * cpus() as f64;
        let gc_ns = (self.stats.assist_ns.load(Ordering::Relaxed) - t.assist_ns)
            + (self.stats.worker_ns.load(Ordering::Relaxed) - t.worker_ns);
        if wall_ns <= 0.0 {
            return 0.0;
        }
        gc_ns as f64 / wall_ns
    }

    /// What cycle `n` did, for the history and gctrace (at its flip).
    fn cycle_record(&self, n: u32, heap_end: usize, marked: usize, goal: usize) -> CycleRecord {
        let t = *self.control.times.lock();
        let now = Instant::now();
        let span = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            _ => std::time::Duration::ZERO,
        };
        let ns = |x: u64| std::time::Duration::from_nanos(x);
        CycleRecord {
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
        }
    }

    /// Share of the machine's CPU the collector used since the heap began.
    pub(crate) fn gc_cpu_fraction(&self) -> f64 {
        let wall = self.created.elapsed().as_secs_f64() * cpus() as f64;
        if wall == 0.0 {
            return 0.0;
        }
        self.stats.gc_cpu().as_secs_f64() / wall
    }

    /// Recomputes the heap goal and trigger, then checks the trigger.
    pub(crate) fn commit_pacing(&self) {
        self.pacer.commit(&self.mheap, &self.roots);
        self.note_heap_growth();
    }

    /// One step of the coordinator's idle-time duties: the CPU limiter, the
    /// memory-limit goal (which moves with non-heap memory), scavenging.
    pub(crate) fn idle_duties(&self) {
        self.pacer.update_limiter(self.stats.gc_cpu(), cpus());
        if self.pacer.memory_limit() < i64::MAX as u64 {
            self.commit_pacing();
        }
        self.scavenger.step(&self.mheap, &self.pacer);
    }
}

/// CPUs available to the process, read once: `available_parallelism`
/// reads cgroup files on each call, and the coordinator asks every few
/// dozen µs while marking (Go reads GOMAXPROCS at start-up, too).
pub(crate) fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

impl Sweeper for Collector {
    #[inline(always)]
    fn mheap(&self) -> &MHeap {
        &self.mheap
    }

    #[inline(always)]
    fn centrals(&self) -> &Centrals {
        &self.centrals
    }

    #[inline]
    fn sweepgen(&self) -> u32 {
        self.gc_word.word().sweepgen()
    }

    fn sweep_owned(&self, s: SpanPtr, sg: u32, keep_empty: bool) -> Option<SpanPtr> {
        sweep::sweep_span(
            &self.mheap,
            &self.weaks,
            self.clobber_free,
            s,
            sg,
            keep_empty,
        )
    }
}

impl HeapGrowth for Collector {
    #[inline]
    fn note_heap_growth(&self) {
        if self.pacer.note_heap_growth(&self.mheap) {
            self.wake_collector();
        }
    }
}

impl POwner for Collector {
    #[inline(always)]
    fn gc_word(&self) -> &AtomicU64 {
        &self.gc_word
    }

    #[inline(always)]
    fn mark(&self) -> &MarkState {
        &self.mark
    }
}

impl RootBarrier for Collector {
    fn shade_for_root(&self, addr: usize) {
        let w = self.gc_word.word();
        if w.marking() && addr != 0 {
            self.mark.shade_now(&self.gc_word, w.cycle(), addr);
        }
    }
}

impl Drop for Collector {
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
        sweep::drop_all_objects(&self.centrals);
    }
}
