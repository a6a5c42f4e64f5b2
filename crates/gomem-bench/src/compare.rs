//! `gomem-bench compare`: every workload on gomem, on Go and on Rust's GC
//! crates, side by side; and the `lox` group: the book's Lox benchmarks on
//! gomem-lox and on clox (`compare/lox.rs`).
//!
//! How it measures:
//!
//! - **Separate processes.** Each measurement is one child process: this
//!   executable's hidden `run-one` subcommand for gomem and the Rust peers
//!   (which prints one JSON line), or the Go program built from `bench/go/`
//!   (built once up front, run with `GOMAXPROCS=2 GODEBUG=gctrace=1`). No
//!   run inherits another's heap, threads or allocator state.
//! - **Alternation.** Runs go round-robin over the implementations (run 1
//!   of each, then run 2 of each, with the starting implementation rotated
//!   each round), so a slow drift of the machine (thermal, a neighbour)
//!   spreads over all implementations instead of landing on one.
//! - **What is measured, and by whom.** Wall time by the parent, spawn to
//!   exit; CPU time (user + system) and peak RSS from the child's `rusage`
//!   returned by `wait4` (all its threads, nothing of the parent); GC count
//!   and pause percentiles from the child: `run-one`'s JSON for gomem and
//!   the peers, the gctrace lines on stderr for Go (pauses = the two STW
//!   phases A and C of each line). gomem runs with `GOMEM_DEBUG=gctrace=1`
//!   too, so the heap-over-time chart can put gomem and Go side by side.
//! - **Medians.** Each figure of the report is the median over the runs
//!   (see `model.rs`), with its ratio to gomem's median.
//! - **Checks.** Every workload prints a check text (tree node counts,
//!   checksums); all implementations must print the same, and a mismatch is
//!   reported loudly and makes the command exit non-zero (after writing
//!   everything, so the evidence is kept).
//!
//! Output: a Markdown table on stdout (also `results.md`), `results.json`
//! (every raw run with its gctrace, the medians, the check verdicts) and
//! SVG charts (`pauses.svg`, `heap-<workload>.svg`) in `--out`.
//! `--from-results FILE` re-renders the table and charts from a saved
//! `results.json` without running anything.

use std::error::Error;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

mod child;
mod gctrace;
mod go;
mod lox;
mod model;
mod report;
mod svg;

use crate::peers::Impl;
use crate::runone::{name, supported, Workload};
use crate::sizes::Preset;
use model::{Latency, Meta, Results, RunRecord, Status};

/// Workloads, in report order.
pub const WORKLOADS: [&str; 4] = ["binary-trees", "gcbench", "latency", "mark"];
/// What the command line can select: the workloads, then the `lox` group
/// (one workload `lox/<program>` per Lox benchmark, on gomem-lox and clox).
pub const SELECTABLE: [&str; 5] = ["binary-trees", "gcbench", "latency", "mark", lox::GROUP];
/// Implementations, in report order.
pub const IMPLS: [&str; 7] = [
    "gomem",
    "go",
    "boxrc",
    "gc-arena",
    "gc",
    "dumpster",
    "bacon-rajan-cc",
];

/// A built Go program, or the status and reason its rows get without one.
type GoBuild = Result<PathBuf, (Status, String)>;

