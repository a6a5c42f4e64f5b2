//! The stress oracle in CI (the `gomem-stress` crate's docs explain the
//! oracle).
//!
//! Four mutators rewire one shared graph for ~40 s (release; ~12 s in a
//! debug build) with GOGC=1 — cycles back to back — plus a forced
//! `collect()` every few thousand operations, with checkmark and
//! clobber-free modes on; a second run uses eight mutators (more than the
//! CI machine's cores, so threads are preempted inside their critical
//! windows) at GOGC=25; a third starves two mutators of CPU for ~20 s (two
//! CPU hogs beside them and the oracle's yield injection: issue 11's H6).
//! Every run also carries the hostile programs (a `&Node` lent to a helper
//! thread, Drops that try to reach the heap, a second `attach()`: H1–H3)
//! and the VM API operations (issue 12): value slots holding immediates and
//! pointers to two kinds of objects, heap maps, each worker's value stacks
//! holding unlinked objects across safepoints and cycles, and one weak set
//! of interned keys shared by all threads. Any failure fails the test with
//! the first messages, and so does a VM API counter left at zero (the
//! operations silently stopped running, or stopped checking). The three
//! tests run side by side (the harness's threads), ~40 s of wall time in
//! release.
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
    check_vm(report);
}

/// The VM API operations ran and checked what they did.
fn check_vm(r: &StressReport) {
    let counters = [
        ("value words read and checked", r.value_reads),
        ("value slot stores", r.value_stores),
        ("pointers moved out of value slots", r.value_moves),
        ("HeapMap sets and removes", r.map_ops),
        ("pointers pushed on value stacks", r.stack_pushes),
        ("values read back from value stacks", r.stack_checks),
        ("values read back after two cycles on a stack", r.stack_aged),
        ("interns", r.interns),
        ("lookups that found a live key", r.intern_hits),
        ("interns that made a key", r.intern_misses),
        ("reachable keys found by the verifier", r.key_finds),
        ("dead keys seen vanish from the weak set", r.key_evictions),
    ];
    for (what, n) in counters {
        assert!(n > 0, "{what}: none\n{r}");
    }
    assert_eq!(r.keys_left, 0, "{r}");
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

/// Two mutators starved of CPU: two CPU hogs beside them and the oracle's
/// own yield injection, so that threads are preempted inside the windows
/// that matter (H6). The hostile programs (H1–H3) run as in every run; this
/// test also checks that they ran.
#[test]
fn two_mutators_starved_by_hogs_and_yield_injection() {
    let secs = if cfg!(debug_assertions) { 6.0 } else { 20.0 };
    let cfg = StressConfig {
        threads: 2,
        duration: Duration::from_secs_f64(secs),
        seed: stress::seed_from_env() ^ 0x5742,
        gc_percent: Some(1),
        forced_collect_every: 5000,
        checkmark: true,
        clobber_free: true,
        yield_every: 64,
        hogs: 2,
        // A debug build runs few operations here: lend more often, so
        // that the run lends at all.
        lend_every: if cfg!(debug_assertions) { 500 } else { 2000 },
        ..StressConfig::default()
    };
    eprintln!(
        "stress: {} threads, {} hogs, yield every {}, for {:.0?}, seed {}",
        cfg.threads, cfg.hogs, cfg.yield_every, cfg.duration, cfg.seed
    );
    let report = stress::run(&cfg);
    check(&report, 5);
    assert!(report.yields > 0, "no yield was injected\n{report}");
    assert!(report.lends > 0, "no &Node was lent\n{report}");
    assert!(
        report.drop_refusals > 0,
        "no Drop found its thread's Mutator: the probes did not test\n{report}"
    );
    assert!(report.attach_refusals > 0, "no second attach\n{report}");
}
