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
//!
//! # Why the safe API is sound
//!
//! The collector frees nothing a mutator could still hold, by any route
//! Rust allows. The argument, in DESIGN §4's terms:
//!
//! * **Its own stack.** A `Gc` borrows its `Mutator` shared; `safepoint`,
//!   `collect`, `blocking` and `detach` take it mutably, so no `Gc` (nor
//!   any `&T` derived from one) survives the point where the stack turns
//!   black. Before that point the stack is grey and the barrier's insertion
//!   half logs every pointer it stores; the deletion half logs every pointer
//!   it overwrites.
//! * **Another thread's stack.** A `Gc` is neither `Send` nor `Sync`, but
//!   `&T` of a `T: Sync` object can be lent to another thread
//!   (`std::thread::scope`), whose own Mutator may load a `Member` through
//!   it. If that Mutator's stack is already black, the object it loads may
//!   be reachable only from the lender's grey stack; Go's goroutines cannot
//!   do this, so the hybrid barrier alone does not cover it. gomem adds a
//!   **load barrier**: while a P's stack is black in a marking cycle, every
//!   pointer it loads that is not marked is logged in its barrier buffer,
//!   which the terminator checks like any barrier entry. It stands down
//!   once the collector has seen every stack black: a lent `&T` dies
//!   before its lender's safepoint, so none is left to load through. A heap that has
//!   only ever had one P skips it: no two of its Mutators ever coexisted,
//!   so nothing can have been lent (the second P is counted before its
//!   Mutator exists, and the lending itself orders that count before the
//!   receiver's load). (A lender cannot
//!   pass a safepoint while its `&T` is out, so the cycle cannot end with
//!   the lender's stack grey either.) Every other way into a black stack
//!   already shades: allocation is black, `Root::get` returns a scanned
//!   root, `Weak::upgrade` shades while marking.
//! * **Two Mutators of one heap on one thread** would be the same transfer
//!   without a thread (and `collect` through one would wait forever for the
//!   other): `attach` panics if the thread already holds one.
//! * **Code run by the collector.** A `Drop` runs while its P sweeps; it may
//!   find a Mutator through a `thread_local!`. Every entry point that reads
//!   or writes the heap through a Mutator (`Member`, `Root`, `Weak`,
//!   `Vector`, `alloc`, `root`, `weak`, and the VM API: `ValueSlot`,
//!   `ValueStack`, `WeakSet`, `HeapMap`) panics while that Mutator's P is
//!   sweeping or assisting, and `attach` panics inside a Drop.
//! * **The VM API** follows the same rules: `ValueSlot` and `HeapMap` loads
//!   go through the load barrier and their stores through the hybrid
//!   barrier; a `ValueStack` is part of its mutator's stack, scanned when
//!   that stack turns black (`stack.rs` has the argument); a `WeakSet`
//!   lookup shades what it returns while a cycle runs, as `Weak::upgrade`
//!   does (`weakset.rs`).
//! * **Sizes** are checked before they reach the allocator; an impossible
//!   one is an `AllocError`, never a wrapped size.
//!
//! What it costs: the busy check and the load barrier's test are one load of
//! an owner-only flag each on `Member::get`/`set`; the load barrier's work
//! (a span lookup and a mark-bit test per load) is paid only by black Ps
//! during Mark (`benches/barrier.rs`, `benches/mark.rs`). Each hole has its
//! reproducer in `tests/hostile.rs`; each half of the protocol its
//! deterministic test in `tests/phases.rs`.
//!
//! # Module map
//!
//! The imports form a stack; each layer uses only the layers below it, with
//! one loop kept on purpose in the API (a `Gc` is branded with its
//! `Mutator`). Bottom to top:
//!
//! | Layer | Files | Owns |
//! |-------|-------|------|
//! | leaves | `config.rs`, `stats.rs`, `gc/state.rs` | knobs, counters and histograms, the GC word |
//! | types | `trace.rs` | the `Trace` trait, type descriptors, layouts |
//! | allocator | `alloc/`: `sizeclass`, `os`, `arena`, `pages`, `span`, `mheap`, `central`, `cache` | Go's tables; address space; the arena map; free page runs; spans with their alloc bits, mark bytes and heap bits; pages → spans; the mcentrals (lazy sweeping through the `Sweeper` trait); the per-P mcache |
//! | collector | `gc/`: `mark`, `roots`, `weak`, `sweep`, `barrier`, `pacer`, `scavenge`, `checkmark`, `proc`, `collector`, `cycle` | greying and draining; the root table; weak pointers and their upgrade; sweeping a span; the write barrier's buffer and slow path; goal, trigger, assists and CPU limiter; returning pages to the OS; checkmark; the P and phase adoption; one heap's shared state and the `Heap` handle; the coordinator and mark workers |
//! | API | `mutator.rs`, `ptr.rs`, `slice.rs`, `value.rs`, `stack.rs`, `weakset.rs`, `heapmap.rs` | `Mutator` (allocation, polls, the barrier's fast path); `Gc`, `Member`, `Root`, `Weak`; `Slice`, `Vector`; the VM API: `Value`, `ValueSlot`, `ValueStack`, `WeakSet`, `HeapMap` |
//! | handle | `heap.rs` | the public methods of [`Heap`] |
//!
//! **Where the design departs from DESIGN.md.** DESIGN speaks of a span's
//! *mark bits*. A mark is a byte per object instead (`alloc/span.rs`
//! explains why): setting a bit shared with 63 other objects needs a locked
//! instruction, which is also a full fence, and that fence per object cost
//! binary-trees 4–7 % of its CPU. Sweeping still turns the marks into alloc
//! bits, 64 at a time.
//!
//! `alloc/` imports nothing from `gc/`: the collector reaches down through
//! the traits it implements (`alloc::central::Sweeper`,
//! `alloc::cache::HeapGrowth`). A cycle's walk from the coordinator stays in
//! `gc/`, calling down into `alloc/`. Every module is private: the public
//! types are re-exported here, one path each.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