/// Options of `gomem-bench compare`.
#[derive(clap::Args)]
pub struct Args {
    /// Workloads to run (`lox`: the Lox benchmarks on gomem-lox and clox)
    /// [default: all].
    #[arg(value_name = "WORKLOAD", value_parser = SELECTABLE)]
    pub workloads: Vec<String>,
    /// Runs of each (workload, implementation) [default: 3, or 1 with --quick].
    #[arg(long)]
    pub runs: Option<usize>,
    /// Directory for results.json, results.md and the SVG charts.
    #[arg(long, default_value = "./bench-results")]
    pub out: PathBuf,
    /// Run every workload at size `quick` (about a minute in all on 2 cores).
    #[arg(long)]
    pub quick: bool,
    /// Comma-separated implementations of the non-Lox workloads to run
    /// [default: all].
    #[arg(long, value_delimiter = ',', value_parser = IMPLS)]
    pub impls: Vec<String>,
    /// Workload size; overrides --quick (`tiny` is for tests).
    #[arg(long, hide = true, value_enum)]
    pub size: Option<Preset>,
    /// Time limit of one run, in seconds; a run over it is killed and failed.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// Directory of the Go programs [default: ./bench/go, else the source
    /// tree's].
    #[arg(long)]
    pub go_dir: Option<PathBuf>,
    /// The shared Lox folder (test/benchmark, clox/) [default:
    /// ../shared/lox beside the repository root].
    #[arg(long)]
    pub lox_dir: Option<PathBuf>,
    /// Run nothing: re-render the table and the charts (into --out) from a
    /// results.json written earlier.
    #[arg(long, value_name = "RESULTS_JSON")]
    pub from_results: Option<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let results = match &args.from_results {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            let mut res: Results = serde_json::from_str(&text)
                .map_err(|e| format!("parsing {}: {e}", path.display()))?;
            res.summarise();
            std::fs::create_dir_all(&args.out)?;
            res
        }
        None => {
            let res = measure(args)?;
            let json = serde_json::to_string_pretty(&res)?;
            std::fs::write(args.out.join("results.json"), json + "\n")?;
            res
        }
    };
    let md = report::markdown(&results);
    std::fs::write(args.out.join("results.md"), &md)?;
    let charts = svg::write_all(&results, &args.out)?;
    print!("{md}");
    eprintln!(
        "wrote {} and {} chart{} in {}",
        if args.from_results.is_some() {
            "results.md"
        } else {
            "results.json, results.md"
        },
        charts.len(),
        if charts.len() == 1 { "" } else { "s" },
        args.out.display()
    );

    let mut problems = Vec::new();
    for c in results.checks.iter().filter(|c| !c.agree) {
        eprintln!(
            "\n!!! CHECK MISMATCH on {}: the implementations computed different results !!!",
            c.workload
        );
        for v in &c.values {
            eprintln!(
                "  {}:\n    {}",
                v.printed_by.join(", "),
                v.check.replace('\n', "\n    ")
            );
        }
        problems.push(format!("check mismatch on {}", c.workload));
    }
    for s in results
        .summaries
        .iter()
        .filter(|s| s.status == Status::Failed)
    {
        problems.push(format!("{} on {} failed", s.imp, s.workload));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; ").into())
    }
}

