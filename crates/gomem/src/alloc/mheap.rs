//! mheap: the page heap. Spans from pages, pages from the OS.
//!
//! The mheap owns the heap's address space and everything that describes it:
//! the reservations (64 MiB arenas, `os.rs`), their metadata in the arena map
//! (`arena.rs`), the page allocator over the committed part (`pages.rs`), the
//! pool of span structs, and the heap-wide counters. It turns pages into
//! spans and spans back into pages, and nothing else: it knows no mcentral
//! (`central.rs`, above it, owns those) and no collector state; the sweep
//! generation a new span starts at is passed in by the caller. Its lock
//! guards the page allocator and the span pool only: allocation from an
//! mcache never takes it, and an mcentral takes it only to grow.
//!
//! **Growth.** When no free run fits, the heap commits more of its current
//! arena in 4 MiB steps (Go's chunk size), reserving a new arena when the
//! current one is used up. New arenas are requested right after the last one
//! so the heap stays contiguous and runs can cross arena boundaries; a
//! request larger than an arena gets a reservation of its own. Freshly
//! committed pages are counted as *released* (not yet resident), as Go does.
//! [`MHeap::try_alloc_span`] and [`MHeap::try_alloc_large`] never grow:
//! the mcentrals call them first, and give back the empty spans classes
//! keep before they let the heap grow (`central.rs`).
//!
//! **Failure.** A refused reservation or commit comes back as an
//! [`AllocError`] and changes nothing: the page allocator only learns about
//! memory after the OS has granted it. A size that overflows, or that is
//! larger than any heap could reserve, is refused before the OS is asked.
//!
//! **Zeroing.** A page that was released to the OS (or never touched) reads
//! as zero; a span made only of such pages needs no zeroing. Any reused page
//! makes the span `needzero`, and the allocation layer clears objects it
//! hands out uninitialised.
//!
//! **Drop.** Dropping the mheap unpublishes its arenas from the arena map and
//! unmaps every reservation: a dropped heap leaks no mapped memory. (The GC
//! layer runs the Drop of live objects first.)

use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::arena::{self, HeapArena, PAGES_PER_ARENA};
use super::os::{self, Faults, OsError, ARENA_BYTES, GROW_CHUNK_BYTES, MAX_ALLOC_BYTES};
use super::pages::{PageAlloc, PageRun};
use super::sizeclass::{SpanClass, NUM_SIZE_CLASSES, PAGE_SHIFT, PAGE_SIZE};
use super::span::{prefetch, MSpan, SpanPtr, SpanState, CACHE_LINE_BYTES};

/// Why an allocation failed. Nothing already allocated is affected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocError {
    /// The size overflows or exceeds what any heap can reserve.
    TooLarge {
        /// Bytes asked for (saturated if the computation overflowed).
        requested: usize,
    },
    /// The OS refused address space or memory.
    OutOfMemory {
        /// Bytes asked for.
        requested: usize,
        /// What the OS said.
        cause: OsError,
    },
    /// The configured hard memory limit would be exceeded.
    LimitExceeded {
        /// Bytes asked for.
        requested: usize,
        /// The limit in bytes.
        limit: usize,
    },
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::TooLarge { requested } => write!(
                f,
                "gomem: allocation of {requested} bytes is larger than the heap can ever hold (max {MAX_ALLOC_BYTES} bytes)"
            ),
            AllocError::OutOfMemory { requested, cause } => {
                write!(f, "gomem: out of memory allocating {requested} bytes: {cause}")
            }
            AllocError::LimitExceeded { requested, limit } => write!(
                f,
                "gomem: allocating {requested} bytes would exceed the hard memory limit of {limit} bytes"
            ),
        }
    }
}

impl std::error::Error for AllocError {}

/// Per-size-class allocation counters (Go's `BySize`).
#[derive(Default)]
pub struct ClassCounters {
    /// Objects allocated.
    pub mallocs: AtomicU64,
    /// Objects freed.
    pub frees: AtomicU64,
}

