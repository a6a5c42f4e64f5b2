//! The pacer: when to start a cycle, how much assists pay, and the CPU
//! limiter that keeps a heap that cannot fit its limit from spinning.
//!
//! Go's model (the 1.18 pacer, `go-runtime-facts.md` §4):
//!
//! * **GOGC goal**: `live + (live + roots) × GOGC/100`, at least
//!   4 MiB × GOGC/100, where `live` is what the last cycle marked and
//!   `roots` the bytes of root slots (gomem's stand-in for Go's stacks and
//!   globals). GOGC=off: no proportional goal.
//! * **Memory-limit goal** (GOMEMLIMIT): the limit minus memory that is not
//!   heap objects (free-but-resident pages excluded) minus any overage,
//!   minus 3 % headroom (at least 1 MiB), never below the live heap. The
//!   effective goal is the smaller of the two, recomputed whenever the
//!   collector looks.
//!   Objects allocated black during marking count as live, as in Go
//!   (`gcmarknewobject` adds them to the marked bytes), all of them, so
//!   that a GOGC means what it means in Go. Until `a991b50` only the share
//!   expected to survive counted (as much as survived of the heap the
//!   cycle started from): binary-trees 21 then peaked ~18 MiB lower but ran
//!   144 cycles where Go runs 134–138 and this rule 103, its mutator
//!   assisting; counting them all made it ×0.93 wall and ×0.90 CPU, at a
//!   peak RSS level with Go's (gomem 222–254 MiB, Go 216–277 over a day's
//!   runs; AMD EPYC, `BENCHMARKS.md`). gomem's heap peaks below Go's; its
//!   per-object metadata (a mark byte where Go has a bit) makes up the
//!   rest. A mark
//!   phase stretched by a mutator that passes no safepoint (one building a
//!   128 MiB tree) would double a goal on garbage, though, so only black
//!   bytes allocated before the heap passed the goal count: what lies past
//!   it is overshoot — a starved collector, a mutator without safepoints —
//!   and counting it would make the next goal reward the overshoot (a
//!   loaded machine drove binary-trees 21 to 367 MiB so). Every black
//!   byte counts as heap: the heap size restarts from marked + black after
//!   the flip.
//! * **Trigger**: the goal minus the *runway* — the largest heap growth
//!   the last five mark phases would have seen had the collector used only
//!   its background share of the CPU (the growth each saw, scaled by the
//!   odds of the CPU share it really took, assists included, against the
//!   background share: Go's cons/mark, [`runway_for`]) plus 10 % — clamped
//!   to between 80 % and 95 % of the way from the live heap to the goal (or
//!   up to goal − 4 MiB for big heaps). Go's window is 70–95 %; gomem
//!   starts it at 80 % because its mutator allocates about twice as fast
//!   as Go's while marking runs, so a binary-trees mark phase always used
//!   the whole runway Go's floor leaves (30 % of the distance) and ended
//!   at the goal. Since black bytes count as live, that runway came back as
//!   next cycle's live heap (B = 0.3/0.7 of L, the goal 2.86 L where Go's
//!   slower mutator sits near 2.5 L). At 80 %, binary-trees 21 peaks at
//!   218.6 MiB, not 238.6, for CPU ×1.02 and wall ×1.04 (115 cycles, not
//!   103; AMD EPYC, `BENCHMARKS.md`); a 59 % floor went the other way
//!   (264 MiB: the runway it granted was allocated black and counted).
//!   The runway estimate still moves the trigger inside the window. Unscaled, a phase
//!   in which assists slowed the mutator measured a short runway, which made
//!   the next trigger late and the next assists heavier: on binary-trees
//!   the mutator spent most of every mark phase assisting.
//! * **Assists**: during marking, each byte allocated owes
//!   `remaining scan work / remaining heap distance` bytes of scanning, so
//!   marking completes near the goal even when the trigger was late. A P
//!   keeps its debt (`gc/proc.rs`) and pays it here, in [`Pacer::assist`],
//!   every 64 KiB of allocation: first from the background's credit (scan
//!   work the mark workers did and posted, Go's `bgScanCredit`), then by
//!   scanning. While the workers keep up, allocation costs no marking.
//! * **The trigger** lives here too: the mcache reports each refill
//!   (`note_heap_growth`), and the first one that crosses the trigger wakes
//!   the coordinator.
//! * **CPU limiter**: a leaky bucket of 1 CPU-second per CPU, filled with
//!   collector CPU time and drained by the rest; when full (the collector
//!   used more than half the machine for a while), assists are skipped and
//!   heap-triggered cycles wait, so the heap overshoots its limit instead of
//!   the program grinding to a halt in back-to-back cycles.
//!
//! The arithmetic is in pure functions ([`gogc_goal`], [`memory_limit_goal`],
//! [`trigger_for`], [`runway_for`], [`live_after_cycle`]) so that it can be simulated and tested without a heap.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::alloc::mheap::MHeap;
use crate::config::Config;
use crate::gc::mark::{Drain, MarkState};
use crate::gc::roots::RootTable;
use crate::gc::state::GcWordCell;
use crate::stats::GcStats;

