//! The pointers: `Gc`, `Member`, `Root`, `Weak`.
//!
//! * [`Gc<'m, T>`] is what a mutator holds on its stack: a `Copy` pointer
//!   branded with a shared borrow of its [`Mutator`]. Every call that can let
//!   a collection finish (`safepoint`, `collect`, `blocking`, `detach`) takes
//!   `&mut Mutator`, so the borrow checker proves no `Gc` lives across one.
//!   That is the whole soundness argument: the collector frees nothing until
//!   every mutator has passed a safepoint since the object became
//!   unreachable, and at a safepoint a mutator holds no `Gc`.
//! * [`Member<T>`] is a pointer field inside a heap object: one atomic word,
//!   null or the address of an object of the same heap. `get` loads it
//!   (Acquire); `set` runs the write barrier and stores it (Release). A Member
//!   that does not lie inside this heap's memory fails loudly on use (a
//!   cheap arena-map check), so one moved out of a dying object by a Drop, or
//!   made on the stack, can never smuggle a dangling pointer.
//! * [`Root<T>`] keeps an object alive across safepoints; it is registered
//!   in the heap's root table and can be kept anywhere (`Send + Sync` when
//!   `T: Sync`).
//! * [`Weak<T>`] does not keep its target alive; it reads `None` once the
//!   target has been found unreachable (Go's `weak.Pointer`).
//!
//! Cross-thread rules follow `T`: a `Member<T>` is `Sync` only if `T` is, so
//! an object graph can be shared between threads (through Roots) only when
//! every type in it is `Sync`.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::gc::collector::Heap;
use crate::gc::roots::RootSlot;
use crate::gc::weak::WeakHandle;
use crate::mutator::Mutator;
use crate::trace::{Trace, Tracer};

impl Tracer<'_> {
    /// Visits one Member.
    #[inline]
    pub fn member<T>(&mut self, m: &Member<T>) {
        let target = m.load_raw();
        if target != 0 {
            self.visit(target);
        }
    }
}

/// A pointer to a heap object, valid until the mutator's next safepoint.
///
/// ```
/// use gomem::{Config, Heap};
/// let heap = Heap::new(Config::default());
/// let m = heap.attach();
/// let x = m.alloc(41u64);
/// assert_eq!(*x + 1, 42);
/// ```
pub struct Gc<'m, T> {
    ptr: NonNull<T>,
    _brand: PhantomData<&'m Mutator>,
}

impl<T> Clone for Gc<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Gc<'_, T> {}

impl<'m, T> Gc<'m, T> {
    /// # Safety
    /// `addr` is a live, initialised object of type `T` in the heap of the
    /// mutator whose borrow is `'m`, and stays alive for `'m` (it is
    /// reachable, or shaded, until that mutator's next safepoint).
    #[inline]
    pub(crate) unsafe fn from_addr(addr: usize) -> Gc<'m, T> {
        Gc {
            // SAFETY: heap addresses are never null (per the contract).
            ptr: unsafe { NonNull::new_unchecked(addr as *mut T) },
            _brand: PhantomData,
        }
    }

    /// The object, borrowed for all of `'m` (until the mutator's next
    /// safepoint) rather than for as long as this `Gc` value lives, as
    /// `Deref` does: lets a chain of loads (closure → function → constants)
    /// go on without a named local at each step.
    ///
    /// ```
    /// use gomem::{Config, Heap, Member, Trace};
    /// #[derive(Trace)]
    /// struct Pair { left: Member<Pair>, value: u64 }
    /// let heap = Heap::new(Config::default());
    /// let m = heap.attach();
    /// let p = m.alloc(Pair { left: Member::null(), value: 1 });
    /// p.left.set(&m, Some(m.alloc(Pair { left: Member::null(), value: 2 })));
    /// let value: &u64 = &p.into_ref().left.get(&m).unwrap().into_ref().value;
    /// assert_eq!(*value, 2);
    /// ```
    #[inline]
    pub fn into_ref(self) -> &'m T {
        // SAFETY: the object stays alive and initialised for 'm (see
        // `from_addr`), and heap objects are only ever shared (`&`).
        unsafe { self.ptr.as_ref() }
    }

    /// The object's address.
    #[inline]
    pub fn as_ptr(self) -> *const T {
        self.ptr.as_ptr()
    }

    #[inline]
    pub(crate) fn addr(self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Whether two pointers name the same object.
    #[inline]
    pub fn ptr_eq(a: Gc<'_, T>, b: Gc<'_, T>) -> bool {
        a.ptr == b.ptr
    }
}

