//! The book's test suite (the 246 tests of the final clox) run against the
//! built `lox` binary by the book's rules, through `run_tests.py` from the
//! project's shared folder (`../shared/lox` beside the repository root):
//! once as is, once with a collection at every safepoint plus gomem's
//! checkmark and clobber-on-free, and once with `GOGC=1`.
//!
//! When the shared folder is not there, each test says so and passes.
use std::path::PathBuf;
use std::process::Command;

/// Parallel jobs for the runner (the machine has two cores).
const JOBS: &str = "2";

/// The shared `lox` folder, if present.
fn lox_dir() -> Option<PathBuf> {
    let repo_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = repo_root.join("../shared/lox");
    if dir.join("test").is_dir() && dir.join("run_tests.py").is_file() {
        Some(dir)
    } else {
        None
    }
}

/// Runs the whole suite with `env` set; panics with the runner's report if
/// any test fails.
fn run_suite(label: &str, env: &[(&str, &str)]) {
    let Some(dir) = lox_dir() else {
        // Straight to stderr, past the test harness's capture: a skip must
        // be seen, not only a pass.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: ../shared/lox/test not found beside the repository, the Lox suite ({label}) was not run"
        );
        return;
    };
    let lox = env!("CARGO_BIN_EXE_lox");
    let mut cmd = Command::new("python3");
    cmd.arg(dir.join("run_tests.py"))
        .arg(lox)
        .args(["-j", JOBS])
        .current_dir(&dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("python3 runs");
    let report = String::from_utf8_lossy(&out.stdout);
    let summary = report.lines().last().unwrap_or("").to_string();
    println!("lox suite ({label}): {summary}");
    assert!(
        out.status.success(),
        "lox suite ({label}) failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        summary.starts_with("All 246 tests passed"),
        "unexpected summary: {summary}"
    );
}

#[test]
fn suite_default() {
    run_suite("default", &[]);
}

#[test]
fn suite_stress_gc_with_checkmark_and_clobberfree() {
    run_suite(
        "LOX_STRESS_GC=1 GOMEM_DEBUG=gccheckmark=1,clobberfree=1",
        &[
            ("LOX_STRESS_GC", "1"),
            ("GOMEM_DEBUG", "gccheckmark=1,clobberfree=1"),
        ],
    );
}

#[test]
fn suite_gogc_1() {
    run_suite("GOGC=1", &[("GOGC", "1")]);
}
