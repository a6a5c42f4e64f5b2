//! Hooks: the few facts from inside the heap that the stress oracle
//! (`crates/gomem-stress`, unpublished) needs and the public API does not
//! give. Everything here is `#[doc(hidden)]`: it is not part of gomem's
//! API, carries no stability promise, and exists only so that the oracle
//! can live in its own crate instead of being compiled into every user's
//! build.
//!
//! Keep this file small. A hook belongs here only if the oracle cannot do
//! its job through the public API, and only if it is sound to call from
//! safe code with any argument safe code can build: no hook hands out a raw
//! object, a span, an arena or anything whose methods assume the collector's
//! ownership rules (those layers stay private;
//! `tests/ui/internals_are_private.rs`).
//!
//! The hooks:
//!
//! * [`heap_owns`] — whether an object lies in one of a heap's arenas. The
//!   oracle checks every pointer it reads from the heap before following it
//!   (if the collector freed a reachable object, its slot may be reused and
//!   hold anything), so that a collector bug produces a report instead of a
//!   crash. It takes a [`Gc`], not a bare address, on purpose: the arena
//!   map's entries point at arena metadata that a heap frees when it is
//!   dropped, so a lookup of an arbitrary address could race with the drop
//!   of whichever heap owns it. A `Gc` borrows a `Mutator`, which holds its
//!   heap, so the heap that owns the address is alive for the whole lookup.
//!   The hook only answers yes or no, about an address the caller already
//!   has (`Gc::as_ptr`).
//! * [`set_refill_hook`] — for gomem's own tests (`tests/phases.rs`): holds
//!   a mutator between its allocation's poll and a refill while the test
//!   drives the collector through a flip (`gc/test_hooks.rs`). It runs only
//!   test code, on the mutator's thread, with no heap lock held; the worst a
//!   misbehaving hook can do is block its own thread, which any code can.

use crate::alloc::arena;
use crate::{Gc, Heap};

/// Whether `gc` points into an arena owned by `heap` (module header): false
/// for an object of another heap. It says nothing more about the object.
#[doc(hidden)]
#[inline]
pub fn heap_owns<T>(heap: &Heap, gc: Gc<'_, T>) -> bool {
    arena::heap_id_of(gc.as_ptr() as usize) == heap.inner().mheap.id
}

/// Sets (or, with `None`, clears) a hook that a mutator of `heap` calls
/// before it refills a span class whose cached span is full, after its
/// allocation's poll (`gc/test_hooks.rs`). For tests that must hold a
/// mutator in that window while the collector moves on; one hook per
/// process.
#[doc(hidden)]
pub fn set_refill_hook(heap: &Heap, hook: Option<std::sync::Arc<dyn Fn() + Send + Sync>>) {
    crate::gc::test_hooks::set_refill_hook(heap.inner().mheap.id, hook);
}