/// Heap-wide counters, readable without the lock.
pub struct HeapCounters {
    /// Bytes reserved from the OS (all states).
    pub reserved: AtomicUsize,
    /// Bytes committed (prepared or ready): Go's `HeapSys`.
    pub sys: AtomicUsize,
    /// Bytes of pages in in-use spans: Go's `HeapInuse`.
    pub inuse: AtomicUsize,
    /// Bytes of free pages returned to the OS: Go's `HeapReleased`.
    pub released: AtomicUsize,
    /// Bytes of heap objects allocated, cumulative: Go's `TotalAlloc`.
    pub total_alloc: AtomicU64,
    /// Bytes of heap objects freed, cumulative.
    pub total_free: AtomicU64,
    /// Tiny allocations carved from shared 16-byte blocks.
    pub tiny_allocs: AtomicU64,
    /// Large objects allocated / freed.
    pub large_mallocs: AtomicU64,
    /// Large objects freed.
    pub large_frees: AtomicU64,
    /// Bytes in spans handed to mcaches and in large objects since the last
    /// reset (Go's `heapLive`: span-granular, credited at refill).
    pub heap_live: AtomicUsize,
    /// Per size class.
    pub by_class: [ClassCounters; NUM_SIZE_CLASSES],
}

impl Default for HeapCounters {
    fn default() -> Self {
        HeapCounters {
            reserved: AtomicUsize::new(0),
            sys: AtomicUsize::new(0),
            inuse: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
            total_alloc: AtomicU64::new(0),
            total_free: AtomicU64::new(0),
            tiny_allocs: AtomicU64::new(0),
            large_mallocs: AtomicU64::new(0),
            large_frees: AtomicU64::new(0),
            heap_live: AtomicUsize::new(0),
            by_class: std::array::from_fn(|_| ClassCounters::default()),
        }
    }
}

struct Locked {
    pages: PageAlloc,
    /// Next byte to commit and end of the current reservation.
    commit_next: usize,
    commit_end: usize,
    reservations: Vec<(usize, usize)>,
    arenas: Vec<Box<HeapArena>>,
    span_pool: Vec<NonNull<MSpan>>,
    /// Every span struct made so far, in slabs of [`SPANS_PER_SLAB`]; the
    /// last one is filled up to `slab_used`.
    span_slabs: Vec<NonNull<MSpan>>,
    slab_used: usize,
}

/// Span structs allocated at a time (256 × 128 B = 32 KiB): one allocation
/// per slab rather than one cache-line-aligned allocation per span, whose
/// alignment padding and header cost the system allocator ~5 MiB of heap
/// on binary-trees 21 (27 000 spans at its peak).
const SPANS_PER_SLAB: usize = 256;

fn slab_layout() -> std::alloc::Layout {
    std::alloc::Layout::array::<MSpan>(SPANS_PER_SLAB).expect("span slab layout")
}

// SAFETY: the span pointers are owned by this structure (allocated by it, freed
// only in MHeap's Drop) and only used under the mheap lock.
unsafe impl Send for Locked {}

/// The page heap. One per [`Heap`](crate::Heap).
pub struct MHeap {
    /// Id of this heap in the arena map (never 0).
    pub id: u32,
    /// Fault injection for the OS layer.
    pub faults: Faults,
    /// Counters for stats and pacing.
    pub counters: HeapCounters,
    /// Optional hard limit on committed bytes (0 = none).
    pub hard_limit: AtomicUsize,
    /// GOMEMLIMIT in bytes (`usize::MAX`: none): span allocation releases
    /// free pages when mapped memory would exceed it (Go's synchronous
    /// scavenging in `allocSpan`).
    pub memory_limit: AtomicUsize,
    empty_span: Box<MSpan>,
    locked: Mutex<Locked>,
}

static NEXT_HEAP_ID: AtomicU32 = AtomicU32::new(1);

impl Default for MHeap {
    fn default() -> Self {
        Self::new()
    }
}

impl MHeap {
    /// An empty heap; address space is reserved on first use.
    pub fn new() -> MHeap {
        arena::init();
        MHeap {
            id: NEXT_HEAP_ID.fetch_add(1, Ordering::Relaxed),
            faults: Faults::default(),
            counters: HeapCounters::default(),
            hard_limit: AtomicUsize::new(0),
            memory_limit: AtomicUsize::new(usize::MAX),
            empty_span: Box::new(MSpan::empty()),
            locked: Mutex::new(Locked {
                pages: PageAlloc::new(),
                commit_next: 0,
                commit_end: 0,
                reservations: Vec::new(),
                arenas: Vec::new(),
                span_pool: Vec::new(),
                span_slabs: Vec::new(),
                slab_used: SPANS_PER_SLAB,
            }),
        }
    }

