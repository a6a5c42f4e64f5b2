//! Weak sets: interning tables whose entries do not keep their objects
//! alive (Go's `unique.Make`).
//!
//! **What it owns.** A [`WeakSet<O>`] is a handle to a [`SetTable`]: an
//! open-addressing table of `(hash, address)` entries (the hash is the
//! caller's, of the object's contents) plus an index from address to hash,
//! both under one lock. No per-entry handle: an entry costs two slots of
//! 16 and 24 bytes, and inserting one is about two hash-table inserts. The
//! table is registered with the heap's weak registry (`gc/weak.rs`) for as
//! long as the set lives.
//!
//! **Clearing.** When the sweeper sweeps a span with weak referents
//! (`has_weak`), it collects the span's dead objects and, under the span's
//! weak lock, before any Drop runs and before the mark bits become the
//! alloc bits, asks every registered set to purge them: through the index,
//! each dead address's entries are removed. So an entry never outlives its
//! object's memory: a slot is reused only after its entries are gone.
//!
//! **Lookup** never returns a dead object, and never one that the current
//! cycle could free while the caller holds it. With the entry found under
//! the table lock (module `gc/weak` has the same protocol for `Weak`):
//! * in Off(n) (sweeping): if the object's span has already been swept for
//!   cycle n (its sweepgen is the heap's), the sweeper purged the span
//!   first, so an entry still present is live. Otherwise, under the span's
//!   weak lock (which the sweeper's purge takes, so the span's marks stay
//!   put), an entry of a span whose purge has not run answers from its
//!   mark bit; one whose purge ran answers by presence. Either way the
//!   object is live through cycle n, and cycle n+1 cannot free it before
//!   the caller's next safepoint (its stack stays grey until then);
//! * in Arm or Mark (sweep n−1 complete, so present ⇒ live), the lookup
//!   registers as an agent of the cycle (which pins the phase), re-reads
//!   the table and shades every candidate it will show to `eq`, so that a
//!   caller whose stack is already black cannot be handed a white object;
//! * in Term, registration sets `dirty` first (the terminator cannot flip
//!   past it) and waits for Mark (`GcWordCell::with_registration`).
//!
//! The caller's `eq` and `make` run with no lock held: `make` allocates,
//! and an allocation can sweep, and a sweep purges this very table.
//! Two threads interning the same contents at once could both miss; the
//! table's version number makes the second insert notice the first and
//! look again, so each contents is interned once.
//!
//! Lock order: span weak lock → registry → table lock. The table lock is
//! never held while user code runs, nor while another lock is taken.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::alloc::arena;
use crate::alloc::span::MSpan;
use crate::gc::collector::{Collector, Heap};
use crate::gc::mark::Drain;
use crate::gc::state::{GcWord, GcWordCell, Phase};
use crate::gc::weak::DeadObjects;
use crate::mutator::Mutator;
use crate::ptr::Gc;
use crate::trace::Trace;

/// Slot address that marks an empty slot.
const EMPTY: usize = 0;
/// Slot address that marks a removed entry.
const TOMBSTONE: usize = 1;
/// Candidates kept inline by a lookup (more spill to the heap).
const INLINE_CANDIDATES: usize = 4;

/// A weak interning table (module header): the live object with given
/// contents, or a new one.
///
/// ```
/// use gomem::{Config, Heap, WeakSet};
/// use std::hash::{BuildHasher, RandomState};
///
/// let heap = Heap::new(Config::default());
/// let mut m = heap.attach();
/// let strings: WeakSet<String> = WeakSet::new(&heap);
/// let hasher = RandomState::new();
/// let intern = |m, s: &str| {
///     let h = hasher.hash_one(s);
///     strings.intern(m, h, |o| o == s, |m| m.alloc(s.to_string()))
/// };
/// let a = intern(&m, "hello");
/// let b = intern(&m, "hello");
/// assert!(gomem::Gc::ptr_eq(a, b));                 // one object per contents
/// let kept = m.root(a);
/// m.collect();
/// let h = hasher.hash_one("hello");
/// assert!(strings.find(&m, h, |o| o == "hello").is_some()); // alive: rooted
/// drop(kept);
/// m.collect();                                      // found unreachable: gone
/// assert!(strings.find(&m, h, |o| o == "hello").is_none());
/// assert_eq!(strings.len(), 0);
/// ```
pub struct WeakSet<O> {
    heap: Heap,
    table: Arc<SetTable>,
    id: u64,
    _t: PhantomData<fn() -> O>,
}

