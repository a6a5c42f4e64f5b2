//! State shared by the threads of a run that holds no heap handle, so the
//! heap can be dropped (at teardown) while it lives: the configuration, the
//! model lock, the id counter, the drop ledger, the stop flag, the counters
//! of what was done, the key texts' lookup counters (module `keys`), and
//! the failures.
//!
//! Invariants: the model is only touched under its lock (module `model`);
//! `model_len` and `reachable` are hints read without the lock (the op mix
//! steers by them), written by whoever just changed the model. A failure is
//! printed the moment it is recorded, so a crash right after still shows
//! it, and `max_failures` of them set `stop`, which every worker polls.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use gomem::Heap;

use crate::canary::Ledger;
use crate::config::StressConfig;
use crate::keys::{KeyEv, KEY_TEXTS, LOG_EVENTS};
use crate::model::Model;
use crate::report::StressReport;

/// Failures kept for the report (all are counted and printed).
const MAX_REPORTED: usize = 64;

/// What the run counts, one `AtomicU64` each in [`Shared::counters`].
#[derive(Clone, Copy)]
pub(crate) enum Counter {
    Ops,
    Allocated,
    VerifiedReads,
    Verifications,
    Links,
    Unlinks,
    Moves,
    WeakUpgrades,
    WeakCleared,
    Resurrections,
    Droppable,
    /// `&Node`s lent to a helper thread (module `hostile`).
    Lends,
    /// Pointers a helper loaded through a lent `&Node` and stored.
    LendStores,
    /// Batches of operations run with the Mutator exposed to Drops.
    ExposedBatches,
    /// Second `attach()`s refused.
    AttachRefusals,
    /// Yields and sleeps injected (module `starve`).
    Yields,
    /// Value words read and decoded (module `values`).
    ValueReads,
    /// Stores into value slots and map entries, and cells' node links.
    ValueStores,
    /// Pointers moved through the stack out of a value slot.
    ValueMoves,
    /// `HeapMap` sets and removes.
    MapOps,
    /// Pointers pushed on value stacks (module `vstack`).
    StackPushes,
    /// Values read back from value stacks and checked.
    StackChecks,
    /// Of which read back after two or more cycles on the stack.
    StackAged,
    /// `WeakSet::intern` calls (module `keys`).
    Interns,
    /// Lookups that found a live key.
    InternHits,
    /// Interns that made a new key.
    InternMisses,
    /// Interns under the lock that made a new key for a text the set had
    /// returned another key for.
    KeyRenewals,
    /// Reachable keys the verifier found by `find`, same object.
    KeyFinds,
    /// Texts the verifier saw vanish after their keys died.
    KeyEvictions,
}

const N_COUNTERS: usize = Counter::KeyEvictions as usize + 1;

/// A lookup of a key text in progress (`Shared::key_lookup`): dropping it
/// bumps the text's `key_touches`, then its `key_active` goes down (the
/// verifier reads them in the other order, module `keys`).
pub(crate) struct KeyLookup<'a> {
    shared: &'a Shared,
    n: usize,
}

impl Drop for KeyLookup<'_> {
    fn drop(&mut self) {
        self.shared.key_touches[self.n].fetch_add(1, Ordering::SeqCst);
        self.shared.key_active[self.n].fetch_sub(1, Ordering::SeqCst);
    }
}

/// The shared state (module header).
pub(crate) struct Shared {
    pub(crate) cfg: StressConfig,
    pub(crate) model: Mutex<Model>,
    /// Nodes in the model map (a hint, see the module header).
    pub(crate) model_len: AtomicUsize,
    /// Nodes reachable from the roots at the last verification (a hint).
    pub(crate) reachable: AtomicUsize,
    /// The next node or tag id (ids start at 1).
    pub(crate) next_id: AtomicU64,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) stop: AtomicBool,
    /// Worker threads that have returned (or unwound).
    pub(crate) finished: AtomicUsize,
    counters: [AtomicU64; N_COUNTERS],
    pub(crate) max_reachable: AtomicUsize,
    failures: Mutex<Vec<String>>,
    failure_count: AtomicU64,
    pub(crate) start: Instant,
    /// When the last verification started, in ms since `start`.
    pub(crate) last_verify_ms: AtomicU64,
    /// Cap on the model's nodes: `threads × objects_per_thread`.
    pub(crate) object_budget: usize,
    /// Per key text: bumped at the end of every lookup outside the
    /// verifier (module `keys`).
    pub(crate) key_touches: Vec<AtomicU64>,
    /// Per key text: lookups outside the verifier in progress.
    pub(crate) key_active: Vec<AtomicU64>,
    /// Per key text: its last events, for a failure (module `keys`).
    key_logs: Vec<Mutex<VecDeque<(u64, u16, KeyEv)>>>,
}

