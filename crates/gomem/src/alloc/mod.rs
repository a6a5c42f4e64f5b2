//! The allocator: mutator → P → mcache → mcentral → mheap → OS.
pub mod pages;
pub mod sizeclass;
