//! The arena map: from any address to its heap, its arena and its span in O(1).
//!
//! Address space is owned in 64 MiB arenas, each aligned to 64 MiB (see
//! `os.rs`). One process-wide table, indexed by `addr >> 26`, holds a pointer
//! to each live arena's metadata ([`HeapArena`]): with 48-bit addresses that
//! is 2^22 entries, 32 MiB of *virtual* memory that the OS pages in only
//! where arenas exist (Go's `mheap_.arenas` on linux/amd64 is the same
//! shape). The table is shared by every [`Heap`](crate::Heap) in the process;
//! each arena records the id of the heap that owns it, which is how gomem
//! tells a pointer into one heap from a pointer into another, and how a
//! `Member` that does not live in any heap object is caught.
//!
//! A [`HeapArena`] maps each of its 8192 pages to the span that covers it.
//! Every page of an in-use span points to it (interior pointers anywhere in a
//! large object find their span); the pages of a free run keep whatever they
//! pointed to last, and readers check the span's state. Span structs are
//! never deallocated while their heap lives (the mheap recycles them), so a
//! stale entry is a dead span, never a dangling pointer.
//!
//! Entries are published with Release and read with Acquire: an arena's
//! metadata, and a span's fields, are initialised before anyone can find them
//! through the map.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

use super::os::{self, ARENA_BYTES, ARENA_SHIFT, HEAP_ADDR_BITS};
use super::sizeclass::{PAGE_SHIFT, PAGE_SIZE};
use super::span::MSpan;

/// Pages per arena (8192 pages of 8 KiB).
pub const PAGES_PER_ARENA: usize = ARENA_BYTES / PAGE_SIZE;
/// Entries of the process-wide arena map (2^22 with 48-bit addresses).
const ARENA_MAP_ENTRIES: usize = 1 << (HEAP_ADDR_BITS - ARENA_SHIFT);

/// Metadata of one 64 MiB arena: its owner and its page → span table.
pub struct HeapArena {
    /// Id of the owning heap (never 0).
    pub heap_id: u32,
    /// First byte of the arena.
    pub base: usize,
    spans: [AtomicPtr<MSpan>; PAGES_PER_ARENA],
}

impl HeapArena {
    /// Allocates zeroed metadata for the arena at `base` (all pages spanless).
    pub fn new_boxed(heap_id: u32, base: usize) -> Box<HeapArena> {
        let layout = std::alloc::Layout::new::<HeapArena>();
        // SAFETY: the layout is non-zero-sized; all-zero bytes are a valid
        // HeapArena (integers and null atomic pointers), and the allocation
        // is handed to Box with the same layout it was made with.
        let mut arena = unsafe {
            let raw = std::alloc::alloc_zeroed(layout) as *mut HeapArena;
            if raw.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            Box::from_raw(raw)
        };
        arena.heap_id = heap_id;
        arena.base = base;
        arena
    }

    /// The span recorded for the page that holds `addr` (null if none yet);
    /// `addr` must be in this arena. Arenas are aligned to their size, so
    /// the page index is the address's low bits: no load of `base`, which
    /// sits on another cache line than the page's entry.
    #[inline]
    pub fn span_at(&self, addr: usize) -> *mut MSpan {
        debug_assert_eq!(addr & !(ARENA_BYTES - 1), self.base);
        self.spans[(addr >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1)].load(Ordering::Acquire)
    }

    /// Records `span` for pages `[first, first + n)` of this arena.
    pub fn set_spans(&self, first: usize, n: usize, span: *mut MSpan) {
        for slot in &self.spans[first..first + n] {
            slot.store(span, Ordering::Release);
        }
    }
}

struct ArenaMap {
    entries: *const AtomicPtr<HeapArena>,
}

// SAFETY: the entries are atomics in a mapping that lives for the whole
// process; sharing the base pointer between threads is sound.
unsafe impl Send for ArenaMap {}
// SAFETY: as above; all access goes through atomic operations.
unsafe impl Sync for ArenaMap {}

static ARENA_MAP: OnceLock<ArenaMap> = OnceLock::new();

fn arena_map() -> &'static ArenaMap {
    ARENA_MAP.get_or_init(|| {
        let bytes = ARENA_MAP_ENTRIES * std::mem::size_of::<AtomicPtr<HeapArena>>();
        // SAFETY: a fresh anonymous read-write mapping; zero pages are null
        // atomic pointers. It is never unmapped (it serves every heap).
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert!(
            p != libc::MAP_FAILED,
            "gomem: cannot map the 32 MiB (virtual) arena table"
        );
        ArenaMap {
            entries: p as *const AtomicPtr<HeapArena>,
        }
    })
}

