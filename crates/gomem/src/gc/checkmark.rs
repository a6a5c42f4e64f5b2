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
//!
//! A second check runs at the start of each cycle, before `Off → Arm`: no
//! span in use may still hold a block of mark bytes (`alloc/markpool.rs`).
//! Sweep n−1 is complete by then; it turned every mark into an alloc bit and
//! gave the block back; a mark left over (an object
//! allocated black into a span already swept for the next cycle, say) would
//! make an object black in cycle n before anyone scanned it, and the sweep
//! after n would keep its white children's memory for the wrong reason, or
//! free them while it is reachable. Nobody sets a mark bit in Off (allocate-
//! black is off on every P once the flip is adopted, which sweep completion
//! waits for), so the check is exact.

use std::collections::{HashMap, HashSet};

use std::sync::atomic::AtomicU64;

use crate::alloc::mheap::MHeap;
use crate::gc::mark::{for_each_member_in, live_span_of};
use crate::gc::roots::RootTable;
use crate::gc::state::GcWordCell;
use crate::stats::GcStats;

/// Prints the unmarked object, the path that reached it, and the state of
/// each span on the way, then aborts.
fn report(word: &AtomicU64, n: u32, base: usize, addr: usize, parent: &HashMap<usize, usize>) -> ! {
    let sg = word.word().sweepgen();
    let describe = |b: usize| {
        let span = live_span_of(b);
        let idx = span.find_object(b).0;
        format!(
            "{b:#x} class {} {} marked={} typed={} span sweepgen {} (heap {sg})",
            span.spanclass.size_class(),
            if span.spanclass.noscan() {
                "noscan"
            } else {
                "scan"
            },
            span.is_marked(idx),
            !span.spanclass.noscan() && !span.is_large() && span.is_typed(idx),
            span.sweepgen.load(std::sync::atomic::Ordering::Relaxed),
        )
    };
    let mut report = format!(
        "gomem: checkmark: reachable object {base:#x} (pointer {addr:#x}) was not marked by cycle {n}: {}",
        describe(base)
    );
    let mut cur = parent.get(&base).copied().unwrap_or(0);
    let mut depth = 0;
    while cur != 0 && depth < 8 {
        report.push_str(&format!("\n  reached from {}", describe(cur)));
        cur = parent.get(&cur).copied().unwrap_or(0);
        depth += 1;
    }
    crate::gc::fatal(&report);
}

/// Verifies cycle `n`'s marks (module header), from the roots in `roots`;
/// `word` is the heap's GC word (for the report) and `stats` counts the
/// objects checked. Returns false when a root shard was busy and the check
/// must be retried.
pub(crate) fn verify(roots: &RootTable, word: &AtomicU64, stats: &GcStats, n: u32) -> bool {
    let mut stack = Vec::new();
    if !roots.try_for_each(|t| stack.push(t)) {
        return false;
    }
    // Each object remembers who reached it, to print the path on failure.
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut seen = HashSet::new();
    let mut work: Vec<(usize, usize)> = stack.into_iter().map(|r| (r, 0)).collect();
    while let Some((addr, from)) = work.pop() {
        let span = live_span_of(addr);
        let (idx, base) = span.find_object(addr);
        if !seen.insert(base) {
            continue;
        }
        parent.insert(base, from);
        if !span.is_marked(idx) {
            report(word, n, base, addr, &parent);
        }
        if !span.spanclass.noscan() {
            for_each_member_in(span, base, |v| work.push((v, base)));
        }
    }
    stats
        .checkmarked_objects
        .fetch_add(seen.len() as u64, std::sync::atomic::Ordering::Relaxed);
    true
}

/// Aborts if a span in use still holds mark bytes when cycle `n` is about
/// to start (module header).
pub(crate) fn no_mark_survives(mheap: &MHeap, n: u32) {
    mheap.for_each_span_in_use(|span| {
        if span.holds_marks() {
            let msg = format!(
                "gomem checkmark: before cycle {n}, span {:#x} (class {}, sweepgen {}) still holds mark bytes (first marked slot {:?}): a mark outlived its cycle",
                span.start,
                span.spanclass.size_class(),
                span.sweepgen.load(std::sync::atomic::Ordering::Relaxed),
                span.first_marked(),
            );
            crate::gc::fatal(&msg);
        }
    });
}
