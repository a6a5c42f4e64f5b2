//! The mark-byte pool: where spans borrow their mark bytes for one cycle.
//!
//! A span needs mark bytes only in a cycle that marks something in it, and
//! most spans of a garbage-heavy heap hold nothing but garbage when a cycle
//! ends (binary-trees 21: a third of the heap in use is marked, live or
//! allocated black). So a span does not own its marks: the first mark a
//! cycle sets in a span (a marker's or an allocate-black's) takes a zeroed
//! block from here and installs it with a CAS on the span's `marks`
//! pointer; the sweep that reads the marks zeroes the block and gives it
//! back. Resident mark memory is then the blocks of the spans marked in one
//! cycle, not a block for every span in use: on binary-trees 21 the mark
//! bytes went from 13.7 MiB (one per slot of every span) to 8 MiB of pool
//! at its largest (AMD EPYC, `BENCHMARKS.md`). Go's mark bits come from a shared pool too (its
//! gcBits arenas, handed out to spans at each sweep); gomem's come only
//! when a span is marked.
//!
//! **Blocks.** A block holds one byte per slot, in groups of 64 slots (64
//! bytes, one cache line: blocks are line-aligned, so two spans' marks never
//! share a line and the sweep's vector loads never split one). A span of
//! `n` slots takes `n.div_ceil(64)` groups, 1 to 16 (the 8-byte class has
//! 1024 slots); there is one free list per group count.
//!
//! **Invariants.** A block on a free list is all zero and nobody holds a
//! pointer into it for writing: a span gives its block back only from the
//! sweep (or teardown), after the flip that ended the cycle's marking, and
//! has zeroed it first. Blocks are carved from 64 KiB slabs and never
//! returned to the system allocator, so a pointer into one stays valid
//! memory for the life of the process: the pool is process-wide (a block is
//! plain zeroed memory, tied to no heap) and its size is bounded by the
//! most spans marked at once over every heap in the process.

use std::alloc::{alloc_zeroed, handle_alloc_error, Layout};
use std::ptr::NonNull;

use crossbeam_queue::SegQueue;

/// Slots per group of mark bytes: one byte each, one cache line.
pub const SLOTS_PER_GROUP: usize = 64;

/// Bytes of one group (one mark byte per slot).
pub const GROUP_BYTES: usize = SLOTS_PER_GROUP;

/// The most groups a span needs: 1024 slots of the 8-byte class in one
/// 8 KiB page (`sizeclass.rs`).
pub const MAX_GROUPS: usize = 1024 / SLOTS_PER_GROUP;

/// Bytes taken from the system allocator at a time (64 KiB): one slab
/// carves 64 of the largest blocks or 1024 of the smallest.
const SLAB_BYTES: usize = 64 << 10;

/// A free block (its address); the pool hands it between threads.
struct Block(NonNull<u8>);

// SAFETY: a free block is zeroed memory nobody else references (module
// header); whoever pops it owns it.
unsafe impl Send for Block {}

/// One free list per group count (index `groups - 1`).
static FREE: [SegQueue<Block>; MAX_GROUPS] = [const { SegQueue::new() }; MAX_GROUPS];

/// A zeroed block of `groups` groups (`64 × groups` bytes, 64-byte
/// aligned), from the free list or a fresh slab.
pub fn take(groups: usize) -> NonNull<u8> {
    assert!((1..=MAX_GROUPS).contains(&groups), "{groups} mark groups");
    match FREE[groups - 1].pop() {
        Some(Block(p)) => p,
        None => carve_slab(groups),
    }
}

/// Returns a block taken with [`take`] for the same `groups`.
///
/// # Safety
/// The block must be all zero again, and no thread may access it after
/// this call until [`take`] hands it out anew (module header).
pub unsafe fn give_back(block: NonNull<u8>, groups: usize) {
    debug_assert!(
        // SAFETY: the caller passes a whole block it owns (contract above).
        unsafe { std::slice::from_raw_parts(block.as_ptr(), groups * GROUP_BYTES) }
            .iter()
            .all(|&b| b == 0),
        "a mark block went back to the pool with marks set"
    );
    FREE[groups - 1].push(Block(block));
}

/// Allocates a slab, keeps its first block for the caller and puts the rest
/// on the free list.
#[cold]
#[inline(never)]
fn carve_slab(groups: usize) -> NonNull<u8> {
    let block_bytes = groups * GROUP_BYTES;
    let layout = Layout::from_size_align(SLAB_BYTES, GROUP_BYTES).expect("slab layout");
    // SAFETY: the layout has a non-zero size.
    let slab = unsafe { alloc_zeroed(layout) };
    let Some(slab) = NonNull::new(slab) else {
        handle_alloc_error(layout)
    };
    for k in 1..SLAB_BYTES / block_bytes {
        // SAFETY: `k × block_bytes < SLAB_BYTES`: inside the slab.
        let block = unsafe { slab.add(k * block_bytes) };
        FREE[groups - 1].push(Block(block));
    }
    slab
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_zeroed_line_aligned_and_distinct() {
        let groups = 3;
        let blocks: Vec<_> = (0..200).map(|_| take(groups)).collect();
        let mut addrs: Vec<usize> = blocks.iter().map(|b| b.as_ptr() as usize).collect();
        addrs.sort_unstable();
        for pair in addrs.windows(2) {
            assert!(pair[1] - pair[0] >= groups * GROUP_BYTES, "blocks overlap");
        }
        for b in &blocks {
            assert_eq!(b.as_ptr() as usize % GROUP_BYTES, 0);
            // SAFETY: a block of `groups` groups that this test owns.
            let bytes = unsafe { std::slice::from_raw_parts(b.as_ptr(), groups * GROUP_BYTES) };
            assert!(bytes.iter().all(|&x| x == 0));
        }
        for b in blocks {
            // SAFETY: still zero, and this test drops its pointer.
            unsafe { give_back(b, groups) };
        }
    }

    #[test]
    #[should_panic(expected = "mark groups")]
    fn a_span_bigger_than_any_class_is_refused() {
        take(MAX_GROUPS + 1);
    }
}
