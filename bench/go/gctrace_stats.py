#!/usr/bin/env python3
"""Summarise a Go GODEBUG=gctrace=1 log (optionally interleaved with
`/usr/bin/time -v` output).

Usage: gctrace_stats.py [FILE]      (reads stdin when FILE is absent or "-")

For every line `gc N @Ts P%: A+B+C ms clock, ...`, A is the sweep-termination
STW pause and C the mark-termination STW pause (B is concurrent mark). Reports
the count of GC cycles and p50/p99/max of A, C and both pooled, in µs.
If `/usr/bin/time -v` lines are present, also reports wall time, user+sys CPU
and max RSS.
"""
import math
import re
import sys

GC_RE = re.compile(
    r"^gc (\d+) @([\d.]+)s [\d.]+%: ([\d.]+)\+([\d.]+)\+([\d.]+) ms clock"
)


def pct(sorted_vals, p):
    """Nearest-rank percentile (p in 0..100) of an ascending list."""
    if not sorted_vals:
        return float("nan")
    k = max(1, math.ceil(p / 100.0 * len(sorted_vals)))
    return sorted_vals[k - 1]


def parse_wall(s):
    # h:mm:ss or m:ss.ss
    secs = 0.0
    for part in s.split(":"):
        secs = secs * 60 + float(part)
    return secs


def main():
    src = sys.stdin if len(sys.argv) < 2 or sys.argv[1] == "-" else open(sys.argv[1])
    sweep_term, mark_term = [], []
    forced = 0
    tv = {}
    for line in src:
        line = line.strip()
        m = GC_RE.match(line)
        if m:
            sweep_term.append(float(m.group(3)) * 1000.0)
            mark_term.append(float(m.group(5)) * 1000.0)
            if "(forced)" in line:
                forced += 1
            continue
        if ":" in line:
            key, _, val = line.rpartition(": ")
            tv[key.strip()] = val.strip()

    if "User time (seconds)" in tv:
        user = float(tv["User time (seconds)"])
        sys_ = float(tv["System time (seconds)"])
        wall = parse_wall(tv["Elapsed (wall clock) time (h:mm:ss or m:ss)"])
        rss_mib = int(tv["Maximum resident set size (kbytes)"]) / 1024.0
        print(f"wall          {wall:.2f} s")
        print(f"cpu user+sys  {user + sys_:.2f} s  (user {user:.2f}, sys {sys_:.2f})")
        print(f"max RSS       {rss_mib:.1f} MiB")

    n = len(sweep_term)
    print(f"GC cycles     {n}" + (f"  ({forced} forced)" if forced else ""))
    if n == 0:
        return
    print(f"{'STW pause (µs)':<22}{'n':>6}{'p50':>9}{'p99':>9}{'max':>9}")
    pooled = sweep_term + mark_term
    for name, vals in (
        ("sweep-term (A)", sweep_term),
        ("mark-term (C)", mark_term),
        ("pooled (A,C)", pooled),
    ):
        v = sorted(vals)
        print(f"{name:<22}{len(v):>6}{pct(v, 50):>9.0f}{pct(v, 99):>9.0f}{v[-1]:>9.0f}")


if __name__ == "__main__":
    main()
