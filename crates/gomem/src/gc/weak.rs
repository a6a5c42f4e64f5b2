//! Weak pointers (Go's `weak.Pointer`): handles that read null once their
//! target is found unreachable.
//!
//! A weak handle is an off-heap [`WeakHandle`] holding the target's address
//! as a plain integer, so the collector never traces it. There is one handle
//! per object address: `Mutator::weak` returns the same handle for the same
//! object, so `Weak::ptr_eq` is handle identity and survives reclamation. The
//! heap keeps the handles in a sharded table keyed by the object's slot base;
//! a span with any handle has `has_weak` set.
//!
//! **Clearing.** The sweeper clears the handles of every dead object of a
//! `has_weak` span *before* it runs any Drop and before the span's mark bits
//! become alloc bits, under the span's weak lock, and records that it did so
//! in `weak_sweepgen`. It takes the lock and records the generation for
//! every span, `has_weak` or not (one uncontended CAS per span swept): a
//! referent registered while the span waits to be swept then always finds
//! either marks that nobody is clearing, or a finished clear.
//!
//! **Weak sets** (`weakset.rs`: interning tables, no handle per entry) are
//! the other kind of weak referent. A set registers its table here as
//! [`DeadObjects`]; it sets `has_weak` on a span (under the weak lock)
//! before it records an object of that span, and the sweeper, in the same
//! critical section that clears handles, hands each registered set the
//! span's dead objects to purge. Lock order: span weak lock → registry →
//! a set's table lock.
//!
//! **Upgrading** must never return an object that the current sweep will
//! free, nor shade one after the flip (a mark bit set in a span that was
//! already swept would survive into the next cycle unscanned):
//! * during a cycle (Arm/Mark), the caller registers as an agent (which pins
//!   the phase), re-reads the handle (the previous sweep has finished, so a
//!   non-zero handle means a live object) and shades it;
//! * in Term, it first sets the GC word's `dirty` bit (so the terminator
//!   cannot flip past it), then does the same;
//! * in Off (sweeping), under the span's weak lock: if the span's handles
//!   have not been cleared for this sweep yet (it waits to be swept, is being
//!   swept, or is still cached by a P from before the flip), the mark bit
//!   answers; if they have, the handle does. Holding the lock keeps the sweep from finishing,
//!   so the phase cannot move on while it decides.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::alloc::arena;
use crate::alloc::span::MSpan;
use crate::gc::mark::{Drain, MarkState};
use crate::gc::state::{GcWordCell, Phase};

/// Shards of the weak-handle table.
const WEAK_SHARDS: usize = 16;

/// The off-heap cell a `Weak` points to.
#[derive(Debug)]
pub struct WeakHandle {
    target: AtomicUsize,
}

impl WeakHandle {
    /// The target's address, or 0 once cleared.
    #[inline]
    pub fn target(&self) -> usize {
        self.target.load(Ordering::Acquire)
    }
}

type Entry = Vec<(usize, Arc<WeakHandle>)>;

/// A weak referent that is not a handle (a weak set's table): told which
/// objects died before their memory can be reused (module header).
pub trait DeadObjects: Send + Sync {
    /// Forgets the objects whose slots start at `dead` (called by the
    /// sweeper under the span's weak lock: take no span lock, run no user
    /// code).
    fn purge(&self, dead: &[usize]);
}

/// The heap's weak-handle table (module header).
pub struct WeakTable {
    shards: [Mutex<HashMap<usize, Entry>>; WEAK_SHARDS],
    sets: RwLock<Vec<(u64, Arc<dyn DeadObjects>)>>,
    next_set: AtomicU64,
}

impl Default for WeakTable {
    fn default() -> Self {
        WeakTable {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            sets: RwLock::new(Vec::new()),
            next_set: AtomicU64::new(1),
        }
    }
}

fn shard_of(slot_base: usize) -> usize {
    (slot_base >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60
}

impl WeakTable {
    /// The handle for the object at `addr` (whose slot starts at
    /// `slot_base`), creating it if needed. The caller holds the object alive.
    pub fn handle_for(&self, span: &MSpan, slot_base: usize, addr: usize) -> Arc<WeakHandle> {
        let _guard = span.lock_weak();
        span.has_weak.store(true, Ordering::Release);
        let mut shard = self.shards[shard_of(slot_base) % WEAK_SHARDS].lock();
        let entry = shard.entry(slot_base).or_default();
        if let Some((_, h)) = entry.iter().find(|(a, _)| *a == addr) {
            return h.clone();
        }
        let h = Arc::new(WeakHandle {
            target: AtomicUsize::new(addr),
        });
        entry.push((addr, h.clone()));
        h
    }

    /// Registers a weak set's table; returns its id for `unregister_set`.
    pub fn register_set(&self, set: Arc<dyn DeadObjects>) -> u64 {
        let id = self.next_set.fetch_add(1, Ordering::Relaxed);
        self.sets.write().push((id, set));
        id
    }

    /// Forgets a weak set (it is being dropped).
    pub fn unregister_set(&self, id: u64) {
        self.sets.write().retain(|(i, _)| *i != id);
    }

    /// Sweeper: clears the handles of every dead object of `span`, a span it
    /// owns, purges them from every weak set, and records the sweep
    /// generation (module header).
    pub fn clear_dead(&self, span: &MSpan, sweepgen: u32) {
        let _guard = span.lock_weak();
        if span.has_weak.load(Ordering::Acquire) {
            let mut dead = Vec::new();
            span.for_each_dead(|base| dead.push(base));
            for &base in &dead {
                let mut shard = self.shards[shard_of(base) % WEAK_SHARDS].lock();
                if let Some(entry) = shard.remove(&base) {
                    for (_, h) in entry {
                        h.target.store(0, Ordering::Release);
                    }
                }
            }
            if !dead.is_empty() {
                for (_, set) in self.sets.read().iter() {
                    set.purge(&dead);
                }
            }
        }
        span.weak_sweepgen.store(sweepgen, Ordering::Release);
    }
}

/// Upgrades a weak handle (module header): the target's address if it is
/// still alive, shaded for the cycle under way if there is one. `word` is
/// the heap's GC word and `mark` its marking state.
pub fn upgrade(handle: &WeakHandle, word: &AtomicU64, mark: &MarkState) -> Option<usize> {
    loop {
        let addr = handle.target();
        if addr == 0 {
            return None;
        }
        let span = arena::span_of(addr);
        // SAFETY: a handle's target stays in this heap's arenas; span
        // structs are never freed while the heap lives.
        let span = unsafe { &*span };
        let w = word.word();
        if w.phase() == Phase::Off {
            let _guard = span.lock_weak();
            if word.word() != w {
                continue;
            }
            let sg = w.sweepgen();
            let ssg = span.sweepgen.load(Ordering::Acquire);
            // Not yet swept for this cycle: waiting (h−2), being swept
            // (h−1), or cached by a P since before the flip (h+1) and so
            // swept only when that P lets it go.
            let unswept =
                ssg == sg.wrapping_sub(2) || ssg == sg.wrapping_sub(1) || ssg == sg.wrapping_add(1);
            let alive = if unswept && span.weak_sweepgen.load(Ordering::Acquire) != sg {
                let idx = span.find_object(addr).0;
                handle.target() != 0 && span.is_marked(idx)
            } else {
                handle.target() != 0
            };
            return alive.then_some(addr);
        }
        let decided = word.with_registration(w.cycle(), || {
            (handle.target() != 0).then(|| {
                let mut drain = Drain::new(mark);
                drain.shade(addr);
                addr
            })
        });
        if let Some(result) = decided {
            return result;
        }
    }
}