impl<'m, T> Deref for Gc<'m, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the object stays alive and initialised for 'm (see
        // `from_addr`), and heap objects are only ever shared (`&`).
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: fmt::Debug> fmt::Debug for Gc<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A pointer field inside a heap object (module header).
#[repr(transparent)]
pub struct Member<T> {
    raw: AtomicUsize,
    _t: PhantomData<T>,
}

impl<T> Member<T> {
    /// A null Member: the only way to make one. Fields are set after the
    /// object is in the heap, through [`Member::set`].
    pub const fn null() -> Member<T> {
        Member {
            raw: AtomicUsize::new(0),
            _t: PhantomData,
        }
    }

    /// Whether the field is null (no check of where the Member lives).
    #[inline]
    pub fn is_null(&self) -> bool {
        self.raw.load(Ordering::Relaxed) == 0
    }

    /// Loads the field (Acquire) for the collector and the heap's own code.
    #[inline]
    pub(crate) fn load_raw(&self) -> usize {
        self.raw.load(Ordering::Acquire)
    }

    /// Reads the field.
    ///
    /// # Panics
    /// If this Member does not lie inside an object of `m`'s heap.
    #[inline]
    pub fn get<'m>(&self, m: &'m Mutator) -> Option<Gc<'m, T>> {
        m.check_not_busy();
        let v = self.raw.load(Ordering::Acquire);
        if v == 0 {
            return None;
        }
        m.check_member_home(self as *const Self as usize);
        m.load_barrier(v);
        // SAFETY: the Member lives in m's heap (checked), so its value is an
        // object of that heap (set only through `set`, which checks the
        // target's heap), reachable from the object holding the Member, which
        // is reachable since we hold a reference to it (or shaded by the
        // load barrier when that reference was lent by another mutator's
        // grey stack); it stays alive until m's next safepoint, which ends 'm.
        Some(unsafe { Gc::from_addr(v) })
    }

    /// Stores `value` into the field, running the write barrier.
    ///
    /// # Panics
    /// If this Member does not lie inside an object of `m`'s heap, or
    /// `value` points into another heap.
    // Always inlined: out of line, saving the caller's registers cost a
    // fifth of the call (binary-trees' profile); the panics and the
    // barrier's slow path stay out of line.
    #[inline(always)]
    pub fn set(&self, m: &Mutator, value: Option<Gc<'_, T>>) {
        m.check_not_busy();
        let new = value.map_or(0, Gc::addr);
        m.check_member_home(self as *const Self as usize);
        if new != 0 {
            m.check_same_heap(new);
        }
        m.write_barrier(&self.raw, new);
        self.raw.store(new, Ordering::Release);
    }
}

impl<T> Default for Member<T> {
    fn default() -> Self {
        Member::null()
    }
}

impl<T> fmt::Debug for Member<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Member({:#x})", self.raw.load(Ordering::Relaxed))
    }
}

// SAFETY: one Member word, at offset 0 of the Member.
unsafe impl<T> Trace for Member<T> {
    const NO_MEMBERS: bool = false;
    const MEMBER_WORDS: Option<u64> = Some(1);
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.member(self);
    }
}

/// A handle that keeps a heap object alive across safepoints (module
/// header). Dropping it releases the object to the collector.
pub struct Root<T> {
    heap: Heap,
    slot: NonNull<RootSlot>,
    _t: PhantomData<T>,
}

