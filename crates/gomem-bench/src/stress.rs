//! `gomem-bench stress`: runs the stress oracle (crate `gomem-stress`) for
//! as long as asked.
//!
//! N mutator threads rewire one shared object graph while the collector runs
//! cycles back to back (GOGC=1 by default, plus a forced `collect()` every
//! few thousand operations), with checkmark and clobber-free modes on; a
//! shadow model outside the heap is compared with the heap at every read and
//! in full several times a second. A progress line is printed every 10 s and
//! the report at the end; any failure makes the command exit non-zero (the
//! failures are also printed on stderr the moment they are found, so a run
//! that crashes afterwards still shows them).
//!
//! The hostile programs of the oracle (a `&Node` lent to a helper thread,
//! Drops that try to reach the heap, a second `attach()`) are on by default
//! (`--lend-every`, `--no-drop-probes`, `--disable lend,attach_twice`), and
//! so are the VM API operations (value slots, heap maps, value stacks, the
//! weak set: `--no-vm-ops`);
//! `--yield-every N` and `--hogs N` starve the mutators of CPU, so that they
//! are preempted inside their critical windows.

use std::time::Duration;

use gomem_stress::{self as stress, StressConfig, OP_NAMES};

/// Options of `gomem-bench stress`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Mutator threads.
    #[arg(long, default_value_t = 4)]
    pub threads: usize,
    /// How long to run, in minutes (fractions allowed: 0.5 = 30 s).
    #[arg(long, default_value_t = 1.0)]
    pub minutes: f64,
    /// Seed of the operation mix (default: from the clock, or
    /// GOMEM_STRESS_SEED); printed so that a run's mix can be repeated.
    #[arg(long)]
    pub seed: Option<u64>,
    /// GOGC of the stressed heap; 1 runs cycles back to back.
    #[arg(long, default_value_t = 1)]
    pub gogc: u32,
    /// Budget of graph objects per thread.
    #[arg(long, default_value_t = 1000)]
    pub objects_per_thread: usize,
    /// Thread 0 calls collect() every this many operations (0: never).
    #[arg(long, default_value_t = 5000)]
    pub collect_every: u64,
    /// Turn checkmark mode off (it re-traverses the heap after every mark).
    #[arg(long)]
    pub no_checkmark: bool,
    /// Turn clobber-free mode off.
    #[arg(long)]
    pub no_clobber: bool,
    /// Operations not to run, comma-separated (to narrow a failure down):
    /// alloc_link, subtree, unlink, move, copy, root, weak_take,
    /// weak_upgrade, payload, tag, vec, garbage, read, lend, attach_twice,
    /// vslot, vmove, vread, stack, intern, intern_free.
    #[arg(long, value_delimiter = ',')]
    pub disable: Vec<String>,
    /// Print a gctrace line per cycle on stderr.
    #[arg(long)]
    pub gctrace: bool,
    /// Yield injection: at each injection point (between an allocation and
    /// the store that publishes it, between a load and its use, around
    /// safepoints), yield the CPU (or, one time in eight, sleep up to
    /// 200 µs) with probability 1/N. 0: off.
    #[arg(long, default_value_t = 0)]
    pub yield_every: u32,
    /// CPU-hog threads (busy loops) to run beside the mutators.
    #[arg(long, default_value_t = 0)]
    pub hogs: usize,
    /// One operation in N lends a &Node to a helper thread with its own
    /// Mutator, which loads through it (0: never).
    #[arg(long, default_value_t = 4000)]
    pub lend_every: u64,
    /// Do not expose the mutators to Drops (a Tag's Drop then never finds
    /// a Mutator to try to reach the heap through).
    #[arg(long)]
    pub no_drop_probes: bool,
    /// Turn the VM API operations off (value slots and heap maps, value
    /// stacks, the weak set of keys: vslot, vmove, vread, stack, intern,
    /// intern_free).
    #[arg(long)]
    pub no_vm_ops: bool,
    /// Interval between full verifications of heap against model, in ms
    /// (shorter: the liveness checks look more often, at a cost in
    /// operations).
    #[arg(long, default_value_t = 200)]
    pub verify_ms: u64,
}

/// Runs the oracle and prints its report; an error if it found anything.
pub fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    if !(args.minutes > 0.0 && args.minutes.is_finite()) {
        return Err(format!("--minutes {}: expected a positive number", args.minutes).into());
    }
    if let Some(bad) = args
        .disable
        .iter()
        .find(|d| !OP_NAMES.contains(&d.as_str()))
    {
        return Err(format!(
            "--disable {bad:?}: unknown operation; the operations are {}",
            OP_NAMES.join(", ")
        )
        .into());
    }
    let cfg = StressConfig {
        threads: args.threads,
        duration: Duration::from_secs_f64(args.minutes * 60.0),
        seed: args.seed.unwrap_or_else(stress::seed_from_env),
        objects_per_thread: args.objects_per_thread.max(1),
        gc_percent: Some(args.gogc),
        forced_collect_every: args.collect_every,
        checkmark: !args.no_checkmark,
        clobber_free: !args.no_clobber,
        gctrace: args.gctrace,
        progress_every: Duration::from_secs(10),
        disabled_ops: args.disable.clone(),
        lend_every: args.lend_every,
        drop_probes: !args.no_drop_probes,
        yield_every: args.yield_every,
        hogs: args.hogs,
        vm_ops: !args.no_vm_ops,
        verify_every: Duration::from_millis(args.verify_ms.max(1)),
        ..StressConfig::default()
    };
    println!(
        "gomem-bench stress: {} threads, {:.1} min, seed {}, GOGC={}, collect every {} ops, checkmark {}, clobber-free {}, lend every {} ops, drop probes {}, yield every {}, {} hogs, VM API ops {}",
        cfg.threads,
        args.minutes,
        cfg.seed,
        args.gogc,
        cfg.forced_collect_every,
        if cfg.checkmark { "on" } else { "off" },
        if cfg.clobber_free { "on" } else { "off" },
        cfg.lend_every,
        if cfg.drop_probes { "on" } else { "off" },
        cfg.yield_every,
        cfg.hogs,
        if cfg.vm_ops { "on" } else { "off" },
    );
    let report = stress::run_with_progress(&cfg, &|p| println!("{}", p.progress_line()));
    println!("{report}");
    if report.ok() {
        Ok(())
    } else {
        Err(format!(
            "the stress oracle found {} failure(s); rerun the mix with --seed {}",
            report.failure_count, report.seed
        )
        .into())
    }
}
