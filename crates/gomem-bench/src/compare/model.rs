//! What `compare` records: one `RunRecord` per child process, the medians
//! per (workload, implementation), and the check verdicts; all of it is
//! what `results.json` holds.
//!
//! Medians, not means: with a few runs on a shared 2-core machine one
//! disturbed run (a page-cache flush, a noisy neighbour) moves a mean by a
//! lot and a median not at all. Each metric's median is taken over the runs
//! that report it; percentiles of pauses and latencies are per run (each
//! run's p99) and then the median of those across runs. Ratios are
//! `impl / gomem` of the medians, so below 1 means "less than gomem" (for
//! every metric here, less is better).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::gctrace::GcTraceLine;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It ran and reported figures.
    Ok,
    /// The implementation does not support the workload (or the Go
    /// toolchain / program is missing): not a failure.
    Na,
    /// It crashed, timed out or printed nothing usable.
    Failed,
}

/// Latency percentiles of the latency workload, ns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
}

/// One child process: one workload on one implementation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Workload name (`binary-trees`, …).
    pub workload: String,
    /// Implementation name (`gomem`, `go`, `boxrc`, …).
    #[serde(rename = "impl")]
    pub imp: String,
    /// 0-based run index.
    pub run: usize,
    /// How it ended.
    pub status: Status,
    /// The workload flags of this size (`run-one`'s `size_flags`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Why it is n/a or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Wall time measured by the parent, s.
    pub wall_s: f64,
    /// User + system CPU time from the child's rusage, s.
    pub cpu_s: f64,
    /// User CPU, s.
    pub user_s: f64,
    /// System CPU, s.
    pub sys_s: f64,
    /// Peak RSS from the child's rusage, MiB.
    pub peak_rss_mib: f64,
    /// Wall time the child reported for the workload itself, s.
    #[serde(default)]
    pub reported_wall_s: Option<f64>,
    /// Collections during the run.
    #[serde(default)]
    pub gc_count: Option<f64>,
    /// Pause percentiles, ns.
    #[serde(default)]
    pub pause_p50_ns: Option<f64>,
    /// 99th percentile pause, ns.
    #[serde(default)]
    pub pause_p99_ns: Option<f64>,
    /// Longest pause, ns.
    #[serde(default)]
    pub pause_max_ns: Option<f64>,
    /// Latency percentiles (latency workload only).
    #[serde(default)]
    pub latency_ns: Option<Latency>,
    /// The workload's check text (what must agree across implementations).
    #[serde(default)]
    pub check: Option<String>,
    /// Other figures the child reported (`mark_ms_per_gc`, `mark_mb_per_s`;
    /// for Go every numeric `# key=value` of its stdout).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
    /// gctrace lines the child printed (Go, gomem).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gctrace: Vec<GcTraceLine>,
}

impl RunRecord {
    /// A record with no figures (for n/a and failures).
    pub fn empty(workload: &str, imp: &str, run: usize, status: Status, message: String) -> Self {
        RunRecord {
            workload: workload.to_string(),
            imp: imp.to_string(),
            run,
            status,
            flags: Vec::new(),
            message: Some(message),
            wall_s: 0.0,
            cpu_s: 0.0,
            user_s: 0.0,
            sys_s: 0.0,
            peak_rss_mib: 0.0,
            reported_wall_s: None,
            gc_count: None,
            pause_p50_ns: None,
            pause_p99_ns: None,
            pause_max_ns: None,
            latency_ns: None,
            check: None,
            extra: BTreeMap::new(),
            gctrace: Vec::new(),
        }
    }
}

/// A metric of the report: name in JSON, column title, how to read it from
/// a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Parent-measured wall time.
    Wall,
    /// User + system CPU.
    Cpu,
    /// Peak RSS.
    Rss,
    /// Collections.
    GcCount,
    /// Pause p50.
    PauseP50,
    /// Pause p99.
    PauseP99,
    /// Longest pause.
    PauseMax,
    /// Latency p50.
    LatP50,
    /// Latency p99.
    LatP99,
    /// Latency p99.9.
    LatP999,
    /// Latency max.
    LatMax,
    /// Mean time of one forced collection (mark workload).
    MarkMsPerGc,
}

