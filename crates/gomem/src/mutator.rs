//! Mutator: one thread's attachment to a heap, holding a P.
//!
//! A [`Mutator`] owns a P (Go's processor, `gc/proc.rs`): an mcache, a
//! write-barrier buffer, the phase it has adopted, its assist debt. It is
//! neither `Send` nor `Sync`. Everything it hands out ([`Gc`]) borrows it
//! shared; the calls that may let a cycle finish take it `&mut` (module
//! `ptr`). This is the API layer: it calls down into the collector (`gc/`)
//! and the allocator (`alloc/`); `ptr.rs` and `slice.rs` call it (the one
//! import loop kept on purpose: a `Gc` is branded with a borrow of the
//! Mutator that made it).
//!
//! **Polls.** The collector never stops a mutator. Each phase change is
//! adopted by every P at its own next *poll* — an allocation, a barrier slow
//! path, a safepoint — and the P goes on (adoption itself is in
//! `gc/proc.rs`). At a *safepoint* (where the mutator holds no `Gc`, by the
//! borrow checker) the stack turns black for a marking cycle. If a refill
//! returns a span already swept for the new cycle before the P has seen the
//! flip, the P adopts it on the spot and the object stays white, so no mark
//! bit spills into the next cycle.
//!
//! **Allocation during marking** is black and pays a mark assist every
//! 64 KiB (`Pacer::assist`, `gc/pacer.rs`); a full barrier buffer goes
//! through the barrier's slow path (`WbBuf::make_room`, `gc/barrier.rs`),
//! itself a poll.
//!
//! **Idle.** [`Mutator::blocking`], [`Mutator::collect`] and detaching hand
//! the P over through one CAS-managed status word (`RUNNING`, `IDLE`,
//! `COLLECTOR`). The collector takes an idle P to adopt phases for it (an
//! idle P holds no `Gc`, so its stack counts as black). A returning thread
//! takes its P back with a CAS — waiting, at most, for the collector's short
//! bookkeeping on it, never for another mutator — and adopts the current
//! phase before it touches the heap.
//!
//! **Reentrancy.** A Drop run by the sweeper inside this P's refill could, in
//! principle, reach this same Mutator through a thread-local; the P's `busy`
//! flag makes that a panic instead of aliasing the mcache.

use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::alloc::arena;
use crate::alloc::mheap::AllocError;
use crate::alloc::os::ARENA_SHIFT;
use crate::alloc::sizeclass::{size_to_class, SpanClass, MAX_SMALL_SIZE, TINY_SIZE};
use crate::alloc::span::MSpan;
use crate::gc::collector::{Collector, Heap};
use crate::gc::cycle;
use crate::gc::proc::{P, P_IDLE, P_RUNNING};
use crate::gc::state::{GcWord, GcWordCell, Phase};
use crate::gc::sweep;
use crate::gc::weak::WeakHandle;
use crate::ptr::{Gc, Root, Weak};
use crate::slice::Slice;
use crate::trace::{
    is_pointer_word, layout_of, InfoOf, Layout, Trace, Tracer, TypeInfo, FOOTER_BYTES,
};

/// Allocation, in bytes, between mark assists (Go: 64 KiB of scan work).
const ASSIST_CHUNK_BYTES: i64 = 64 << 10;
/// Allocate-black bytes kept locally before they are published.
const BLACK_FLUSH_BYTES: usize = 256 << 10;

/// Whether a raw object holds pointers (for [`Mutator::alloc_raw`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// In a scan span (with no pointers recorded).
    Scan,
    /// In a noscan span (never scanned; tiny below 16 B).
    Noscan,
}

