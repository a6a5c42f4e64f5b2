//! The allocator: mutator → P → mcache → mcentral → mheap → OS.
//!
//! Each layer has its own file, in the order an allocation meets them:
//! [`cache`] (per-P spans, the lock-free fast path and the tiny block),
//! [`central`] (per-span-class lists of spans, lazy sweeping),
//! [`mheap`] (spans from pages, large objects, growth),
//! [`pages`] (the page allocator: free runs of 8 KiB pages),
//! [`arena`] (the address → arena → span map), and [`os`] (reserve, commit,
//! release address space). [`sizeclass`] holds Go's tables and [`span`] the
//! span structure every layer passes around.
//!
//! **Visibility.** Only what is safe for any caller to use leaves the crate:
//! Go's tables ([`sizeclass`]), the page allocator ([`pages`], pure
//! bookkeeping over page numbers), [`rss_bytes`] and the error types. The
//! other layers hand out raw addresses and span structs whose methods assume
//! ownership rules (an mcache, a sweeper, the heap lock); safe code outside
//! the crate could break those rules, so those modules are crate-private.
pub(crate) mod arena;
pub(crate) mod cache;
pub(crate) mod central;
pub(crate) mod mheap;
pub(crate) mod os;
pub mod pages;
pub mod sizeclass;
pub(crate) mod span;

#[cfg(test)]
mod tests;

pub use mheap::AllocError;
pub use os::{rss_bytes, OsError};
