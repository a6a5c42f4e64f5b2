//! mspan: a run of pages carved into objects of one size class.
//!
//! A span is the unit that moves between the layers: the mheap makes it from
//! free pages, an mcentral keeps it on a list, an mcache allocates from it,
//! the sweeper frees its dead objects. Its metadata lives off-heap in an
//! [`MSpan`] that the mheap recycles and never deallocates while the heap
//! lives, so a stale pointer to one is always a valid (dead) span.
//!
//! **Bits.** Each span has an *alloc bitmap* (one bit per object, out of
//! line, sized to the object count: 16 words for a 1024-object span, one
//! for a large span); a *typed bitmap* of the same size once a slot has
//! held a typed object (made by the owner at the first one and kept with
//! the struct, so a span of bitmap-described objects never has one:
//! binary-trees 21 saves 1.7 MiB); and, from the first mark of a cycle
//! until the sweep that reads it, a *mark byte array* (one byte per object)
//! borrowed from the mark pool (`markpool.rs`): a span nobody marks holds
//! no mark bytes at all.
//! Allocation does not write
//! the alloc bitmap: every slot below `freeindex` counts as allocated, and
//! the bitmap only says which slots at or above `freeindex` were live when the
//! span was last swept. Sweeping turns the mark bits into the new alloc bits
//! and clears the marks. Bits past `nelems` in the last alloc word are kept
//! set, so a slot past the end never looks free and the fast path needs no
//! bounds check.
//!
//! **The alloc cache.** `alloc_cache` is the inverted alloc word that holds
//! `freeindex`, shifted so that bit 0 is slot `freeindex`: the next free slot
//! is `freeindex + ctz(alloc_cache)`. The fast path is that one instruction
//! plus a shift and two stores, with no lock and no atomic. When the cache
//! runs dry, [`MSpan::next_free_index`] loads the next word.
//!
//! **Ownership.** The allocation state (`freeindex`, `alloc_cache`,
//! `alloc_count`, `needzero`) and the alloc bitmap belong to whoever holds the
//! span: one mcache while it is cached, the sweeper that won the span's
//! sweep-generation CAS while it sweeps, the mheap (under its lock) while it
//! builds or frees it. Nobody else touches them. The mark bytes are atomics:
//! mark workers set them from any thread. `sweepgen` and `state` are atomics
//! that publish ownership changes.
//!
//! **Why a mark is a byte, not a bit.** Setting a bit among 64 that other
//! threads set too needs a locked read-modify-write (`lock or` / `lock bts`
//! on x86), and a locked instruction is also a full fence: it waits for the
//! store buffer to drain and for every earlier load, so each mark stalls the
//! out-of-order window the mark loop's prefetches rely on, and each object
//! allocated black stalls the mutator behind the stores that initialised
//! the previous one. A byte of its own is set with a plain store (an atomic
//! byte store, Relaxed): no other object's mark shares it, so nothing is
//! lost. The price is that two markers racing on the same white object can
//! both see it white and both queue it; it is then scanned twice, which is
//! harmless (scanning only shades), and its bytes are counted twice in the
//! cycle's marked bytes, a rounding error for the pacer. Replacing the
//! locked bit-set with a byte store cut binary-trees' CPU by 4–7 % (depths
//! 21 and 20, AMD EPYC, `BENCHMARKS.md`). The memory costs 7 bits per
//! object more: 6 % of a span of 16-byte objects, paid only by spans marked
//! in the cycle under way since the bytes are borrowed (binary-trees 21:
//! 8 MiB of mark bytes, down from 13.7 when every span kept its own).
//!
//! Markers and allocate-black write single mark bytes during Mark; sweeping
//! reads and clears them 8 bytes at a time (one word) after Mark is over.
//! The two sizes never race: sweep n starts after the flip that ends Mark
//! n, which every marker and every P has handed off through the GC word,
//! and Mark n+1 starts only after sweep n is complete (`gc/cycle.rs`). The
//! only byte accesses that can overlap a sweep are reads (weak lookups under
//! the span's weak lock, before `clear_dead` runs), and concurrent reads of
//! different sizes are allowed.
//!
//! **Borrowing the mark bytes.** `marks` is null while nothing is marked.
//! The first mark of a cycle in the span takes a zeroed block from the pool
//! and installs it with a CAS (a racing first mark that loses gives its
//! block back and uses the winner's); every marker loads the pointer with
//! Acquire, so it sees the block zeroed. The sweep reads the marks, zeroes
//! the block and gives it back, and a span nobody marked is swept without
//! reading any (a span of garbage, most of binary-trees' heap). Both ends
//! follow the protocol above: installs happen during Mark, give-backs at
//! sweep time, never both at once; weak lookups read marks only before the
//! span's `clear_dead` (under its weak lock, which the sweep takes before
//! it gives the block back). Blocks are never deallocated, so even a stale
//! pointer would read valid memory.
//!
//! **A flag spares scanning and sweeping work.** `has_typed` is set at a span's
//! first typed allocation, before the object is published, and cleared
//! only by `init`: while it is clear, scanning skips the typed bitmap and
//! sweeping skips the search for Drops.
//!
//! **Sweep generations** (h = the heap's sweepgen, +2 per cycle), as in Go:
//! `h−2` needs sweeping, `h−1` is being swept, `h` is swept and ready, `h+1`
//! was cached before this sweep began and must be swept when released, `h+3`
//! was swept and then cached.

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};

use super::markpool::{self, GROUP_BYTES, SLOTS_PER_GROUP};

use super::sizeclass::{
    object_index, span_class_nelems, SpanClass, CLASS_TO_DIV_MAGIC, CLASS_TO_SIZE, HEAP_BITS_BYTES,
    MAX_HEAP_BITS_OBJECT_SIZE, PAGE_SIZE,
};

/// Words of mark bytes per word of a bitmap: 64 slots, a byte each.
#[cfg(not(target_arch = "x86_64"))]
const MARK_WORDS_PER_WORD: usize = GROUP_BYTES / 8;