/// Runs every measurement and returns the summarised results.
fn measure(args: &Args) -> Result<Results, Box<dyn Error>> {
    let preset = args.size.unwrap_or(if args.quick {
        Preset::Quick
    } else {
        Preset::Default
    });
    let size = name(preset);
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let workloads: Vec<String> = if args.workloads.is_empty() {
        WORKLOADS.iter().map(|s| s.to_string()).collect()
    } else {
        ordered(&WORKLOADS, &args.workloads)
    };
    let want_lox = args.workloads.is_empty() || args.workloads.iter().any(|w| w == lox::GROUP);
    let mut impls: Vec<String> = if workloads.is_empty() {
        Vec::new()
    } else if args.impls.is_empty() {
        IMPLS.iter().map(|s| s.to_string()).collect()
    } else {
        ordered(&IMPLS, &args.impls)
    };
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("creating {}: {e}", args.out.display()))?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let exe = std::env::current_exe()?;
    let (cpus, cpu_model, mem_gib) = machine();
    let mut meta = Meta {
        size: size.clone(),
        runs,
        workloads: workloads.clone(),
        impls: Vec::new(),
        cpus,
        cpu_model,
        mem_gib,
        go_version: None,
        started_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        notes: Vec::new(),
    };
    let mut records: Vec<RunRecord> = Vec::new();

    // The Go programs: built once, before any measurement.
    let mut go_bins: Vec<(String, GoBuild)> = Vec::new();
    if impls.iter().any(|i| i == "go") {
        match go::version() {
            None => {
                eprintln!("{}", go::MISSING);
                meta.notes.push(go::MISSING.to_string());
                impls.retain(|i| i != "go");
            }
            Some(v) => {
                let go_dir = args.go_dir.clone().unwrap_or_else(go::default_dir);
                let bin_dir = args.out.join("go-bin");
                std::fs::create_dir_all(&bin_dir)?;
                eprintln!("building Go programs with {v} …");
                meta.go_version = Some(v);
                for w in &workloads {
                    let built = if !go_dir.join(go::package(w)).is_dir() {
                        Err((
                            Status::Na,
                            format!("no Go program in {}", go_dir.join(go::package(w)).display()),
                        ))
                    } else {
                        go::build(&go_dir, w, &bin_dir).map_err(|e| (Status::Failed, e))
                    };
                    go_bins.push((w.clone(), built));
                }
            }
        }
    }
    meta.impls = impls.clone();

    // Round-robin plan.
    let mut plan: Vec<(String, String, usize)> = Vec::new();
    for w in &workloads {
        for r in 0..runs {
            for k in 0..impls.len() {
                plan.push((w.clone(), impls[(k + r) % impls.len()].clone(), r));
            }
        }
    }

    // The lox group: clox built once, then the programs, alternating VMs.
    let mut lox_setup: Option<(PathBuf, Result<PathBuf, String>)> = None;
    if want_lox {
        match lox::find_dir(args.lox_dir.as_deref()) {
            None => {
                let note = lox::missing_note(args.lox_dir.as_deref());
                eprintln!("{note}");
                meta.notes.push(note);
            }
            Some(dir) => {
                let bin_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
                eprintln!("building clox from {} …", dir.join("clox").display());
                let clox = lox::build_clox(&dir, &bin_dir);
                if let Err(e) = &clox {
                    eprintln!("{e}");
                    meta.notes.push(e.clone());
                }
                let lox_impls: Vec<String> =
                    lox::LOX_IMPLS.iter().map(|i| i.name.to_string()).collect();
                for i in &lox::LOX_IMPLS {
                    meta.notes.push(i.about.to_string());
                }
                for w in lox::workloads(crate::sizes::lox_programs(preset)) {
                    for r in 0..runs {
                        for k in 0..lox_impls.len() {
                            let imp = lox_impls[(k + r) % lox_impls.len()].clone();
                            plan.push((w.clone(), imp, r));
                        }
                    }
                    meta.workloads.push(w);
                }
                meta.impls.extend(lox_impls);
                lox_setup = Some((dir, clox));
            }
        }
    }
    let tty = std::io::stderr().is_terminal();
    let pb = ProgressBar::with_draw_target(Some(plan.len() as u64), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:28} {pos}/{len} runs · ETA {eta} · now: {msg}",
        )?
        .progress_chars("=> "),
    );
    pb.enable_steady_tick(Duration::from_millis(250));

    for (i, (w, imp, r)) in plan.iter().enumerate() {
        let unsupported = records
            .iter()
            .any(|x| &x.workload == w && &x.imp == imp && x.status != Status::Ok);
        if unsupported {
            // n/a or already failed: don't spend time on the other runs.
            pb.inc(1);
            continue;
        }
        pb.set_message(format!("{w} · {imp} · run {}/{runs}", r + 1));
        let rec = if let Some(program) = w.strip_prefix("lox/") {
            match &lox_setup {
                Some((dir, _)) if imp == lox::LOX_IMPLS[0].name => {
                    let mut cmd = Command::new(&exe);
                    cmd.arg("lox");
                    lox::run(cmd, imp, dir, program, *r, timeout)
                }
                Some((dir, Ok(clox))) => {
                    lox::run(Command::new(clox), imp, dir, program, *r, timeout)
                }
                Some((_, Err(e))) => RunRecord::empty(w, imp, *r, Status::Na, e.clone()),
                None => RunRecord::empty(w, imp, *r, Status::Na, "no Lox folder".into()),
            }
        } else if imp == "go" {
            match go_bins.iter().find(|(gw, _)| gw == w).map(|(_, b)| b) {
                Some(Ok(bin)) => run_go(bin, w, &size, *r, timeout),
                Some(Err((status, msg))) => RunRecord::empty(w, imp, *r, *status, msg.clone()),
                None => RunRecord::empty(w, imp, *r, Status::Na, "no Go program".into()),
            }
        } else {
            run_rust(&exe, w, imp, &size, *r, timeout)
        };
        let line = format!(
            "[{}/{}] {w} · {imp} · run {}: {}",
            i + 1,
            plan.len(),
            r + 1,
            match rec.status {
                Status::Ok => format!("{:.2} s", rec.wall_s),
                Status::Na => "n/a".to_string(),
                Status::Failed => format!(
                    "FAILED: {}",
                    rec.message
                        .as_deref()
                        .unwrap_or("")
                        .lines()
                        .next()
                        .unwrap_or("")
                ),
            }
        );
        if tty {
            pb.println(line);
        } else {
            eprintln!("{line}");
        }
        records.push(rec);
        pb.inc(1);
    }
    pb.finish_and_clear();

    let mut res = Results {
        meta,
        runs: records,
        summaries: Vec::new(),
        checks: Vec::new(),
    };
    res.summarise();
    Ok(res)
}

