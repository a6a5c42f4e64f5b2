//! gomem: Go's memory manager as a Rust library.
//!
//! Allocation follows Go's path, mutator → P → mcache → mcentral → mheap →
//! OS, with Go's 67 size classes, 8 KiB pages, 64 MiB arenas and the tiny
//! allocator. The collector is Go's: concurrent, tricolor, non-generational,
//! non-moving mark-sweep with the hybrid write barrier, paced by GOGC —
//! except that it never stops the world: every phase change is a ragged
//! handshake that each thread adopts at its own next poll.
//!
//! The API is safe: a [`Gc`] is branded with a shared borrow of its
//! [`Mutator`], and every call where a cycle may finish
//! ([`Mutator::safepoint`], [`Mutator::collect`], [`Mutator::blocking`])
//! takes the Mutator mutably, so no `Gc` can live across one.
//!
//! ```
//! use gomem::{Config, Heap, Member, Trace};
//!
//! #[derive(Trace)]
//! struct Node { left: Member<Node>, right: Member<Node>, value: i64 }
//!
//! let heap = Heap::new(Config::default());
//! let mut m = heap.attach();
//! let root = {
//!     let n = m.alloc(Node { left: Member::null(), right: Member::null(), value: 1 });
//!     let leaf = m.alloc(Node { left: Member::null(), right: Member::null(), value: 2 });
//!     n.left.set(&m, Some(leaf));
//!     m.root(n)
//! };
//! m.safepoint();
//! let n = root.get(&m);
//! assert_eq!(n.left.get(&m).unwrap().value, 2);
//! ```
//!
//! For language VMs: [`Value`] (a number, bool, nil or pointer in one
//! word), [`ValueSlot`] (a value field in a heap object), [`ValueStack`] (an
//! operand stack written with plain stores and scanned at safepoints, as Go
//! scans goroutine stacks), [`WeakSet`] (weak interning, Go's
//! `unique.Make`) and [`HeapMap`] (a hash map in the heap). Plain std types
//! (`Box<[u8]>`, `Vec<String>`, `HashMap<String, u64>`, `Arc<str>`,
//! `Mutex<u64>`, ...) are ordinary fields of heap objects.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

extern crate self as gomem;

pub mod alloc;
pub mod config;
pub mod gc;
pub mod heap;
mod heapmap;
pub mod mutator;
pub mod ptr;
pub mod slice;
mod stack;
pub mod stats;
#[doc(hidden)]
pub mod stress;
pub mod trace;
mod value;
mod weakset;

pub use alloc::AllocError;
pub use alloc::OsError;
pub use config::{Config, ConfigError};
pub use gc::state::Phase;
pub use gomem_derive::Trace;
pub use heap::Heap;
pub use heapmap::HeapMap;
pub use mutator::{Mutator, ObjectKind};
pub use ptr::{Gc, Member, Root, Weak};
pub use slice::{Slice, Vector};
pub use stack::ValueStack;
pub use stats::{CycleRecord, GcSummary, MemStats, SizeClassStats};
pub use trace::{Trace, Tracer};
pub use value::{Value, ValueSlot};
pub use weakset::WeakSet;