const _: () = assert!(SLOTS_PER_GROUP == 64);

/// Packs the eight mark bytes of `word` (each 0 or 1; byte k is slot k of
/// the group, little-endian) into eight bits. The multiply moves byte k's
/// low bit to bit 56 + k, and no two partial products collide.
/// (x86_64 uses SSE2 instead; the tests check both against each other.)
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
fn pack_mark_bytes(word: u64) -> u64 {
    const GATHER: u64 = 0x0102_0408_1020_4080;
    // Memory byte k at bits 8k on any target.
    word.to_le().wrapping_mul(GATHER) >> 56
}

/// A span's life state, published with Release when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SpanState {
    /// Free pages or a recycled struct: holds no objects.
    Dead = 0,
    /// Holds objects of its span class.
    InUse = 1,
}

/// A span pointer that may cross threads (ownership travels with it): what
/// the mheap hands out, the mcentral sets hold and an mcache gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanPtr(pub NonNull<MSpan>);

// SAFETY: a SpanPtr names a span whose ownership is handed over with the
// pointer (through a set or the heap lock); MSpan itself is Send + Sync.
unsafe impl Send for SpanPtr {}

impl SpanPtr {
    /// The span. Spans are never deallocated while their heap lives.
    #[inline]
    pub fn span<'a>(self) -> &'a MSpan {
        // SAFETY: span structs live as long as their heap (module header);
        // callers hold the heap.
        unsafe { self.0.as_ref() }
    }
}

/// Metadata of one span. See the module header for who may touch what.
///
/// Laid out by hand, one cache line per use: the first line holds what a
/// marker reads for every object it shades (where the span starts, its
/// object size and index magic, its class, where its marks are) and nothing
/// that changes while it is in use; the second holds what its owner writes
/// on every allocation (`freeindex`, `alloc_cache`, `alloc_count`). Markers
/// then never miss on a line that an allocating mutator keeps dirty, and a
/// shade costs at most one miss on the span struct, not two when the
/// fields straddle a line.
#[repr(C, align(64))]
pub struct MSpan {
    // ---- line 1: read by markers, fixed while the span is in use ----
    /// First byte of the span.
    pub start: usize,
    /// Bytes per object slot (the whole span for a large object).
    pub elemsize: usize,
    /// The typed bitmap (`words` words), or null while no slot has held a
    /// typed object since this struct was first used: a typed bit says the
    /// object in that slot of a scan span carries a type word in its last
    /// 8 bytes (see `trace.rs`) instead of being described by the span's
    /// pointer bitmap. Made by the owner at the first typed allocation
    /// (published with Release before that object is), kept with the
    /// struct for its next spans, zeroed by `init`.
    typed: AtomicPtr<AtomicU64>,
    /// This cycle's mark bytes, one per slot in `words` groups of 64: a
    /// zeroed block from the mark pool that the first mark since the last
    /// sweep installs, or null while nothing is marked (module header).
    marks: AtomicPtr<u8>,
    /// Length in 8 KiB pages.
    pub npages: usize,
    /// `offset * div_magic >> 32` = object index (0 for large spans).
    pub div_magic: u32,
    /// Words in each bitmap, and groups of mark bytes: `nelems / 64`
    /// rounded up.
    words: u32,
    /// Sweep generation (module header).
    pub sweepgen: AtomicU32,
    /// Size class × scan/noscan.
    pub spanclass: SpanClass,
    /// Life state ([`SpanState`] as u8).
    pub state: AtomicU8,
    /// Some slot has held a typed object since the span was initialised
    /// (never cleared before that): while false, scanning skips the typed
    /// bitmap and sweeping skips the search for Drops. Set by the owner on
    /// its first typed allocation, before the object is published.
    has_typed: AtomicBool,
    /// Words the typed bitmap at `typed` holds (owner and `init` only).
    typed_cap: Cell<u8>,
    /// Fills line 1 (the asserts below check the layout).
    _line1_end: [u8; 8],
    // ---- line 2: the owner's allocation state, and the rest ----
    freeindex: Cell<usize>,
    alloc_cache: Cell<u64>,
    alloc_count: Cell<usize>,
    needzero: Cell<bool>,
    /// Some object of this span has a weak handle (`gc/weak.rs`).
    pub has_weak: AtomicBool,
    /// Guards weak-handle clearing against upgrades (`gc/weak.rs`).
    pub weak_lock: AtomicBool,
    /// Sweep generation whose weak handles have been cleared.
    pub weak_sweepgen: AtomicU32,
    /// Number of object slots.
    pub nelems: usize,
    /// The alloc bitmap (at least `words` words; owner-only, module header).
    bits: Box<[AtomicU64]>,
    /// Type descriptor of a large object, published once the object is
    /// initialised (Go's `largeType`); null means "nothing to scan yet".
    pub large_type: AtomicPtr<()>,
}

/// Cache line size of every x86-64 and most ARM cores (bytes): `MSpan` is
/// laid out in two lines, and prefetches fetch one line each.
pub const CACHE_LINE_BYTES: usize = 64;

const _: () = assert!(std::mem::offset_of!(MSpan, typed_cap) < CACHE_LINE_BYTES);
const _: () = assert!(std::mem::offset_of!(MSpan, freeindex) >= CACHE_LINE_BYTES);
const _: () = assert!(std::mem::size_of::<MSpan>() == 2 * CACHE_LINE_BYTES);

// SAFETY: the `Cell` fields are touched only by the span's single current
// owner (module header: an mcache, a sweeper that won the sweepgen CAS, or the
// mheap under its lock); ownership is handed over through atomics (the
// sweepgen CAS, lock-free queues, the heap lock) that order those accesses.
unsafe impl Sync for MSpan {}
// SAFETY: as above; a span has no thread affinity.
unsafe impl Send for MSpan {}