/// `wanted`, in the order of `all`, without duplicates.
fn ordered(all: &[&str], wanted: &[String]) -> Vec<String> {
    all.iter()
        .filter(|a| wanted.iter().any(|w| w == *a))
        .map(|s| s.to_string())
        .collect()
}

/// (cpus, cpu model, memory GiB) of this machine.
fn machine() -> (usize, String, f64) {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / (1024.0 * 1024.0))
        .unwrap_or(0.0);
    (cpus, model, mem)
}

/// Appends `item` to a comma-separated debug variable's current value.
fn with_debug_item(var: &str, item: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => {
            let key = item.split('=').next().unwrap_or(item);
            let kept: Vec<&str> = v
                .split(',')
                .filter(|kv| kv.split('=').next() != Some(key))
                .collect();
            if kept.is_empty() {
                item.to_string()
            } else {
                format!("{},{item}", kept.join(","))
            }
        }
        _ => item.to_string(),
    }
}

/// The figures every child gives through the kernel.
fn base_record(w: &str, imp: &str, run: usize, o: &child::Outcome) -> RunRecord {
    let mut rec = RunRecord::empty(w, imp, run, Status::Ok, String::new());
    rec.message = None;
    rec.wall_s = o.wall.as_secs_f64();
    rec.user_s = o.user.as_secs_f64();
    rec.sys_s = o.sys.as_secs_f64();
    rec.cpu_s = rec.user_s + rec.sys_s;
    rec.peak_rss_mib = o.max_rss_kib as f64 / 1024.0;
    rec
}

/// Why a child did not succeed, or `None` if it did.
fn failure(o: &child::Outcome, timeout: Duration) -> Option<String> {
    let tail = || {
        let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.starts_with("gc ")).collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    };
    if o.timed_out {
        Some(format!("timed out after {} s", timeout.as_secs()))
    } else {
        match o.exit {
            child::Exit::Code(0) => None,
            child::Exit::Code(c) => Some(format!("exit code {c}: {}", tail())),
            child::Exit::Signal(s) => Some(format!("killed by signal {s}: {}", tail())),
        }
    }
}

/// The JSON line `run-one` prints.
#[derive(serde::Deserialize)]
struct RunOneLine {
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    check: Option<String>,
    #[serde(default)]
    wall_s: Option<f64>,
    #[serde(default)]
    gc_count: Option<f64>,
    #[serde(default)]
    pause_p50_ns: Option<f64>,
    #[serde(default)]
    pause_p99_ns: Option<f64>,
    #[serde(default)]
    pause_max_ns: Option<f64>,
    #[serde(default)]
    latency_ns: Option<Latency>,
    #[serde(default)]
    mark_ms_per_gc: Option<f64>,
    #[serde(default)]
    mark_mb_per_s: Option<f64>,
}

