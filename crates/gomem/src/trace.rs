//! Trace: how the collector finds the pointers inside an object.
//!
//! A heap object is any `T: Trace + Send + 'static`. [`Trace`] is an unsafe
//! trait (normally derived with `#[derive(Trace)]`) that tells the heap three
//! things about a type:
//!
//! * [`Trace::NO_MEMBERS`]: the type holds no `Member` at all. Objects of
//!   such a type that also need no Drop are *noscan*: they live in noscan
//!   spans and the collector never looks inside them (Go's noscan classes).
//! * [`Trace::MEMBER_WORDS`]: where the Members are, as a bitmap of 8-byte
//!   words (bit i ⇔ the word at byte offset 8·i is a Member), when the type's
//!   layout allows it (a struct of fixed fields, ≤ 512 bytes). Such objects
//!   need no per-object metadata: the allocator writes the bitmap into the
//!   span's pointer bitmap (Go's heap bits) and the collector scans words, not
//!   types, with no call per object.
//! * [`Trace::trace`]: visits every Member, for layouts a bitmap cannot say
//!   (enums, slices, large objects).
//!
//! Every object that is not described by a bitmap carries a [`TypeInfo`]:
//! in the last 8 bytes of its slot (a *footer*; Go puts its malloc header in
//! front, we put it behind so the object keeps its slot's alignment), or, for
//! a large object, in its span. A `TypeInfo` holds the type-erased trace and
//! drop functions.
//!
//! **Std types.** Every std type that holds no Member is plain data
//! (`String`, `Box<[u64]>`, `Vec<String>`, `HashMap<String, u64>`,
//! `Arc<str>`, `Mutex<u64>`, `BTreeMap`, `VecDeque`, `Option<Box<str>>`, ...),
//! as serde accepts them. Inline wrappers (`Option`, `Result`, tuples,
//! arrays, `Reverse`, `Wrapping`, `ManuallyDrop`) may hold Members and are
//! traced through. Containers whose contents live outside the object
//! (`Vec`, `Box`, `Arc`, maps, sets) or that hand out `&mut` to their
//! contents (`Cell`, `RefCell`, `Mutex`, `RwLock`, `OnceLock`) must not hold
//! Members: the collector cannot trace their memory concurrently, and a
//! `&mut Member` could be overwritten without the write barrier. Such a
//! type reports [`Trace::__HIDDEN_MEMBERS`]; the heap's entry points
//! (`alloc`, `alloc_slice`) refuse it at compile time, and
//! `#[derive(Trace)]` refuses it with an error naming the field.

use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::{needs_drop, size_of};

/// Objects this size or smaller may be described by a pointer bitmap (Go's
/// `MinSizeForMallocHeader`: 64 words of 8 bytes).
pub const MAX_BITMAP_BYTES: usize = 512;
/// Bytes of the type word at the end of a typed slot.
pub const FOOTER_BYTES: usize = 8;

/// Describes the Members of a type to the collector (module header).
///
/// # Safety
/// * `trace` must visit every `Member` stored inline in `self` (not those
///   behind other heap pointers), and nothing else;
/// * `NO_MEMBERS` may be true only if the type contains no Member;
/// * `MEMBER_WORDS`, when `Some(mask)`, must mark exactly the 8-byte words
///   that hold a Member, and the type must be at most 512 bytes.
///
/// A wrong implementation lets the collector free live objects. Use
/// `#[derive(Trace)]`, which gets all three right.
pub unsafe trait Trace {
    /// True when the type holds no Member anywhere inline.
    const NO_MEMBERS: bool;
    /// Bitmap of the words that hold Members, if the layout allows one.
    const MEMBER_WORDS: Option<u64>;
    /// True when the type holds a Member where the collector cannot see it:
    /// inside a std container (`Vec<Member<T>>`, `Box<Member<T>>`, ...).
    /// The heap refuses such types at compile time, and the derive names
    /// the field. Not part of the stable API.
    #[doc(hidden)]
    const __HIDDEN_MEMBERS: bool = false;
    /// Visits every Member inline in `self`.
    fn trace(&self, tracer: &mut Tracer<'_>);
}

/// Receives the Members of an object from [`Trace::trace`].
pub struct Tracer<'a> {
    sink: &'a mut dyn FnMut(usize),
}