// SAFETY: the table is behind a lock; a set hands out `Gc<O>` (so `&O`)
// on whichever thread looks it up, so it may be shared between threads only
// when `O` may be (as `Root<O>`).
unsafe impl<O: Send + Sync> Send for WeakSet<O> {}
// SAFETY: as above.
unsafe impl<O: Send + Sync> Sync for WeakSet<O> {}

impl<O> Drop for WeakSet<O> {
    fn drop(&mut self) {
        self.heap.inner().weaks.unregister_set(self.id);
    }
}

impl<O> WeakSet<O> {
    /// Entries not yet purged (objects found unreachable leave at their
    /// span's sweep).
    pub fn len(&self) -> usize {
        self.table.inner.lock().live
    }

    /// Whether the set has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<O> std::fmt::Debug for WeakSet<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WeakSet(len {})", self.len())
    }
}

/// The addresses a lookup found for one hash.
struct Candidates {
    inline: [usize; INLINE_CANDIDATES],
    n: usize,
    spill: Vec<usize>,
}

impl Candidates {
    fn new() -> Candidates {
        Candidates {
            inline: [0; INLINE_CANDIDATES],
            n: 0,
            spill: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.n = 0;
        self.spill.clear();
    }

    fn push(&mut self, a: usize) {
        if self.n < INLINE_CANDIDATES {
            self.inline[self.n] = a;
            self.n += 1;
        } else {
            self.spill.push(a);
        }
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.inline[..self.n]
            .iter()
            .copied()
            .chain(self.spill.iter().copied())
    }
}

impl<O: Trace + Send + 'static> WeakSet<O> {
    /// An empty set for objects of `heap`.
    pub fn new(heap: &Heap) -> Self {
        let table = Arc::new(SetTable::default());
        let id = heap.inner().weaks.register_set(table.clone());
        WeakSet {
            heap: heap.clone(),
            table,
            id,
            _t: PhantomData,
        }
    }

