//! The cycle: Off → Arm → Mark → Term → Off, driven by a coordinator thread.
//!
//! Each heap has one coordinator thread and mark workers: dedicated ones
//! (Go's 25 % background CPU target: a quarter of the CPUs, at least one)
//! and idle ones, which mark only while the running mutators and the
//! dedicated workers leave a CPU unused (Go's idle mark workers: a program
//! waiting in `collect()` gets every CPU marking). The
//! coordinator never stops a mutator: it changes the GC word and waits for
//! each P to adopt the change at its own next poll, adopting it itself for
//! Ps that are idle (DESIGN.md §4).
//!
//! 1. **Start** of cycle n, once sweep n−1 is complete (every P adopted the
//!    flip, no unswept span and no sweeper left): CAS `Off(n−1) → Arm(n)`,
//!    then take and release every root-shard lock once, so every Root
//!    operation from now on sees the cycle. Triggers: the heap reaching the
//!    pacer's trigger (noticed when an mcache refills), `collect()`, and a
//!    2-minute timer.
//! 2. **Arm → Mark** when every P has adopted Arm(n) (or is idle): CAS the
//!    phase, then scan the roots and let the workers drain.
//!    While marking, the coordinator also watches for every P's stack to
//!    be black for n and publishes it when it is ([`stacks_black`]): from
//!    then on no `&T` lent from a grey stack can exist, and the load
//!    barrier stands down (`Mutator::load_barrier`).
//! 3. **Termination** ([`try_terminate`]), when the roots are scanned and
//!    every P's stack is black for n (or the P is idle): CAS
//!    `{Mark(n), active 0, dirty 0} → Term(n)`; the terminator alone checks
//!    that the queue is empty and that every entry of every P's cycle-n
//!    barrier blocks is marked. If not, it greys what it found and goes back
//!    to Mark; if so, CAS `{Term(n), 0, 0} → Off(n)`: the flip. At the CAS to
//!    Term no object is grey, no published barrier entry is white, every
//!    stack is black and every root scanned, so nothing reachable is white;
//!    afterwards mutators can only log black objects, and a Root or Weak
//!    operation that would grey a white one sets `dirty` first.
//! 4. **Sweep** (Off): lazily in mcentral refills, and here in the
//!    background, span by span; each P sweeps the spans it cached before the
//!    flip when it adopts it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alloc::arena;
use crate::gc::checkmark;
use crate::gc::collector::Collector;
use crate::gc::mark::Drain;
use crate::gc::proc::P;
use crate::gc::state::{GcWord, GcWordCell, Phase};

/// Periodic GC: a cycle at least this often (Go's `forcegcperiod`).
pub const FORCE_GC_PERIOD: Duration = Duration::from_secs(120);
/// How long the coordinator sleeps when it has nothing to do (mutators
/// wake it when they cross the trigger; Go's sysmon also sleeps up to 10 ms).
const IDLE_PARK: Duration = Duration::from_millis(10);
/// How long it sleeps while waiting for Ps to adopt a phase.
const HANDSHAKE_PARK: Duration = Duration::from_micros(20);
/// How long a mark worker sleeps outside Mark when nobody wakes it.
const WORKER_IDLE_PARK: Duration = Duration::from_millis(50);
/// How long it sleeps during Mark when the global queue is empty.
const WORKER_EMPTY_QUEUE_PARK: Duration = Duration::from_micros(200);
/// Scan work a background drainer does between postings of assist credit
/// (about a quarter of a millisecond of marking).
const CREDIT_CHUNK_BYTES: u64 = 256 << 10;
/// How long an idle mark worker sleeps when no CPU is free for it.
const IDLE_WORKER_RECHECK: Duration = Duration::from_millis(2);
/// Spans the background sweeper sweeps between checks.
const SWEEP_BATCH: usize = 64;

