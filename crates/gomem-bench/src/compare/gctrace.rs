//! Parsing Go's `GODEBUG=gctrace=1` lines (gomem prints the same format
//! under `GOMEM_DEBUG=gctrace=1`).
//!
//! `compare` runs Go programs as separate processes and cannot ask the Go
//! runtime for its pauses, so it reads them from the trace the runtime
//! prints on stderr, one line per cycle:
//!
//! ```text
//! gc N @Ts U%: A+B+C ms clock, D+E/F/G+H ms cpu, H0->H1->H2 MB, GOAL MB goal, S MB stacks, GL MB globals, P P [(forced)]
//! ```
//!
//! (`go-runtime-facts.md` §7.3). The two stop-the-world phases are A (sweep
//! termination) and C (mark termination); B is the concurrent mark, which
//! does not stop the program. So the pauses of a run are {A, C} of every
//! line, the GC count is the number of lines, and H1 (heap at the end of
//! mark) and GOAL over `@T` give the heap-over-time chart.
//!
//! The parser is strict about the field order and lenient about what it
//! does not need: anything that is not a gctrace line (program output, the
//! runtime's "GC forced" notes, a truncated last line) yields `None`, and
//! the " (checking for goroutine leaks)" marker Go adds after `U%` for
//! leak-detection cycles is accepted.

use serde::{Deserialize, Serialize};

/// One parsed gctrace line: every number as printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GcTraceLine {
    /// `gc N`: the cycle number, 1-based.
    pub cycle: u64,
    /// `@Ts`: when the cycle started, in seconds since the program started.
    pub t_s: f64,
    /// `U%`: cumulative share of CPU spent in GC so far.
    pub cpu_pct: u32,
    /// `A+B+C ms clock`: STW sweep termination, concurrent mark, STW mark
    /// termination (wall-clock ms).
    pub clock_ms: [f64; 3],
    /// `D+E/F/G+H ms cpu`: STW #1, assists, background workers, idle
    /// workers, STW #2 (CPU ms).
    pub cpu_ms: [f64; 5],
    /// `H0->H1->H2 MB`: heap at trigger, at end of mark, marked live (MiB).
    pub heap_mb: [u64; 3],
    /// `GOAL MB goal`: the heap goal this cycle was paced for (MiB).
    pub goal_mb: u64,
    /// `S MB stacks`.
    pub stacks_mb: u64,
    /// `GL MB globals`.
    pub globals_mb: u64,
    /// `P P`: GOMAXPROCS.
    pub procs: u32,
    /// ` (forced)`: the cycle was started by `runtime.GC()`.
    pub forced: bool,
}

impl GcTraceLine {
    /// The two stop-the-world pauses of the cycle (A and C), in ns.
    pub fn stw_pauses_ns(&self) -> [f64; 2] {
        [self.clock_ms[0] * 1e6, self.clock_ms[2] * 1e6]
    }
}

/// Parses one gctrace line; `None` if `line` is not one.
pub fn parse_gctrace_line(line: &str) -> Option<GcTraceLine> {
    let rest = line.trim().strip_prefix("gc ")?;
    let (head, tail) = rest.split_once(": ")?;

    // "N @Ts U%" [+ " (checking for goroutine leaks)"]
    let mut head_words = head.split_whitespace();
    let cycle = head_words.next()?.parse().ok()?;
    let t_s = head_words
        .next()?
        .strip_prefix('@')?
        .strip_suffix('s')?
        .parse()
        .ok()?;
    let cpu_pct = head_words.next()?.strip_suffix('%')?.parse().ok()?;

    let mut parts = tail.split(", ");
    let clock = parts.next()?.strip_suffix(" ms clock")?;
    let clock_ms = three(clock, '+')?;

    let cpu = parts.next()?.strip_suffix(" ms cpu")?;
    let mut plus = cpu.split('+');
    let d = num(plus.next()?)?;
    let efg = three(plus.next()?, '/')?;
    let h = num(plus.next()?)?;
    if plus.next().is_some() {
        return None;
    }
    let cpu_ms = [d, efg[0], efg[1], efg[2], h];

    let heap = parts.next()?.strip_suffix(" MB")?;
    let mut arrows = heap.split("->");
    let heap_mb = [
        arrows.next()?.parse().ok()?,
        arrows.next()?.parse().ok()?,
        arrows.next()?.parse().ok()?,
    ];
    if arrows.next().is_some() {
        return None;
    }
    let goal_mb = parts.next()?.strip_suffix(" MB goal")?.parse().ok()?;
    let stacks_mb = parts.next()?.strip_suffix(" MB stacks")?.parse().ok()?;
    let globals_mb = parts.next()?.strip_suffix(" MB globals")?.parse().ok()?;

    let last = parts.next()?;
    let (procs_part, forced) = match last.strip_suffix(" (forced)") {
        Some(p) => (p, true),
        None => (last, false),
    };
    let procs = procs_part.strip_suffix(" P")?.parse().ok()?;

    Some(GcTraceLine {
        cycle,
        t_s,
        cpu_pct,
        clock_ms,
        cpu_ms,
        heap_mb,
        goal_mb,
        stacks_mb,
        globals_mb,
        procs,
        forced,
    })
}