/// Every metric, in table order.
pub const METRICS: [Metric; 12] = [
    Metric::Wall,
    Metric::Cpu,
    Metric::Rss,
    Metric::GcCount,
    Metric::PauseP50,
    Metric::PauseP99,
    Metric::PauseMax,
    Metric::LatP50,
    Metric::LatP99,
    Metric::LatP999,
    Metric::LatMax,
    Metric::MarkMsPerGc,
];

impl Metric {
    /// Key in `results.json`.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Wall => "wall_s",
            Metric::Cpu => "cpu_s",
            Metric::Rss => "peak_rss_mib",
            Metric::GcCount => "gc_count",
            Metric::PauseP50 => "pause_p50_ns",
            Metric::PauseP99 => "pause_p99_ns",
            Metric::PauseMax => "pause_max_ns",
            Metric::LatP50 => "latency_p50_ns",
            Metric::LatP99 => "latency_p99_ns",
            Metric::LatP999 => "latency_p999_ns",
            Metric::LatMax => "latency_max_ns",
            Metric::MarkMsPerGc => "mark_ms_per_gc",
        }
    }

    /// Column title in the Markdown table.
    pub fn title(self) -> &'static str {
        match self {
            Metric::Wall => "wall s",
            Metric::Cpu => "CPU s",
            Metric::Rss => "peak RSS MiB",
            Metric::GcCount => "GCs",
            Metric::PauseP50 => "pause p50",
            Metric::PauseP99 => "pause p99",
            Metric::PauseMax => "pause max",
            Metric::LatP50 => "latency p50",
            Metric::LatP99 => "latency p99",
            Metric::LatP999 => "latency p99.9",
            Metric::LatMax => "latency max",
            Metric::MarkMsPerGc => "mark time/GC",
        }
    }

    /// The metric's value in one run.
    pub fn of(self, r: &RunRecord) -> Option<f64> {
        match self {
            Metric::Wall => Some(r.wall_s),
            Metric::Cpu => Some(r.cpu_s),
            Metric::Rss => Some(r.peak_rss_mib),
            Metric::GcCount => r.gc_count,
            Metric::PauseP50 => r.pause_p50_ns,
            Metric::PauseP99 => r.pause_p99_ns,
            Metric::PauseMax => r.pause_max_ns,
            Metric::LatP50 => r.latency_ns.map(|l| l.p50),
            Metric::LatP99 => r.latency_ns.map(|l| l.p99),
            Metric::LatP999 => r.latency_ns.map(|l| l.p999),
            Metric::LatMax => r.latency_ns.map(|l| l.max),
            Metric::MarkMsPerGc => r.extra.get("mark_ms_per_gc").copied(),
        }
    }
}

/// The medians of one (workload, implementation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Workload.
    pub workload: String,
    /// Implementation.
    #[serde(rename = "impl")]
    pub imp: String,
    /// Ok if at least one run is ok and none failed; else the worst status.
    pub status: Status,
    /// Why n/a or failed (the first message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Runs that reported figures.
    pub ok_runs: usize,
    /// Median of each metric over the ok runs, by `Metric::key`.
    pub median: BTreeMap<String, f64>,
    /// `median / gomem's median` for each metric both have.
    pub ratio_to_gomem: BTreeMap<String, f64>,
}

impl Summary {
    /// The median of `m`, if any run reported it.
    pub fn get(&self, m: Metric) -> Option<f64> {
        self.median.get(m.key()).copied()
    }

    /// The ratio to gomem of `m`.
    pub fn ratio(&self, m: Metric) -> Option<f64> {
        self.ratio_to_gomem.get(m.key()).copied()
    }
}