    /// The live object with this `hash` for which `eq` holds, or the one
    /// `make` allocates, which is then recorded (module header).
    ///
    /// `hash` must be a function of the contents that `eq` compares, so
    /// that equal contents always come with equal hashes.
    ///
    /// # Panics
    /// If `m` is attached to another heap, or `make` returns an object of
    /// another heap.
    pub fn intern<'m>(
        &self,
        m: &'m Mutator,
        hash: u64,
        mut eq: impl FnMut(&O) -> bool,
        make: impl FnOnce(&'m Mutator) -> Gc<'m, O>,
    ) -> Gc<'m, O> {
        m.check_not_busy();
        m.check_heap(&self.heap);
        let mut make = Some(make);
        let mut made: Option<Gc<'m, O>> = None;
        let mut found = Candidates::new();
        loop {
            let version = self.lookup(m.heap().inner(), hash, &mut found);
            for addr in found.iter() {
                // SAFETY: `lookup` proved the object live and shaded it if a
                // cycle is marking: it stays alive until m's next safepoint.
                let gc: Gc<'m, O> = unsafe { Gc::from_addr(addr) };
                if made.is_some_and(|x| Gc::ptr_eq(x, gc)) || eq(&gc) {
                    return gc;
                }
            }
            let gc = match made {
                Some(gc) => gc,
                None => {
                    let gc = (make.take().expect("make is called once"))(m);
                    m.check_same_heap(gc.addr());
                    made = Some(gc);
                    gc
                }
            };
            if self.table.insert(gc.addr(), hash, version) {
                return gc;
            }
            // Someone inserted meanwhile: look again (they may have
            // interned the same contents).
        }
    }

    /// The live object with this `hash` for which `eq` holds, if any.
    ///
    /// # Panics
    /// If `m` is attached to another heap.
    pub fn find<'m>(
        &self,
        m: &'m Mutator,
        hash: u64,
        mut eq: impl FnMut(&O) -> bool,
    ) -> Option<Gc<'m, O>> {
        m.check_not_busy();
        m.check_heap(&self.heap);
        let mut found = Candidates::new();
        self.lookup(m.heap().inner(), hash, &mut found);
        let hit = found.iter().find_map(|addr| {
            // SAFETY: as in `intern`.
            let gc: Gc<'m, O> = unsafe { Gc::from_addr(addr) };
            eq(&gc).then_some(gc)
        });
        hit
    }

    /// Fills `out` with the live objects recorded under `hash`, shaded if a
    /// cycle is marking (module header). Returns the table's version as of
    /// the lookup.
    fn lookup(&self, heap: &Collector, hash: u64, out: &mut Candidates) -> u64 {
        loop {
            out.clear();
            let w = heap.gc_word().word();
            if w.phase() == Phase::Off {
                let sg = w.sweepgen();
                let mut unsure = Candidates::new();
                let version = {
                    let t = self.table.inner.lock();
                    t.for_each_with_hash(hash, |addr| {
                        // Swept for this cycle: purged first, so present ⇒
                        // live.
                        if span_of(addr).is_some_and(|s| s.sweepgen.load(Ordering::Acquire) == sg) {
                            out.push(addr);
                        } else {
                            unsure.push(addr);
                        }
                    });
                    t.version
                };
                let mut retry = false;
                for addr in unsure.iter() {
                    match self.confirm_off(heap, w, hash, addr) {
                        Some(true) => out.push(addr),
                        Some(false) => {}
                        None => retry = true,
                    }
                }
                if retry {
                    continue;
                }
                return version;
            }
            let marked = heap.gc_word().with_registration(w.cycle(), || {
                let mut drain = Drain::new(&heap.mark);
                let t = self.table.inner.lock();
                t.for_each_with_hash(hash, |addr| {
                    drain.shade(addr);
                    out.push(addr);
                });
                t.version
            });
            if let Some(version) = marked {
                return version;
            }
        }
    }

    /// Off(n), an entry in a span not yet swept for n: under the span's
    /// weak lock, the mark bit answers until the span's purge has run, then
    /// presence does (module header). `None` if the GC word moved on
    /// meanwhile (the next cycle began): the lookup starts over.
    fn confirm_off(&self, heap: &Collector, w: GcWord, hash: u64, addr: usize) -> Option<bool> {
        let Some(span) = span_of(addr) else {
            return Some(false);
        };
        let _guard = span.lock_weak();
        if heap.gc_word().word() != w {
            return None;
        }
        let sg = w.sweepgen();
        let ssg = span.sweepgen.load(Ordering::Acquire);
        let unswept =
            ssg == sg.wrapping_sub(2) || ssg == sg.wrapping_sub(1) || ssg == sg.wrapping_add(1);
        let present = self.table.inner.lock().contains(hash, addr);
        if unswept && span.weak_sweepgen.load(Ordering::Acquire) != sg {
            let idx = span.find_object(addr).0;
            Some(present && span.is_marked(idx))
        } else {
            Some(present)
        }
    }
}

/// The span of a heap address, if its page is in use by one.
fn span_of(addr: usize) -> Option<&'static MSpan> {
    let s = arena::span_of(addr);
    // SAFETY: span structs live as long as their heap, which the set keeps
    // alive; a null pointer means the page holds no span.
    unsafe { s.as_ref() }
}

/// A weak set's table (module header).
#[derive(Default)]
pub(crate) struct SetTable {
    inner: Mutex<Table>,
}

impl SetTable {
    /// Inserts `(hash, addr)` unless the table changed since `version`.
    fn insert(&self, addr: usize, hash: u64, version: u64) -> bool {
        if let Some(span) = span_of(addr) {
            if !span.has_weak.load(Ordering::Acquire) {
                // Under the weak lock, so the sweeper's purge of this span
                // (which reads the flag under the same lock) either sees
                // it or ran before this entry existed, when the object was
                // live.
                let _guard = span.lock_weak();
                span.has_weak.store(true, Ordering::Release);
            }
        }
        let mut t = self.inner.lock();
        if t.version != version {
            return false;
        }
        t.insert(hash, addr);
        true
    }
}

impl DeadObjects for SetTable {
    fn purge(&self, dead: &[usize]) {
        let mut t = self.inner.lock();
        if t.live == 0 {
            return;
        }
        for &base in dead {
            t.remove_addr(base);
        }
    }
}

