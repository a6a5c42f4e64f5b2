//! Marking: greying objects and draining grey objects until none is left.
//!
//! An object is *grey* once its mark is set and its address sits in a
//! work queue, *black* once it has been scanned. Noscan objects go straight
//! to black: marking sets their mark and queues nothing. A mark is a byte
//! set with a plain store (`alloc/span.rs`), so two agents racing on one
//! white object may both queue it; it is then scanned twice, harmlessly.
//!
//! **Queues.** One global lock-free queue (a crossbeam injector) plus, per
//! draining agent, a private stack (Go's gcWork): pushing and popping grey
//! objects costs no atomic. An agent whose stack grows past a threshold while
//! the global queue is empty moves half of it there, so other agents (mark
//! workers, assists) always find work to take. Every agent that holds grey work is registered
//! in the GC word (`active`), so the terminator can trust that, with
//! `active == 0`, the injector is the only place grey work can be.
//!
//! **Scanning.** A scan span object is described either by the span's tail
//! pointer bitmap (one bit per 8-byte word: load the bits covering the
//! object, load each marked word, shade what is non-null — no call per
//! object) or by its `TypeInfo` (footer or large span), whose type-erased
//! trace function visits the Members. Marking never recurses: a pointer found
//! during a scan is pushed, not followed, so a linked list of any length is
//! marked in constant stack space.
//!
//! **Accounting.** Marked bytes (Go's `bytesMarked`, the next cycle's live
//! heap) and scanned bytes (the scan work the pacer plans with) are counted
//! per agent and flushed when it stops.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use crossbeam_deque::{Injector, Steal, Worker};

use crate::alloc::arena;
use crate::alloc::sizeclass::PAGE_SIZE;
use crate::alloc::span::{prefetch, MSpan, SpanState, CACHE_LINE_BYTES};
use crate::gc::state::GcWordCell;
use crate::trace::{Tracer, TypeInfo};

/// Grey objects taken and prefetched together (memory-level parallelism),
/// then scanned deepest first (`Drain::run`). Against 8: `mark` CPU ×0.91,
/// binary-trees 21 ×0.92–0.97, two mutators ×0.95 (farm-bench pairs, AMD
/// EPYC); 8 and 16 were no different while the batch was scanned in pop
/// order, since the first object then had no head start at all.
const SCAN_BATCH: usize = 32;
/// Objects scanned between checks for a drain budget.
const BUDGET_CHECK_EVERY: usize = 64;
/// Scanned bytes an agent accumulates before adding its counters to the
/// shared ones. The shared counters are one cache line written by every
/// agent: flushing every few dozen objects made that line bounce between
/// cores and cost ~15 % of the mark loop. The pacer reads the shared
/// progress, so it lags by at most this much per agent.
const FLUSH_EVERY_BYTES: u64 = 64 << 10;

/// Shared marking state of a heap.
#[derive(Default)]
pub struct MarkState {
    /// The global queue of grey objects.
    pub queue: Injector<usize>,
    /// Bytes marked this cycle (live heap at the end of it).
    pub bytes_marked: AtomicUsize,
    /// Bytes of objects scanned this cycle.
    pub bytes_scanned: AtomicU64,
    /// Objects marked this cycle.
    pub objects_marked: AtomicU64,
    /// Bytes allocated black this cycle (counted as live up to a cap:
    /// `gc/pacer.rs`).
    pub bytes_black: AtomicUsize,
    /// Scan work done by the background (mark workers, the coordinator)
    /// and not yet claimed by an assist (Go's `bgScanCredit`): a mutator in
    /// debt takes from it before scanning itself, so it assists only when
    /// the background falls behind the pacer's schedule.
    pub bg_credit: AtomicI64,
}

impl MarkState {
    /// Resets the per-cycle counters (at the start of a cycle).
    pub fn reset_counters(&self) {
        self.bytes_marked.store(0, Ordering::Relaxed);
        self.bytes_scanned.store(0, Ordering::Relaxed);
        self.objects_marked.store(0, Ordering::Relaxed);
        self.bytes_black.store(0, Ordering::Relaxed);
        self.bg_credit.store(0, Ordering::Relaxed);
    }

    /// Adds `bytes` of background scan work to the credit assists draw on.
    pub fn post_credit(&self, bytes: u64) {
        self.bg_credit
            .fetch_add(bytes.min(i64::MAX as u64) as i64, Ordering::Relaxed);
    }

    /// Takes up to `want` bytes of background credit; returns what it took.
    pub fn take_credit(&self, want: u64) -> u64 {
        let want = want.min(i64::MAX as u64) as i64;
        let mut have = self.bg_credit.load(Ordering::Relaxed);
        loop {
            let take = have.min(want);
            if take <= 0 {
                return 0;
            }
            match self.bg_credit.compare_exchange_weak(
                have,
                have - take,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return take as u64,
                Err(now) => have = now,
            }
        }
    }

