//! The end of a run, after the workers have been joined.
//!
//! **After a failure** the heap is corrupt: running the Drops of its objects
//! at teardown could crash and lose the report. The heap is leaked instead
//! — its handles, the graph's roots, the weak set, and the model's `Root`s
//! and `Weak`s — and the teardown checks are skipped.
//!
//! **Otherwise** the graph is verified a last time, then dropped (root
//! slots cleared, vector emptied, extra roots and weaks released, model
//! emptied), and two `collect()`s run from a mutator that holds nothing.
//! Then: the live objects and heap bytes must be back at the baseline
//! (within [`OBJECT_TOLERANCE`] and [`BYTES_TOLERANCE`]); every droppable
//! object must have been dropped, exactly once (the drop ledger of module
//! `canary`), both before and after the heap itself is dropped; no drop
//! may have been bad; and the weak set of keys must be empty (every key
//! died, so every entry must have been purged).

use std::sync::atomic::Ordering;

use gomem::{Heap, MemStats, Member, Root, Slice, Vector, WeakSet};

use crate::graph::Node;
use crate::model::lock_model;
use crate::oracle::Oracle;
use crate::report::StressReport;
use crate::shared::{Counter, Shared};
use crate::values::Obj;

/// Live objects (outside the tiny allocator's sub-allocations) the heap may
/// still count after the graph is dropped and two cycles have run. Zero:
/// both cycles start after every mutator but the checking one has detached
/// (their Ps released their spans and published their counts) and the
/// checking one holds no object, so every object of the run is unmarked in
/// the first cycle and swept before `collect()` returns. A residue is a leak
/// (or counts that were never published).
pub const OBJECT_TOLERANCE: u64 = 0;
/// Heap bytes (Go's HeapAlloc) that may remain, for the same reason zero.
pub const BYTES_TOLERANCE: u64 = 0;

/// Live objects from the per-class counts (the tiny allocator's
/// sub-allocations left out: they are freed with their block).
fn class_objects(s: &MemStats) -> u64 {
    s.by_size
        .iter()
        .map(|c| c.mallocs.saturating_sub(c.frees))
        .sum()
}

/// Ends the run (module header) and returns its report.
pub(crate) fn finish(
    shared: &Shared,
    heap: Heap,
    root_array: Root<Slice<Member<Node>>>,
    vector: Root<Vector<Node>>,
    keys: WeakSet<Obj>,
    baseline: &MemStats,
) -> StressReport {
    if shared.failure_count() > 0 {
        std::mem::forget(keys);
        let mut model = lock_model(&shared.model);
        std::mem::forget(std::mem::take(&mut model.extra_roots));
        std::mem::forget(std::mem::take(&mut model.weaks));
        drop(model);
        std::mem::forget(root_array);
        std::mem::forget(vector);
        let mut report = shared.report(&heap);
        std::mem::forget(heap);
        report.notes.push(
            "the run failed: the heap was leaked, not torn down, and the teardown checks were skipped"
                .into(),
        );
        return report;
    }

    // Final verification, then drop the graph.
    let mut m = heap.attach();
    {
        let oracle = Oracle {
            shared,
            heap: &heap,
            root_array: &root_array,
            vector: &vector,
            keys: &keys,
        };
        let mut model = lock_model(&shared.model);
        oracle.verify(&m, &mut model, "final");
        for (i, s) in root_array.get(&m).iter().enumerate() {
            s.set(&m, None);
            model.root_slots[i] = None;
        }
        let v = vector.get(&m);
        while !v.is_empty() {
            v.pop(&m);
        }
        model.vector.clear();
        model.extra_roots.clear();
        model.weaks.clear();
        model.nodes.clear();
        model.tags.clear();
        model.objs.clear();
        model.in_flight.iter_mut().for_each(Vec::clear);
        model.on_stack.iter_mut().for_each(Vec::clear);
    }
    drop(root_array);
    drop(vector);
    m.collect();
    m.collect();
    let after = heap.stats();
    let keys_left = keys.len();
    drop(keys);
    let mut report = shared.report(&heap);
    report.keys_left = keys_left;
    let objects_left = class_objects(&after) as i64 - class_objects(baseline) as i64;
    let bytes_left = after.heap_alloc as i64 - baseline.heap_alloc as i64;
    report.objects_left = objects_left;
    report.bytes_left = bytes_left;
    let fail = |msg: String| shared.record(format!("[teardown] {msg}"));
    if objects_left > OBJECT_TOLERANCE as i64 || bytes_left > BYTES_TOLERANCE as i64 {
        fail(format!(
            "after the graph was dropped and two collect()s ran, {objects_left} objects ({bytes_left} bytes) are still allocated (baseline {} objects, {} bytes); per class (size, mallocs, frees): {:?}",
            class_objects(baseline),
            baseline.heap_alloc,
            after
                .by_size
                .iter()
                .filter(|c| c.mallocs != c.frees)
                .map(|c| (c.size, c.mallocs, c.frees))
                .collect::<Vec<_>>()
        ));
    }
    if keys_left > 0 {
        fail(format!(
            "after the graph was dropped and two collect()s ran, the weak set still has {keys_left} entries"
        ));
    }
    let mut notes = Vec::new();
    let raw = after.heap_objects as i64 - baseline.heap_objects as i64;
    if raw != objects_left {
        notes.push(format!(
            "MemStats.HeapObjects is {raw} above its baseline where the per-class counts say {objects_left}: it counts the tiny allocator's sub-allocations in Mallocs ({} of them) but never in Frees (Go counts them in both)",
            after.mallocs - after.by_size.iter().map(|c| c.mallocs).sum::<u64>()
        ));
    }
    let droppable = shared.get(Counter::Droppable);
    let drops = shared.ledger.drops.load(Ordering::SeqCst);
    if drops != droppable {
        fail(format!(
            "after two collect()s with nothing reachable, {drops} of {droppable} droppable objects were dropped"
        ));
    }
    drop(m);
    drop(heap);
    let drops = shared.ledger.drops.load(Ordering::SeqCst);
    if drops != droppable {
        fail(format!(
            "after the heap was dropped, {drops} drops ran for {droppable} droppable objects"
        ));
    }
    let bad = shared.ledger.bad.load(Ordering::SeqCst);
    if bad > 0 {
        fail(format!(
            "{bad} bad drops; the first: {}",
            shared.ledger.first_bad()
        ));
    }
    report.drops = drops;
    report.notes = notes;
    report.elapsed = shared.start.elapsed();
    report.failures = shared.failures();
    report.failure_count = shared.failure_count();
    report
}