/// Starts a heap's collector threads: the coordinator and the mark workers
/// (module header).
pub(crate) fn start_threads(heap: &Arc<Collector>) {
    let mut threads = heap.control.threads.lock();
    let coordinator = {
        let heap = heap.clone();
        std::thread::Builder::new()
            .name("gomem-gc".into())
            .spawn(move || fatal_on_panic("the collector thread", || coordinator(heap)))
            .expect("gomem: cannot spawn the collector thread")
    };
    heap.control
        .coordinator
        .set(coordinator.thread().clone())
        .expect("coordinator set once");
    threads.push(coordinator);
    let cpus = super::collector::cpus();
    let dedicated = dedicated_workers(cpus);
    for i in 0..cpus.max(dedicated) {
        let h = heap.clone();
        let role = if i < dedicated {
            Role::Dedicated
        } else {
            Role::Idle { cpus, dedicated }
        };
        let t = std::thread::Builder::new()
            .name(format!("gomem-mark-{i}"))
            .spawn(move || fatal_on_panic("a mark worker", || worker(h, role)))
            .expect("gomem: cannot spawn a mark worker");
        heap.control.workers.lock().push(t.thread().clone());
        threads.push(t);
    }
}

/// Runs a collector thread's loop; a panic there is a collector bug that
/// would leave every `collect` waiting forever, so it aborts the process
/// with the panic's message instead (a test then fails, it does not hang).
fn fatal_on_panic(who: &str, f: impl FnOnce()) {
    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        super::fatal(&format!("gomem: fatal: {who} panicked: {msg}"));
    }
}

/// The coordinator thread's main loop.
pub(crate) fn coordinator(heap: Arc<Collector>) {
    let mut last_cycle_end = Instant::now();
    while !heap.control.shutdown.load(Ordering::Acquire) {
        let w = heap.gc_word().word();
        match w.phase() {
            Phase::Off => {
                if !sweep_step(&heap, w) {
                    continue;
                }
                heap.note_swept(w.cycle());
                heap.idle_duties();
                if heap.wants_cycle(w.cycle(), last_cycle_end.elapsed() >= FORCE_GC_PERIOD) {
                    start_cycle(&heap, w.cycle() + 1);
                } else {
                    std::thread::park_timeout(IDLE_PARK);
                }
            }
            Phase::Arm => {
                if all_armed(&heap, w.cycle()) && enter_mark(&heap, w.cycle()) {
                    scan_roots(&heap, w.cycle());
                    heap.wake_workers();
                } else {
                    std::thread::park_timeout(HANDSHAKE_PARK);
                }
            }
            Phase::Mark => {
                note_stacks_black(&heap, w.cycle());
                if try_terminate(&heap, w.cycle()) {
                    heap.on_flip(w.cycle());
                    last_cycle_end = Instant::now();
                } else if heap.control.idle_marking.load(Ordering::Relaxed) == 0 {
                    help_mark(&heap, w.cycle());
                    std::thread::park_timeout(HANDSHAKE_PARK);
                } else {
                    // Idle workers mark on every CPU the mutators and the
                    // dedicated workers leave free: marking here too would
                    // only oversubscribe the CPUs. Their end of work wakes
                    // this thread for termination.
                    std::thread::park_timeout(WORKER_EMPTY_QUEUE_PARK);
                }
            }
            Phase::Term => std::thread::yield_now(),
        }
    }
}

/// Dedicated mark workers: a quarter of the CPUs, at least one (Go's 25 %
/// background target; the pacer plans with the same share).
pub(crate) fn dedicated_workers(cpus: usize) -> usize {
    (cpus / 4).max(1)
}

/// Whether `marking` idle workers fit on `cpus` CPUs beside `running`
/// mutators (Ps not idle) and the `dedicated` workers: idle workers only
/// ever take a CPU nobody else wants.
fn idle_workers_fit(cpus: usize, running: usize, dedicated: usize, marking: usize) -> bool {
    running + dedicated + marking <= cpus
}

/// What a mark worker is for.
#[derive(Clone, Copy)]
enum Role {
    /// Marks whenever there is grey work (Go's dedicated workers).
    Dedicated,
    /// Marks only while a CPU is left over by the running mutators and the
    /// dedicated workers (Go's idle-priority workers: a mutator blocked in
    /// `collect()` or in `blocking` lends its CPU to marking; a busy one is
    /// not slowed beyond the 25 %).
    Idle { cpus: usize, dedicated: usize },
}