    /// Whether no grey object is queued globally.
    pub fn queue_is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Greys `addr` for cycle `n` from outside a drain, as a registered
    /// agent of the GC word `word` ([`GcWordCell::with_registration`]).
    /// Does nothing once cycle n is over.
    pub fn shade_now(&self, word: &AtomicU64, n: u32, addr: usize) {
        word.with_registration(n, || {
            let mut drain = Drain::new(self);
            drain.shade(addr);
        });
    }
}

/// The span of a heap address (which must be in an in-use span).
#[inline(always)]
fn span_of(addr: usize) -> &'static MSpan {
    let s = arena::span_of(addr);
    if s.is_null() {
        not_a_heap_pointer(addr);
    }
    // SAFETY: only addresses of live heap objects are ever marked (they come
    // from Members, roots, barrier logs and tiny blocks of this heap); span
    // structs outlive every object of their heap. (The null check above
    // turns a broken invariant into a report instead of a wild read.)
    let span = unsafe { &*s };
    debug_assert_eq!(span.state(), SpanState::InUse, "marking into a free span");
    span
}

/// Reports the object whose scan found a non-heap pointer, then aborts.
#[cold]
#[inline(never)]
fn bad_member(span: &MSpan, base: usize, v: usize) -> ! {
    let idx = span.find_object(base).0;
    let typed = !span.is_large() && span.is_typed(idx);
    let bits = if typed || span.is_large() {
        0
    } else {
        span.heap_bits(base)
    };
    // SAFETY: diagnostics on the object being scanned: its first words are
    // readable memory of the heap.
    let words: Vec<String> = (0..(span.elemsize / 8).min(8))
        .map(|i| format!("{:#x}", unsafe { *((base + 8 * i) as *const usize) }))
        .collect();
    super::fatal(&format!(
        "gomem: fatal: object {base:#x} (class {}, {} B, typed={typed}, heap bits {bits:#b}, marked={}, span sweepgen {}) holds {v:#x}, which is in no heap span; words {words:?}",
        span.spanclass.size_class(),
        span.elemsize,
        span.is_marked(idx),
        span.sweepgen.load(Ordering::Relaxed),
    ));
}

/// A Member held a value that is not in any heap: the heap is corrupt (a
/// freed object was reached, or metadata is wrong). Go throws here too.
#[cold]
#[inline(never)]
fn not_a_heap_pointer(addr: usize) -> ! {
    super::fatal(&format!(
        "gomem: fatal: marking found pointer {addr:#x}, which is in no heap span"
    ));
}

/// One agent's view of marking: a private stack of grey objects (Go's
/// gcWork) and counters. Grey objects beyond [`SPILL_AT`] are shared through
/// the global queue when it runs dry, so idle agents find work.
pub struct Drain<'a> {
    state: &'a MarkState,
    stack: Vec<usize>,
    inbox: Worker<usize>,
    marked_bytes: usize,
    marked_objects: u64,
    scanned_bytes: u64,
    /// The span of the last address `run` looked up, covering
    /// `recent_start .. recent_start + recent_len` (`recent_len` 0: none).
    /// A tree is marked depth first, so the next address is usually in the
    /// same span, and this spares the four dependent loads of the arena map
    /// walk. Valid for one `run` only: a span that holds an object being
    /// marked stays in use until the cycle's sweep, and every `run` happens
    /// inside one mark phase (its agent is registered), but a worker's
    /// drain outlives cycles, and the span struct may describe another
    /// span by the next one.
    recent: *const MSpan,
    recent_start: usize,
    recent_len: usize,
}

/// Local grey objects above which half are offered to the global queue
/// (checked every few dozen objects): low, so that assists, which take work
/// only from the global queue, always find some.
const SPILL_AT: usize = 8;

