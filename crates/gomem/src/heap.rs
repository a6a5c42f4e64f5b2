//! Heap: the shared handle that owns everything below it.
//!
//! A [`Heap`] is a cheap, cloneable, `Send + Sync` handle (an `Arc`) to one
//! managed heap: its page heap and central lists ([`MHeap`]) and, with the
//! collector, its Ps, roots and cycle state. The heap lives until the last
//! handle (and the last P attached to it) is gone; then every reservation is
//! unmapped.
//!
//! Until the typed API of the collector, [`RawAllocator`] is the way in: a P
//! of its own (an mcache) that allocates raw, uninitialised-but-zeroed
//! objects of a size, scan or noscan, through exactly the path typed objects
//! take: tiny block, size-class span, or large span.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::alloc::cache::MCache;
use crate::alloc::mheap::{AllocError, MHeap};
use crate::alloc::sizeclass::{size_to_class, SpanClass, MAX_SMALL_SIZE, PAGE_SIZE, TINY_SIZE};
use crate::config::Config;

/// A managed heap (module header).
#[derive(Clone)]
pub struct Heap {
    pub(crate) inner: Arc<HeapInner>,
}

pub(crate) struct HeapInner {
    pub(crate) mheap: MHeap,
    pub(crate) config: Config,
}

/// Where zero-sized allocations point (Go's `zerobase`): all share it.
static ZERO_BASE: u64 = 0;

impl Heap {
    /// A new, empty heap. No memory is reserved until the first allocation.
    pub fn new(config: Config) -> Heap {
        let mheap = MHeap::new();
        if let Some(limit) = config.hard_memory_limit_value() {
            mheap.hard_limit.store(limit, Ordering::Relaxed);
        }
        Heap {
            inner: Arc::new(HeapInner { mheap, config }),
        }
    }

    /// The configuration this heap was built with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The page heap (for benchmarks and white-box tests).
    #[doc(hidden)]
    pub fn mheap(&self) -> &MHeap {
        &self.inner.mheap
    }

    /// A raw allocator with a P of its own (module header).
    pub fn raw_allocator(&self) -> RawAllocator {
        RawAllocator {
            heap: self.clone(),
            mcache: MCache::new(&self.inner.mheap),
        }
    }

    /// Makes the next `n` address-space reservations fail as if the OS had
    /// refused them (fault injection for tests).
    pub fn inject_reserve_failures(&self, n: usize) {
        self.inner.mheap.faults.refuse_reservations(n);
    }

    /// Makes the next `n` commits fail as if the OS had refused them.
    pub fn inject_commit_failures(&self, n: usize) {
        self.inner.mheap.faults.refuse_commits(n);
    }
}

/// Whether an object holds pointers the collector must trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// Holds Members: allocated in a scan span.
    Scan,
    /// Plain data: allocated in a noscan span, never scanned.
    Noscan,
}

/// A P used to allocate raw memory (module header). Not `Sync`: it is one
/// thread's cache. Its spans go back to the heap when it is dropped.
pub struct RawAllocator {
    heap: Heap,
    mcache: MCache,
}

impl RawAllocator {
    /// Allocates `size` zeroed bytes. Objects are aligned to their size class
    /// (at least 8 bytes; 16 for sizes of 16 B and more; large objects to a
    /// page). Tiny noscan objects (< 16 B) share 16-byte blocks.
    #[inline]
    pub fn alloc(&mut self, size: usize, kind: ObjectKind) -> Result<NonNull<u8>, AllocError> {
        let heap = &self.heap.inner.mheap;
        let noscan = kind == ObjectKind::Noscan;
        let addr = if size == 0 {
            &ZERO_BASE as *const u64 as usize
        } else if noscan && size < TINY_SIZE {
            self.mcache.alloc_tiny(heap, size)?
        } else if size <= MAX_SMALL_SIZE {
            let spc = SpanClass::new(size_to_class(size), noscan);
            let addr = self.mcache.alloc(heap, spc)?;
            let span = self.mcache.span(spc);
            if span.needzero() {
                // SAFETY: `addr` is a fresh slot of `elemsize` bytes that this
                // P just took; nothing else refers to it.
                unsafe { std::ptr::write_bytes(addr as *mut u8, 0, span.elemsize) };
            }
            addr
        } else {
            let s = heap.alloc_large(size, noscan)?;
            let span = s.span();
            if span.needzero() {
                // SAFETY: the large span was just allocated for this object
                // alone and is not yet visible to anyone else.
                unsafe { std::ptr::write_bytes(span.start as *mut u8, 0, size) };
            }
            span.start
        };
        // SAFETY: every branch yields a non-null address.
        Ok(unsafe { NonNull::new_unchecked(addr as *mut u8) })
    }

    /// The heap this allocator belongs to.
    pub fn heap(&self) -> &Heap {
        &self.heap
    }

    /// Returns all cached spans to the central lists (as a P does when it
    /// goes idle); allocation afterwards refills as needed.
    pub fn release_cache(&mut self) {
        self.mcache.release_all(&self.heap.inner.mheap);
    }
}

impl Drop for RawAllocator {
    fn drop(&mut self) {
        self.mcache.release_all(&self.heap.inner.mheap);
    }
}

/// Bytes per page, re-exported for users sizing large objects.
pub const HEAP_PAGE_SIZE: usize = PAGE_SIZE;
