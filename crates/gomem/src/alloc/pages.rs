//! The page allocator: which 8 KiB pages of the heap are free, and which of
//! the free ones are clean.
//!
//! # What this owns
//!
//! [`PageAlloc`] is bookkeeping only. The mheap owns the address space (64 MiB
//! arenas, committed in 4 MiB steps) and tells this allocator about every
//! newly usable range with [`PageAlloc::grow`]; from then on spans are carved
//! out with [`PageAlloc::alloc`], handed back with [`PageAlloc::free`], and
//! the physical memory of idle pages is given back to the OS through
//! [`PageAlloc::scavenge`]. The allocator never reads or writes the memory it
//! describes, it has no lock of its own (the mheap's lock guards it, hence
//! `&mut self` everywhere) and it is `Send`.
//!
//! # Page states
//!
//! Every page of the address space has two bits:
//!
//! | in use | scavenged | meaning                                                     |
//! |--------|-----------|-------------------------------------------------------------|
//! | 1      | 0         | part of a span, or not part of the heap at all             |
//! | 0      | 0         | free and *dirty*: resident, may hold a dead span's bytes   |
//! | 0      | 1         | free and *clean*: released to the OS (or never touched)    |
//! | 1      | 1         | never happens                                               |
//!
//! "Scavenged" is what Go calls released: the page was `madvise`d away with
//! `MADV_DONTNEED` or came fresh from `mmap`, so on Linux the next touch
//! faults in a zero page. That is why [`PageRun::scavenged`] matters to the
//! caller: a run whose pages were *all* scavenged is known to read as zero and
//! needs no clearing, while a run with even one dirty page may hold old data
//! and must be zeroed before it is handed out as fresh memory. Allocation
//! clears the scavenged bits (the pages are about to be touched), and freeing
//! makes pages dirty (a span lived there); only `grow` and `scavenge` set them.
//!
//! # Structure
//!
//! The address space is cut into 4 MiB *chunks* of 512 pages, aligned to
//! 4 MiB. A chunk stores a 512-bit in-use bitmap and a 512-bit scavenged
//! bitmap (128 bytes, the same as Go's `pallocData`). Pages of a chunk that
//! lie outside every grown range are simply "in use" forever, so ranges need
//! not be chunk-aligned and two ranges that touch share a chunk seamlessly.
//!
//! Above the chunks sits a sparse 16-ary radix tree. Every node keeps, for
//! each of its 16 children, two *summaries* of three numbers each:
//!
//! * `start`: free pages at the low end of the child,
//! * `max`: the longest run of free pages anywhere inside the child,
//! * `end`: free pages at the high end of the child.
//!
//! One summary counts free pages (used by `alloc`), the other counts free
//! *dirty* pages (used by `scavenge`). Children that were never grown are
//! absent and read as all-in-use. The tree only covers what has been grown:
//! it starts as a single leaf node (16 chunks, 64 MiB) around the first range
//! and gains a new root whenever a range falls outside it, so a heap of 1 TiB
//! near one base address is five levels deep, and ranges scattered across the
//! whole 48-bit space cost at most ~7 levels. Nodes are never freed; the heap
//! never gives address space back.
//!
//! A run of `n` free pages either lies inside one child (`max >= n`) or
//! straddles child boundaries, in which case the summaries alone reveal it: a
//! run of `end` pages of one child, continued through wholly free children,
//! plus the `start` of the next. So [`PageAlloc::alloc`] walks down from the
//! root: at each node it scans the children left to right, carrying the free
//! pages that reach the current child from the left. If the carry plus the
//! child's `start` reaches `n`, the answer is known without descending
//! further; if not but the child's `max` does, the first fit lies wholly in
//! that child and the walk descends into it; at a chunk the bitmap is searched
//! with word-at-a-time bit tricks (trailing/leading ones and a shift-and
//! reduction that finds `n` consecutive free bits inside a `u64` in
//! `O(log n)` steps). Runs longer than a chunk, or spanning many chunks and
//! several adjacent grown ranges, are therefore found at whichever level they
//! first straddle. The root's summary answers "is there any run of `n`?" in
//! O(1), so failed allocations (the mheap then grows) are cheap.
//!
//! [`PageAlloc::scavenge`] runs the mirror image of that walk on the dirty
//! view: right to left, carrying from the right, it finds the highest run of
//! at least `min_run_pages` free dirty pages in `O(L·F)`, so runs too short
//! to be worth releasing cost nothing to skip.
//!
//! # Keeping the summaries current
//!
//! After `alloc`, `free`, `grow` or `scavenge` changes some bits, the
//! summaries above them are brought up to date bottom-up. Recomputing a
//! summary from scratch means a pass over 512 bits or 16 children; instead
//! each one is *patched*, using the fact that one operation only ever adds
//! pages to a view (free, grow) or only removes them (alloc, scavenge):
//!
//! * A chunk whose bits `lo..hi` became counted gets the run
//!   `below + (hi - lo) + above`, where `below`/`above` are the counted bits
//!   adjacent to the range (two word scans); `start`, `end` and `max` follow.
//!   When bits stop being counted, `start` and `end` shrink to the range, and
//!   `max` is unchanged unless the longest run could have been the one cut,
//!   i.e. `below + (hi - lo) + above >= max`. Only then is the chunk
//!   rescanned.
//! * A node with one changed child is patched the same way from the child
//!   and its neighbours up to the first child that is not wholly counted on
//!   each side; it is remerged only if the longest run may have involved
//!   that child and has shrunk. Several changed children (a long range)
//!   mean a plain merge.
//! * The walk stops contributing work as soon as a node's own summary comes
//!   out unchanged; most small allocations change nothing above a leaf.
//! * Where no child has clean pages (the common case in a busy heap: freed
//!   pages are dirty), the dirty view equals the free view and is copied
//!   rather than computed; a per-node bit mask tracks where the views differ.
//!
//! Costs, with `L` the tree depth (≤ 5 for heaps up to 1 TiB; `F = 16`):
//! finding is `O(L·F)` summary reads at worst (typically a few per level,
//! since the walk starts at the hint) plus a scan of at most eight words;
//! marking `n` pages touches `n/64` words and `O(L + n/512)` summaries, each
//! patched in O(1) in the common case and remerged in `O(F)` otherwise.
//! Summaries hold `u32` counts, which caps the heap at 2^32 − 1 pages
//! (32 TiB); `grow` panics beyond that. Memory is 128 bytes per grown chunk
//! for the bitmaps (as in Go) plus about 450 bytes of tree per 16 chunks.
//! Measured on a fragmented 64 GiB heap (release build, x86-64 baseline
//! target), an alloc plus free of 1 page takes about 100 ns, of 16 pages
//! about 120 ns (see `benches/pages.rs`).
//!
//! # Policy: address-ordered first fit
//!
//! `alloc` always returns the lowest-addressed run that fits, like Go's
//! `pageAlloc`. First fit keeps live spans packed at low addresses, which
//! keeps fragmentation low and leaves the high end of the heap idle for
//! long stretches; the scavenger, which walks from the *highest* address
//! downwards, then returns exactly that idle memory to the OS and rarely
//! releases pages that are about to be reused. A *search hint*, the lowest
//! page that might be free, lets small requests skip the densely used low
//! end without reading it: the walk starts at the hint on every level.
//!
//! # Invariants
//!
//! 1. A page outside every grown range has in-use = 1, scavenged = 0.
//! 2. Scavenged = 1 only on free pages.
//! 3. Every stored summary equals the summary recomputed from the bitmaps
//!    below it (for both the free and the free-and-dirty view): the copies
//!    in the parent, each node's own, and the root's. A node's `differ` bit
//!    for a child is set exactly when the child's two summaries differ.
//! 4. Every grown page below `search` is in use.
//! 5. `free`, `scavenged` and `total` count exactly the pages in those states.
//!
//! The tests check all five against a naive page-per-entry model after
//! every step of random operation sequences.

use crate::alloc::sizeclass::PAGE_SIZE;
use std::collections::BTreeMap;
use std::fmt;

/// log2 of [`PAGE_SIZE`].
const PAGE_SHIFT: u32 = PAGE_SIZE.trailing_zeros();
/// log2 of the pages per chunk.
const LOG_CHUNK_PAGES: u32 = 9;
/// Pages per chunk: 512 pages of 8 KiB = 4 MiB, the mheap's growth step.
const CHUNK_PAGES: usize = 1 << LOG_CHUNK_PAGES;
/// `u64` words in one chunk bitmap.
const CHUNK_WORDS: usize = CHUNK_PAGES / 64;
/// log2 of the tree's fan-out.
const LOG_FANOUT: u32 = 4;
/// Children per tree node. 16 keeps a node's summaries within a few cache
/// lines while keeping a 1 TiB heap at five levels.
const FANOUT: usize = 1 << LOG_FANOUT;
/// Most pages the heap may hold (2^32 - 1 pages, about 32 TiB), so that
/// every page count and summary fits in a `u32`.
const MAX_PAGES: usize = u32::MAX as usize;

/// One chunk's bitmap: a bit per page, as `u64` words, low page in bit 0.
type Bits = [u64; CHUNK_WORDS];