/// Minimum heap goal at GOGC=100 (Go: `defaultHeapMinimum`, 4 MiB).
pub const HEAP_MINIMUM_BYTES: usize = 4 << 20;
/// Lower bound of the trigger, as a fraction of the way to the goal:
/// 51/64 ≈ 0.80 (Go: 45/64 ≈ 0.70; why gomem's is higher: module header).
const TRIGGER_MIN: (usize, usize) = (51, 64);
/// Upper bound (Go: 61/64 ≈ 0.95).
const TRIGGER_MAX: (usize, usize) = (61, 64);
/// Memory-limit headroom (Go: 3 %, at least 1 MiB).
const LIMIT_HEADROOM_PERCENT: usize = 3;
const LIMIT_HEADROOM_MIN_BYTES: usize = 1 << 20;
/// Cycles whose mark-phase growth the runway remembers; the runway is
/// their maximum (Go keeps the max of the last 5 cons/mark measurements,
/// biased toward starting early rather than assisting).
const RUNWAY_HISTORY: usize = 5;
/// Highest collector CPU share the runway scaling believes (Go clamps its
/// utilization the same way, so a cycle that used every CPU does not ask
/// for an unbounded runway; the trigger's clamp bounds it anyway).
const MAX_UTILIZATION: f64 = 0.95;
/// Smallest heap distance assists plan with.
const MIN_DISTANCE_BYTES: usize = 64 << 10;
/// Most scan work one assist does before it lets the allocation go on
/// (about half a millisecond of marking); the rest of the debt is paid at the
/// next allocations.
const MAX_ASSIST_SCAN_BYTES: u64 = 512 << 10;
/// CPU limiter bucket per CPU (Go: 1 CPU-second per P).
const LIMITER_CAPACITY_PER_CPU: Duration = Duration::from_secs(1);
/// How often the limiter is updated (Go: at least every 10 ms).
const LIMITER_PERIOD: Duration = Duration::from_millis(10);

/// GOGC's goal for a live heap of `marked` bytes with `roots` bytes of
/// roots (`usize::MAX` when GOGC is off, i.e. `gogc < 0`).
pub fn gogc_goal(marked: usize, roots: usize, gogc: i64) -> usize {
    if gogc < 0 {
        return usize::MAX;
    }
    let pct = gogc as usize;
    let growth = marked.saturating_add(roots).saturating_mul(pct) / 100;
    marked
        .saturating_add(growth)
        .max(HEAP_MINIMUM_BYTES.saturating_mul(pct) / 100)
}

/// GOMEMLIMIT's goal (`usize::MAX` without a limit). `mapped` is memory
/// mapped and ready, `heap_free` free-but-resident heap pages, `heap_alloc`
/// bytes of heap objects, `marked` the last live heap.
pub fn memory_limit_goal(
    limit: u64,
    mapped: usize,
    heap_free: usize,
    heap_alloc: usize,
    marked: usize,
) -> usize {
    if limit >= i64::MAX as u64 {
        return usize::MAX;
    }
    let limit = limit as usize;
    let non_heap = mapped.saturating_sub(heap_free).saturating_sub(heap_alloc);
    let overage = mapped.saturating_sub(limit);
    let reserved = non_heap + overage;
    if reserved >= limit {
        return marked;
    }
    let goal = limit - reserved;
    let headroom = (goal * LIMIT_HEADROOM_PERCENT / 100).max(LIMIT_HEADROOM_MIN_BYTES);
    goal.saturating_sub(headroom).max(marked)
}