    /// The placeholder span every mcache slot starts with.
    pub fn empty_span(&self) -> NonNull<MSpan> {
        NonNull::from(&*self.empty_span)
    }

    /// Calls `f` for every span in use, under the heap lock (checkmark's
    /// check that no mark bit outlives its cycle).
    pub fn for_each_span_in_use(&self, mut f: impl FnMut(&MSpan)) {
        let l = self.locked.lock();
        for (slab, used) in slabs_in_use(&l) {
            for i in 0..used {
                // SAFETY: the slab's first `used` structs were written
                // (`new_span_struct`) and live as long as the heap.
                let span = unsafe { slab.add(i).as_ref() };
                if span.state.load(Ordering::Acquire) == SpanState::InUse as u8 {
                    f(span);
                }
            }
        }
    }

    /// Pages needed for `bytes`, or `TooLarge`.
    pub fn pages_for(bytes: usize) -> Result<usize, AllocError> {
        if bytes > MAX_ALLOC_BYTES {
            return Err(AllocError::TooLarge { requested: bytes });
        }
        Ok(bytes.div_ceil(PAGE_SIZE).max(1))
    }

    /// Allocates a span of `npages` for `spc`, growing the heap if needed.
    /// The span is in use, swept for generation `sweepgen` (the current
    /// one, which the caller reads from the GC word), and recorded in the
    /// arena map for each of its pages.
    pub fn alloc_span(
        &self,
        npages: usize,
        spc: SpanClass,
        sweepgen: u32,
    ) -> Result<SpanPtr, AllocError> {
        let mut l = self.locked.lock();
        let run = match l.pages.alloc(npages) {
            Some(run) => run,
            None => {
                self.grow(&mut l, npages)?;
                l.pages
                    .alloc(npages)
                    .expect("page allocator has no run right after growing by it")
            }
        };
        Ok(self.make_span(&mut l, run, npages, spc, sweepgen))
    }

    /// [`MHeap::alloc_span`] from free pages only: `None` where it would
    /// have to grow the heap (the mcentral first gives back the empty spans
    /// classes keep, `alloc/central.rs`).
    pub fn try_alloc_span(&self, npages: usize, spc: SpanClass, sweepgen: u32) -> Option<SpanPtr> {
        let mut l = self.locked.lock();
        let run = l.pages.alloc(npages)?;
        Some(self.make_span(&mut l, run, npages, spc, sweepgen))
    }

    /// Makes the span of `run`, in use and recorded in the arena map.
    fn make_span(
        &self,
        l: &mut Locked,
        run: PageRun,
        npages: usize,
        spc: SpanClass,
        sweepgen: u32,
    ) -> SpanPtr {
        let mut s = match l.span_pool.pop() {
            Some(s) => s,
            None => new_span_struct(l),
        };
        // The struct the next refill will get was most likely freed by the
        // background sweeper on another core: start moving its two lines
        // here now, while the caller allocates from this span, so `init`
        // does not wait for them then (it waited for both: 3 % of
        // binary-trees' samples, on the mutator's thread).
        if let Some(next) = l.span_pool.last() {
            let at = next.as_ptr() as usize;
            prefetch(at);
            prefetch(at + CACHE_LINE_BYTES);
        }
        // SAFETY: `s` came from the pool or was just made: no one else refers
        // to it (pooled spans are dead, and nothing owns a dead span), and we
        // hold the heap lock.
        let span = unsafe { s.as_mut() };
        span.init(run.addr, npages, spc, run.scavenged < npages);
        span.sweepgen.store(sweepgen, Ordering::Relaxed);
        self.set_span_pages(l, run.addr, npages, s.as_ptr());
        span.state.store(SpanState::InUse as u8, Ordering::Release);
        let bytes = npages * PAGE_SIZE;
        self.counters.inuse.fetch_add(bytes, Ordering::Relaxed);
        self.counters
            .released
            .fetch_sub(run.scavenged * PAGE_SIZE, Ordering::Relaxed);
        self.scavenge_over_limit(l);
        SpanPtr(s)
    }

