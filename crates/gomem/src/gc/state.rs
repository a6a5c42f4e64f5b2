//! The GC word: the one atomic that every phase decision reads.
//!
//! `GC = {cycle n: 32 bits, active: 24 bits, dirty: 1 bit, phase: 2 bits}`.
//! Everything a thread needs to agree on with the collector is derived from
//! one load of it: the phase, the cycle, the sweep generation (and so which
//! mcentral set is swept), the allocation colour. Every "check the phase,
//! then act" step is a CAS on it, or a single read that everything is
//! derived from, so no decision mixes two different moments.
//!
//! * `Off(n)`: cycle n has finished (flipped); its sweep may be running.
//!   `Off(0)` is the state of a new heap.
//! * `Arm(n)`: cycle n has started; Ps are turning their write barriers on.
//! * `Mark(n)`: every P has its barrier on; marking runs.
//! * `Term(n)`: the terminator is checking that marking is complete.
//!
//! `active` counts agents that hold or move grey work (registration is a CAS
//! allowed only in Arm or Mark); `dirty` records that a Root operation or a
//! Weak upgrade greyed an object during Term. Termination needs both zero.
//!
//! Sweep generations: in `Off(n)` the heap's sweepgen is `2 + 2n`; while
//! cycle n runs it is still `2 + 2(n − 1)` = `2n`, so the flip (CAS to
//! `Off(n)`) advances it by 2 in the same instant that ends the mark phase.

/// A phase of the cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// No cycle running (sweeping may be).
    Off = 0,
    /// Turning write barriers on.
    Arm = 1,
    /// Marking.
    Mark = 2,
    /// Checking termination.
    Term = 3,
}

const PHASE_MASK: u64 = 0b11;
const DIRTY: u64 = 1 << 2;
const ACTIVE_SHIFT: u32 = 3;
const ACTIVE_ONE: u64 = 1 << ACTIVE_SHIFT;
const ACTIVE_MASK: u64 = ((1 << 24) - 1) << ACTIVE_SHIFT;
const CYCLE_SHIFT: u32 = 32;

/// A decoded (or to-be-encoded) GC word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcWord(pub u64);

impl GcWord {
    /// The bits a P compares to see whether it must adopt something.
    pub const PHASE_AND_CYCLE: u64 = PHASE_MASK | (0xFFFF_FFFF << CYCLE_SHIFT);

    /// `phase(cycle)` with no agents and not dirty.
    pub const fn new(phase: Phase, cycle: u32) -> GcWord {
        GcWord((cycle as u64) << CYCLE_SHIFT | phase as u64)
    }

    /// The phase.
    #[inline]
    pub const fn phase(self) -> Phase {
        match self.0 & PHASE_MASK {
            0 => Phase::Off,
            1 => Phase::Arm,
            2 => Phase::Mark,
            _ => Phase::Term,
        }
    }

    /// The cycle number.
    #[inline]
    pub const fn cycle(self) -> u32 {
        (self.0 >> CYCLE_SHIFT) as u32
    }

    /// Registered agents.
    #[inline]
    pub const fn active(self) -> u32 {
        ((self.0 & ACTIVE_MASK) >> ACTIVE_SHIFT) as u32
    }

    /// Whether a Root/Weak operation greyed an object during Term.
    #[inline]
    pub const fn dirty(self) -> bool {
        self.0 & DIRTY != 0
    }

    /// The heap's sweep generation in this state (module header).
    #[inline]
    pub const fn sweepgen(self) -> u32 {
        let n = self.cycle();
        match self.phase() {
            Phase::Off => n.wrapping_mul(2).wrapping_add(2),
            _ => n.wrapping_mul(2),
        }
    }

    /// Whether the write barrier must be on for a P that adopted this state.
    #[inline]
    pub const fn marking(self) -> bool {
        !matches!(self.phase(), Phase::Off)
    }

    /// The same word with a different phase (keeps cycle, active, dirty).
    pub const fn with_phase(self, phase: Phase) -> GcWord {
        GcWord(self.0 & !PHASE_MASK | phase as u64)
    }

    /// One more active agent.
    pub const fn plus_active(self) -> GcWord {
        GcWord(self.0 + ACTIVE_ONE)
    }

    /// One fewer active agent.
    pub const fn minus_active(self) -> GcWord {
        GcWord(self.0 - ACTIVE_ONE)
    }

    /// With `dirty` set.
    pub const fn with_dirty(self) -> GcWord {
        GcWord(self.0 | DIRTY)
    }

    /// With `dirty` cleared.
    pub const fn without_dirty(self) -> GcWord {
        GcWord(self.0 & !DIRTY)
    }
}

use std::sync::atomic::{AtomicU64, Ordering};

