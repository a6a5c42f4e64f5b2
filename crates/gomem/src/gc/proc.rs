//! P: a processor, what one attached thread needs to allocate and to follow
//! the collector (Go's `p`), and how it adopts the collector's phases.
//!
//! A P holds an mcache, a write-barrier buffer, the phase it has adopted, its
//! stack colour and its assist debt. The thread running it (a `Mutator`,
//! `mutator.rs`) or, while it is idle, the collector (`gc/cycle.rs`) owns
//! it; ownership moves only through one CAS-managed status word (`RUNNING`,
//! `IDLE`, `COLLECTOR`), so the owner-only state needs no synchronisation.
//!
//! **Adoption.** The collector never stops a P. Each phase change is adopted
//! by every P at its own next poll — an allocation, a barrier slow path, a
//! safepoint — or by the collector for an idle P:
//! * `Arm(n)`: finish any flip not yet adopted, empty the barrier buffer,
//!   turn the barrier on with both halves (the stack is grey), allocate white.
//! * `Mark(n)`: allocate black, grey the tiny block. At the next safepoint
//!   (where the mutator holds no `Gc`) the stack turns black:
//!   `stack_black_cycle = n`, the barrier drops its insertion half and the
//!   load barrier goes on (`Mutator::load_barrier`: a black P shades what it
//!   loads, because Rust can hand it a `&T` from another thread's grey stack),
//!   until the collector has seen every stack black (`gc/cycle.rs`).
//! * `Off(n)` (the flip): release every cached span (they are swept as they
//!   go back), barrier and allocate-black off, drop the buffer, forget the
//!   tiny block.
//!
//! A P reaches the heap it belongs to through [`POwner`], which the
//! collector state (`gc/collector.rs`) implements: the allocator's side (its
//! mcache gives spans back through the sweeper), the GC word and the marking
//! state. The Ps themselves are boxed by the collector and never freed
//! while the heap lives.

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::alloc::cache::{HeapGrowth, MCache};
use crate::gc::barrier::WbBuf;
use crate::gc::mark::MarkState;
use crate::gc::stacks::PStacks;
use crate::gc::state::{GcWord, GcWordCell, Phase};

/// What a P needs from the collector that owns it (module header).
pub(crate) trait POwner: HeapGrowth {
    /// The GC word (`gc/state.rs`).
    fn gc_word(&self) -> &AtomicU64;
    /// The marking state (`gc/mark.rs`).
    fn mark(&self) -> &MarkState;
}

/// P status: owned by its mutator thread.
pub(crate) const P_RUNNING: u32 = 0;
/// P status: nobody runs it (blocking, collecting, detached).
pub(crate) const P_IDLE: u32 = 1;
/// P status: the collector is adopting a phase on its behalf.
pub(crate) const P_COLLECTOR: u32 = 2;

/// A processor: what one attached thread needs to allocate and to follow
/// the collector (module header).
pub struct P {
    pub(crate) id: usize,
    pub(crate) status: AtomicU32,
    /// The phase this P has adopted, published for the collector.
    pub(crate) adopted: AtomicU64,
    /// The last cycle in which this P's stack turned black.
    pub(crate) stack_black_cycle: AtomicU32,
    pub(crate) wb: WbBuf,
    /// The value stacks of the Mutator running this P (`gc/stacks.rs`).
    pub(crate) stacks: PStacks,
    pub(crate) local: PLocal,
}

/// Owner-only state (the thread running the P, or the collector holding it).
pub(crate) struct PLocal {
    pub(crate) mcache: UnsafeCell<MCache>,
    pub(crate) adopted: Cell<GcWord>,
    pub(crate) barrier_on: Cell<bool>,
    pub(crate) log_new: Cell<bool>,
    pub(crate) alloc_black: Cell<bool>,
    pub(crate) busy: Cell<bool>,
    /// Load barrier on: this P's stack is black in a marking cycle, so a
    /// pointer it loads must not stay white (`Mutator::load_barrier`).
    pub(crate) shade_loads: Cell<bool>,
    pub(crate) assist_debt: Cell<i64>,
    pub(crate) black_bytes: Cell<usize>,
}

// SAFETY: `local` is touched only by the P's current owner, and ownership
// moves only through the `status` CAS (Acquire/Release), which orders the
// accesses of successive owners. Everything else is atomic.
unsafe impl Sync for P {}
// SAFETY: as above.
unsafe impl Send for P {}

impl P {
    pub(crate) fn new(id: usize, heap: &impl POwner) -> P {
        let w = heap.gc_word().word();
        P {
            id,
            status: AtomicU32::new(P_IDLE),
            adopted: AtomicU64::new(GcWord::new(Phase::Off, w.cycle()).0),
            stack_black_cycle: AtomicU32::new(0),
            wb: Default::default(),
            stacks: Default::default(),
            local: PLocal {
                mcache: UnsafeCell::new(MCache::new(heap.mheap())),
                adopted: Cell::new(GcWord::new(Phase::Off, w.cycle())),
                barrier_on: Cell::new(false),
                log_new: Cell::new(false),
                alloc_black: Cell::new(false),
                busy: Cell::new(false),
                shade_loads: Cell::new(false),
                assist_debt: Cell::new(0),
                black_bytes: Cell::new(0),
            },
        }
    }

