//! Values: one word that holds either an immediate or a pointer.
//!
//! A dynamic language's value is a number, a boolean, nil, or a pointer to a
//! heap object. [`Value<'m, O>`] is that word on the mutator's side (a `Copy`
//! value branded like [`Gc<'m, O>`]); [`ValueSlot<O>`] is that word inside a
//! heap object (an atomic word, like [`Member`](crate::Member)).
//!
//! **Encoding** (the marker decodes it without knowing `O`):
//! * a pointer is the object's raw address: top 16 bits zero, ≥ 4096;
//! * nil = `0x2`, false = `0x6`, true = `0x7` (below 4096: never an address);
//! * a number is its f64 bits plus 2^49 (JavaScriptCore's offset boxing),
//!   NaN first canonicalised to `0x7FF8_0000_0000_0000`. The only f64 bit
//!   patterns whose top 16 bits are `0xFFFE` or `0xFFFF` are negative NaNs,
//!   which canonicalisation removes, so the add never wraps and a number's
//!   top 16 bits are never zero: a number never looks like a pointer.
//!
//! A word is a pointer iff `w >= 4096 && w >> 48 == 0` ([`is_pointer_word`]).
//! Members (0 or an address) obey the same test, so the mark loop, the
//! tracer and the write barrier use this one test for Members and value
//! words alike, and a `ValueSlot` counts as a pointer word in a type's
//! `MEMBER_WORDS` bitmap (objects full of value slots stay on the bitmap
//! path).
//!
//! **Soundness.** Safe code cannot build a `Value` from raw bits: a pointer
//! value is made only by [`Value::from_gc`] (from a `Gc<'m, O>`), or read
//! from a `ValueSlot`, a [`ValueStack`](crate::ValueStack) or a
//! [`HeapMap`](crate::HeapMap) with the brand of the Mutator that reads it.
//! So every pointer value names a live `O` of the reader's heap until that
//! Mutator's next safepoint, exactly as a `Gc` does, and [`Value::as_gc`]
//! is sound. A `ValueSlot` checks, like a `Member`, that it lies inside the
//! heap of the Mutator that uses it, and `set` refuses a pointer of another
//! heap; a slot is created holding an immediate only (pointers are stored
//! after placement, through the barrier).
//!
//! **Barriers.** `ValueSlot::set` runs the same hybrid write barrier as
//! `Member::set` (`Mutator::write_barrier`): it logs the old word if it is a
//! pointer, and the new word if it is a pointer and the mutator's stack is
//! still grey. `ValueSlot::get` runs the same load barrier as `Member::get`
//! on a pointer (a P whose stack is black during marking logs what it loads
//! unless it is marked: the crate docs explain the route it closes). Both
//! refuse to run from a Drop (the busy check). Immediates never reach
//! either barrier.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::mutator::Mutator;
use crate::ptr::Gc;
pub(crate) use crate::trace::is_pointer_word;
use crate::trace::{Trace, Tracer};

const _: () = assert!(
    usize::BITS == 64,
    "gomem's value encoding needs 64-bit words"
);

/// The word of `nil`.
pub(crate) const NIL_BITS: u64 = 0x2;
/// The word of `false`.
pub(crate) const FALSE_BITS: u64 = 0x6;
/// The word of `true`.
pub(crate) const TRUE_BITS: u64 = 0x7;
/// Added to an f64's bits to encode a number.
const NUMBER_OFFSET: u64 = 1 << 49;
/// Every NaN is stored as this one (so that the offset add never wraps).
const CANONICAL_NAN: u64 = 0x7FF8_0000_0000_0000;

