//! The `lox` workload group of `compare`: the book's Lox benchmarks
//! (`test/benchmark/*.lox` of the shared Lox folder) on gomem-lox (a Lox
//! VM whose objects all live in the gomem heap) and on clox (the book's C
//! VM with its own stop-the-world mark-sweep collector).
//!
//! - **Programs.** One workload per program, named `lox/<program>`; which
//!   programs a size runs is [`crate::sizes::lox_programs`]. The programs
//!   have no size knob of their own.
//! - **The two VMs** ([`LOX_IMPLS`]). gomem-lox runs inside this
//!   executable (hidden subcommand `lox FILE`, the same code as the `lox`
//!   binary: `gomem_lox::cli`), with `GOMEM_DEBUG=gctrace=1`, whose lines
//!   give its GC count and pauses (clock fields A and C, as for Go). clox
//!   is built once per comparison from `<lox dir>/clox/*.c` with
//!   `cc -O2` into the target directory (beside this executable); without
//!   the sources or a C compiler its rows are n/a with a note.
//! - **Checks.** A program prints its results and then, last, its timing:
//!   the check text is stdout without its last line (and without other
//!   timings: lines that are fractional numbers, as `equality` prints). `zoo_batch` counts
//!   batches done in 10 s, so its output depends on speed: it has no check
//!   (its batch count is kept as the figure `batches`). A program both VMs
//!   refuse to compile (clox's "Too many constants in one chunk" on
//!   `string_equality`) is n/a for the VM that refused, with the message.
//! - **Where the folder is.** `--lox-dir`, else `../shared/lox` beside the
//!   repository root. Without it the group is skipped with a note.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::child;
use super::gctrace::parse_gctrace;
use super::model::{percentile, RunRecord, Status};
use super::{base_record, failure, with_debug_item};

/// The workload group's name on the command line.
pub const GROUP: &str = "lox";

/// One Lox implementation of the group.
pub struct LoxImpl {
    /// Its name in the report.
    pub name: &'static str,
    /// What it is.
    pub about: &'static str,
}

/// The implementations of the group, in report order (gomem-lox first: the
/// ratios are to it).
pub const LOX_IMPLS: [LoxImpl; 2] = [
    LoxImpl {
        name: "gomem-lox",
        about: "gomem-lox: Lox bytecode VM, objects in the gomem heap, Go's concurrent collector \
                (GCs and pauses from GOMEM_DEBUG=gctrace=1, clock fields A and C)",
    },
    LoxImpl {
        name: "clox",
        about: "clox: the book's C VM (cc -O2, NaN boxing), stop-the-world mark-sweep",
    },
];

/// The exit status of a compile error (both VMs).
const EXIT_COMPILE_ERROR: i32 = 65;

/// The shared Lox folder: `dir` if given, else `../shared/lox` beside the
/// repository root; `None` unless it holds `test/benchmark`.
pub fn find_dir(dir: Option<&Path>) -> Option<PathBuf> {
    let d = match dir {
        Some(d) => d.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/lox"),
    };
    d.join("test/benchmark")
        .is_dir()
        .then(|| d.canonicalize().unwrap_or(d))
}

/// The note given when the folder is missing.
pub fn missing_note(dir: Option<&Path>) -> String {
    format!(
        "no Lox benchmarks ({}/test/benchmark not found): skipping the lox group",
        dir.map_or("../shared/lox".to_string(), |d| d.display().to_string())
    )
}

/// `lox/<program>` for each program of `programs`.
pub fn workloads(programs: &[&str]) -> Vec<String> {
    programs.iter().map(|p| format!("{GROUP}/{p}")).collect()
}