impl<'a> Tracer<'a> {
    /// A tracer that passes every non-null Member's target to `sink`.
    pub(crate) fn new(sink: &'a mut dyn FnMut(usize)) -> Tracer<'a> {
        Tracer { sink }
    }

    /// Passes one non-null Member's target to the sink (`Tracer::member`,
    /// defined with `Member` in `ptr.rs`, calls this).
    #[inline]
    pub(crate) fn visit(&mut self, target: usize) {
        (self.sink)(target);
    }

    /// Visits one value word (a `ValueSlot`): passed on if it is a pointer.
    #[inline]
    pub(crate) fn pointer_word(&mut self, w: usize) {
        if is_pointer_word(w) {
            (self.sink)(w);
        }
    }
}

/// Lowest address that can be a pointer.
const MIN_POINTER: u64 = 4096;

/// Whether a heap word (a Member or a value word, `value.rs`) holds a
/// pointer: `w >= 4096 && w >> 48 == 0`, as one subtraction and one
/// compare. Members are 0 or an address; value words are an immediate (below
/// 4096, or a number with non-zero top bits) or an address. The mark loop,
/// the tracer and the write barrier use this one test for both.
#[inline(always)]
pub(crate) fn is_pointer_word(w: usize) -> bool {
    (w as u64).wrapping_sub(MIN_POINTER) < (1u64 << 48) - MIN_POINTER
}

/// A type as the heap sees it: size, how to trace it, how to drop it.
pub struct TypeInfo {
    /// `std::any::type_name` of the type, for messages.
    pub name: fn() -> &'static str,
    /// Visits the Members of the object at the pointer; `None` when the type
    /// holds none.
    pub trace: Option<unsafe fn(*const u8, &mut Tracer<'_>)>,
    /// Runs the destructor in place; `None` when the type needs no drop.
    pub drop: Option<unsafe fn(*mut u8)>,
}

impl TypeInfo {
    /// Reads the type word of the typed slot at `base`.
    ///
    /// # Safety
    /// `base` is the start of an allocated typed slot of `elemsize` bytes
    /// whose footer was written by the allocator.
    pub unsafe fn from_footer(base: usize, elemsize: usize) -> &'static TypeInfo {
        let word = (base + elemsize - FOOTER_BYTES) as *const *const TypeInfo;
        // SAFETY: per the contract, the footer holds a `&'static TypeInfo`.
        unsafe { &**word }
    }
}

/// How objects of a type are laid out in the heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// No Members and no Drop: a noscan span, never scanned.
    Noscan,
    /// Described by a pointer bitmap in a scan span (no footer).
    Bitmap(u64),
    /// Carries a TypeInfo footer (or a large span's type).
    Typed,
}

/// Where the heap keeps the metadata of `T` (computed at compile time).
pub const fn layout_of<T: Trace>() -> Layout {
    if T::NO_MEMBERS && !needs_drop::<T>() {
        return Layout::Noscan;
    }
    match T::MEMBER_WORDS {
        Some(mask) if !needs_drop::<T>() && size_of::<T>() <= MAX_BITMAP_BYTES => {
            Layout::Bitmap(mask)
        }
        _ => Layout::Typed,
    }
}

/// The `TypeInfo` of a sized type.
pub struct InfoOf<T>(PhantomData<T>);

impl<T: Trace> InfoOf<T> {
    /// The descriptor (promoted to a static by the compiler).
    pub const INFO: TypeInfo = TypeInfo {
        name: std::any::type_name::<T>,
        trace: if T::NO_MEMBERS {
            None
        } else {
            Some(trace_erased::<T>)
        },
        drop: if needs_drop::<T>() {
            Some(drop_erased::<T>)
        } else {
            None
        },
    };
}