/// A run of pages handed out by [`PageAlloc::alloc`].
///
/// `scavenged` says how many of the run's pages were clean (released to the
/// OS or never touched) just before this allocation. If
/// `scavenged == npages` the whole run is known to read as zero (Linux
/// `MADV_DONTNEED` and fresh `mmap` memory both fault in zero pages), so the
/// caller may skip zeroing it; otherwise some page may still hold a freed
/// span's bytes and the caller must zero what it needs zeroed. The caller
/// also moves `scavenged` pages from its "released" to its "in use" count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRun {
    /// Address of the first page (page-aligned).
    pub addr: usize,
    /// Length of the run in pages.
    pub npages: usize,
    /// Pages of the run that were scavenged (clean) before this allocation.
    pub scavenged: usize,
}

/// Free-run summary of a subtree, chunk or word (see the module docs):
/// counted pages at the low end (`start`), the longest run of counted pages
/// anywhere (`max`) and counted pages at the high end (`end`).
///
/// The three counts are packed as 32-bit fields of one `u128` (no count
/// exceeds [`MAX_PAGES`]). A scalar stays in registers across the patching
/// code; as a three-field struct the compiler built it on the stack with
/// narrow stores and reloaded it with wide loads, a store-forwarding stall
/// on every level of every update.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct Sum(u128);

impl Sum {
    /// Nothing counted (all in use, or never grown).
    const NONE: Sum = Sum(0);

    /// A summary from page counts (each at most [`MAX_PAGES`]).
    #[inline]
    fn new(start: usize, max: usize, end: usize) -> Sum {
        debug_assert!(start.max(max).max(end) <= MAX_PAGES);
        Sum::from_u32(start as u32, max as u32, end as u32)
    }

    #[inline]
    fn from_u32(start: u32, max: u32, end: u32) -> Sum {
        Sum(start as u128 | (max as u128) << 32 | (end as u128) << 64)
    }

    #[inline]
    fn start(self) -> usize {
        self.0 as u32 as usize
    }

    #[inline]
    fn max(self) -> usize {
        (self.0 >> 32) as u32 as usize
    }

    #[inline]
    fn end(self) -> usize {
        (self.0 >> 64) as u32 as usize
    }
}

impl fmt::Debug for Sum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sum({}, {}, {})", self.start(), self.max(), self.end())
    }
}

/// The summaries of a node's children, stored column-wise so the common
/// merge below is a straight-line max over three small arrays. Fields are
/// `u32`: no count can exceed the heap's page total, which `grow` caps at
/// [`MAX_PAGES`].
#[derive(Clone, Copy)]
struct Sums {
    start: [u32; FANOUT],
    max: [u32; FANOUT],
    end: [u32; FANOUT],
}

impl Sums {
    /// All children in use (or never grown).
    const NONE: Sums = Sums {
        start: [0; FANOUT],
        max: [0; FANOUT],
        end: [0; FANOUT],
    };

    #[inline]
    fn get(&self, i: usize) -> Sum {
        Sum::from_u32(self.start[i], self.max[i], self.end[i])
    }

    /// Stores child `i`'s summary; returns whether it changed.
    #[inline]
    fn set(&mut self, i: usize, s: Sum) -> bool {
        let (start, max, end) = (s.start() as u32, s.max() as u32, s.end() as u32);
        let changed = self.start[i] != start || self.max[i] != max || self.end[i] != end;
        self.start[i] = start;
        self.max[i] = max;
        self.end[i] = end;
        changed
    }
}

/// Combines the summaries of consecutive children, each `width` pages wide,
/// into the summary of their parent.
fn merge(s: &Sums, width: usize) -> Sum {
    // Only wholly free children let a run pass through a child; without
    // them every run is inside one child or straddles one boundary.
    let any_full = s.start.iter().any(|&x| x as usize == width);
    if !any_full {
        let mut max = s.max[0];
        for i in 1..FANOUT {
            max = max.max(s.max[i]).max(s.end[i - 1] + s.start[i]);
        }
        return Sum::from_u32(s.start[0], max, s.end[FANOUT - 1]);
    }
    // Counted pages that reach the boundary before the current child.
    let mut run = 0;
    let mut max = 0;
    let mut start = None;
    for i in 0..FANOUT {
        let first = s.start[i] as usize;
        if first == width {
            run += width;
            continue;
        }
        // Before the first partly used child, `run` is the wholly free prefix.
        start.get_or_insert(run + first);
        max = max.max(run + first).max(s.max[i] as usize);
        run = s.end[i] as usize;
    }
    Sum::new(start.unwrap_or(run), max.max(run), run)
}

/// Summary of a chunk bitmap in which a set bit marks a counted page.
fn summarize(mask: &Bits) -> Sum {
    let mut start = 0;
    let mut in_prefix = true;
    let mut max = 0;
    let mut run = 0;
    for &x in mask {
        if x == !0 {
            run += 64;
            if in_prefix {
                start += 64;
            }
            continue;
        }
        let low = x.trailing_ones() as usize;
        let high = x.leading_ones() as usize;
        if in_prefix {
            start += low;
            in_prefix = false;
        }
        max = max.max(run + low);
        // The runs strictly inside the word hold `inner` set bits between
        // them; only if that beats `max` is the exact search worth it.
        let inner = x.count_ones() as usize - low - high;
        if inner > max {
            max = max.max(longest_ones(x));
        }
        run = high;
    }
    Sum::new(start, max.max(run), run)
}

/// Keeps the bits `p` of `x` at which `n` consecutive set bits begin, all
/// within the word (`n >= 1`). Each step doubles (at most) the run length
/// already established, so this takes about `log2 n` shift-and steps.
fn run_starts(mut x: u64, n: usize) -> u64 {
    let mut have = 1;
    while have < n && x != 0 {
        // Valid because `step <= have`: two overlapping runs of `have`
        // starting `step` apart make one run of `have + step`.
        let step = (n - have).min(have);
        x &= x >> step;
        have += step;
    }
    x
}

/// Length of the longest run of set bits in `x`.
fn longest_ones(mut x: u64) -> usize {
    if x == 0 {
        return 0;
    }
    if x == !0 {
        return 64;
    }
    // Doubling: find k with a run of >= k but none of >= 2k ...
    let mut k = 1;
    while k < 64 {
        let y = x & (x >> k);
        if y == 0 {
            break;
        }
        x = y;
        k *= 2;
    }
    // ... then add the binary digits of the remainder, largest first.
    let mut step = k / 2;
    while step > 0 {
        let y = x & (x >> step);
        if y != 0 {
            x = y;
            k += step;
        }
        step /= 2;
    }
    k
}

/// Lowest `p >= from` such that bits `p .. p + n` of `mask` are all set, for
/// `1 <= n <= 512`. Bits below `from` are treated as clear.
fn find_forward(mask: &Bits, n: usize, from: usize) -> Option<usize> {
    if from >= CHUNK_PAGES {
        return None;
    }
    // Set bits that reach the start of the current word from below.
    let mut carry = 0;
    let w0 = from / 64;
    for (w, &word) in mask.iter().enumerate().skip(w0) {
        let x = if w == w0 {
            word & (!0u64 << (from % 64))
        } else {
            word
        };
        let low = x.trailing_ones() as usize;
        if carry + low >= n {
            // The run coming in from below is the earliest candidate.
            return Some(w * 64 - carry);
        }
        if x == !0 {
            carry += 64;
            continue;
        }
        if n < 64 {
            let starts = run_starts(x, n);
            if starts != 0 {
                return Some(w * 64 + starts.trailing_zeros() as usize);
            }
        }
        carry = x.leading_ones() as usize;
    }
    None
}

/// `mask` mirrored end to end: bit `p` moves to bit `511 - p`.
fn reversed(mask: &Bits) -> Bits {
    let mut out = [0; CHUNK_WORDS];
    for (o, &x) in out.iter_mut().zip(mask.iter().rev()) {
        *o = x.reverse_bits();
    }
    out
}

/// Number of consecutive set bits just below bit `top` (`1 <= top <= 512`)
/// of the chunk bitmap whose words `word(i)` returns.
#[inline]
fn ones_below(word: impl Fn(usize) -> u64, top: usize) -> usize {
    let mut count = 0;
    let mut w = (top - 1) / 64;
    // Bits of the top word that lie below `top`.
    let mut width = top - w * 64;
    loop {
        let x = if width == 64 {
            word(w)
        } else {
            word(w) << (64 - width)
        };
        let k = (x.leading_ones() as usize).min(width);
        count += k;
        if k < width || w == 0 {
            return count;
        }
        w -= 1;
        width = 64;
    }
}

/// Number of consecutive set bits from bit `from` upwards (`from < 512`) of
/// the chunk bitmap whose words `word(i)` returns.
#[inline]
fn ones_above(word: impl Fn(usize) -> u64, from: usize) -> usize {
    let mut w = from / 64;
    let width = 64 - from % 64;
    let mut count = ((word(w) >> (from % 64)).trailing_ones() as usize).min(width);
    if count < width {
        return count;
    }
    while w + 1 < CHUNK_WORDS {
        w += 1;
        let k = word(w).trailing_ones() as usize;
        count += k;
        if k < 64 {
            break;
        }
    }
    count
}

