//! Config: the knobs Go programmers know.
//!
//! `gc_percent` is GOGC (`None` = off), `memory_limit` is GOMEMLIMIT (the
//! soft limit), `hard_memory_limit` is gomem's own: committed heap memory
//! never exceeds it, and allocations that would are refused with an error.
//! `gctrace` prints Go's one-line-per-cycle trace on stderr.

/// Heap configuration. `Config::default()` is Go's default: GOGC=100, no
/// memory limit, no trace.
///
/// ```
/// let config = gomem::Config::default().gc_percent(Some(50)).gctrace(true);
/// assert_eq!(config.gc_percent_value(), Some(50));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    gc_percent: Option<u32>,
    memory_limit: Option<u64>,
    hard_memory_limit: Option<usize>,
    gctrace: bool,
}

/// GOGC's default (Go: `defaultGOGC`).
pub const DEFAULT_GC_PERCENT: u32 = 100;

impl Default for Config {
    fn default() -> Self {
        Config {
            gc_percent: Some(DEFAULT_GC_PERCENT),
            memory_limit: None,
            hard_memory_limit: None,
            gctrace: false,
        }
    }
}

impl Config {
    /// GOGC: grow the heap by this percentage of the live heap before the
    /// next cycle; `None` turns the proportional trigger off.
    pub fn gc_percent(mut self, percent: Option<u32>) -> Self {
        self.gc_percent = percent;
        self
    }

    /// GOMEMLIMIT, the soft memory limit in bytes (`None` = no limit).
    pub fn memory_limit(mut self, bytes: Option<u64>) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// A hard cap on committed heap bytes; allocations beyond it fail.
    pub fn hard_memory_limit(mut self, bytes: Option<usize>) -> Self {
        self.hard_memory_limit = bytes;
        self
    }

    /// Print one gctrace line per cycle on stderr.
    pub fn gctrace(mut self, on: bool) -> Self {
        self.gctrace = on;
        self
    }

    /// The configured GOGC.
    pub fn gc_percent_value(&self) -> Option<u32> {
        self.gc_percent
    }

    /// The configured GOMEMLIMIT.
    pub fn memory_limit_value(&self) -> Option<u64> {
        self.memory_limit
    }

    /// The configured hard limit.
    pub fn hard_memory_limit_value(&self) -> Option<usize> {
        self.hard_memory_limit
    }

    /// Whether gctrace is on.
    pub fn gctrace_value(&self) -> bool {
        self.gctrace
    }
}
