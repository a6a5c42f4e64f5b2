#!/usr/bin/env bash
# Build and run the Go binary-trees benchmark with gctrace, then summarise.
# Usage: bench/go/run.sh [binarytrees flags, e.g. -depth 21 -threads 2]
# Env:   GOMAXPROCS (default 2), LOG (trace/time log path, default /tmp/bt-go.<pid>.log)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

go build -o /tmp/bt-go ./binarytrees

log="${LOG:-/tmp/bt-go.$$.log}"
out="${log%.log}.out"
export GOMAXPROCS="${GOMAXPROCS:-2}"

echo "== go: $(go version | awk '{print $3}')  GOMAXPROCS=$GOMAXPROCS  args: $*"
echo "== load: $(uptime | sed 's/.*load average: //')"
GODEBUG=gctrace=1 /usr/bin/time -v /tmp/bt-go "$@" >"$out" 2>"$log"
cat "$out"
echo "== stderr (gctrace + time -v): $log"
python3 "$here/gctrace_stats.py" "$log"
