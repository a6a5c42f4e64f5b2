//! The write barrier's per-P buffer (Go's `wbBuf`) and its slow path.
//!
//! The fast path (is the barrier on? log one or two values) is a few
//! instructions on owner-only state of the P, inlined into `Member::set`
//! (`mutator.rs`, `gc/proc.rs`); this file owns the buffer and what happens
//! when it is full ([`WbBuf::make_room`]).
//!
//! While a P's barrier is on, `Member::set` logs the old value of the field
//! (Yuasa's deletion half) and, while the P's stack is still grey, the new
//! value too (Dijkstra's insertion half) — Go's hybrid barrier. Logging is a
//! store into the P's current block and a Release store of the block's tail;
//! the field itself is stored afterwards (Release). No lock, no RMW.
//!
//! The buffer is a single-producer queue that the collector can read on its
//! own: a chain of blocks of [`WB_ENTRIES`] entries, newest first, each
//! tagged with the cycle it logs for. A reader takes the tag and the tail
//! with Acquire loads and reads entries below the tail; since the owner
//! resets a block by storing `tail = 0` *before* re-tagging it, a reader that
//! sees the tag of cycle n reads only entries written in cycle n. Every entry
//! of cycle n points to an object that cycle n must not free (it was
//! reachable when logged), so a reader may shade whatever it reads.
//!
//! When the current block fills, the owner drains it itself (shading each
//! entry: the barrier's slow path, Go's `wbBufFlush`) if it can register as
//! an agent of the cycle; if it cannot (the terminator is checking), it
//! starts a new block and chains it, so it never waits. Extra blocks are
//! freed when the P adopts the next cycle's Arm, when no reader can exist.
//!
//! The tail-before-tag order protects readers of the *new* cycle. Readers
//! of an old cycle rely instead on no reset ever overlapping them: the
//! terminator reads before its flip CAS, and a P resets only after it has
//! seen Off(n) or a later GC word (tests/loom_models.rs, models m3a–m3d).

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::gc::mark::{Drain, MarkState};
use crate::gc::state::{GcWordCell, Phase};

/// Entries per block (Go: `wbBufEntries`).
pub const WB_ENTRIES: usize = 512;

/// One block of logged pointers.
pub struct WbBlock {
    next: *mut WbBlock,
    cycle: AtomicU32,
    tail: AtomicUsize,
    entries: [AtomicUsize; WB_ENTRIES],
}

impl WbBlock {
    fn boxed(cycle: u32, next: *mut WbBlock) -> *mut WbBlock {
        Box::into_raw(Box::new(WbBlock {
            next,
            cycle: AtomicU32::new(cycle),
            tail: AtomicUsize::new(0),
            entries: std::array::from_fn(|_| AtomicUsize::new(0)),
        }))
    }
}

/// A P's barrier buffer (module header).
pub struct WbBuf {
    head: AtomicPtr<WbBlock>,
}

// SAFETY: the blocks are shared through atomics only; the raw `next` links
// are written before a block is published and never changed while readers
// can exist (module header).
unsafe impl Send for WbBuf {}
// SAFETY: as above.
unsafe impl Sync for WbBuf {}

impl Default for WbBuf {
    fn default() -> Self {
        WbBuf {
            head: AtomicPtr::new(WbBlock::boxed(0, ptr::null_mut())),
        }
    }
}

impl WbBuf {
    fn head(&self) -> &WbBlock {
        // SAFETY: head always points at a live block owned by this buffer.
        unsafe { &*self.head.load(Ordering::Acquire) }
    }

    /// Owner: logs one pointer. Returns false when the block is full (the
    /// entry was not logged: drain or chain, then log again).
    #[inline]
    pub fn push(&self, addr: usize) -> bool {
        let b = self.head();
        let t = b.tail.load(Ordering::Relaxed);
        if t == WB_ENTRIES {
            return false;
        }
        b.entries[t].store(addr, Ordering::Relaxed);
        b.tail.store(t + 1, Ordering::Release);
        true
    }

    /// Owner: drains the current block into `f` and empties it (its tag
    /// stays). Readers may see entries twice; shading is idempotent.
    pub fn drain_head(&self, mut f: impl FnMut(usize)) {
        let b = self.head();
        let t = b.tail.load(Ordering::Relaxed);
        for e in &b.entries[..t] {
            f(e.load(Ordering::Relaxed));
        }
        b.tail.store(0, Ordering::Release);
    }