/// Where the next cycle starts: the goal minus the runway (plus 10 %),
/// clamped as Go clamps it.
pub fn trigger_for(marked: usize, goal: usize, runway: usize) -> usize {
    if goal == usize::MAX {
        return usize::MAX;
    }
    let distance = goal.saturating_sub(marked);
    let lo = marked + distance / TRIGGER_MIN.1 * TRIGGER_MIN.0;
    let mut hi = marked + distance / TRIGGER_MAX.1 * TRIGGER_MAX.0;
    if goal > HEAP_MINIMUM_BYTES && goal - HEAP_MINIMUM_BYTES > hi {
        hi = goal - HEAP_MINIMUM_BYTES;
    }
    goal.saturating_sub(runway.saturating_add(runway / 10))
        .clamp(lo, hi.max(lo))
        .min(goal)
}

/// The runway a mark phase asks for: the heap growth it saw, scaled from
/// the CPU share the collector actually took (`used`, assists included) to
/// the share the background workers take alone (`background`) — Go's
/// cons/mark. A phase whose mutators spent time assisting allocated less
/// than they would have running free; the next trigger must leave room for
/// what they would have allocated, or the pacer settles where assists do the
/// marking and the mutator stalls (binary-trees: assists took nine tenths of
/// every mark phase before this scaling).
pub fn runway_for(grown: usize, used: f64, background: f64) -> usize {
    let odds = |u: f64| {
        let u = u.clamp(0.01, MAX_UTILIZATION);
        u / (1.0 - u)
    };
    let scale = (odds(used) / odds(background)).max(1.0);
    (grown as f64 * scale).min(usize::MAX as f64 / 2.0) as usize
}

/// Background marking's share of the machine: the mark workers (a quarter
/// of the CPUs, at least one: `gc/cycle.rs`) over the CPUs.
fn background_utilization() -> f64 {
    let cpus = crate::gc::collector::cpus();
    (crate::gc::cycle::dedicated_workers(cpus) as f64 / cpus as f64).min(MAX_UTILIZATION)
}

/// The live heap a cycle leaves (the next goal's base): what it marked,
/// plus the black bytes it allocated before the heap passed its `goal`
/// (module header) — what lies past the goal is overshoot (a starved
/// collector, a mutator that reaches no safepoint), not growth the pacer
/// planned for.
pub fn live_after_cycle(marked: usize, black: usize, heap_at_start: usize, goal: usize) -> usize {
    marked.saturating_add(black.min(goal.saturating_sub(heap_at_start)))
}

/// Pacing state of one heap (module header).
pub struct Pacer {
    gc_percent: AtomicI64,
    memory_limit: AtomicU64,
    heap_marked: AtomicUsize,
    /// Bytes the last cycle reached by marking (without black bytes): the
    /// scan work the next cycle plans its assists with.
    reached: AtomicUsize,
    goal: AtomicUsize,
    last_goal: AtomicUsize,
    runway: AtomicUsize,
    runway_history: Mutex<[usize; RUNWAY_HISTORY]>,
    live_at_trigger: AtomicUsize,
    /// `heap_live` at which the next cycle should start.
    trigger: AtomicUsize,
    /// Set once the trigger was crossed, until the collector starts a cycle.
    cycle_wanted: AtomicBool,
    limiter: Mutex<Limiter>,
    limiting: AtomicBool,
    limiter_engaged: AtomicU64,
}

struct Limiter {
    bucket_ns: i64,
    last: Instant,
    last_gc_ns: u64,
}

impl Pacer {
    /// A pacer for a fresh heap.
    pub fn new(config: &Config) -> Pacer {
        let pct = config.gc_percent_value().map_or(-1, i64::from);
        Pacer {
            gc_percent: AtomicI64::new(pct),
            memory_limit: AtomicU64::new(config.memory_limit_value().unwrap_or(u64::MAX)),
            heap_marked: AtomicUsize::new(0),
            reached: AtomicUsize::new(0),
            goal: AtomicUsize::new(0),
            last_goal: AtomicUsize::new(0),
            runway: AtomicUsize::new(0),
            runway_history: Mutex::new([0; RUNWAY_HISTORY]),
            live_at_trigger: AtomicUsize::new(0),
            trigger: AtomicUsize::new(usize::MAX),
            cycle_wanted: AtomicBool::new(false),
            limiter: Mutex::new(Limiter {
                bucket_ns: 0,
                last: Instant::now(),
                last_gc_ns: 0,
            }),
            limiting: AtomicBool::new(false),
            limiter_engaged: AtomicU64::new(0),
        }
    }

