//! mcentral: the central span lists of one span class.
//!
//! Every span class (size class × scan/noscan, 136 of them) has one
//! [`MCentral`]. It holds the class's spans that no mcache is using, in six
//! lock-free sets: *partial* (has a free slot), *empty* (no object at all)
//! and *full*, each split into *swept* and *unswept* for the current sweep
//! generation. Which of the two
//! physical sets is "swept" flips every cycle: with `h` the heap's sweepgen
//! (which grows by 2 per cycle), set `h/2 % 2` is swept and the other is
//! unswept. So at the flip every span in the swept sets becomes unswept for
//! free, with no list walking (Go's trick).
//!
//! An mcache asks for a span with [`MCentral::cache_span`]: first a swept
//! partial span, then a swept empty one; else it sweeps unswept partial,
//! empty, then full spans, until one has room (at most [`SPAN_BUDGET`] of them, as in Go, so a
//! refill costs bounded work); else it asks the mheap for a fresh span. A
//! span is swept only by whoever wins its sweepgen CAS `h−2 → h−1`, so lazy
//! sweeping here and the background sweeper never sweep a span twice, and
//! never touch a span an mcache holds (its sweepgen is `h+1` or `h+3`).
//!
//! [`MCentral::uncache_span`] takes a span back from an mcache: a span cached
//! before the flip (`h+1`) is swept right away; one cached after it (`h+3`)
//! is simply swept-and-free and goes on a swept set.
//!
//! **Keeping empty spans.** A sweep that leaves a span empty normally
//! gives its pages back to the mheap, as Go's does; but a class that is
//! allocating hard would take as many fresh spans from the mheap in the
//! next cycle, each under the heap lock and re-initialised. So the
//! background sweeper keeps up to as many empty spans of a class as the
//! class used (fresh or kept) during the cycle that just ended
//! ([`MCentral::start_sweep`], at each flip), on the swept empty set,
//! ready to allocate from (sweeping left their bitmaps as a fresh span's);
//! refills sweeping lazily keep the empty span they sweep anyway. The
//! rest go back. A class that used none in a cycle keeps none, so an empty
//! span outlives at most one cycle without demand; and before the heap
//! grows, for any class or a large object, every span on a swept empty set
//! goes back ([`Centrals::release_kept`]: only those sets are walked), so
//! no class hoards pages that another
//! then grows the heap (or hits its hard limit) for. On binary-trees
//! (garbage trees that die whole) this took `alloc_span` and span `init`
//! off most refills (AMD EPYC, `BENCHMARKS.md`).
//!
//! The sets are crossbeam `SegQueue`s (lock-free MPMC); order within a set
//! does not matter.
//!
//! **Sweeping through a trait.** Sweeping a span belongs to the collector
//! (it runs Drop, clears weak handles, reads the mark bits of a cycle), and
//! the sweep generation is derived from the collector's GC word. The
//! mcentral reaches both through [`Sweeper`], which the collector implements
//! (`gc/collector.rs`, delegating to `gc/sweep.rs`), as Go's `cacheSpan`
//! calls into mgcsweep.go. So this file, and the whole of `alloc/`, imports
//! nothing from `gc/` and can be tested with a stand-in sweeper.
//!
//! [`Centrals`] holds the 136 mcentrals of a heap and the count of threads
//! sweeping right now, and records large objects on their mcentral.

use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;

use super::mheap::{AllocError, MHeap};
use super::sizeclass::{SpanClass, CLASS_TO_NPAGES, NUM_SPAN_CLASSES};
use super::span::SpanPtr;

/// Spans a refill may sweep before it gives up and grows the heap (Go's
/// `spanBudget`, which bounds sweeping overhead at about 1 %).
pub const SPAN_BUDGET: usize = 100;

/// What the mcentrals need from the layers around them (module header):
/// the page heap, the mcentrals themselves, the current sweep generation
/// and sweeping one span. The collector implements it.
pub trait Sweeper {
    /// The page heap that fresh spans come from.
    fn mheap(&self) -> &MHeap;
    /// The heap's mcentrals.
    fn centrals(&self) -> &Centrals;
    /// The heap's current sweep generation (derived from the GC word).
    fn sweepgen(&self) -> u32;
    /// Sweeps a span this thread owns (sweepgen `h−1`, after winning
    /// [`MSpan::try_acquire_for_sweep`](super::span::MSpan::try_acquire_for_sweep)):
    /// frees the span (no live object left, and `keep_empty` is false, or a
    /// large span) or publishes it as swept for `sg` and hands it back to
    /// the caller to place.
    fn sweep_owned(&self, s: SpanPtr, sg: u32, keep_empty: bool) -> Option<SpanPtr>;
}

