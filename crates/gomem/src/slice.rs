//! Heap arrays and a growable vector built on them, as Go builds slices.
//!
//! A [`Slice<T>`] is a heap object of a length header followed by that many
//! elements (Go's backing array). It is allocated with
//! [`Mutator::alloc_slice`](crate::Mutator::alloc_slice) and read through
//! `Deref<Target = [T]>`; elements are mutated the way any heap field is, by
//! interior mutability (a `Member` element is `set` with the barrier). An
//! array of plain data is noscan; otherwise it carries a `TypeInfo` whose
//! trace and drop walk the elements.
//!
//! A [`Vector<T>`] is a growable array of pointers: a heap object holding a
//! length and a `Member` to a backing `Slice<Member<T>>`. Appending past the
//! capacity allocates a backing array twice as large, copies the elements
//! (each copy goes through the barrier) and swings the Member, as Go's
//! `append` does.
//!
//! A Vector may be shared between threads (an object holding one is `Sync`
//! when `T` is), so its mutations — `push`, `pop`, `set` — run under a small
//! lock in the Vector: two pushes must not claim the same index, and a `set`
//! must not land in the old array while a push copies it into a new one.
//! The lock is never held while allocating (a push that must grow allocates
//! the new array first, then retries under the lock if another push grew the
//! vector meanwhile) nor while waiting for anything else, and user code
//! cannot run under it (a Drop run by a barrier's poll cannot reach the heap,
//! `Mutator::check_not_busy`). Reads take no lock: `len` is published
//! (Release) after the element and the array it lives in.

use std::marker::PhantomData;
use std::mem::{align_of, needs_drop, size_of};
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::mutator::Mutator;
use crate::ptr::{Gc, Member};
use crate::trace::{Trace, Tracer, TypeInfo};

/// Bytes of a slice's length header.
const HEADER_BYTES: usize = 8;

/// A heap array of `T` (module header).
#[repr(C)]
pub struct Slice<T> {
    len: usize,
    _elems: PhantomData<[T; 0]>,
}

impl<T> Slice<T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of an array of `len` elements, header included, rounded up to
    /// 8 (so the header is always word-aligned, even in a tiny block).
    pub(crate) fn bytes_for(len: usize) -> Option<usize> {
        len.checked_mul(size_of::<T>())?
            .checked_add(HEADER_BYTES)?
            .checked_next_multiple_of(8)
    }

    fn elems_ptr(this: *const Slice<T>) -> *const T {
        (this as usize + HEADER_BYTES) as *const T
    }

    /// Writes the header and each element.
    ///
    /// # Safety
    /// `addr` is a fresh, private block of `bytes_for(len)` bytes, 8-aligned.
    pub(crate) unsafe fn init(addr: usize, len: usize, mut f: impl FnMut(usize) -> T) {
        const { assert!(align_of::<T>() <= HEADER_BYTES) };
        // SAFETY: the block is ours and large enough (contract). If `f`
        // panics, the elements written so far are leaked, never dropped
        // twice, and the header says 0 so no one reads them.
        unsafe {
            (addr as *mut usize).write(0);
            let elems = (addr + HEADER_BYTES) as *mut T;
            for i in 0..len {
                elems.add(i).write(f(i));
                (addr as *mut usize).write(i + 1);
            }
        }
    }

    /// The descriptor of `Slice<T>` objects.
    pub(crate) fn info() -> &'static TypeInfo
    where
        T: Trace,
    {
        &SliceInfo::<T>::INFO
    }
}

impl<T> Deref for Slice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: a Slice only exists in the heap, where `len` initialised
        // elements follow the header (see `init`).
        unsafe { std::slice::from_raw_parts(Self::elems_ptr(self), self.len) }
    }
}

struct SliceInfo<T>(PhantomData<T>);

impl<T: Trace> SliceInfo<T> {
    const INFO: TypeInfo = TypeInfo {
        name: std::any::type_name::<Slice<T>>,
        trace: if T::NO_MEMBERS {
            None
        } else {
            Some(trace_slice::<T>)
        },
        drop: if needs_drop::<T>() {
            Some(drop_slice::<T>)
        } else {
            None
        },
    };
}

/// # Safety
/// `p` is a live `Slice<T>`.
unsafe fn trace_slice<T: Trace>(p: *const u8, tracer: &mut Tracer<'_>) {
    // SAFETY: per the contract.
    let s = unsafe { &*(p as *const Slice<T>) };
    for e in s.iter() {
        e.trace(tracer);
    }
}