impl Shared {
    pub(crate) fn new(cfg: &StressConfig, model: Model) -> Shared {
        Shared {
            cfg: cfg.clone(),
            model: Mutex::new(model),
            model_len: AtomicUsize::new(0),
            reachable: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            ledger: Arc::new(Ledger::default()),
            stop: AtomicBool::new(false),
            finished: AtomicUsize::new(0),
            counters: Default::default(),
            max_reachable: AtomicUsize::new(0),
            failures: Mutex::new(Vec::new()),
            failure_count: AtomicU64::new(0),
            start: Instant::now(),
            last_verify_ms: AtomicU64::new(0),
            object_budget: cfg.threads * cfg.objects_per_thread,
            key_touches: (0..KEY_TEXTS).map(|_| AtomicU64::new(0)).collect(),
            key_active: (0..KEY_TEXTS).map(|_| AtomicU64::new(0)).collect(),
            key_logs: (0..KEY_TEXTS).map(|_| Mutex::default()).collect(),
        }
    }

    /// Logs an event of key text `n` (module `keys`).
    pub(crate) fn log_key(&self, n: u64, ev: KeyEv) {
        let us = self.start.elapsed().as_micros() as u64;
        let mut log = self.key_logs[n as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if log.len() == LOG_EVENTS {
            log.pop_front();
        }
        log.push_back((us, crate::keys::who(), ev));
    }

    /// The log of key text `n`, one event a line.
    pub(crate) fn key_log_text(&self, n: u64) -> String {
        let log = self.key_logs[n as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        for (us, who, ev) in log.iter() {
            let who = if *who == u16::MAX {
                "verifier".to_string()
            } else {
                format!("thread {who}")
            };
            out.push_str(&format!("\n    {:.6}s {who}: {ev:?}", *us as f64 / 1e6));
        }
        out
    }

    /// A lookup of key text `n` by a worker, in progress until the guard is
    /// dropped (module `keys`).
    pub(crate) fn key_lookup(&self, n: u64) -> KeyLookup<'_> {
        self.key_active[n as usize].fetch_add(1, Ordering::SeqCst);
        KeyLookup {
            shared: self,
            n: n as usize,
        }
    }

    /// Records a failure (module header).
    pub(crate) fn record(&self, msg: String) {
        eprintln!("stress: FAILURE: {msg}");
        let n = self.failure_count.fetch_add(1, Ordering::SeqCst) + 1;
        {
            let mut f = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
            if f.len() < MAX_REPORTED {
                f.push(msg);
            }
        }
        if n as usize >= self.cfg.max_failures {
            self.stop.store(true, Ordering::SeqCst);
        }
    }

    pub(crate) fn failure_count(&self) -> u64 {
        self.failure_count.load(Ordering::SeqCst)
    }

    pub(crate) fn failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn add(&self, c: Counter, n: u64) {
        self.counters[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self, c: Counter) -> u64 {
        self.counters[c as usize].load(Ordering::Relaxed)
    }

    /// Records, as failures, the Drops that reached the heap since the last
    /// call (the ledger collects them: a Drop has no way to record one).
    pub(crate) fn drain_drop_failures(&self) {
        for msg in self.ledger.take_reached() {
            self.record(msg);
        }
    }

    /// The figures so far (the teardown fields left at zero).
    pub(crate) fn report(&self, heap: &Heap) -> StressReport {
        let gc = heap.gc_summary();
        StressReport {
            elapsed: self.start.elapsed(),
            threads: self.cfg.threads,
            seed: self.cfg.seed,
            cycles: gc.cycles,
            forced_cycles: gc.forced_cycles,
            checkmarked: gc.checkmarked_objects,
            ops: self.get(Counter::Ops),
            allocated: self.get(Counter::Allocated),
            verified_reads: self.get(Counter::VerifiedReads),
            verifications: self.get(Counter::Verifications),
            max_reachable: self.max_reachable.load(Ordering::Relaxed),
            links: self.get(Counter::Links),
            unlinks: self.get(Counter::Unlinks),
            moves: self.get(Counter::Moves),
            weak_upgrades: self.get(Counter::WeakUpgrades),
            weak_cleared: self.get(Counter::WeakCleared),
            resurrections: self.get(Counter::Resurrections),
            droppable: self.get(Counter::Droppable),
            drops: self.ledger.drops.load(Ordering::SeqCst),
            lends: self.get(Counter::Lends),
            lend_stores: self.get(Counter::LendStores),
            exposed_batches: self.get(Counter::ExposedBatches),
            exposed_drops: self.ledger.exposed_drops.load(Ordering::Relaxed),
            drop_refusals: self.ledger.refusals.load(Ordering::Relaxed),
            attach_refusals: self.get(Counter::AttachRefusals),
            yields: self.get(Counter::Yields),
            value_reads: self.get(Counter::ValueReads),
            value_stores: self.get(Counter::ValueStores),
            value_moves: self.get(Counter::ValueMoves),
            map_ops: self.get(Counter::MapOps),
            stack_pushes: self.get(Counter::StackPushes),
            stack_checks: self.get(Counter::StackChecks),
            stack_aged: self.get(Counter::StackAged),
            interns: self.get(Counter::Interns),
            intern_hits: self.get(Counter::InternHits),
            intern_misses: self.get(Counter::InternMisses),
            key_renewals: self.get(Counter::KeyRenewals),
            key_finds: self.get(Counter::KeyFinds),
            key_evictions: self.get(Counter::KeyEvictions),
            keys_left: 0,
            hogs: self.cfg.hogs,
            objects_left: 0,
            bytes_left: 0,
            notes: Vec::new(),
            failures: self.failures(),
            failure_count: self.failure_count(),
        }
    }
}
