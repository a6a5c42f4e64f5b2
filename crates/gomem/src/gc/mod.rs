//! The collector: a concurrent, tricolor, non-generational, non-moving
//! mark-sweep with Go's hybrid write barrier (DESIGN.md §4).
//!
//! One file per part of a cycle: [`state`] (the GC word every decision reads),
//! [`cycle`] (the coordinator: start, handshakes, termination, background
//! sweep), [`mark`] (greying and draining), [`barrier`] (the write barrier's
//! per-P buffer), [`checkmark`] (an independent check of each mark), [`roots`] (the root table), [`pacer`] (when to start, how
//! much assists pay), [`scavenge`] (returning free pages to the OS), [`sweep`] (Drop of the dead) and [`weak`] (weak
//! pointers).
//!
//! Only [`state`] (the GC word's encoding, plain data and atomics, which the
//! loom models drive) is public; the rest touches heap memory under the
//! collector's protocol and is crate-private.
pub(crate) mod barrier;
pub(crate) mod checkmark;
pub(crate) mod cycle;
pub(crate) mod mark;
pub(crate) mod pacer;
pub(crate) mod roots;
pub(crate) mod scavenge;
pub mod state;
pub(crate) mod sweep;
pub(crate) mod weak;

/// Drops of heap objects that panicked during sweeping, process-wide (each
/// is also reported on stderr; the object is freed anyway).
pub fn panicked_drops() -> u64 {
    sweep::PANICKED_DROPS.load(std::sync::atomic::Ordering::Relaxed)
}
