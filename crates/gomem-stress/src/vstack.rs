//! Value stacks: each worker owns two `ValueStack`s — one of nodes, one of
//! value objects (cells and keys) — that hold objects across safepoints,
//! blocking sections and whole cycles, as a VM's operand stack does.
//!
//! A `ValueStack` is written with plain stores (no barrier) and scanned
//! when its mutator's stack turns black (at a safepoint in Mark, or when
//! the collector adopts an idle P: the workers take the model lock inside
//! `blocking` half the time). So the oracle makes it the only holder of
//! what it holds: `op_stack` pushes a node picked by a walk (or a value
//! object read from a value slot) and, usually, unlinks it from where it
//! was found; the value stays on the stack for as many operations, batches
//! and safepoints as the random mix leaves it there, then is popped,
//! checked and sometimes linked back. Immediates (derived from owner 0,
//! which no object has) are pushed between the pointers.
//!
//! **The model.** `Model::on_stack[thread]` lists, once per value, the
//! objects the thread's stacks hold: they are live seeds, like
//! `in_flight`, so the verifier keeps them in the model and the weak and
//! key checks count them as alive. A value that leaves a stack (pop,
//! truncate, overwrite) is touched (module `weak`): a scan of the stack may
//! have shaded it, which keeps it, and what it reaches, one more cycle.
//! The stacks themselves are owner-only (every read needs the owner's
//! Mutator), so only their owner checks them; a worker that ends empties
//! its stacks from the model (touching what they held) before dropping
//! them.
//!
//! **Checks.** Beside each stack the worker keeps what it pushed
//! (`Entry`): the immediate's exact word or the object's id, and the
//! completed cycles at the push. Every value read back (pop, `get` of the
//! whole stack, after the operations that copy within it: `push_copy`,
//! `set_from_top`, `set`, `truncate`) must match: an immediate word for
//! word, a pointer to the same object, intact (inspected whole, and, under
//! the lock, compared with the model). Objects read back after two or more
//! cycles on the stack are counted apart (`stack_aged`), so a run shows
//! that the stacks really held objects across collections. Half the
//! whole-stack checks first pass a safepoint (when the Mutator is owned).

use gomem::{Gc, Mutator, Trace, Value, ValueStack};

use crate::graph::Node;
use crate::keys::KeyEv;
use crate::model::{lock_model, Model};
use crate::oracle::Oracle;
use crate::shared::Counter;
use crate::values::{imm, MVal, Obj};
use crate::worker::{Mu, Worker};

/// Values per stack at most.
const STACK_MAX: usize = 24;
/// The owner the stacks' immediates are derived from (no object has id 0).
const STACK_OWNER: u64 = 0;

/// What was pushed at one position (module header).
#[derive(Debug, Clone, Copy)]
struct Entry {
    val: MVal,
    /// Completed cycles at the push.
    since: u32,
}

/// A stack and what was pushed on it.
struct Tracked<O> {
    stack: ValueStack<O>,
    meta: Vec<Entry>,
}

/// A worker's two value stacks (module header).
pub(crate) struct VmStacks {
    nodes: Tracked<Node>,
    objs: Tracked<Obj>,
}

impl VmStacks {
    pub(crate) fn new(m: &Mutator) -> VmStacks {
        VmStacks {
            nodes: Tracked {
                stack: m.value_stack(),
                meta: Vec::new(),
            },
            objs: Tracked {
                stack: m.value_stack(),
                meta: Vec::new(),
            },
        }
    }

    /// The objects the stacks hold.
    fn held(&self) -> impl Iterator<Item = u64> + '_ {
        self.nodes
            .meta
            .iter()
            .chain(&self.objs.meta)
            .filter_map(|e| e.val.obj())
    }
}

/// What a stack holds pointers to: nodes or value objects.
trait Held: Trace + Send + Sized + 'static {
    /// Checks an object read from a stack (and compares it with the model,
    /// if given); its id.
    fn check(
        o: &Oracle<'_>,
        m: &Mutator,
        model: Option<&Model>,
        x: Gc<'_, Self>,
    ) -> Result<u64, String>;
    /// An object picked by a walk, usually unlinked from where it was found
    /// (under the lock).
    fn take<'m>(
        w: &mut Worker<'_>,
        m: &'m Mutator,
        model: &mut Model,
    ) -> Option<(Gc<'m, Self>, u64)>;
    /// Links `x` back into the graph somewhere (under the lock).
    fn relink(w: &mut Worker<'_>, m: &Mutator, model: &mut Model, x: Gc<'_, Self>, id: u64);
}

impl Held for Node {
    fn check(
        o: &Oracle<'_>,
        m: &Mutator,
        model: Option<&Model>,
        x: Gc<'_, Node>,
    ) -> Result<u64, String> {
        let r = o.inspect(m, x)?;
        if let Some(model) = model {
            o.compare(model, &r)?;
        }
        Ok(r.id)
    }