/// # Safety
/// `p` points to a live, initialised `T`.
unsafe fn trace_erased<T: Trace>(p: *const u8, tracer: &mut Tracer<'_>) {
    // SAFETY: per the contract.
    unsafe { (*(p as *const T)).trace(tracer) }
}

/// # Safety
/// `p` points to an initialised `T` that is never used again.
unsafe fn drop_erased<T>(p: *mut u8) {
    // SAFETY: per the contract.
    unsafe { std::ptr::drop_in_place(p as *mut T) }
}

/// Support for `#[derive(Trace)]`: folds one field into a struct's word
/// mask. Not part of the stable API.
#[doc(hidden)]
pub const fn __fold_words(
    acc: Option<u64>,
    field_words: Option<u64>,
    field_no_members: bool,
    offset: usize,
) -> Option<u64> {
    if field_no_members {
        return acc;
    }
    match (acc, field_words) {
        (Some(acc), Some(words)) if offset.is_multiple_of(8) && offset < MAX_BITMAP_BYTES => {
            let shift = offset / 8;
            if words.leading_zeros() < shift as u32 {
                None
            } else {
                Some(acc | words << shift)
            }
        }
        _ => None,
    }
}

/// Support for `#[derive(Trace)]` on enums and tuples: no bitmap unless
/// there is nothing to describe.
#[doc(hidden)]
pub const fn __words_if_plain(no_members: bool) -> Option<u64> {
    if no_members {
        Some(0)
    } else {
        None
    }
}

macro_rules! plain_data {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: the type holds no Member.
        unsafe impl Trace for $t {
            const NO_MEMBERS: bool = true;
            const MEMBER_WORDS: Option<u64> = Some(0);
            #[inline]
            fn trace(&self, _: &mut Tracer<'_>) {}
        }
    )*};
}

plain_data!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    str,
    std::ffi::CString,
    std::ffi::CStr,
    std::ffi::OsString,
    std::ffi::OsStr,
    std::path::PathBuf,
    std::path::Path,
    std::num::NonZeroU8,
    std::num::NonZeroU16,
    std::num::NonZeroU32,
    std::num::NonZeroU64,
    std::num::NonZeroU128,
    std::num::NonZeroUsize,
    std::num::NonZeroI8,
    std::num::NonZeroI16,
    std::num::NonZeroI32,
    std::num::NonZeroI64,
    std::num::NonZeroI128,
    std::num::NonZeroIsize,
    std::cmp::Ordering,
    std::time::Instant,
    std::time::SystemTime,
    std::net::IpAddr,
    std::net::Ipv4Addr,
    std::net::Ipv6Addr,
    std::net::SocketAddr,
    std::net::SocketAddrV4,
    std::net::SocketAddrV6,
    std::hash::RandomState,
    std::hash::DefaultHasher,
    std::thread::ThreadId,
    std::any::TypeId,
    std::ops::RangeFull,
    std::marker::PhantomPinned,
    std::sync::atomic::AtomicBool,
    std::sync::atomic::AtomicU8,
    std::sync::atomic::AtomicU16,
    std::sync::atomic::AtomicU32,
    std::sync::atomic::AtomicU64,
    std::sync::atomic::AtomicUsize,
    std::sync::atomic::AtomicI8,
    std::sync::atomic::AtomicI16,
    std::sync::atomic::AtomicI32,
    std::sync::atomic::AtomicI64,
    std::sync::atomic::AtomicIsize,
    std::time::Duration,
);