/// The mcentrals of one heap, one per span class (module header).
pub struct Centrals {
    lists: Box<[CachePadded<MCentral>]>,
    /// Threads sweeping right now (sweep completion waits for zero).
    pub sweepers: AtomicUsize,
}

impl Default for Centrals {
    fn default() -> Self {
        Centrals {
            lists: (0..NUM_SPAN_CLASSES)
                .map(|i| CachePadded::new(MCentral::new(SpanClass(i as u8))))
                .collect(),
            sweepers: AtomicUsize::new(0),
        }
    }
}

impl Centrals {
    /// The mcentral of a span class.
    #[inline]
    pub fn get(&self, spc: SpanClass) -> &MCentral {
        &self.lists[spc.index()]
    }

    /// All mcentrals.
    pub fn iter(&self) -> impl Iterator<Item = &MCentral> {
        self.lists.iter().map(|c| &**c)
    }

    /// Gives every class's kept empty spans back to the page heap (module
    /// header, "Keeping empty spans"), announced as a sweeper like any
    /// thread that takes spans off the sets.
    pub fn release_kept(&self, heap: &impl Sweeper) {
        self.sweepers.fetch_add(1, Ordering::SeqCst);
        for c in self.iter() {
            c.release_kept(heap);
        }
        self.sweepers.fetch_sub(1, Ordering::SeqCst);
    }

    /// Allocates the span of a large object from the page heap. The caller
    /// colours the object, then hands the span to
    /// [`Centrals::publish_large`]: until then no sweeper can see it. (A span
    /// published first could be swept as dead by the background sweeper,
    /// after a flip, before its allocating mutator marked it black.)
    pub fn alloc_large(
        &self,
        heap: &impl Sweeper,
        bytes: usize,
        noscan: bool,
    ) -> Result<SpanPtr, AllocError> {
        let mheap = heap.mheap();
        if let Some(s) = mheap.try_alloc_large(bytes, noscan, heap.sweepgen())? {
            return Ok(s);
        }
        // As for a small class's growth: kept empty spans go back first.
        self.release_kept(heap);
        mheap.alloc_large(bytes, noscan, heap.sweepgen())
    }

    /// Records a large object's span on its mcentral's full swept set so
    /// that sweepers find it.
    pub fn publish_large(&self, s: SpanPtr) {
        let span = s.span();
        // Push with the generation the span was made at, so that a flip in
        // between puts it on the set that will sweep it.
        self.get(span.spanclass)
            .push_swept(span.sweepgen.load(Ordering::Acquire), s);
    }
}

/// Central span lists for one span class.
pub struct MCentral {
    /// The class served.
    pub spanclass: SpanClass,
    partial: [SegQueue<SpanPtr>; 2],
    full: [SegQueue<SpanPtr>; 2],
    /// Partial spans with no object at all: the kept empty spans (module
    /// header), apart so that giving them back touches no other span.
    empty: [SegQueue<SpanPtr>; 2],
    /// Empty spans (fresh from the page heap or kept) this class handed to
    /// mcaches since the last flip: its demand for them.
    demand: AtomicUsize,
    /// Empty spans the background sweeper may still keep this sweep.
    keep: AtomicUsize,
}

#[inline]
fn swept_index(sweepgen: u32) -> usize {
    (sweepgen / 2 % 2) as usize
}

impl MCentral {
    /// Empty lists for `spanclass`.
    pub fn new(spanclass: SpanClass) -> MCentral {
        MCentral {
            spanclass,
            partial: [SegQueue::new(), SegQueue::new()],
            full: [SegQueue::new(), SegQueue::new()],
            empty: [SegQueue::new(), SegQueue::new()],
            demand: AtomicUsize::new(0),
            keep: AtomicUsize::new(0),
        }
    }

    /// At a flip: the background sweeper may keep as many of this class's
    /// empty spans as the class used during the cycle that just ended
    /// (module header, "Keeping empty spans").
    pub fn start_sweep(&self) {
        let demand = self.demand.swap(0, Ordering::Relaxed);
        self.keep.store(demand, Ordering::Relaxed);
    }

