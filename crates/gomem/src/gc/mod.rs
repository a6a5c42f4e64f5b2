//! The collector: a concurrent, tricolor, non-generational, non-moving
//! mark-sweep with Go's hybrid write barrier (DESIGN.md §4).
pub mod state;
pub mod sweep;
