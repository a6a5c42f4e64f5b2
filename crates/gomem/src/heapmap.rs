//! Heap maps: a hash map stored in the heap whose keys and values are
//! [`Value`]s (a VM's object fields, globals, tables).
//!
//! **What it owns.** A [`HeapMap<O>`] is a value type meant to be a field of
//! a heap object (or an object itself): a one-byte lock, a length, a count
//! of used slots, and a [`Member`] to its backing array, a heap
//! `Slice<ValueSlot<O>>` of `2 × capacity` words with keys and values
//! interleaved (`[k0, v0, k1, v1, …]`). Open addressing with linear
//! probing; a key slot holds the key's value word, or `EMPTY` (0) or
//! `TOMBSTONE` (1), two words no value ever has (nil, false and true are 2,
//! 6 and 7; numbers have non-zero top bits; pointers are ≥ 4096). Keys are
//! compared by [`Value::bits`]: numbers by bit pattern, objects by
//! identity (what a VM with interned strings needs), hashed with a
//! multiply-xorshift mixer.
//!
//! **Concurrency.** Writers (`set`, `remove`, growth) take the lock;
//! readers (`get`, `for_each`) take none: every slot is an atomic word,
//! and writers order their stores so that a reader without the lock sees a
//! consistent pair: a new entry's value is stored before its key (Release
//! after Release; readers load the key, then the value, with Acquire); a
//! removed entry's key becomes a tombstone, then its value nil (so the map
//! stops keeping the value's object alive), and tombstones are never
//! reused in place, only dropped when the map is rebuilt into a new array.
//! A reader loads the key again after the value: if the key is still
//! there, no remove had cleared the value it read (the nil store comes
//! after the tombstone), so a reader that matched a key reads a value that
//! key had. Growth builds a complete new array and then swings the
//! Member (Release), so a reader sees the old array or the new one, each
//! consistent. A reader's backing array stays alive while it uses it: it
//! holds a `Gc` to it (from `Member::get`), and swinging the Member logs
//! the old array through the write barrier.
//!
//! **Never locked across an allocation.** Allocating may poll the
//! collector, which may sweep and run a Drop; growing therefore allocates
//! the new array with the lock released, re-takes the lock and installs it
//! only if the map still has the array it measured (otherwise the new
//! array is garbage and the insert starts over). Under the lock run only
//! barriered stores: the barrier's slow path drains or chains its buffer and
//! never waits for a mutator, nor runs user code.
//!
//! **Barriers.** Every store into the backing array is a `ValueSlot` store
//! with the hybrid write barrier, and every key or value handed to the
//! caller goes through the load barrier (crate docs), so a HeapMap needs no
//! collector support:
//! its array is an ordinary traced slice, and the HeapMap itself is traced
//! as one Member (its `Trace` impl).

use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::lock_api::RawMutex as _;
use parking_lot::RawMutex;

use crate::mutator::Mutator;
#[cfg(test)]
use crate::ptr::Gc;
use crate::ptr::Member;

use crate::slice::Slice;
use crate::trace::{Trace, Tracer};
use crate::value::{is_pointer_word, Value, ValueSlot, NIL_BITS};

/// Key word of a slot that never held an entry.
const EMPTY: usize = 0;
/// Key word of a removed entry.
const TOMBSTONE: usize = 1;
/// Capacity (entries) of a map's first backing array.
const MIN_CAPACITY: usize = 8;

/// A hash map in the heap from [`Value`] to [`Value`] (module header).
///
/// ```
/// use gomem::{Config, HeapMap, Heap, Trace, Value};
///
/// #[derive(Trace)]
/// struct Instance { fields: HeapMap<Instance> }
///
/// let heap = Heap::new(Config::default());
/// let m = heap.attach();
/// let obj = m.alloc(Instance { fields: HeapMap::new() });
/// let key = Value::from_number(1.0);
/// assert!(obj.fields.set(&m, key, Value::from_gc(obj)));   // new key
/// assert!(!obj.fields.set(&m, key, Value::from_bool(true)));
/// assert_eq!(obj.fields.get(&m, key), Some(Value::from_bool(true)));
/// assert_eq!(obj.fields.len(), 1);
/// assert!(obj.fields.remove(&m, key));
/// assert_eq!(obj.fields.get(&m, key), None);
/// ```
pub struct HeapMap<O> {
    lock: RawMutex,
    len: AtomicUsize,
    /// Live entries plus tombstones of the current array (under the lock).
    used: AtomicUsize,
    buf: Member<Slice<ValueSlot<O>>>,
    _t: PhantomData<O>,
}