// SAFETY: PhantomData holds nothing.
unsafe impl<T: ?Sized> Trace for PhantomData<T> {
    const NO_MEMBERS: bool = true;
    const MEMBER_WORDS: Option<u64> = Some(0);
    #[inline]
    fn trace(&self, _: &mut Tracer<'_>) {}
}

/// Support for the heap's entry points: whether `T` may be placed in the
/// heap (no Member hidden in a std container). Not part of the stable API.
#[doc(hidden)]
pub struct NoHiddenMembers<T: ?Sized>(PhantomData<T>);

impl<T: Trace + ?Sized> NoHiddenMembers<T> {
    /// Evaluating this is a compile error for a type with hidden Members.
    pub const CHECK: () = assert!(
        !T::__HIDDEN_MEMBERS,
        "gomem: this type holds Members inside a std container (Vec, Box, Cell, Mutex, HashMap, ...), whose memory the collector cannot trace; use gomem::Slice, gomem::Vector or gomem::HeapMap"
    );
}

/// Whether a container of `T` hides Members: `T` holds some (inline or
/// hidden itself).
const fn hides<T: Trace + ?Sized>() -> bool {
    !T::NO_MEMBERS || T::__HIDDEN_MEMBERS
}

macro_rules! plain_container {
    ($(<$($p:ident $(: ?$sized:ident)?),+ $(; $($extra:ident: $bound:path),*)?> $t:ty;)*) => {$(
        // SAFETY: the container's contents are never traced, so it must
        // hold no Member: `__HIDDEN_MEMBERS` says when it would, and that is
        // a compile error wherever the type reaches the heap (module header).
        unsafe impl<$($p: Trace $(+ ?$sized)?),+ $($(, $extra: $bound)*)?> Trace for $t {
            const NO_MEMBERS: bool = true;
            const MEMBER_WORDS: Option<u64> = Some(0);
            const __HIDDEN_MEMBERS: bool = false $(|| hides::<$p>())+;
            #[inline]
            fn trace(&self, _: &mut Tracer<'_>) {}
        }
    )*};
}

plain_container! {
    <T: ?Sized> Box<T>;
    <T: ?Sized> std::sync::Arc<T>;
    <T: ?Sized> std::sync::Weak<T>;
    <T: ?Sized> std::rc::Rc<T>;
    <T: ?Sized> std::rc::Weak<T>;
    <T> Vec<T>;
    <T> std::collections::VecDeque<T>;
    <T> std::collections::LinkedList<T>;
    <T> std::collections::BinaryHeap<T>;
    <T> std::collections::BTreeSet<T>;
    <K, V> std::collections::BTreeMap<K, V>;
    <T, S> std::collections::HashSet<T, S>;
    <K, V, S> std::collections::HashMap<K, V, S>;
    <T: ?Sized> Cell<T>;
    <T: ?Sized> std::cell::RefCell<T>;
    <T: ?Sized> std::cell::UnsafeCell<T>;
    <T> std::cell::OnceCell<T>;
    <T: ?Sized> std::sync::Mutex<T>;
    <T: ?Sized> std::sync::RwLock<T>;
    <T> std::sync::OnceLock<T>;
    <T: ?Sized> parking_lot::Mutex<T>;
    <T: ?Sized> parking_lot::RwLock<T>;
    <T: ?Sized> &'static T;
    <P> std::pin::Pin<P>;
}

// SAFETY: a borrowed-or-owned value is never traced; it hides Members when
// either form holds some.
unsafe impl<T> Trace for std::borrow::Cow<'static, T>
where
    T: ToOwned + Trace + ?Sized,
    T::Owned: Trace,
{
    const NO_MEMBERS: bool = true;
    const MEMBER_WORDS: Option<u64> = Some(0);
    const __HIDDEN_MEMBERS: bool = hides::<T>() || hides::<T::Owned>();
    #[inline]
    fn trace(&self, _: &mut Tracer<'_>) {}
}

// SAFETY: an unsized slice is only ever reached behind a pointer (heap
// objects are sized); its trace visits each element.
unsafe impl<T: Trace> Trace for [T] {
    const NO_MEMBERS: bool = T::NO_MEMBERS;
    const MEMBER_WORDS: Option<u64> = None;
    const __HIDDEN_MEMBERS: bool = T::__HIDDEN_MEMBERS;
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if !T::NO_MEMBERS {
            for v in self {
                v.trace(tracer);
            }
        }
    }
}

// SAFETY: holds no data (a hasher builder made from nothing).
unsafe impl<H> Trace for std::hash::BuildHasherDefault<H> {
    const NO_MEMBERS: bool = true;
    const MEMBER_WORDS: Option<u64> = Some(0);
    #[inline]
    fn trace(&self, _: &mut Tracer<'_>) {}
}

macro_rules! transparent_wrapper {
    ($($w:ident: |$x:ident| $inner:expr;)*) => {$(
        // SAFETY: a `repr(transparent)` wrapper: the inner value's words,
        // at offset 0, and its trace.
        unsafe impl<T: Trace> Trace for $w<T> {
            const NO_MEMBERS: bool = T::NO_MEMBERS;
            const MEMBER_WORDS: Option<u64> = T::MEMBER_WORDS;
            const __HIDDEN_MEMBERS: bool = T::__HIDDEN_MEMBERS;
            #[inline]
            fn trace(&self, tracer: &mut Tracer<'_>) {
                let $x = self;
                Trace::trace($inner, tracer)
            }
        }
    )*};
}

use std::cmp::Reverse;
use std::mem::ManuallyDrop;
use std::num::{Saturating, Wrapping};
transparent_wrapper! {
    Reverse: |x| &x.0;
    Wrapping: |x| &x.0;
    Saturating: |x| &x.0;
    ManuallyDrop: |x| &**x;
}

// SAFETY: visits both variants' fields; a bitmap only when there are no
// Members (the discriminant makes offsets variant-dependent).
unsafe impl<T: Trace, E: Trace> Trace for Result<T, E> {
    const NO_MEMBERS: bool = T::NO_MEMBERS && E::NO_MEMBERS;
    const MEMBER_WORDS: Option<u64> = __words_if_plain(Self::NO_MEMBERS);
    const __HIDDEN_MEMBERS: bool = T::__HIDDEN_MEMBERS || E::__HIDDEN_MEMBERS;
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        match self {
            Ok(v) => v.trace(tracer),
            Err(e) => e.trace(tracer),
        }
    }
}

// SAFETY: visits both bounds; a bitmap only when there are no Members.
unsafe impl<T: Trace> Trace for std::ops::Range<T> {
    const NO_MEMBERS: bool = T::NO_MEMBERS;
    const MEMBER_WORDS: Option<u64> = __words_if_plain(T::NO_MEMBERS);
    const __HIDDEN_MEMBERS: bool = T::__HIDDEN_MEMBERS;
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.start.trace(tracer);
        self.end.trace(tracer);
    }
}

// SAFETY: as for Range.
unsafe impl<T: Trace> Trace for std::ops::RangeInclusive<T> {
    const NO_MEMBERS: bool = T::NO_MEMBERS;
    const MEMBER_WORDS: Option<u64> = __words_if_plain(T::NO_MEMBERS);
    const __HIDDEN_MEMBERS: bool = T::__HIDDEN_MEMBERS;
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.start().trace(tracer);
        self.end().trace(tracer);
    }
}