/// # Safety
/// `p` is a `Slice<T>` that is never used again.
unsafe fn drop_slice<T>(p: *mut u8) {
    // SAFETY: per the contract, `p` starts with the slice's length header.
    let len = unsafe { *(p as *const usize) };
    let elems = (p as usize + HEADER_BYTES) as *mut T;
    // SAFETY: per the contract, `len` initialised elements follow.
    unsafe { std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(elems, len)) }
}

/// A growable array of pointers (module header). Allocate it in the heap:
/// `m.alloc(Vector::new())`.
pub struct Vector<T> {
    len: AtomicUsize,
    buf: Member<Slice<Member<T>>>,
    lock: parking_lot::Mutex<()>,
}

// SAFETY: one Member (`buf`), at the offset given to the bitmap.
unsafe impl<T> Trace for Vector<T> {
    const NO_MEMBERS: bool = false;
    const MEMBER_WORDS: Option<u64> = crate::trace::__fold_words(
        Some(0),
        Some(1),
        false,
        std::mem::offset_of!(Vector<T>, buf),
    );
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.member(&self.buf);
    }
}

impl<T> Default for Vector<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Vector<T> {
    /// An empty vector (no backing array yet).
    pub const fn new() -> Vector<T> {
        Vector {
            len: AtomicUsize::new(0),
            buf: Member::null(),
            lock: parking_lot::const_mutex(()),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether the vector is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Capacity of the current backing array.
    pub fn capacity(&self, m: &Mutator) -> usize {
        self.buf.get(m).map_or(0, |b| b.len())
    }

    /// Element `i`, or `None` past the end (or when the element is null).
    pub fn get<'m>(&self, m: &'m Mutator, i: usize) -> Option<Gc<'m, T>> {
        // `len` first: its Release store follows the element and the array.
        if i >= self.len() {
            return None;
        }
        self.buf.get(m)?.get(i)?.get(m)
    }

    /// Sets element `i`.
    ///
    /// # Panics
    /// If `i >= len`.
    pub fn set(&self, m: &Mutator, i: usize, value: Option<Gc<'_, T>>) {
        m.check_not_busy();
        let _guard = self.lock.lock();
        let len = self.len();
        assert!(
            i < len,
            "gomem::Vector index {i} out of range for length {len}"
        );
        let buf = self
            .buf
            .get(m)
            .expect("a non-empty Vector has a backing array");
        buf[i].set(m, value);
    }

    /// Appends an element, growing the backing array as Go's `append` does.
    pub fn push(&self, m: &Mutator, value: Option<Gc<'_, T>>)
    where
        T: Send + 'static,
    {
        m.check_not_busy();
        let mut spare: Option<Gc<'_, Slice<Member<T>>>> = None;
        loop {
            let guard = self.lock.lock();
            let len = self.len();
            let old = self.buf.get(m);
            let cap = old.map_or(0, |b| b.len());
            if len < cap {
                let buf = old.expect("capacity implies an array");
                buf[len].set(m, value);
                self.len.store(len + 1, Ordering::Release);
                return;
            }
            let want = (len * 2).max(4);
            match spare {
                Some(new) if new.len() >= want => {
                    if let Some(old) = old {
                        for (i, e) in old.iter().enumerate().take(len) {
                            new[i].set(m, e.get(m));
                        }
                    }
                    self.buf.set(m, Some(new));
                    new[len].set(m, value);
                    self.len.store(len + 1, Ordering::Release);
                    return;
                }
                _ => {
                    // Allocate outside the lock, then look again: another
                    // push may have grown the vector meanwhile.
                    drop(guard);
                    spare = Some(m.alloc_slice(want, |_| Member::<T>::null()));
                }
            }
        }
    }

    /// Removes and returns the last element.
    pub fn pop<'m>(&self, m: &'m Mutator) -> Option<Gc<'m, T>> {
        m.check_not_busy();
        let _guard = self.lock.lock();
        let len = self.len();
        if len == 0 {
            return None;
        }
        let buf = self.buf.get(m)?;
        let v = buf[len - 1].get(m);
        buf[len - 1].set(m, None);
        self.len.store(len - 1, Ordering::Release);
        v
    }
}