/// Operations on the shared GC word.
pub trait GcWordCell {
    /// Loads the word (Acquire).
    fn word(&self) -> GcWord;
    /// Registers one agent for cycle `n` (CAS `active + 1`), allowed only in
    /// `Arm(n)` or `Mark(n)`. Returns the word seen on refusal.
    fn register(&self, n: u32) -> Result<(), GcWord>;
    /// Deregisters one agent (Release: its grey work is published first).
    fn deregister(&self);
    /// Sets `dirty` if the word is still `Term(n)`.
    fn set_dirty_if_term(&self, n: u32);
    /// CAS from `from` to `to`; true on success.
    fn transition(&self, from: GcWord, to: GcWord) -> bool;

    /// Runs `f` as a registered agent of cycle `n`: in Arm or Mark by
    /// registering; in Term after setting `dirty` and waiting for the
    /// terminator to go back to Mark (a short wait for the collector, never
    /// for a mutator). Returns `None`, without running `f`, once cycle n is
    /// over.
    fn with_registration<R>(&self, n: u32, f: impl FnOnce() -> R) -> Option<R>
    where
        Self: Sized,
    {
        loop {
            let w = self.word();
            if w.cycle() != n || w.phase() == Phase::Off {
                return None;
            }
            if w.phase() == Phase::Term {
                self.set_dirty_if_term(n);
                std::thread::yield_now();
                continue;
            }
            if self.register(n).is_ok() {
                let r = f();
                self.deregister();
                return Some(r);
            }
        }
    }
}

impl GcWordCell for AtomicU64 {
    #[inline]
    fn word(&self) -> GcWord {
        GcWord(self.load(Ordering::Acquire))
    }

    fn register(&self, n: u32) -> Result<(), GcWord> {
        let mut cur = self.word();
        loop {
            if cur.cycle() != n || !matches!(cur.phase(), Phase::Arm | Phase::Mark) {
                return Err(cur);
            }
            match self.compare_exchange_weak(
                cur.0,
                cur.plus_active().0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(v) => cur = GcWord(v),
            }
        }
    }

    fn deregister(&self) {
        let prev = GcWord(self.fetch_sub(ACTIVE_ONE, Ordering::AcqRel));
        debug_assert!(prev.active() > 0, "deregister without register");
    }

    fn set_dirty_if_term(&self, n: u32) {
        let mut cur = self.word();
        while cur.phase() == Phase::Term && cur.cycle() == n && !cur.dirty() {
            match self.compare_exchange_weak(
                cur.0,
                cur.with_dirty().0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(v) => cur = GcWord(v),
            }
        }
    }

    fn transition(&self, from: GcWord, to: GcWord) -> bool {
        self.compare_exchange(from.0, to.0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_do_not_overlap() {
        let w = GcWord::new(Phase::Mark, 7)
            .plus_active()
            .plus_active()
            .with_dirty();
        assert_eq!(w.phase(), Phase::Mark);
        assert_eq!(w.cycle(), 7);
        assert_eq!(w.active(), 2);
        assert!(w.dirty());
        let w = w.minus_active().without_dirty().with_phase(Phase::Term);
        assert_eq!(
            (w.phase(), w.cycle(), w.active(), w.dirty()),
            (Phase::Term, 7, 1, false)
        );
        let max = GcWord::new(Phase::Term, u32::MAX);
        assert_eq!(max.cycle(), u32::MAX);
        assert_eq!(max.phase(), Phase::Term);
    }

    #[test]
    fn registration_is_refused_outside_arm_and_mark_of_the_cycle() {
        let w = AtomicU64::new(GcWord::new(Phase::Off, 3).0);
        assert!(w.register(3).is_err());
        w.store(GcWord::new(Phase::Arm, 4).0, Ordering::Relaxed);
        assert!(w.register(3).is_err(), "wrong cycle");
        w.register(4).unwrap();
        assert_eq!(w.word().active(), 1);
        assert!(!w.transition(GcWord::new(Phase::Arm, 4), GcWord::new(Phase::Mark, 4)));
        w.deregister();
        assert!(w.transition(GcWord::new(Phase::Arm, 4), GcWord::new(Phase::Mark, 4)));
        w.register(4).unwrap();
        w.deregister();
        w.store(GcWord::new(Phase::Term, 4).0, Ordering::Relaxed);
        assert!(w.register(4).is_err());
        w.set_dirty_if_term(4);
        assert!(w.word().dirty());
        assert!(!w.transition(GcWord::new(Phase::Term, 4), GcWord::new(Phase::Off, 4)));
    }

    #[test]
    fn the_flip_advances_the_sweep_generation_by_two() {
        assert_eq!(GcWord::new(Phase::Off, 0).sweepgen(), 2);
        for n in 1..10u32 {
            let before = GcWord::new(Phase::Off, n - 1).sweepgen();
            for p in [Phase::Arm, Phase::Mark, Phase::Term] {
                assert_eq!(GcWord::new(p, n).sweepgen(), before);
            }
            assert_eq!(GcWord::new(Phase::Off, n).sweepgen(), before + 2);
        }
    }
}