/// One run of gomem or a Rust peer through `run-one`.
fn run_rust(
    exe: &Path,
    w: &str,
    imp: &str,
    size: &str,
    run: usize,
    timeout: Duration,
) -> RunRecord {
    let (Ok(implementation), Ok(workload)) =
        (Impl::from_str(imp, false), Workload::from_str(w, false))
    else {
        return RunRecord::empty(w, imp, run, Status::Failed, "unknown to run-one".into());
    };
    let mut cmd = Command::new(exe);
    cmd.args(["run-one", "--impl", imp, "--workload", w, "--size", size]);
    if let Some((var, item)) = implementation.implementation().gctrace_env {
        cmd.env(var, with_debug_item(var, item));
    }
    let o = match child::run(&mut cmd, timeout) {
        Ok(o) => o,
        Err(e) => return RunRecord::empty(w, imp, run, Status::Failed, format!("spawn: {e}")),
    };
    if let Some(why) = failure(&o, timeout) {
        // run-one refuses a workload the implementation does not run, with
        // a message: n/a. Any other failure, and a signal, is a crash.
        let status = match o.exit {
            child::Exit::Code(_) if !supported(implementation, workload) && !o.timed_out => {
                Status::Na
            }
            _ => Status::Failed,
        };
        let msg = if status == Status::Na {
            let m = o.stderr.trim();
            if m.is_empty() {
                why
            } else {
                m.strip_prefix("gomem-bench: ").unwrap_or(m).to_string()
            }
        } else {
            why
        };
        return RunRecord::empty(w, imp, run, status, msg);
    }
    let line = o
        .stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    let parsed: RunOneLine = match line.map(serde_json::from_str) {
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            return RunRecord::empty(
                w,
                imp,
                run,
                Status::Failed,
                format!("bad run-one JSON: {e}"),
            )
        }
        None => {
            return RunRecord::empty(
                w,
                imp,
                run,
                Status::Failed,
                "run-one printed no JSON".into(),
            )
        }
    };
    let mut rec = base_record(w, imp, run, &o);
    rec.flags = parsed.flags;
    rec.check = parsed.check;
    rec.reported_wall_s = parsed.wall_s;
    rec.gc_count = parsed.gc_count;
    rec.pause_p50_ns = parsed.pause_p50_ns;
    rec.pause_p99_ns = parsed.pause_p99_ns;
    rec.pause_max_ns = parsed.pause_max_ns;
    rec.latency_ns = parsed.latency_ns;
    for (k, v) in [
        ("mark_ms_per_gc", parsed.mark_ms_per_gc),
        ("mark_mb_per_s", parsed.mark_mb_per_s),
    ] {
        if let Some(v) = v {
            rec.extra.insert(k.to_string(), v);
        }
    }
    rec.gctrace = gctrace::parse_gctrace(&o.stderr);
    rec
}

/// One run of a Go program.
fn run_go(bin: &Path, w: &str, size: &str, run: usize, timeout: Duration) -> RunRecord {
    let flags = go::args(w, size);
    let mut cmd = Command::new(bin);
    cmd.args(&flags)
        .env("GOMAXPROCS", "2")
        .env("GODEBUG", with_debug_item("GODEBUG", "gctrace=1"));
    let o = match child::run(&mut cmd, timeout) {
        Ok(o) => o,
        Err(e) => return RunRecord::empty(w, "go", run, Status::Failed, format!("spawn: {e}")),
    };
    if let Some(why) = failure(&o, timeout) {
        return RunRecord::empty(w, "go", run, Status::Failed, why);
    }
    let g = go::read_run(&o.stdout, &o.stderr);
    let mut rec = base_record(w, "go", run, &o);
    rec.flags = flags;
    rec.check = Some(g.check);
    rec.gc_count = Some(g.gctrace.len() as f64);
    if let Some([p50, p99, max]) = g.pauses {
        rec.pause_p50_ns = Some(p50);
        rec.pause_p99_ns = Some(p99);
        rec.pause_max_ns = Some(max);
    }
    rec.latency_ns = g.latency;
    rec.reported_wall_s = g.figures.get("wall_s").copied();
    rec.extra = g.figures;
    rec.gctrace = g.gctrace;
    rec
}

