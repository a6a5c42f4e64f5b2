//! What a run did and found: [`StressReport`], its one-line progress form and
//! its full printed form.
//!
//! Besides the graph figures, it counts the hostile programs of module
//! `hostile` (helper threads lent a `&Node`, Drops that found a Mutator and
//! the attempts gomem refused, second attaches refused), the yields
//! injected by module `starve`, and the VM API operations: value slots and
//! maps (module `vslot`), value stacks (`vstack`) and the weak set of keys
//! (`keys`).
//!
//! A report is a snapshot: `Shared::report` (module `shared`) fills it from
//! the live counters, the failure list and the heap's GC summary, both for
//! progress callbacks during a run and for the final report, to which
//! `teardown` adds the leak figures and the notes. A report holds no heap
//! handle, so it outlives the heap.

use std::fmt;
use std::time::Duration;

/// What a run did and found.
#[derive(Debug, Clone, Default)]
pub struct StressReport {
    /// Wall time.
    pub elapsed: Duration,
    /// Mutator threads.
    pub threads: usize,
    /// The seed.
    pub seed: u64,
    /// Completed GC cycles.
    pub cycles: u32,
    /// Of which forced by `collect()`.
    pub forced_cycles: u32,
    /// Objects checkmark mode verified (0 when it is off).
    pub checkmarked: u64,
    /// Operations run.
    pub ops: u64,
    /// Heap objects allocated (nodes, payloads, tags, garbage).
    pub allocated: u64,
    /// Object reads whose canary, payload and tag were checked.
    pub verified_reads: u64,
    /// Full heap-against-model verifications.
    pub verifications: u64,
    /// Largest graph (objects reachable from the roots) seen by one.
    pub max_reachable: usize,
    /// Pointer stores that linked an object into the graph.
    pub links: u64,
    /// Stores that cleared a slot.
    pub unlinks: u64,
    /// Pointers moved through the stack.
    pub moves: u64,
    /// Weak upgrades that succeeded.
    pub weak_upgrades: u64,
    /// Weak upgrades that found the target gone.
    pub weak_cleared: u64,
    /// Objects linked back into the graph through a successful upgrade.
    pub resurrections: u64,
    /// Objects with a Drop allocated.
    pub droppable: u64,
    /// Drops that ran.
    pub drops: u64,
    /// `&Node`s lent to a helper thread with its own Mutator (H2).
    pub lends: u64,
    /// Pointers a helper loaded through a lent `&Node` and stored into the
    /// graph.
    pub lend_stores: u64,
    /// Batches of operations run with the Mutator exposed in a thread-local.
    pub exposed_batches: u64,
    /// Drops that found their thread's Mutator exposed (H1).
    pub exposed_drops: u64,
    /// Attempts from those Drops to reach the heap that gomem refused.
    pub drop_refusals: u64,
    /// Second `attach()`s on a worker's thread that gomem refused (H3).
    pub attach_refusals: u64,
    /// Yields and sleeps injected.
    pub yields: u64,
    /// CPU-hog threads that ran beside the workers.
    pub hogs: usize,
    /// Value words read from value slots and maps, decoded and checked.
    pub value_reads: u64,
    /// Stores into value slots and map entries (and cells' node links).
    pub value_stores: u64,
    /// Pointers moved through the stack out of a value slot.
    pub value_moves: u64,
    /// `HeapMap` sets and removes.
    pub map_ops: u64,
    /// Pointers pushed on value stacks (and usually unlinked from the graph).
    pub stack_pushes: u64,
    /// Values read back from value stacks and checked.
    pub stack_checks: u64,
    /// Of which read back after two or more cycles on the stack.
    pub stack_aged: u64,
    /// `WeakSet::intern` calls.
    pub interns: u64,
    /// Lookups (`intern`, `find`) that found a live key.
    pub intern_hits: u64,
    /// Interns that made a new key.
    pub intern_misses: u64,
    /// Interns under the lock that made a new key for a text the set had
    /// returned another key for (the old one had died).
    pub key_renewals: u64,
    /// Reachable keys the verifier found with `find`, as the same object.
    pub key_finds: u64,
    /// Texts the verifier saw vanish from the set after their keys died.
    pub key_evictions: u64,
    /// Entries left in the weak set after teardown (must be 0).
    pub keys_left: usize,
    /// HeapObjects (from the per-class counts) after the graph was dropped
    /// and two cycles ran, minus the baseline.
    pub objects_left: i64,
    /// HeapAlloc after, minus the baseline.
    pub bytes_left: i64,
    /// Things worth knowing that are not failures.
    pub notes: Vec<String>,
    /// Failures, the first 64 of them.
    pub failures: Vec<String>,
    /// Number of failures.
    pub failure_count: u64,
}