impl Role {
    /// Whether this worker may mark now. An idle worker that may counts
    /// itself in `idle_marking` until [`Role::stop`].
    fn may_mark(self, heap: &Collector) -> bool {
        let Role::Idle { cpus, dedicated } = self else {
            return true;
        };
        let marking = heap.control.idle_marking.fetch_add(1, Ordering::AcqRel) + 1;
        if idle_workers_fit(cpus, heap.running_ps(), dedicated, marking) {
            return true;
        }
        heap.control.idle_marking.fetch_sub(1, Ordering::AcqRel);
        false
    }

    /// Whether an idle worker that is marking must give its CPU back (a
    /// mutator started running).
    fn must_yield(self, heap: &Collector) -> bool {
        let Role::Idle { cpus, dedicated } = self else {
            return false;
        };
        let marking = heap.control.idle_marking.load(Ordering::Acquire);
        !idle_workers_fit(cpus, heap.running_ps(), dedicated, marking)
    }

    fn stop(self, heap: &Collector) {
        if let Role::Idle { .. } = self {
            heap.control.idle_marking.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A background mark worker's main loop.
fn worker(heap: Arc<Collector>, role: Role) {
    let mut drain = Drain::new(&heap.mark);
    while !heap.control.shutdown.load(Ordering::Acquire) {
        let w = heap.gc_word().word();
        if w.phase() != Phase::Mark {
            // Entering Mark (and going back to it from Term) unparks the
            // workers, so an idle heap's workers sleep instead of polling;
            // the timeout is only a safety net.
            std::thread::park_timeout(WORKER_IDLE_PARK);
            continue;
        }
        if heap.mark.queue_is_empty() {
            // Marking, but no grey object queued yet: agents spill work to
            // the queue without waking anyone, so look again soon.
            std::thread::park_timeout(WORKER_EMPTY_QUEUE_PARK);
            continue;
        }
        if !role.may_mark(&heap) {
            // Every CPU is busy: look again much later (a worker waking
            // every 200 µs beside busy mutators cost binary-trees 8 %).
            std::thread::park_timeout(IDLE_WORKER_RECHECK);
            continue;
        }
        if heap.gc_word().register(w.cycle()).is_err() {
            role.stop(&heap);
            continue;
        }
        let start = Instant::now();
        // In chunks, so that assists see the credit as it is earned (and
        // an idle worker sees a mutator come back).
        loop {
            let scanned = drain.run(CREDIT_CHUNK_BYTES);
            heap.mark.post_credit(scanned);
            if scanned < CREDIT_CHUNK_BYTES || role.must_yield(&heap) {
                break;
            }
        }
        drain.flush();
        heap.gc_word().deregister();
        role.stop(&heap);
        heap.stats.record_worker(start.elapsed());
        heap.wake_collector();
    }
}

/// Lets the coordinator drain a little itself (keeps marking going on a
/// machine where the worker threads are not scheduled).
fn help_mark(heap: &Collector, n: u32) {
    if heap.mark.queue_is_empty() || heap.gc_word().register(n).is_err() {
        return;
    }
    let start = Instant::now();
    {
        let mut drain = Drain::new(&heap.mark);
        heap.mark.post_credit(drain.run(CREDIT_CHUNK_BYTES));
    }
    heap.gc_word().deregister();
    heap.stats.record_worker(start.elapsed());
}

/// Calls `f` for each P; idle Ps are held by the collector during `f`.
/// Returns false as soon as `f` does.
fn for_each_p(heap: &Collector, mut f: impl FnMut(&P, bool) -> bool) -> bool {
    let ps = heap.all_ps();
    for p in ps {
        // SAFETY: Ps live as long as their heap.
        let p = unsafe { p.as_ref() };
        if p.try_acquire_idle() {
            let ok = f(p, true);
            p.release_idle();
            if !ok {
                return false;
            }
        } else if !f(p, false) {
            return false;
        }
    }
    true
}

/// Whether every P has adopted Arm(n) (adopting it for idle Ps on the way).
fn all_armed(heap: &Collector, n: u32) -> bool {
    let w = heap.gc_word().word();
    for_each_p(heap, |p, held| {
        if held {
            p.adopt(heap, w, true);
        }
        let a = p.adopted_word();
        a.cycle() == n && a.phase() != Phase::Off
    })
}

/// One step of background sweeping in Off(n). Returns true once sweep n is
/// complete.
fn sweep_step(heap: &Collector, w: GcWord) -> bool {
    let n = w.cycle();
    if heap.swept_cycle() == n {
        return true;
    }
    let flip_adopted = for_each_p(heap, |p, held| {
        if held {
            p.adopt(heap, w, true);
        }
        let a = p.adopted_word();
        a.phase() == Phase::Off && a.cycle() == n
    });
    let centrals = &heap.centrals;
    let sg = w.sweepgen();
    let mut swept = 0;
    centrals.sweepers.fetch_add(1, Ordering::SeqCst);
    'outer: for central in centrals.iter() {
        while central.sweep_one(heap, sg) {
            swept += 1;
            if swept >= SWEEP_BATCH {
                break 'outer;
            }
        }
    }
    centrals.sweepers.fetch_sub(1, Ordering::SeqCst);
    if swept > 0 || !flip_adopted {
        if !flip_adopted && swept == 0 {
            std::thread::park_timeout(HANDSHAKE_PARK);
        }
        return false;
    }
    let unswept: usize = centrals.iter().map(|c| c.unswept_len(sg)).sum();
    unswept == 0 && centrals.sweepers.load(Ordering::SeqCst) == 0
}

/// Called by a mutator after its heap grew (a refill, a large object):
/// starts the next cycle itself when the trigger is crossed and the
/// previous sweep is done.
pub(crate) fn maybe_start(heap: &Collector) {
    if !heap.pacer.cycle_wanted() {
        return;
    }
    let w = heap.gc_word().word();
    if w.phase() == Phase::Off
        && !heap.pacer.limiting()
        && heap.pacer.trigger_crossed(&heap.mheap)
        && heap.swept_cycle() == w.cycle()
    {
        start_cycle(heap, w.cycle() + 1);
    }
}

/// CAS `Off(n−1) → Arm(n)` and make Root operations see it.
///
/// Called by the coordinator, or by a mutator whose allocation crossed the
/// trigger (as a Go goroutine calls `gcStart` itself), so that a busy or
/// descheduled coordinator never lets the heap run past its trigger. The
/// start lock makes one of them do it; sweep n−1 must be complete.
pub(crate) fn start_cycle(heap: &Collector, n: u32) -> bool {
    let Some(_guard) = heap.control.start_lock.try_lock() else {
        return false;
    };
    let from = GcWord::new(Phase::Off, n - 1);
    if heap.gc_word().word() != from || heap.swept_cycle() != n - 1 {
        return false;
    }
    if heap.config.checkmark_value() {
        super::checkmark::no_mark_survives(&heap.mheap, n);
    }
    heap.mark.reset_counters();
    heap.on_cycle_start(n);
    let started = heap.gc_word().transition(from, GcWord::new(Phase::Arm, n));
    if started {
        heap.roots.sync_all();
        heap.wake_collector();
    }
    started
}

/// CAS the phase from Arm(n) to Mark(n), keeping agents and dirty.
fn enter_mark(heap: &Collector, n: u32) -> bool {
    let cell = heap.gc_word();
    let mut cur = cell.word();
    loop {
        if cur.phase() != Phase::Arm || cur.cycle() != n {
            return false;
        }
        if cell.transition(cur, cur.with_phase(Phase::Mark)) {
            heap.note_mark_start();
            return true;
        }
        cur = cell.word();
    }
}

/// Scans the root table (as a registered agent).
fn scan_roots(heap: &Collector, n: u32) {
    if heap.gc_word().register(n).is_err() {
        return;
    }
    {
        let mut drain = Drain::new(&heap.mark);
        heap.roots.for_each(|t| {
            drain.shade(t);
        });
    }
    heap.gc_word().deregister();
    heap.control.roots_done.store(n, Ordering::Release);
}

/// Whether `addr`'s object is marked.
fn is_marked(addr: usize) -> bool {
    let s = arena::span_of(addr);
    // SAFETY: barrier entries are objects of this heap; spans outlive them.
    let span = unsafe { &*s };
    span.is_marked(span.find_object(addr).0)
}

/// Whether every P's stack is black for cycle n (adopting `w` for idle
/// Ps on the way, which turns theirs black: an idle P holds no `Gc`). When
/// so, publishes it for the load barrier, which then stands down: a `&T`
/// lent from a stack dies before that stack's safepoint (the borrow
/// checker), so once every stack has passed one, no lent `&T` can lead to
/// an object that only a grey stack holds. A P attached later starts with
/// nothing, so the publication stays true for the rest of the cycle, even
/// though termination must still wait for that P's first safepoint.
fn stacks_black(heap: &Collector, w: GcWord, n: u32) -> bool {
    let all = for_each_p(heap, |p, held| {
        if held {
            p.adopt(heap, w, true);
        }
        p.stack_black_cycle.load(Ordering::Acquire) == n
    });
    if all {
        // Release: a P that reads n has every stack's turn to black (each
        // read above with Acquire) happen before its next loads.
        heap.control.stacks_black_cycle.store(n, Ordering::Release);
    }
    all
}

/// Checks, until it holds, whether every stack is black for cycle n
/// ([`stacks_black`]), so that the load barrier stands down while the
/// queue is still busy, not only when termination is tried.
fn note_stacks_black(heap: &Collector, n: u32) {
    if heap.control.stacks_black_cycle.load(Ordering::Relaxed) != n
        && heap.control.roots_done.load(Ordering::Acquire) == n
    {
        stacks_black(heap, heap.gc_word().word(), n);
    }
}

/// The termination protocol (module header). Returns true after the flip.
pub(crate) fn try_terminate(heap: &Collector, n: u32) -> bool {
    if heap.control.roots_done.load(Ordering::Acquire) != n || !heap.mark.queue_is_empty() {
        return false;
    }
    let w = heap.gc_word().word();
    if w.active() == 0 {
        heap.note_mark_drained();
    }
    if !stacks_black(heap, w, n) {
        return false;
    }
    let cell = heap.gc_word();
    if !cell.transition(GcWord::new(Phase::Mark, n), GcWord::new(Phase::Term, n)) {
        return false;
    }
    let term_start = Instant::now();
    let mut found = !heap.mark.queue_is_empty();
    {
        let mut drain = Drain::new(&heap.mark);
        for p in heap.all_ps() {
            // SAFETY: Ps live as long as their heap.
            let p = unsafe { p.as_ref() };
            p.wb.for_each(n, |v| {
                if !is_marked(v) {
                    drain.shade(v);
                    found = true;
                }
            });
        }
    }
    if !found
        && heap.config.checkmark_value()
        && !checkmark::verify(&heap.roots, heap.gc_word(), &heap.stats, n)
    {
        back_to_mark(heap, n);
        return false;
    }
    if !found {
        heap.note_term(term_start.elapsed());
        if cell.transition(GcWord::new(Phase::Term, n), GcWord::new(Phase::Off, n)) {
            return true;
        }
    }
    back_to_mark(heap, n);
    false
}

fn back_to_mark(heap: &Collector, n: u32) {
    let cell = heap.gc_word();
    loop {
        let cur = cell.word();
        if cur.phase() != Phase::Term || cur.cycle() != n {
            return;
        }
        if cell.transition(cur, cur.with_phase(Phase::Mark).without_dirty()) {
            heap.wake_workers();
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedicated_workers_are_a_quarter_of_the_cpus_and_at_least_one() {
        let counts: Vec<usize> = [1, 2, 3, 4, 7, 8, 64].map(dedicated_workers).into();
        assert_eq!(counts, [1, 1, 1, 1, 1, 2, 16]);
    }

    #[test]
    fn idle_workers_take_only_the_cpus_left_over() {
        // 2 CPUs, 1 dedicated worker: a running mutator leaves no CPU over.
        assert!(!idle_workers_fit(2, 1, 1, 1));
        // The mutator waits in `collect()` (its P idle): its CPU marks.
        assert!(idle_workers_fit(2, 0, 1, 1));
        assert!(!idle_workers_fit(2, 0, 1, 2));
        // 8 CPUs, 2 dedicated, 3 mutators: three idle workers, not four.
        assert!(idle_workers_fit(8, 3, 2, 3));
        assert!(!idle_workers_fit(8, 3, 2, 4));
        // Oversubscribed by mutators alone: none.
        assert!(!idle_workers_fit(4, 6, 1, 1));
    }
}
