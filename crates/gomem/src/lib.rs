//! gomem: Go's memory manager as a Rust library.
//!
//! Allocation follows Go's path, mutator → P → mcache → mcentral → mheap →
//! OS, with Go's 67 size classes, 8 KiB pages, 64 MiB arenas and the tiny
//! allocator; the collector (a concurrent tricolor mark-sweep with Go's
//! hybrid write barrier, paced by GOGC and GOMEMLIMIT) is described in
//! `DESIGN.md` and lands on top of this allocator.
//!
//! ```
//! use gomem::{Config, Heap, ObjectKind};
//! let heap = Heap::new(Config::default());
//! let mut p = heap.raw_allocator();
//! let obj = p.alloc(48, ObjectKind::Noscan).unwrap();
//! assert_eq!(obj.as_ptr() as usize % 16, 0);
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod alloc;
pub mod config;
pub mod gc;
pub mod heap;
pub mod trace;

pub use alloc::mheap::AllocError;
pub use alloc::os::OsError;
pub use config::Config;
pub use heap::{Heap, ObjectKind, RawAllocator};
