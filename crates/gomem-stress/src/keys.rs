//! The weak set: one `WeakSet<Obj>` of interned keys (module `values`),
//! shared by every thread, and the three promises the oracle checks on it.
//!
//! There are [`KEY_TEXTS`] texts; key number `n` has the text
//! `key_text(n)`, interned under `key_hash(n)`. Workers pick texts with a
//! skew (`Worker::pick_text`): a few hot texts get most lookups, the cold
//! ones go quiet long enough to be evicted. Keys are interned under the
//! model lock (`op_intern`, and `op_vslot` when it stores a key: the key is
//! then often linked into the graph through a value slot, and stays
//! reachable until a store overwrites it) and without it (`op_intern_free`:
//! several threads interning and finding at once, against the sweeper's
//! purges; what they get is checked and dropped).
//!
//! * **No dead key.** Every key a lookup returns (`intern`, `find`) is
//!   checked at once (`Oracle::obj_id`: in this heap, the `Key` variant, its
//!   canary, its number and its text, which is a `Box<str>` its Drop would
//!   have freed); so is every candidate the set shows to the `eq` callback
//!   (a clobbered one is reported, not just skipped). Interning the same
//!   text twice with no safepoint between must give the same object.
//! * **Identity.** At every verification, for each text some reachable key
//!   carries (the model's reachability, from the roots and every stack),
//!   that key is the only reachable one with that text, and `find` returns
//!   that very object.
//! * **Liveness.** A text none of whose keys is reachable starts a clock
//!   (`KeyState::unreachable_since`, the completed cycles at the first
//!   verification that saw it so); once [`KEY_LIVENESS_CYCLES`] more cycles
//!   have completed, `find` must return nothing: the set's entries for dead
//!   keys vanish. Each such text the verifier sees go empty after having
//!   had a key is an *eviction*. What restarts a clock: a lookup of the
//!   text by a worker, which may resurrect a key that was unreachable, and
//!   runs without the lock, so possibly during a verification. Each one is
//!   counted in `Shared::key_active` while it runs and bumps
//!   `Shared::key_touches` as it ends (`Shared::key_lookup`); a
//!   verification restarts the clock of a text with a lookup in progress
//!   or a bump since the last one, and a key `find` still returns at the
//!   expiry is a failure only if no lookup of its text was in progress or
//!   ended meanwhile (read in that order: a lookup bumps before it leaves).
//!   (The first version of this check bumped before and after the lookup
//!   only, and blamed the collector for keys made by a lookup that ran
//!   during the verification.) A node or object touched since the last
//!   verification (module `weak`: an overwritten pointer, an upgrade, a
//!   value popped from a stack) that reaches a key of the text in the
//!   model restarts it too. Why four cycles, not the three of `weak`: a
//!   worker still holds the key it looked up after its lookup has ended,
//!   until its next safepoint, and the verification that saw the lookup end
//!   may come before that; one more cycle absorbs it. At the end
//!   (`teardown`), with nothing reachable and two
//!   `collect()`s run, the set must be empty.
//!
//! **Diagnostics.** Each text keeps its last [`LOG_EVENTS`] events
//! (`Shared::key_logs`: interns and finds by workers, stores and overwrites
//! of its keys in value slots, holds on value stacks and in flight, the
//! verifier's clock starts and restarts), with the time and the worker. A
//! liveness failure prints them, with the model's holders of the late key;
//! the late key is then watched, and a note says after how many cycles it
//! vanished.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use gomem::{Gc, Mutator, Value};

use crate::canary::CLOBBERED;
use crate::model::Model;
use crate::oracle::Oracle;
use crate::shared::Counter;
use crate::values::{key_canary, key_hash, key_text, Key, Kind, MObj, MVal, Obj};
use crate::worker::{Mu, Worker};

/// Key texts (`key_text(0..KEY_TEXTS)`).
pub(crate) const KEY_TEXTS: u64 = 128;

/// Cycles after which a text none of whose keys is reachable must have
/// vanished from the set (module header).
pub(crate) const KEY_LIVENESS_CYCLES: u32 = 4;

/// Events kept per key text (module header).
pub(crate) const LOG_EVENTS: usize = 40;