/// A value: nil, a boolean, a number, or a pointer to an `O` of the heap,
/// valid until the Mutator's next safepoint (module header).
///
/// ```
/// use gomem::{Config, Heap, Value};
///
/// let heap = Heap::new(Config::default());
/// let m = heap.attach();
/// let s = m.alloc(String::from("hello"));
/// let v: Value<'_, String> = Value::from_gc(s);
/// assert!(v.is_gc() && v.as_gc().unwrap().len() == 5);
/// let n = Value::<String>::from_number(1.5);
/// assert_eq!(n.as_number(), Some(1.5));
/// assert!(Value::<String>::nil().is_nil());
/// assert_eq!(Value::<String>::from(true).as_bool(), Some(true));
/// assert_ne!(n, Value::from_number(2.0));
/// ```
pub struct Value<'m, O> {
    bits: u64,
    _brand: PhantomData<Gc<'m, O>>,
}

impl<O> Clone for Value<'_, O> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}

impl<O> Copy for Value<'_, O> {}

impl<'m, O> Value<'m, O> {
    /// nil.
    pub const NIL: Self = Value::from_bits_unchecked(NIL_BITS);

    /// Only for words known to be an immediate, or a pointer to a live `O`
    /// of the heap of the Mutator whose borrow is `'m` (module header).
    #[inline(always)]
    pub(crate) const fn from_bits_unchecked(bits: u64) -> Self {
        Value {
            bits,
            _brand: PhantomData,
        }
    }

    /// nil.
    #[inline]
    pub const fn nil() -> Self {
        Self::NIL
    }

    /// A boolean.
    #[inline]
    pub const fn from_bool(b: bool) -> Self {
        Value::from_bits_unchecked(if b { TRUE_BITS } else { FALSE_BITS })
    }

    /// A number (NaN is canonicalised: every NaN is the same value).
    #[inline]
    pub fn from_number(x: f64) -> Self {
        let bits = if x.is_nan() {
            CANONICAL_NAN
        } else {
            x.to_bits()
        };
        Value::from_bits_unchecked(bits + NUMBER_OFFSET)
    }

    /// A pointer.
    #[inline]
    pub fn from_gc(gc: Gc<'m, O>) -> Self {
        Value::from_bits_unchecked(gc.addr() as u64)
    }

    /// Whether this is nil.
    #[inline]
    pub fn is_nil(self) -> bool {
        self.bits == NIL_BITS
    }

    /// Whether this is a number.
    #[inline]
    pub fn is_number(self) -> bool {
        self.bits >> 48 != 0
    }

    /// Whether this is a pointer.
    #[inline]
    pub fn is_gc(self) -> bool {
        is_pointer_word(self.bits as usize)
    }

    /// The boolean, if this is one.
    #[inline]
    pub fn as_bool(self) -> Option<bool> {
        match self.bits {
            TRUE_BITS => Some(true),
            FALSE_BITS => Some(false),
            _ => None,
        }
    }

    /// The number, if this is one.
    #[inline]
    pub fn as_number(self) -> Option<f64> {
        self.is_number()
            .then(|| f64::from_bits(self.bits - NUMBER_OFFSET))
    }

    /// The object, if this is a pointer.
    #[inline]
    pub fn as_gc(self) -> Option<Gc<'m, O>> {
        if self.is_gc() {
            // SAFETY: a pointer value names a live `O` of the heap of the
            // Mutator whose borrow is 'm, alive until its next safepoint
            // (module header: values are built only from `Gc<'m, O>` or read
            // with that brand from slots and stacks of that heap).
            Some(unsafe { Gc::from_addr(self.bits as usize) })
        } else {
            None
        }
    }

    /// The word: the same immediate or the same object gives the same bits
    /// (the identity a VM hashes and compares keys by).
    #[inline]
    pub fn bits(self) -> u64 {
        self.bits
    }
}

impl<'m, O> From<f64> for Value<'m, O> {
    fn from(x: f64) -> Self {
        Value::from_number(x)
    }
}

impl<'m, O> From<bool> for Value<'m, O> {
    fn from(b: bool) -> Self {
        Value::from_bool(b)
    }
}

impl<'m, O> From<Gc<'m, O>> for Value<'m, O> {
    fn from(gc: Gc<'m, O>) -> Self {
        Value::from_gc(gc)
    }
}