/// One thread's attachment to a heap (module header).
///
/// ```
/// use gomem::{Config, Heap, Member, Trace};
/// #[derive(Trace)]
/// struct Node { next: Member<Node>, value: u64 }
///
/// let heap = Heap::new(Config::default());
/// let mut m = heap.attach();
/// let list = {
///     let a = m.alloc(Node { next: Member::null(), value: 1 });
///     let b = m.alloc(Node { next: Member::null(), value: 2 });
///     a.next.set(&m, Some(b));
///     m.root(a)
/// };
/// m.safepoint(); // a cycle may finish here; `list` keeps both alive
/// let a = list.get(&m);
/// assert_eq!(a.next.get(&m).unwrap().value, 2);
/// ```
pub struct Mutator {
    heap: Heap,
    p: NonNull<P>,
    heap_id: u32,
    /// The arena (`addr >> ARENA_SHIFT`) that the last home or same-heap
    /// check found in this heap: an address in it needs no arena-map
    /// lookup. Sound because an arena stays published, and in the same
    /// heap, until its heap is dropped, and this Mutator keeps the heap
    /// alive.
    own_arena: Cell<usize>,
    /// Unique among all Mutators ever made (value stacks check it).
    uid: u64,
    _not_send: PhantomData<*mut ()>,
}

impl Mutator {
    /// Attaches this thread to `heap` (`Heap::attach`): takes a P.
    pub(crate) fn attach_to(heap: &Heap) -> Mutator {
        assert!(
            !sweep::in_drop(),
            "gomem: attach() called from the Drop of a heap object; a Drop cannot reach the heap"
        );
        let inner = heap.inner();
        note_attached(inner.mheap.id);
        let p = inner.take_p();
        static NEXT_UID: AtomicU64 = AtomicU64::new(1);
        let m = Mutator {
            heap: heap.clone(),
            p,
            heap_id: inner.mheap.id,
            own_arena: Cell::new(usize::MAX),
            uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
            _not_send: PhantomData,
        };
        m.acquire_p();
        m
    }

    #[inline(always)]
    pub(crate) fn p(&self) -> &P {
        // SAFETY: Ps are boxed by the heap and never freed while it lives;
        // this Mutator keeps the heap alive.
        unsafe { self.p.as_ref() }
    }

    #[inline(always)]
    pub(crate) fn inner(&self) -> &Collector {
        self.heap.inner()
    }

    /// The heap this mutator is attached to.
    pub fn heap(&self) -> &Heap {
        &self.heap
    }

    /// This Mutator's unique id.
    #[inline(always)]
    pub(crate) fn uid(&self) -> u64 {
        self.uid
    }

    // ---- polls -------------------------------------------------------

    /// Adopts the current phase if it changed (the cheap check every poll
    /// makes: one load and a compare).
    #[inline(always)]
    fn poll(&self) {
        let w = self.inner().gc_word().word();
        let a = self.p().local.adopted.get();
        if (w.0 ^ a.0) & GcWord::PHASE_AND_CYCLE != 0 {
            self.adopt_slow(w);
        }
    }

    #[cold]
    #[inline(never)]
    fn adopt_slow(&self, w: GcWord) {
        self.check_not_busy();
        let start = Instant::now();
        let p = self.p();
        let before = p.local.adopted.get();
        p.adopt(self.inner(), w, false);
        let after = p.local.adopted.get();
        let changed = match (before.phase(), after.phase()) {
            // Mark ⇄ Term is bookkeeping only: nothing to adopt.
            (Phase::Mark | Phase::Term, Phase::Mark | Phase::Term) => {
                before.cycle() != after.cycle()
            }
            (b, a) => a != b || before.cycle() != after.cycle(),
        };
        if changed {
            self.inner().stats.record_poll(start.elapsed());
            self.inner().wake_collector();
        }
    }

    /// Panics if this P is in the middle of an operation that runs user
    /// code (the Drop of a swept object, a Trace during an assist): that code
    /// found this Mutator some other way (a thread-local, say), and a Drop
    /// must not reach the heap (DESIGN §3). Every entry point that reads or
    /// writes the heap through a Mutator calls this first: one load of an
    /// owner-only flag on the P.
    #[inline(always)]
    pub(crate) fn check_not_busy(&self) {
        if self.p().local.busy.get() {
            heap_used_from_a_drop();
        }
    }