    fn take<'m>(
        w: &mut Worker<'_>,
        m: &'m Mutator,
        model: &mut Model,
    ) -> Option<(Gc<'m, Node>, u64)> {
        let (s, o) = w.pick_full(m, model, 4)?;
        if w.rng.chance(3, 4) {
            w.oracle.slot_set(m, model, s, None);
        }
        Some((o, o.id))
    }

    fn relink(w: &mut Worker<'_>, m: &Mutator, model: &mut Model, x: Gc<'_, Node>, _: u64) {
        if let Some((dst, _)) = w.pick_slot(m, model) {
            w.oracle.slot_set(m, model, dst, Some(x));
        }
    }
}

impl Held for Obj {
    fn check(
        o: &Oracle<'_>,
        m: &Mutator,
        model: Option<&Model>,
        x: Gc<'_, Obj>,
    ) -> Result<u64, String> {
        let r = o.inspect_obj(m, x, model.is_some())?;
        if let Some(model) = model {
            o.compare_obj(model, &r)?;
        }
        Ok(r.id)
    }

    fn take<'m>(
        w: &mut Worker<'_>,
        m: &'m Mutator,
        model: &mut Model,
    ) -> Option<(Gc<'m, Obj>, u64)> {
        let (s, o, id) = w.pick_full_vslot(m, model)?;
        if w.rng.chance(1, 2) {
            let i = w.imm_for(s.owner());
            if let Err(e) = w.oracle.vslot_set(m, model, s, Some(i)) {
                w.fail(e);
                return None;
            }
        }
        Some((o, id))
    }

    fn relink(w: &mut Worker<'_>, m: &Mutator, model: &mut Model, x: Gc<'_, Obj>, id: u64) {
        if let Some((dst, _, _)) = w.pick_vslot(m, model) {
            let v = Some((Value::from_gc(x), MVal::Obj(id)));
            if let Err(e) = w.oracle.vslot_set(m, model, dst, v) {
                w.fail(e);
            }
        }
    }
}