    /// GOGC (−1 when off).
    pub fn gc_percent(&self) -> i64 {
        self.gc_percent.load(Ordering::Relaxed)
    }

    /// Sets GOGC (−1 = off); returns the previous value.
    pub fn set_gc_percent(&self, pct: i64) -> i64 {
        self.gc_percent.swap(pct, Ordering::Relaxed)
    }

    /// GOMEMLIMIT in bytes (`u64::MAX`: none).
    pub fn memory_limit(&self) -> u64 {
        self.memory_limit.load(Ordering::Relaxed)
    }

    /// Sets GOMEMLIMIT; returns the previous value.
    pub fn set_memory_limit(&self, bytes: u64) -> u64 {
        self.memory_limit.swap(bytes, Ordering::Relaxed)
    }

    /// Tells the mheap the limit its span allocation must respect.
    pub(crate) fn publish_limit(&self, mheap: &MHeap) {
        let limit = self.memory_limit();
        let bytes = if limit >= i64::MAX as u64 {
            usize::MAX
        } else {
            limit as usize
        };
        mheap.memory_limit.store(bytes, Ordering::Relaxed);
    }

    /// The current heap goal in bytes (`usize::MAX` when there is none).
    pub fn goal(&self) -> usize {
        self.goal.load(Ordering::Relaxed)
    }

    /// The goal of the previous cycle (for the scavenger).
    pub fn last_goal(&self) -> usize {
        self.last_goal.load(Ordering::Relaxed)
    }

    /// The live heap the last cycle left: bytes it marked plus bytes
    /// allocated black during it, capped ([`live_after_cycle`]).
    pub fn heap_marked(&self) -> usize {
        self.heap_marked.load(Ordering::Relaxed)
    }

    /// Whether the CPU limiter is holding the collector back.
    pub fn limiting(&self) -> bool {
        self.limiting.load(Ordering::Relaxed)
    }

    /// Times the CPU limiter engaged.
    pub fn limiter_engagements(&self) -> u64 {
        self.limiter_engaged.load(Ordering::Relaxed)
    }

    /// Recomputes goal and trigger (the caller then checks the trigger:
    /// `note_heap_growth`).
    pub(crate) fn commit(&self, mheap: &MHeap, roots: &RootTable) {
        self.publish_limit(mheap);
        let marked = self.heap_marked();
        let roots = roots.len() * 8;
        let c = &mheap.counters;
        let sys = c.sys.load(Ordering::Relaxed);
        let released = c.released.load(Ordering::Relaxed);
        let inuse = c.inuse.load(Ordering::Relaxed);
        let mapped = sys.saturating_sub(released);
        let heap_free = sys.saturating_sub(inuse).saturating_sub(released);
        let heap_alloc = mheap.heap_alloc_bytes();
        let goal = gogc_goal(marked, roots, self.gc_percent()).min(memory_limit_goal(
            self.memory_limit(),
            mapped,
            heap_free,
            heap_alloc,
            marked,
        ));
        let trigger = trigger_for(marked, goal, self.runway.load(Ordering::Relaxed));
        self.goal.store(goal, Ordering::Relaxed);
        self.trigger.store(trigger, Ordering::Relaxed);
    }

    /// Called when `heap_live` grew (a refill, a new trigger): true the
    /// first time the trigger is crossed, when the caller must wake the
    /// coordinator.
    #[inline]
    pub(crate) fn note_heap_growth(&self, mheap: &MHeap) -> bool {
        let live = mheap.counters.heap_live.load(Ordering::Relaxed);
        live >= self.trigger.load(Ordering::Relaxed)
            && !self.cycle_wanted.swap(true, Ordering::AcqRel)
    }