/// Whether the implementations agree on a workload's check text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckVerdict {
    /// Workload.
    pub workload: String,
    /// True when every ok run of every implementation printed the same.
    pub agree: bool,
    /// The distinct check texts, each with the implementations (and runs)
    /// that printed it.
    pub values: Vec<CheckValue>,
}

/// One distinct check text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckValue {
    /// The text, normalised (trimmed lines, `#` lines dropped).
    pub check: String,
    /// `impl#run` that printed it.
    pub printed_by: Vec<String>,
}

/// Facts about the run as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Workload size (`default`, `quick`, `tiny`).
    pub size: String,
    /// Runs per (workload, implementation).
    pub runs: usize,
    /// Workloads, in order.
    pub workloads: Vec<String>,
    /// Implementations, in order.
    pub impls: Vec<String>,
    /// `nproc`.
    pub cpus: usize,
    /// `/proc/cpuinfo` model name.
    pub cpu_model: String,
    /// `MemTotal`, GiB.
    pub mem_gib: f64,
    /// `go version`, if Go was used.
    #[serde(default)]
    pub go_version: Option<String>,
    /// Seconds since the Unix epoch when the comparison started.
    pub started_unix_s: u64,
    /// Notes printed under the table (Go missing, …).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Everything `results.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Facts about the run.
    pub meta: Meta,
    /// Every child process, in the order it ran.
    pub runs: Vec<RunRecord>,
    /// Medians per (workload, implementation), workload-major.
    #[serde(default)]
    pub summaries: Vec<Summary>,
    /// Check verdicts per workload.
    #[serde(default)]
    pub checks: Vec<CheckVerdict>,
}

impl Results {
    /// Fills `summaries` and `checks` from `runs`.
    pub fn summarise(&mut self) {
        self.summaries = summarise(&self.meta, &self.runs);
        self.checks = self
            .meta
            .workloads
            .iter()
            .map(|w| check_verdict(w, &self.runs))
            .collect();
    }

    /// The summary of (workload, impl).
    pub fn summary(&self, workload: &str, imp: &str) -> Option<&Summary> {
        self.summaries
            .iter()
            .find(|s| s.workload == workload && s.imp == imp)
    }

    /// Ok runs of (workload, impl).
    pub fn ok_runs(&self, workload: &str, imp: &str) -> Vec<&RunRecord> {
        self.runs
            .iter()
            .filter(|r| r.workload == workload && r.imp == imp && r.status == Status::Ok)
            .collect()
    }
}

/// Median of `v` (mean of the two middle values for an even count).
pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Nearest-rank percentile (`p` in 0..=100) of ascending `sorted`.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

fn summarise(meta: &Meta, runs: &[RunRecord]) -> Vec<Summary> {
    let mut out = Vec::new();
    for w in &meta.workloads {
        let mut gomem: Option<BTreeMap<String, f64>> = None;
        let start = out.len();
        for imp in &meta.impls {
            let mine: Vec<&RunRecord> = runs
                .iter()
                .filter(|r| &r.workload == w && &r.imp == imp)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let ok: Vec<&RunRecord> = mine
                .iter()
                .copied()
                .filter(|r| r.status == Status::Ok)
                .collect();
            let status = if mine.iter().any(|r| r.status == Status::Failed) {
                Status::Failed
            } else if ok.is_empty() {
                Status::Na
            } else {
                Status::Ok
            };
            let message = mine.iter().find_map(|r| r.message.clone());
            let mut median_by = BTreeMap::new();
            for m in METRICS {
                let mut vals: Vec<f64> = ok.iter().filter_map(|r| m.of(r)).collect();
                if let Some(v) = median(&mut vals) {
                    median_by.insert(m.key().to_string(), v);
                }
            }
            if is_baseline(imp) {
                gomem = Some(median_by.clone());
            }
            out.push(Summary {
                workload: w.clone(),
                imp: imp.clone(),
                status,
                message,
                ok_runs: ok.len(),
                median: median_by,
                ratio_to_gomem: BTreeMap::new(),
            });
        }
        if let Some(g) = gomem {
            for s in &mut out[start..] {
                for (k, v) in &s.median {
                    if let Some(base) = g.get(k).filter(|b| **b > 0.0) {
                        s.ratio_to_gomem.insert(k.clone(), v / base);
                    }
                }
            }
        }
    }
    out
}

