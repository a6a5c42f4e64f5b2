//! Test hooks: points where a test can make the collector move while a
//! mutator stands still, to hit a window deterministically instead of
//! waiting for a scheduler to open it (issue 11, H7).
//!
//! One hook exists: **before a refill**. A mutator whose cached span of some
//! class has no free slot left calls the hook (if one is set for its heap)
//! after its allocation's poll and before it asks its mcache for a slot. A
//! test's hook typically waits there until the collector has flipped, so
//! that the refill that follows runs with the P still in the old phase: the
//! window in which a span already swept for the next cycle must not be
//! allocated black (`Mutator::allocate_black`'s sweep-generation check).
//!
//! Cost when unused: one Relaxed load of a global flag on the refill path
//! (never on the allocation fast path).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

/// A hook: called with no lock of the heap held, on the mutator's thread.
pub(crate) type Hook = Arc<dyn Fn() + Send + Sync>;

static REFILL_ARMED: AtomicBool = AtomicBool::new(false);
static REFILL_HOOK: RwLock<Option<(u32, Hook)>> = RwLock::new(None);

/// Sets (or clears, with `None`) the before-refill hook for heap `heap_id`.
pub(crate) fn set_refill_hook(heap_id: u32, hook: Option<Hook>) {
    let mut slot = REFILL_HOOK.write();
    REFILL_ARMED.store(hook.is_some(), Ordering::Release);
    *slot = hook.map(|h| (heap_id, h));
}

/// Runs the before-refill hook if one is set for heap `heap_id`.
#[inline]
pub(crate) fn before_refill(heap_id: u32) {
    if REFILL_ARMED.load(Ordering::Relaxed) {
        run_refill_hook(heap_id);
    }
}

#[cold]
fn run_refill_hook(heap_id: u32) {
    let hook = match &*REFILL_HOOK.read() {
        Some((id, h)) if *id == heap_id => h.clone(),
        _ => return,
    };
    hook();
}
