//! Value stacks: a mutator-local stack of values (Go's goroutine stack).
//!
//! A VM's operand stack changes on nearly every instruction. As a heap
//! `Slice` every push would be a barriered store; as `Root`s every push
//! would touch the root table. Go pays neither for a goroutine's stack: it
//! is written with plain stores and scanned when the goroutine stops at a
//! safepoint. A [`ValueStack`] is that stack for a gomem mutator.
//!
//! **What it owns.** A `ValueStack<O>` handle owns, through an `Arc`, a
//! `StackStorage` (`gc/stacks.rs`): a buffer of value words and its length.
//! The storage is registered in the P of the Mutator that made the stack
//! (`PStacks`, `gc/stacks.rs`, which also scans it).
//! The handle is neither `Send` nor `Sync`, and every operation that reads
//! or writes a value takes a `&Mutator` and panics unless it is the one
//! that made the stack (a unique id per Mutator, not the P: Ps are reused
//! after a detach). Push and pop are a bounds check, a plain store and a
//! Relaxed store of the length (a plain `mov`): no barrier, no root table,
//! no read-modify-write.
//!
//! **Who touches the buffer.** Slots are written only by push/set, which
//! need the owner's `&Mutator`, so only while the owner thread runs its P.
//! The collector reads them only while it holds the P idle (`adopt(..,
//! idle = true)` during Mark): then the owner is inside `blocking`,
//! `collect` or a P re-acquisition, all of which borrow its Mutator
//! mutably or have not returned it yet, so it cannot push or set. The only
//! operation the owner can run meanwhile is `truncate` (it needs no
//! Mutator), which only lowers the length: the length is an atomic word, so
//! that race is benign (the collector shades either the old or the new
//! prefix; both hold values that were on the stack, hence live). Ownership
//! of the P moves through its status CAS (Acquire/Release), which orders
//! the owner's plain stores before the collector's reads.
//!
//! **Scanning** (`P::turn_stack_black`, `gc/proc.rs`): when a P's stack
//! turns black for cycle n — at the owner's first safepoint in Mark, or
//! when the collector adopts Mark for the idle P — every pointer word of
//! every live stack of the P is shaded first, as a registered agent of
//! cycle n. A dropped handle only flags its storage dead (the values are
//! unreachable: nobody can read them); the P prunes dead storages at its
//! next safepoint. A detaching Mutator's P forgets its stacks.
//!
//! **Why this is sound under the hybrid barrier** (DESIGN §4). A value
//! stack is part of its mutator's stack: grey from the moment the P adopts
//! Arm until the scan at its safepoint (or idle adoption) in Mark; black
//! afterwards. While it is grey, the P's barrier has both halves on, and
//! the scan shades everything still on the stack at the moment it turns
//! black. After the scan, a value can enter the stack only from (a) a load
//! from the heap (a `ValueSlot`, `Member` or `HeapMap`), (b) a fresh
//! allocation (black during Mark), (c) a `Root`, `Weak` upgrade or
//! `WeakSet` lookup (each shades what it returns while a cycle runs), or
//! (d) this P's own black stacks and `Gc`s obtained after the safepoint,
//! which come from (a)–(c). Case (a) is Go's argument for goroutine
//! stacks: an object loaded from the heap was reachable from the heap when
//! loaded; whoever later deletes that reference runs the barrier's deletion
//! half, which shades the object, so it cannot be freed while a black stack
//! holds it, and no re-scan is needed. A value that leaves the stack
//! through a store into the heap while the stack is grey is logged by the
//! insertion half. Values of other Ps' stacks cannot be read here: every
//! read needs their owner's Mutator. The terminator's precondition (every
//! P's stack black, or the P idle and adopted by the collector, which scans
//! it) therefore covers value stacks without any new rule.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::gc::stacks::StackStorage;
use crate::mutator::Mutator;
use crate::trace::Trace;
use crate::value::{is_pointer_word, Value};

/// Slots of a new stack's buffer.
const INITIAL_CAPACITY: usize = 64;