impl MSpan {
    /// A span with no slots: the placeholder every mcache slot starts with,
    /// whose alloc cache is always empty so the fast path falls through.
    pub fn empty() -> MSpan {
        MSpan {
            start: 0,
            npages: 0,
            elemsize: 0,
            nelems: 0,
            spanclass: SpanClass(0),
            div_magic: 0,
            state: AtomicU8::new(SpanState::Dead as u8),
            sweepgen: AtomicU32::new(0),
            large_type: AtomicPtr::new(std::ptr::null_mut()),
            has_weak: AtomicBool::new(false),
            has_typed: AtomicBool::new(false),
            marks: AtomicPtr::new(std::ptr::null_mut()),
            weak_lock: AtomicBool::new(false),
            weak_sweepgen: AtomicU32::new(0),
            freeindex: Cell::new(0),
            alloc_cache: Cell::new(0),
            alloc_count: Cell::new(0),
            needzero: Cell::new(false),
            bits: Box::new([]),
            typed: AtomicPtr::new(std::ptr::null_mut()),
            typed_cap: Cell::new(0),
            _line1_end: [0; 8],
            words: 0,
        }
    }

    /// (Re)initialises this struct for a fresh span of `npages` at `start`.
    /// Only the mheap calls this, under its lock, before publishing the span.
    pub fn init(&mut self, start: usize, npages: usize, spanclass: SpanClass, needzero: bool) {
        let class = spanclass.size_class();
        let (elemsize, nelems, div_magic) = if class == 0 {
            (npages * PAGE_SIZE, 1, 0)
        } else {
            (
                CLASS_TO_SIZE[class as usize] as usize,
                span_class_nelems(spanclass),
                CLASS_TO_DIV_MAGIC[class as usize],
            )
        };
        self.start = start;
        self.npages = npages;
        self.elemsize = elemsize;
        self.nelems = nelems;
        self.spanclass = spanclass;
        self.div_magic = div_magic;
        self.large_type
            .store(std::ptr::null_mut(), Ordering::Relaxed);
        *self.has_typed.get_mut() = false;
        self.release_marks();
        self.needzero.set(needzero);
        self.words = nelems.div_ceil(64) as u32;
        let words = self.words();
        if self.bits.len() < words {
            self.bits = (0..words).map(|_| AtomicU64::new(0)).collect();
        }
        // `&mut self`: no other access, so plain stores (a memset) will do.
        for w in &mut self.bits[..words] {
            *w.get_mut() = 0;
        }
        self.reset_typed_words();
        self.set_tail_bits();
        self.freeindex.set(0);
        self.alloc_count.set(0);
        self.refill_alloc_cache();
    }

    /// Sets the alloc bits past `nelems` so those slots never look free.
    fn set_tail_bits(&self) {
        let rem = self.nelems % 64;
        if rem != 0 {
            // Owner-only (init, sweep): a plain load and store, no locked
            // read-modify-write.
            let w = &self.alloc_words()[self.words() - 1];
            w.store(w.load(Ordering::Relaxed) | !0u64 << rem, Ordering::Relaxed);
        }
    }

    #[inline]
    fn alloc_words(&self) -> &[AtomicU64] {
        &self.bits[..self.words()]
    }

    /// Words in each bitmap (and groups of mark bytes).
    #[inline(always)]
    fn words(&self) -> usize {
        self.words as usize
    }

    /// The typed bitmap (module header); empty while no slot of the span
    /// has held a typed object. Acquire: whoever reads a typed bit found
    /// the array zeroed and published.
    #[inline]
    pub fn typed_words(&self) -> &[AtomicU64] {
        let p = self.typed.load(Ordering::Acquire);
        if p.is_null() {
            return &[];
        }
        // SAFETY: a non-null `typed` holds `typed_cap ≥ words` words
        // (`init` frees a smaller one), freed only by `init` under
        // `&mut self` or by `Drop`.
        unsafe { std::slice::from_raw_parts(p, self.words()) }
    }

    /// Makes the typed bitmap at the span's first typed allocation (owner
    /// only), publishing it before the object that needs it.
    #[cold]
    #[inline(never)]
    fn make_typed_words(&self) {
        if !self.typed.load(Ordering::Relaxed).is_null() {
            return;
        }
        let words: Box<[AtomicU64]> = (0..self.words()).map(|_| AtomicU64::new(0)).collect();
        self.typed_cap.set(self.words() as u8);
        self.typed
            .store(Box::into_raw(words) as *mut AtomicU64, Ordering::Release);
    }

    /// `init`'s part for the typed bitmap: zeroes one big enough for the
    /// new span, frees one too small (the next first typed allocation makes
    /// another).
    fn reset_typed_words(&mut self) {
        let p = *self.typed.get_mut();
        if p.is_null() {
            return;
        }
        if (self.typed_cap.get() as usize) < self.words() {
            self.free_typed_words();
        } else {
            // SAFETY: `typed_cap ≥ words` words, and `&mut self`: nobody
            // else reads them.
            unsafe { std::ptr::write_bytes(p, 0, self.words()) };
        }
    }

    fn free_typed_words(&mut self) {
        let p = std::mem::replace(self.typed.get_mut(), std::ptr::null_mut());
        if !p.is_null() {
            let cap = self.typed_cap.replace(0) as usize;
            // SAFETY: made by `make_typed_words` as a boxed slice of `cap`
            // words; `&mut self`, so no reader holds it.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, cap)) });
        }
    }

    /// This cycle's mark block, or null if nothing was marked since the
    /// last sweep. Acquire: a marker that finds the block another installed
    /// sees it zeroed.
    #[inline(always)]
    fn marks(&self) -> *mut u8 {
        self.marks.load(Ordering::Acquire)
    }

