//! The collector's side of value stacks (`stack.rs`, the `ValueStack`
//! handle, has the design and the soundness argument).
//!
//! A [`StackStorage`] is one stack's buffer of value words and its length;
//! [`PStacks`] is the list of storages registered in a P. Both are touched
//! only by the P's current owner: its thread while it runs the P (pushes,
//! pops, growth, pruning), or the collector while it holds the P idle
//! (scanning). The P's status CAS hands ownership over (`gc/proc.rs`), so
//! the buffer needs no synchronisation; only the length is an atomic word,
//! because `ValueStack::truncate` needs no Mutator and may lower it while
//! the collector scans (a benign race: either prefix holds live values).
//!
//! **Scanning.** [`PStacks::shade_all`] is called by `P::turn_stack_black`
//! just before the P's stack turns black for cycle n: as a registered agent
//! of cycle n it shades every pointer word of every live storage. A dropped
//! handle flags its storage dead; dead storages are skipped and pruned at
//! the owner's next safepoint; a detaching Mutator's P forgets them all.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::gc::mark::{Drain, MarkState};
use crate::gc::state::GcWordCell;
use crate::trace::is_pointer_word;

/// The buffer of one value stack (module header).
pub(crate) struct StackStorage {
    /// The words; slots `[0, len)` are values. Written by the owner only.
    buf: UnsafeCell<Box<[u64]>>,
    len: AtomicUsize,
    dead: AtomicBool,
    /// The owning P's "some storage died" flag, so that its safepoints
    /// prune only when there is something to prune.
    some_dead: Arc<AtomicBool>,
}

// SAFETY: `buf` is written only by the owner thread while it runs the P,
// and read by the collector only while it holds that P idle (module
// header); the P's status CAS orders the two. `len` and `dead` are atomic.
unsafe impl Send for StackStorage {}
// SAFETY: as above.
unsafe impl Sync for StackStorage {}

impl StackStorage {
    /// A storage of `cap` zeroed slots, and its buffer's address.
    pub(crate) fn new(cap: usize, owner: &PStacks) -> (Arc<StackStorage>, *mut u64) {
        let s = Arc::new(StackStorage {
            buf: UnsafeCell::new(vec![0u64; cap].into_boxed_slice()),
            len: AtomicUsize::new(0),
            dead: AtomicBool::new(false),
            some_dead: owner.some_dead.clone(),
        });
        // Derived after the buffer found its home (moving a Box would
        // invalidate earlier pointers into it under Rust's aliasing model).
        // SAFETY: nobody else can see the storage yet.
        let ptr = unsafe { (*s.buf.get()).as_mut_ptr() };
        (s, ptr)
    }

    /// Publishes the length (a plain store: see the module header).
    #[inline(always)]
    pub(crate) fn publish_len(&self, len: usize) {
        self.len.store(len, Ordering::Relaxed);
    }

    /// The handle was dropped: nobody can read these values any more.
    pub(crate) fn mark_dead(&self) {
        self.dead.store(true, Ordering::Release);
        self.some_dead.store(true, Ordering::Release);
    }

    /// Moves the first `len` words into a new buffer of `cap` slots; returns
    /// its address.
    ///
    /// # Safety
    /// The caller is the owner thread running the P (so the collector is
    /// not reading the buffer), and `len <= cap`.
    pub(crate) unsafe fn grow(&self, len: usize, cap: usize) -> *mut u64 {
        let mut new = vec![0u64; cap].into_boxed_slice();
        // SAFETY: per the contract nobody else reads or writes `buf` now.
        let buf = unsafe { &mut *self.buf.get() };
        new[..len].copy_from_slice(&buf[..len]);
        *buf = new;
        buf.as_mut_ptr()
    }

    /// Calls `f` with every pointer word on the stack.
    ///
    /// # Safety
    /// The caller is the current owner of the P this storage is registered
    /// in (its thread while running it, or the collector holding it idle).
    unsafe fn for_each_pointer(&self, mut f: impl FnMut(usize)) {
        if self.dead.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: per the contract nobody writes `buf` now; `len` never
        // exceeds its length (push grows the buffer first).
        let buf = unsafe { &*self.buf.get() };
        let len = self.len.load(Ordering::Relaxed).min(buf.len());
        for &w in &buf[..len] {
            if is_pointer_word(w as usize) {
                f(w as usize);
            }
        }
    }
}

/// The value stacks registered in one P (module header). Touched only by
/// the P's current owner.
#[derive(Default)]
pub(crate) struct PStacks {
    list: UnsafeCell<Vec<Arc<StackStorage>>>,
    /// Set when a storage of this P dies; cleared by `prune`.
    some_dead: Arc<AtomicBool>,
}

// SAFETY: the list is touched only by the P's current owner; ownership of
// a P moves through its status CAS (module `mutator`).
unsafe impl Send for PStacks {}
// SAFETY: as above.
unsafe impl Sync for PStacks {}

impl PStacks {
    /// # Safety
    /// The caller owns the P.
    #[allow(clippy::mut_from_ref)]
    unsafe fn list(&self) -> &mut Vec<Arc<StackStorage>> {
        // SAFETY: per the contract, no one else touches the list, and no
        // caller holds two of these borrows at once.
        unsafe { &mut *self.list.get() }
    }

    /// Shades every pointer on every live stack of this P, as an agent of
    /// cycle `n` (a no-op if cycle n is over). Called just before the P's
    /// stack turns black.
    ///
    /// # Safety
    /// The caller owns the P.
    pub(crate) unsafe fn shade_all(&self, word: &AtomicU64, mark: &MarkState, n: u32) {
        // SAFETY: the caller owns the P.
        let list = unsafe { self.list() };
        if list.iter().all(|s| s.len.load(Ordering::Relaxed) == 0) {
            return;
        }
        word.with_registration(n, || {
            let mut drain = Drain::new(mark);
            for s in list.iter() {
                // SAFETY: the caller owns the P the storage is registered in.
                unsafe {
                    s.for_each_pointer(|w| {
                        drain.shade(w);
                    })
                };
            }
        });
    }

    /// Forgets the storages whose handles were dropped.
    ///
    /// # Safety
    /// The caller owns the P.
    #[inline]
    pub(crate) unsafe fn prune(&self) {
        // One load per safepoint; the list is walked only after a death.
        if self.some_dead.load(Ordering::Relaxed) && self.some_dead.swap(false, Ordering::Acquire) {
            // SAFETY: the caller owns the P.
            let list = unsafe { self.list() };
            list.retain(|s| !s.dead.load(Ordering::Acquire));
        }
    }

    /// Forgets every stack (the Mutator detaches: nothing can read them).
    ///
    /// # Safety
    /// The caller owns the P.
    pub(crate) unsafe fn forget(&self) {
        // SAFETY: the caller owns the P.
        unsafe { self.list() }.clear();
    }

    /// # Safety
    /// The caller owns the P.
    pub(crate) unsafe fn register(&self, s: Arc<StackStorage>) {
        // SAFETY: the caller owns the P.
        unsafe { self.list() }.push(s);
    }
}
