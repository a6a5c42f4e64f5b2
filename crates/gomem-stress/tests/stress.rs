//! The stress oracle in CI (the `gomem-stress` crate's docs explain the
//! oracle).
//!
//! Four mutators rewire one shared graph for ~40 s (release; ~12 s in a
//! debug build) with GOGC=1 — cycles back to back — plus a forced
//! `collect()` every few thousand operations, with checkmark and
//! clobber-free modes on; a second run uses eight mutators (more than the
//! CI machine's cores, so threads are preempted inside their critical
//! windows) at GOGC=25. Any failure fails the test with the first messages.
//!
//! `GOMEM_STRESS_SECONDS` sets the length of the main run,
//! `GOMEM_STRESS_SEED` its seed (printed on every run).

use std::time::Duration;

use gomem_stress::{self as stress, StressConfig, StressReport};

fn check(report: &StressReport, min_cycles: u32) {
    eprintln!("{report}");
    if !report.ok() {
        let first: Vec<&str> = report.failures.iter().take(5).map(String::as_str).collect();
        panic!(
            "the stress oracle found {} failure(s) (seed {}; rerun with GOMEM_STRESS_SEED={}); the first:\n  {}",
            report.failure_count,
            report.seed,
            report.seed,
            first.join("\n  ")
        );
    }
    assert!(
        report.cycles >= min_cycles,
        "only {} GC cycles completed; the oracle needs cycles to test anything\n{report}",
        report.cycles
    );
    assert!(
        report.verifications > 0 && report.verified_reads > 0,
        "{report}"
    );
    assert_eq!(report.drops, report.droppable, "{report}");
}

#[test]
fn four_mutators_gogc_1_forced_collections() {
    let default = if cfg!(debug_assertions) { 12.0 } else { 40.0 };
    let cfg = StressConfig {
        threads: 4,
        duration: stress::duration_from_env(Duration::from_secs_f64(default)),
        seed: stress::seed_from_env(),
        gc_percent: Some(1),
        forced_collect_every: 5000,
        checkmark: true,
        clobber_free: true,
        ..StressConfig::default()
    };
    eprintln!(
        "stress: {} threads for {:.0?}, seed {}",
        cfg.threads, cfg.duration, cfg.seed
    );
    let report = stress::run_with_progress(&cfg, &|p| eprintln!("{}", p.progress_line()));
    check(&report, 20);
}

#[test]
fn eight_mutators_gogc_25() {
    let secs = if cfg!(debug_assertions) { 4.0 } else { 10.0 };
    let cfg = StressConfig {
        threads: 8,
        duration: Duration::from_secs_f64(secs),
        seed: stress::seed_from_env() ^ 0x8888,
        objects_per_thread: 500,
        gc_percent: Some(25),
        forced_collect_every: 20_000,
        checkmark: false,
        clobber_free: true,
        ..StressConfig::default()
    };
    eprintln!(
        "stress: {} threads for {:.0?}, seed {}",
        cfg.threads, cfg.duration, cfg.seed
    );
    check(&stress::run(&cfg), 5);
}
