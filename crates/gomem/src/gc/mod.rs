//! The collector: a concurrent, tricolor, non-generational, non-moving
//! mark-sweep with Go's hybrid write barrier (DESIGN.md §4).
//!
//! Bottom to top: [`state`] (the GC word every decision reads), [`mark`]
//! (greying and draining), [`roots`] (the root table), [`weak`] (weak
//! pointers and their upgrade), [`sweep`] (sweeping a span: Drop of the
//! dead), [`barrier`] (the write barrier's per-P buffer and slow path),
//! [`pacer`] (goal, trigger, assists, CPU limiter), [`scavenge`] (returning
//! free pages to the OS), [`checkmark`] (an independent check of each
//! mark), [`proc`] (the P and phase adoption), [`stacks`] (the value
//! stacks registered in a P, scanned when its stack turns black),
//! [`collector`] (the shared
//! state of one heap, and the `Heap` handle) and [`cycle`] (the
//! coordinator: start, handshakes, termination, background sweep).
//!
//! `gc/` imports `alloc/`, never the API layer. Every module is private to
//! the crate.
pub(crate) mod barrier;
pub(crate) mod checkmark;
pub(crate) mod collector;
pub(crate) mod cycle;
pub(crate) mod mark;
pub(crate) mod pacer;
pub(crate) mod proc;
pub(crate) mod roots;
pub(crate) mod scavenge;
pub(crate) mod stacks;
pub(crate) mod state;
pub(crate) mod sweep;
pub(crate) mod test_hooks;
pub(crate) mod weak;

/// Drops of heap objects that panicked during sweeping, process-wide (each
/// is also reported on stderr; the object is freed anyway).
pub fn panicked_drops() -> u64 {
    sweep::PANICKED_DROPS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Reports a broken collector invariant and aborts the process (Go throws
/// the same way: continuing would hand out freed memory). The report goes
/// straight to the process's stderr, not through `eprintln!`, which a test
/// harness captures and would lose with the abort.
#[cold]
#[inline(never)]
pub(crate) fn fatal(report: &str) -> ! {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{report}");
    let _ = err.flush();
    std::process::abort();
}