    /// Whether the heap has reached the trigger.
    pub(crate) fn trigger_crossed(&self, mheap: &MHeap) -> bool {
        mheap.counters.heap_live.load(Ordering::Relaxed) >= self.trigger.load(Ordering::Relaxed)
    }

    /// Whether a mutator crossed the trigger since the last cycle started.
    pub(crate) fn cycle_wanted(&self) -> bool {
        self.cycle_wanted.load(Ordering::Relaxed)
    }

    /// Forgets that the trigger was crossed (a cycle starts, or the
    /// coordinator found the heap below the trigger after all).
    pub(crate) fn clear_cycle_wanted(&self) {
        self.cycle_wanted.store(false, Ordering::Release);
    }

    /// Whether the heap has grown past its goal.
    pub(crate) fn past_goal(&self, mheap: &MHeap) -> bool {
        mheap.counters.heap_live.load(Ordering::Relaxed) >= self.goal()
    }

    /// At the start of a cycle: remember where it triggered.
    pub(crate) fn on_cycle_start(&self, mheap: &MHeap) {
        let live = mheap.counters.heap_live.load(Ordering::Relaxed);
        self.live_at_trigger.store(live, Ordering::Relaxed);
    }

    /// The assist ratio now: scan work still expected over heap distance
    /// still left to the goal (Go revises it as marking goes on). Zero when
    /// the background workers are ahead or the CPU limiter is on.
    pub(crate) fn assist_ratio_now(&self, mark: &MarkState, mheap: &MHeap) -> f64 {
        if self.limiting() {
            return 0.0;
        }
        let expected = self
            .reached
            .load(Ordering::Relaxed)
            .max(HEAP_MINIMUM_BYTES / 4) as u64;
        let done = mark.bytes_scanned.load(Ordering::Relaxed);
        let remaining = expected.saturating_sub(done);
        if remaining == 0 {
            return 0.0;
        }
        let live = mheap.counters.heap_live.load(Ordering::Relaxed);
        // The whole distance, as Go plans. (Half of it was used while
        // assists paid every byte themselves; with the background's credit
        // counted first, that slack only made the mutator do the workers'
        // job: binary-trees 21 spent 24 ms of every 43 ms mark phase in
        // assists.)
        let distance = self.goal().saturating_sub(live).max(MIN_DISTANCE_BYTES);
        remaining as f64 / distance as f64
    }

    /// At the flip: the bytes reached by marking become the live heap (the
    /// goal's base); the heap itself still holds what was allocated black,
    /// so `heap_live` restarts from both; the growth seen during marking
    /// becomes the next runway; goal and trigger follow.
    pub(crate) fn on_flip(
        &self,
        mheap: &MHeap,
        roots: &RootTable,
        marked: usize,
        black: usize,
        utilization: f64,
    ) {
        let live = mheap.counters.heap_live.load(Ordering::Relaxed);
        let grown = live.saturating_sub(self.live_at_trigger.load(Ordering::Relaxed));
        let runway = {
            let mut h = self.runway_history.lock();
            h.rotate_right(1);
            h[0] = runway_for(grown, utilization, background_utilization());
            h.iter().copied().max().unwrap_or(0)
        };
        self.runway.store(runway, Ordering::Relaxed);
        self.reached.store(marked, Ordering::Relaxed);
        let heap_at_start = self.live_at_trigger.load(Ordering::Relaxed);
        let live = live_after_cycle(marked, black, heap_at_start, self.goal());
        self.heap_marked.store(live, Ordering::Relaxed);
        self.last_goal.store(self.goal(), Ordering::Relaxed);
        mheap
            .counters
            .heap_live
            .store(marked + black, Ordering::Relaxed);
        self.commit(mheap, roots);
    }