// SAFETY: visits the Member of the Some variant; a bitmap only when the
// payload has no Members (the discriminant makes offsets variant-dependent).
unsafe impl<T: Trace> Trace for Option<T> {
    const NO_MEMBERS: bool = T::NO_MEMBERS;
    const MEMBER_WORDS: Option<u64> = __words_if_plain(T::NO_MEMBERS);
    const __HIDDEN_MEMBERS: bool = T::__HIDDEN_MEMBERS;
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if let Some(v) = self {
            v.trace(tracer);
        }
    }
}

const fn repeat_words<T: Trace>(n: usize) -> Option<u64> {
    if T::NO_MEMBERS {
        return Some(0);
    }
    let size = size_of::<T>();
    let Some(words) = T::MEMBER_WORDS else {
        return None;
    };
    if !size.is_multiple_of(8) || size * n > MAX_BITMAP_BYTES {
        return None;
    }
    let mut acc = 0u64;
    let mut i = 0;
    while i < n {
        acc |= words << (i * size / 8);
        i += 1;
    }
    Some(acc)
}

// SAFETY: visits each element; the bitmap repeats the element's.
unsafe impl<T: Trace, const N: usize> Trace for [T; N] {
    const NO_MEMBERS: bool = T::NO_MEMBERS;
    const MEMBER_WORDS: Option<u64> = repeat_words::<T>(N);
    const __HIDDEN_MEMBERS: bool = T::__HIDDEN_MEMBERS;
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.as_slice().trace(tracer);
    }
}

