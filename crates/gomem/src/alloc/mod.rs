//! The allocator: mutator → P → mcache → mcentral → mheap → OS.
//!
//! Each layer has its own file, bottom to top: [`sizeclass`] (Go's tables),
//! [`os`] (reserve, commit, release address space), [`arena`] (the address →
//! arena → span map), [`pages`] (the page allocator: free runs of 8 KiB
//! pages), [`span`] (the span structure every layer passes around, with its
//! alloc, mark and heap bits), [`markpool`] (the blocks of mark bytes spans
//! borrow for a cycle), [`mheap`] (spans from pages, large objects,
//! growth), [`central`] (per-span-class lists of spans, lazy sweeping
//! through the `Sweeper` trait the collector implements) and [`cache`]
//! (per-P spans, the lock-free fast path and the tiny block).
//!
//! `alloc/` imports nothing from `gc/`: the sweep generation and sweeping a
//! span reach it through `central::Sweeper`, the trigger check through
//! `cache::HeapGrowth`. Its modules are private to the crate; the error
//! types and `rss_bytes` are re-exported at the root.
pub(crate) mod arena;
pub(crate) mod cache;
pub(crate) mod central;
pub(crate) mod markpool;
pub(crate) mod mheap;
pub(crate) mod os;
pub(crate) mod pages;
pub(crate) mod sizeclass;
pub(crate) mod span;

#[cfg(test)]
mod tests;
