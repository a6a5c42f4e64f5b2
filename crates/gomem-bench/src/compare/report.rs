//! The Markdown report of `compare`: one table per workload.
//!
//! Each row is one implementation; each cell the median over the runs
//! (separate processes, implementations alternated run by run), followed by
//! its ratio to gomem's median in parentheses for the other rows. Columns
//! that no implementation reports for a workload (latency percentiles
//! outside the latency workload, pauses of reference counting) are left
//! out. Above each table, the check verdict: whether every implementation
//! computed the same answer, loudly when not.

use std::fmt::Write as _;

use super::model::{Metric, Results, Status, Summary, METRICS};

/// What "pause" means per implementation, printed under the tables.
pub const PAUSE_NOTE: &str = "Pauses: Go = its two stop-the-world phases per cycle \
(gctrace clock fields A and C); gomem = the time a mutator was held at a \
poll by the collector; Rust peers = the time of each collection call that \
stops the program (see crates/gomem-bench/src/peers). Wall time is measured \
by the parent (process start to exit), CPU time and peak RSS come from the \
child's rusage.";

/// A duration in ns as a short human string ("56 µs", "1.3 ms").
pub fn fmt_ns(ns: f64) -> String {
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", sig3(v))
}

/// A number with about three significant digits, no trailing noise.
fn sig3(v: f64) -> String {
    if v >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A metric value as shown in the table.
pub fn fmt_value(m: Metric, v: f64) -> String {
    match m {
        Metric::Wall | Metric::Cpu => format!("{v:.2}"),
        Metric::MarkMsPerGc => fmt_ns(v * 1e6),
        Metric::Rss => format!("{v:.1}"),
        Metric::GcCount => {
            if v == v.trunc() {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            }
        }
        _ => fmt_ns(v),
    }
}

/// A ratio as shown in the table ("0.81×").
pub fn fmt_ratio(r: f64) -> String {
    if r < 0.01 {
        "<0.01×".to_string()
    } else if r < 10.0 {
        format!("{r:.2}×")
    } else if r < 100.0 {
        format!("{r:.1}×")
    } else if r < 1e4 {
        format!("{r:.0}×")
    } else if r < 1e6 {
        format!("{:.0}k×", r / 1e3)
    } else {
        format!("{r:.1e}×")
    }
}

fn cell(s: &Summary, m: Metric) -> String {
    match s.get(m) {
        None => "–".to_string(),
        Some(v) => {
            let mut c = fmt_value(m, v);
            if !super::model::is_baseline(&s.imp) {
                if let Some(r) = s.ratio(m) {
                    let _ = write!(c, " ({})", fmt_ratio(r));
                }
            }
            c
        }
    }
}

fn one_line(msg: &str) -> String {
    let first = msg
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut s: String = first.chars().take(100).collect();
    if first.chars().count() > 100 {
        s.push('…');
    }
    s.replace('|', "\\|")
}

/// The whole report.
pub fn markdown(res: &Results) -> String {
    let meta = &res.meta;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# gomem-bench compare — size `{}`, median of {} run{}",
        meta.size,
        meta.runs,
        if meta.runs == 1 { "" } else { "s" }
    );
    let _ = writeln!(out);
    let _ = write!(
        out,
        "Machine: {} × {}, {:.0} GiB",
        meta.cpus, meta.cpu_model, meta.mem_gib
    );
    if let Some(v) = &meta.go_version {
        let _ = write!(out, "; {v}");
    }
    let _ = writeln!(
        out,
        ". Each cell: median over separate processes; (×) = ratio to gomem (gomem-lox in the \
         lox group); lower is better."
    );

    for w in &meta.workloads {
        let rows: Vec<&Summary> = res.summaries.iter().filter(|s| &s.workload == w).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n## {w}\n");
        if let Some(r) = res
            .runs
            .iter()
            .find(|r| &r.workload == w && !r.flags.is_empty())
        {
            let _ = writeln!(out, "flags: `{}`\n", r.flags.join(" "));
        }
        if let Some(c) = res.checks.iter().find(|c| &c.workload == w) {
            if c.agree {
                let n = rows.iter().filter(|s| s.status == Status::Ok).count();
                let _ = match n {
                    0 => writeln!(out, "check: no implementation ran.\n"),
                    1 => writeln!(out, "check: one implementation ran, nothing to compare.\n"),
                    n => writeln!(out, "check: all {n} implementations that ran agree.\n"),
                };
            } else {
                let _ = writeln!(
                    out,
                    "**CHECK MISMATCH**: the implementations disagree on the result:\n"
                );
                for v in &c.values {
                    let _ = writeln!(
                        out,
                        "- {}: `{}`",
                        v.printed_by.join(", "),
                        v.check.replace('\n', " / ")
                    );
                }
                let _ = writeln!(out);
            }
        }
        let cols: Vec<Metric> = METRICS
            .into_iter()
            .filter(|m| rows.iter().any(|s| s.get(*m).is_some()))
            .collect();
        let _ = write!(out, "| impl |");
        for m in &cols {
            let _ = write!(out, " {} |", m.title());
        }
        let _ = write!(out, "\n|---|");
        for _ in &cols {
            let _ = write!(out, "---:|");
        }
        let _ = writeln!(out);
        for s in rows {
            let _ = write!(out, "| {} |", s.imp);
            match s.status {
                Status::Ok => {
                    for m in &cols {
                        let _ = write!(out, " {} |", cell(s, *m));
                    }
                }
                Status::Na | Status::Failed => {
                    let what = if s.status == Status::Na {
                        "n/a".to_string()
                    } else {
                        "**FAILED**".to_string()
                    };
                    let msg = s.message.as_deref().map(one_line).unwrap_or_default();
                    let text = if msg.is_empty() {
                        what
                    } else {
                        format!("{what}: {msg}")
                    };
                    let _ = write!(out, " {text} |");
                    for _ in 1..cols.len() {
                        let _ = write!(out, " |");
                    }
                }
            }
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{PAUSE_NOTE}");
    if !meta.notes.is_empty() {
        let _ = writeln!(out);
        for n in &meta.notes {
            let _ = writeln!(out, "Note: {n}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(fmt_ns(56_000.0), "56 µs");
        assert_eq!(fmt_ns(2_300_000.0), "2.30 ms");
        assert_eq!(fmt_ns(39_000_000.0), "39 ms");
        assert_eq!(fmt_ns(412.0), "412 ns");
        assert_eq!(fmt_ns(12_345.0), "12.3 µs");
        assert_eq!(fmt_ns(1.5e9), "1.50 s");
        assert_eq!(fmt_ratio(0.8123), "0.81×");
        assert_eq!(fmt_ratio(12.34), "12.3×");
        assert_eq!(fmt_ratio(0.0002), "<0.01×");
        assert_eq!(fmt_ratio(3238.4), "3238×");
        assert_eq!(fmt_ratio(152520.0), "153k×");
        assert_eq!(fmt_ratio(2.5e7), "2.5e7×");
        assert_eq!(fmt_value(Metric::GcCount, 42.0), "42");
        assert_eq!(fmt_value(Metric::GcCount, 42.5), "42.5");
        assert_eq!(one_line("\n  a | b \nc"), "a \\| b");
    }
}