/// Calls `f(word, mask)` for each word that the bit range `lo..hi` touches.
fn for_each_word(lo: usize, hi: usize, mut f: impl FnMut(usize, u64)) {
    let mut i = lo;
    while i < hi {
        let bit = i % 64;
        let n = (hi - i).min(64 - bit);
        let mask = if n == 64 {
            !0
        } else {
            ((1u64 << n) - 1) << bit
        };
        f(i / 64, mask);
        i += n;
    }
}

/// The two bitmaps of one 4 MiB chunk.
#[derive(Clone, Copy)]
struct Chunk {
    /// 1 = in use (or not part of the heap).
    alloc: Bits,
    /// 1 = free and clean.
    scav: Bits,
}

impl Chunk {
    /// A chunk no grown range has touched yet.
    const UNGROWN: Chunk = Chunk {
        alloc: [!0; CHUNK_WORDS],
        scav: [0; CHUNK_WORDS],
    };

    /// Set bit = free page.
    fn free_mask(&self) -> Bits {
        self.alloc.map(|w| !w)
    }

    /// Set bit = free, dirty page (a scavenging candidate).
    fn dirty_mask(&self) -> Bits {
        let mut m = [0; CHUNK_WORDS];
        for (o, (a, s)) in m.iter_mut().zip(self.alloc.iter().zip(&self.scav)) {
            *o = !a & !s;
        }
        m
    }

    /// Word `w` of the bitmap of `view` ([`FREE`] or [`DIRTY`]).
    #[inline]
    fn word(&self, view: usize, w: usize) -> u64 {
        if view == FREE {
            !self.alloc[w]
        } else {
            !self.alloc[w] & !self.scav[w]
        }
    }

    /// The bitmap of `view` ([`FREE`] or [`DIRTY`]): set bit = counted page.
    fn mask(&self, view: usize) -> Bits {
        if view == FREE {
            self.free_mask()
        } else {
            self.dirty_mask()
        }
    }

    /// Pages `lo..hi` join the heap: free and clean.
    fn grow(&mut self, lo: usize, hi: usize) {
        for_each_word(lo, hi, |w, m| {
            debug_assert_eq!(self.alloc[w] & m, m, "grown page was already in the heap");
            self.alloc[w] &= !m;
            self.scav[w] |= m;
        });
    }

    /// Marks free pages `lo..hi` in use; returns how many were clean.
    fn take(&mut self, lo: usize, hi: usize) -> usize {
        let mut clean = 0;
        for_each_word(lo, hi, |w, m| {
            debug_assert_eq!(self.alloc[w] & m, 0, "allocating a page in use");
            clean += (self.scav[w] & m).count_ones() as usize;
            self.alloc[w] |= m;
            self.scav[w] &= !m;
        });
        clean
    }

    /// Frees in-use pages `lo..hi` (they become dirty). Returns false, and
    /// changes nothing, if any of them is already free.
    fn give_back(&mut self, lo: usize, hi: usize) -> bool {
        let mut ok = true;
        for_each_word(lo, hi, |w, m| ok &= self.alloc[w] & m == m);
        if ok {
            for_each_word(lo, hi, |w, m| {
                debug_assert_eq!(self.scav[w] & m, 0, "in-use page marked scavenged");
                self.alloc[w] &= !m;
            });
        }
        ok
    }

    /// Marks free dirty pages `lo..hi` clean.
    fn scavenge(&mut self, lo: usize, hi: usize) {
        for_each_word(lo, hi, |w, m| {
            debug_assert_eq!((self.alloc[w] | self.scav[w]) & m, 0, "not free and dirty");
            self.scav[w] |= m;
        });
    }
}

/// What a node's children are.
enum Kids {
    /// Level 0: the chunks themselves.
    Chunks(Box<[Chunk; FANOUT]>),
    /// Higher levels: subtrees, absent where nothing was ever grown.
    Nodes(Box<[Option<Box<Node>>; FANOUT]>),
}

/// A node of the summary tree. A node at level `l` has children of
/// `FANOUT^l` chunks each.
struct Node {
    /// Each child's summary, per view ([`FREE`], [`DIRTY`]).
    sums: [Sums; 2],
    /// This node's own summary per view: the merge of `sums` (the parent
    /// holds a copy). Kept here so a node can patch it without the parent
    /// having to pass anything down or receive more than a flag back.
    own: [Sum; 2],
    /// Bit `i` set iff child `i`'s two summaries differ. In a busy heap most
    /// free pages are dirty and the views agree; then the dirty summaries
    /// need no work of their own.
    differ: u64,
    kids: Kids,
}

const _: () = assert!(FANOUT <= 64, "Node::differ has a bit per child");

impl Node {
    /// An empty node (nothing grown below it) at `level`.
    fn new(level: u32) -> Node {
        let kids = if level == 0 {
            Kids::Chunks(Box::new([Chunk::UNGROWN; FANOUT]))
        } else {
            Kids::Nodes(Box::new(std::array::from_fn(|_| None)))
        };
        Node {
            sums: [Sums::NONE; 2],
            own: [Sum::NONE; 2],
            differ: 0,
            kids,
        }
    }
}

/// Stores child `i`'s new summary in `sums`, noting a change in `delta`.
#[inline]
fn store(sums: &mut Sums, i: usize, new: Sum, delta: &mut Delta) {
    let old = sums.get(i);
    if sums.set(i, new) {
        delta.add(i, old);
    }
}

/// Refreshes bit `i` of a node's `differ` mask from its summaries.
#[inline]
fn note_differ(sums: &[Sums; 2], differ: &mut u64, i: usize) {
    let [f, d] = sums;
    if f.start[i] == d.start[i] && f.max[i] == d.max[i] && f.end[i] == d.end[i] {
        *differ &= !(1 << i);
    } else {
        *differ |= 1 << i;
    }
}

/// log2 of the pages covered by one child of a node at `level`. Indexing
/// uses shifts by this, never division: the divisor is not a constant, and
/// a 64-bit `div` on every level would cost more than the rest of the walk.
fn child_shift(level: u32) -> u32 {
    LOG_CHUNK_PAGES + LOG_FANOUT * level
}

/// Pages covered by one child of a node at `level`.
fn child_pages(level: u32) -> usize {
    1 << child_shift(level)
}

/// Index of the free-page view in per-view arrays.
const FREE: usize = 0;
/// Index of the free-and-dirty view (what the scavenger looks for).
const DIRTY: usize = 1;

/// How one operation changes a view's set of counted pages. Every
/// operation only adds pages to a view or only removes them (alloc removes
/// free and dirty pages, free adds both, grow adds free ones, scavenge
/// removes dirty ones), so summaries can be patched instead of recomputed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    /// The view does not change.
    Same,
    /// Pages leave the view.
    Fewer,
    /// Pages join the view.
    More,
}

/// Which children of a node changed their summary in one view.
#[derive(Clone, Copy, Debug)]
enum Delta {
    None,
    /// Exactly child `idx`, whose summary used to be `old`.
    One {
        idx: usize,
        old: Sum,
    },
    Many,
}

impl Delta {
    #[inline]
    fn add(&mut self, idx: usize, old: Sum) {
        *self = match *self {
            Delta::None => Delta::One { idx, old },
            _ => Delta::Many,
        };
    }
}

/// The summary of `chunk` in `view` after the view's bits `lo..hi` were all
/// set (`More`) or all cleared (`Fewer`; some may have been clear already),
/// given the summary `old` from before. Looks only at the bits next to the
/// range unless the change may have shortened the longest run.
#[inline(always)]
fn patch_chunk(chunk: &Chunk, view: usize, old: Sum, lo: usize, hi: usize, dir: Dir) -> Sum {
    let word = |w| chunk.word(view, w);
    let below = if lo == 0 { 0 } else { ones_below(word, lo) };
    let above = if hi == CHUNK_PAGES {
        0
    } else {
        ones_above(word, hi)
    };
    if dir == Dir::More {
        // The range joined the runs on either side of it into one.
        let run = below + (hi - lo) + above;
        return Sum::new(
            if below == lo { run } else { old.start() },
            old.max().max(run),
            if above == CHUNK_PAGES - hi {
                run
            } else {
                old.end()
            },
        );
    }
    // Every run that lost pages lay within `lo - below .. hi + above`; if
    // even that is shorter than the longest run, the longest is elsewhere.
    // (A view with nothing counted, like the dirty view of fresh memory,
    // stays empty.)
    if old == Sum::NONE {
        old
    } else if below + (hi - lo) + above < old.max() {
        Sum::new(
            old.start().min(lo),
            old.max(),
            old.end().min(CHUNK_PAGES - hi),
        )
    } else {
        summarize(&chunk.mask(view))
    }
}