impl StressReport {
    /// Whether the run found nothing wrong.
    pub fn ok(&self) -> bool {
        self.failure_count == 0
    }

    /// One line of figures, for progress output.
    pub fn progress_line(&self) -> String {
        format!(
            "stress: {:>6.1}s  cycles {:>6}  ops {:>11}  objects {:>11}  verified {:>12}  drops {:>10}  lends {:>6}  refused {:>8}  failures {}",
            self.elapsed.as_secs_f64(),
            self.cycles,
            self.ops,
            self.allocated,
            self.verified_reads,
            self.drops,
            self.lends,
            self.drop_refusals + self.attach_refusals,
            self.failure_count
        )
    }
}

impl fmt::Display for StressReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "stress report: {} threads, {:.1} s, seed {}{}",
            self.threads,
            secs,
            self.seed,
            if self.hogs > 0 {
                format!(", {} CPU hogs beside them", self.hogs)
            } else {
                String::new()
            }
        )?;
        writeln!(
            f,
            "  cycles         {:>12}  ({} forced, {:.1}/s)",
            self.cycles,
            self.forced_cycles,
            f64::from(self.cycles) / secs
        )?;
        writeln!(
            f,
            "  operations     {:>12}  ({:.0}/s)",
            self.ops,
            self.ops as f64 / secs
        )?;
        writeln!(
            f,
            "  allocated      {:>12}  ({:.0}/s)",
            self.allocated,
            self.allocated as f64 / secs
        )?;
        writeln!(f, "  verified reads {:>12}", self.verified_reads)?;
        writeln!(
            f,
            "  verifications  {:>12}  (largest graph {} objects)",
            self.verifications, self.max_reachable
        )?;
        writeln!(f, "  checkmarked    {:>12}", self.checkmarked)?;
        writeln!(
            f,
            "  links {}  unlinks {}  moves {}",
            self.links, self.unlinks, self.moves
        )?;
        writeln!(
            f,
            "  weak upgrades {}  cleared {}  resurrections {}",
            self.weak_upgrades, self.weak_cleared, self.resurrections
        )?;
        writeln!(f, "  droppable {}  drops {}", self.droppable, self.drops)?;
        writeln!(
            f,
            "  lent to helper threads {}  (pointers loaded through them and stored {})",
            self.lends, self.lend_stores
        )?;
        writeln!(
            f,
            "  drops that found the Mutator {}  (in {} exposed batches; attempts refused {})",
            self.exposed_drops, self.exposed_batches, self.drop_refusals
        )?;
        writeln!(f, "  second attach() refused {}", self.attach_refusals)?;
        writeln!(f, "  yields injected {}", self.yields)?;
        writeln!(
            f,
            "  value slots: reads {}  stores {}  moves {}  map ops {}",
            self.value_reads, self.value_stores, self.value_moves, self.map_ops
        )?;
        writeln!(
            f,
            "  value stacks: pushes {}  values checked {}  (after >= 2 cycles {})",
            self.stack_pushes, self.stack_checks, self.stack_aged
        )?;
        writeln!(
            f,
            "  weak set: interns {}  hits {}  misses {}  renewals {}  verified finds {}  evictions {}  left {}",
            self.interns,
            self.intern_hits,
            self.intern_misses,
            self.key_renewals,
            self.key_finds,
            self.key_evictions,
            self.keys_left
        )?;
        writeln!(
            f,
            "  left after teardown: {} objects, {} bytes",
            self.objects_left, self.bytes_left
        )?;
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        if self.failure_count == 0 {
            write!(f, "  failures: none")
        } else {
            writeln!(f, "  FAILURES: {}", self.failure_count)?;
            for (i, m) in self.failures.iter().enumerate() {
                writeln!(f, "  [{i}] {m}")?;
            }
            Ok(())
        }
    }
}