impl<'a> Drain<'a> {
    /// A drain with an empty local stack.
    pub fn new(state: &'a MarkState) -> Drain<'a> {
        Drain {
            state,
            stack: Vec::with_capacity(256),
            inbox: Worker::new_lifo(),
            marked_bytes: 0,
            marked_objects: 0,
            scanned_bytes: 0,
            recent: std::ptr::null(),
            recent_start: 0,
            recent_len: 0,
        }
    }

    /// Marks the object holding `addr`; queues it if it must be scanned.
    /// Returns true if it was white.
    #[inline]
    pub fn shade(&mut self, addr: usize) -> bool {
        self.shade_in(span_of(addr), addr)
    }

    /// [`Drain::shade`] for a caller that already looked up `addr`'s span.
    #[inline(always)]
    fn shade_in(&mut self, span: &MSpan, addr: usize) -> bool {
        debug_assert_eq!(span.state(), SpanState::InUse, "marking into a free span");
        let (idx, base) = span.find_object(addr);
        if !span.try_mark(idx) {
            return false;
        }
        self.marked_bytes += span.elemsize;
        self.marked_objects += 1;
        if !span.spanclass.noscan() {
            prefetch(base);
            // An object that runs past its first line (two in four 48-byte
            // objects do) would otherwise miss on its second.
            if (base & (CACHE_LINE_BYTES - 1)) + span.elemsize > CACHE_LINE_BYTES {
                prefetch(base + CACHE_LINE_BYTES);
            }
            self.stack.push(base);
        }
        true
    }

    /// Scans one grey object, shading everything it points to.
    #[inline]
    fn scan(&mut self, base: usize) {
        let span = self.span_of_recent(base);
        self.scanned_bytes += span.elemsize as u64;
        // Two closures, not one passed to `for_each_member_in`: the bitmap
        // case (nearly every object) then inlines into this loop, while the
        // typed case needs an out-of-line closure for its `dyn` tracer.
        match bitmap_of(span, base) {
            Some(bits) => for_each_marked_word(base, bits, |v| self.shade_member(span, base, v)),
            None => for_each_typed_member(span, base, |v| self.shade_member(span, base, v)),
        }
    }

    /// Shades `v`, found in the object at `base` of `span`; a value that is
    /// in no heap span means the heap is corrupt: report and abort.
    #[inline(always)]
    fn shade_member(&mut self, span: &MSpan, base: usize, v: usize) {
        if v.wrapping_sub(self.recent_start) >= self.recent_len {
            let target = arena::span_of(v);
            if target.is_null() {
                bad_member(span, base, v);
            }
            self.remember(target);
        }
        // SAFETY: `recent` is the in-use span holding `v` (just looked up,
        // or remembered by this run: see the field).
        self.shade_in(unsafe { &*self.recent }, v);
    }

    /// The span of `base`, an object being scanned, through `recent`.
    #[inline(always)]
    fn span_of_recent(&mut self, base: usize) -> &'static MSpan {
        if base.wrapping_sub(self.recent_start) >= self.recent_len {
            self.remember(span_of(base));
        }
        // SAFETY: as in `shade_member`.
        unsafe { &*self.recent }
    }

    /// Makes `span` (non-null, in use) the remembered one.
    #[inline(always)]
    fn remember(&mut self, span: *const MSpan) {
        // SAFETY: callers pass a span struct found in the arena map for an
        // address being marked; span structs outlive their heap's objects.
        let s = unsafe { &*span };
        self.recent = span;
        self.recent_start = s.start;
        // From the span's first line, which markers share (`limit` is on
        // the line its owner writes at every allocation).
        self.recent_len = s.npages * PAGE_SIZE;
    }

    /// Takes a grey object: local first, then the global queue.
    #[inline]
    fn next(&mut self) -> Option<usize> {
        if let Some(v) = self.stack.pop() {
            return Some(v);
        }
        loop {
            match self.state.queue.steal_batch_and_pop(&self.inbox) {
                Steal::Success(v) => {
                    while let Some(x) = self.inbox.pop() {
                        self.stack.push(x);
                    }
                    return Some(v);
                }
                Steal::Retry => continue,
                Steal::Empty => return None,
            }
        }
    }

    /// Offers half of a large local stack to others when the global queue
    /// is empty.
    #[inline]
    fn maybe_spill(&mut self) {
        if self.stack.len() > SPILL_AT && self.state.queue.is_empty() {
            let half = self.stack.len() / 2;
            for v in self.stack.drain(..half) {
                self.state.queue.push(v);
            }
        }
    }

    /// Scans grey objects until none is left or `budget` bytes were
    /// scanned. Returns the bytes scanned.
    pub fn run(&mut self, budget: u64) -> u64 {
        // Forget the span remembered by an earlier run: it may have been
        // swept and reused since (see the field).
        self.recent_len = 0;
        // Bytes scanned by an earlier run and not yet flushed: they are in
        // `self.scanned_bytes` but not part of this run's answer.
        let carried = self.scanned_bytes;
        let mut flushed = 0u64;
        let mut n = 0usize;
        let mut batch = [0usize; SCAN_BATCH];
        while let Some(first) = self.next() {
            // Take a few grey objects at once and touch them all before
            // scanning any: their cache misses overlap instead of forming a
            // chain (a list, or a tree's spine, is otherwise marked one miss
            // at a time).
            batch[0] = first;
            let mut k = 1;
            while k < SCAN_BATCH {
                match self.stack.pop() {
                    Some(v) => {
                        prefetch(v);
                        batch[k] = v;
                        k += 1;
                    }
                    None => break,
                }
            }
            // Deepest first: batch[0] was pushed (and prefetched) last,
            // moments ago; the ones under it have had longer for their
            // lines to arrive, and batch[0] gets the others' scans as its
            // head start (`mark`: CPU x0.93, wall x0.91; binary-trees 21
            // unchanged, 8 farm-bench pairs, AMD EPYC).
            for &obj in batch[..k].iter().rev() {
                self.scan(obj);
            }
            n += k;
            if n >= BUDGET_CHECK_EVERY {
                n = 0;
                if self.scanned_bytes >= FLUSH_EVERY_BYTES {
                    flushed += self.scanned_bytes;
                    self.flush_counters();
                }
                self.maybe_spill();
                if flushed + self.scanned_bytes - carried >= budget {
                    break;
                }
            }
        }
        flushed + self.scanned_bytes - carried
    }

