//! Statistics: what the collector did, and what a mutator felt of it.
//!
//! gomem has no stop-the-world pause. What a mutator feels is the time it is
//! held at its own polls (adopting a phase: releasing spans at the flip,
//! turning the barrier on) and the time it spends in mark assists. Both are
//! recorded per event in lock-free log-linear histograms (8 sub-buckets per
//! power of two, so a percentile is exact to within 12.5 %), and summarised
//! by [`GcSummary`] along with cycle counts and collector CPU time.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two.
const SUB: usize = 8;
/// Buckets: 64 powers of two × 8.
const BUCKETS: usize = 64 * SUB;

/// A lock-free histogram of durations in nanoseconds.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    total_ns: AtomicU64,
    max_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            total_ns: AtomicU64::new(0),
            max_ns: AtomicU64::new(0),
        }
    }
}

fn bucket_of(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let msb = 63 - ns.leading_zeros() as usize;
    let sub = ((ns >> (msb - 3)) & (SUB as u64 - 1)) as usize;
    (msb - 2) * SUB + sub
}

fn bucket_floor(b: usize) -> u64 {
    if b < SUB {
        return b as u64;
    }
    let msb = b / SUB + 2;
    let sub = (b % SUB) as u64;
    (1u64 << msb) | (sub << (msb - 3))
}

impl Histogram {
    /// Records one duration.
    pub fn record(&self, d: Duration) {
        let ns = d.as_nanos().min(u64::MAX as u128) as u64;
        self.buckets[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total_ns.fetch_add(ns, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// Number of events.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sum of all durations.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.total_ns.load(Ordering::Relaxed))
    }

    /// Longest duration.
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns.load(Ordering::Relaxed))
    }

    /// The `q` quantile (0..=1), as the upper edge of its bucket (capped at
    /// the max).
    pub fn quantile(&self, q: f64) -> Duration {
        let n = self.count();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (b, c) in self.buckets.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen >= rank {
                let upper = bucket_floor(b + 1).saturating_sub(1);
                return Duration::from_nanos(upper.min(self.max_ns.load(Ordering::Relaxed)));
            }
        }
        self.max()
    }
}

/// Counters kept by a heap's collector.
#[derive(Default)]
pub struct GcStats {
    /// The last 256 cycles.
    pub history: parking_lot::Mutex<std::collections::VecDeque<CycleRecord>>,
    /// Sum of every cycle's pause.
    pub pause_total_ns: AtomicU64,
    /// Longest poll in the current cycle.
    pub cycle_max_poll_ns: AtomicU64,
    /// Mark assist CPU, cumulative.
    pub assist_ns: AtomicU64,
    /// Objects verified by checkmark mode, cumulative.
    pub checkmarked_objects: AtomicU64,
    /// Completed cycles.
    pub num_gc: AtomicU32,
    /// Cycles started by `collect()`.
    pub num_forced: AtomicU32,
    /// Time mutators were held at polls adopting a phase.
    pub polls: Histogram,
    /// Mark assists.
    pub assists: Histogram,
    /// Background mark work.
    pub worker_ns: AtomicU64,
}

