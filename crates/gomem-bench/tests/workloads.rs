//! The workloads agree: every implementation prints the same check text.
//!
//! For each workload, `gomem-bench run-one --size tiny` runs on gomem and on
//! every Rust peer that supports it (each a separate process, as `compare`
//! runs them); the test parses each JSON line, checks its shape, and
//! asserts that all `check` texts are equal to each other and to the value
//! derived here independently from the workload's definition and the size
//! flags the JSON reports. If `go` is on PATH, the Go program of the
//! workload (`bench/go/<workload>`) is built and run with the same flags
//! and its check text (stdout lines not starting with `# `) must be the
//! same too; without Go that part is skipped with a note.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const IMPLS: [&str; 6] = [
    "gomem",
    "boxrc",
    "gc-arena",
    "gc",
    "dumpster",
    "bacon-rajan-cc",
];

fn run_one(imp: &str, workload: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_gomem-bench"))
        .args(["run-one", "--impl", imp, "--workload", workload])
        .args(["--size", "tiny"])
        .output()
        .expect("spawn gomem-bench");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    assert!(
        out.status.success(),
        "{imp} {workload} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{imp} {workload}: one JSON line, got {stdout:?}"
    );
    let v: Value = serde_json::from_str(lines[0]).expect("JSON");
    assert_eq!(v["impl"], imp);
    assert_eq!(v["workload"], workload);
    assert_eq!(v["size"], "tiny");
    assert!(v["wall_s"].as_f64().is_some_and(|w| w >= 0.0), "{v}");
    for key in ["gc_count", "pause_p50_ns", "pause_p99_ns", "pause_max_ns"] {
        assert!(v.get(key).is_some(), "{imp} {workload}: no {key}");
    }
    if imp == "gomem" {
        assert!(v["gc_count"].is_u64() && v["pause_max_ns"].is_u64(), "{v}");
    }
    assert_eq!(v["latency_ns"].is_object(), workload == "latency", "{v}");
    assert_eq!(v["mark_ms_per_gc"].is_f64(), workload == "mark", "{v}");
    v
}

/// The size flags the JSON reports, as a name → value map.
fn flag(v: &Value, name: &str) -> u64 {
    let flags: Vec<&str> = v["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .map(|f| f.as_str().expect("flag"))
        .collect();
    let i = flags
        .iter()
        .position(|f| *f == format!("--{name}"))
        .unwrap_or_else(|| panic!("no --{name} in {flags:?}"));
    flags[i + 1].parse().expect("numeric flag")
}

fn expected(workload: &str, v: &Value) -> String {
    let tree = |d: u64| (1u64 << (d + 1)) - 1;
    match workload {
        "binary-trees" => {
            let max = flag(v, "depth").max(6);
            let mut lines = vec![format!(
                "stretch tree of depth {}\t check: {}",
                max + 1,
                tree(max + 1)
            )];
            for d in (4..=max).step_by(2) {
                let it = 1u64 << (max - d + 4);
                lines.push(format!(
                    "{it}\t trees of depth {d}\t check: {}",
                    it * tree(d)
                ));
            }
            lines.push(format!(
                "long lived tree of depth {max}\t check: {}",
                tree(max)
            ));
            lines.join("\n")
        }
        "gcbench" => {
            let (s, l, a, max) = (
                flag(v, "stretch"),
                flag(v, "long-lived"),
                flag(v, "array"),
                flag(v, "max-depth"),
            );
            let mut lines = vec![format!("stretch tree of depth {s}\t check: {}", tree(s))];
            for d in (4..=max).step_by(2) {
                let it = 2 * tree(max) / tree(d);
                let n = it * tree(d);
                lines.push(format!(
                    "{it}\t trees of depth {d}\t top-down check: {n}\t bottom-up check: {n}"
                ));
            }
            lines.push(format!("long lived tree of depth {l}\t check: {}", tree(l)));
            lines.push(format!("array of {a}\t a[1000]: 0.001000"));
            lines.join("\n")
        }
        "latency" => {
            let (w, n) = (flag(v, "window"), flag(v, "pushes"));
            let sum: u64 = (n.saturating_sub(w)..n).map(|i| 2 * (i % 251)).sum();
            format!("window {w} pushes {n} checksum {sum}")
        }
        "mark" => {
            let (d, c) = (flag(v, "depth"), flag(v, "copies"));
            let nodes = c * ((1u64 << (2 * (d + 1))) - 1) / 3;
            format!("{c} trees of depth {d}\t nodes: {nodes}")
        }
        _ => unreachable!(),
    }
}

fn go_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/go")
}

/// Builds and runs the Go program of `workload` with `flags`; its check
/// text, or `None` (with a note) when Go is not installed.
fn go_check(workload: &str, flags: &[String]) -> Option<String> {
    let have_go = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_go {
        eprintln!("note: `go` is not on PATH; skipping the Go check of {workload}");
        return None;
    }
    let pkg = workload.replace('-', "");
    let bin = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("go-{pkg}"));
    let build = Command::new("go")
        .current_dir(go_dir())
        .args(["build", "-o"])
        .arg(&bin)
        .arg(format!("./{pkg}"))
        .output()
        .expect("spawn go build");
    assert!(
        build.status.success(),
        "go build {pkg}: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let out = Command::new(&bin)
        .args(flags)
        .output()
        .expect("run Go program");
    assert!(
        out.status.success(),
        "Go {pkg}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    Some(
        stdout
            .lines()
            .filter(|l| !l.starts_with("# "))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

fn agree(workload: &str) {
    let mut runs = Vec::new();
    for imp in IMPLS {
        if imp == "boxrc" && workload == "mark" {
            // No collector: run-one refuses, loudly.
            let out = Command::new(env!("CARGO_BIN_EXE_gomem-bench"))
                .args(["run-one", "--impl", imp, "--workload", workload])
                .args(["--size", "tiny"])
                .output()
                .expect("spawn gomem-bench");
            assert!(!out.status.success() && out.stdout.is_empty());
            continue;
        }
        runs.push(run_one(imp, workload));
    }
    let want = expected(workload, &runs[0]);
    for v in &runs {
        assert_eq!(v["flags"], runs[0]["flags"]);
        assert_eq!(
            v["check"].as_str().expect("check"),
            want,
            "{} {workload}: wrong check",
            v["impl"]
        );
    }
    let flags: Vec<String> = runs[0]["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .map(|f| f.as_str().expect("flag").to_string())
        .collect();
    if let Some(go) = go_check(workload, &flags) {
        assert_eq!(go, want, "Go {workload}: wrong check");
    }
}

#[test]
fn binary_trees_agree() {
    agree("binary-trees");
}

#[test]
fn gcbench_agrees() {
    agree("gcbench");
}

#[test]
fn latency_agrees() {
    agree("latency");
}

#[test]
fn mark_agrees() {
    agree("mark");
}

/// `gomem-bench binary-trees` prints the check lines, then its figures, and
/// exits 0 when the lines are right (that a wrong line makes it exit
/// non-zero is the unit test `on_gomem::tests::a_wrong_check_line_fails`).
#[test]
fn binary_trees_subcommand_prints_its_check() {
    let out = Command::new(env!("CARGO_BIN_EXE_gomem-bench"))
        .args(["binary-trees", "--depth", "6"])
        .output()
        .expect("spawn gomem-bench");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = expected(
        "binary-trees",
        &serde_json::json!({"flags": ["--depth", "6"]}),
    );
    assert!(
        stdout.starts_with(&format!("{want}\n\nwall time")),
        "{stdout}"
    );
}