/// The map's base, published once it exists (one load on lookups, instead
/// of the OnceLock's state check).
static ARENA_MAP_BASE: AtomicPtr<AtomicPtr<HeapArena>> = AtomicPtr::new(ptr::null_mut());

#[inline(always)]
fn entry(addr: usize) -> Option<&'static AtomicPtr<HeapArena>> {
    let idx = addr >> ARENA_SHIFT;
    let base = ARENA_MAP_BASE.load(Ordering::Acquire);
    if idx >= ARENA_MAP_ENTRIES || base.is_null() {
        return None;
    }
    // SAFETY: idx < ARENA_MAP_ENTRIES, the length of the mapping, which is
    // never unmapped once published.
    Some(unsafe { &*base.add(idx) })
}

/// Publishes `arena` in the map. The caller keeps it alive until [`unpublish`].
pub fn publish(arena: &HeapArena) {
    let idx = arena.base >> ARENA_SHIFT;
    assert!(idx < ARENA_MAP_ENTRIES, "arena above 2^48");
    // SAFETY: idx is in range (checked above).
    let slot = unsafe { &*arena_map().entries.add(idx) };
    slot.store(
        arena as *const HeapArena as *mut HeapArena,
        Ordering::Release,
    );
}

/// Removes the arena at `base` from the map (its heap is being dropped).
pub fn unpublish(base: usize) {
    if let Some(slot) = entry(base) {
        slot.store(ptr::null_mut(), Ordering::Release);
    }
}

/// The arena that holds `addr`, if any heap owns it.
#[inline(always)]
pub fn arena_of(addr: usize) -> Option<&'static HeapArena> {
    let p = entry(addr)?.load(Ordering::Acquire);
    // SAFETY: a published arena stays allocated until its heap unpublishes it
    // on drop, and nothing can hold an address into a dropped heap's objects
    // through gomem's API (every handle keeps its heap alive).
    unsafe { p.as_ref() }
}

/// Id of the heap that owns `addr`, or 0 when `addr` is in no gomem heap.
#[inline(always)]
pub fn heap_id_of(addr: usize) -> u32 {
    arena_of(addr).map_or(0, |a| a.heap_id)
}

/// The span covering `addr` (possibly a dead one: check its state), or null.
#[inline(always)]
pub fn span_of(addr: usize) -> *mut MSpan {
    arena_of(addr).map_or(ptr::null_mut(), |a| a.span_at(addr))
}

/// Makes sure the map exists (called when a heap is created, so that lookups
/// never race with its creation on a hot path).
pub fn init() {
    let map = arena_map();
    ARENA_MAP_BASE.store(map.entries as *mut AtomicPtr<HeapArena>, Ordering::Release);
}

/// Sanity constant check kept next to the layout it depends on.
const _: () = assert!(os::ARENA_BYTES == 1 << ARENA_SHIFT);
const _: () = assert!(PAGES_PER_ARENA.is_power_of_two());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_lookup_unpublish() {
        init();
        let faults = os::Faults::default();
        let base = os::reserve(ARENA_BYTES, 0, &faults).unwrap();
        let arena = HeapArena::new_boxed(77, base);
        assert_eq!(heap_id_of(base), 0);
        publish(&arena);
        assert_eq!(heap_id_of(base + 12345), 77);
        assert_eq!(heap_id_of(base + ARENA_BYTES - 1), 77);
        assert!(span_of(base + 5 * PAGE_SIZE).is_null());
        let fake = 0x1000 as *mut MSpan;
        arena.set_spans(5, 2, fake);
        assert_eq!(span_of(base + 5 * PAGE_SIZE + 17), fake);
        assert_eq!(span_of(base + 6 * PAGE_SIZE), fake);
        assert!(span_of(base + 7 * PAGE_SIZE).is_null());
        unpublish(base);
        assert_eq!(heap_id_of(base + 12345), 0);
        os::unmap(base, ARENA_BYTES);
    }

    #[test]
    fn addresses_outside_any_heap_map_to_nothing() {
        init();
        let local = 5u64;
        assert_eq!(heap_id_of(&local as *const u64 as usize), 0);
        assert_eq!(heap_id_of(usize::MAX), 0);
        assert!(span_of(0).is_null());
    }
}
