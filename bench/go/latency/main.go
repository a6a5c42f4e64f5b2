// Push latency with a window of live messages, the Go side of the gomem
// comparison. Mirrors crates/gomem-bench/src/latency.rs: a window of
// -window slots of *[1024]byte; push i allocates a message whose bytes all
// equal byte(i % 251) and stores it in slot i % window; every push is
// timed. The checksum sums, over the final window, each message's first
// and last byte.
//
// Stdout: the check text, byte for byte the `check` of
// `gomem-bench run-one --workload latency`, then figures on lines that
// start with "# ", among them
// "# latency_ns p50=… p99=… p999=… max=…" (nearest rank, as the Rust side).
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"gomem.bench/gcstats"
)

const msgBytes = 1024

func main() {
	w := flag.Int("window", 200000, "live messages (slots of the window)")
	pushes := flag.Int("pushes", 1000000, "messages pushed in all")
	flag.Parse()
	if *w < 1 || *pushes < 0 {
		fmt.Fprintln(os.Stderr, "latency: -window must be at least 1")
		os.Exit(2)
	}
	start := time.Now()
	window := make([]*[msgBytes]byte, *w)
	samples := make([]uint64, *pushes)
	for i := 0; i < *pushes; i++ {
		t := time.Now()
		m := new([msgBytes]byte)
		b := byte(i % 251)
		for k := range m {
			m[k] = b
		}
		window[i%*w] = m
		samples[i] = uint64(time.Since(t))
	}
	sum := uint64(0)
	for _, m := range window {
		if m != nil {
			sum += uint64(m[0]) + uint64(m[msgBytes-1])
		}
	}
	wall := time.Since(start)
	fmt.Printf("window %d pushes %d checksum %d\n", *w, *pushes, sum)
	sort.Slice(samples, func(a, b int) bool { return samples[a] < samples[b] })
	fmt.Printf("# wall_s=%.6f\n", wall.Seconds())
	fmt.Printf("# latency_ns p50=%d p99=%d p999=%d max=%d\n",
		gcstats.Rank(samples, 1, 2), gcstats.Rank(samples, 99, 100), gcstats.Rank(samples, 999, 1000), gcstats.Rank(samples, 1, 1))
	fmt.Println(gcstats.Line())
}
