//! Canaries and the drop ledger: the values that let a read tell a live
//! object from a freed, reused or clobbered one, and the counter that tells
//! whether every droppable object was dropped exactly once.
//!
//! * A node's canary is `node_canary(id)`, a tag's `tag_canary(id)`: both
//!   are odd, differ from each other for one id, and differ from the
//!   clobber-free poison, so a freed slot never passes for a live object.
//! * A payload word is `payload_word(owner, len, i)`: a payload moved to
//!   another owner, resized, or freed and reused reads wrong.
//! * A `Tag`'s Drop swaps its canary for [`DROPPED`] and reports to the
//!   [`Ledger`]: a second drop, or a drop of a corrupt tag, is a "bad drop".
//!   A reader that meets `DROPPED` in a reachable tag has caught a Drop that
//!   ran too early.
//!
//! The ledger lives outside the heap (an `Arc` shared by every `Tag` and by
//! the run) so that it can be read after the heap is gone; `teardown`
//! compares its count with the number of tags allocated. It also counts what
//! a `Tag`'s Drop found when it went looking for the heap (module
//! `hostile`): the drops that found an exposed Mutator, the attempts gomem
//! refused, and — failures — the attempts it did not.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use gomem::{Trace, Tracer};

use crate::rng::mix64;

/// What a dropped `Tag`'s canary is overwritten with.
pub(crate) const DROPPED: u64 = 0xDEAD_DEAD_DEAD_DEAD;

/// A word of memory that clobber-free mode has poisoned (gomem fills freed
/// objects with 0xEF bytes).
pub(crate) const CLOBBERED: u64 = u64::from_ne_bytes([0xEF; 8]);

/// The canary of the node with id `id`.
pub(crate) fn node_canary(id: u64) -> u64 {
    mix64(id ^ 0x0B1E_C7C0_FFEE_0B1E) | 1
}

/// The canary of the tag with id `id`.
pub(crate) fn tag_canary(id: u64) -> u64 {
    mix64(id ^ 0x7A66_ED7A_66ED_7A66) | 1
}

/// Word `i` of a payload of length `len` owned by node `owner`.
pub(crate) fn payload_word(owner: u64, len: usize, i: usize) -> u64 {
    mix64(owner.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ ((len as u64) << 40) ^ i as u64)
}

/// Counts the drops of `Tag` objects, and what their probes of the heap
/// found (module `hostile`).
#[derive(Default)]
pub(crate) struct Ledger {
    /// Drops that ran, good or bad.
    pub(crate) drops: AtomicU64,
    /// Drops of a tag already dropped or with a corrupt canary.
    pub(crate) bad: AtomicU64,
    /// What the first bad drop was.
    pub(crate) first_bad: Mutex<Option<String>>,
    /// Drops that found their thread's Mutator exposed in the thread-local.
    pub(crate) exposed_drops: AtomicU64,
    /// Attempts to reach the heap from a Drop that gomem refused (panicked).
    pub(crate) refusals: AtomicU64,
    /// Attempts that were not refused: failures, recorded by the next
    /// `Shared::drain_drop_failures` (a Drop cannot record one itself).
    reached: Mutex<Vec<String>>,
}

impl Ledger {
    /// Records the drop of tag `id` and poisons its `canary`.
    pub(crate) fn record_drop(&self, id: u64, canary: &AtomicU64) {
        let old = canary.swap(DROPPED, Ordering::SeqCst);
        if old != tag_canary(id) {
            self.bad.fetch_add(1, Ordering::SeqCst);
            let why = if old == DROPPED {
                format!("tagged object {id} dropped twice")
            } else {
                format!("tagged object {id} dropped with a corrupt canary {old:#x}")
            };
            let mut first = self
                .first_bad
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            first.get_or_insert(why);
        }
        self.drops.fetch_add(1, Ordering::SeqCst);
    }

    /// Notes a probe from a Drop that reached the heap (or failed oddly).
    pub(crate) fn reached(&self, msg: String) {
        self.reached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(msg);
    }

    /// The probes that reached the heap since the last call.
    pub(crate) fn take_reached(&self) -> Vec<String> {
        std::mem::take(&mut *self.reached.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The first bad drop, or an empty string.
    pub(crate) fn first_bad(&self) -> String {
        self.first_bad
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_default()
    }
}

/// The ledger as a field of a heap object.
pub(crate) struct LedgerRef(pub(crate) Arc<Ledger>);

// The one piece of unsafe code in the crate: gomem implements `Trace` for
// no `Arc`, and `#[gomem(skip)]` still needs the field's type to be `Trace`.
// SAFETY: an `Arc` to counters outside the heap holds no Member: `trace`
// visits nothing, `NO_MEMBERS` is true and the word mask is empty, exactly
// what the derive writes for a plain-data field.
#[allow(unsafe_code)]
unsafe impl Trace for LedgerRef {
    const NO_MEMBERS: bool = true;
    const MEMBER_WORDS: Option<u64> = Some(0);
    fn trace(&self, _: &mut Tracer<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canaries_differ() {
        assert_ne!(node_canary(1), tag_canary(1));
        assert_ne!(node_canary(1), node_canary(2));
        assert_ne!(node_canary(CLOBBERED), CLOBBERED);
    }
}