// SAFETY: one Member (`buf`), at the offset given to the bitmap; the rest
// is plain data.
unsafe impl<O> Trace for HeapMap<O> {
    const NO_MEMBERS: bool = false;
    const MEMBER_WORDS: Option<u64> = crate::trace::__fold_words(
        Some(0),
        Some(1),
        false,
        std::mem::offset_of!(HeapMap<O>, buf),
    );
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.member(&self.buf);
    }
}

impl<O> Default for HeapMap<O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<O> std::fmt::Debug for HeapMap<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HeapMap(len {})", self.len())
    }
}

/// Releases the map's lock when dropped (also when a check panics).
struct Locked<'a>(&'a RawMutex);

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: made only by `HeapMap::lock`, which holds the lock.
        unsafe { self.0.unlock() }
    }
}

#[inline]
fn mix(bits: u64) -> usize {
    let h = (bits ^ (bits >> 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h ^ (h >> 29)) as usize
}

impl<O> HeapMap<O> {
    /// An empty map (no backing array until the first insert).
    pub const fn new() -> Self {
        HeapMap {
            lock: RawMutex::INIT,
            len: AtomicUsize::new(0),
            used: AtomicUsize::new(0),
            buf: Member::null(),
            _t: PhantomData,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> Locked<'_> {
        self.lock.lock();
        Locked(&self.lock)
    }
}

impl<O: Trace + Send + 'static> HeapMap<O> {
    /// The slot index (entry number) of `key` in `buf`, if present.
    #[inline]
    fn find(buf: &[ValueSlot<O>], key: u64) -> Option<usize> {
        let cap = buf.len() / 2;
        let mask = cap - 1;
        let mut i = mix(key) & mask;
        for _ in 0..cap {
            let k = buf[2 * i].load_word();
            if k as u64 == key {
                return Some(i);
            }
            if k == EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// The value stored under `key`.
    ///
    /// # Panics
    /// If the map holds entries but does not lie in `m`'s heap.
    #[inline(always)]
    pub fn get<'m>(&self, m: &'m Mutator, key: Value<'_, O>) -> Option<Value<'m, O>> {
        let buf = self.buf.get(m)?;
        let i = Self::find(&buf, key.bits())?;
        // SAFETY: the array is in m's heap (it came from a Member, checked
        // and set through the barrier), so its slots are too. `Member::get`
        // made the busy check.
        let value = unsafe { buf[2 * i + 1].get_in_heap(m) };
        // A remove between the key's load and the value's clears the value
        // after tombstoning the key: the key, loaded again, says so.
        (buf[2 * i].load_word() == key.bits() as usize).then_some(value)
    }

    /// Stores `value` under `key`; returns true if the key was new.
    ///
    /// # Panics
    /// If the map does not lie in `m`'s heap, or the key or the value
    /// points into another heap.
    pub fn set(&self, m: &Mutator, key: Value<'_, O>, value: Value<'_, O>) -> bool {
        m.check_not_busy();
        let (k, v) = (key.bits() as usize, value.bits() as usize);
        for w in [k, v] {
            if is_pointer_word(w) {
                m.check_same_heap(w);
            }
        }
        loop {
            let grow_from = {
                let _g = self.lock();
                let buf = self.buf.get(m);
                if let Some(buf) = buf {
                    if let Some(i) = Self::find(&buf, k as u64) {
                        // SAFETY: the array is in m's heap (see `get`).
                        unsafe { buf[2 * i + 1].set_word_in_heap(m, v) };
                        return false;
                    }
                    let cap = buf.len() / 2;
                    let used = self.used.load(Ordering::Relaxed);
                    if (used + 1) * 4 <= cap * 3 {
                        let mask = cap - 1;
                        let mut i = mix(k as u64) & mask;
                        while buf[2 * i].load_word() != EMPTY {
                            i = (i + 1) & mask;
                        }
                        // Value first, then key: a reader that finds the
                        // key finds its value (module header).
                        // SAFETY: the array is in m's heap (see `get`).
                        unsafe {
                            buf[2 * i + 1].set_word_in_heap(m, v);
                            buf[2 * i].set_word_in_heap(m, k);
                        }
                        self.used.store(used + 1, Ordering::Relaxed);
                        self.len.fetch_add(1, Ordering::Release);
                        return true;
                    }
                }
                buf.map(|b| b.addr())
            };
            // Grow (or rebuild without tombstones) with the lock released.
            let want = ((self.len() + 1) * 2).next_power_of_two().max(MIN_CAPACITY);
            let new = m.alloc_slice(2 * want, |i| {
                ValueSlot::from_word(if i % 2 == 0 { EMPTY } else { NIL_BITS as usize })
            });
            let _g = self.lock();
            let cur = self.buf.get(m);
            if cur.map(|b| b.addr()) != grow_from {
                continue; // Another writer replaced the array: start over.
            }
            let live = cur.map_or(0, |old| Self::rebuild(m, &old, &new));
            if live + 1 > want * 3 / 4 {
                continue; // Others filled the map meanwhile: grow again.
            }
            self.buf.set(m, Some(new));
            self.used.store(live, Ordering::Relaxed);
        }
    }

    /// Copies the live entries of `old` into the empty array `new`;
    /// returns how many. Caller: holds the lock.
    fn rebuild(m: &Mutator, old: &Slice<ValueSlot<O>>, new: &Slice<ValueSlot<O>>) -> usize {
        let mask = new.len() / 2 - 1;
        let mut live = 0;
        for pair in old.chunks_exact(2) {
            let k = pair[0].load_word();
            if k == EMPTY || k == TOMBSTONE {
                continue;
            }
            let mut i = mix(k as u64) & mask;
            while new[2 * i].load_word() != EMPTY {
                i = (i + 1) & mask;
            }
            // SAFETY: both arrays are in m's heap (the new one was just
            // allocated by m; the old one came from the Member).
            unsafe {
                new[2 * i + 1].set_word_in_heap(m, pair[1].load_word());
                new[2 * i].set_word_in_heap(m, k);
            }
            live += 1;
        }
        live
    }

    /// Removes `key`; returns true if it was present.
    ///
    /// # Panics
    /// If the map holds entries but does not lie in `m`'s heap.
    pub fn remove(&self, m: &Mutator, key: Value<'_, O>) -> bool {
        m.check_not_busy();
        let _g = self.lock();
        let Some(buf) = self.buf.get(m) else {
            return false;
        };
        let Some(i) = Self::find(&buf, key.bits()) else {
            return false;
        };
        // Key first, then the value (module header): the map must not keep
        // a removed value's object alive until its next rebuild.
        // SAFETY: the array is in m's heap (see `get`).
        unsafe {
            buf[2 * i].set_word_in_heap(m, TOMBSTONE);
            buf[2 * i + 1].set_word_in_heap(m, NIL_BITS as usize);
        }
        self.len.fetch_sub(1, Ordering::Release);
        true
    }

    /// Calls `f` with every entry. Entries set or removed by others during
    /// the walk may or may not be seen; `f` may use the map (it runs with
    /// no lock held).
    ///
    /// # Panics
    /// If the map holds entries but does not lie in `m`'s heap.
    pub fn for_each<'m>(&self, m: &'m Mutator, mut f: impl FnMut(Value<'m, O>, Value<'m, O>)) {
        let Some(buf) = self.buf.get(m) else {
            return;
        };
        for pair in buf.chunks_exact(2) {
            let k = pair[0].load_word();
            if k == EMPTY || k == TOMBSTONE {
                continue;
            }
            // SAFETY: the array is in m's heap (see `get`); the key word
            // was stored as a value of this map (set checks its heap); both
            // go through the load barrier.
            let (k, v) = unsafe { (pair[0].get_in_heap(m), pair[1].get_in_heap(m)) };
            if k.bits() as usize <= TOMBSTONE || pair[0].load_word() != k.bits() as usize {
                continue; // removed meanwhile (see `get`)
            }
            f(k, v);
        }
    }

    /// The backing array (for tests: its address changes when it grows).
    #[cfg(test)]
    pub(crate) fn backing<'m>(&self, m: &'m Mutator) -> Option<Gc<'m, Slice<ValueSlot<O>>>> {
        self.buf.get(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Heap};

    #[test]
    fn grows_by_rebuilding_and_drops_tombstones() {
        let heap = Heap::new(Config::default());
        let m = heap.attach();
        let map = m.alloc(HeapMap::<u64>::new());
        assert!(map.backing(&m).is_none());
        map.set(&m, Value::from_number(0.0), Value::nil());
        let first = map.backing(&m).unwrap();
        assert_eq!(first.len(), 2 * MIN_CAPACITY);
        for i in 1..6 {
            map.set(&m, Value::from_number(i as f64), Value::from_bool(true));
        }
        assert!(
            Gc::ptr_eq(first, map.backing(&m).unwrap()),
            "6 of 8: no growth"
        );
        map.set(&m, Value::from_number(6.0), Value::nil());
        let second = map.backing(&m).unwrap();
        assert!(!Gc::ptr_eq(first, second));
        assert_eq!(map.len(), 7);
        // Churn through one key: tombstones pile up, then a rebuild of the
        // same size clears them.
        for i in 0..100 {
            map.set(&m, Value::from_number(100.0 + i as f64), Value::nil());
            assert!(map.remove(&m, Value::from_number(100.0 + i as f64)));
        }
        assert_eq!(map.len(), 7);
        assert!(map.backing(&m).unwrap().len() <= 2 * 16);
        for i in 0..7 {
            assert!(map.get(&m, Value::from_number(i as f64)).is_some());
        }
    }
}