    fn set_span_pages(&self, l: &Locked, addr: usize, npages: usize, span: *mut MSpan) {
        let mut page = addr >> PAGE_SHIFT;
        let end = page + npages;
        while page < end {
            let a = page << PAGE_SHIFT;
            let arena = l
                .arenas
                .iter()
                .rev()
                .find(|ar| ar.base <= a && a < ar.base + ARENA_BYTES)
                .expect("span outside the heap's arenas");
            let first = page % PAGES_PER_ARENA;
            let n = (PAGES_PER_ARENA - first).min(end - page);
            arena.set_spans(first, n, span);
            page += n;
        }
    }

    /// Returns a span's pages to the page heap. The caller owns the span
    /// (it is on no list and no mcache holds it).
    pub fn free_span(&self, s: SpanPtr) {
        let span = s.span();
        let mut l = self.locked.lock();
        span.state.store(SpanState::Dead as u8, Ordering::Release);
        l.pages.free(span.start, span.npages);
        self.counters
            .inuse
            .fetch_sub(span.npages * PAGE_SIZE, Ordering::Relaxed);
        l.span_pool.push(s.0);
    }

    /// Commits enough address space for a run of `npages` (module header).
    fn grow(&self, l: &mut Locked, npages: usize) -> Result<(), AllocError> {
        let need = npages
            .checked_mul(PAGE_SIZE)
            .and_then(|b| b.checked_next_multiple_of(GROW_CHUNK_BYTES))
            .filter(|&b| b <= MAX_ALLOC_BYTES)
            .ok_or(AllocError::TooLarge {
                requested: npages.saturating_mul(PAGE_SIZE),
            })?;
        self.check_hard_limit(need)?;
        if l.commit_end - l.commit_next < need {
            self.reserve(l, need)?;
        }
        let at = l.commit_next;
        os::commit(at, need, &self.faults).map_err(|cause| AllocError::OutOfMemory {
            requested: need,
            cause,
        })?;
        l.commit_next += need;
        l.pages.grow(at, need / PAGE_SIZE);
        self.counters.sys.fetch_add(need, Ordering::Relaxed);
        self.counters.released.fetch_add(need, Ordering::Relaxed);
        Ok(())
    }

    fn check_hard_limit(&self, more: usize) -> Result<(), AllocError> {
        let limit = self.hard_limit.load(Ordering::Relaxed);
        let sys = self.counters.sys.load(Ordering::Relaxed);
        if limit != 0 && sys.saturating_add(more) > limit {
            return Err(AllocError::LimitExceeded {
                requested: more,
                limit,
            });
        }
        Ok(())
    }

    /// Reserves arenas so that `need` bytes can be committed contiguously.
    fn reserve(&self, l: &mut Locked, need: usize) -> Result<(), AllocError> {
        let leftover = l.commit_end - l.commit_next;
        let bytes = (need - leftover).next_multiple_of(ARENA_BYTES);
        let base = os::reserve(bytes, l.commit_end, &self.faults).map_err(|cause| {
            AllocError::OutOfMemory {
                requested: need,
                cause,
            }
        })?;
        for a in (base..base + bytes).step_by(ARENA_BYTES) {
            let arena = HeapArena::new_boxed(self.id, a);
            arena::publish(&arena);
            l.arenas.push(arena);
        }
        l.reservations.push((base, bytes));
        self.counters.reserved.fetch_add(bytes, Ordering::Relaxed);
        if base == l.commit_end && leftover > 0 {
            l.commit_end += bytes;
        } else {
            // Not contiguous (or nothing left): start committing at the new
            // reservation; the old tail stays reserved and unused.
            if bytes < need {
                // The leftover was not contiguous with the new space: make the
                // new reservation alone large enough.
                let extra = os::reserve(need.next_multiple_of(ARENA_BYTES), 0, &self.faults)
                    .map_err(|cause| AllocError::OutOfMemory {
                        requested: need,
                        cause,
                    })?;
                let extra_bytes = need.next_multiple_of(ARENA_BYTES);
                for a in (extra..extra + extra_bytes).step_by(ARENA_BYTES) {
                    let arena = HeapArena::new_boxed(self.id, a);
                    arena::publish(&arena);
                    l.arenas.push(arena);
                }
                l.reservations.push((extra, extra_bytes));
                self.counters
                    .reserved
                    .fetch_add(extra_bytes, Ordering::Relaxed);
                l.commit_next = extra;
                l.commit_end = extra + extra_bytes;
                return Ok(());
            }
            l.commit_next = base;
            l.commit_end = base + bytes;
        }
        Ok(())
    }