/// Builds clox from `lox_dir/clox/*.c` into `bin_dir/clox`; the binary, or
/// why there is none.
pub fn build_clox(lox_dir: &Path, bin_dir: &Path) -> Result<PathBuf, String> {
    let src = lox_dir.join("clox");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&src)
        .map_err(|e| format!("no clox sources in {}: {e}", src.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    if sources.is_empty() {
        return Err(format!("no clox sources in {}", src.display()));
    }
    sources.sort();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let bin = bin_dir.join("clox");
    let out = Command::new(&cc)
        .arg("-O2")
        .arg("-o")
        .arg(&bin)
        .args(&sources)
        .output()
        .map_err(|e| format!("no C compiler ({cc}: {e}): skipping clox"))?;
    if out.status.success() {
        Ok(bin)
    } else {
        Err(format!(
            "{cc} -O2 clox/*.c failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The check text of a program's stdout: every line but the last (the
/// timing) and but other timings (`equality` prints three: numbers with a
/// fraction; the results the benchmarks print are integers, booleans and
/// words); `None` for `zoo_batch` (its counts depend on speed).
fn check_of(program: &str, stdout: &str) -> Option<String> {
    if program.ends_with("_batch") {
        return None;
    }
    let lines: Vec<&str> = stdout.lines().collect();
    let is_timing = |l: &str| l.contains('.') && l.trim().parse::<f64>().is_ok();
    Some(
        lines[..lines.len().saturating_sub(1)]
            .iter()
            .filter(|l| !is_timing(l))
            .copied()
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// One run of `program` on `imp`: `cmd` is the VM's command line without
/// the script.
pub fn run(
    mut cmd: Command,
    imp: &str,
    lox_dir: &Path,
    program: &str,
    run: usize,
    timeout: Duration,
) -> RunRecord {
    let w = format!("{GROUP}/{program}");
    let script = lox_dir
        .join("test/benchmark")
        .join(format!("{program}.lox"));
    cmd.arg(&script).current_dir(lox_dir);
    let gomem = imp == LOX_IMPLS[0].name;
    if gomem {
        cmd.env("GOMEM_DEBUG", with_debug_item("GOMEM_DEBUG", "gctrace=1"));
    }
    let o = match child::run(&mut cmd, timeout) {
        Ok(o) => o,
        Err(e) => return RunRecord::empty(&w, imp, run, Status::Failed, format!("spawn: {e}")),
    };
    if let Some(why) = failure(&o, timeout) {
        let status = if o.exit == child::Exit::Code(EXIT_COMPILE_ERROR) {
            Status::Na
        } else {
            Status::Failed
        };
        let msg = if status == Status::Na {
            let errors: Vec<&str> = o.stderr.lines().filter(|l| !l.starts_with("gc ")).collect();
            format!("compile error: {}", errors.first().copied().unwrap_or(""))
        } else {
            why
        };
        return RunRecord::empty(&w, imp, run, status, msg);
    }
    let mut rec = base_record(&w, imp, run, &o);
    rec.check = check_of(program, &o.stdout);
    if check_of(program, &o.stdout).is_none() {
        let lines: Vec<&str> = o.stdout.lines().collect();
        if let Some(b) = lines
            .len()
            .checked_sub(2)
            .and_then(|i| lines[i].trim().parse::<f64>().ok())
        {
            rec.extra.insert("batches".to_string(), b);
        }
    }
    if let Some(t) = o.stdout.lines().last().and_then(|l| l.trim().parse().ok()) {
        rec.reported_wall_s = Some(t);
    }
    if gomem {
        rec.gctrace = parse_gctrace(&o.stderr);
        rec.gc_count = Some(rec.gctrace.len() as f64);
        let mut pauses: Vec<f64> = rec.gctrace.iter().flat_map(|l| l.stw_pauses_ns()).collect();
        pauses.sort_by(f64::total_cmp);
        rec.pause_p50_ns = percentile(&pauses, 50.0);
        rec.pause_p99_ns = percentile(&pauses, 99.0);
        rec.pause_max_ns = pauses.last().copied();
    }
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_drop_the_timing_line() {
        assert_eq!(check_of("fib", "true\n1.25\n").as_deref(), Some("true"));
        assert_eq!(check_of("fib", "").as_deref(), Some(""));
        assert_eq!(
            check_of("equality", "loop\n1.5\nelapsed\n2\nequals\n0.5\n").as_deref(),
            Some("loop\nelapsed\n2\nequals")
        );
        assert_eq!(check_of("zoo_batch", "1\n2\n3\n"), None);
        assert_eq!(workloads(&["fib"]), ["lox/fib"]);
    }
}
