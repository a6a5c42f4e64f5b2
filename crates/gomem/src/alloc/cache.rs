//! mcache: a P's private span cache. The allocation fast path lives here.
//!
//! Each P (a mutator thread attached to the heap) owns one [`MCache`]: one
//! span per span class that it allocates from without locks or atomics, and
//! the 16-byte *tiny block* that packs pointer-free objects under 16 B
//! together (Go's tiny allocator: one block stays alive while any of its
//! objects is reachable, which costs at most 2× on those objects and saves
//! many allocations of 8 B and less).
//!
//! Small allocation: look at the span cached for the class, take the next
//! free slot from its alloc cache ([`MSpan::next_free_fast`]); on a miss scan
//! its bitmap ([`MSpan::next_free_index`]); when the span is full, `refill`
//! hands it back to its mcentral and takes another. Large objects (> 32 KiB)
//! skip the mcache and come straight from the mheap.
//!
//! **Accounting.** At refill the whole free part of the new span is credited
//! to `heap_live` at once (Go does the same: it keeps the fast path free of
//! shared counters, and slightly overestimates the live heap between
//! cycles); `release_all` takes back the unused part. Per-class malloc
//! counts are flushed the same way, from the span's `alloc_count` delta.
//!
//! **Release.** [`MCache::release_all`] returns every cached span to its
//! mcentral and drops the tiny block: done when a P goes away and, with the
//! collector, when a P adopts the end of a mark phase (Go's
//! `prepareForSweep`), so that no span cached before the flip is allocated
//! from afterwards.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use super::central::Sweeper;
use super::mheap::{AllocError, MHeap};
use super::sizeclass::{SpanClass, NUM_SPAN_CLASSES, TINY_SIZE};
use super::span::{MSpan, SpanPtr};

/// What an mcache tells the collector besides what an mcentral needs: that
/// a refill credited `heap_live`, so the pacer's trigger may be crossed.
pub trait HeapGrowth: Sweeper {
    /// Called after `heap_live` grew; wakes the collector once the trigger
    /// is crossed.
    fn note_heap_growth(&self);
}

/// A P's span cache (module header).
pub struct MCache {
    alloc: [NonNull<MSpan>; NUM_SPAN_CLASSES],
    /// Malloc count of each cached span when it was cached.
    count_at_cache: [u32; NUM_SPAN_CLASSES],
    empty: NonNull<MSpan>,
    /// Start of the current tiny block (0: none).
    tiny: usize,
    /// Bytes used of the tiny block.
    tiny_offset: usize,
    /// Tiny allocations not yet flushed to the heap counters.
    tiny_allocs: u64,
}

// SAFETY: the spans an mcache holds are owned by it (module header of span.rs);
// moving the whole cache to another thread moves that ownership with it.
unsafe impl Send for MCache {}

impl MCache {
    /// An mcache holding nothing.
    pub fn new(heap: &MHeap) -> MCache {
        let empty = heap.empty_span();
        MCache {
            alloc: [empty; NUM_SPAN_CLASSES],
            count_at_cache: [0; NUM_SPAN_CLASSES],
            empty,
            tiny: 0,
            tiny_offset: 0,
            tiny_allocs: 0,
        }
    }

    /// The span cached for `spc` (possibly the empty placeholder).
    #[inline(always)]
    pub fn span(&self, spc: SpanClass) -> &MSpan {
        // SAFETY: every slot points at a live span this cache owns, or at the
        // heap's placeholder, which outlives the cache.
        unsafe { self.alloc[spc.index()].as_ref() }
    }

    /// Allocates one slot of class `spc`. Returns its address and the span.
    #[inline(always)]
    pub fn alloc(&mut self, heap: &impl HeapGrowth, spc: SpanClass) -> Result<usize, AllocError> {
        if let Some(p) = self.span(spc).next_free_fast() {
            return Ok(p);
        }
        self.alloc_slow(heap, spc)
    }

    #[inline(never)]
    fn alloc_slow(&mut self, heap: &impl HeapGrowth, spc: SpanClass) -> Result<usize, AllocError> {
        // The placeholder is shared by every mcache: never write to it.
        if self.alloc[spc.index()] == self.empty || !self.span(spc).next_free_index() {
            self.refill(heap, spc)?;
        }
        Ok(self
            .span(spc)
            .next_free_fast()
            .expect("a span with a free index has a free slot"))
    }