/// One event of a key text's log (module header); read through `Debug`.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)]
pub(crate) enum KeyEv {
    Interned { id: u64, fresh: bool, locked: bool },
    Found { id: u64 },
    Stored { id: u64, owner: u64 },
    Overwritten { id: u64, owner: u64 },
    Pushed { id: u64 },
    Released { id: u64 },
    InFlight { id: u64 },
    Landed { id: u64 },
    Alive { id: u64, done: u32 },
    ClockStart { done: u32 },
    Restart { why: &'static str },
}

thread_local! {
    /// The worker this thread runs, for the key logs.
    static WHO: Cell<u16> = const { Cell::new(u16::MAX) };
}

/// Names this thread's worker in the key logs.
pub(crate) fn set_who(thread: usize) {
    WHO.with(|w| w.set(thread as u16));
}

/// The worker this thread runs (`u16::MAX`: none).
pub(crate) fn who() -> u16 {
    WHO.with(Cell::get)
}

/// What the verifier knows of one key text (module header).
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyState {
    /// The key a lookup under the lock last returned for the text (cleared
    /// when the verifier sees the text evicted).
    pub(crate) last: Option<u64>,
    /// Completed cycles at the first verification that found no key of the
    /// text reachable.
    pub(crate) unreachable_since: Option<u32>,
    /// `Shared::key_touches[n]` as the last verification read it.
    pub(crate) touches_seen: u64,
    /// A key reported late (module header), watched until it vanishes.
    pub(crate) late: Option<u64>,
}

impl Model {
    /// The text of object `id`, if the model knows it as a key.
    pub(crate) fn key_text_of(&self, id: u64) -> Option<u64> {
        match self.objs.get(&id) {
            Some(MObj::Key(n)) => Some(*n),
            _ => None,
        }
    }

    /// For a liveness failure: the model's objects that point at `id`.
    fn holders_of(&self, id: u64, alive: &HashSet<u64>) -> String {
        let mut out = Vec::new();
        for (h, n) in &self.nodes {
            if n.vals.iter().any(|v| v.obj() == Some(id)) {
                out.push(format!("node {h} (alive {})", alive.contains(h)));
            }
        }
        for (h, o) in &self.objs {
            if o.edges().any(|e| e == id) {
                out.push(format!("cell {h} (alive {})", alive.contains(h)));
            }
        }
        let stacks: Vec<usize> = (0..self.on_stack.len())
            .filter(|&t| self.on_stack[t].contains(&id) || self.in_flight[t].contains(&id))
            .collect();
        format!(
            "in the model: {}; holders {:?}; on the stacks of threads {stacks:?}",
            self.objs.contains_key(&id),
            out
        )
    }
}

/// The `eq` callback of a lookup for text `n`: a candidate whose canary is
/// wrong (a freed key) is noted in `bad`, not just refused.
fn key_eq(o: &Obj, n: u64, text: &str, bad: &RefCell<Option<String>>) -> bool {
    match o {
        Obj::Key(k) if k.canary != key_canary(k.id) => {
            bad.borrow_mut().get_or_insert_with(|| {
                format!(
                    "the weak set showed a dead key to eq, looking up text {n}: canary {:#x} does not match its id field {:#x}",
                    k.canary, k.id
                )
            });
            false
        }
        Obj::Key(k) => k.n == n && *k.text == *text,
        Obj::Cell(c) => {
            bad.borrow_mut().get_or_insert_with(|| {
                let what = if c.id == CLOBBERED {
                    "a freed object (clobber-free poison)".to_string()
                } else {
                    format!("a cell (id field {:#x}, canary {:#x})", c.id, c.canary)
                };
                format!("the weak set showed {what} to eq, looking up text {n}")
            });
            false
        }
    }
}

impl Oracle<'_> {
    /// Allocates key number `n`.
    fn new_key<'m>(&self, m: &'m Mutator, n: u64, text: &str) -> Gc<'m, Obj> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        self.shared.add(Counter::Allocated, 1);
        m.alloc(Obj::Key(Key {
            id,
            canary: key_canary(id),
            n,
            text: text.into(),
        }))
    }

    /// Interns (or, with `find_only`, looks up) text `n`, then checks what
    /// the set returned; the key's id and whether this call made it.
    fn lookup_key<'m>(
        &self,
        m: &'m Mutator,
        n: u64,
        find_only: bool,
    ) -> Result<Option<(Gc<'m, Obj>, u64, bool)>, String> {
        let text = key_text(n);
        let bad = RefCell::new(None);
        let made = Cell::new(None);
        let got = if find_only {
            self.keys
                .find(m, key_hash(n), |o| key_eq(o, n, &text, &bad))
        } else {
            Some(self.keys.intern(
                m,
                key_hash(n),
                |o| key_eq(o, n, &text, &bad),
                |m| {
                    let k = self.new_key(m, n, &text);
                    made.set(Some(k.as_ptr()));
                    k
                },
            ))
        };
        if let Some(e) = bad.into_inner() {
            return Err(e);
        }
        let Some(k) = got else { return Ok(None) };
        let what = if find_only { "find" } else { "intern" };
        match self.obj_id(k) {
            Err(e) => Err(format!("WeakSet::{what} for text {n} returned: {e}")),
            Ok((id, Kind::Key)) => match k.into_ref() {
                Obj::Key(key) if key.n == n => {
                    let fresh = made.get() == Some(k.as_ptr());
                    Ok(Some((k, id, fresh)))
                }
                _ => Err(format!(
                    "WeakSet::{what} for text {n} returned key {id}, of another text"
                )),
            },
            Ok((id, kind)) => Err(format!(
                "WeakSet::{what} for text {n} returned object {id}, a {kind:?}"
            )),
        }
    }
}