    /// The mark block, installing a zeroed one from the pool if there is
    /// none yet (the first mark of a cycle in this span). Two racing first
    /// marks both take a block; the CAS loser gives its own back.
    #[cold]
    #[inline(never)]
    fn install_marks(&self) -> *mut u8 {
        let block = markpool::take(self.words());
        match self.marks.compare_exchange(
            std::ptr::null_mut(),
            block.as_ptr(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => block.as_ptr(),
            Err(winner) => {
                // SAFETY: the block came zeroed from the pool a moment ago
                // and was never published.
                unsafe { markpool::give_back(block, self.words()) };
                winner
            }
        }
    }

    /// Detaches the mark block, zeroing it and giving it back to the pool
    /// (a sweep, `init`, `Drop`, and the heap's teardown, which drops every
    /// mark). Marks at rest only (below): the sweeper or the mheap owns the
    /// span and no marker can hold the block.
    pub fn release_marks(&self) {
        let marks = self.marks();
        if marks.is_null() {
            return;
        }
        self.marks.store(std::ptr::null_mut(), Ordering::Relaxed);
        let bytes = self.words() * GROUP_BYTES;
        // SAFETY: the span's whole block, which nobody else accesses now
        // (marks at rest); zeroed as the pool requires before it goes back.
        unsafe {
            std::ptr::write_bytes(marks, 0, bytes);
            markpool::give_back(NonNull::new_unchecked(marks), self.words());
        }
    }

    /// The mark byte of slot `idx` in the block at `marks`.
    #[inline(always)]
    fn mark_byte(&self, marks: *mut u8, idx: usize) -> &AtomicU8 {
        debug_assert!(idx < self.nelems && !marks.is_null());
        // SAFETY: the block holds a byte for each of the `words × 64 ≥
        // nelems` slots; blocks are never deallocated (`markpool.rs`), so the
        // reference stays valid memory; every access to a mark byte during
        // marking is atomic, and the wider reads and writes of marks at rest
        // never overlap them (module header).
        unsafe { &*(marks as *const AtomicU8).add(idx) }
    }

    /// Slots `64 w .. 64 w + 64` as a bitmask of marked slots (bit i ⇔ slot
    /// `64 w + i` is marked). Marks at rest only: sweep-time, or Off before
    /// a cycle starts (module header: no byte writer runs then, so plain
    /// loads race with nothing but other reads).
    #[inline]
    fn marked_mask(&self, marks: *mut u8, w: usize) -> u64 {
        if marks.is_null() {
            return 0;
        }
        debug_assert!(w < self.words());
        // SAFETY: group `w` of the block is in bounds (`w < words`).
        let bytes = unsafe { marks.add(w * GROUP_BYTES) } as *const u8;
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `bytes` points at the group's 64 mark bytes; SSE2 is part
        // of x86_64; no thread writes these bytes now (above), so the plain
        // vector loads are not a data race.
        unsafe {
            use std::arch::x86_64::{
                __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_setzero_si128,
            };
            let mut unmarked = 0u64;
            for k in 0..4 {
                let v = _mm_loadu_si128(bytes.add(16 * k) as *const __m128i);
                let zero = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128()));
                unmarked |= (zero as u16 as u64) << (16 * k);
            }
            !unmarked
        }
        #[cfg(not(target_arch = "x86_64"))]
        (0..MARK_WORDS_PER_WORD).fold(0, |mask, k| {
            // SAFETY: as above: in bounds, and no concurrent writer.
            let word = unsafe { (bytes as *const u64).add(k).read() };
            mask | pack_mark_bytes(word) << (8 * k)
        })
    }

    /// Records whether the object in slot `idx` carries a type word. Only the
    /// span's owner writes (a plain load + store, no read-modify-write race);
    /// collectors read it after the object was published to them.
    #[inline]
    pub fn set_typed(&self, idx: usize, typed: bool) {
        if !self.has_typed.load(Ordering::Relaxed) {
            if !typed {
                // No slot held a typed object since `init`: no bit is set.
                return;
            }
            self.make_typed_words();
            self.has_typed.store(true, Ordering::Relaxed);
        }
        let word = &self.typed_words()[idx / 64];
        let mask = 1u64 << (idx % 64);
        let old = word.load(Ordering::Relaxed);
        let new = if typed { old | mask } else { old & !mask };
        if new != old {
            word.store(new, Ordering::Relaxed);
        }
    }

    /// Whether slot `idx` holds a typed object.
    #[inline]
    pub fn is_typed(&self, idx: usize) -> bool {
        self.has_typed()
            && self.typed_words()[idx / 64].load(Ordering::Relaxed) >> (idx % 64) & 1 == 1
    }

    /// Whether any slot may hold a typed object (the field).
    #[inline]
    pub fn has_typed(&self) -> bool {
        self.has_typed.load(Ordering::Relaxed)
    }

    /// Loads the alloc cache for the word that holds `freeindex`.
    fn refill_alloc_cache(&self) {
        let idx = self.freeindex.get();
        if idx >= self.nelems {
            self.alloc_cache.set(0);
            return;
        }
        let word = self.alloc_words()[idx / 64].load(Ordering::Relaxed);
        self.alloc_cache.set(!word >> (idx % 64));
    }

    /// Fast path: the next free slot's address, or `None` when the cached
    /// window is exhausted (then call [`MSpan::next_free_index`]).
    #[inline(always)]
    pub fn next_free_fast(&self) -> Option<usize> {
        let cache = self.alloc_cache.get();
        if cache == 0 {
            return None;
        }
        let bit = cache.trailing_zeros() as usize;
        let idx = self.freeindex.get() + bit;
        self.alloc_cache.set((cache >> bit) >> 1);
        self.freeindex.set(idx + 1);
        self.alloc_count.set(self.alloc_count.get() + 1);
        Some(self.start + idx * self.elemsize)
    }

    /// Slow path: scans the alloc bitmap past the exhausted window for a
    /// free slot and reloads the cache there. Returns false when the span is
    /// full.
    pub fn next_free_index(&self) -> bool {
        let mut idx = self.freeindex.get();
        while idx < self.nelems {
            let word = !self.alloc_words()[idx / 64].load(Ordering::Relaxed) >> (idx % 64);
            if word != 0 {
                let skip = word.trailing_zeros() as usize;
                self.freeindex.set(idx + skip);
                self.alloc_cache.set(word >> skip);
                return true;
            }
            idx = (idx / 64 + 1) * 64;
        }
        self.freeindex.set(self.nelems);
        self.alloc_cache.set(0);
        false
    }

    /// Objects allocated in this span (as of its owner's view).
    #[inline]
    pub fn alloc_count(&self) -> usize {
        self.alloc_count.get()
    }

    /// True when every slot is taken.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.alloc_count.get() == self.nelems
    }

    /// Whether freshly handed-out slots may hold old bytes.
    #[inline]
    pub fn needzero(&self) -> bool {
        self.needzero.get()
    }

    /// Slot index of an address inside the span.
    #[inline]
    pub fn object_index(&self, addr: usize) -> usize {
        object_index(addr - self.start, self.div_magic)
    }

    /// Start address of slot `idx`.
    #[inline]
    pub fn object_base(&self, idx: usize) -> usize {
        self.start + idx * self.elemsize
    }

    /// Whether this span holds one large object (size class 0) rather than
    /// slots of a small size class.
    #[inline]
    pub fn is_large(&self) -> bool {
        self.spanclass.size_class() == 0
    }

    /// The slot holding `addr` (an interior pointer is allowed): its index
    /// and its base address (Go's `findObject`). A large span has one slot.
    #[inline]
    pub fn find_object(&self, addr: usize) -> (usize, usize) {
        if self.is_large() {
            return (0, self.start);
        }
        let idx = self.object_index(addr);
        (idx, self.object_base(idx))
    }

    /// Tries to take ownership of this unswept span for sweeping at heap
    /// sweepgen `sg`: the CAS `h−2 → h−1` that makes every span swept
    /// exactly once.
    pub fn try_acquire_for_sweep(&self, sg: u32) -> bool {
        self.sweepgen
            .compare_exchange(
                sg.wrapping_sub(2),
                sg.wrapping_sub(1),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Marks slot `idx`; true if it was unmarked. A load and, if it was
    /// clear, a plain store: no locked instruction (module header). Two
    /// threads racing on the same unmarked slot may both get true; the
    /// callers then queue the object twice, which is harmless.
    #[inline]
    pub fn try_mark(&self, idx: usize) -> bool {
        let mut marks = self.marks();
        if marks.is_null() {
            marks = self.install_marks();
        }
        let byte = self.mark_byte(marks, idx);
        if byte.load(Ordering::Relaxed) != 0 {
            return false;
        }
        byte.store(1, Ordering::Relaxed);
        true
    }

    /// Whether slot `idx` is marked.
    #[inline]
    pub fn is_marked(&self, idx: usize) -> bool {
        let marks = self.marks();
        !marks.is_null() && self.mark_byte(marks, idx).load(Ordering::Acquire) != 0
    }

    /// Whether the span holds a mark block (something was marked since its
    /// last sweep).
    pub fn holds_marks(&self) -> bool {
        !self.marks().is_null()
    }

    /// The first marked slot, if any (checkmark's check that no mark
    /// outlives its cycle).
    pub fn first_marked(&self) -> Option<usize> {
        let marks = self.marks();
        (0..self.words()).find_map(|w| {
            let m = self.marked_mask(marks, w);
            (m != 0).then(|| w * 64 + m.trailing_zeros() as usize)
        })
    }

    /// Number of marked slots.
    #[cfg(test)]
    pub fn count_marked(&self) -> usize {
        let marks = self.marks();
        (0..self.words())
            .map(|w| self.marked_mask(marks, w).count_ones() as usize)
            .sum()
    }

    /// Address of the pointer bitmap at the span's tail, for scan spans of
    /// objects ≤ 512 B (1 bit per 8-byte word of the page).
    pub fn heap_bits_addr(&self) -> Option<usize> {
        let has_bits = !self.spanclass.noscan()
            && !self.is_large()
            && self.elemsize <= MAX_HEAP_BITS_OBJECT_SIZE;
        has_bits.then(|| self.start + self.npages * PAGE_SIZE - HEAP_BITS_BYTES)
    }

    /// The pointer-bitmap bits of the object at `base`: bit i ⇔ word i is a
    /// Member. Reads the span's tail bitmap (scan spans of objects ≤ 512 B).
    #[inline]
    pub fn heap_bits(&self, base: usize) -> u64 {
        let words = self.heap_bits_words();
        let w0 = (base - self.start) / 8;
        let n = self.elemsize / 8;
        let (wi, shift) = (w0 / 64, w0 % 64);
        let mut bits = words[wi].load(Ordering::Relaxed) >> shift;
        if shift + n > 64 {
            bits |= words[wi + 1].load(Ordering::Relaxed) << (64 - shift);
        }
        if n < 64 {
            bits &= (1u64 << n) - 1;
        }
        bits
    }

    /// Zeroes the pointer bitmap of a span that has no object yet (its
    /// owner, fresh from the page heap). Allocation updates the bitmap with
    /// a load and a store; on a page fresh from the OS that load is the
    /// page's first touch, which maps the shared zero page, and the store
    /// then faults again to copy it, flushing every other CPU's TLB with an
    /// interrupt (`do_wp_page`: ~1 % of binary-trees with two mutators).
    /// Writing first takes a single fault.
    pub fn clear_heap_bits_of_empty_span(&self) {
        debug_assert_eq!(self.alloc_count(), 0);
        if self.heap_bits_addr().is_some() {
            for w in self.heap_bits_words() {
                w.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Writes the pointer-bitmap bits of the object at `base` (owner of the
    /// span only: a plain load and store per word, no read-modify-write race).
    #[inline]
    pub fn set_heap_bits(&self, base: usize, mask: u64) {
        let words = self.heap_bits_words();
        let w0 = (base - self.start) / 8;
        let n = self.elemsize / 8;
        let field = if n >= 64 { !0u64 } else { (1u64 << n) - 1 };
        let (wi, shift) = (w0 / 64, w0 % 64);
        let w = &words[wi];
        let old = w.load(Ordering::Relaxed);
        w.store(
            old & !(field << shift) | (mask & field) << shift,
            Ordering::Relaxed,
        );
        if shift + n > 64 {
            let w = &words[wi + 1];
            let old = w.load(Ordering::Relaxed);
            let hi = 64 - shift;
            w.store(
                old & !(field >> hi) | (mask & field) >> hi,
                Ordering::Relaxed,
            );
        }
    }

    fn heap_bits_words(&self) -> &[AtomicU64] {
        debug_assert!(self.heap_bits_addr().is_some());
        let addr = self.start + self.npages * PAGE_SIZE - HEAP_BITS_BYTES;
        // SAFETY: scan spans of objects ≤ 512 B reserve their last 128 bytes
        // (16 words) for the bitmap (sizeclass.rs); the words are only accessed
        // atomically; the span lives while its objects do.
        unsafe { std::slice::from_raw_parts(addr as *const AtomicU64, HEAP_BITS_BYTES / 8) }
    }

    /// Calls `f(slot_base)` for every slot that was allocated and is not
    /// marked: the objects a sweep is about to free. Owner-only.
    pub fn for_each_dead(&self, f: impl FnMut(usize)) {
        self.for_each_dead_where(|_| !0, f);
    }

    /// [`MSpan::for_each_dead`] restricted to slots whose typed bit is set
    /// (the only dead objects that can have a Drop). Works a word of 64
    /// slots at a time, so a span of bitmap-described objects costs a few
    /// loads, not a test per object. Owner-only.
    pub fn for_each_dead_typed(&self, f: impl FnMut(usize)) {
        let typed = self.typed_words();
        self.for_each_dead_where(|w| typed[w].load(Ordering::Relaxed), f);
    }

    fn for_each_dead_where(&self, filter: impl Fn(usize) -> u64, mut f: impl FnMut(usize)) {
        let marks = self.marks();
        for w in 0..self.words() {
            let only = filter(w);
            if only == 0 {
                continue;
            }
            let alloc = self.alloc_words()[w].load(Ordering::Relaxed);
            let first = w * 64;
            let below_free = if self.freeindex.get() >= first + 64 {
                !0u64
            } else if self.freeindex.get() <= first {
                0
            } else {
                (1u64 << (self.freeindex.get() - first)) - 1
            };
            let valid = if first + 64 <= self.nelems {
                !0u64
            } else {
                (1u64 << (self.nelems - first)) - 1
            };
            let mut dead = (alloc | below_free) & valid & only & !self.marked_mask(marks, w);
            while dead != 0 {
                let bit = dead.trailing_zeros() as usize;
                f(self.object_base(first + bit));
                dead &= dead - 1;
            }
        }
    }

    /// The heart of sweeping: the mark bits become the alloc bits, the marks
    /// are cleared, and allocation restarts from slot 0. Returns the number of
    /// objects freed. Owner-only; the caller has already dealt with the dead
    /// objects (Drop, weak pointers) via [`MSpan::for_each_dead`].
    pub fn sweep_bits(&self) -> usize {
        let before = self.objects_in_use();
        let mut live = 0;
        let marks = self.marks();
        // A span nobody marked has no block: every object is dead, and no
        // mark byte is read (a span of garbage, most of binary-trees' heap).
        for (w, a) in self.alloc_words().iter().enumerate() {
            let mask = self.marked_mask(marks, w);
            live += mask.count_ones() as usize;
            a.store(mask, Ordering::Relaxed);
        }
        self.release_marks();
        self.set_tail_bits();
        self.freeindex.set(0);
        self.alloc_count.set(live);
        self.refill_alloc_cache();
        let freed = before.saturating_sub(live);
        if freed > 0 {
            self.needzero.set(true);
        }
        freed
    }

    /// Objects in use counted from the bitmaps (owner-only, O(words)).
    pub fn objects_in_use(&self) -> usize {
        let mut n = 0;
        for idx in 0..self.words() {
            let first = idx * 64;
            let alloc = self.alloc_words()[idx].load(Ordering::Relaxed);
            let fi = self.freeindex.get();
            let below = if fi >= first + 64 {
                !0u64
            } else if fi <= first {
                0
            } else {
                (1u64 << (fi - first)) - 1
            };
            let valid = if first + 64 <= self.nelems {
                !0u64
            } else {
                (1u64 << (self.nelems - first)) - 1
            };
            n += ((alloc | below) & valid).count_ones() as usize;
        }
        n
    }

    /// Current life state.
    #[inline]
    pub fn state(&self) -> SpanState {
        if self.state.load(Ordering::Acquire) == SpanState::InUse as u8 {
            SpanState::InUse
        } else {
            SpanState::Dead
        }
    }

    /// Whether `addr` lies in this span's object area.
    #[inline]
    #[cfg(test)]
    pub fn contains(&self, addr: usize) -> bool {
        addr >= self.start && addr < self.start + self.nelems * self.elemsize
    }

    /// Takes the span's weak lock (a short spin: the holder runs no user
    /// code and takes no other lock while holding it).
    pub fn lock_weak(&self) -> WeakGuard<'_> {
        while self
            .weak_lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        WeakGuard(self)
    }

    /// Marks every slot allocated and consumed (used for spans that are
    /// handed out whole, such as a large object's span).
    pub fn mark_all_allocated(&self) {
        self.freeindex.set(self.nelems);
        self.alloc_count.set(self.nelems);
        self.alloc_cache.set(0);
    }
}

impl Drop for MSpan {
    /// A heap dropped in the middle of a cycle leaves marks on some spans:
    /// their blocks go back to the pool, not nowhere.
    fn drop(&mut self) {
        self.release_marks();
        self.free_typed_words();
    }
}

/// Asks the CPU to start loading the line at `addr`. Marking (an object
/// pushed is scanned soon: the stack is LIFO) and span recycling are bound
/// by memory latency, not work.
#[inline(always)]
pub(crate) fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint with no architectural effect; any address
    // is allowed.
    unsafe {
        std::arch::x86_64::_mm_prefetch(addr as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Holds a span's weak lock until dropped.
pub struct WeakGuard<'a>(&'a MSpan);

impl Drop for WeakGuard<'_> {
    fn drop(&mut self) {
        self.0.weak_lock.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::sizeclass::size_to_class;

    fn span_for(size: usize, noscan: bool) -> MSpan {
        let class = size_to_class(size);
        let npages = crate::alloc::sizeclass::CLASS_TO_NPAGES[class as usize] as usize;
        let mut s = MSpan::empty();
        s.init(0x1000_0000, npages, SpanClass::new(class, noscan), false);
        s
    }

    #[test]
    fn fast_path_hands_out_every_slot_once_in_order() {
        for &size in &[8, 16, 48, 512, 1024, 32768] {
            let s = span_for(size, true);
            let mut got = Vec::new();
            loop {
                match s.next_free_fast() {
                    Some(a) => got.push(a),
                    None if s.next_free_index() => continue,
                    None => break,
                }
            }
            assert_eq!(got.len(), s.nelems, "size {size}");
            for (i, a) in got.iter().enumerate() {
                assert_eq!(*a, s.start + i * s.elemsize);
                assert_eq!(s.object_index(*a + s.elemsize - 1), i);
            }
            assert!(s.is_full());
        }
    }

    #[test]
    fn packing_mark_bytes_gives_one_bit_per_slot() {
        for pattern in 0u64..256 {
            let bytes: [u8; 8] = std::array::from_fn(|k| (pattern >> k & 1) as u8);
            let word = u64::from_ne_bytes(bytes);
            assert_eq!(pack_mark_bytes(word), pattern, "bytes {bytes:?}");
        }
    }

    #[test]
    fn every_slot_has_its_own_mark() {
        // 1024 slots of 8 bytes: sixteen groups of 64 marks.
        let s = span_for(8, true);
        assert_eq!(s.nelems, 1024);
        fill(&s);
        let chosen = |i: usize| i % 7 == 3 || i == 0 || i == s.nelems - 1;
        for i in (0..s.nelems).filter(|&i| chosen(i)) {
            assert!(s.try_mark(i));
        }
        for i in 0..s.nelems {
            assert_eq!(s.is_marked(i), chosen(i), "slot {i}");
        }
        assert_eq!(s.first_marked(), Some(0));
        let want = (0..s.nelems).filter(|&i| chosen(i)).count();
        assert_eq!(s.count_marked(), want);
        assert_eq!(s.nelems - s.sweep_bits(), want);
        assert_eq!(s.first_marked(), None);
    }

    #[test]
    fn a_span_holds_mark_bytes_from_its_first_mark_to_its_sweep() {
        let s = span_for(16, false);
        fill(&s);
        assert!(!s.holds_marks(), "a fresh span has no marks");
        assert!(!s.is_marked(5));
        assert_eq!(s.first_marked(), None);
        for round in 0..3 {
            // A different slot each round: a block that came back from the
            // pool (maybe this span's own) carries no mark of an earlier one.
            let slot = 7 + round * 100;
            assert!(s.try_mark(slot));
            assert!(s.holds_marks());
            assert!(!s.try_mark(slot));
            assert_eq!(s.count_marked(), 1, "round {round}");
            assert_eq!(s.first_marked(), Some(slot));
            assert_eq!(s.nelems - s.sweep_bits(), 1);
            assert!(!s.holds_marks(), "the sweep gives the block back");
            assert!(!s.is_marked(slot));
            fill_again(&s);
        }
        // A sweep of a span nobody marked frees everything and takes no block.
        assert_eq!(s.sweep_bits(), s.nelems);
        assert!(!s.holds_marks());
    }

    /// Allocates every free slot of a swept span again.
    fn fill_again(s: &MSpan) {
        while s.next_free_fast().is_some() || s.next_free_index() {}
        assert!(s.is_full());
    }

    #[test]
    fn the_typed_bitmap_is_made_at_the_first_typed_slot_and_reset_with_the_span() {
        let mut s = span_for(64, false);
        assert!(s.typed_words().is_empty(), "no typed slot, no bitmap");
        s.set_typed(3, false);
        assert!(s.typed_words().is_empty(), "clearing makes nothing");
        s.set_typed(5, true);
        assert_eq!(s.typed_words().len(), s.words());
        assert!(s.is_typed(5) && !s.is_typed(3));
        // The same struct for a span of the same size: the bitmap is kept,
        // zeroed, and ignored until a typed slot appears again.
        let class = s.spanclass;
        s.init(0x2000_0000, 1, class, false);
        assert!(!s.has_typed() && !s.is_typed(5));
        s.set_typed(7, true);
        assert!(s.is_typed(7) && !s.is_typed(5), "no bit of the old span");
        // A span with more slots than the bitmap covers: a new one is made.
        let small = SpanClass::new(crate::alloc::sizeclass::size_to_class(8), false);
        s.init(0x3000_0000, 1, small, false);
        assert!(s.typed_words().is_empty());
        s.set_typed(1000, true);
        assert_eq!(s.typed_words().len(), 16);
        assert!(s.is_typed(1000) && !s.is_typed(7));
    }

    #[test]
    fn marks_set_by_racing_threads_are_never_lost() {
        // Without a locked read-modify-write, a mark must still not erase
        // a neighbour's: four threads mark interleaved slots of one span,
        // each slot also tried by a second thread, many times over.
        let s = span_for(16, false);
        let n = s.nelems;
        fill(&s);
        for round in 0..50 {
            let won = std::sync::atomic::AtomicUsize::new(0);
            std::thread::scope(|scope| {
                for t in 0..4 {
                    let (s, won) = (&s, &won);
                    scope.spawn(move || {
                        for i in (0..n).filter(|i| i % 2 == t % 2) {
                            if s.try_mark((i + round) % n) {
                                won.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    });
                }
            });
            assert_eq!(s.count_marked(), n, "round {round}");
            // Every slot was won at least once; a race may let both win.
            assert!(won.load(Ordering::Relaxed) >= n);
            assert_eq!(s.sweep_bits(), 0);
            assert_eq!(s.count_marked(), 0);
        }
    }

    /// Allocates every slot of `s`.
    fn fill(s: &MSpan) {
        for _ in 0..s.nelems {
            if s.next_free_fast().is_none() {
                assert!(s.next_free_index());
                s.next_free_fast().unwrap();
            }
        }
        assert!(s.is_full());
    }

    #[test]
    fn sweep_frees_unmarked_slots_and_keeps_marked_ones() {
        let s = span_for(64, false);
        let n = s.nelems;
        fill(&s);
        for i in (0..n).step_by(3) {
            assert!(s.try_mark(i));
            assert!(!s.try_mark(i));
        }
        let mut dead = Vec::new();
        s.for_each_dead(|a| dead.push(s.object_index(a)));
        assert_eq!(dead.len(), n - n.div_ceil(3));
        assert!(dead.iter().all(|i| i % 3 != 0));
        let freed = s.sweep_bits();
        assert_eq!(freed, dead.len());
        assert_eq!(s.alloc_count(), n.div_ceil(3));
        assert_eq!(s.count_marked(), 0);
        assert!(s.needzero());
        // The freed slots come back, in order, and only those.
        let mut again = Vec::new();
        loop {
            match s.next_free_fast() {
                Some(a) => again.push(s.object_index(a)),
                None if s.next_free_index() => continue,
                None => break,
            }
        }
        assert_eq!(again, dead);
    }

    #[test]
    fn a_span_swept_with_no_marks_frees_everything_and_the_next_cycle_marks_again() {
        let s = span_for(16, false);
        let n = s.nelems;
        // Cycle 1: one object survives; cycle 2: none; cycle 3: a few do.
        // Each sweep must see exactly the marks of its own cycle, whether
        // it reads the mark bytes or knows nobody set one.
        fill(&s);
        assert!(s.try_mark(n - 1));
        assert_eq!(s.sweep_bits(), n - 1);
        assert_eq!(s.alloc_count(), 1);
        while s.next_free_fast().is_some() || s.next_free_index() {}
        assert!(s.is_full());
        assert_eq!(s.sweep_bits(), n, "no marks: every object is freed");
        assert_eq!(s.alloc_count(), 0);
        assert_eq!(s.first_marked(), None);
        fill(&s);
        for i in [0, 7, 64, n - 2] {
            assert!(s.try_mark(i));
        }
        assert_eq!(s.sweep_bits(), n - 4);
        assert_eq!(s.alloc_count(), 4);
        assert_eq!(s.count_marked(), 0);
        let mut free = 0;
        loop {
            match s.next_free_fast() {
                Some(a) => assert!(![0, 7, 64, n - 2].contains(&s.object_index(a))),
                None if s.next_free_index() => continue,
                None => break,
            }
            free += 1;
        }
        assert_eq!(free, n - 4);
    }

    #[test]
    fn dead_typed_slots_are_exactly_the_dead_ones_with_a_typed_bit() {
        let s = span_for(48, false);
        let n = s.nelems;
        fill(&s);
        for i in 0..n {
            s.set_typed(i, i % 5 == 0);
        }
        for i in (0..n).step_by(2) {
            assert!(s.try_mark(i));
        }
        let mut got = Vec::new();
        s.for_each_dead_typed(|a| got.push(s.object_index(a)));
        let want: Vec<usize> = (0..n).filter(|i| i % 2 == 1 && i % 5 == 0).collect();
        assert!(!want.is_empty());
        assert_eq!(got, want);
    }

    #[test]
    fn scan_spans_of_small_objects_have_a_tail_bitmap() {
        let s = span_for(16, false);
        assert_eq!(s.nelems, 504);
        assert_eq!(
            s.heap_bits_addr(),
            Some(s.start + PAGE_SIZE - HEAP_BITS_BYTES)
        );
        assert!(s.start + s.nelems * s.elemsize <= s.heap_bits_addr().unwrap());
        assert_eq!(span_for(16, true).heap_bits_addr(), None);
        assert_eq!(span_for(1024, false).heap_bits_addr(), None);
    }

    #[test]
    fn heap_bits_round_trip_across_word_boundaries() {
        // A fake span over a page-aligned buffer (bits live at its tail).
        let mut buf = vec![0u64; 2 * PAGE_SIZE / 8];
        let start2 = (buf.as_mut_ptr() as usize + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
        for size in [16usize, 24, 48, 80, 112, 240, 512] {
            let mut span = MSpan::empty();
            span.init(start2, 1, SpanClass::new(size_to_class(size), false), true);
            for w in span.heap_bits_words() {
                w.store(0, Ordering::Relaxed);
            }
            for i in 0..span.nelems {
                let base = span.object_base(i);
                span.set_heap_bits(base, (i as u64).wrapping_mul(0x9E37_79B9) | 1);
            }
            for i in 0..span.nelems {
                let base = span.object_base(i);
                let n = span.elemsize / 8;
                let field = if n >= 64 { !0 } else { (1u64 << n) - 1 };
                assert_eq!(
                    span.heap_bits(base),
                    ((i as u64).wrapping_mul(0x9E37_79B9) | 1) & field,
                    "size {size} object {i}"
                );
            }
        }
    }
}