// SAFETY: a Root hands out `Gc<T>` (so `&T`) on whichever thread holds it and
// a mutator of its heap: it may move or be shared between threads only when
// `T` may be shared. The slot is only touched under its shard lock.
unsafe impl<T: Sync + Send> Send for Root<T> {}
// SAFETY: as above.
unsafe impl<T: Sync + Send> Sync for Root<T> {}

impl<T> Root<T> {
    pub(crate) fn from_slot(heap: Heap, slot: NonNull<RootSlot>) -> Root<T> {
        Root {
            heap,
            slot,
            _t: PhantomData,
        }
    }

    /// The object, for this mutator until its next safepoint.
    ///
    /// # Panics
    /// If `m` is attached to another heap.
    #[inline]
    pub fn get<'m>(&self, m: &'m Mutator) -> Gc<'m, T> {
        m.check_not_busy();
        m.check_heap(&self.heap);
        let addr = self.heap.inner().root_load(self.slot);
        // SAFETY: a registered root keeps its target alive; the target is an
        // object of type T of m's heap (checked above), set by `root`/`set`.
        unsafe { Gc::from_addr(addr) }
    }

    /// Points the root at another object.
    ///
    /// # Panics
    /// If `m` or `value` belongs to another heap.
    pub fn set(&self, m: &Mutator, value: Gc<'_, T>) {
        m.check_not_busy();
        m.check_heap(&self.heap);
        m.check_same_heap(value.addr());
        self.heap.inner().root_store(self.slot, value.addr());
    }

    /// The heap this root belongs to.
    pub fn heap(&self) -> &Heap {
        &self.heap
    }
}

impl<T> Drop for Root<T> {
    fn drop(&mut self) {
        self.heap.inner().root_unregister(self.slot);
    }
}

impl<T> fmt::Debug for Root<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Root({:#x})", self.heap.inner().root_load(self.slot))
    }
}

/// A pointer that does not keep its target alive (module header).
pub struct Weak<T> {
    heap: Heap,
    handle: std::sync::Arc<WeakHandle>,
    _t: PhantomData<T>,
}

// SAFETY: like Root: upgrading hands out `&T` on the holder's thread.
unsafe impl<T: Sync + Send> Send for Weak<T> {}
// SAFETY: as above.
unsafe impl<T: Sync + Send> Sync for Weak<T> {}

impl<T> Clone for Weak<T> {
    fn clone(&self) -> Self {
        Weak {
            heap: self.heap.clone(),
            handle: self.handle.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> Weak<T> {
    pub(crate) fn from_handle(heap: Heap, handle: std::sync::Arc<WeakHandle>) -> Weak<T> {
        Weak {
            heap,
            handle,
            _t: PhantomData,
        }
    }

    /// The target, if it is still alive.
    ///
    /// # Panics
    /// If `m` is attached to another heap.
    pub fn upgrade<'m>(&self, m: &'m Mutator) -> Option<Gc<'m, T>> {
        m.check_not_busy();
        m.check_heap(&self.heap);
        let addr = m.upgrade_weak(&self.handle)?;
        // SAFETY: `upgrade_weak` returned the target only after proving it
        // alive in this cycle and shading it if a cycle is marking, so it
        // stays alive until m's next safepoint.
        Some(unsafe { Gc::from_addr(addr) })
    }

    /// Whether the target has been found unreachable (it may also read
    /// `false` for an unreachable target not yet swept).
    pub fn is_cleared(&self) -> bool {
        self.handle.target() == 0
    }

    /// Whether two weak pointers name the same target (handle identity, as
    /// Go's `weak.Pointer` equality).
    pub fn ptr_eq(a: &Weak<T>, b: &Weak<T>) -> bool {
        std::sync::Arc::ptr_eq(&a.handle, &b.handle)
    }
}

impl<T> fmt::Debug for Weak<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Weak({:#x})", self.handle.target())
    }
}