    /// The load barrier: a P whose stack is black in a marking cycle shades
    /// every pointer it loads from the heap. Go needs no such barrier (a
    /// goroutine gets pointers only through the heap or its own stack), but
    /// Rust can carry a `&T` from one mutator's `Gc` to another thread, whose
    /// black mutator could then load a pointer reachable only from the first
    /// mutator's still-grey stack, store it where the insertion half no
    /// longer looks, and leave it white at termination. Logging it in the
    /// barrier buffer hands it to the terminator's check like any barrier
    /// entry, so it is marked before the cycle can end. Outside a marking
    /// cycle, for a grey P (whose insertion half logs what it stores), and
    /// once every stack is black (no grey stack is left to lend from), the
    /// cost is one load of an owner-only flag.
    #[inline(always)]
    pub(crate) fn load_barrier(&self, v: usize) {
        // A heap that has only ever had one P has never had two Mutators at
        // once: nothing can have been lent to this one from another's grey
        // stack. A second P is counted before its Mutator exists; lending a
        // `&T` to this thread afterwards needs synchronisation that orders
        // the count before this load, so Relaxed cannot miss it. (Tested
        // here, not in the cold call: a lone mutator in Mark then pays two
        // loads per pointer, not a call.)
        if self.p().local.shade_loads.get() && self.inner().ps_made.load(Ordering::Relaxed) >= 2 {
            self.shade_loaded(v);
        }
    }

    #[cold]
    #[inline(never)]
    fn shade_loaded(&self, v: usize) {
        let p = self.p();
        let stacks_black = &self.inner().control.stacks_black_cycle;
        // Acquire: pairs with the coordinator's Release (`gc/cycle.rs`,
        // `stacks_black`), so every stack's turn to black, and with it the
        // end of every `&T` lent from a grey stack, comes before this load.
        if stacks_black.load(Ordering::Acquire) == p.local.adopted.get().cycle() {
            // No grey stack is left this cycle: nothing to shade, now or
            // later in the cycle (`turn_stack_black` sets the flag again
            // only in a new cycle).
            p.local.shade_loads.set(false);
            return;
        }
        // SAFETY: `v` was loaded from a Member of this heap, so it is an
        // object of this heap, whose span lives as long as the heap.
        let span = unsafe { &*arena::span_of(v) };
        if !span.is_marked(span.find_object(v).0) {
            self.log(v);
        }
    }

    /// A safepoint: this mutator holds no `Gc` here (it is borrowed
    /// mutably), so its stack turns black for a marking cycle and a finished
    /// cycle's flip is adopted. Call it regularly (a loop iteration, a
    /// request): a mutator that never reaches one delays every cycle.
    pub fn safepoint(&mut self) {
        self.poll();
        let p = self.p();
        let a = p.local.adopted.get();
        if matches!(a.phase(), Phase::Mark | Phase::Term)
            && p.stack_black_cycle.load(Ordering::Relaxed) != a.cycle()
        {
            p.turn_stack_black(self.inner(), a.cycle());
            self.inner().wake_collector();
        }
        // SAFETY: this thread runs the P.
        unsafe { p.stacks.prune() };
        p.flush_black_bytes(&self.inner().mark);
    }

    /// Runs a full collection (Go's `runtime.GC`): waits until a cycle that
    /// started after this call has finished marking and sweeping.
    ///
    /// This is the one call in gomem that waits for other mutators: the
    /// cycle needs every attached mutator to pass a safepoint (or be in
    /// [`Mutator::blocking`]). This mutator's own P is idle while it waits,
    /// so it does not hold the cycle open itself.
    pub fn collect(&mut self) {
        let inner = self.heap.arc_inner();
        let target = inner.request_forced_cycle();
        self.blocking(|| inner.wait_for_swept_cycle(target));
    }

    /// Runs a full collection, then returns every free page to the OS (Go's
    /// `debug.FreeOSMemory`). Like [`Mutator::collect`], it waits for the
    /// other mutators to pass a safepoint.
    pub fn free_os_memory(&mut self) {
        self.collect();
        self.inner().mheap.scavenge(usize::MAX);
    }

