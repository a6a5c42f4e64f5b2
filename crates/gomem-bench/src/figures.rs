//! The figures a workload subcommand prints after its check lines, for a
//! reader: wall time, the collector's figures (cycles, pauses, assists,
//! background marking) where the implementation has them, the process's
//! peak RSS (`getrusage`), then the workload's own figures (push latency,
//! forced collections).

use std::time::Duration;

use crate::latency::LatencyStats;
use crate::mark::MarkStats;
use crate::peers::Measured;

/// Prints the figures of `m`, from a blank line on.
pub fn print_figures(m: &Measured) {
    let us = |d: Duration| d.as_nanos() as f64 / 1e3;
    println!();
    println!("wall time            {:.3} s", m.wall.as_secs_f64());
    if let Some(n) = m.gc_count {
        println!("GC cycles            {n}");
    }
    if let Some(p) = m.pauses {
        println!(
            "mutator pause (poll) max {:.1} µs, p99 {:.1} µs, p50 {:.2} µs over {} polls",
            us(p.max),
            us(p.p99),
            us(p.p50),
            p.count
        );
    }
    if let Some(a) = m.assists {
        println!(
            "mark assists         {} taking {:.1} ms (max {:.1} µs)",
            a.count,
            a.total.as_secs_f64() * 1e3,
            us(a.max)
        );
    }
    if let Some(t) = m.background_mark {
        println!("background marking   {:.1} ms", t.as_secs_f64() * 1e3);
    }
    println!(
        "peak RSS             {:.1} MiB",
        peak_rss_bytes() as f64 / (1 << 20) as f64
    );
    if let Some(l) = &m.latency {
        print_latency(l);
    }
    if let Some(s) = &m.mark {
        print_mark(s);
    }
}

/// Prints the push percentiles.
fn print_latency(l: &LatencyStats) {
    let us = |ns: u64| ns as f64 / 1e3;
    println!(
        "push latency         p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.1} µs, max {:.1} µs",
        us(l.p50),
        us(l.p99),
        us(l.p999),
        us(l.max)
    );
}

/// Prints the forced collections' figures.
fn print_mark(s: &MarkStats) {
    let min = s.gc_ms.iter().copied().fold(f64::INFINITY, f64::min);
    let max = s.gc_ms.iter().copied().fold(0.0, f64::max);
    println!(
        "forced collection    {:.2} ms mean (min {min:.2}, max {max:.2}) over {}, {:.0} MB/s marked",
        s.ms_per_gc,
        s.gc_ms.len(),
        s.mb_per_s.unwrap_or(f64::NAN)
    );
}

/// Peak RSS of this process in bytes (getrusage).
pub fn peak_rss_bytes() -> u64 {
    // SAFETY: getrusage writes into the struct we pass; RUSAGE_SELF is valid.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru.ru_maxrss as u64 * 1024
    }
}