    /// Moves local grey objects to the global queue and flushes counters.
    pub fn flush(&mut self) {
        for v in self.stack.drain(..) {
            self.state.queue.push(v);
        }
        self.flush_counters();
    }

    fn flush_counters(&mut self) {
        let s = self.state;
        s.bytes_marked
            .fetch_add(std::mem::take(&mut self.marked_bytes), Ordering::Relaxed);
        s.objects_marked
            .fetch_add(std::mem::take(&mut self.marked_objects), Ordering::Relaxed);
        s.bytes_scanned
            .fetch_add(std::mem::take(&mut self.scanned_bytes), Ordering::Relaxed);
    }
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Calls `f` with every non-null pointer stored in the live object at
/// `base` (a slot base in a scan span): through the span's pointer bitmap,
/// the object's footer type, or a large span's type. The one place that
/// knows how an object's pointers are found; marking and checkmark share it.
#[inline(always)]
pub fn for_each_member_in(span: &MSpan, base: usize, f: impl FnMut(usize)) {
    match bitmap_of(span, base) {
        Some(bits) => for_each_marked_word(base, bits, f),
        None => for_each_typed_member(span, base, f),
    }
}

/// Calls `f` with each pointer word of the live object at `base` whose bit
/// is set in `bits`, its pointer bitmap (a Member or a `ValueSlot`).
#[inline(always)]
fn for_each_marked_word(base: usize, mut bits: u64, mut f: impl FnMut(usize)) {
    while bits != 0 {
        let i = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        // SAFETY: the callers pass a live object and bits from its bitmap.
        let v = unsafe { load_member(base, i) };
        // A Member (0 or an address) or a value word (an immediate or an
        // address): one test for both (module `value`).
        if crate::trace::is_pointer_word(v) {
            f(v);
        }
    }
}

/// [`for_each_member_in`] for an object described by a type: a large
/// object (its span's type) or a typed slot (its footer).
fn for_each_typed_member(span: &MSpan, base: usize, mut f: impl FnMut(usize)) {
    if span.is_large() {
        let ty = span.large_type.load(Ordering::Acquire) as *const TypeInfo;
        // SAFETY: a large span's type is published after its object was
        // written; null means nothing to scan yet (allocated black).
        if let Some(ty) = unsafe { ty.as_ref() } {
            trace_typed(ty, base, &mut f);
        }
        return;
    }
    // SAFETY: a small object not described by the bitmap is a typed slot,
    // whose footer was written before the object was published to anyone
    // who could reach it.
    let ty = unsafe { TypeInfo::from_footer(base, span.elemsize) };
    trace_typed(ty, base, &mut f);
}

/// The pointer bitmap of the small object at `base` (bit i ⇔ word i is a
/// Member), or None when the object is described by a type instead (a large
/// object, or a typed slot with a footer).
#[inline(always)]
fn bitmap_of(span: &MSpan, base: usize) -> Option<u64> {
    if span.is_large() || span.is_typed(span.object_index(base)) {
        return None;
    }
    Some(span.heap_bits(base))
}

/// Word `i` of the object at `base`, read as a Member is read (atomically,
/// with Acquire).
///
/// # Safety
/// `base` must be a live heap object whose pointer bitmap has bit `i` set:
/// word `i` is then a Member, an atomic word inside the object.
#[inline(always)]
unsafe fn load_member(base: usize, i: usize) -> usize {
    // SAFETY: the caller promises word i of a live object is a Member.
    unsafe { &*((base + 8 * i) as *const AtomicUsize) }.load(Ordering::Acquire)
}

fn trace_typed(ty: &TypeInfo, base: usize, f: &mut dyn FnMut(usize)) {
    if let Some(trace) = ty.trace {
        // SAFETY: `base` holds an initialised object of type `ty`.
        unsafe { trace(base as *const u8, &mut Tracer::new(f)) };
    }
}

/// The span of a live object (public for the checkmark traversal).
#[inline(always)]
pub fn live_span_of(addr: usize) -> &'static MSpan {
    span_of(addr)
}
