//! A garbage-heavy Lox program (millions of short-lived instances, closures,
//! upvalues, bound methods and strings over a small live set) must run in
//! bounded memory: the child's peak RSS stays under 64 MiB. This holds only
//! if gomem's collector reclaims Lox garbage while the VM runs (the VM
//! reaches safepoints often enough) and nothing is kept alive by accident
//! (the intern table holds strings weakly).
//!
//! The peak is read with `getrusage(RUSAGE_CHILDREN)` in this test binary,
//! whose only child is the `lox` run below.
use std::process::Command;

/// The bound on the child's peak resident set.
const MAX_PEAK_RSS_BYTES: u64 = 64 << 20;

const PROGRAM: &str = r#"
class Node {
  init(value, next) { this.value = value; this.next = next; }
  get() { return this.value; }
}

fun counter(start) {
  var n = start;
  fun inc() { n = n + 1; return n; }
  return inc;
}

// The live set: a ring of 64 nodes, replaced one at a time.
var ring = nil;
for (var i = 0; i < 64; i = i + 1) ring = Node(i, ring);

var sum = 0;
var text = "";
var length = 0;
for (var i = 0; i < 1000000; i = i + 1) {
  var node = Node(i, nil);         // a short-lived instance
  var f = counter(i);              // a closure with a closed upvalue
  var get = node.get;              // a bound method
  sum = sum + f() - get();         // adds 1 each time
  text = text + "ab";              // a new string each time ...
  length = length + 2;
  if (length > 200) { text = ""; length = 0; }   // ... garbage soon
  ring = Node(i, ring.next);       // the live set stays at 64 nodes
}
print sum;
print length;
"#;

#[test]
fn garbage_heavy_program_stays_under_64_mib() {
    let dir = std::env::temp_dir().join(format!("gomem-lox-rss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = dir.join("garbage.lox");
    std::fs::write(&script, PROGRAM).expect("write script");

    let out = Command::new(env!("CARGO_BIN_EXE_lox"))
        .arg(&script)
        .env_remove("GOGC")
        .env_remove("GOMEMLIMIT")
        .env_remove("LOX_STRESS_GC")
        .output()
        .expect("lox runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "lox failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1e+06\n200\n");

    // SAFETY: getrusage only writes the struct it is given.
    let peak = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru), 0);
        ru.ru_maxrss as u64 * 1024
    };
    println!("garbage-heavy lox program: peak RSS {} KiB", peak / 1024);
    assert!(
        peak < MAX_PEAK_RSS_BYTES,
        "peak RSS {} MiB is over the 64 MiB bound",
        peak >> 20
    );
}