/// The summary of a node whose only changed child is `i`: `old` is the
/// node's summary before, `old_child` the child's. Reads child `i` and its
/// neighbours up to the first one not wholly counted on each side; returns
/// `None` when the longest run may have shrunk and only a full [`merge`]
/// can tell.
#[inline(always)]
fn patch_node(s: &Sums, width: usize, old: Sum, i: usize, old_child: Sum, dir: Dir) -> Option<Sum> {
    // Counted pages reaching child i from the left, and whether they start
    // at the node's first page; likewise to the right.
    let mut left = 0;
    let mut from_first = true;
    for j in (0..i).rev() {
        if s.start[j] as usize == width {
            left += width;
        } else {
            left += s.end[j] as usize;
            from_first = false;
            break;
        }
    }
    let mut right = 0;
    let mut to_last = true;
    for j in i + 1..FANOUT {
        if s.start[j] as usize == width {
            right += width;
        } else {
            right += s.start[j] as usize;
            to_last = false;
            break;
        }
    }
    // The longest run that involves child `c`.
    let involving = |c: Sum| {
        if c.start() == width {
            left + width + right
        } else {
            c.max().max(left + c.start()).max(c.end() + right)
        }
    };
    let c = s.get(i);
    let max = if dir == Dir::More {
        old.max().max(involving(c))
    } else if old == Sum::NONE {
        return Some(old);
    } else if involving(old_child) < old.max() {
        // The longest run never involved child i, so it is untouched.
        old.max()
    } else {
        return None;
    };
    let full = c.start() == width;
    let start = match (from_first, full) {
        (false, _) => old.start(),
        (true, true) => left + width + right,
        (true, false) => left + c.start(),
    };
    let end = match (to_last, full) {
        (false, _) => old.end(),
        (true, true) => left + width + right,
        (true, false) => c.end() + right,
    };
    Some(Sum::new(start, max, end))
}

/// A node's summary in one view after its children changed as `delta`
/// says (`old` is the summary before). Forced inline, like the two patch
/// functions: a `Sum` returned from a call comes back through memory, and
/// reloading it stalled every level of the walk.
#[inline(always)]
fn resummarize(s: &Sums, width: usize, old: Sum, delta: Delta, dir: Dir) -> Sum {
    match delta {
        Delta::None => old,
        Delta::One {
            idx,
            old: old_child,
        } => patch_node(s, width, old, idx, old_child, dir).unwrap_or_else(|| merge(s, width)),
        Delta::Many => merge(s, width),
    }
}

/// Returned by [`update`]: the node's free summary changed.
const FREE_CHANGED: u8 = 1 << FREE;
/// Returned by [`update`]: the node's dirty summary changed.
const DIRTY_CHANGED: u8 = 1 << DIRTY;

/// Applies `op(chunk, lo, hi)` to the part `lo..hi` (chunk-relative bits) of
/// every chunk that the page range `p0..p1` overlaps under `node` (level
/// `level`, first page `base`), and brings the summaries of `node` and
/// everything below it up to date; `dirs` says how `op` changes each view.
/// With `create`, missing subtrees are made (for `grow`); otherwise a
/// missing subtree is a bug in the caller's range check. Returns which of
/// `node`'s own summaries changed (`FREE_CHANGED`, `DIRTY_CHANGED`).
#[allow(clippy::too_many_arguments)]
fn update<Op: FnMut(&mut Chunk, usize, usize)>(
    node: &mut Node,
    level: u32,
    base: usize,
    p0: usize,
    p1: usize,
    create: bool,
    dirs: [Dir; 2],
    op: &mut Op,
) -> u8 {
    let cp = child_pages(level);
    let shift = child_shift(level);
    let first = (p0.max(base) - base) >> shift;
    let last = ((p1 - base - 1) >> shift).min(FANOUT - 1);
    let mut dfree = Delta::None;
    let mut ddirty = Delta::None;
    match &mut node.kids {
        Kids::Chunks(chunks) => {
            for (i, c) in chunks.iter_mut().enumerate().take(last + 1).skip(first) {
                let cb = base + i * CHUNK_PAGES;
                let (lo, hi) = (p0.max(cb) - cb, p1.min(cb + CHUNK_PAGES) - cb);
                op(c, lo, hi);
                let [free, dirty] = &mut node.sums;
                if dirs[FREE] != Dir::Same {
                    let new = patch_chunk(c, FREE, free.get(i), lo, hi, dirs[FREE]);
                    store(free, i, new, &mut dfree);
                }
                if dirs[DIRTY] != Dir::Same {
                    let new = if dirs[FREE] != Dir::Same && c.scav == [0; CHUNK_WORDS] {
                        // No clean pages: the dirty view is the free view.
                        free.get(i)
                    } else {
                        patch_chunk(c, DIRTY, dirty.get(i), lo, hi, dirs[DIRTY])
                    };
                    store(dirty, i, new, &mut ddirty);
                }
                note_differ(&node.sums, &mut node.differ, i);
            }
        }
        Kids::Nodes(kids) => {
            for (i, slot) in kids.iter_mut().enumerate().take(last + 1).skip(first) {
                let child = if create {
                    slot.get_or_insert_with(|| Box::new(Node::new(level - 1)))
                } else {
                    slot.as_mut()
                        .expect("page allocator: range reaches memory never grown")
                };
                let changed = update(child, level - 1, base + i * cp, p0, p1, create, dirs, op);
                if changed != 0 {
                    let [free, dirty] = &mut node.sums;
                    store(free, i, child.own[FREE], &mut dfree);
                    store(dirty, i, child.own[DIRTY], &mut ddirty);
                    note_differ(&node.sums, &mut node.differ, i);
                }
            }
        }
    }
    let old = node.own;
    node.own[FREE] = resummarize(&node.sums[FREE], cp, old[FREE], dfree, dirs[FREE]);
    node.own[DIRTY] = if dirs[FREE] != Dir::Same && node.differ == 0 {
        // The views agree child by child, so they agree here.
        node.own[FREE]
    } else {
        resummarize(&node.sums[DIRTY], cp, old[DIRTY], ddirty, dirs[DIRTY])
    };
    (u8::from(node.own[FREE] != old[FREE]) * FREE_CHANGED)
        | (u8::from(node.own[DIRTY] != old[DIRTY]) * DIRTY_CHANGED)
}

/// The page allocator: see the module docs.
pub struct PageAlloc {
    /// Root of the summary tree; `None` until the first `grow`.
    root: Option<Box<Node>>,
    /// Levels of the tree (the root is at level `height - 1`); 0 if empty.
    height: u32,
    /// First chunk the root covers (a multiple of `FANOUT^height`).
    root_base: usize,
    /// Summary of the whole tree, per view ([`FREE`], [`DIRTY`]): a copy of
    /// the root's `own`, so an empty allocator needs no root.
    root_sum: [Sum; 2],
    /// Page number below which every grown page is in use (`usize::MAX`
    /// while nothing is free).
    search: usize,
    /// Grown ranges as page numbers, start → end, adjacent ranges merged.
    ranges: BTreeMap<usize, usize>,
    /// Grown pages.
    total: usize,
    /// Free pages.
    free: usize,
    /// Free and scavenged pages.
    scavenged: usize,
}

impl Default for PageAlloc {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for PageAlloc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageAlloc")
            .field("total_pages", &self.total)
            .field("free_pages", &self.free)
            .field("scavenged_pages", &self.scavenged)
            .field("largest_free_run", &self.root_sum[FREE].max())
            .field("ranges", &self.ranges.len())
            .field("height", &self.height)
            .finish()
    }
}

impl PageAlloc {
    /// An allocator with no pages.
    pub fn new() -> Self {
        PageAlloc {
            root: None,
            height: 0,
            root_base: 0,
            root_sum: [Sum::NONE; 2],
            search: usize::MAX,
            ranges: BTreeMap::new(),
            total: 0,
            free: 0,
            scavenged: 0,
        }
    }

    /// Makes `[addr, addr + npages * PAGE_SIZE)` part of the heap, free and
    /// scavenged (fresh mappings are clean). `addr` must be page-aligned and
    /// the range must not overlap an earlier one; a range that touches an
    /// earlier one merges with it, so later runs may straddle both.
    ///
    /// # Panics
    ///
    /// If `addr` is not page-aligned, the range wraps the address space,
    /// it overlaps memory grown before, or the heap would exceed 2^32 - 1
    /// pages (32 TiB).
    pub fn grow(&mut self, addr: usize, npages: usize) {
        if npages == 0 {
            return;
        }
        assert!(
            addr & (PAGE_SIZE - 1) == 0,
            "PageAlloc::grow: address {addr:#x} is not page-aligned"
        );
        let p0 = addr >> PAGE_SHIFT;
        let p1 = npages
            .checked_mul(PAGE_SIZE)
            .and_then(|b| addr.checked_add(b))
            .map(|_| p0 + npages)
            .unwrap_or_else(|| {
                panic!("PageAlloc::grow: {npages} pages at {addr:#x} wrap the address space")
            });
        if let Some((&s, &e)) = self.ranges.range(..p1).next_back() {
            assert!(
                e <= p0,
                "PageAlloc::grow: [{addr:#x}, +{npages} pages) overlaps the grown range [{:#x}, {:#x})",
                s << PAGE_SHIFT,
                e << PAGE_SHIFT
            );
        }
        assert!(
            self.total
                .checked_add(npages)
                .is_some_and(|t| t <= MAX_PAGES),
            "PageAlloc::grow: the heap would exceed {MAX_PAGES} pages"
        );
        // Record the range, merging with neighbours it touches.
        let mut start = p0;
        let mut end = p1;
        if let Some((&s, &e)) = self.ranges.range(..p0).next_back() {
            if e == p0 {
                start = s;
            }
        }
        if let Some(e) = self.ranges.remove(&p1) {
            end = e;
        }
        self.ranges.insert(start, end);

        self.cover(p0 >> LOG_CHUNK_PAGES, (p1 - 1) >> LOG_CHUNK_PAGES);
        self.update_range(p0, p1, true, [Dir::More, Dir::Same], |c, lo, hi| {
            c.grow(lo, hi)
        });
        self.total += npages;
        self.free += npages;
        self.scavenged += npages;
        self.search = self.search.min(p0);
    }