/// A fixed, made-up set of results for the chart and report tests.
#[cfg(test)]
pub(crate) fn synthetic_results() -> Results {
    use gctrace::GcTraceLine;
    let trace = |scale: f64, n: u64| -> Vec<GcTraceLine> {
        (1..=n)
            .map(|c| GcTraceLine {
                cycle: c,
                t_s: c as f64 * 0.05 * scale,
                cpu_pct: 10,
                clock_ms: [0.05 * scale, 3.0, 0.02 * scale],
                cpu_ms: [0.1, 1.0, 2.0, 0.5, 0.04],
                heap_mb: [8 + c % 3, 9 + c % 4, 4],
                goal_mb: 10 + c % 2,
                stacks_mb: 0,
                globals_mb: 0,
                procs: 2,
                forced: false,
            })
            .collect()
    };
    let mut runs = Vec::new();
    for r in 0..3 {
        for (imp, wall, pauses, tr) in [
            ("gomem", 1.0, Some([40e3, 200e3, 900e3]), trace(1.0, 20)),
            ("go", 0.8, Some([30e3, 150e3, 2.8e6]), trace(0.8, 24)),
            ("boxrc", 0.5, None, Vec::new()),
            ("gc-arena", 1.5, Some([1e6, 5e6, 8e6]), Vec::new()),
        ] {
            for w in ["binary-trees", "latency"] {
                let mut rec = RunRecord::empty(w, imp, r, Status::Ok, String::new());
                rec.message = None;
                rec.wall_s = wall + r as f64 * 0.01;
                rec.cpu_s = wall * 1.6;
                rec.user_s = wall * 1.5;
                rec.sys_s = wall * 0.1;
                rec.peak_rss_mib = 100.0 * wall;
                rec.gc_count = pauses.map(|_| 20.0);
                rec.pause_p50_ns = pauses.map(|p| p[0]);
                rec.pause_p99_ns = pauses.map(|p| p[1]);
                rec.pause_max_ns = pauses.map(|p| p[2]);
                rec.check = Some(format!("{w} check: 42"));
                if w == "latency" {
                    rec.latency_ns = Some(Latency {
                        p50: 100.0 * wall,
                        p99: 1e3 * wall,
                        p999: 1e5 * wall,
                        max: 1e6 * wall,
                    });
                } else {
                    rec.gctrace = tr.clone();
                }
                runs.push(rec);
            }
        }
    }
    let mut res = Results {
        meta: Meta {
            size: "tiny".into(),
            runs: 3,
            workloads: vec!["binary-trees".into(), "latency".into()],
            impls: vec![
                "gomem".into(),
                "go".into(),
                "boxrc".into(),
                "gc-arena".into(),
            ],
            cpus: 2,
            cpu_model: "Synthetic CPU".into(),
            mem_gib: 24.0,
            go_version: Some("go version go1.27.3 linux/amd64".into()),
            started_unix_s: 0,
            notes: Vec::new(),
        },
        runs,
        summaries: Vec::new(),
        checks: Vec::new(),
    };
    res.summarise();
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_of_synthetic_results() {
        let res = synthetic_results();
        let md = report::markdown(&res);
        assert!(md.contains("## binary-trees"), "{md}");
        assert!(md.contains("| gomem | 1.01 |"), "{md}");
        assert!(md.contains("| go | 0.81 (0.80×) |"), "{md}");
        assert!(md.contains("latency p99.9"), "{md}");
        assert!(!md.contains("MISMATCH"), "{md}");
        let json = serde_json::to_string(&res).unwrap();
        let back: Results = serde_json::from_str(&json).unwrap();
        assert_eq!(back.runs.len(), res.runs.len());
        assert_eq!(back.summaries.len(), res.summaries.len());
        assert_eq!(back.checks, res.checks);
    }

    #[test]
    fn ordering_and_debug_vars() {
        assert_eq!(
            ordered(&IMPLS, &["boxrc".into(), "gomem".into(), "gomem".into()]),
            vec!["gomem", "boxrc"]
        );
        assert_eq!(
            with_debug_item("GOMEM_BENCH_TEST_UNSET_VAR", "gctrace=1"),
            "gctrace=1"
        );
    }
}