    /// Bytes of allocated objects (Go's HeapAlloc), as of the Ps' last flush.
    pub fn heap_alloc_bytes(&self) -> usize {
        let c = &self.counters;
        (c.total_alloc.load(Ordering::Relaxed)).saturating_sub(c.total_free.load(Ordering::Relaxed))
            as usize
    }

    /// Mapped, ready heap memory: committed minus released.
    pub fn mapped_ready(&self) -> usize {
        let c = &self.counters;
        c.sys
            .load(Ordering::Relaxed)
            .saturating_sub(c.released.load(Ordering::Relaxed))
    }

    /// When mapped memory exceeds GOMEMLIMIT, releases free pages until it
    /// does not (or none is left).
    fn scavenge_over_limit(&self, l: &mut Locked) {
        let limit = self.memory_limit.load(Ordering::Relaxed);
        let mapped = self.mapped_ready();
        if mapped > limit {
            self.scavenge_locked(l, mapped - limit);
        }
    }

    /// Returns up to `max_bytes` of free, resident pages to the OS, highest
    /// addresses first. Returns the bytes released.
    pub fn scavenge(&self, max_bytes: usize) -> usize {
        let mut l = self.locked.lock();
        self.scavenge_locked(&mut l, max_bytes)
    }

    fn scavenge_locked(&self, l: &mut Locked, max_bytes: usize) -> usize {
        let pages = l
            .pages
            .scavenge(max_bytes.div_ceil(PAGE_SIZE), 1, |addr, n| {
                os::release(addr, n * PAGE_SIZE);
            });
        let bytes = pages * PAGE_SIZE;
        self.counters.released.fetch_add(bytes, Ordering::Relaxed);
        bytes
    }

    /// Counts `freed` objects of `span` as freed (the sweeper reports them).
    pub fn count_frees(&self, span: &MSpan, freed: usize) {
        if freed == 0 {
            return;
        }
        let c = &self.counters;
        c.total_free
            .fetch_add((freed * span.elemsize) as u64, Ordering::Relaxed);
        let class = span.spanclass.size_class() as usize;
        if span.is_large() {
            c.large_frees.fetch_add(freed as u64, Ordering::Relaxed);
        } else {
            c.by_class[class]
                .frees
                .fetch_add(freed as u64, Ordering::Relaxed);
        }
    }

    /// Allocates the span of a large object (one object, whole pages),
    /// swept for generation `sweepgen`. The caller records it on its
    /// mcentral (`Centrals::alloc_large`) so that sweepers find it.
    pub fn alloc_large(
        &self,
        bytes: usize,
        noscan: bool,
        sweepgen: u32,
    ) -> Result<SpanPtr, AllocError> {
        let npages = Self::pages_for(bytes)?;
        let s = self.alloc_span(npages, SpanClass::new(0, noscan), sweepgen)?;
        Ok(self.made_large(s, npages))
    }

    /// [`MHeap::alloc_large`] from free pages only: `Ok(None)` where it
    /// would have to grow the heap.
    pub fn try_alloc_large(
        &self,
        bytes: usize,
        noscan: bool,
        sweepgen: u32,
    ) -> Result<Option<SpanPtr>, AllocError> {
        let npages = Self::pages_for(bytes)?;
        let s = self.try_alloc_span(npages, SpanClass::new(0, noscan), sweepgen);
        Ok(s.map(|s| self.made_large(s, npages)))
    }

    /// A fresh span of `npages` becomes a large object's: its one slot
    /// allocated, the counters told.
    fn made_large(&self, s: SpanPtr, npages: usize) -> SpanPtr {
        let span = s.span();
        span.mark_all_allocated();
        let c = &self.counters;
        c.large_mallocs.fetch_add(1, Ordering::Relaxed);
        c.total_alloc
            .fetch_add((npages * PAGE_SIZE) as u64, Ordering::Relaxed);
        c.heap_live.fetch_add(npages * PAGE_SIZE, Ordering::Relaxed);
        s
    }
}