/// Every gctrace line in `text` (one process's stderr), in order.
pub fn parse_gctrace(text: &str) -> Vec<GcTraceLine> {
    text.lines().filter_map(parse_gctrace_line).collect()
}

fn num(s: &str) -> Option<f64> {
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

fn three(s: &str, sep: char) -> Option<[f64; 3]> {
    let mut it = s.split(sep);
    let v = [num(it.next()?)?, num(it.next()?)?, num(it.next()?)?];
    it.next().is_none().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXCERPT: &str = include_str!("../../tests/fixtures/go_gctrace.txt");
    const FULL_RUN: &str = include_str!("../../tests/fixtures/go_binarytrees_d16.stderr");

    fn us(ns: f64) -> f64 {
        (ns / 1e3 * 1e3).round() / 1e3
    }

    #[test]
    fn parses_reference_line_field_by_field() {
        let l = parse_gctrace_line(EXCERPT.lines().next().unwrap()).unwrap();
        assert_eq!(
            l,
            GcTraceLine {
                cycle: 50,
                t_s: 3.962,
                cpu_pct: 11,
                clock_ms: [0.056, 39.0, 0.043],
                cpu_ms: [0.11, 2.3, 21.0, 27.0, 0.087],
                heap_mb: [133, 148, 78],
                goal_mb: 156,
                stacks_mb: 0,
                globals_mb: 0,
                procs: 2,
                forced: false,
            }
        );
    }

    #[test]
    fn excerpt_pauses_and_heaps() {
        let lines = parse_gctrace(EXCERPT);
        // 9 gctrace lines; "GC forced" is not one.
        assert_eq!(lines.len(), 9);
        let pauses_us: Vec<[f64; 2]> = lines
            .iter()
            .map(|l| {
                let [a, c] = l.stw_pauses_ns();
                [us(a), us(c)]
            })
            .collect();
        assert_eq!(
            pauses_us,
            vec![
                [56.0, 43.0],
                [14.0, 4.0],
                [150.0, 2.0],
                [100.0, 2.0],
                [79.0, 22.0],
                [2800.0, 2.0],
                [70.0, 4000.0],
                [28.0, 35.0],
                [79.0, 2.0],
            ]
        );
        let heaps: Vec<([u64; 3], u64)> = lines.iter().map(|l| (l.heap_mb, l.goal_mb)).collect();
        assert_eq!(
            heaps,
            vec![
                ([133, 148, 78], 156),
                ([153, 180, 89], 180),
                ([11, 11, 2], 22),
                ([3, 4, 0], 4),
                ([3, 4, 4], 4),
                ([5, 6, 2], 6),
                ([5, 7, 4], 5),
                ([9, 10, 2], 11),
                ([8, 10, 3], 10),
            ]
        );
        let forced: Vec<bool> = lines.iter().map(|l| l.forced).collect();
        assert_eq!(forced.iter().filter(|f| **f).count(), 1);
        assert!(lines[2].forced);
        assert_eq!(lines[1].procs, 1);
        assert_eq!(lines[3].cpu_ms, [0.21, 0.49, 0.083, 0.095, 0.005]);
    }

    #[test]
    fn full_binarytrees_run() {
        let lines = parse_gctrace(FULL_RUN);
        assert_eq!(lines.len(), 64);
        let cycles: Vec<u64> = lines.iter().map(|l| l.cycle).collect();
        assert_eq!(cycles, (1..=64).collect::<Vec<_>>());
        assert!(lines.windows(2).all(|w| w[0].t_s <= w[1].t_s));
        let max_pause = lines
            .iter()
            .flat_map(|l| l.stw_pauses_ns())
            .fold(0.0, f64::max);
        assert_eq!(us(max_pause), 4000.0);
    }

    #[test]
    fn leak_check_marker_and_rejects() {
        let l = parse_gctrace_line(
            "gc 7 @1.500s 3% (checking for goroutine leaks): 0.010+1.0+0.020 ms clock, 0.020+0/0.5/0+0.040 ms cpu, 4->4->1 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)",
        )
        .unwrap();
        assert_eq!((l.cycle, l.cpu_pct, l.forced), (7, 3, true));
        for bad in [
            "",
            "GC forced",
            "gc 1 @0.004s 17%: 0.079+6.3 ms clock",
            "gc x @0.004s 17%: 0.079+6.3+0.022 ms clock, 0.15+3.0/0.66/2.0+0.044 ms cpu, 3->4->4 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P",
            "gc 1 @0.004s 17%: 0.079+6.3+0.022 ms clock, 0.15+3.0/0.66/2.0+0.044 ms cpu, 3->4->4 MB, 4 MB goal, 0 MB stacks, 0 MB globals",
            "stretch tree of depth 17\t check: 262143",
        ] {
            assert_eq!(parse_gctrace_line(bad), None, "{bad:?}");
        }
    }
}