    /// Allocates the lowest-addressed run of `npages` free pages (address
    /// ordered first fit): marks it in use and clean bits cleared. Returns
    /// `None` if no run is long enough; the caller then grows the heap and
    /// retries.
    ///
    /// # Panics
    ///
    /// If `npages` is zero.
    pub fn alloc(&mut self, npages: usize) -> Option<PageRun> {
        assert!(npages > 0, "PageAlloc::alloc: zero pages requested");
        let (start, lower) = self.find(npages)?;
        let mut clean = 0;
        self.update_range(
            start,
            start + npages,
            false,
            [Dir::Fewer, Dir::Fewer],
            |c, lo, hi| clean += c.take(lo, hi),
        );
        // `lower` was at most the first free page; if the run began there,
        // everything up to the run's end is now in use.
        self.search = if lower == start {
            start + npages
        } else {
            lower
        };
        self.free -= npages;
        self.scavenged -= clean;
        Some(PageRun {
            addr: start << PAGE_SHIFT,
            npages,
            scavenged: clean,
        })
    }

    /// Returns `npages` pages at `addr` (the start of a run from
    /// [`alloc`](Self::alloc), freed whole or in part). They become free and
    /// dirty: a span has lived there, so they may hold old data.
    ///
    /// # Panics
    ///
    /// If `npages` is zero, `addr` is not page-aligned, the range is not
    /// inside one grown range, or any page of it is already free (double
    /// free). A panic here means the caller's books are wrong; the allocator
    /// should not be used afterwards.
    pub fn free(&mut self, addr: usize, npages: usize) {
        assert!(npages > 0, "PageAlloc::free: zero pages at {addr:#x}");
        assert!(
            addr & (PAGE_SIZE - 1) == 0,
            "PageAlloc::free: address {addr:#x} is not page-aligned"
        );
        let p0 = addr >> PAGE_SHIFT;
        let p1 = p0.saturating_add(npages);
        let inside = self
            .ranges
            .range(..=p0)
            .next_back()
            .is_some_and(|(_, &e)| p1 <= e);
        assert!(
            inside,
            "PageAlloc::free: [{addr:#x}, +{npages} pages) is outside the heap"
        );
        self.update_range(p0, p1, false, [Dir::More, Dir::More], |c, lo, hi| {
            assert!(
                c.give_back(lo, hi),
                "PageAlloc::free: double free of [{addr:#x}, +{npages} pages): some page is already free"
            );
        });
        self.free += npages;
        self.search = self.search.min(p0);
    }

    /// Releases up to `max_pages` free dirty pages, highest addresses first.
    ///
    /// Repeatedly takes the highest maximal run of free dirty pages that is
    /// at least `min_run_pages` long (shorter runs are left alone, so a caller
    /// can avoid breaking up huge pages; 0 and 1 both mean "any run"), calls
    /// `release(addr, npages)` for it so the caller can `madvise` it, and marks
    /// those pages scavenged. If the budget left is smaller than the run, only
    /// the run's top pages are released. Every `release` call covers at least
    /// `min_run_pages` pages, so scavenging stops once less than that is left
    /// of the budget. Returns the pages released.
    pub fn scavenge(
        &mut self,
        max_pages: usize,
        min_run_pages: usize,
        mut release: impl FnMut(usize, usize),
    ) -> usize {
        let min_run = min_run_pages.max(1);
        let mut done = 0;
        while max_pages - done >= min_run {
            let Some(end) = self.find_last_dirty(min_run) else {
                break;
            };
            let n = self.dirty_run_below(end, max_pages - done);
            debug_assert!(n >= min_run, "summary promised a longer dirty run");
            let start = end - n;
            release(start << PAGE_SHIFT, n);
            self.update_range(start, end, false, [Dir::Same, Dir::Fewer], |c, lo, hi| {
                c.scavenge(lo, hi)
            });
            self.scavenged += n;
            done += n;
        }
        done
    }

    /// Free pages, clean or dirty (Go's `HeapIdle` in pages).
    pub fn free_pages(&self) -> usize {
        self.free
    }

    /// Free pages that are scavenged (Go's `HeapReleased` in pages).
    pub fn scavenged_pages(&self) -> usize {
        self.scavenged
    }

    /// Pages ever grown.
    pub fn total_pages(&self) -> usize {
        self.total
    }

    /// Whether `addr` lies inside some grown range.
    pub fn contains(&self, addr: usize) -> bool {
        let p = addr >> PAGE_SHIFT;
        self.ranges
            .range(..=p)
            .next_back()
            .is_some_and(|(_, &e)| p < e)
    }

    /// Length in pages of the longest run of free pages (O(1)).
    pub fn largest_free_run(&self) -> usize {
        self.root_sum[FREE].max()
    }

    /// Pages of the root's span.
    fn root_pages(&self) -> usize {
        CHUNK_PAGES << (LOG_FANOUT * self.height)
    }

    /// Grows the tree upwards until the root covers chunks `c0..=c1`.
    fn cover(&mut self, c0: usize, c1: usize) {
        if self.root.is_none() {
            self.root = Some(Box::new(Node::new(0)));
            self.height = 1;
            self.root_base = c0 & !(FANOUT - 1);
        }
        loop {
            let shift = LOG_FANOUT * self.height;
            // Once the root spans every chunk index it covers everything.
            if shift >= usize::BITS - PAGE_SHIFT - LOG_CHUNK_PAGES {
                return;
            }
            let span = 1usize << shift;
            if c0 >= self.root_base && c1 - self.root_base < span {
                return;
            }
            let new_span = span << LOG_FANOUT;
            let new_base = self.root_base & !(new_span - 1);
            let idx = (self.root_base - new_base) / span;
            let mut top = Node::new(self.height);
            for v in [FREE, DIRTY] {
                top.sums[v].set(idx, self.root_sum[v]);
                top.own[v] = merge(&top.sums[v], span << LOG_CHUNK_PAGES);
            }
            self.root_sum = top.own;
            note_differ(&top.sums, &mut top.differ, idx);
            if let Kids::Nodes(kids) = &mut top.kids {
                kids[idx] = self.root.take();
            }
            self.root = Some(Box::new(top));
            self.height += 1;
            self.root_base = new_base;
        }
    }

    /// Runs `op` over the chunks of page range `p0..p1` (see [`update`]) and
    /// brings every summary up to date.
    fn update_range(
        &mut self,
        p0: usize,
        p1: usize,
        create: bool,
        dirs: [Dir; 2],
        mut op: impl FnMut(&mut Chunk, usize, usize),
    ) {
        let level = self.height - 1;
        let base = self.root_base << LOG_CHUNK_PAGES;
        let root = self.root.as_mut().expect("page allocator has no pages");
        update(root, level, base, p0, p1, create, dirs, &mut op);
        self.root_sum = root.own;
    }

    /// First fit for `n` pages: returns the run's first page and a lower
    /// bound on the first free page (a new search hint, at least `search`).
    fn find(&self, n: usize) -> Option<(usize, usize)> {
        if self.root_sum[FREE].max() < n {
            return None;
        }
        let hint = self.search;
        let mut node = self.root.as_deref()?;
        let mut level = self.height - 1;
        let mut base = self.root_base << LOG_CHUNK_PAGES;
        // The lower bound stays exact only while the walk follows the child
        // holding the first free page.
        let mut lower = hint;
        let mut tracking = true;
        loop {
            let cp = child_pages(level);
            // Children wholly below the hint are full: skip them, and nothing
            // free reaches the first one scanned from its left.
            let first = if hint > base {
                (hint - base) >> child_shift(level)
            } else {
                0
            };
            let mut run = 0;
            let mut first_free = None;
            let mut descend = None;
            for i in first..FANOUT {
                let s = node.sums[FREE].get(i);
                if s.max() == 0 {
                    run = 0;
                    continue;
                }
                let i_free = *first_free.get_or_insert(i);
                if run + s.start() >= n {
                    // A run straddling into (or starting at) child i: its
                    // start is known without looking further down.
                    if tracking {
                        lower = hint.max(base + i_free * cp);
                    }
                    return Some((base + i * cp - run, lower));
                }
                if s.max() >= n {
                    if tracking {
                        lower = hint.max(base + i_free * cp);
                        tracking = i_free == i;
                    }
                    descend = Some(i);
                    break;
                }
                run = if s.start() == cp { run + cp } else { s.end() };
            }
            // No child can fit `n` only if the summaries are inconsistent.
            let i = descend?;
            let cb = base + i * cp;
            match &node.kids {
                Kids::Chunks(chunks) => {
                    let from = hint.saturating_sub(cb);
                    let mask = chunks[i].free_mask();
                    let at = find_forward(&mask, n, from)?;
                    if tracking {
                        lower = cb + find_forward(&mask, 1, from).unwrap_or(at);
                    }
                    return Some((cb + at, lower));
                }
                Kids::Nodes(kids) => {
                    node = kids[i].as_deref()?;
                    level -= 1;
                    base = cb;
                }
            }
        }
    }

