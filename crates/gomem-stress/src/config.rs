//! What to run: [`StressConfig`], and the two environment variables that
//! tests and CI use to lengthen a run or replay a seed.
//!
//! The configuration is read-only once a run starts (`run` clones it into
//! the shared state). Nothing here touches the heap: `run` turns the GC
//! fields (`gc_percent`, `checkmark`, `clobber_free`, `gctrace`) into a
//! `gomem::Config` and starts the `hogs`; the workers read the rest
//! (`lend_every`, `attach_twice_every` and `drop_probes` drive the hostile
//! programs of module `hostile`, `yield_every` the yield injection of
//! module `starve`, `vm_ops` the VM API operations of modules `vslot`,
//! `vstack` and `keys`).

use std::time::Duration;

use crate::rng::mix64;

/// Environment variable that sets the run's length in seconds (tests and CI).
pub const SECONDS_VAR: &str = "GOMEM_STRESS_SECONDS";
/// Environment variable that fixes the seed.
pub const SEED_VAR: &str = "GOMEM_STRESS_SEED";

/// What to run (crate docs).
#[derive(Debug, Clone)]
pub struct StressConfig {
    /// Mutator threads.
    pub threads: usize,
    /// How long to run.
    pub duration: Duration,
    /// Stop each thread after this many operations (`None`: time only).
    pub ops_per_thread: Option<u64>,
    /// Seed of the operation mix (thread `t` uses a seed derived from it).
    pub seed: u64,
    /// Budget of model objects per thread: past `threads × this`, operations
    /// that grow the graph turn into unlinks.
    pub objects_per_thread: usize,
    /// Slots of the shared root array.
    pub root_slots: usize,
    /// GOGC of the heap (`Some(1)`: cycles back to back).
    pub gc_percent: Option<u32>,
    /// Thread 0 calls `collect()` every this many operations (0: never).
    pub forced_collect_every: u64,
    /// Interval between full verifications of heap against model.
    pub verify_every: Duration,
    /// Checkmark mode (abort when a cycle missed a reachable object).
    pub checkmark: bool,
    /// Clobber-free mode (freed objects overwritten with poison).
    pub clobber_free: bool,
    /// Print a gctrace line per cycle.
    pub gctrace: bool,
    /// Interval between progress callbacks of [`run_with_progress`](crate::run_with_progress).
    pub progress_every: Duration,
    /// Stop the run after this many failures.
    pub max_failures: usize,
    /// Operations not to run (names from [`OP_NAMES`](crate::OP_NAMES)), to
    /// narrow a failure down.
    pub disabled_ops: Vec<String>,
    /// One operation in this many lends a `&Node` to a helper thread that
    /// attaches its own Mutator and loads through it (module `hostile`; the
    /// `lend` operation; 0: never).
    pub lend_every: u64,
    /// One operation in this many tries a second `heap.attach()` on the
    /// worker's thread, which must panic (the `attach_twice` operation; 0:
    /// never).
    pub attach_twice_every: u64,
    /// Expose each worker's Mutator through a thread-local for half its
    /// batches of operations, so that the Drops its allocations run can find
    /// it and try to reach the heap (module `hostile`); every attempt must
    /// be refused.
    pub drop_probes: bool,
    /// Yield injection (module `starve`): at each injection point, with
    /// probability `1 / yield_every`, yield the CPU (one time in eight a
    /// sleep of up to 200 µs instead). 0: off.
    pub yield_every: u32,
    /// CPU-hog threads (busy loops) to run beside the workers for the whole
    /// run, so that workers are preempted inside their critical windows.
    pub hogs: usize,
    /// The VM API operations (modules `vslot`, `vstack`, `keys`): value
    /// slots and heap maps, value stacks, the weak set of keys. Off, none
    /// runs and the operation mix draws no random number for them (nodes
    /// still carry their value slots, with immediates, and are checked).
    pub vm_ops: bool,
}

impl Default for StressConfig {
    fn default() -> Self {
        StressConfig {
            threads: 4,
            duration: Duration::from_secs(10),
            ops_per_thread: None,
            seed: 0x5EED_0F60_11E1,
            objects_per_thread: 1000,
            root_slots: 64,
            gc_percent: Some(1),
            forced_collect_every: 5000,
            verify_every: Duration::from_millis(200),
            checkmark: true,
            clobber_free: true,
            gctrace: false,
            progress_every: Duration::from_secs(10),
            max_failures: 8,
            disabled_ops: Vec::new(),
            lend_every: 4000,
            attach_twice_every: 1000,
            drop_probes: true,
            yield_every: 0,
            hogs: 0,
            vm_ops: true,
        }
    }
}

/// `GOMEM_STRESS_SECONDS` if set (a positive number, fractions allowed),
/// else `default`.
///
/// # Panics
/// If the variable is set to something that is not a positive number.
pub fn duration_from_env(default: Duration) -> Duration {
    match std::env::var(SECONDS_VAR) {
        Err(_) => default,
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(s) if s > 0.0 && s.is_finite() => Duration::from_secs_f64(s),
            _ => panic!("{SECONDS_VAR}={v:?}: expected a positive number of seconds"),
        },
    }
}

/// `GOMEM_STRESS_SEED` if set, else a seed from the clock.
///
/// # Panics
/// If the variable is set to something that is not a `u64`.
pub fn seed_from_env() -> u64 {
    match std::env::var(SEED_VAR) {
        Err(_) => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            mix64(t ^ u64::from(std::process::id()))
        }
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{SEED_VAR}={v:?}: expected an unsigned integer")),
    }
}
