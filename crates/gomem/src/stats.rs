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
    }

    /// Records one mark assist.
    pub fn record_assist(&self, d: Duration) {
        self.assists.record(d);
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