impl Worker<'_> {
    /// Completed cycles now (`gc_summary` sums histograms: called outside
    /// the model lock; a push's is read after the push and a check's before
    /// the check, so that `stack_aged` never counts a value too old).
    fn cycles(&self) -> u32 {
        self.oracle.heap.gc_summary().cycles
    }

    /// Records that this thread's stacks hold object `id` once more.
    fn hold(&self, model: &mut Model, id: u64) {
        model.on_stack[self.thread].push(id);
        if let Some(n) = model.key_text_of(id) {
            self.oracle.shared.log_key(n, KeyEv::Pushed { id });
        }
    }

    /// Records that they hold it once less (and touches it).
    fn release(&self, model: &mut Model, id: u64) {
        Model::unhold(&mut model.on_stack, self.thread, id);
        model.touch(id);
        if let Some(n) = model.key_text_of(id) {
            self.oracle.shared.log_key(n, KeyEv::Released { id });
        }
    }

    /// Checks a value read from a stack against what was pushed (module
    /// header).
    fn check_stack_value<O: Held>(
        &self,
        m: &Mutator,
        model: Option<&Model>,
        v: Value<'_, O>,
        e: Entry,
        now: u32,
    ) -> Result<(), String> {
        let shared = self.oracle.shared;
        shared.add(Counter::StackChecks, 1);
        match (v.as_gc(), e.val) {
            (None, MVal::Imm(bits)) if v.bits() == bits => {}
            (Some(x), MVal::Obj(id)) => {
                let got = O::check(&self.oracle, m, model, x)
                    .map_err(|err| format!("object {id}, read back from a value stack: {err}"))?;
                if got != id {
                    return Err(format!(
                        "a value stack holds object {got} where object {id} was pushed"
                    ));
                }
            }
            _ => {
                return Err(format!(
                    "a value stack holds {v:?} (word {:#x}) where {:?} was pushed",
                    v.bits(),
                    e.val
                ))
            }
        }
        if matches!(e.val, MVal::Obj(_)) && now >= e.since + 2 {
            shared.add(Counter::StackAged, 1);
        }
        Ok(())
    }

    /// One operation on one of the thread's value stacks (module header).
    pub(crate) fn op_stack(&mut self, mu: &mut Mu<'_>) {
        let Some(mut st) = self.stacks.take() else {
            return;
        };
        if self.rng.chance(1, 2) {
            self.stack_step(mu, &mut st.nodes);
        } else {
            self.stack_step(mu, &mut st.objs);
        }
        self.stacks = Some(st);
    }

    fn stack_step<O: Held>(&mut self, mu: &mut Mu<'_>, t: &mut Tracked<O>) {
        let len = t.meta.len();
        let mut r = self.rng.below(16);
        if len >= STACK_MAX && r < 6 {
            r = 6;
        } else if len == 0 && r >= 6 {
            r = self.rng.below(6);
        }
        match r {
            0..=3 => self.stack_push_ptr(mu, t),
            4..=5 => {
                let v = imm(STACK_OWNER, self.rng.next() as u16);
                t.stack.push(mu.get(), v);
                let since = self.cycles();
                t.meta.push(Entry {
                    val: MVal::imm(v),
                    since,
                });
            }
            6..=9 => self.stack_pop(mu, t),
            10..=11 => self.stack_check_all(mu, t, true),
            12 => self.stack_check_all(mu, t, false),
            _ => self.stack_shuffle(mu, t),
        }
    }

    fn stack_push_ptr<O: Held>(&mut self, mu: &mut Mu<'_>, t: &mut Tracked<O>) {
        let mut model = self.lock(mu);
        let m = mu.get();
        let Some((x, id)) = O::take(self, m, &mut model) else {
            return;
        };
        self.starve();
        t.stack.push(m, Value::from_gc(x));
        self.hold(&mut model, id);
        drop(model);
        let since = self.cycles();
        t.meta.push(Entry {
            val: MVal::Obj(id),
            since,
        });
        self.oracle.shared.add(Counter::StackPushes, 1);
    }

    fn stack_pop<O: Held>(&mut self, mu: &mut Mu<'_>, t: &mut Tracked<O>) {
        let now = self.cycles();
        let mut model = self.lock(mu);
        let m = mu.get();
        let v = t.stack.pop(m);
        let e = t.meta.pop().expect("stress: the stack's entries");
        self.starve();
        if let Err(err) = self.check_stack_value(m, Some(&model), v, e, now) {
            return self.fail(format!("popped: {err}"));
        }
        if let (Some(x), MVal::Obj(id)) = (v.as_gc(), e.val) {
            self.release(&mut model, id);
            if self.rng.chance(1, 2) {
                O::relink(self, m, &mut model, x, id);
            }
        }
    }

    /// Checks every value of the stack, under the lock (`locked`) or not,
    /// first passing a safepoint half the time when the Mutator is owned.
    fn stack_check_all<O: Held>(&mut self, mu: &mut Mu<'_>, t: &mut Tracked<O>, locked: bool) {
        if let Mu::Own(mm) = mu {
            if self.rng.chance(1, 2) {
                self.starve();
                mm.safepoint();
            }
        }
        let now = self.cycles();
        let model = if locked { Some(self.lock(mu)) } else { None };
        let m = mu.get();
        if t.stack.len() != t.meta.len() {
            return self.fail(format!(
                "a value stack has length {}, {} values were left on it",
                t.stack.len(),
                t.meta.len()
            ));
        }
        for (i, e) in t.meta.iter().enumerate() {
            let v = t.stack.get(m, i);
            if let Err(err) = self.check_stack_value(m, model.as_deref(), v, *e, now) {
                return self.fail(format!("value stack position {i}: {err}"));
            }
        }
        if let Some(top) = t.meta.len().checked_sub(1) {
            if t.stack.peek(m, 0) != t.stack.get(m, top) {
                self.fail("ValueStack::peek(0) is not the top value".into());
            }
        }
    }

    /// The operations that copy within a stack or drop values from it:
    /// `push_copy`, `set_from_top`, `set` (an immediate) and `truncate`.
    fn stack_shuffle<O: Held>(&mut self, mu: &mut Mu<'_>, t: &mut Tracked<O>) {
        let now = self.cycles();
        let mut model = self.lock(mu);
        let m = mu.get();
        let len = t.meta.len();
        let i = self.rng.below(len);
        let touched = match self.rng.below(4) {
            0 if len < STACK_MAX => {
                t.stack.push_copy(m, i);
                let e = t.meta[i];
                t.meta.push(e);
                if let MVal::Obj(id) = e.val {
                    self.hold(&mut model, id);
                }
                Some(len)
            }
            0 | 1 => {
                t.stack.set_from_top(m, i);
                let (old, top) = (t.meta[i], t.meta[len - 1]);
                t.meta[i] = top;
                if let MVal::Obj(id) = top.val {
                    self.hold(&mut model, id);
                }
                if let MVal::Obj(id) = old.val {
                    self.release(&mut model, id);
                }
                Some(i)
            }
            2 => {
                let v = imm(STACK_OWNER, self.rng.next() as u16);
                t.stack.set(m, i, v);
                let old = std::mem::replace(
                    &mut t.meta[i],
                    Entry {
                        val: MVal::imm(v),
                        since: now,
                    },
                );
                if let MVal::Obj(id) = old.val {
                    self.release(&mut model, id);
                }
                Some(i)
            }
            _ => {
                t.stack.truncate(i);
                for e in t.meta.drain(i..) {
                    if let MVal::Obj(id) = e.val {
                        self.release(&mut model, id);
                    }
                }
                None
            }
        };
        if let Some(j) = touched {
            let v = t.stack.get(m, j);
            if let Err(err) = self.check_stack_value(m, Some(&model), v, t.meta[j], now) {
                self.fail(format!(
                    "value stack position {j}, after a copy within it: {err}"
                ));
            }
        }
    }

    /// Empties this thread's stacks from the model and drops them (the
    /// worker's end).
    pub(crate) fn drop_stacks(&mut self) {
        let Some(st) = self.stacks.take() else {
            return;
        };
        let mut model = lock_model(&self.oracle.shared.model);
        model.on_stack[self.thread].clear();
        for id in st.held() {
            model.touch(id);
            if let Some(n) = model.key_text_of(id) {
                self.oracle.shared.log_key(n, KeyEv::Released { id });
            }
        }
        drop(model);
        drop(st);
    }
}
