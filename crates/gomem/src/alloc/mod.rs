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
pub mod arena;
pub mod cache;
pub mod central;
pub mod mheap;
pub mod os;
pub mod pages;
pub mod sizeclass;
pub mod span;