impl Worker<'_> {
    /// A key text, skewed towards the small numbers (`n` with probability
    /// about `ln(KEY_TEXTS / n) / KEY_TEXTS`): the hot texts keep being
    /// found and checked for identity, the cold ones go unlooked-up long
    /// enough for their keys to die and their entries to be seen vanish.
    pub(crate) fn pick_text(&mut self) -> u64 {
        let bound = 1 + self.rng.below(KEY_TEXTS as usize);
        self.rng.below(bound) as u64
    }

    /// Interns text `n` under the model lock (module header): checks the
    /// key, records it in the model, counts a hit or a miss. `None` after a
    /// failure.
    pub(crate) fn intern_locked<'m>(
        &mut self,
        m: &'m Mutator,
        model: &mut Model,
        n: u64,
    ) -> Option<(Gc<'m, Obj>, u64)> {
        let shared = self.oracle.shared;
        let got = {
            let _lookup = shared.key_lookup(n);
            self.oracle.lookup_key(m, n, false)
        };
        let (k, id, fresh) = match got {
            Ok(Some(x)) => x,
            Ok(None) => unreachable!("intern returns an object"),
            Err(e) => {
                self.fail(e);
                return None;
            }
        };
        shared.add(Counter::Interns, 1);
        shared.add(
            if fresh {
                Counter::InternMisses
            } else {
                Counter::InternHits
            },
            1,
        );
        shared.log_key(
            n,
            KeyEv::Interned {
                id,
                fresh,
                locked: true,
            },
        );
        match model.objs.get(&id) {
            Some(MObj::Key(kn)) if *kn == n => {}
            Some(other) => {
                self.fail(format!(
                    "WeakSet::intern for text {n} returned object {id}, which the model knows as {other:?}"
                ));
                return None;
            }
            None => {
                model.objs.insert(id, MObj::Key(n));
            }
        }
        let state = &mut model.keys[n as usize];
        if fresh && state.last.is_some_and(|x| x != id) {
            shared.add(Counter::KeyRenewals, 1);
        }
        state.last = Some(id);
        Some((k, id))
    }

    /// Interns a key under the lock, then usually links it into the graph
    /// through a value slot; sometimes interns it again (same object).
    pub(crate) fn op_intern(&mut self, mu: &mut Mu<'_>) {
        let mut model = self.lock(mu);
        let m = mu.get();
        let n = self.pick_text();
        let Some((k, id)) = self.intern_locked(m, &mut model, n) else {
            return;
        };
        if self.rng.chance(1, 4) {
            let Some((again, id2)) = self.intern_locked(m, &mut model, n) else {
                return;
            };
            if !Gc::ptr_eq(k, again) {
                return self.fail(format!(
                    "text {n} interned twice with no safepoint between: key {id}, then key {id2}"
                ));
            }
        }
        if self.rng.chance(2, 3) {
            if let Some((s, _, _)) = self.pick_vslot(m, &model) {
                if let Err(e) = self.oracle.vslot_set(
                    m,
                    &mut model,
                    s,
                    Some((Value::from_gc(k), MVal::Obj(id))),
                ) {
                    self.fail(e);
                }
            }
        }
    }

    /// Interns and finds a few keys without the lock (module header).
    pub(crate) fn op_intern_free(&mut self, mu: &mut Mu<'_>) {
        let shared = self.oracle.shared;
        let m = mu.get();
        for _ in 0..1 + self.rng.below(4) {
            let n = self.pick_text();
            let find_only = self.rng.chance(1, 3);
            let lookup = shared.key_lookup(n);
            self.starve();
            let got = self.oracle.lookup_key(m, n, find_only);
            self.starve();
            let res = match got {
                Ok(Some((k, id, fresh))) if !find_only => {
                    shared.log_key(
                        n,
                        KeyEv::Interned {
                            id,
                            fresh,
                            locked: false,
                        },
                    );
                    shared.add(Counter::Interns, 1);
                    shared.add(
                        if fresh {
                            Counter::InternMisses
                        } else {
                            Counter::InternHits
                        },
                        1,
                    );
                    // Held on this stack: interning again must find it.
                    match self.oracle.lookup_key(m, n, self.rng.chance(1, 2)) {
                        Ok(Some((k2, _, _))) if Gc::ptr_eq(k, k2) => Ok(()),
                        Ok(Some((_, id2, _))) => Err(format!(
                            "text {n} looked up twice with no safepoint between: key {id}, then key {id2}"
                        )),
                        Ok(None) => Err(format!(
                            "key {id} (text {n}), held on this stack, is not found"
                        )),
                        Err(e) => Err(e),
                    }
                }
                Ok(Some((_, id, _))) => {
                    shared.log_key(n, KeyEv::Found { id });
                    shared.add(Counter::InternHits, 1);
                    Ok(())
                }
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            drop(lookup);
            if let Err(e) = res {
                return self.fail(format!("lock-free: {e}"));
            }
        }
    }
}