impl Drop for MHeap {
    fn drop(&mut self) {
        let l = self.locked.get_mut();
        for arena in &l.arenas {
            arena::unpublish(arena.base);
        }
        for &(base, bytes) in &l.reservations {
            os::unmap(base, bytes);
        }
        for (slab, used) in slabs_in_use(l) {
            // SAFETY: the slab was allocated with `slab_layout` by
            // `new_span_struct`, which wrote its first `used` structs; they
            // are dropped and the slab freed once, here, when nothing can
            // refer to them any more.
            unsafe {
                std::ptr::slice_from_raw_parts_mut(slab.as_ptr(), used).drop_in_place();
                std::alloc::dealloc(slab.as_ptr() as *mut u8, slab_layout());
            }
        }
    }
}

/// Each slab of span structs with the number of structs written in it
/// (all of them but in the last slab).
fn slabs_in_use(l: &Locked) -> impl Iterator<Item = (NonNull<MSpan>, usize)> + '_ {
    let last = l.span_slabs.len().saturating_sub(1);
    l.span_slabs.iter().enumerate().map(move |(k, &slab)| {
        let used = if k == last {
            l.slab_used
        } else {
            SPANS_PER_SLAB
        };
        (slab, used)
    })
}

/// A new dead span struct from the current slab (a new slab when it is
/// full). Span structs are freed only with their heap (`Drop`).
fn new_span_struct(l: &mut Locked) -> NonNull<MSpan> {
    if l.slab_used == SPANS_PER_SLAB {
        // SAFETY: the layout is not zero-sized.
        let slab = unsafe { std::alloc::alloc(slab_layout()) } as *mut MSpan;
        let Some(slab) = NonNull::new(slab) else {
            std::alloc::handle_alloc_error(slab_layout())
        };
        l.span_slabs.push(slab);
        l.slab_used = 0;
    }
    let slab = *l.span_slabs.last().expect("a slab");
    // SAFETY: `slab_used < SPANS_PER_SLAB`: an unwritten struct inside the
    // slab, written once here and counted as used right after.
    let s = unsafe {
        let s = slab.add(l.slab_used);
        s.write(MSpan::empty());
        s
    };
    l.slab_used += 1;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new heap's sweep generation (`Off(0)`, gc/state.rs).
    const SG: u32 = 2;

    #[test]
    fn span_structs_from_several_slabs_are_all_visited_and_recycled() {
        let h = MHeap::new();
        let n = 2 * SPANS_PER_SLAB + 7;
        let spans: Vec<_> = (0..n)
            .map(|_| h.alloc_span(1, SpanClass::new(2, false), SG).unwrap())
            .collect();
        let distinct: std::collections::HashSet<_> = spans.iter().map(|s| s.0).collect();
        assert_eq!(distinct.len(), n);
        let count = |h: &MHeap| {
            let mut k = 0;
            h.for_each_span_in_use(|_| k += 1);
            k
        };
        assert_eq!(count(&h), n, "every slab's spans are visited");
        for s in &spans[..SPANS_PER_SLAB + 3] {
            h.free_span(*s);
        }
        assert_eq!(count(&h), n - SPANS_PER_SLAB - 3);
        // Freed structs are reused before a new slab is made.
        let again = h.alloc_span(1, SpanClass::new(2, false), SG).unwrap();
        assert!(distinct.contains(&again.0));
        assert_eq!(h.locked.lock().span_slabs.len(), 3);
    }

    #[test]
    fn spans_map_back_and_free_pages_coalesce() {
        let h = MHeap::new();
        let a = h.alloc_span(1, SpanClass::new(5, true), SG).unwrap();
        let b = h.alloc_span(3, SpanClass::new(35, false), SG).unwrap();
        let (sa, sb) = (a.span(), b.span());
        assert_eq!(sa.start % PAGE_SIZE, 0);
        assert!(sa.start + PAGE_SIZE <= sb.start || sb.start + 3 * PAGE_SIZE <= sa.start);
        assert_eq!(arena::span_of(sa.start + 100), a.0.as_ptr());
        assert_eq!(arena::span_of(sb.start + 2 * PAGE_SIZE + 5), b.0.as_ptr());
        assert_eq!(arena::heap_id_of(sb.start), h.id);
        assert_eq!(h.counters.inuse.load(Ordering::Relaxed), 4 * PAGE_SIZE);
        h.free_span(a);
        h.free_span(b);
        assert_eq!(h.counters.inuse.load(Ordering::Relaxed), 0);
        let c = h.alloc_span(4, SpanClass::new(0, true), SG).unwrap();
        assert_eq!(c.span().start, sa.start.min(sb.start));
        assert!(c.span().needzero(), "reused pages must be zeroed");
    }

    #[test]
    fn fresh_pages_need_no_zeroing_and_count_as_released_until_used() {
        let h = MHeap::new();
        let s = h.alloc_span(2, SpanClass::new(0, true), SG).unwrap();
        assert!(!s.span().needzero());
        let c = &h.counters;
        assert_eq!(c.sys.load(Ordering::Relaxed), GROW_CHUNK_BYTES);
        assert_eq!(
            c.released.load(Ordering::Relaxed),
            GROW_CHUNK_BYTES - 2 * PAGE_SIZE
        );
    }

    #[test]
    fn runs_larger_than_an_arena_and_across_arenas() {
        let h = MHeap::new();
        let big = h
            .alloc_large(ARENA_BYTES + 3 * PAGE_SIZE, true, SG)
            .unwrap();
        let s = big.span();
        assert_eq!(s.npages, PAGES_PER_ARENA + 3);
        assert_eq!(arena::span_of(s.start + ARENA_BYTES + 1), big.0.as_ptr());
        // Many 4 MiB-ish spans walk across arena boundaries.
        for _ in 0..40 {
            h.alloc_span(500, SpanClass::new(0, true), SG).unwrap();
        }
        assert!(h.counters.reserved.load(Ordering::Relaxed) >= 3 * ARENA_BYTES);
    }

    #[test]
    fn impossible_and_refused_requests_are_errors_and_the_heap_survives() {
        let h = MHeap::new();
        assert!(matches!(
            h.alloc_large(usize::MAX, true, SG),
            Err(AllocError::TooLarge { .. })
        ));
        assert!(matches!(
            h.alloc_large(MAX_ALLOC_BYTES + 1, true, SG),
            Err(AllocError::TooLarge { .. })
        ));
        h.faults.refuse_reservations(1);
        let e = h.alloc_span(1, SpanClass::new(5, true), SG).unwrap_err();
        assert!(matches!(e, AllocError::OutOfMemory { .. }), "{e}");
        let ok = h.alloc_span(1, SpanClass::new(5, true), SG).unwrap();
        h.faults.refuse_commits(1);
        let e = h.alloc_span(600, SpanClass::new(0, true), SG).unwrap_err();
        assert!(e.to_string().contains("commit"), "{e}");
        assert_eq!(ok.span().state(), SpanState::InUse);
        h.alloc_span(600, SpanClass::new(0, true), SG).unwrap();
    }

    #[test]
    fn hard_limit_refuses_growth_cleanly() {
        let h = MHeap::new();
        h.hard_limit.store(8 << 20, Ordering::Relaxed);
        h.alloc_span(512, SpanClass::new(0, true), SG).unwrap();
        h.alloc_span(512, SpanClass::new(0, true), SG).unwrap();
        let e = h.alloc_span(1, SpanClass::new(0, true), SG).unwrap_err();
        assert!(matches!(e, AllocError::LimitExceeded { .. }));
    }

    #[test]
    fn scavenge_releases_free_pages() {
        let h = MHeap::new();
        let s = h.alloc_span(64, SpanClass::new(0, true), SG).unwrap();
        let before = h.counters.released.load(Ordering::Relaxed);
        h.free_span(s);
        let got = h.scavenge(usize::MAX);
        assert_eq!(got, 64 * PAGE_SIZE);
        assert_eq!(h.counters.released.load(Ordering::Relaxed), before + got);
        let again = h.alloc_span(64, SpanClass::new(0, true), SG).unwrap();
        assert!(!again.span().needzero(), "released pages read as zero");
    }
}