/// A mutator-local stack of values, scanned by the collector like Go's
/// goroutine stacks (module header).
///
/// Values on it survive safepoints and collections; pushing and popping
/// cost a plain store, no write barrier. It belongs to the Mutator that made
/// it: every method that takes a `&Mutator` panics if it is another one.
///
/// ```
/// use gomem::{Config, Heap, Value, ValueStack};
///
/// let heap = Heap::new(Config::default());
/// let mut m = heap.attach();
/// let mut stack: ValueStack<String> = m.value_stack();
/// stack.push(&m, Value::from_gc(m.alloc(String::from("kept"))));
/// stack.push(&m, Value::from_number(2.0));
/// m.collect();                                   // the stack is a root
/// assert_eq!(stack.pop(&m).as_number(), Some(2.0));
/// assert_eq!(*stack.peek(&m, 0).as_gc().unwrap(), "kept");
/// assert_eq!(stack.len(), 1);
/// ```
pub struct ValueStack<O> {
    /// Owner-side copies of the storage's buffer pointer, capacity and
    /// length (the storage's length is re-published on every change). The
    /// raw pointer also makes the handle neither Send nor Sync.
    ptr: *mut u64,
    cap: usize,
    len: usize,
    owner: u64,
    storage: Arc<StackStorage>,
    _t: PhantomData<fn() -> O>,
}

impl Mutator {
    /// A new, empty value stack owned by this Mutator (module `stack`).
    pub fn value_stack<O: Trace + Send + 'static>(&self) -> ValueStack<O> {
        let (storage, ptr) = StackStorage::new(INITIAL_CAPACITY, &self.p().stacks);
        // SAFETY: this thread runs the P (it holds `&self`, so the Mutator
        // is not inside `blocking` or `collect`).
        unsafe { self.p().stacks.register(storage.clone()) };
        ValueStack {
            ptr,
            cap: INITIAL_CAPACITY,
            len: 0,
            owner: self.uid(),
            storage,
            _t: PhantomData,
        }
    }
}

impl<O> ValueStack<O> {
    #[inline(always)]
    fn check_owner(&self, m: &Mutator) {
        if m.uid() != self.owner {
            wrong_mutator();
        }
    }

    #[inline(always)]
    fn publish_len(&self) {
        self.storage.publish_len(self.len);
    }

    /// Pushes a value: a plain store (no barrier).
    ///
    /// # Panics
    /// If `m` is not the Mutator that made the stack, or `v` points into
    /// another heap.
    #[inline(always)]
    pub fn push(&mut self, m: &Mutator, v: Value<'_, O>) {
        self.check_owner(m);
        let w = v.bits();
        if is_pointer_word(w as usize) {
            m.check_same_heap(w as usize);
        }
        if self.len == self.cap {
            self.grow();
        }
        // SAFETY: len < cap: a slot of the buffer, written only by this
        // owner while it runs the P (module header).
        unsafe { self.ptr.add(self.len).write(w) };
        self.len += 1;
        self.publish_len();
    }

