//! Checkmark mode (Go's `gccheckmark`): an independent check of each mark.
//!
//! When the terminator has proven a cycle's mark complete (Term, nothing
//! grey, every barrier entry marked) and before it flips to Off, checkmark
//! traverses everything reachable from the roots again, with its own visited
//! set instead of the mark bits, and checks that every object it reaches is
//! marked. A reachable object that the concurrent mark missed would be freed
//! by the sweep that follows: the process aborts, naming the object's
//! address, span class and size (Go throws the same way).
//!
//! It does not stop the world either: at this moment every mutator's stack
//! is black and every reachable object is black, so mutators can only store
//! black pointers; whatever the traversal reaches while they run was
//! reachable during Term and so must be marked. Root operations during Term
//! hold their shard lock while they wait for the terminator, so the
//! traversal only *tries* each shard lock; if one is busy it gives up, the
//! cycle goes back to Mark (the root operation set `dirty` anyway) and the
//! check runs again at the next termination.

use std::collections::HashSet;

use crate::gc::mark::{for_each_member_in, live_span_of};
use crate::heap::HeapInner;

/// Verifies cycle `n`'s marks (module header). Returns false when a root
/// shard was busy and the check must be retried.
pub(crate) fn verify(heap: &HeapInner, n: u32) -> bool {
    let mut stack = Vec::new();
    if !heap.roots.try_for_each(|t| stack.push(t)) {
        return false;
    }
    let mut seen = HashSet::new();
    while let Some(addr) = stack.pop() {
        let span = live_span_of(addr);
        let (idx, base) = if span.spanclass.size_class() == 0 {
            (0, span.start)
        } else {
            let idx = span.object_index(addr);
            (idx, span.object_base(idx))
        };
        if !seen.insert(base) {
            continue;
        }
        if !span.is_marked(idx) {
            eprintln!(
                "gomem: checkmark: reachable object {base:#x} (pointer {addr:#x}, span class {} {}, {} B slots) was not marked by cycle {n}",
                span.spanclass.size_class(),
                if span.spanclass.noscan() { "noscan" } else { "scan" },
                span.elemsize
            );
            std::process::abort();
        }
        if !span.spanclass.noscan() {
            for_each_member_in(span, base, |v| stack.push(v));
        }
    }
    heap.stats
        .checkmarked_objects
        .fetch_add(seen.len() as u64, std::sync::atomic::Ordering::Relaxed);
    true
}