    /// Owner, the barrier's slow path (module header): the current block is
    /// full and this P logs for cycle `n`. During Arm or Mark of cycle n it
    /// drains the block itself, shading each entry as a registered agent of
    /// the GC word `word` (or chains a new block if it cannot register);
    /// during Term it chains a new block. Returns false when cycle n is
    /// over: the caller adopts the new phase, after which everything logged
    /// is black already.
    pub fn make_room(&self, n: u32, word: &AtomicU64, mark: &MarkState) -> bool {
        let w = word.word();
        if w.cycle() == n && matches!(w.phase(), Phase::Arm | Phase::Mark) {
            if word.register(n).is_ok() {
                {
                    let mut drain = Drain::new(mark);
                    self.drain_head(|e| {
                        drain.shade(e);
                    });
                }
                word.deregister();
            } else {
                self.chain(n);
            }
            true
        } else if w.cycle() == n && w.phase() == Phase::Term {
            self.chain(n);
            true
        } else {
            false
        }
    }

    /// Owner: logs `addr` after [`WbBuf::make_room`], chaining one more
    /// block for `cycle` if the current one is still full.
    pub fn push_or_chain(&self, addr: usize, cycle: u32) {
        if !self.push(addr) {
            self.chain(cycle);
            self.push(addr);
        }
    }

    /// Owner: starts a new block for `cycle` in front of the full one.
    pub fn chain(&self, cycle: u32) {
        let old = self.head.load(Ordering::Relaxed);
        self.head
            .store(WbBlock::boxed(cycle, old), Ordering::Release);
    }

    /// Owner, with no reader possible (module header): frees extra blocks and
    /// empties the buffer for `cycle`.
    pub fn reset(&self, cycle: u32) {
        let head = self.head.load(Ordering::Relaxed);
        // SAFETY: head is live; the chained blocks behind it are owned by this
        // buffer and no reader exists at this point.
        unsafe {
            // Write `next` only when a block is chained: a fresh P resets its
            // buffer while a terminator may be walking it (null over null is
            // still a data race under Rust's model; loom found it).
            let mut next = (*head).next;
            if !next.is_null() {
                (*head).next = ptr::null_mut();
            }
            while !next.is_null() {
                let b = Box::from_raw(next);
                next = b.next;
            }
            (*head).tail.store(0, Ordering::Release);
            (*head).cycle.store(cycle, Ordering::Release);
        }
    }

    /// Any thread: calls `f` with every entry logged for `cycle` so far.
    pub fn for_each(&self, cycle: u32, mut f: impl FnMut(usize)) {
        let mut b = self.head.load(Ordering::Acquire);
        while !b.is_null() {
            // SAFETY: blocks are freed only by `reset`, which never runs while
            // a reader of the same cycle exists (module header).
            let block = unsafe { &*b };
            if block.cycle.load(Ordering::Acquire) == cycle {
                let t = block.tail.load(Ordering::Acquire);
                for e in &block.entries[..t] {
                    let v = e.load(Ordering::Relaxed);
                    if v != 0 {
                        f(v);
                    }
                }
            }
            b = block.next;
        }
    }
}

impl Drop for WbBuf {
    fn drop(&mut self) {
        self.reset(0);
        // SAFETY: the last block is owned by this buffer and no one else can
        // reach it now.
        drop(unsafe { Box::from_raw(*self.head.get_mut()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_until_full_then_drain_or_chain() {
        let wb = WbBuf::default();
        wb.reset(1);
        for i in 1..=WB_ENTRIES {
            assert!(wb.push(i * 8));
        }
        assert!(!wb.push(1));
        let mut seen = Vec::new();
        wb.for_each(1, |v| seen.push(v));
        assert_eq!(seen.len(), WB_ENTRIES);
        let mut drained = 0;
        wb.drain_head(|_| drained += 1);
        assert_eq!(drained, WB_ENTRIES);
        assert!(wb.push(8));
        wb.chain(1);
        assert!(wb.push(16));
        let mut seen = Vec::new();
        wb.for_each(1, |v| seen.push(v));
        assert_eq!(seen, vec![16, 8]);
        // Another cycle's reader sees nothing; reset frees the chain.
        wb.for_each(2, |_| panic!("entry of another cycle"));
        wb.reset(2);
        wb.for_each(2, |_| panic!("reset buffer has entries"));
        assert!(wb.push(24));
        let mut n = 0;
        wb.for_each(2, |_| n += 1);
        assert_eq!(n, 1);
    }

    #[test]
    fn a_concurrent_reader_sees_only_entries_of_its_cycle() {
        let wb = std::sync::Arc::new(WbBuf::default());
        wb.reset(7);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (wb, stop) = (wb.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    wb.for_each(7, |v| {
                        assert_eq!(v % 7, 0, "entry {v} is not from cycle 7");
                        reads += 1;
                    });
                }
                reads
            })
        };
        for round in 0..200 {
            for i in 1..WB_ENTRIES {
                if !wb.push(i * 7) {
                    wb.drain_head(|_| {});
                }
            }
            if round % 50 == 49 {
                wb.drain_head(|_| {});
            }
        }
        stop.store(true, Ordering::Relaxed);
        reader.join().unwrap();
    }
}