macro_rules! tuple {
    ($($name:ident $idx:tt),+) => {
        // SAFETY: visits every field; a bitmap only when there are no Members.
        unsafe impl<$($name: Trace),+> Trace for ($($name,)+) {
            const NO_MEMBERS: bool = true $(&& $name::NO_MEMBERS)+;
            const MEMBER_WORDS: Option<u64> = __words_if_plain(Self::NO_MEMBERS);
            const __HIDDEN_MEMBERS: bool = false $(|| $name::__HIDDEN_MEMBERS)+;
            #[inline]
            fn trace(&self, tracer: &mut Tracer<'_>) {
                $(self.$idx.trace(tracer);)+
            }
        }
    };
}

tuple!(A 0);
tuple!(A 0, B 1);
tuple!(A 0, B 1, C 2);
tuple!(A 0, B 1, C 2, D 3);
tuple!(A 0, B 1, C 2, D 3, E 4);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ptr::Member;

    #[allow(dead_code)]
    struct Pair {
        a: Member<u64>,
        x: u64,
        b: Member<u64>,
    }

    // SAFETY: hand-written like the derive would write it.
    unsafe impl Trace for Pair {
        const NO_MEMBERS: bool = false;
        const MEMBER_WORDS: Option<u64> = {
            let acc = __fold_words(
                Some(0),
                <Member<u64>>::MEMBER_WORDS,
                false,
                std::mem::offset_of!(Pair, a),
            );
            let acc = __fold_words(acc, u64::MEMBER_WORDS, true, std::mem::offset_of!(Pair, x));
            __fold_words(
                acc,
                <Member<u64>>::MEMBER_WORDS,
                false,
                std::mem::offset_of!(Pair, b),
            )
        };
        fn trace(&self, t: &mut Tracer<'_>) {
            t.member(&self.a);
            t.member(&self.b);
        }
    }

    #[test]
    fn layouts_follow_members_and_drop() {
        assert_eq!(layout_of::<u64>(), Layout::Noscan);
        assert_eq!(layout_of::<[u8; 100]>(), Layout::Noscan);
        assert_eq!(layout_of::<String>(), Layout::Typed, "needs Drop");
        assert_eq!(layout_of::<Member<u64>>(), Layout::Bitmap(1));
        assert_eq!(layout_of::<[Member<u64>; 3]>(), Layout::Bitmap(0b111));
        assert_eq!(layout_of::<Option<Member<u64>>>(), Layout::Typed);
        assert_eq!(layout_of::<[Member<u64>; 65]>(), Layout::Typed, "> 512 B");
        let words = Pair::MEMBER_WORDS.unwrap();
        assert_eq!(words.count_ones(), 2);
        assert!(matches!(layout_of::<Pair>(), Layout::Bitmap(_)));
        assert_eq!(layout_of::<(u32, String)>(), Layout::Typed);
    }

    #[test]
    fn fold_refuses_unaligned_or_overflowing_members() {
        assert_eq!(__fold_words(Some(0), Some(1), false, 4), None);
        assert_eq!(__fold_words(Some(0), Some(1), false, 512), None);
        assert_eq!(__fold_words(Some(1), Some(1), false, 8), Some(0b11));
        assert_eq!(__fold_words(None, Some(1), false, 8), None);
        assert_eq!(__fold_words(Some(5), None, true, 8), Some(5));
    }

    #[test]
    fn type_info_has_trace_and_drop_only_when_needed() {
        let plain = &InfoOf::<u64>::INFO;
        assert!(plain.trace.is_none() && plain.drop.is_none());
        let s = &InfoOf::<String>::INFO;
        assert!(s.trace.is_none() && s.drop.is_some());
        let m = &InfoOf::<Option<Member<u64>>>::INFO;
        assert!(m.trace.is_some() && m.drop.is_none());
    }
}