    /// The highest run of at least `m` free dirty pages: returns the page
    /// just past its end. Mirrors [`find`](Self::find), scanning right to
    /// left with the carry coming from the right.
    fn find_last_dirty(&self, m: usize) -> Option<usize> {
        if self.root_sum[DIRTY].max() < m {
            return None;
        }
        let mut node = self.root.as_deref()?;
        let mut level = self.height - 1;
        let mut base = self.root_base << LOG_CHUNK_PAGES;
        loop {
            let cp = child_pages(level);
            let mut run = 0;
            let mut descend = None;
            for i in (0..FANOUT).rev() {
                let s = node.sums[DIRTY].get(i);
                if s.max() == 0 {
                    run = 0;
                    continue;
                }
                if run + s.end() >= m {
                    return Some(base + (i + 1) * cp + run);
                }
                if s.max() >= m {
                    descend = Some(i);
                    break;
                }
                run = if s.start() == cp { run + cp } else { s.start() };
            }
            let i = descend?;
            let cb = base + i * cp;
            match &node.kids {
                Kids::Chunks(chunks) => {
                    // The first fit in the mirrored bitmap is the last run.
                    let at = find_forward(&reversed(&chunks[i].dirty_mask()), m, 0)?;
                    return Some(cb + CHUNK_PAGES - at);
                }
                Kids::Nodes(kids) => {
                    node = kids[i].as_deref()?;
                    level -= 1;
                    base = cb;
                }
            }
        }
    }

    /// The chunk with index `ci`, if it was ever grown into.
    fn chunk(&self, ci: usize) -> Option<&Chunk> {
        let mut node = self.root.as_deref()?;
        let rel = ci.checked_sub(self.root_base)?;
        if (rel << LOG_CHUNK_PAGES) >= self.root_pages() {
            return None;
        }
        let mut level = self.height - 1;
        loop {
            let i = (rel >> (LOG_FANOUT * level)) & (FANOUT - 1);
            match &node.kids {
                Kids::Chunks(chunks) => return Some(&chunks[i]),
                Kids::Nodes(kids) => {
                    node = kids[i].as_deref()?;
                    level -= 1;
                }
            }
        }
    }