/// Whether `imp` is the baseline of the ratios: gomem, or gomem-lox in
/// the lox group.
pub fn is_baseline(imp: &str) -> bool {
    imp == "gomem" || imp == "gomem-lox"
}

/// Normalises a check text: trims each line, drops empty and `#` lines.
pub fn normalise_check(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

fn check_verdict(workload: &str, runs: &[RunRecord]) -> CheckVerdict {
    let mut values: Vec<CheckValue> = Vec::new();
    for r in runs
        .iter()
        .filter(|r| r.workload == workload && r.status == Status::Ok)
    {
        let Some(c) = &r.check else { continue };
        let c = normalise_check(c);
        let who = format!("{}#{}", r.imp, r.run + 1);
        match values.iter_mut().find(|v| v.check == c) {
            Some(v) => v.printed_by.push(who),
            None => values.push(CheckValue {
                check: c,
                printed_by: vec![who],
            }),
        }
    }
    CheckVerdict {
        workload: workload.to_string(),
        agree: values.len() <= 1,
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(w: &str, imp: &str, run: usize, wall: f64, check: &str) -> RunRecord {
        let mut r = RunRecord::empty(w, imp, run, Status::Ok, String::new());
        r.message = None;
        r.wall_s = wall;
        r.cpu_s = wall * 1.5;
        r.peak_rss_mib = 100.0;
        r.check = Some(check.to_string());
        r
    }

    fn meta(workloads: &[&str], impls: &[&str]) -> Meta {
        Meta {
            size: "tiny".into(),
            runs: 3,
            workloads: workloads.iter().map(|s| s.to_string()).collect(),
            impls: impls.iter().map(|s| s.to_string()).collect(),
            cpus: 2,
            cpu_model: "test".into(),
            mem_gib: 1.0,
            go_version: None,
            started_unix_s: 0,
            notes: vec![],
        }
    }

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 99.9), Some(7.0));
    }

    #[test]
    fn summaries_ratios_and_checks() {
        let mut res = Results {
            meta: meta(&["w"], &["gomem", "boxrc", "go"]),
            runs: vec![
                rec("w", "gomem", 0, 1.0, "a\n# note"),
                rec("w", "boxrc", 0, 3.0, "a"),
                rec("w", "gomem", 1, 3.0, "  a  "),
                rec("w", "boxrc", 1, 1.0, "a"),
                rec("w", "gomem", 2, 2.0, "a"),
                rec("w", "boxrc", 2, 5.0, "a"),
                RunRecord::empty("w", "go", 0, Status::Na, "no go".into()),
            ],
            summaries: vec![],
            checks: vec![],
        };
        res.summarise();
        let g = res.summary("w", "gomem").unwrap();
        assert_eq!(g.get(Metric::Wall), Some(2.0));
        assert_eq!(g.ratio(Metric::Wall), Some(1.0));
        let b = res.summary("w", "boxrc").unwrap();
        assert_eq!(b.get(Metric::Wall), Some(3.0));
        assert_eq!(b.ratio(Metric::Wall), Some(1.5));
        assert_eq!(b.get(Metric::GcCount), None);
        let go = res.summary("w", "go").unwrap();
        assert_eq!(go.status, Status::Na);
        assert_eq!(go.message.as_deref(), Some("no go"));
        assert!(res.checks[0].agree);

        res.runs[3].check = Some("b".into());
        res.summarise();
        assert!(!res.checks[0].agree);
        assert_eq!(res.checks[0].values[1].printed_by, vec!["boxrc#2"]);
    }
}
