//! Setting up a run and running its threads: [`run`] and
//! [`run_with_progress`], the crate's entry points.
//!
//! A run builds one heap from the configuration (checkmark and clobber-free
//! as asked), records its baseline statistics, allocates the two root
//! objects (the root array and the vector), makes the weak set of keys
//! (module `keys`), and spawns `threads` scoped
//! worker threads, each attached to the heap, and `hogs` CPU hogs (module
//! `starve`). When probes are on it first installs the panic hook that
//! keeps their expected refusals quiet (module `hostile`). The calling
//! thread only watches: every 20 ms it checks for the deadline, for `stop`
//! (set by `max_failures` failures) and for all workers having finished,
//! records the Drops that reached the heap, and calls the progress callback
//! every `progress_every`. It then stops and joins the workers (a worker's
//! panic is recorded as a failure) and the hogs, and hands over to module
//! `teardown`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gomem::{Config, Heap, Member, WeakSet};

use crate::config::StressConfig;
use crate::graph::{Node, EXTRA_ROOTS_PER_THREAD};
use crate::model::Model;
use crate::oracle::Oracle;
use crate::report::StressReport;
use crate::rng::{mix64, Rng};
use crate::shared::Shared;
use crate::values::Obj;
use crate::worker::{op_mask, Worker};

/// Runs the oracle (crate docs) and returns what it found.
pub fn run(cfg: &StressConfig) -> StressReport {
    run_with_progress(cfg, &|_| {})
}

/// [`run`], calling `on_progress` with the figures so far every
/// `cfg.progress_every`.
///
/// # Panics
/// If `cfg.threads` or `cfg.root_slots` is 0, or `cfg.disabled_ops` names an
/// operation not in [`OP_NAMES`](crate::OP_NAMES).
pub fn run_with_progress(
    cfg: &StressConfig,
    on_progress: &(dyn Fn(&StressReport) + Sync),
) -> StressReport {
    assert!(cfg.threads > 0, "stress: at least one thread");
    assert!(cfg.root_slots > 0, "stress: at least one root slot");
    let disabled_ops = op_mask(&cfg.disabled_ops);
    if cfg.drop_probes || cfg.attach_twice_every > 0 {
        crate::hostile::quiet_refusals();
    }
    let heap = Heap::new(
        Config::default()
            .gc_percent(cfg.gc_percent)
            .gctrace(cfg.gctrace)
            .checkmark(cfg.checkmark)
            .clobber_free(cfg.clobber_free),
    );
    let baseline = heap.stats();
    let model = Model::new(
        cfg.root_slots,
        EXTRA_ROOTS_PER_THREAD * cfg.threads,
        cfg.threads,
    );
    let shared = Shared::new(cfg, model);
    let (root_array, vector) = {
        let m = heap.attach();
        let arr = m.alloc_slice(cfg.root_slots, |_| Member::<Node>::null());
        let v = m.alloc(gomem::Vector::<Node>::new());
        (m.root(arr), m.root(v))
    };
    let keys = WeakSet::<Obj>::new(&heap);
    let oracle = Oracle {
        shared: &shared,
        heap: &heap,
        root_array: &root_array,
        vector: &vector,
        keys: &keys,
    };

    std::thread::scope(|s| {
        let handles: Vec<_> = (0..cfg.threads)
            .map(|t| {
                let heap = heap.clone();
                std::thread::Builder::new()
                    .name(format!("stress-{t}"))
                    .spawn_scoped(s, move || {
                        /// Counts the thread as finished, even if it unwinds.
                        struct Finished<'a>(&'a Shared);
                        impl Drop for Finished<'_> {
                            fn drop(&mut self) {
                                self.0.finished.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        let _finished = Finished(oracle.shared);
                        let w = Worker {
                            oracle,
                            thread: t,
                            name: format!("thread {t}"),
                            rng: Rng::new(cfg.seed ^ mix64(t as u64 + 1)),
                            disabled_ops,
                            stacks: None,
                        };
                        w.run(heap.attach());
                    })
                    .expect("stress: cannot spawn a thread")
            })
            .collect();
        let hogs: Vec<_> = (0..cfg.hogs)
            .map(|i| {
                let stop = &shared.stop;
                std::thread::Builder::new()
                    .name(format!("stress-hog-{i}"))
                    .spawn_scoped(s, move || crate::starve::hog(stop))
                    .expect("stress: cannot spawn a hog")
            })
            .collect();
        let deadline = shared.start + cfg.duration;
        let mut next_progress = shared.start + cfg.progress_every;
        while shared.finished.load(Ordering::SeqCst) < cfg.threads
            && !shared.stop.load(Ordering::SeqCst)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
            shared.drain_drop_failures();
            if Instant::now() >= next_progress {
                on_progress(&shared.report(&heap));
                next_progress += cfg.progress_every;
            }
        }
        shared.stop.store(true, Ordering::SeqCst);
        for (t, h) in handles.into_iter().enumerate() {
            if let Err(p) = h.join() {
                let msg = crate::hostile::panic_text(&*p);
                oracle.fail(&format!("thread {t}"), format!("panicked: {msg}"));
            }
        }
        for h in hogs {
            let _ = h.join();
        }
        shared.drain_drop_failures();
    });

    crate::teardown::finish(&shared, heap, root_array, vector, keys, &baseline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_is_clean() {
        let r = run(&StressConfig {
            threads: 2,
            duration: Duration::from_millis(1500),
            verify_every: Duration::from_millis(50),
            forced_collect_every: 500,
            ..StressConfig::default()
        });
        assert!(r.ok(), "{r}");
        assert!(r.verifications > 0 && r.allocated > 0, "{r}");
    }
}