    /// Length of the run of free dirty pages ending just below page `end`,
    /// counting no further than `limit`.
    fn dirty_run_below(&self, end: usize, limit: usize) -> usize {
        let mut count = 0;
        let mut top = end;
        while count < limit && top > 0 {
            let ci = (top - 1) >> LOG_CHUNK_PAGES;
            let Some(chunk) = self.chunk(ci) else {
                break;
            };
            let bit = top - (ci << LOG_CHUNK_PAGES);
            let k = ones_below(|w| chunk.word(DIRTY, w), bit);
            count += k;
            top -= k;
            if k < bit {
                break;
            }
        }
        count.min(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const P: usize = PAGE_SIZE;
    const CHUNK: usize = CHUNK_PAGES;
    /// An arena-aligned base, like the heap's.
    const BASE: usize = 0xc0_0000_0000;

    fn page(i: usize) -> usize {
        BASE + i * P
    }

    /// Recomputes every summary from the bitmaps and compares (invariant 3).
    fn check_tree(a: &PageAlloc) {
        fn walk(node: &Node, level: u32) -> [Sum; 2] {
            let cp = child_pages(level);
            for i in 0..FANOUT {
                let got = match &node.kids {
                    Kids::Chunks(c) => [FREE, DIRTY].map(|v| summarize(&c[i].mask(v))),
                    Kids::Nodes(k) => match &k[i] {
                        Some(child) => walk(child, level - 1),
                        None => [Sum::NONE; 2],
                    },
                };
                let differs = node.sums[FREE].get(i) != node.sums[DIRTY].get(i);
                assert_eq!(node.differ >> i & 1 == 1, differs, "differ bit {i}");
                for v in [FREE, DIRTY] {
                    assert_eq!(
                        got[v],
                        node.sums[v].get(i),
                        "view {v}, level {level} child {i}"
                    );
                }
            }
            let own = [FREE, DIRTY].map(|v| merge(&node.sums[v], cp));
            assert_eq!(own, node.own, "own summary, level {level}");
            own
        }
        if let Some(root) = &a.root {
            assert_eq!(walk(root, a.height - 1), a.root_sum);
        }
    }

    /// Checks invariants 1 and 2 bit by bit: pages outside the grown ranges
    /// are in use and not scavenged, and only free pages are scavenged.
    fn check_bits(a: &PageAlloc) {
        fn walk(a: &PageAlloc, node: &Node, level: u32, base: usize) {
            let cp = child_pages(level);
            for i in 0..FANOUT {
                let cb = base + i * cp;
                match &node.kids {
                    Kids::Chunks(c) => {
                        // Which pages of this chunk were grown.
                        let mut grown = [0u64; CHUNK_WORDS];
                        let chunk_end = cb + CHUNK_PAGES;
                        for (&s, &e) in a.ranges.range(..chunk_end).rev() {
                            if e <= cb {
                                break;
                            }
                            for_each_word(s.max(cb) - cb, e.min(chunk_end) - cb, |w, m| {
                                grown[w] |= m
                            });
                        }
                        for (w, &grown) in grown.iter().enumerate() {
                            let (used, scav) = (c[i].alloc[w], c[i].scav[w]);
                            assert_eq!(used & scav, 0, "in-use page scavenged, chunk at {cb}");
                            assert_eq!(!grown & !used, 0, "free page outside the heap at {cb}");
                        }
                    }
                    Kids::Nodes(k) => {
                        if let Some(child) = &k[i] {
                            walk(a, child, level - 1, cb);
                        }
                    }
                }
            }
        }
        if let Some(root) = &a.root {
            walk(a, root, a.height - 1, a.root_base << LOG_CHUNK_PAGES);
        }
    }

    #[test]
    fn bit_helpers() {
        assert_eq!(longest_ones(0), 0);
        assert_eq!(longest_ones(!0), 64);
        assert_eq!(longest_ones(0b1011_1100_1110), 4);
        assert_eq!(longest_ones(!0 >> 1), 63);
        assert_eq!(longest_ones(0x00ff_ff00_0fff_f0f0), 16);
        assert_eq!(longest_ones(0x00ff_ffff_0fff_f0f0), 24);
        for x in [0x1234_5678_9abc_def0u64, 0xffff_0000_ffff_fff0, 1 << 63, 7] {
            let mut best = 0;
            let mut cur = 0;
            for b in 0..64 {
                if x >> b & 1 == 1 {
                    cur += 1;
                    best = best.max(cur);
                } else {
                    cur = 0;
                }
            }
            assert_eq!(longest_ones(x), best, "{x:#x}");
        }
        assert_eq!(run_starts(0b0111_0110, 3), 0b0001_0000);
        assert_eq!(run_starts(!0, 64), 1);

        let mut m = [0u64; CHUNK_WORDS];
        m[0] = 0b1100;
        m[1] = 1 << 63;
        m[2] = 0b111;
        assert_eq!(find_forward(&m, 1, 0), Some(2));
        assert_eq!(find_forward(&m, 1, 4), Some(127));
        assert_eq!(find_forward(&m, 3, 0), Some(127), "straddles words 1-2");
        assert_eq!(find_forward(&m, 5, 0), None);
        assert_eq!(ones_below(|w| m[w], 131), 4);
        assert_eq!(ones_below(|w| m[w], 4), 2);
        assert_eq!(ones_above(|w| m[w], 2), 2);
        assert_eq!(ones_above(|w| m[w], 127), 4);
        assert_eq!(ones_above(|w| m[w], 4), 0);
        assert_eq!(ones_below(|w| m[w], 3), 1);
        let all = [!0u64; CHUNK_WORDS];
        assert_eq!(find_forward(&all, 512, 0), Some(0));
        assert_eq!(find_forward(&all, 100, 450), None);
        assert_eq!(ones_below(|w| all[w], 512), 512);
        assert_eq!(ones_above(|w| all[w], 0), 512);
        assert_eq!(ones_above(|w| all[w], 300), 212);
        assert_eq!(summarize(&m), Sum::new(0, 4, 0));
        assert_eq!(summarize(&all), Sum::new(512, 512, 512));
    }

    #[test]
    fn grow_alloc_free_coalesce() {
        let mut a = PageAlloc::new();
        assert_eq!(a.alloc(1), None);
        a.grow(BASE, 2 * CHUNK);
        assert_eq!(a.total_pages(), 1024);
        assert_eq!(a.free_pages(), 1024);
        assert_eq!(a.scavenged_pages(), 1024);
        assert_eq!(a.largest_free_run(), 1024);

        let r1 = a.alloc(3).unwrap();
        assert_eq!(
            r1,
            PageRun {
                addr: page(0),
                npages: 3,
                scavenged: 3
            }
        );
        let r2 = a.alloc(5).unwrap();
        assert_eq!(r2.addr, page(3));
        let r3 = a.alloc(2).unwrap();
        assert_eq!(r3.addr, page(8));
        assert_eq!(a.free_pages(), 1014);

        // Freeing the middle leaves a 5-page hole; a 6-page request skips it.
        a.free(r2.addr, 5);
        assert_eq!(a.alloc(6).unwrap().addr, page(10));
        // Coalescing: freeing the neighbours makes one 10-page hole.
        a.free(r1.addr, 3);
        a.free(r3.addr, 2);
        let r = a.alloc(10).unwrap();
        assert_eq!(r.addr, page(0));
        assert_eq!(r.scavenged, 0, "freed pages are dirty");
        a.free(page(0), 16);
        assert_eq!(a.free_pages(), 1024);
        assert_eq!(a.largest_free_run(), 1024);
        assert_eq!(a.alloc(1024).unwrap().addr, page(0));
        assert_eq!(a.alloc(1), None);
        check_tree(&a);
    }

    #[test]
    fn runs_cross_chunks_and_adjacent_ranges() {
        let mut a = PageAlloc::new();
        // Two touching ranges that do not line up with chunks.
        a.grow(page(100), 700);
        a.grow(page(800), 1500);
        assert_eq!(a.largest_free_run(), 2200);
        let r = a.alloc(400).unwrap();
        assert_eq!(r.addr, page(100));
        // 1800 pages: crosses the range seam at page 800 and chunks 1..4.
        let r = a.alloc(1800).unwrap();
        assert_eq!(r.addr, page(500));
        assert_eq!(r.scavenged, 1800);
        assert_eq!(a.alloc(1), None);
        a.free(page(500), 1800);
        // Partial frees of a run, then one that spans what is left.
        a.free(page(100), 100);
        a.free(page(200), 300);
        assert_eq!(a.alloc(2200).unwrap().addr, page(100));
        check_tree(&a);

        // A range grown *below* an existing one that touches it also merges.
        let mut b = PageAlloc::new();
        b.grow(page(2048), 512);
        b.grow(page(1000), 1048);
        assert_eq!(b.largest_free_run(), 1560);
        assert_eq!(b.alloc(1560).unwrap().addr, page(1000));
        check_tree(&b);
    }

    #[test]
    fn separate_ranges_never_merge() {
        let mut a = PageAlloc::new();
        a.grow(page(0), 300);
        // One page gap, same chunk.
        a.grow(page(301), 300);
        // Far away: forces the tree to grow several levels.
        a.grow(0x7f00_0000_0000, 1000);
        assert_eq!(a.largest_free_run(), 1000);
        assert!(a.contains(page(299)));
        assert!(!a.contains(page(300)));
        assert!(a.contains(page(301)));
        assert!(!a.contains(page(601)));
        assert!(a.contains(0x7f00_0000_0000 + 999 * P));
        assert!(!a.contains(0x7f00_0000_0000 + 1000 * P));
        assert!(!a.contains(0));
        assert_eq!(a.alloc(301).unwrap().addr, 0x7f00_0000_0000);
        assert_eq!(a.alloc(300).unwrap().addr, page(0));
        assert_eq!(a.alloc(300).unwrap().addr, page(301));
        assert_eq!(a.alloc(699).unwrap().addr, 0x7f00_0000_0000 + 301 * P);
        assert_eq!(a.free_pages(), 0);
        check_tree(&a);
    }

    #[test]
    fn first_fit_by_address() {
        let mut a = PageAlloc::new();
        a.grow(BASE, 4 * CHUNK);
        let all = a.alloc(4 * CHUNK).unwrap();
        assert_eq!(all.addr, BASE);
        // Holes (lengths): 2 @ 1500, 8 @ 1000, 4 @ 600, 1 @ 10.
        a.free(page(1500), 2);
        a.free(page(1000), 8);
        a.free(page(600), 4);
        a.free(page(10), 1);
        assert_eq!(a.alloc(3).unwrap().addr, page(600));
        assert_eq!(a.alloc(1).unwrap().addr, page(10));
        assert_eq!(a.alloc(1).unwrap().addr, page(603));
        assert_eq!(a.alloc(2).unwrap().addr, page(1000));
        assert_eq!(a.alloc(6).unwrap().addr, page(1002));
        assert_eq!(a.alloc(2).unwrap().addr, page(1500));
        assert_eq!(a.alloc(1), None);
        check_tree(&a);
    }

    #[test]
    #[should_panic(expected = "double free")]
    fn double_free_panics() {
        let mut a = PageAlloc::new();
        a.grow(BASE, CHUNK);
        let r = a.alloc(4).unwrap();
        a.free(r.addr, 4);
        a.free(r.addr, 4);
    }

    #[test]
    #[should_panic(expected = "double free")]
    fn freeing_never_allocated_pages_panics() {
        let mut a = PageAlloc::new();
        a.grow(BASE, CHUNK);
        a.alloc(4).unwrap();
        a.free(page(2), 4);
    }

    #[test]
    #[should_panic(expected = "outside the heap")]
    fn free_outside_heap_panics() {
        let mut a = PageAlloc::new();
        a.grow(BASE, CHUNK);
        a.alloc(CHUNK).unwrap();
        a.free(page(CHUNK - 1), 2);
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn overlapping_grow_panics() {
        let mut a = PageAlloc::new();
        a.grow(page(10), 10);
        a.grow(page(5), 6);
    }

    #[test]
    fn scavenge_highest_first_with_limits() {
        let mut a = PageAlloc::new();
        a.grow(BASE, 2 * CHUNK);
        let r = a.alloc(2 * CHUNK).unwrap();
        assert_eq!(r.scavenged, 1024);
        assert_eq!(a.scavenged_pages(), 0);
        // Dirty free runs: 3 @ 10, 20 @ 100, 2 @ 600, 40 @ 900.
        a.free(page(10), 3);
        a.free(page(100), 20);
        a.free(page(600), 2);
        a.free(page(900), 40);
        let mut calls = Vec::new();
        // Budget 50: the top two runs whole, then the top 8 of the next.
        let n = a.scavenge(50, 1, |addr, n| calls.push((addr, n)));
        assert_eq!(n, 50);
        assert_eq!(calls, vec![(page(900), 40), (page(600), 2), (page(112), 8)]);
        assert_eq!(a.scavenged_pages(), 50);
        check_tree(&a);

        // Runs shorter than min_run_pages are skipped.
        calls.clear();
        let n = a.scavenge(100, 5, |addr, n| calls.push((addr, n)));
        assert_eq!(n, 12);
        assert_eq!(calls, vec![(page(100), 12)]);
        // A budget below min_run_pages releases nothing.
        assert_eq!(a.scavenge(2, 3, |_, _| panic!("released")), 0);
        calls.clear();
        let n = a.scavenge(usize::MAX, 0, |addr, n| calls.push((addr, n)));
        assert_eq!(n, 3);
        assert_eq!(calls, vec![(page(10), 3)]);
        assert_eq!(a.scavenge(usize::MAX, 1, |_, _| panic!("released")), 0);
        assert_eq!(a.scavenged_pages(), 65);
        assert_eq!(a.free_pages(), 65);

        // Allocation reports what was clean.
        let r = a.alloc(20).unwrap();
        assert_eq!(r.addr, page(100));
        assert_eq!(r.scavenged, 20);
        a.free(page(100), 5);
        a.free(page(105), 15);
        a.alloc(20).unwrap();
        a.free(page(100), 20);
        assert_eq!(a.scavenge(15, 1, |_, _| {}), 15);
        let r = a.alloc(20).unwrap();
        assert_eq!(r.addr, page(100));
        assert_eq!(r.scavenged, 15);
        assert_eq!(a.alloc(40).unwrap().scavenged, 40);
        check_tree(&a);
    }

    #[test]
    fn scavenged_runs_span_chunks_and_ranges() {
        let mut a = PageAlloc::new();
        a.grow(page(300), 300);
        a.grow(page(600), 1000);
        a.alloc(1300).unwrap();
        a.free(page(400), 900);
        let mut calls = Vec::new();
        assert_eq!(
            a.scavenge(usize::MAX, 1, |addr, n| calls.push((addr, n))),
            900
        );
        assert_eq!(calls, vec![(page(400), 900)]);
        let r = a.alloc(900).unwrap();
        assert_eq!(
            r,
            PageRun {
                addr: page(400),
                npages: 900,
                scavenged: 900
            }
        );
        check_tree(&a);
    }

    #[test]
    fn is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<PageAlloc>();
    }

    /// 256 GiB grown (32 Mi pages, 65536 chunks), almost all allocated in
    /// 64 MiB spans, with a fragmented low end and a few holes up high.
    #[test]
    fn large_heap_first_fit() {
        const ARENA: usize = 8192;
        const ARENAS: usize = 4096;
        let mut a = PageAlloc::new();
        for i in 0..ARENAS {
            a.grow(page(i * ARENA), ARENA);
        }
        assert_eq!(a.total_pages(), ARENA * ARENAS);
        assert_eq!(a.largest_free_run(), ARENA * ARENAS);
        for i in 0..ARENAS {
            assert_eq!(a.alloc(ARENA).unwrap().addr, page(i * ARENA));
        }
        assert_eq!(a.alloc(1), None);
        // Every other page of the first 4 chunks.
        for i in (0..4 * CHUNK).step_by(2) {
            a.free(page(i), 1);
        }
        let h5 = 10_000_000;
        let h3 = 20_000_000;
        let h1000 = 30_000_100;
        a.free(page(h3), 3);
        a.free(page(h1000), 1000);
        a.free(page(h5), 5);
        assert_eq!(a.largest_free_run(), 1000);
        assert_eq!(a.alloc(2).unwrap().addr, page(h5));
        assert_eq!(a.alloc(3).unwrap().addr, page(h5 + 2));
        assert_eq!(a.alloc(3).unwrap().addr, page(h3));
        assert_eq!(a.alloc(1001), None);
        assert_eq!(a.alloc(600).unwrap().addr, page(h1000));
        assert_eq!(a.alloc(1).unwrap().addr, page(0));
        assert_eq!(a.alloc(1).unwrap().addr, page(2));
        assert_eq!(a.alloc(400).unwrap().addr, page(h1000 + 600));
        assert_eq!(a.alloc(2), None);
        for i in 2..CHUNK * 2 {
            assert_eq!(a.alloc(1).unwrap().addr, page(2 * i));
        }
        // Freeing one page far up makes it the first fit for two pages once
        // its neighbour is free too.
        a.free(page(h3 + 1), 1);
        a.free(page(h3 + 2), 1);
        assert_eq!(a.alloc(2).unwrap().addr, page(h3 + 1));
        // Growing next to the top lets a run straddle old and new memory.
        a.free(page(ARENA * ARENAS - 10), 10);
        a.grow(page(ARENA * ARENAS), 100);
        assert_eq!(a.alloc(110).unwrap().addr, page(ARENA * ARENAS - 10));
        check_tree(&a);
    }

    /// A page-per-entry model of the allocator, sorted by page number.
    #[derive(Default)]
    struct Model {
        /// (page number, in use, scavenged)
        pages: Vec<(usize, bool, bool)>,
    }

    impl Model {
        fn grow(&mut self, p0: usize, n: usize) {
            let at = self.pages.partition_point(|&(p, _, _)| p < p0);
            let new: Vec<_> = (p0..p0 + n).map(|p| (p, false, true)).collect();
            self.pages.splice(at..at, new);
        }

        fn index(&self, p: usize) -> usize {
            let i = self.pages.partition_point(|&(q, _, _)| q < p);
            assert_eq!(self.pages[i].0, p);
            i
        }

        /// Maximal runs of consecutive pages satisfying `pred`, ascending,
        /// as (first index, length).
        fn runs(&self, pred: impl Fn(bool, bool) -> bool) -> Vec<(usize, usize)> {
            let mut out: Vec<(usize, usize)> = Vec::new();
            let mut prev: Option<usize> = None;
            for (i, &(p, used, scav)) in self.pages.iter().enumerate() {
                if pred(used, scav) {
                    match out.last_mut() {
                        Some((s, len)) if prev == Some(p - 1) && *s + *len == i => *len += 1,
                        _ => out.push((i, 1)),
                    }
                    prev = Some(p);
                } else {
                    prev = None;
                }
            }
            out
        }

        fn alloc(&mut self, n: usize) -> Option<PageRun> {
            let (i, _) = self
                .runs(|used, _| !used)
                .into_iter()
                .find(|&(_, len)| len >= n)?;
            let mut clean = 0;
            for e in &mut self.pages[i..i + n] {
                clean += e.2 as usize;
                *e = (e.0, true, false);
            }
            Some(PageRun {
                addr: self.pages[i].0 << PAGE_SHIFT,
                npages: n,
                scavenged: clean,
            })
        }

        fn free(&mut self, p0: usize, n: usize) {
            let i = self.index(p0);
            for e in &mut self.pages[i..i + n] {
                assert!(e.1 && !e.2);
                e.1 = false;
            }
        }

        fn scavenge(&mut self, max: usize, min_run: usize) -> Vec<(usize, usize)> {
            let m = min_run.max(1);
            let mut done = 0;
            let mut calls = Vec::new();
            while max - done >= m {
                let Some((i, len)) = self
                    .runs(|used, scav| !used && !scav)
                    .into_iter()
                    .rev()
                    .find(|&(_, len)| len >= m)
                else {
                    break;
                };
                let n = len.min(max - done);
                let first = i + len - n;
                for e in &mut self.pages[first..i + len] {
                    e.2 = true;
                }
                calls.push((self.pages[first].0 << PAGE_SHIFT, n));
                done += n;
            }
            calls
        }

        fn count(&self, pred: impl Fn(bool, bool) -> bool) -> usize {
            self.pages.iter().filter(|e| pred(e.1, e.2)).count()
        }

        fn largest(&self) -> usize {
            self.runs(|used, _| !used)
                .into_iter()
                .map(|r| r.1)
                .max()
                .unwrap_or(0)
        }

        fn contains(&self, p: usize) -> bool {
            self.pages.binary_search_by_key(&p, |e| e.0).is_ok()
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Grow {
            slot: usize,
            gap: usize,
            npages: usize,
        },
        Alloc(usize),
        Free {
            which: usize,
            part: Option<usize>,
        },
        Scavenge {
            max: usize,
            min_run: usize,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => (0..4usize, prop_oneof![3 => Just(0usize), 1 => 1..700usize], 1..1500usize)
                .prop_map(|(slot, gap, npages)| Op::Grow { slot, gap, npages }),
            4 => prop_oneof![6 => 1..=16usize, 3 => 1..=600usize, 1 => 600..3000usize]
                .prop_map(Op::Alloc),
            3 => (any::<usize>(), proptest::option::of(any::<usize>()))
                .prop_map(|(which, part)| Op::Free { which, part }),
            1 => (prop_oneof![1..64usize, 64..3000usize, Just(usize::MAX)], 0..20usize)
                .prop_map(|(max, min_run)| Op::Scavenge { max, min_run }),
        ]
    }

    /// Where each slot's ranges start (page numbers). Slot 0 grows up into
    /// slot 1's first page, so the two merge once both reach it; slot 2 is
    /// far away, which makes the tree tall; slot 3 is low and starts in the
    /// 14th chunk of a leaf, so its runs reach a leaf's last chunks and
    /// straddle two leaves.
    const SLOTS: [usize; 4] = [
        BASE >> PAGE_SHIFT,
        (BASE >> PAGE_SHIFT) + 2500,
        0x7f12_3400_0000 >> PAGE_SHIFT,
        (0x1000_0000 >> PAGE_SHIFT) + 13 * CHUNK + 100,
    ];
    /// How far a slot may grow.
    const SLOT_LIMIT: [usize; 4] = [2500, 5000, 5000, 5000];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn matches_model(ops in proptest::collection::vec(op(), 1..120)) {
            let mut a = PageAlloc::new();
            let mut m = Model::default();
            let mut cursor = [0usize; 4];
            let mut live: Vec<(usize, usize)> = Vec::new();
            for op in ops {
                match op {
                    Op::Grow { slot, gap, npages } => {
                        let at = cursor[slot] + gap;
                        let n = npages.min(SLOT_LIMIT[slot].saturating_sub(at));
                        if n == 0 {
                            continue;
                        }
                        let p0 = SLOTS[slot] + at;
                        a.grow(p0 << PAGE_SHIFT, n);
                        m.grow(p0, n);
                        cursor[slot] = at + n;
                    }
                    Op::Alloc(n) => {
                        let got = a.alloc(n);
                        prop_assert_eq!(got, m.alloc(n), "alloc({})", n);
                        if let Some(r) = got {
                            prop_assert!(a.contains(r.addr));
                            prop_assert!(a.contains(r.addr + (n - 1) * P));
                            live.push((r.addr, n));
                        }
                    }
                    Op::Free { which, part } => {
                        if live.is_empty() {
                            continue;
                        }
                        let idx = which % live.len();
                        let (addr, n) = live[idx];
                        let k = part.map_or(n, |p| 1 + p % n);
                        a.free(addr, k);
                        m.free(addr >> PAGE_SHIFT, k);
                        if k == n {
                            live.swap_remove(idx);
                        } else {
                            live[idx] = (addr + k * P, n - k);
                        }
                    }
                    Op::Scavenge { max, min_run } => {
                        let mut calls = Vec::new();
                        let n = a.scavenge(max, min_run, |addr, n| calls.push((addr, n)));
                        let want = m.scavenge(max, min_run);
                        prop_assert_eq!(n, want.iter().map(|c| c.1).sum::<usize>());
                        prop_assert_eq!(calls, want);
                    }
                }
                prop_assert_eq!(a.total_pages(), m.pages.len());
                prop_assert_eq!(a.free_pages(), m.count(|used, _| !used));
                prop_assert_eq!(a.scavenged_pages(), m.count(|used, scav| !used && scav));
                prop_assert_eq!(a.largest_free_run(), m.largest());
                for (s, &base) in SLOTS.iter().enumerate() {
                    for p in [base, base + cursor[s], base + cursor[s].saturating_sub(1)] {
                        prop_assert_eq!(a.contains(p << PAGE_SHIFT), m.contains(p));
                    }
                }
                // Invariant 4: nothing free below the hint.
                prop_assert!(m.pages.iter().all(|e| e.1 || e.0 >= a.search));
                // Invariants 1-3, after every step: patched summaries are exact.
                check_bits(&a);
                check_tree(&a);
            }
        }
    }
}
