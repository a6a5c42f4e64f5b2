//! Hooks: the few facts from inside the heap that the stress oracle
//! (`crates/gomem-stress`, unpublished) needs and the public API does not
//! give. Everything here is `#[doc(hidden)]`: it is not part of gomem's
//! API, carries no stability promise, and exists only so that the oracle
//! can live in its own crate instead of being compiled into every user's
//! build.
//!
//! Keep this file small. A hook belongs here only if the oracle cannot do
//! its job through the public API, and only if it is safe to call with any
//! argument from safe code: no hook hands out a raw object, a span, an
//! arena or anything whose methods assume the collector's ownership rules
//! (those layers stay private; `tests/ui/internals_are_private.rs`).
//!
//! The hooks:
//!
//! * [`heap_owns`] — whether an address lies in one of a heap's arenas. The
//!   oracle checks every pointer it reads from the heap before following it
//!   (a freed-and-reused or clobbered object can hold anything), so that a
//!   corrupt heap produces a report instead of a crash. Safe to expose: it
//!   only looks the address up in the global arena index (it never reads
//!   the address itself), and it answers a yes/no question about memory the
//!   caller could already observe through `Gc::as_ptr`.

use crate::alloc::arena;
use crate::Heap;

/// Whether `addr` lies in an arena owned by `heap` (module header). Any
/// `addr` is accepted, including null, unmapped and foreign addresses
/// (they give `false`); the address is never dereferenced. It says nothing
/// about whether an object lives at `addr`.
#[doc(hidden)]
#[inline]
pub fn heap_owns(heap: &Heap, addr: usize) -> bool {
    arena::heap_id_of(addr) == heap.inner().mheap.id
}
