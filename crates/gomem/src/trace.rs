//! Type descriptors: what the collector and the sweeper know of a type.
//!
//! Every object in a *scan* span is described either by the span's pointer
//! bitmap (objects ≤ 512 B whose Members sit at fixed offsets and that need
//! no Drop: Go's heap bits) or by a [`TypeInfo`] whose address is stored in
//! the last 8 bytes of the object's slot (a *footer*; Go puts its malloc
//! header at the front, we put it at the back so the object keeps the slot's
//! alignment). Large objects keep their `TypeInfo` in their span.

/// A type as the heap sees it: its size, how to drop it, how to trace it.
pub struct TypeInfo {
    /// `std::any::type_name` of the type, for messages.
    pub name: &'static str,
    /// `size_of::<T>()`.
    pub size: usize,
    /// `align_of::<T>()`.
    pub align: usize,
    /// Runs the destructor in place; `None` when the type needs no drop.
    pub drop: Option<unsafe fn(*mut u8)>,
}

/// Bytes of the type word at the end of a typed slot.
pub const FOOTER_BYTES: usize = 8;

impl TypeInfo {
    /// Reads the type word of the typed slot at `base`.
    ///
    /// # Safety
    /// `base` is the start of a live or just-dead typed slot of `elemsize`
    /// bytes whose footer was written by the allocator.
    pub unsafe fn from_footer(base: usize, elemsize: usize) -> &'static TypeInfo {
        let word = (base + elemsize - FOOTER_BYTES) as *const *const TypeInfo;
        // SAFETY: per the contract, the footer holds a `&'static TypeInfo`.
        unsafe { &**word }
    }
}
