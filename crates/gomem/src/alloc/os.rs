//! The OS layer: address space in, address space out.
//!
//! Everything the heap owns comes from here, in Go's three states:
//!
//! * **Reserved**: `mmap(PROT_NONE, MAP_NORESERVE)`. Costs address space and
//!   nothing else. The heap reserves whole 64 MiB arenas, aligned to 64 MiB,
//!   so that an address maps to its arena with one shift.
//! * **Prepared**: `mprotect(PROT_READ|PROT_WRITE)` on a reserved range. The
//!   memory may now be touched; untouched pages still read as zero and cost
//!   no RSS. The heap prepares in 4 MiB steps as it grows, and counts freshly
//!   prepared pages as *released* (as Go does): they are not resident yet.
//! * **Ready**: pages that hold, or have held, objects. `release` moves a run
//!   back to Prepared with `madvise(MADV_DONTNEED)`, which drops the physical
//!   pages; the next touch faults in a zero page. That zero guarantee is what
//!   lets the heap skip zeroing fully scavenged spans.
//!
//! Failures are values, never aborts: every call returns an [`OsError`] that
//! names the operation, the size and the errno, and leaves the caller's state
//! as it was. [`Faults`] lets tests (and the fault-injection mode) make the
//! next N reservations or commits fail as if the OS had refused them.
//!
//! The byte counts of each state are kept by the caller (the mheap), which
//! knows which state each range is in; this module is stateless apart from
//! the fault counters.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes per arena: the unit of reservation and of the arena map (Go:
/// `heapArenaBytes` on 64-bit Linux).
pub const ARENA_BYTES: usize = 64 << 20;
/// log2 of [`ARENA_BYTES`].
pub const ARENA_SHIFT: usize = 26;
/// Bytes by which the heap prepares (commits) address space as it grows (Go:
/// `pallocChunkBytes`, 512 pages of 8 KiB).
pub const GROW_CHUNK_BYTES: usize = 4 << 20;
/// Bits of user address space on x86-64 / aarch64 Linux (Go: `heapAddrBits`).
pub const HEAP_ADDR_BITS: usize = 48;
/// The largest single allocation the heap will attempt (Go: `maxAlloc`, 2^48).
pub const MAX_ALLOC_BYTES: usize = 1 << 47;

/// What the OS refused, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsError {
    /// The operation: `"reserve"`, `"commit"`.
    pub op: &'static str,
    /// Bytes asked for.
    pub bytes: usize,
    /// `errno` as the OS reported it (`ENOMEM` for injected faults).
    pub errno: i32,
    /// True when the refusal was injected by the test-only fault injector
    /// (`Faults`), not made by the OS.
    pub injected: bool,
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.injected {
            " (injected fault)"
        } else {
            ""
        };
        write!(
            f,
            "the OS refused to {} {} bytes: {}{}",
            self.op,
            self.bytes,
            std::io::Error::from_raw_os_error(self.errno),
            what
        )
    }
}

impl std::error::Error for OsError {}

/// Fault injection: make the next N reservations or commits fail.
#[derive(Debug, Default)]
pub struct Faults {
    refuse_reserve: AtomicUsize,
    refuse_commit: AtomicUsize,
}

impl Faults {
    /// Refuse the next `n` address-space reservations.
    pub fn refuse_reservations(&self, n: usize) {
        self.refuse_reserve.store(n, Ordering::Relaxed);
    }

    /// Refuse the next `n` commits (reserved → prepared).
    pub fn refuse_commits(&self, n: usize) {
        self.refuse_commit.store(n, Ordering::Relaxed);
    }

    fn take(counter: &AtomicUsize) -> bool {
        counter
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    fn check(&self, op: &'static str, bytes: usize) -> Result<(), OsError> {
        let counter = match op {
            "reserve" => &self.refuse_reserve,
            _ => &self.refuse_commit,
        };
        if Self::take(counter) {
            Err(OsError {
                op,
                bytes,
                errno: libc::ENOMEM,
                injected: true,
            })
        } else {
            Ok(())
        }
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::ENOMEM)
}

/// Reserves `bytes` (a multiple of [`ARENA_BYTES`]) of address space aligned
/// to [`ARENA_BYTES`], preferring `hint` (which must be aligned) so that
/// successive arenas stay contiguous. Returns the base address.
pub fn reserve(bytes: usize, hint: usize, faults: &Faults) -> Result<usize, OsError> {
    debug_assert!(bytes.is_multiple_of(ARENA_BYTES) && hint.is_multiple_of(ARENA_BYTES));
    faults.check("reserve", bytes)?;
    if hint != 0 {
        if let Some(base) = try_map_exactly(hint, bytes) {
            return Ok(base);
        }
    }
    map_aligned(bytes)
}

fn map_none(addr: usize, bytes: usize, flags: libc::c_int) -> Option<usize> {
    // SAFETY: an anonymous PROT_NONE mapping touches no existing memory unless
    // MAP_FIXED is passed, which no caller does; the result is checked.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            bytes,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | flags,
            -1,
            0,
        )
    };
    (p != libc::MAP_FAILED).then_some(p as usize)
}