    /// Runs `f` with this thread's P handed to the collector: use it around
    /// anything that may block (a lock, I/O, a channel), so that a cycle can
    /// finish without this thread, as a Go goroutine in a syscall does.
    pub fn blocking<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.release_p();
        struct Reacquire<'a>(&'a Mutator);
        impl Drop for Reacquire<'_> {
            fn drop(&mut self) {
                self.0.acquire_p();
            }
        }
        let _back = Reacquire(self);
        f()
    }

    /// Detaches this thread from the heap (the same as dropping the
    /// Mutator): its P goes back to the heap's pool.
    pub fn detach(self) {}

    fn release_p(&self) {
        let p = self.p();
        p.flush_black_bytes(&self.inner().mark);
        p.status.store(P_IDLE, Ordering::Release);
        self.inner().wake_collector();
    }

    fn acquire_p(&self) {
        let p = self.p();
        let mut spins = 0u32;
        while p
            .status
            .compare_exchange(P_IDLE, P_RUNNING, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            // Only the collector holds an idle P, briefly: never a mutator.
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        let w = self.inner().gc_word().word();
        p.adopt(self.inner(), w, true);
    }

    // ---- allocation ----------------------------------------------------

    /// Allocates `value` in the heap.
    ///
    /// # Panics
    /// If the heap cannot grow (see [`Mutator::try_alloc`]), or if `value`
    /// holds a non-null [`Member`](crate::Member) (set fields after
    /// allocation).
    #[inline]
    pub fn alloc<T: Trace + Send + 'static>(&self, value: T) -> Gc<'_, T> {
        match self.try_alloc(value) {
            Ok(gc) => gc,
            Err(e) => panic!("{e}"),
        }
    }

    /// Allocates `value`, or says why the heap could not grow. Nothing
    /// already allocated is affected by a failure.
    #[inline]
    pub fn try_alloc<T: Trace + Send + 'static>(&self, value: T) -> Result<Gc<'_, T>, AllocError> {
        const {
            assert!(
                align_of::<T>() <= 16,
                "gomem: heap objects may be aligned to at most 16 bytes"
            )
        };
        const { crate::trace::NoHiddenMembers::<T>::CHECK };
        if !T::NO_MEMBERS {
            check_members_null(&value);
        }
        let info: &'static TypeInfo = &InfoOf::<T>::INFO;
        let (addr, large) = self.alloc_object(size_of::<T>(), const { layout_of::<T>() }, info)?;
        // SAFETY: `addr` is a fresh slot of at least size_of::<T>() bytes,
        // aligned for T, that no one else can see yet.
        unsafe { std::ptr::write(addr as *mut T, value) };
        if let Some(span) = large {
            span.large_type
                .store(info as *const TypeInfo as *mut (), Ordering::Release);
        }
        // SAFETY: the object is initialised, in this heap, and unreachable by
        // the collector only until published; it was allocated black if a
        // cycle is marking, and this mutator's stack keeps it until its next
        // safepoint.
        Ok(unsafe { Gc::from_addr(addr) })
    }

    /// Allocates `value`, then lets `init` set its fields (Members start
    /// null and are set after placement).
    pub fn alloc_with<T: Trace + Send + 'static>(
        &self,
        value: T,
        init: impl FnOnce(Gc<'_, T>),
    ) -> Gc<'_, T> {
        let gc = self.alloc(value);
        init(gc);
        gc
    }

    /// Allocates an array of `len` elements made by `f(i)` (Go's backing
    /// array: `make([]T, len)`).
    pub fn alloc_slice<T: Trace + Send + 'static>(
        &self,
        len: usize,
        f: impl FnMut(usize) -> T,
    ) -> Gc<'_, Slice<T>> {
        match self.try_alloc_slice(len, f) {
            Ok(gc) => gc,
            Err(e) => panic!("{e}"),
        }
    }

    /// Fallible [`Mutator::alloc_slice`].
    pub fn try_alloc_slice<T: Trace + Send + 'static>(
        &self,
        len: usize,
        mut f: impl FnMut(usize) -> T,
    ) -> Result<Gc<'_, Slice<T>>, AllocError> {
        const {
            assert!(
                align_of::<T>() <= 8,
                "gomem: slice elements may be aligned to at most 8 bytes"
            );
            crate::trace::NoHiddenMembers::<T>::CHECK
        };
        let bytes = Slice::<T>::bytes_for(len).ok_or(AllocError::TooLarge {
            requested: usize::MAX,
        })?;
        let info: &'static TypeInfo = Slice::<T>::info();
        let layout = if T::NO_MEMBERS && !std::mem::needs_drop::<T>() {
            Layout::Noscan
        } else {
            Layout::Typed
        };
        let (addr, large) = self.alloc_object(bytes, layout, info)?;
        // SAFETY: a fresh, private slot of `bytes` bytes: the header then
        // `len` elements, each written exactly once before publication.
        unsafe {
            Slice::<T>::init(addr, len, |i| {
                let v = f(i);
                if !T::NO_MEMBERS {
                    check_members_null(&v);
                }
                v
            })
        };
        if let Some(span) = large {
            span.large_type
                .store(info as *const TypeInfo as *mut (), Ordering::Release);
        }
        // SAFETY: as in `try_alloc`.
        Ok(unsafe { Gc::from_addr(addr) })
    }

    /// Allocates `size` zeroed bytes of raw memory through the same path
    /// typed objects take (`Scan` puts it in a scan span with no pointers).
    /// The memory is an ordinary heap object that nothing can reach, so it
    /// is freed by the next cycle: use it with GOGC=off, for allocator
    /// benchmarks and tests.
    #[doc(hidden)]
    pub fn alloc_raw(&self, size: usize, kind: ObjectKind) -> Result<NonNull<u8>, AllocError> {
        let layout = match kind {
            ObjectKind::Noscan => Layout::Noscan,
            ObjectKind::Scan if size <= crate::trace::MAX_BITMAP_BYTES => Layout::Bitmap(0),
            ObjectKind::Scan => Layout::Typed,
        };
        let (addr, large) = self.alloc_object(size.max(1), layout, &InfoOf::<u8>::INFO)?;
        if let Some(span) = large {
            span.large_type.store(
                &InfoOf::<u8>::INFO as *const TypeInfo as *mut (),
                Ordering::Release,
            );
        }
        // Zero only what may hold old bytes (Go's `needzero`): fresh pages
        // from the OS read as zero; tiny blocks are zeroed when carved.
        if size >= TINY_SIZE || kind == ObjectKind::Scan {
            // SAFETY: the object was just allocated from this heap; its span
            // lives as long as the heap.
            let span = unsafe { &*arena::span_of(addr) };
            if span.needzero() {
                // SAFETY: a fresh slot of at least `size` bytes, private to us.
                unsafe { std::ptr::write_bytes(addr as *mut u8, 0, size) };
            }
        }
        // SAFETY: heap addresses are non-null.
        Ok(unsafe { NonNull::new_unchecked(addr as *mut u8) })
    }

    /// The allocation path: picks the span class from the layout, takes a
    /// slot, records the object's metadata and colour.
    #[inline(always)]
    fn alloc_object(
        &self,
        size: usize,
        layout: Layout,
        info: &'static TypeInfo,
    ) -> Result<(usize, Option<&'static MSpan>), AllocError> {
        self.poll();
        self.check_not_busy();
        let p = self.p();
        let heap = self.inner();
        match layout {
            Layout::Noscan if size < TINY_SIZE => {
                let addr = self.with_busy(|| p.mcache().alloc_tiny(heap, size.max(1)))?;
                if p.local.alloc_black.get() {
                    self.allocate_black_tiny(addr);
                }
                Ok((addr, None))
            }
            Layout::Noscan if size <= MAX_SMALL_SIZE => {
                let spc = SpanClass::new(size_to_class(size), true);
                let (span, idx, addr) = self.take_small_slot(spc)?;
                self.publish_small(span, idx);
                Ok((addr, None))
            }
            Layout::Bitmap(mask) => {
                let spc = SpanClass::new(size_to_class(size), false);
                let (span, idx, addr) = self.take_small_slot(spc)?;
                span.set_heap_bits(addr, mask);
                // A free slot's typed bit is clear: span init zeroes the
                // bitmap and sweeping clears it for every dead typed object
                // (`gc/sweep.rs`, `finalize_dead`), the only way a typed
                // slot is freed. Not re-clearing it here saves a load per
                // allocation (~7 % of binary-trees' build loop).
                debug_assert!(!span.is_typed(idx), "free slot {idx} still typed");
                self.publish_small(span, idx);
                Ok((addr, None))
            }
            Layout::Typed if size <= MAX_SMALL_SIZE - FOOTER_BYTES => {
                let spc = SpanClass::new(size_to_class(size + FOOTER_BYTES), false);
                let (span, idx, addr) = self.take_small_slot(spc)?;
                let footer = addr + span.elemsize - FOOTER_BYTES;
                // SAFETY: the footer is the last word of a fresh slot that
                // only this P can see.
                unsafe { (footer as *mut *const TypeInfo).write(info) };
                span.set_typed(idx, true);
                self.publish_small(span, idx);
                Ok((addr, None))
            }
            _ => self.alloc_large(size, layout == Layout::Noscan),
        }
    }

    #[inline(always)]
    fn with_busy<R>(&self, f: impl FnOnce() -> R) -> R {
        let p = self.p();
        p.local.busy.set(true);
        let r = f();
        p.local.busy.set(false);
        r
    }

    /// Takes a free slot of class `spc` from this P's mcache (refilling it
    /// when the cached span is full). The caller writes the slot's metadata,
    /// then calls [`Mutator::publish_small`].
    #[inline(always)]
    fn take_small_slot(&self, spc: SpanClass) -> Result<(&MSpan, usize, usize), AllocError> {
        let p = self.p();
        let mc = p.mcache();
        let addr = match mc.span(spc).next_free_fast() {
            Some(a) => a,
            None => {
                crate::gc::test_hooks::before_refill(self.heap_id);
                let a = self.with_busy(|| mc.alloc(self.inner(), spc))?;
                cycle::maybe_start(self.inner());
                a
            }
        };
        let span = mc.span(spc);
        Ok((span, span.object_index(addr), addr))
    }

    /// The colour of a fresh small object: black during marking.
    #[inline(always)]
    fn publish_small(&self, span: &MSpan, idx: usize) {
        if self.p().local.alloc_black.get() {
            self.allocate_black(span, idx, false);
        }
    }

    #[cold]
    fn alloc_large(
        &self,
        size: usize,
        noscan: bool,
    ) -> Result<(usize, Option<&'static MSpan>), AllocError> {
        let inner = self.inner();
        // Taking pages may sweep spans first, running Drops.
        let s = self.with_busy(|| inner.centrals.alloc_large(inner, size, noscan))?;
        cycle::maybe_start(inner);
        // No zeroing here even when the pages were used before: the value
        // is written whole, and a large scan object is traced through its
        // type, which is published only after that write.
        let span: &'static MSpan = s.span();
        if self.p().local.alloc_black.get() {
            self.allocate_black(span, 0, true);
        }
        // Only now may a sweeper see the span: its mark bit is final.
        inner.centrals.publish_large(s);
        Ok((span.start, (!noscan).then_some(span)))
    }

    /// Allocate-black during marking (module header): only for spans of the
    /// cycle this P adopted; a span already swept for the next cycle means
    /// the flip happened, so adopt it now and leave the object white.
    #[inline]
    fn allocate_black(&self, span: &MSpan, idx: usize, large: bool) {
        let p = self.p();
        let n = p.local.adopted.get().cycle();
        let expected = if large {
            n.wrapping_mul(2)
        } else {
            n.wrapping_mul(2).wrapping_add(3)
        };
        if span.sweepgen.load(Ordering::Acquire) != expected {
            self.adopt_flip_now();
            return;
        }
        if span.try_mark(idx) {
            let b = p.local.black_bytes.get() + span.elemsize;
            p.local.black_bytes.set(b);
            if b >= BLACK_FLUSH_BYTES {
                p.flush_black_bytes(&self.inner().mark);
            }
        }
        self.pay_assist(span.elemsize);
    }

    fn allocate_black_tiny(&self, addr: usize) {
        let span = arena::span_of(addr);
        // SAFETY: `addr` was just allocated from this heap; its span lives.
        let span = unsafe { &*span };
        self.allocate_black(span, span.object_index(addr), false);
    }

    #[cold]
    fn adopt_flip_now(&self) {
        let w = self.inner().gc_word().word();
        self.adopt_slow(w);
    }

    /// Mark assist: allocation during marking pays for scan work in
    /// proportion (Go's assist ratio, `Pacer::assist`). Never waits: with no grey work to
    /// take, the allocation goes through.
    #[inline]
    fn pay_assist(&self, bytes: usize) {
        let p = self.p();
        let debt = p.local.assist_debt.get() + bytes as i64;
        p.local.assist_debt.set(debt);
        if debt >= ASSIST_CHUNK_BYTES {
            self.assist(debt);
        }
    }

    #[cold]
    fn assist(&self, debt: i64) {
        // Marking runs Trace impls: user code, as far as a Drop is.
        self.with_busy(|| self.assist_marking(debt));
    }

    fn assist_marking(&self, debt: i64) {
        let inner = self.inner();
        let p = self.p();
        let n = p.local.adopted.get().cycle();
        let left = inner.pacer.assist(
            debt,
            n,
            inner.gc_word(),
            &inner.mark,
            &inner.mheap,
            &inner.stats,
        );
        p.local.assist_debt.set(left);
    }

    // ---- roots and weak pointers ----------------------------------------

    /// Registers `gc` as a root: it stays alive across safepoints until the
    /// returned handle is dropped.
    pub fn root<T>(&self, gc: Gc<'_, T>) -> Root<T> {
        self.check_not_busy();
        self.check_same_heap(gc.addr());
        let slot = self.inner().root_register(self.p().id, gc.addr());
        Root::from_slot(self.heap.clone(), slot)
    }

    /// A weak pointer to `gc`'s object.
    pub fn weak<T>(&self, gc: Gc<'_, T>) -> Weak<T> {
        self.check_not_busy();
        let addr = gc.addr();
        self.check_same_heap(addr);
        let span = arena::span_of(addr);
        // SAFETY: `gc` is a live object of this heap, so its span lives.
        let span = unsafe { &*span };
        let base = span.find_object(addr).1;
        let handle = self.inner().weaks.handle_for(span, base, addr);
        Weak::from_handle(self.heap.clone(), handle)
    }

    pub(crate) fn upgrade_weak(&self, handle: &Arc<WeakHandle>) -> Option<usize> {
        self.inner().upgrade_weak(handle)
    }

    // ---- checks and the barrier ----------------------------------------

    /// Panics unless `addr` (a Member's own address) lies in this heap.
    #[inline]
    pub(crate) fn check_member_home(&self, addr: usize) {
        if !self.in_own_heap(addr) {
            member_outside_heap(addr);
        }
    }

    /// Whether `addr` lies in an arena of this mutator's heap (one compare
    /// when it is in the arena the last check found).
    #[inline(always)]
    fn in_own_heap(&self, addr: usize) -> bool {
        let a = addr >> ARENA_SHIFT;
        if a == self.own_arena.get() {
            return true;
        }
        let mine = arena::heap_id_of(addr) == self.heap_id;
        if mine {
            self.own_arena.set(a);
        }
        mine
    }

    /// Panics unless `addr` (an object) belongs to this heap.
    #[inline]
    pub(crate) fn check_same_heap(&self, addr: usize) {
        if !self.in_own_heap(addr) {
            pointer_from_another_heap(addr);
        }
    }

    /// Panics unless `heap` is this mutator's heap.
    #[inline]
    pub(crate) fn check_heap(&self, heap: &Heap) {
        if !Heap::same(heap, &self.heap) {
            panic!("gomem: a Root or Weak of one heap was used through a Mutator of another heap");
        }
    }

    /// The write barrier (module `gc::barrier`): logs the old value, and the
    /// new one while the stack is grey, if this P's barrier is on.
    #[inline(always)]
    pub(crate) fn write_barrier(&self, slot: &AtomicUsize, new: usize) {
        let p = self.p();
        if !p.local.barrier_on.get() {
            return;
        }
        // Members are 0 or an address, value words an immediate or an
        // address: one test tells a pointer for both (module `value`).
        let old = slot.load(Ordering::Acquire);
        if is_pointer_word(old) {
            self.log(old);
        }
        if is_pointer_word(new) && p.local.log_new.get() {
            self.log(new);
        }
    }

    #[inline(always)]
    fn log(&self, v: usize) {
        if !self.p().wb.push(v) {
            self.wb_full(v);
        }
    }

    /// The barrier's slow path (`WbBuf::make_room`), itself a poll.
    #[cold]
    #[inline(never)]
    fn wb_full(&self, v: usize) {
        let inner = self.inner();
        let p = self.p();
        let n = p.local.adopted.get().cycle();
        if !p.wb.make_room(n, inner.gc_word(), &inner.mark) {
            // The cycle is over: everything logged is black already.
            self.poll();
            p.wb.drain_head(|_| {});
            if !p.local.barrier_on.get() {
                return;
            }
        }
        p.wb.push_or_chain(v, p.local.adopted.get().cycle());
    }
}