    /// Gives this class's kept empty spans (its swept empty set) back to
    /// the page heap and keeps no more this cycle (before the heap grows).
    /// A span found stale by a flip meanwhile goes back on the set it now
    /// belongs to, for a sweeper.
    fn release_kept(&self, heap: &impl Sweeper) {
        self.keep.store(0, Ordering::Relaxed);
        let sg = heap.sweepgen();
        let set = &self.empty[swept_index(sg)];
        for _ in 0..set.len() {
            let Some(s) = set.pop() else { break };
            // Swept for the current generation (so not cached, and no flip
            // since) and empty: no object, nothing to sweep or finalize.
            if s.span().alloc_count() == 0
                && s.span().sweepgen.load(Ordering::Acquire) == sg
                && heap.sweepgen() == sg
            {
                heap.mheap().free_span(s);
            } else {
                self.requeue(heap, s);
            }
        }
    }

    /// Claims one keep, if any is left.
    fn claim_keep(&self) -> bool {
        self.keep
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |k| k.checked_sub(1))
            .is_ok()
    }

    /// Puts a swept span on the swept partial, empty or full set.
    pub fn push_swept(&self, sweepgen: u32, s: SpanPtr) {
        self.set_for(s, swept_index(sweepgen)).push(s);
    }

    /// The set of generation index `i` a span belongs on by its fill.
    fn set_for(&self, s: SpanPtr, i: usize) -> &SegQueue<SpanPtr> {
        let span = s.span();
        if span.is_full() {
            &self.full[i]
        } else if span.alloc_count() == 0 {
            &self.empty[i]
        } else {
            &self.partial[i]
        }
    }

    /// Takes an unswept span (partial first, then empty, then full), for
    /// a sweeper.
    pub fn pop_unswept(&self, sweepgen: u32) -> Option<SpanPtr> {
        let i = 1 - swept_index(sweepgen);
        self.partial[i]
            .pop()
            .or_else(|| self.empty[i].pop())
            .or_else(|| self.full[i].pop())
    }

    /// Takes every span off all six sets (the caller then owns them: it
    /// must put each back with `uncache_span` or `push_swept`).
    pub fn take_all(&self) -> Vec<SpanPtr> {
        let mut out = Vec::with_capacity(self.len());
        for set in self.sets() {
            while let Some(s) = set.pop() {
                out.push(s);
            }
        }
        out
    }

    /// Number of spans on all six sets (for tests and stats).
    pub fn len(&self) -> usize {
        self.sets().map(SegQueue::len).sum()
    }

    /// Number of spans still waiting to be swept this cycle.
    pub fn unswept_len(&self, sweepgen: u32) -> usize {
        let i = 1 - swept_index(sweepgen);
        self.partial[i].len() + self.empty[i].len() + self.full[i].len()
    }

    /// All six sets.
    fn sets(&self) -> impl Iterator<Item = &SegQueue<SpanPtr>> {
        self.partial.iter().chain(&self.empty).chain(&self.full)
    }

    /// Finds a span with a free slot for an mcache (module header), marking it
    /// cached (`h+3`) and ready to allocate from.
    ///
    /// The sweep generation may advance (a flip) while this runs: no thread
    /// stops for it. Every span is therefore taken only if its own sweepgen
    /// says what the set it came from claims, a span that does not is put
    /// back where it now belongs ([`MCentral::requeue`]), and the span handed
    /// out is re-checked after it is marked cached: if the heap flipped in
    /// between, it goes back (it is stale now, so it is swept on the way) and
    /// the search starts over at the new generation. So a span returned here
    /// is always cached for the generation current when it was returned.
    pub fn cache_span(&self, heap: &impl Sweeper) -> Result<SpanPtr, AllocError> {
        loop {
            let sg = heap.sweepgen();
            let s = match self.take_swept(heap, sg) {
                Some(s) => s,
                None => match self.sweep_for_space(heap, sg) {
                    Some(s) => s,
                    None => self.grow(heap)?,
                },
            };
            s.span().sweepgen.store(sg + 3, Ordering::Release);
            if heap.sweepgen() == sg {
                if s.span().alloc_count() == 0 {
                    self.demand.fetch_add(1, Ordering::Relaxed);
                }
                return Ok(s);
            }
            self.uncache_span(heap, s);
        }
    }

    /// Pops a swept partial span of generation `sg`, if the heap is still
    /// at `sg`.
    fn take_swept(&self, heap: &impl Sweeper, sg: u32) -> Option<SpanPtr> {
        let i = swept_index(sg);
        let s = self.partial[i].pop().or_else(|| self.empty[i].pop())?;
        if s.span().sweepgen.load(Ordering::Acquire) == sg && heap.sweepgen() == sg {
            return Some(s);
        }
        self.requeue(heap, s);
        None
    }

    /// Puts a span taken off a set back on the set its sweepgen says it
    /// belongs to now (the heap may have flipped since it was pushed).
    fn requeue(&self, heap: &impl Sweeper, s: SpanPtr) {
        let cur = heap.sweepgen();
        let v = s.span().sweepgen.load(Ordering::Acquire);
        if v == cur.wrapping_sub(2) {
            self.set_for(s, 1 - swept_index(cur)).push(s);
        } else {
            debug_assert_eq!(
                v, cur,
                "span on a central set in state {v} at sweepgen {cur}"
            );
            self.push_swept(cur, s);
        }
    }

    /// Sweeps unswept spans of this class until one has room.
    fn sweep_for_space(&self, heap: &impl Sweeper, sg: u32) -> Option<SpanPtr> {
        // Announce the sweeper before taking any span, so that sweep
        // completion (no unswept span, then no sweeper) never misses one.
        heap.centrals().sweepers.fetch_add(1, Ordering::SeqCst);
        let found = self.sweep_for_space_counted(heap, sg);
        heap.centrals().sweepers.fetch_sub(1, Ordering::SeqCst);
        found
    }

    fn sweep_for_space_counted(&self, heap: &impl Sweeper, sg: u32) -> Option<SpanPtr> {
        let unswept = 1 - swept_index(sg);
        for _ in 0..SPAN_BUDGET {
            if heap.sweepgen() != sg {
                return None;
            }
            let s = self.partial[unswept]
                .pop()
                .or_else(|| self.empty[unswept].pop())
                .or_else(|| self.full[unswept].pop())?;
            if !s.span().try_acquire_for_sweep(sg) {
                self.requeue(heap, s);
                continue;
            }
            match heap.sweep_owned(s, sg, true) {
                Some(s) if !s.span().is_full() => return Some(s),
                Some(s) => self.push_swept(sg, s),
                None => {}
            }
        }
        None
    }

    /// Background sweeping: sweeps one unswept span of generation `sg`.
    /// Returns false when there was none.
    pub fn sweep_one(&self, heap: &impl Sweeper, sg: u32) -> bool {
        let Some(s) = self.pop_unswept(sg) else {
            return false;
        };
        if !s.span().try_acquire_for_sweep(sg) {
            self.requeue(heap, s);
            return true;
        }
        let keep = self.claim_keep();
        if let Some(s) = heap.sweep_owned(s, sg, keep) {
            if keep && s.span().alloc_count() != 0 {
                // Not empty: the keep is still unused.
                self.keep.fetch_add(1, Ordering::Relaxed);
            }
            self.push_swept(sg, s);
        }
        true
    }

    fn grow(&self, heap: &impl Sweeper) -> Result<SpanPtr, AllocError> {
        let npages = CLASS_TO_NPAGES[self.spanclass.size_class() as usize] as usize;
        let (mheap, spc) = (heap.mheap(), self.spanclass);
        let s = match mheap.try_alloc_span(npages, spc, heap.sweepgen()) {
            Some(s) => s,
            None => {
                // Before the heap grows, the empty spans classes keep go
                // back: no class hoards pages another one then grows for.
                heap.centrals().release_kept(heap);
                mheap.alloc_span(npages, spc, heap.sweepgen())?
            }
        };
        // Outside the heap lock: on fresh memory this is a page fault.
        s.span().clear_heap_bits_of_empty_span();
        Ok(s)
    }

    /// Takes a span back from an mcache (module header).
    pub fn uncache_span(&self, heap: &impl Sweeper, s: SpanPtr) {
        let sg = heap.sweepgen();
        let span = s.span();
        let stale = span.sweepgen.load(Ordering::Acquire) == sg.wrapping_add(1);
        if stale {
            // Cached before the flip: it still holds last cycle's marks.
            span.sweepgen.store(sg.wrapping_sub(1), Ordering::Release);
            if let Some(s) = heap.sweep_owned(s, sg, false) {
                self.push_swept(sg, s);
            }
        } else {
            span.sweepgen.store(sg, Ordering::Release);
            self.push_swept(sg, s);
        }
    }
}