    /// Doubles the buffer. The owner runs its P (it holds its `&Mutator`),
    /// so the collector is not reading the old buffer.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let cap = self.cap * 2;
        // SAFETY: this handle's owner runs the P (it holds its `&Mutator`:
        // checked by every caller), so the collector is not reading it.
        self.ptr = unsafe { self.storage.grow(self.len, cap) };
        self.cap = cap;
    }

    /// Pops the top value.
    ///
    /// # Panics
    /// If the stack is empty, or `m` is not the Mutator that made it.
    #[inline(always)]
    pub fn pop<'m>(&mut self, m: &'m Mutator) -> Value<'m, O> {
        self.check_owner(m);
        if self.len == 0 {
            empty_stack();
        }
        self.len -= 1;
        self.publish_len();
        // SAFETY: the slot was written by a push; see `read`.
        unsafe { self.read(m, self.len) }
    }

    /// The value at `i` (0 is the bottom).
    ///
    /// # Panics
    /// If `i >= len`, or `m` is not the Mutator that made the stack.
    #[inline(always)]
    pub fn get<'m>(&self, m: &'m Mutator, i: usize) -> Value<'m, O> {
        self.check_owner(m);
        if i >= self.len {
            out_of_range(i, self.len);
        }
        // SAFETY: i < len.
        unsafe { self.read(m, i) }
    }

    /// Overwrites the value at `i` (a plain store).
    ///
    /// # Panics
    /// If `i >= len`, `m` is not the Mutator that made the stack, or `v`
    /// points into another heap.
    #[inline(always)]
    pub fn set(&mut self, m: &Mutator, i: usize, v: Value<'_, O>) {
        self.check_owner(m);
        if i >= self.len {
            out_of_range(i, self.len);
        }
        let w = v.bits();
        if is_pointer_word(w as usize) {
            m.check_same_heap(w as usize);
        }
        // SAFETY: i < len <= cap; owner-only writes (module header).
        unsafe { self.ptr.add(i).write(w) };
    }

    /// The value `distance_from_top` below the top (0 is the top).
    ///
    /// # Panics
    /// If the stack holds no such value, or `m` is not the Mutator that
    /// made it.
    #[inline(always)]
    pub fn peek<'m>(&self, m: &'m Mutator, distance_from_top: usize) -> Value<'m, O> {
        self.check_owner(m);
        if distance_from_top >= self.len {
            out_of_range(distance_from_top, self.len);
        }
        // SAFETY: the index is below len.
        unsafe { self.read(m, self.len - 1 - distance_from_top) }
    }

    /// # Safety
    /// `i` is below the length the stack had when the caller checked it,
    /// and the caller is the owner (checked).
    #[inline(always)]
    unsafe fn read<'m>(&self, m: &'m Mutator, i: usize) -> Value<'m, O> {
        // SAFETY: slot i < cap was written by push or set.
        let w = unsafe { self.ptr.add(i).read() };
        if is_pointer_word(w as usize) {
            // A pointer handed out: never to a Drop run by the collector
            // (crate docs). Numbers skip the check.
            m.check_not_busy();
        }
        // The value was on this stack, a root of the owner's P since it was
        // pushed (module header), and the caller is the owner, whose next
        // safepoint ends 'm: the object stays alive for 'm.
        Value::from_bits_unchecked(w)
    }

    /// Pushes a copy of the value at `i` (a local variable's read in a VM):
    /// one plain store, with neither `push`'s heap check nor `get`'s busy
    /// check, since the value already is on this stack and none is handed
    /// out.
    ///
    /// ```
    /// use gomem::{Config, Heap, Value, ValueStack};
    ///
    /// let heap = Heap::new(Config::default());
    /// let m = heap.attach();
    /// let mut stack: ValueStack<String> = m.value_stack();
    /// stack.push(&m, Value::from_gc(m.alloc(String::from("local"))));
    /// stack.push(&m, Value::from_number(1.0));
    /// stack.push_copy(&m, 0);                        // [local, 1, local]
    /// assert_eq!(*stack.peek(&m, 0).as_gc().unwrap(), "local");
    /// stack.push(&m, Value::from_number(2.0));
    /// stack.set_from_top(&m, 1);                     // [local, 2, local, 2]
    /// assert_eq!(stack.get(&m, 1).as_number(), Some(2.0));
    /// ```
    ///
    /// # Panics
    /// If `i >= len`, or `m` is not the Mutator that made the stack.
    #[inline(always)]
    pub fn push_copy(&mut self, m: &Mutator, i: usize) {
        self.check_owner(m);
        if i >= self.len {
            out_of_range(i, self.len);
        }
        if self.len == self.cap {
            self.grow();
        }
        // SAFETY: i < len <= cap and len < cap: two slots of the buffer; the
        // owner runs its P (it holds its `&Mutator`: checked), so only it
        // touches them (module header).
        unsafe { self.ptr.add(self.len).write(self.ptr.add(i).read()) };
        self.len += 1;
        self.publish_len();
    }

    /// Copies the top value into slot `i` (a local variable's write in a
    /// VM): one plain store, with neither check `set` makes on a value
    /// from elsewhere (it already is on this stack).
    ///
    /// # Panics
    /// If the stack is empty, `i >= len`, or `m` is not the Mutator that
    /// made it.
    #[inline(always)]
    pub fn set_from_top(&mut self, m: &Mutator, i: usize) {
        self.check_owner(m);
        if i >= self.len {
            out_of_range(i, self.len);
        }
        // SAFETY: i < len and len - 1 < len <= cap; owner-only writes
        // (checked, module header).
        unsafe { self.ptr.add(i).write(self.ptr.add(self.len - 1).read()) };
    }

    /// Number of values.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the stack is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops the values above `len` (nothing if the stack is shorter).
    #[inline(always)]
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
            self.publish_len();
        }
    }
}

impl<O> Drop for ValueStack<O> {
    fn drop(&mut self) {
        self.storage.mark_dead();
    }
}

impl<O> std::fmt::Debug for ValueStack<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ValueStack(len {})", self.len)
    }
}

#[cold]
#[inline(never)]
fn wrong_mutator() -> ! {
    panic!("gomem: a ValueStack was used through a Mutator other than the one that made it")
}

#[cold]
#[inline(never)]
fn empty_stack() -> ! {
    panic!("gomem: pop from an empty ValueStack")
}

#[cold]
#[inline(never)]
fn out_of_range(i: usize, len: usize) -> ! {
    panic!("gomem: ValueStack index {i} out of range for length {len}")
}
