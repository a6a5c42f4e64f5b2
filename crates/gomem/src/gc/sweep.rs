//! Sweeping: turning a cycle's mark bits into free slots.
//!
//! A span is swept once per cycle by whoever wins its sweep-generation CAS
//! (`MSpan::try_acquire_for_sweep`): an mcache refilling that span class
//! (lazy, in `alloc/central.rs`, which reaches this file through the
//! `Sweeper` trait the collector implements), or the background sweeper
//! (`gc/cycle.rs`). Sweeping one span is [`sweep_span`]: the weak handles of
//! its dead objects are cleared, [`finalize_dead`] runs the Drop of every
//! allocated-but-unmarked object that has one, clobber-free mode poisons
//! them, then the mark bits become the alloc bits, and an empty span goes
//! back to the page heap.
//!
//! Drop runs on the sweeping thread, which may be any thread (hence heap
//! objects are `Send`). While it runs, a thread-local flag makes `attach`
//! panic on this thread, so a Drop cannot reach into the heap. A Drop that
//! panics is caught, counted and reported; sweeping goes on, and the object's
//! memory is reclaimed as if the Drop had returned.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::alloc::central::Centrals;
use crate::alloc::mheap::MHeap;
use crate::alloc::span::{MSpan, SpanPtr};
use crate::gc::weak::WeakTable;
use crate::trace::TypeInfo;

thread_local! {
    static IN_DROP: Cell<bool> = const { Cell::new(false) };
}

/// Drops that panicked, process-wide (each is also reported on stderr).
pub static PANICKED_DROPS: AtomicU64 = AtomicU64::new(0);

/// Whether this thread is currently running the Drop of a heap object.
pub fn in_drop() -> bool {
    IN_DROP.with(Cell::get)
}

/// Sweeps a span this thread owns (sweepgen `h−1`; module header): clears
/// the weak handles of its dead objects, runs their Drop, poisons them if
/// `clobber` is set, turns marks into alloc bits and either frees the span
/// (no live object left, and `keep_empty` is false or the span is large)
/// or publishes it as swept for `sg` and hands it back to the caller.
pub fn sweep_span(
    mheap: &MHeap,
    weaks: &WeakTable,
    clobber: bool,
    s: SpanPtr,
    sg: u32,
    keep_empty: bool,
) -> Option<SpanPtr> {
    let span = s.span();
    weaks.clear_dead(span, sg);
    finalize_dead(span);
    if clobber {
        clobber_dead(span);
    }
    let freed = span.sweep_bits();
    mheap.count_frees(span, freed);
    if span.alloc_count() == 0 && (!keep_empty || span.is_large()) {
        mheap.free_span(s);
        return None;
    }
    span.sweepgen.store(sg, Ordering::Release);
    Some(s)
}

/// Runs the Drop of every dead typed object of a span the caller owns.
pub fn finalize_dead(span: &MSpan) {
    if span.spanclass.noscan() {
        return;
    }
    if span.is_large() {
        if !span.is_marked(0) {
            let ty = span.large_type.load(Ordering::Acquire) as *const TypeInfo;
            // SAFETY: a large span's type is published only once its object
            // was fully written, and a dead object is no longer reachable.
            if let Some(ty) = unsafe { ty.as_ref() } {
                run_drop(ty, span.start);
            }
        }
        return;
    }
    if !span.has_typed() {
        return;
    }
    span.for_each_dead_typed(|base| {
        let idx = span.object_index(base);
        // SAFETY: a typed slot keeps its type word in its last 8 bytes,
        // written before the object was published.
        let ty = unsafe { TypeInfo::from_footer(base, span.elemsize) };
        run_drop(ty, base);
        span.set_typed(idx, false);
    });
}

/// Poison written over freed objects in clobber-free mode.
pub const CLOBBER_BYTE: u8 = 0xEF;

/// Overwrites every dead object of a span the caller owns with poison
/// (after their Drop ran, before their slots are freed).
pub fn clobber_dead(span: &MSpan) {
    if span.is_large() {
        if !span.is_marked(0) {
            // SAFETY: the large object is dead and its span is ours to free.
            unsafe { std::ptr::write_bytes(span.start as *mut u8, CLOBBER_BYTE, span.elemsize) };
        }
        return;
    }
    span.for_each_dead(|base| {
        // SAFETY: a dead slot of this span, owned by the sweeper; nothing can
        // reach it any more (it is unreachable and about to be freed).
        unsafe { std::ptr::write_bytes(base as *mut u8, CLOBBER_BYTE, span.elemsize) };
    });
}

/// Heap teardown: runs the Drop of every object still allocated. Every span
/// is on a central list (all Ps have released their caches).
pub fn drop_all_objects(centrals: &Centrals) {
    for central in centrals.iter() {
        for s in central.take_all() {
            let span = s.span();
            span.release_marks();
            finalize_dead(span);
        }
    }
}

fn run_drop(ty: &TypeInfo, base: usize) {
    let Some(drop_fn) = ty.drop else { return };
    IN_DROP.with(|f| f.set(true));
    // SAFETY: the object at `base` is of type `ty`, was initialised, and is
    // unreachable: nothing else can observe it being dropped, and it is
    // dropped exactly once because its slot is freed right after.
    let result = catch_unwind(AssertUnwindSafe(|| unsafe { drop_fn(base as *mut u8) }));
    IN_DROP.with(|f| f.set(false));
    if result.is_err() {
        PANICKED_DROPS.fetch_add(1, Ordering::Relaxed);
        // Not `eprintln!`, which panics if stderr is gone.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "gomem: Drop of a `{}` at {base:#x} panicked during sweeping; the object was freed anyway",
            (ty.name)()
        );
    }
}