impl<O> Default for Value<'_, O> {
    fn default() -> Self {
        Self::NIL
    }
}

impl<O> PartialEq for Value<'_, O> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.bits == other.bits
    }
}

impl<O> Eq for Value<'_, O> {}

impl<O> Hash for Value<'_, O> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bits.hash(state)
    }
}

impl<O> fmt::Debug for Value<'_, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_word(self.bits, f)
    }
}

fn debug_word(bits: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match bits {
        NIL_BITS => f.write_str("nil"),
        TRUE_BITS => f.write_str("true"),
        FALSE_BITS => f.write_str("false"),
        b if b >> 48 != 0 => write!(f, "{:?}", f64::from_bits(b - NUMBER_OFFSET)),
        b if is_pointer_word(b as usize) => write!(f, "Gc({b:#x})"),
        b => write!(f, "Value({b:#x})"),
    }
}

/// A value field inside a heap object: one atomic word (module header).
///
/// ```
/// use gomem::{Config, Heap, Trace, Value, ValueSlot};
///
/// #[derive(Trace)]
/// struct Cell { v: ValueSlot<Cell> }
///
/// let heap = Heap::new(Config::default());
/// let m = heap.attach();
/// let a = m.alloc(Cell { v: ValueSlot::new(Value::from_number(1.0)) });
/// let b = m.alloc(Cell { v: ValueSlot::nil() });
/// b.v.set(&m, Value::from_gc(a));                 // the write barrier runs
/// let got = b.v.get(&m).as_gc().unwrap();
/// assert_eq!(got.v.get(&m).as_number(), Some(1.0));
/// ```
#[repr(transparent)]
pub struct ValueSlot<O> {
    raw: AtomicUsize,
    _t: PhantomData<O>,
}

impl<O> ValueSlot<O> {
    /// A slot holding nil.
    pub const fn nil() -> Self {
        ValueSlot {
            raw: AtomicUsize::new(NIL_BITS as usize),
            _t: PhantomData,
        }
    }

    /// A slot holding any word (crate-internal markers, immediates).
    pub(crate) const fn from_word(w: usize) -> Self {
        ValueSlot {
            raw: AtomicUsize::new(w),
            _t: PhantomData,
        }
    }

    /// A slot holding the immediate `v`.
    ///
    /// # Panics
    /// If `v` is a pointer: as with a `Member`, pointers are stored after
    /// the object is in the heap, through [`ValueSlot::set`].
    pub fn new(v: Value<'_, O>) -> Self {
        assert!(
            !v.is_gc(),
            "gomem: ValueSlot::new takes an immediate; store pointers after allocation with ValueSlot::set"
        );
        Self::from_word(v.bits as usize)
    }

    /// The word (Acquire), for the collector and the crate's own code.
    #[inline(always)]
    pub(crate) fn load_word(&self) -> usize {
        self.raw.load(Ordering::Acquire)
    }

