//! The latency workload: how long one allocation-and-store takes while a
//! large heap of live messages churns (the "message buffer" latency test).
//!
//! A window of `--window` W (200,000) slots holds live messages of 1 KiB
//! each (≈ 200 MB live). Push i (`--pushes` N, 1,000,000) allocates a
//! message whose 1024 bytes all equal [`msg_byte`]`(i)` and stores it in
//! slot `i % W`, so the message it replaces becomes garbage. The duration
//! of every push is measured (an `Instant` around the allocation, the fill,
//! the store and, on gomem, the safepoint the mutator passes after every
//! push), and the report gives p50, p99, p99.9 and max (nearest rank over
//! all N pushes, [`nearest_rank`]) plus the wall time. On gomem the window
//! is a `Root` of a `Slice<Member<Msg>>`; in Go (`bench/go/latency`) it is
//! a `[]*[1024]byte`.
//!
//! What it shows: a collector whose work lands on the allocating thread in
//! large pieces (a stop-the-world pause, a long assist, an incremental step
//! that rescans the window) makes the tail percentiles jump; Go's and
//! gomem's should stay in microseconds.
//!
//! The check text, identical for every implementation and the Go program:
//! `window W pushes N checksum S`, where S sums, over the final window's
//! messages, their first byte plus their last byte.

use std::time::{Duration, Instant};

use crate::sizes::Preset;

/// The sizes of the latency workload (the same flags as the Go program).
#[derive(clap::Args, Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Size {
    /// Live messages (slots of the window).
    #[arg(long, default_value_t = Size::of(Preset::Default).window)]
    pub window: usize,
    /// Messages pushed in all.
    #[arg(long, default_value_t = Size::of(Preset::Default).pushes)]
    pub pushes: u64,
}

impl Size {
    /// The sizes of each preset (`quick` keeps the standard sizes).
    pub const fn of(preset: Preset) -> Size {
        match preset {
            Preset::Default | Preset::Quick => Size {
                window: 200_000,
                pushes: 1_000_000,
            },
            Preset::Tiny => Size {
                window: 2000,
                pushes: 10_000,
            },
        }
    }
}

/// Options of `gomem-bench latency`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    #[command(flatten)]
    pub size: Size,
    /// Print a gctrace line per cycle on stderr.
    #[arg(long)]
    pub gctrace: bool,
}

/// Bytes of one message.
pub const MSG_BYTES: usize = 1024;

/// The byte every position of message `i` holds.
pub fn msg_byte(i: u64) -> u8 {
    (i % 251) as u8
}

/// Rejects sizes the workload cannot run.
pub fn validate(args: &Args) -> Result<(), String> {
    if args.size.window == 0 {
        return Err("latency: --window must be at least 1".into());
    }
    Ok(())
}

/// Push-latency percentiles, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct LatencyStats {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Longest push.
    pub max: u64,
}

/// The nearest-rank quantile `num/den` of ascending `sorted` (0 when
/// empty): `sorted[ceil(n·num/den) − 1]`, in integers so that the Go
/// programs, which compute it the same way, pick the same rank.
pub fn nearest_rank(sorted: &[u64], num: u64, den: u64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len() as u64;
    let rank = (n * num).div_ceil(den).clamp(1, n);
    sorted[rank as usize - 1]
}

impl LatencyStats {
    /// The percentiles of `samples` (nanoseconds; sorted in place).
    pub fn from_samples(samples: &mut [u64]) -> LatencyStats {
        samples.sort_unstable();
        LatencyStats {
            p50: nearest_rank(samples, 1, 2),
            p99: nearest_rank(samples, 99, 100),
            p999: nearest_rank(samples, 999, 1000),
            max: samples.last().copied().unwrap_or(0),
        }
    }
}

/// One implementation of the window; [`drive`] times its pushes.
pub trait Latency {
    /// Allocates message `i` (all bytes [`msg_byte`]`(i)`) and stores it
    /// in `slot`, replacing what was there; then lets the collector run if
    /// the implementation has a place for that.
    fn push(&mut self, i: u64, slot: usize);
    /// Sum over the occupied slots of each message's first and last byte.
    fn checksum(&mut self) -> u64;
    /// The collector pauses the implementation timed itself, if any.
    fn take_pauses(&mut self) -> Vec<Duration> {
        Vec::new()
    }
}

/// What [`drive`] measured.
pub struct Driven {
    /// The check text.
    pub check: String,
    /// The push percentiles.
    pub latency: LatencyStats,
    /// Wall time of the whole run, setup and checksum included.
    pub wall: Duration,
    /// What [`Latency::take_pauses`] returned.
    pub pauses: Vec<Duration>,
}

/// Makes the window with `make(W)`, runs the N pushes, timing each, and
/// computes the checksum.
pub fn drive<L: Latency>(args: &Args, make: impl FnOnce(usize) -> L) -> Driven {
    let Size { window, pushes } = args.size;
    let start = Instant::now();
    let mut h = make(window);
    let mut samples = Vec::with_capacity(pushes as usize);
    let w = window as u64;
    for i in 0..pushes {
        let t = Instant::now();
        h.push(i, (i % w) as usize);
        samples.push(t.elapsed().as_nanos() as u64);
    }
    let sum = h.checksum();
    let pauses = h.take_pauses();
    drop(h);
    Driven {
        check: check_text(args.size, sum),
        latency: LatencyStats::from_samples(&mut samples),
        wall: start.elapsed(),
        pauses,
    }
}

/// The check text of a run of `size` whose checksum is `sum`.
fn check_text(size: Size, sum: u64) -> String {
    format!(
        "window {} pushes {} checksum {sum}",
        size.window, size.pushes
    )
}

/// The check text a correct run prints: the final window holds the last W
/// messages pushed (all N, if there were fewer).
pub fn expected(args: &Args) -> String {
    let Size { window, pushes } = args.size;
    let sum = (pushes.saturating_sub(window as u64)..pushes)
        .map(|i| 2 * u64::from(msg_byte(i)))
        .sum();
    check_text(args.size, sum)
}