impl GcStats {
    /// Records one poll's hold time.
    pub fn record_poll(&self, d: Duration) {
        self.polls.record(d);
        self.cycle_max_poll_ns
            .fetch_max(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Records one mark assist.
    pub fn record_assist(&self, d: Duration) {
        self.assists.record(d);
        self.assist_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Collector CPU so far (assists and background marking).
    pub fn gc_cpu(&self) -> Duration {
        Duration::from_nanos(
            self.assist_ns.load(Ordering::Relaxed) + self.worker_ns.load(Ordering::Relaxed),
        )
    }

    /// Appends a finished cycle (keeps the last 256).
    pub fn push_cycle(&self, r: CycleRecord) {
        self.pause_total_ns
            .fetch_add(r.max_poll.as_nanos() as u64, Ordering::Relaxed);
        let mut h = self.history.lock();
        if h.len() == 256 {
            h.pop_front();
        }
        h.push_back(r);
    }

    /// Adds background marking time.
    pub fn record_worker(&self, d: Duration) {
        self.worker_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// A summary of the collector's work on one heap.
#[derive(Debug, Clone, PartialEq)]
pub struct GcSummary {
    /// Completed cycles.
    pub cycles: u32,
    /// Of which forced by `collect()`.
    pub forced_cycles: u32,
    /// Polls at which a mutator adopted a phase change.
    pub polls: u64,
    /// Longest time a mutator was held at a poll.
    pub poll_max: Duration,
    /// 99th percentile of the poll hold time.
    pub poll_p99: Duration,
    /// Median poll hold time.
    pub poll_p50: Duration,
    /// Mark assists run.
    pub assists: u64,
    /// Total time in mark assists.
    pub assist_time: Duration,
    /// Longest single assist.
    pub assist_max: Duration,
    /// Background marking time.
    pub mark_worker_time: Duration,
    /// Objects verified by checkmark mode (0 when it is off).
    pub checkmarked_objects: u64,
}

impl GcStats {
    /// A snapshot.
    pub fn summary(&self) -> GcSummary {
        GcSummary {
            cycles: self.num_gc.load(Ordering::Relaxed),
            forced_cycles: self.num_forced.load(Ordering::Relaxed),
            polls: self.polls.count(),
            poll_max: self.polls.max(),
            poll_p99: self.polls.quantile(0.99),
            poll_p50: self.polls.quantile(0.5),
            assists: self.assists.count(),
            assist_time: self.assists.total(),
            assist_max: self.assists.max(),
            mark_worker_time: Duration::from_nanos(self.worker_ns.load(Ordering::Relaxed)),
            checkmarked_objects: self.checkmarked_objects.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotone_and_cover_their_values() {
        let mut last = 0;
        for ns in (0..100_000u64).chain([1 << 40, u64::MAX / 2]) {
            let b = bucket_of(ns);
            assert!(b >= last || ns == 1 << 40);
            assert!(bucket_floor(b) <= ns && ns < bucket_floor(b + 1), "{ns}");
            last = b;
        }
    }

    #[test]
    fn ms_formatting_matches_go() {
        assert_eq!(fmt_ns_as_ms(56_000), "0.056");
        assert_eq!(fmt_ns_as_ms(2_300_000), "2.3");
        assert_eq!(fmt_ns_as_ms(39_000_000), "39");
        assert_eq!(fmt_ns_as_ms(150_000), "0.15");
        assert_eq!(fmt_ns_as_ms(100_000), "0.10", "Go keeps trailing zeros");
        assert_eq!(fmt_ns_as_ms(2_000), "0.002");
        assert_eq!(fmt_ns_as_ms(999), "0");
        assert_eq!(fmt_ns_as_ms(9_990_000), "9.9");
        assert_eq!(fmt_ns_as_ms(1_000_000), "1.0");
    }

    /// Splits a gctrace line into its shape: the literal words and where
    /// numbers sit.
    fn shape(line: &str) -> Vec<String> {
        line.split(|c: char| c.is_whitespace())
            .map(|w| {
                w.chars()
                    .map(|c| {
                        if c.is_ascii_digit() || c == '.' {
                            '9'
                        } else {
                            c
                        }
                    })
                    .collect::<String>()
            })
            .map(|w| {
                let mut out = String::new();
                for c in w.chars() {
                    if !(c == '9' && out.ends_with('9')) {
                        out.push(c);
                    }
                }
                out
            })
            .collect()
    }

    #[test]
    fn gctrace_line_has_gos_field_layout() {
        let go = "gc 50 @3.962s 11%: 0.056+39+0.043 ms clock, 0.11+2.3/21/27+0.087 ms cpu, 133->148->78 MB, 156 MB goal, 0 MB stacks, 0 MB globals, 2 P";
        let ours = format_gctrace(&CycleRecord {
            n: 50,
            start_s: 3.962,
            cpu_pct: 11,
            arm: Duration::from_micros(56),
            mark: Duration::from_millis(39),
            term: Duration::from_micros(43),
            assist_cpu: Duration::from_micros(2300),
            worker_cpu: Duration::from_millis(21),
            heap_start: 133 << 20,
            heap_end: 148 << 20,
            marked: 78 << 20,
            goal: 156 << 20,
            procs: 2,
            ..CycleRecord::default()
        });
        assert_eq!(shape(&ours), shape(go));
        assert_eq!(
            ours,
            "gc 50 @3.962s 11%: 0.056+39+0.043 ms clock, 0+2.3/21/0+0 ms cpu, 133->148->78 MB, 156 MB goal, 0 MB stacks, 0 MB globals, 2 P"
        );
        let forced = format_gctrace(&CycleRecord {
            forced: true,
            ..CycleRecord::default()
        });
        assert!(forced.ends_with(" P (forced)"));
    }

    #[test]
    fn quantiles_are_within_a_bucket() {
        let h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).as_micros() as f64;
        let p99 = h.quantile(0.99).as_micros() as f64;
        assert!((500.0..=570.0).contains(&p50), "{p50}");
        assert!((990.0..=1000.0).contains(&p99), "{p99}");
        assert_eq!(h.max(), Duration::from_micros(1000));
        assert_eq!(h.count(), 1000);
    }
}

/// What one cycle did: the fields of a gctrace line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CycleRecord {
    /// Cycle number (1-based).
    pub n: u32,
    /// Seconds from heap creation to the cycle's start.
    pub start_s: f64,
    /// Cumulative share of CPU spent in the collector since the heap was
    /// created, in percent (truncated, as Go prints it).
    pub cpu_pct: u32,
    /// Arm handshake: from the CAS to Arm until every P adopted it (where
    /// Go's sweep-termination pause sits; here no mutator waits).
    pub arm: Duration,
    /// Concurrent mark: from Mark until the flip.
    pub mark: Duration,
    /// The terminator's final check (Go's mark-termination pause sits here).
    pub term: Duration,
    /// CPU time of mark assists during the cycle.
    pub assist_cpu: Duration,
    /// CPU time of background marking during the cycle.
    pub worker_cpu: Duration,
    /// Live heap (span-granular) when the cycle started.
    pub heap_start: usize,
    /// Live heap when marking ended.
    pub heap_end: usize,
    /// Bytes marked: the live heap.
    pub marked: usize,
    /// The heap goal this cycle was paced for.
    pub goal: usize,
    /// Ps attached to the heap.
    pub procs: usize,
    /// Started by `collect()`.
    pub forced: bool,
    /// The longest a mutator was held at a poll during the cycle.
    pub max_poll: Duration,
    /// Wall-clock end of the cycle, ns since the Unix epoch.
    pub end_unix_ns: u64,
}

/// Go's `fmtNSAsMS`: whole milliseconds from 10 ms up; below, two
/// significant digits with at most three decimals ("0.056", "2.3").
pub fn fmt_ns_as_ms(ns: u64) -> String {
    if ns >= 10_000_000 {
        return (ns / 1_000_000).to_string();
    }
    let mut x = ns / 1_000;
    if x == 0 {
        return "0".to_string();
    }
    let mut decimals = 3u32;
    while x >= 100 {
        x /= 10;
        decimals -= 1;
    }
    if decimals == 0 {
        return x.to_string();
    }
    let scale = 10u64.pow(decimals);
    format!(
        "{}.{:0width$}",
        x / scale,
        x % scale,
        width = decimals as usize
    )
}

fn ms(d: Duration) -> String {
    fmt_ns_as_ms(d.as_nanos() as u64)
}

/// One line in Go's gctrace format (`go-runtime-facts.md` §7.3):
/// `gc N @Ts U%: A+B+C ms clock, D+E/F/G+H ms cpu, H0->H1->H2 MB, GOAL MB
/// goal, S MB stacks, GL MB globals, P P [(forced)]`. gomem has no
/// stop-the-world phases: A is the Arm handshake and C the terminator's
/// check, during which no mutator waits; D and H (CPU of STW phases) are 0,
/// G (idle marking) is 0, stacks and globals are 0 (gomem scans neither).
pub fn format_gctrace(r: &CycleRecord) -> String {
    let mb = |b: usize| b >> 20;
    format!(
        "gc {} @{:.3}s {}%: {}+{}+{} ms clock, 0+{}/{}/0+0 ms cpu, {}->{}->{} MB, {} MB goal, 0 MB stacks, 0 MB globals, {} P{}",
        r.n,
        r.start_s,
        r.cpu_pct,
        ms(r.arm),
        ms(r.mark),
        ms(r.term),
        ms(r.assist_cpu),
        ms(r.worker_cpu),
        mb(r.heap_start),
        mb(r.heap_end),
        mb(r.marked),
        mb(r.goal),
        r.procs,
        if r.forced { " (forced)" } else { "" }
    )
}

/// Go's `runtime.MemStats`, with the fields that mean something in gomem.
///
/// Counts are gathered without stopping anyone: each P publishes its
/// allocation counts when it refills a span or goes idle, so `Mallocs`,
/// `TotalAlloc` and `HeapAlloc` can lag by at most one span per size class
/// per P (Go's `ReadMemStats` stops the world to be exact; gomem never
/// stops the world).
#[derive(Debug, Clone, PartialEq)]
pub struct MemStats {
    /// Bytes of allocated heap objects (= HeapAlloc).
    pub alloc: u64,
    /// Cumulative bytes allocated for heap objects.
    pub total_alloc: u64,
    /// Bytes of memory obtained from the OS for the heap (HeapSys).
    pub sys: u64,
    /// Cumulative objects allocated (tiny ones included).
    pub mallocs: u64,
    /// Cumulative objects freed.
    pub frees: u64,
    /// Bytes of allocated heap objects, including unreachable ones not yet
    /// swept.
    pub heap_alloc: u64,
    /// Bytes of heap memory obtained from the OS (committed).
    pub heap_sys: u64,
    /// Bytes in free spans (the page heap's).
    pub heap_idle: u64,
    /// Bytes in spans a size class holds: with at least one object, or
    /// kept empty by the sweep for the class's next refills (at most one
    /// cycle; `alloc/central.rs`).
    pub heap_inuse: u64,
    /// Bytes of idle spans returned to the OS.
    pub heap_released: u64,
    /// Allocated heap objects.
    pub heap_objects: u64,
    /// The heap goal of the next cycle.
    pub next_gc: u64,
    /// End of the last cycle, ns since the Unix epoch (0: none yet).
    pub last_gc: u64,
    /// Sum of `pause_ns` over all cycles.
    pub pause_total_ns: u64,
    /// Per cycle, the longest time a mutator was held at a poll (gomem's
    /// pause; there is no stop-the-world); the latest at
    /// `[(num_gc + 255) % 256]`.
    pub pause_ns: [u64; 256],
    /// End time of each cycle (ns since the Unix epoch), same ring.
    pub pause_end: [u64; 256],
    /// Completed cycles.
    pub num_gc: u32,
    /// Cycles forced by `collect()`.
    pub num_forced_gc: u32,
    /// Share of available CPU used by the collector since the heap began.
    pub gc_cpu_fraction: f64,
    /// Always true (as in Go, even with GOGC=off).
    pub enable_gc: bool,
    /// Per size class: object size, mallocs and frees (class 0 = large).
    pub by_size: Vec<SizeClassStats>,
}

/// One size class's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeClassStats {
    /// Object size in bytes (0 for large objects).
    pub size: u32,
    /// Objects allocated.
    pub mallocs: u64,
    /// Objects freed.
    pub frees: u64,
}