    /// Reads the slot.
    ///
    /// # Panics
    /// If the slot holds a pointer and does not lie inside an object of
    /// `m`'s heap.
    #[inline]
    pub fn get<'m>(&self, m: &'m Mutator) -> Value<'m, O> {
        m.check_not_busy();
        let w = self.raw.load(Ordering::Acquire);
        if is_pointer_word(w) {
            m.check_member_home(self as *const Self as usize);
            m.load_barrier(w);
        }
        // SAFETY: an immediate is always valid. A pointer was stored by
        // `set`, which checked it is an `O` of this slot's heap, and the slot
        // lies in m's heap (checked): the object is reachable from the
        // object holding the slot, which the caller holds, so it stays alive
        // until m's next safepoint, which ends 'm.
        Value::from_bits_unchecked(w as u64)
    }

    /// Stores `v`, running the hybrid write barrier on the pointer parts.
    ///
    /// # Panics
    /// If the slot does not lie inside an object of `m`'s heap, or `v` is a
    /// pointer into another heap.
    #[inline]
    pub fn set(&self, m: &Mutator, v: Value<'_, O>) {
        m.check_not_busy();
        let w = v.bits as usize;
        if is_pointer_word(w) {
            m.check_same_heap(w);
        }
        self.set_word(m, w);
    }

    /// Reads a slot known to lie in `m`'s heap (no home check; the load
    /// barrier runs, the caller has made the busy check).
    ///
    /// # Safety
    /// The slot lies inside an object of `m`'s heap (for example: an
    /// element of a heap array reached through a `Member`).
    #[inline(always)]
    pub(crate) unsafe fn get_in_heap<'m>(&self, m: &'m Mutator) -> Value<'m, O> {
        let w = self.raw.load(Ordering::Acquire);
        if is_pointer_word(w) {
            m.load_barrier(w);
        }
        // See `get`; the caller vouches for the home check.
        Value::from_bits_unchecked(w as u64)
    }

    /// Stores a word with the barrier but no home check.
    ///
    /// # Safety
    /// As for [`ValueSlot::get_in_heap`], with `m` that Mutator; and `w` is
    /// an immediate, a map marker, or an `O` of `m`'s heap.
    #[inline(always)]
    pub(crate) unsafe fn set_word_in_heap(&self, m: &Mutator, w: usize) {
        m.write_barrier(&self.raw, w);
        self.raw.store(w, Ordering::Release);
    }

    /// Stores a word already known to be an immediate or an `O` of `m`'s
    /// heap, with the home check and the barrier.
    #[inline]
    pub(crate) fn set_word(&self, m: &Mutator, w: usize) {
        m.check_member_home(self as *const Self as usize);
        m.write_barrier(&self.raw, w);
        self.raw.store(w, Ordering::Release);
    }
}

impl<O> Default for ValueSlot<O> {
    fn default() -> Self {
        Self::nil()
    }
}

impl<O> fmt::Debug for ValueSlot<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ValueSlot(")?;
        debug_word(self.raw.load(Ordering::Relaxed) as u64, f)?;
        f.write_str(")")
    }
}

// SAFETY: one word, at offset 0, that the tracer visits when it holds a
// pointer; the bitmap marks it, and the mark loop decodes it with
// `is_pointer_word` (module header).
unsafe impl<O> Trace for ValueSlot<O> {
    const NO_MEMBERS: bool = false;
    const MEMBER_WORDS: Option<u64> = Some(1);
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.pointer_word(self.load_word());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type V = Value<'static, u64>;

    #[test]
    fn encoding_round_trips_and_never_confuses_kinds() {
        for x in [
            0.0,
            -0.0,
            1.0,
            -1.5,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
            5e-324,
        ] {
            let v = V::from_number(x);
            assert!(v.is_number() && !v.is_gc() && !v.is_nil(), "{x}");
            assert_eq!(v.as_number().unwrap().to_bits(), x.to_bits());
            assert_eq!(v.as_bool(), None);
        }
        for nan in [f64::NAN, -f64::NAN, f64::from_bits(0xFFFF_FFFF_FFFF_FFFF)] {
            let v = V::from_number(nan);
            assert!(v.is_number() && v.as_number().unwrap().is_nan());
            assert_eq!(v, V::from_number(f64::NAN), "one NaN");
        }
        for v in [V::nil(), V::from_bool(true), V::from_bool(false)] {
            assert!(!v.is_gc() && !v.is_number());
        }
        assert_eq!(V::from_bool(true).as_bool(), Some(true));
        assert_eq!(V::from_bool(false).as_bool(), Some(false));
        assert!(V::NIL.is_nil());
        assert!(!is_pointer_word(0) && !is_pointer_word(4095));
        assert!(is_pointer_word(4096) && is_pointer_word((1 << 48) - 8));
        assert!(!is_pointer_word(1 << 48) && !is_pointer_word(usize::MAX));
    }
}