    /// The mcache. Caller: the P's owner, with `busy` set around anything
    /// that may run a Drop.
    #[allow(clippy::mut_from_ref)]
    pub(crate) fn mcache(&self) -> &mut MCache {
        // SAFETY: only the owner calls this, and never re-entrantly: the
        // `busy` flag turns re-entry from a Drop into a panic before here.
        unsafe { &mut *self.local.mcache.get() }
    }

    /// The phase the owner has adopted.
    pub(crate) fn adopted_word(&self) -> GcWord {
        GcWord(self.adopted.load(Ordering::Acquire))
    }

    /// Owner: brings this P up to date with the GC word `w` (module header).
    /// `idle` is true when the collector adopts for an idle P (whose stack is
    /// black: it holds no Gc).
    pub(crate) fn adopt(&self, heap: &impl POwner, w: GcWord, idle: bool) {
        let a = self.local.adopted.get();
        if a.phase() != Phase::Off && (w.cycle() != a.cycle() || w.phase() == Phase::Off) {
            self.adopt_flip(heap, a.cycle());
        }
        if w.phase() != Phase::Off && self.local.adopted.get().phase() == Phase::Off {
            self.adopt_arm(w.cycle());
        }
        if matches!(w.phase(), Phase::Mark | Phase::Term)
            && self.local.adopted.get().phase() == Phase::Arm
        {
            self.adopt_mark(heap, w.cycle());
        }
        if idle && matches!(w.phase(), Phase::Mark | Phase::Term) {
            self.turn_stack_black(heap, w.cycle());
        }
        // Follow Mark ⇄ Term so that polls during a termination check stay
        // on the fast path (for a P, Term is the same as Mark).
        let a = self.local.adopted.get();
        if matches!(a.phase(), Phase::Mark | Phase::Term)
            && matches!(w.phase(), Phase::Mark | Phase::Term)
            && a.cycle() == w.cycle()
        {
            self.local.adopted.set(GcWord::new(w.phase(), w.cycle()));
        }
        self.adopted
            .store(self.local.adopted.get().0, Ordering::Release);
    }

    fn adopt_arm(&self, n: u32) {
        self.wb.reset(n);
        self.local.barrier_on.set(true);
        self.local.log_new.set(true);
        self.local.shade_loads.set(false);
        self.local.alloc_black.set(false);
        self.local.adopted.set(GcWord::new(Phase::Arm, n));
    }

    fn adopt_mark(&self, heap: &impl POwner, n: u32) {
        self.local.alloc_black.set(true);
        self.local.assist_debt.set(0);
        if let Some(tiny) = self.mcache().tiny_block() {
            heap.mark().shade_now(heap.gc_word(), n, tiny);
        }
        self.local.adopted.set(GcWord::new(Phase::Mark, n));
    }

    fn adopt_flip(&self, heap: &impl POwner, n: u32) {
        self.local.busy.set(true);
        self.mcache().release_all(heap);
        self.local.busy.set(false);
        self.flush_black_bytes(heap.mark());
        self.local.barrier_on.set(false);
        self.local.log_new.set(false);
        self.local.shade_loads.set(false);
        self.local.alloc_black.set(false);
        self.wb.reset(n);
        self.local.adopted.set(GcWord::new(Phase::Off, n));
    }

    /// Owner: the stack turns black for cycle n; the P's value stacks are
    /// scanned first (`gc/stacks.rs`).
    pub(crate) fn turn_stack_black(&self, heap: &impl POwner, n: u32) {
        if self.stack_black_cycle.load(Ordering::Relaxed) != n {
            // SAFETY: only the P's owner calls this (adopt, safepoint).
            unsafe { self.stacks.shade_all(heap.gc_word(), heap.mark(), n) };
            self.local.log_new.set(false);
            self.local.shade_loads.set(true);
            self.stack_black_cycle.store(n, Ordering::Release);
        }
    }

    pub(crate) fn flush_black_bytes(&self, mark: &MarkState) {
        let b = self.local.black_bytes.replace(0);
        if b > 0 {
            mark.bytes_black.fetch_add(b, Ordering::Relaxed);
        }
    }

    /// Owner: gives back everything cached (detach, heap teardown).
    pub(crate) fn release_caches(&self, heap: &impl POwner) {
        self.local.busy.set(true);
        self.mcache().release_all(heap);
        self.local.busy.set(false);
        self.flush_black_bytes(heap.mark());
    }

    /// Collector: tries to take an idle P. Returns true if it now holds it.
    pub(crate) fn try_acquire_idle(&self) -> bool {
        self.status
            .compare_exchange(P_IDLE, P_COLLECTOR, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Collector: hands an idle P back.
    pub(crate) fn release_idle(&self) {
        self.status.store(P_IDLE, Ordering::Release);
    }
}