fn try_map_exactly(hint: usize, bytes: usize) -> Option<usize> {
    // MAP_FIXED_NOREPLACE fails instead of clobbering an existing mapping;
    // old kernels ignore the flag and treat the address as a hint, so the
    // result is checked either way.
    let got = map_none(hint, bytes, libc::MAP_FIXED_NOREPLACE)?;
    if got == hint {
        return Some(got);
    }
    unmap(got, bytes);
    None
}

fn map_aligned(bytes: usize) -> Result<usize, OsError> {
    let padded = bytes.checked_add(ARENA_BYTES).ok_or(OsError {
        op: "reserve",
        bytes,
        errno: libc::ENOMEM,
        injected: false,
    })?;
    let raw = map_none(0, padded, 0).ok_or_else(|| OsError {
        op: "reserve",
        bytes,
        errno: last_errno(),
        injected: false,
    })?;
    let base = (raw + ARENA_BYTES - 1) & !(ARENA_BYTES - 1);
    if base > raw {
        unmap(raw, base - raw);
    }
    let end = base + bytes;
    if raw + padded > end {
        unmap(end, raw + padded - end);
    }
    Ok(base)
}

/// Makes a reserved range readable and writable (reserved → prepared).
pub fn commit(addr: usize, bytes: usize, faults: &Faults) -> Result<(), OsError> {
    faults.check("commit", bytes)?;
    // SAFETY: the range lies inside a reservation this heap owns (callers pass
    // only ranges from `reserve`), so changing its protection affects no other
    // memory.
    let rc = unsafe {
        libc::mprotect(
            addr as *mut libc::c_void,
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(OsError {
            op: "commit",
            bytes,
            errno: last_errno(),
            injected: false,
        })
    }
}

/// Returns the physical pages of a prepared range to the OS (ready →
/// prepared). The range reads as zero afterwards. Failure is harmless (the
/// memory simply stays resident), so it is reported as `false`, not an error.
pub fn release(addr: usize, bytes: usize) -> bool {
    // SAFETY: the caller passes free pages of its own heap that no object
    // occupies; dropping their contents is exactly what is wanted.
    unsafe { libc::madvise(addr as *mut libc::c_void, bytes, libc::MADV_DONTNEED) == 0 }
}

/// Gives a reservation back to the OS.
pub fn unmap(addr: usize, bytes: usize) {
    // SAFETY: the caller owns the whole range (a reservation or a trimmed part
    // of one) and nothing refers to it any more.
    let rc = unsafe { libc::munmap(addr as *mut libc::c_void, bytes) };
    debug_assert_eq!(rc, 0, "munmap({addr:#x}, {bytes}) failed");
}

/// Resident set size of this process in bytes, from `/proc/self/statm`.
pub fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(resident * page.max(4096) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_is_aligned_and_commit_makes_it_writable() {
        let faults = Faults::default();
        let base = reserve(ARENA_BYTES, 0, &faults).unwrap();
        assert_eq!(base % ARENA_BYTES, 0);
        commit(base, GROW_CHUNK_BYTES, &faults).unwrap();
        // SAFETY: the first 4 MiB of the reservation were just committed.
        unsafe {
            let p = base as *mut u64;
            assert_eq!(p.read(), 0);
            p.write(42);
            assert_eq!(p.read(), 42);
        }
        assert!(release(base, GROW_CHUNK_BYTES));
        // SAFETY: still committed; MADV_DONTNEED made it read as zero.
        unsafe { assert_eq!((base as *const u64).read(), 0) };
        unmap(base, ARENA_BYTES);
    }

    #[test]
    fn hint_gives_a_contiguous_arena_when_free() {
        let faults = Faults::default();
        let a = reserve(ARENA_BYTES, 0, &faults).unwrap();
        let b = reserve(ARENA_BYTES, a + ARENA_BYTES, &faults).unwrap();
        assert_eq!(b % ARENA_BYTES, 0);
        unmap(a, ARENA_BYTES);
        unmap(b, ARENA_BYTES);
    }

    #[test]
    fn injected_faults_refuse_then_recover() {
        let faults = Faults::default();
        faults.refuse_reservations(2);
        let e = reserve(ARENA_BYTES, 0, &faults).unwrap_err();
        assert!(e.injected && e.op == "reserve");
        assert!(reserve(ARENA_BYTES, 0, &faults).is_err());
        let base = reserve(ARENA_BYTES, 0, &faults).unwrap();
        faults.refuse_commits(1);
        assert!(commit(base, GROW_CHUNK_BYTES, &faults).is_err());
        commit(base, GROW_CHUNK_BYTES, &faults).unwrap();
        unmap(base, ARENA_BYTES);
    }

    #[test]
    fn impossible_reservation_is_an_error_not_an_abort() {
        let faults = Faults::default();
        let e = reserve(1 << 62, 0, &faults).unwrap_err();
        assert_eq!(e.op, "reserve");
        assert!(e.to_string().contains("reserve"));
    }
}