extern crate self as gomem;

mod alloc;
mod config;
mod gc;
mod heap;
mod heapmap;
#[doc(hidden)]
pub mod hooks;
mod mutator;
mod ptr;
mod slice;
mod stack;
mod stats;
mod trace;
mod value;
mod weakset;

pub use alloc::mheap::AllocError;
pub use alloc::os::{rss_bytes, OsError};
pub use config::{Config, ConfigError};
pub use gc::collector::Heap;
pub use gc::state::Phase;
pub use gomem_derive::Trace;
pub use heapmap::HeapMap;
pub use mutator::{Mutator, ObjectKind};
pub use ptr::{Gc, Member, Root, Weak};
pub use slice::{Slice, Vector};
pub use stack::ValueStack;
pub use stats::{CycleRecord, GcSummary, MemStats, SizeClassStats};
pub use trace::{Trace, Tracer};
pub use value::{Value, ValueSlot};
pub use weakset::WeakSet;

/// What `#[derive(Trace)]` expands to. Not part of the stable API.
#[doc(hidden)]
pub mod __derive {
    pub use crate::trace::{__fold_words, __words_if_plain, MAX_BITMAP_BYTES};
}

/// Internals that gomem's own tests, benchmarks and tools drive directly
/// (plain data and pure functions: nothing here touches heap memory). Not
/// part of the stable API.
#[doc(hidden)]
pub mod internals {
    pub use crate::alloc::pages::PageAlloc;
    pub use crate::alloc::sizeclass::table_tsv;
    pub use crate::config::{parse_gogc, parse_memory_limit};
    pub use crate::gc::panicked_drops;
    pub use crate::gc::state::GcWord;
    pub use crate::trace::{layout_of, Layout};
}