thread_local! {
    /// The heaps this thread holds a Mutator of (rarely more than one).
    static ATTACHED: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Records that this thread attaches to heap `id`; panics if it already
/// holds a Mutator of that heap (see `Heap::attach`).
fn note_attached(id: u32) {
    ATTACHED.with(|a| {
        let mut a = a.borrow_mut();
        if a.contains(&id) {
            panic!("gomem: this thread is already attached to this heap (one Mutator per heap per thread; pass the Mutator you have)");
        }
        a.push(id);
    });
}

fn note_detached(id: u32) {
    // `try_with`: a Mutator dropped during thread teardown may outlive the
    // thread-local, which then needs no update.
    let _ = ATTACHED.try_with(|a| a.borrow_mut().retain(|&x| x != id));
}

impl Drop for Mutator {
    fn drop(&mut self) {
        note_detached(self.heap_id);
        let inner = self.heap.inner();
        let p = self.p();
        // SAFETY: this thread runs the P; nothing can read the stacks of a
        // Mutator that is going away.
        unsafe { p.stacks.forget() };
        let w = inner.gc_word().word();
        p.adopt(inner, w, true);
        p.release_caches(inner);
        p.status.store(P_IDLE, Ordering::Release);
        inner.put_p(self.p);
        inner.wake_collector();
    }
}

/// Panics if `value` holds a non-null Member (DESIGN §3: Members are made
/// null and set after placement, through the barrier).
fn check_members_null<T: Trace>(value: &T) {
    let mut bad = 0usize;
    let mut sink = |v: usize| bad = v;
    value.trace(&mut Tracer::new(&mut sink));
    if bad != 0 {
        panic!(
            "gomem: allocating a `{}` that holds a non-null Member ({bad:#x}); Members are created null and set after allocation",
            std::any::type_name::<T>()
        );
    }
}

#[cold]
#[inline(never)]
fn heap_used_from_a_drop() -> ! {
    panic!("gomem: the heap was used from the Drop of a heap object (or from a Trace) through a Mutator; a Drop cannot reach the heap")
}

#[cold]
#[inline(never)]
fn member_outside_heap(addr: usize) -> ! {
    panic!("gomem: a Member at {addr:#x} is not inside an object of this Mutator's heap (Members are only meaningful inside heap objects)")
}

#[cold]
#[inline(never)]
fn pointer_from_another_heap(addr: usize) -> ! {
    panic!("gomem: pointer {addr:#x} belongs to another heap than this Mutator's (pointers never cross heaps)")
}