    /// Replaces the span of `spc` with one that has a free slot.
    pub fn refill(&mut self, heap: &impl HeapGrowth, spc: SpanClass) -> Result<(), AllocError> {
        let fresh = heap.centrals().get(spc).cache_span(heap)?;
        self.uncache(heap, spc);
        let span = fresh.span();
        self.alloc[spc.index()] = fresh.0;
        self.count_at_cache[spc.index()] = span.alloc_count() as u32;
        let free = (span.nelems - span.alloc_count()) * span.elemsize;
        heap.mheap()
            .counters
            .heap_live
            .fetch_add(free, Ordering::Relaxed);
        heap.note_heap_growth();
        if !span.next_free_index() {
            unreachable!("mcentral handed out a full span");
        }
        Ok(())
    }

    /// Gives the span of `spc` back to its mcentral.
    fn uncache(&mut self, heap: &impl Sweeper, spc: SpanClass) {
        let s = self.alloc[spc.index()];
        if s == self.empty {
            return;
        }
        self.alloc[spc.index()] = self.empty;
        // SAFETY: a cached span is live and owned by this cache.
        let span = unsafe { s.as_ref() };
        let allocated = span.alloc_count() as u64 - self.count_at_cache[spc.index()] as u64;
        let c = &heap.mheap().counters;
        c.by_class[spc.size_class() as usize]
            .mallocs
            .fetch_add(allocated, Ordering::Relaxed);
        c.total_alloc
            .fetch_add(allocated * span.elemsize as u64, Ordering::Relaxed);
        let sg = heap.sweepgen();
        if span.sweepgen.load(Ordering::Acquire) == sg.wrapping_add(3) {
            // Credited at refill in this cycle: take back what went unused.
            let unused = (span.nelems - span.alloc_count()) * span.elemsize;
            c.heap_live.fetch_sub(unused, Ordering::Relaxed);
        }
        heap.centrals().get(spc).uncache_span(heap, SpanPtr(s));
    }

    /// Allocates `size` < 16 bytes of pointer-free memory from the tiny
    /// block, aligned as Go aligns it (8 if size is a multiple of 8, 4 if of
    /// 4, 2 if even).
    #[inline]
    pub fn alloc_tiny(&mut self, heap: &impl HeapGrowth, size: usize) -> Result<usize, AllocError> {
        debug_assert!(size > 0 && size < TINY_SIZE);
        let align = if size & 7 == 0 {
            8
        } else if size & 3 == 0 {
            4
        } else if size & 1 == 0 {
            2
        } else {
            1
        };
        let off = (self.tiny_offset + align - 1) & !(align - 1);
        if self.tiny != 0 && off + size <= TINY_SIZE {
            self.tiny_offset = off + size;
            self.tiny_allocs += 1;
            return Ok(self.tiny + off);
        }
        let block = self.alloc(heap, SpanClass::TINY)?;
        if self.span(SpanClass::TINY).needzero() {
            // SAFETY: `block` is a fresh 16-byte slot this cache just took.
            unsafe { std::ptr::write_bytes(block as *mut u8, 0, TINY_SIZE) };
        }
        // Keep whichever block has more room left (Go's rule).
        if self.tiny == 0 || size < self.tiny_offset {
            self.tiny = block;
            self.tiny_offset = size;
        }
        Ok(block)
    }

    /// The current tiny block, if any (the collector greys it at mark start).
    pub fn tiny_block(&self) -> Option<usize> {
        (self.tiny != 0).then_some(self.tiny)
    }

    /// Forgets the tiny block (at the end of a cycle, as Go does).
    pub fn clear_tiny(&mut self) {
        self.tiny = 0;
        self.tiny_offset = 0;
    }

    /// Returns every cached span to its mcentral and flushes counters.
    pub fn release_all(&mut self, heap: &impl Sweeper) {
        for i in 0..NUM_SPAN_CLASSES {
            self.uncache(heap, SpanClass(i as u8));
        }
        self.clear_tiny();
        self.flush_counters(heap.mheap());
    }

    /// Flushes the counters kept locally.
    pub fn flush_counters(&mut self, heap: &MHeap) {
        if self.tiny_allocs > 0 {
            heap.counters
                .tiny_allocs
                .fetch_add(self.tiny_allocs, Ordering::Relaxed);
            self.tiny_allocs = 0;
        }
    }
}

impl Drop for MCache {
    fn drop(&mut self) {
        debug_assert!(
            self.alloc.iter().all(|s| *s == self.empty),
            "an MCache was dropped while still holding spans; call release_all first"
        );
    }
}
