//! The figures a gomem-bench workload subcommand prints after its check
//! lines, for a reader: wall time, the collector's figures (cycles, the
//! time mutators were held at polls, assists, background marking) and the
//! process's peak RSS (`getrusage`).

use std::time::Duration;

/// Prints the collector figures every gomem subcommand shares.
pub fn print_figures(wall: Duration, s: &gomem::GcSummary) {
    let us = |d: Duration| d.as_nanos() as f64 / 1e3;
    println!();
    println!("wall time            {:.3} s", wall.as_secs_f64());
    println!("GC cycles            {}", s.cycles);
    println!(
        "mutator pause (poll) max {:.1} µs, p99 {:.1} µs, p50 {:.2} µs over {} polls",
        us(s.poll_max),
        us(s.poll_p99),
        us(s.poll_p50),
        s.polls
    );
    println!(
        "mark assists         {} taking {:.1} ms (max {:.1} µs)",
        s.assists,
        s.assist_time.as_secs_f64() * 1e3,
        us(s.assist_max)
    );
    println!(
        "background marking   {:.1} ms",
        s.mark_worker_time.as_secs_f64() * 1e3
    );
    println!(
        "peak RSS             {:.1} MiB",
        peak_rss_bytes() as f64 / (1 << 20) as f64
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
