//! The collector: a concurrent, tricolor, non-generational, non-moving
//! mark-sweep with Go's hybrid write barrier (DESIGN.md §4).
//!
//! One file per part of a cycle: [`state`] (the GC word every decision reads),
//! [`cycle`] (the coordinator: start, handshakes, termination, background
//! sweep), [`mark`] (greying and draining), [`barrier`] (the write barrier's
//! per-P buffer), [`checkmark`] (an independent check of each mark), [`roots`] (the root table), [`pacer`] (when to start, how
//! much assists pay), [`scavenge`] (returning free pages to the OS), [`sweep`] (Drop of the dead) and [`weak`] (weak
//! pointers).
pub mod barrier;
pub mod checkmark;
pub mod cycle;
pub mod mark;
pub mod pacer;
pub mod roots;
pub mod scavenge;
pub mod state;
pub mod sweep;
pub mod weak;