/// Mixes a hash into a slot index (the caller's hash may be weak in its low
/// bits).
#[inline]
fn mix(h: u64) -> u64 {
    let h = (h ^ (h >> 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

/// A hasher for addresses (already unique; spread by a multiply).
#[derive(Default)]
struct AddrHasher(u64);

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        mix(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_usize(&mut self, i: usize) {
        self.0 = i as u64;
    }
}

#[derive(Clone, Copy)]
struct Entry {
    hash: u64,
    addr: usize,
}

/// Open addressing with linear probing over `(hash, addr)`, duplicates of
/// a hash allowed; `by_addr` maps an address to its hash (and `extra` to
/// further hashes, when one object was recorded under several).
#[derive(Default)]
struct Table {
    slots: Vec<Entry>,
    live: usize,
    used: usize,
    version: u64,
    by_addr: HashMap<usize, u64, BuildHasherDefault<AddrHasher>>,
    extra: Vec<(usize, u64)>,
}

impl Table {
    fn for_each_with_hash(&self, hash: u64, mut f: impl FnMut(usize)) {
        if self.live == 0 {
            return;
        }
        let mask = self.slots.len() - 1;
        let mut i = mix(hash) as usize & mask;
        loop {
            let e = self.slots[i];
            if e.addr == EMPTY {
                return;
            }
            if e.addr != TOMBSTONE && e.hash == hash {
                f(e.addr);
            }
            i = (i + 1) & mask;
        }
    }

    fn contains(&self, hash: u64, addr: usize) -> bool {
        let mut found = false;
        self.for_each_with_hash(hash, |a| found |= a == addr);
        found
    }

    fn insert(&mut self, hash: u64, addr: usize) {
        if (self.used + 1) * 8 > self.slots.len() * 7 {
            self.rehash();
        }
        let mask = self.slots.len() - 1;
        let mut i = mix(hash) as usize & mask;
        while self.slots[i].addr > TOMBSTONE {
            i = (i + 1) & mask;
        }
        if self.slots[i].addr == EMPTY {
            self.used += 1;
        }
        self.slots[i] = Entry { hash, addr };
        self.live += 1;
        self.version += 1;
        if let Some(&h) = self.by_addr.get(&addr) {
            if h != hash {
                self.extra.push((addr, hash));
            }
        } else {
            self.by_addr.insert(addr, hash);
        }
    }

    fn remove(&mut self, hash: u64, addr: usize) {
        let mask = self.slots.len() - 1;
        let mut i = mix(hash) as usize & mask;
        loop {
            let e = self.slots[i];
            if e.addr == EMPTY {
                return;
            }
            if e.addr == addr && e.hash == hash {
                self.slots[i].addr = TOMBSTONE;
                self.live -= 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn remove_addr(&mut self, addr: usize) {
        let Some(hash) = self.by_addr.remove(&addr) else {
            return;
        };
        self.remove(hash, addr);
        if !self.extra.is_empty() {
            let mut more = Vec::new();
            self.extra.retain(|&(a, h)| {
                if a == addr {
                    more.push(h);
                    false
                } else {
                    true
                }
            });
            for h in more {
                self.remove(h, addr);
            }
        }
    }

    /// Grows (or just clears tombstones) so that the table stays at most
    /// 7/8 used after the next insert.
    fn rehash(&mut self) {
        let cap = (self.live * 2).next_power_of_two().max(16);
        let old = std::mem::replace(
            &mut self.slots,
            vec![
                Entry {
                    hash: 0,
                    addr: EMPTY
                };
                cap
            ],
        );
        let mask = cap - 1;
        for e in old.into_iter().filter(|e| e.addr > TOMBSTONE) {
            let mut i = mix(e.hash) as usize & mask;
            while self.slots[i].addr != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = e;
        }
        self.used = self.live;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_insert_find_remove_by_address_and_rehash() {
        let mut t = Table::default();
        for i in 0..1000usize {
            t.insert((i % 97) as u64, 4096 + 16 * i);
        }
        assert_eq!(t.live, 1000);
        let mut n = 0;
        t.for_each_with_hash(5, |a| {
            assert_eq!((a - 4096) / 16 % 97, 5);
            n += 1;
        });
        assert_eq!(n, 1000 / 97 + 1);
        for i in (0..1000usize).step_by(2) {
            t.remove_addr(4096 + 16 * i);
        }
        assert_eq!(t.live, 500);
        assert!(!t.contains(0, 4096));
        assert!(t.contains(1, 4096 + 16));
        // One object under two hashes: both entries go with it.
        t.insert(7, 1 << 20);
        t.insert(8, 1 << 20);
        t.remove_addr(1 << 20);
        assert!(!t.contains(7, 1 << 20) && !t.contains(8, 1 << 20));
        for i in 0..5000usize {
            t.insert(i as u64, 1 << 30 | i << 4);
            t.remove_addr(1 << 30 | i << 4);
        }
        assert_eq!(t.live, 500);
        assert!(t.slots.len() <= 2048, "tombstones are recycled");
    }
}