    /// Mark assist (module header): a P that owes `debt` bytes of
    /// allocation during marking of cycle `n` pays for scan work in
    /// proportion, as a registered agent of the GC word `word`. Never waits:
    /// with no grey work to take, the allocation goes through. Returns the
    /// debt left.
    pub(crate) fn assist(
        &self,
        debt: i64,
        n: u32,
        word: &AtomicU64,
        mark: &MarkState,
        mheap: &MHeap,
        stats: &GcStats,
    ) -> i64 {
        let ratio = self.assist_ratio_now(mark, mheap);
        let owed = (debt as f64 * ratio) as u64;
        // Background work first (Go's bgScanCredit): while the workers keep
        // ahead of the schedule, an allocation costs no scanning at all.
        let owed = owed - mark.take_credit(owed);
        let debt = (owed as f64 / ratio.max(f64::MIN_POSITIVE)) as i64;
        if owed == 0 || word.register(n).is_err() {
            return 0;
        }
        // One assist scans at most MAX_ASSIST_SCAN_BYTES (well under a
        // millisecond); what it still owes is paid at the next allocations.
        let budget = owed.min(MAX_ASSIST_SCAN_BYTES);
        let start = Instant::now();
        let done = {
            let mut drain = Drain::new(mark);
            drain.run(budget)
        };
        word.deregister();
        let left = if done < budget / 2 {
            // Too little grey work to take: forgiven (an assist never waits
            // for anyone). Past the goal, give the CPU to the mark workers,
            // which hold the rest of the work.
            if self.past_goal(mheap) {
                std::thread::yield_now();
            }
            0
        } else {
            debt - (done as f64 / ratio) as i64
        };
        stats.record_assist(start.elapsed());
        left.max(0)
    }

