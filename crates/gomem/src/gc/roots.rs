//! The root table: where `Root<T>` handles live.
//!
//! Roots are the collector's starting points (with no stack scanning, they
//! are the only ones besides the heap's own). The table is sharded to keep
//! threads that create and drop roots from contending: a root goes to the
//! shard of its creating thread's P. Each shard is a `Mutex` over a slab of
//! boxed slots (a slot's address is stable, so a `Root` holds a pointer to
//! it and reads it without the lock).
//!
//! **Shading.** Creating, re-pointing or dropping a root happens under the
//! shard lock, and reads the GC word under it: while a cycle is under way
//! (Arm, Mark or Term) the old and new targets are shaded, as the write
//! barrier would shade a heap field. A shade during Term sets the GC word's
//! `dirty` bit so the terminator cannot flip past it. Cycle start takes and
//! releases every shard lock once after the CAS to Arm, so every root
//! operation after that point sees the cycle.
//!
//! The root scan (in Mark) walks each shard under its lock and shades every
//! target.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

/// Shards of the root table.
pub const ROOT_SHARDS: usize = 16;

/// One root's storage.
pub struct RootSlot {
    target: AtomicUsize,
    shard: u32,
    index: u32,
}

#[derive(Default)]
struct Shard {
    // Boxed so that a slot's address stays put when the Vec grows: `Root`
    // holds a pointer to its slot.
    #[allow(clippy::vec_box)]
    slots: Vec<Box<RootSlot>>,
    free: Vec<u32>,
}

/// The root table (module header).
pub struct RootTable {
    shards: [Mutex<Shard>; ROOT_SHARDS],
    live: AtomicUsize,
}

impl Default for RootTable {
    fn default() -> Self {
        RootTable {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
            live: AtomicUsize::new(0),
        }
    }
}

/// What a root operation must do about the cycle, decided under the lock.
pub trait RootBarrier {
    /// Shades `addr` if a cycle is under way (called under the shard lock).
    fn shade_for_root(&self, addr: usize);
}

impl RootTable {
    /// Registers a root for `target` in shard `hint % ROOT_SHARDS`.
    pub fn register(
        &self,
        hint: usize,
        target: usize,
        barrier: &dyn RootBarrier,
    ) -> NonNull<RootSlot> {
        let shard_idx = hint % ROOT_SHARDS;
        let mut shard = self.shards[shard_idx].lock();
        barrier.shade_for_root(target);
        let slot = match shard.free.pop() {
            Some(i) => &shard.slots[i as usize],
            None => {
                let index = shard.slots.len() as u32;
                shard.slots.push(Box::new(RootSlot {
                    target: AtomicUsize::new(0),
                    shard: shard_idx as u32,
                    index,
                }));
                shard.slots.last().expect("just pushed")
            }
        };
        slot.target.store(target, Ordering::Release);
        self.live.fetch_add(1, Ordering::Relaxed);
        NonNull::from(&**slot)
    }

    /// The target of a root.
    #[inline]
    pub fn load(&self, slot: NonNull<RootSlot>) -> usize {
        // SAFETY: slots are boxed and live as long as the table.
        unsafe { slot.as_ref() }.target.load(Ordering::Acquire)
    }

    fn slot<'a>(slot: NonNull<RootSlot>) -> &'a RootSlot {
        // SAFETY: slots are boxed and live as long as the table.
        unsafe { slot.as_ref() }
    }

    /// Re-points a root, shading the old and the new target.
    pub fn store(&self, slot: NonNull<RootSlot>, target: usize, barrier: &dyn RootBarrier) {
        let s = Self::slot(slot);
        let _shard = self.shards[s.shard as usize].lock();
        barrier.shade_for_root(s.target.load(Ordering::Relaxed));
        barrier.shade_for_root(target);
        s.target.store(target, Ordering::Release);
    }

    /// Drops a root, shading its target (a deleted reference).
    pub fn unregister(&self, slot: NonNull<RootSlot>, barrier: &dyn RootBarrier) {
        let s = Self::slot(slot);
        let mut shard = self.shards[s.shard as usize].lock();
        barrier.shade_for_root(s.target.load(Ordering::Relaxed));
        s.target.store(0, Ordering::Release);
        shard.free.push(s.index);
        self.live.fetch_sub(1, Ordering::Relaxed);
    }

    /// Takes and releases every shard lock once (cycle start).
    pub fn sync_all(&self) {
        for shard in &self.shards {
            drop(shard.lock());
        }
    }

    /// Calls `f` with every root target, shard by shard under its lock.
    pub fn for_each(&self, mut f: impl FnMut(usize)) {
        for shard in &self.shards {
            let shard = shard.lock();
            for slot in &shard.slots {
                let t = slot.target.load(Ordering::Relaxed);
                if t != 0 {
                    f(t);
                }
            }
        }
    }

    /// Like `for_each`, but gives up (returning false) as soon as a shard
    /// lock is held by someone else.
    pub fn try_for_each(&self, mut f: impl FnMut(usize)) -> bool {
        for shard in &self.shards {
            let Some(shard) = shard.try_lock() else {
                return false;
            };
            for slot in &shard.slots {
                let t = slot.target.load(Ordering::Relaxed);
                if t != 0 {
                    f(t);
                }
            }
        }
        true
    }

    /// Number of registered roots.
    pub fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    struct Log(RefCell<Vec<usize>>);
    impl RootBarrier for Log {
        fn shade_for_root(&self, addr: usize) {
            self.0.borrow_mut().push(addr);
        }
    }

    #[test]
    fn register_store_unregister_reuse_and_shade() {
        let t = RootTable::default();
        let log = Log(RefCell::new(Vec::new()));
        let a = t.register(3, 0x100, &log);
        let b = t.register(3, 0x200, &log);
        assert_eq!((t.load(a), t.load(b), t.len()), (0x100, 0x200, 2));
        t.store(a, 0x300, &log);
        assert_eq!(t.load(a), 0x300);
        let mut all = Vec::new();
        t.for_each(|x| all.push(x));
        all.sort();
        assert_eq!(all, vec![0x200, 0x300]);
        t.unregister(a, &log);
        assert_eq!(t.len(), 1);
        let c = t.register(3, 0x400, &log);
        assert_eq!(c, a, "freed slots are reused");
        assert_eq!(
            *log.0.borrow(),
            vec![0x100, 0x200, 0x100, 0x300, 0x300, 0x400]
        );
    }
}