impl Oracle<'_> {
    /// Checks the weak set (module header), under the lock, after the graph
    /// was verified: `alive` is what the model reaches from the roots and
    /// the stacks, `reset` what it reaches from the nodes touched since the
    /// last verification.
    pub(crate) fn check_keys(
        &self,
        m: &Mutator,
        model: &mut Model,
        alive: &HashSet<u64>,
        reset: &HashSet<u64>,
    ) -> Result<(), String> {
        // The counters first, then the cycle count (module header).
        let shared = self.shared;
        for (n, state) in model.keys.iter_mut().enumerate() {
            let busy = shared.key_active[n].load(Ordering::SeqCst) > 0;
            let t = shared.key_touches[n].load(Ordering::SeqCst);
            if t != state.touches_seen || busy {
                state.touches_seen = t;
                if state.unreachable_since.take().is_some() {
                    shared.log_key(n as u64, KeyEv::Restart { why: "a lookup" });
                }
            }
        }
        for id in reset {
            if let Some(MObj::Key(n)) = model.objs.get(id) {
                if model.keys[*n as usize].unreachable_since.take().is_some() {
                    self.shared.log_key(
                        *n,
                        KeyEv::Restart {
                            why: "a touched object reaches it",
                        },
                    );
                }
            }
        }
        let done = self.heap.gc_summary().cycles;
        let mut alive_key: HashMap<u64, u64> = HashMap::new();
        for id in alive {
            if let Some(MObj::Key(n)) = model.objs.get(id) {
                if let Some(other) = alive_key.insert(*n, *id) {
                    return Err(format!(
                        "keys {other} and {id} are both reachable and both carry text {n}: the weak set interned it twice"
                    ));
                }
            }
        }
        for n in 0..KEY_TEXTS {
            let state = &mut model.keys[n as usize];
            if let Some(late) = state.late {
                if self.lookup_key(m, n, true)?.is_none() {
                    eprintln!(
                        "stress: note: late key {late} (text {n}) no longer found after {done} cycles"
                    );
                    state.late = None;
                }
                continue;
            }
            if let Some(&want) = alive_key.get(&n) {
                if state.unreachable_since.take().is_some() {
                    self.shared.log_key(n, KeyEv::Alive { id: want, done });
                }
                match self.lookup_key(m, n, true)? {
                    Some((_, id, _)) if id == want => {}
                    Some((_, id, _)) => {
                        return Err(format!(
                            "key {want} (text {n}) is reachable, yet WeakSet::find returns key {id}"
                        ))
                    }
                    None => {
                        return Err(format!(
                            "key {want} (text {n}) is reachable, yet WeakSet::find does not find it"
                        ))
                    }
                }
                self.shared.add(Counter::KeyFinds, 1);
                continue;
            }
            match state.unreachable_since {
                None => {
                    state.unreachable_since = Some(done);
                    self.shared.log_key(n, KeyEv::ClockStart { done });
                }
                Some(c) if done >= c + KEY_LIVENESS_CYCLES => {
                    if let Some((_, id, _)) = self.lookup_key(m, n, true)? {
                        // A worker's lookup that ran during this check may
                        // have made or resurrected the key (`active` first:
                        // a lookup bumps `touches` before it leaves it).
                        let i = n as usize;
                        if shared.key_active[i].load(Ordering::SeqCst) > 0
                            || shared.key_touches[i].load(Ordering::SeqCst) != state.touches_seen
                        {
                            state.unreachable_since = None;
                            shared.log_key(
                                n,
                                KeyEv::Restart {
                                    why: "a lookup during the verification",
                                },
                            );
                            continue;
                        }
                        state.late = Some(id);
                        return Err(format!(
                            "no key of text {n} has been reachable since a verification at which {c} cycles had completed, yet after {done} cycles WeakSet::find still returns key {id}: entries of dead keys must vanish within {KEY_LIVENESS_CYCLES} cycles; key {id} {}; the text's last events:{}",
                            model.holders_of(id, alive),
                            self.shared.key_log_text(n)
                        ));
                    }
                    if state.last.take().is_some() {
                        self.shared.add(Counter::KeyEvictions, 1);
                    }
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}