    /// Updates the CPU limiter from the collector's CPU time (called by the
    /// coordinator; at most every 10 ms does anything).
    pub(crate) fn update_limiter(&self, gc_cpu: Duration, cpus: usize) {
        let mut l = self.limiter.lock();
        let now = Instant::now();
        let wall = now - l.last;
        if wall < LIMITER_PERIOD {
            return;
        }
        let gc_ns = gc_cpu.as_nanos() as u64;
        let gc = gc_ns.saturating_sub(l.last_gc_ns) as i64;
        let total = (wall.as_nanos() as u64).saturating_mul(cpus as u64) as i64;
        let mutator = (total - gc).max(0);
        let capacity = (LIMITER_CAPACITY_PER_CPU.as_nanos() as i64) * cpus as i64;
        l.bucket_ns = (l.bucket_ns + gc - mutator).clamp(0, capacity);
        l.last = now;
        l.last_gc_ns = gc_ns;
        let full = l.bucket_ns >= capacity;
        if full && !self.limiting.swap(true, Ordering::Relaxed) {
            self.limiter_engaged.fetch_add(1, Ordering::Relaxed);
        } else if !full {
            self.limiting.store(false, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn gogc_goal_follows_go() {
        assert_eq!(gogc_goal(100 * MIB, 0, 100), 200 * MIB);
        assert_eq!(gogc_goal(100 * MIB, 10 * MIB, 100), 210 * MIB);
        assert_eq!(gogc_goal(100 * MIB, 0, 50), 150 * MIB);
        assert_eq!(gogc_goal(0, 0, 100), 4 * MIB, "4 MiB floor");
        assert_eq!(gogc_goal(0, 0, 200), 8 * MIB, "floor scales with GOGC");
        assert_eq!(gogc_goal(MIB, 0, 0), MIB, "GOGC=0: collect continuously");
        assert_eq!(gogc_goal(100 * MIB, 0, -1), usize::MAX);
    }

    #[test]
    fn memory_limit_lowers_the_goal_with_headroom() {
        // 100 MiB limit, nothing but heap: goal = limit − 3 %.
        let g = memory_limit_goal(100 * MIB as u64, 50 * MIB, 0, 50 * MIB, 40 * MIB);
        assert_eq!(g, 100 * MIB - 3 * MIB);
        // Non-heap memory counts against it.
        let g = memory_limit_goal(100 * MIB as u64, 60 * MIB, 0, 50 * MIB, 40 * MIB);
        assert_eq!(g, (90 * MIB) - (90 * MIB * 3 / 100));
        // Small limits keep 1 MiB of headroom.
        let g = memory_limit_goal(10 * MIB as u64, 0, 0, 0, 0);
        assert_eq!(g, 9 * MIB);
        // A limit below the live heap: the goal is the live heap.
        let g = memory_limit_goal(10 * MIB as u64, 200 * MIB, 0, 200 * MIB, 150 * MIB);
        assert_eq!(g, 150 * MIB);
        assert_eq!(memory_limit_goal(u64::MAX, 1, 1, 1, 1), usize::MAX);
    }

    #[test]
    fn trigger_is_clamped_between_80_and_95_percent() {
        let (m, g) = (100 * MIB, 200 * MIB);
        assert_eq!(trigger_for(m, g, 0), g - 4 * MIB, "big heap: goal − 4 MiB");
        assert_eq!(trigger_for(m, g, 1000 * MIB), m + 100 * MIB / 64 * 51);
        let t = trigger_for(m, g, 15 * MIB);
        assert_eq!(t, g - 16 * MIB - MIB / 2);
        let (m, g) = (MIB, 2 * MIB);
        assert_eq!(trigger_for(m, g, 0), m + MIB / 64 * 61, "small heap: 95 %");
        assert_eq!(trigger_for(0, usize::MAX, 5), usize::MAX);
    }

    /// A steady workload simulated cycle by cycle: the mutator allocates at
    /// `alloc` bytes per ms, marking scans `scan` bytes per ms, the live
    /// heap is `live`. The pacer learns the runway from one cycle and the
    /// heap at the end of marking converges to the goal.
    fn simulate(
        live: usize,
        alloc: usize,
        scan: usize,
        gogc: i64,
        cycles: usize,
    ) -> Vec<(usize, usize)> {
        let mut runway = 0;
        let mut marked = live;
        let mut out = Vec::new();
        for _ in 0..cycles {
            let goal = gogc_goal(marked, 0, gogc);
            let trigger = trigger_for(marked, goal, runway);
            let mark_ms = live.div_ceil(scan);
            let end = trigger + mark_ms * alloc;
            runway = end - trigger;
            // Objects allocated black during marking count as marked.
            marked = live + mark_ms * alloc;
            out.push((end, goal));
        }
        out
    }

    #[test]
    fn steady_state_converges_to_the_goal() {
        // 100 MiB live, marking at 1 MiB/ms (100 ms), allocating 0.3 MiB/ms.
        let runs = simulate(100 * MIB, 300 << 10, MIB, 100, 20);
        let (end, goal) = *runs.last().unwrap();
        let off = end as f64 / goal as f64;
        assert!((0.95..=1.02).contains(&off), "heap {end} vs goal {goal}");
        // Steady: the last cycles agree with each other.
        let (prev, _) = runs[runs.len() - 2];
        assert!((prev as f64 / end as f64 - 1.0).abs() < 0.01);
    }

    #[test]
    fn a_growing_then_shrinking_heap_is_tracked() {
        for live in [10 * MIB, 100 * MIB, 400 * MIB, 50 * MIB] {
            let runs = simulate(live, 100 << 10, 2 * MIB, 100, 10);
            let (end, goal) = *runs.last().unwrap();
            assert!(end <= goal + goal / 50, "live {live}: {end} > {goal}");
            assert!(goal >= 2 * live, "goal follows the live heap");
        }
    }

    #[test]
    fn the_runway_scales_growth_from_the_cpu_the_collector_took() {
        // A phase that used just the background share asks for what it saw.
        assert_eq!(runway_for(10 * MIB, 0.25, 0.25), 10 * MIB);
        // One where assists took the collector to half the machine: the
        // mutator ran a third as fast as it would have (odds 1 against 1/3).
        assert_eq!(runway_for(10 * MIB, 0.5, 0.25), 30 * MIB);
        // Less than the background share never shrinks the runway, and a
        // phase that took every CPU is clamped, not infinite.
        assert_eq!(runway_for(10 * MIB, 0.1, 0.25), 10 * MIB);
        let all = runway_for(10 * MIB, 1.0, 0.25);
        assert!(all > 30 * MIB && all < 10 * MIB * 100, "{all}");
    }

    #[test]
    fn black_bytes_count_as_live_up_to_the_goal() {
        // Half of the heap the cycle started from survived; all of what was
        // allocated black counts all the same, as in Go.
        assert_eq!(
            live_after_cycle(64 * MIB, 16 * MIB, 128 * MIB, 160 * MIB),
            80 * MIB
        );
        // A starved collector: the heap ran 40 MiB past its goal while
        // marking; only what came before the goal counts.
        assert_eq!(
            live_after_cycle(64 * MIB, 60 * MIB, 128 * MIB, 148 * MIB),
            84 * MIB
        );
        // A phase stretched over a 128 MiB build of garbage by a mutator
        // that reached no safepoint: what came before the 4 MiB goal.
        assert_eq!(
            live_after_cycle(3 * MIB, 128 * MIB, 3 * MIB, 4 * MIB),
            4 * MIB
        );
    }

    #[test]
    fn gogc_changes_take_effect() {
        let a = simulate(100 * MIB, 100 << 10, MIB, 50, 8);
        let b = simulate(100 * MIB, 100 << 10, MIB, 200, 8);
        let (ga, gb) = (a.last().unwrap().1, b.last().unwrap().1);
        // Goals include the bytes allocated black while marking (10 MiB here).
        assert!(ga < 170 * MIB && gb > 320 * MIB, "{ga} {gb}");
    }

    #[test]
    fn the_cpu_limiter_engages_when_gc_takes_most_of_the_cpu() {
        let p = Pacer::new(&Config::default());
        // Pretend 2 CPUs and a collector burning 90 % of them for 3 s.
        let mut gc = Duration::ZERO;
        {
            let mut l = p.limiter.lock();
            l.last -= Duration::from_secs(3);
        }
        gc += Duration::from_millis(5400);
        p.update_limiter(gc, 2);
        assert!(p.limiting(), "limiter on after sustained 90 % GC CPU");
        assert_eq!(p.limiter_engagements(), 1);
        // Then a quiet stretch drains the bucket.
        {
            let mut l = p.limiter.lock();
            l.last -= Duration::from_secs(3);
        }
        p.update_limiter(gc, 2);
        assert!(!p.limiting());
    }

    #[test]
    fn background_credit_pays_for_allocation_before_any_assist() {
        use crate::gc::state::{GcWord, Phase};
        let p = Pacer::new(&Config::default());
        let (mark, mheap) = (MarkState::default(), MHeap::new());
        let stats = GcStats::default();
        let marking = GcWord::new(Phase::Mark, 1).0;
        let word = AtomicU64::new(marking);
        let ratio = p.assist_ratio_now(&mark, &mheap);
        assert!(ratio > 0.0, "a fresh cycle expects scan work");
        let debt = MIB as i64;
        let owed = (debt as f64 * ratio) as u64;
        // The workers are ahead: their credit covers the debt, nobody
        // scans, and only what was owed is taken.
        mark.post_credit(owed + 100);
        assert_eq!(p.assist(debt, 1, &word, &mark, &mheap, &stats), 0);
        assert_eq!(stats.assists.count(), 0, "no assist ran");
        assert_eq!(mark.bg_credit.load(Ordering::Relaxed), 100);
        assert_eq!(word.load(Ordering::Relaxed), marking, "never registered");
        // Behind: the 100 bytes left are taken and the mutator assists for
        // the rest (no grey work here, so it is forgiven, not kept).
        assert_eq!(p.assist(debt, 1, &word, &mark, &mheap, &stats), 0);
        assert_eq!(stats.assists.count(), 1, "the mutator assisted");
        assert_eq!(mark.bg_credit.load(Ordering::Relaxed), 0);
        assert_eq!(word.load(Ordering::Relaxed), marking, "deregistered");
        // Once the cycle is over an assist cannot register: nothing owed.
        word.store(GcWord::new(Phase::Off, 1).0, Ordering::Relaxed);
        assert_eq!(p.assist(debt, 1, &word, &mark, &mheap, &stats), 0);
        assert_eq!(stats.assists.count(), 1);
    }

    #[test]
    fn credit_taken_by_racing_assists_never_exceeds_what_was_posted() {
        let mark = MarkState::default();
        const POSTED: u64 = 1_000_000;
        mark.post_credit(POSTED);
        let taken: u64 = std::thread::scope(|s| {
            let takers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..100_000).map(|_| mark.take_credit(7)).sum::<u64>()))
                .collect();
            takers.into_iter().map(|t| t.join().unwrap()).sum()
        });
        assert_eq!(
            taken, POSTED,
            "4 × 700 000 wanted, exactly the credit taken"
        );
        assert_eq!(mark.take_credit(1), 0);
        assert_eq!(mark.bg_credit.load(Ordering::Relaxed), 0);
    }
}
