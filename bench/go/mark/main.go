// Marking throughput, the Go side of the gomem comparison. Mirrors
// crates/gomem-bench/src/mark.rs: -copies complete 4-ary trees of depth
// -depth (a node: four pointers and a uint64, 40 bytes in the 48-byte size
// class) are built and kept, one untimed runtime.GC() settles, then -gcs
// runtime.GC() calls are timed one by one. MB/s counts the marked heap as
// nodes × 48 bytes, as the Rust side does.
//
// Stdout: the check text, byte for byte the `check` of
// `gomem-bench run-one --workload mark`, then figures on lines that start
// with "# ", among them "# mark_ms_per_gc=…".
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

type Node4 struct {
	kids [4]*Node4
	v    uint64
}

const nodeBytes = 48

func build(d int) *Node4 {
	n := &Node4{v: uint64(d)}
	if d > 0 {
		for k := range n.kids {
			n.kids[k] = build(d - 1)
		}
	}
	return n
}

func count(n *Node4) int {
	c := 1
	for _, k := range n.kids {
		if k != nil {
			c += count(k)
		}
	}
	return c
}

func main() {
	depth := flag.Int("depth", 10, "depth of each 4-ary tree (a lone node has depth 0)")
	copies := flag.Int("copies", 2, "trees kept live")
	gcs := flag.Int("gcs", 10, "timed forced collections")
	flag.Parse()
	if *depth > 14 || *gcs < 1 {
		fmt.Fprintln(os.Stderr, "mark: -depth must be at most 14 and -gcs at least 1")
		os.Exit(2)
	}
	start := time.Now()
	trees := make([]*Node4, *copies)
	for i := range trees {
		trees[i] = build(*depth)
	}
	runtime.GC()
	ms := make([]float64, *gcs)
	total := 0.0
	for i := range ms {
		t := time.Now()
		runtime.GC()
		ms[i] = float64(time.Since(t).Nanoseconds()) / 1e6
		total += ms[i]
	}
	nodes := 0
	for _, t := range trees {
		nodes += count(t)
	}
	wall := time.Since(start)
	fmt.Printf("%d trees of depth %d\t nodes: %d\n", *copies, *depth, nodes)
	mean := total / float64(len(ms))
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = fmt.Sprintf("%.3f", m)
	}
	fmt.Printf("# wall_s=%.6f\n", wall.Seconds())
	fmt.Printf("# mark_ms_per_gc=%.3f mark_mb_per_s=%.1f\n", mean,
		float64(nodes*nodeBytes)/1e6/(mean/1e3))
	fmt.Printf("# mark_gc_ms=%s\n", strings.Join(parts, ","))
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	fmt.Printf("# gc_count=%d\n", st.NumGC)
}
