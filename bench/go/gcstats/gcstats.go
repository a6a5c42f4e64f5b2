// Package gcstats holds what the Go side of the gomem comparison reports
// the same way in every workload: the collections and their pauses, and
// the nearest-rank quantile the Rust side uses too.
package gcstats

import (
	"fmt"
	"runtime"
	"sort"
)

// Line reports the collections and their stop-the-world pauses (over the
// last 256 collections at most, MemStats' ring) as
// "# gc_count=… pause_p50_ns=… pause_p99_ns=… pause_max_ns=…".
func Line() string {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	n := ms.NumGC
	k := n
	if k > 256 {
		k = 256
	}
	p := make([]uint64, 0, k)
	for i := uint32(0); i < k; i++ {
		p = append(p, ms.PauseNs[(n-1-i)%256])
	}
	sort.Slice(p, func(a, b int) bool { return p[a] < p[b] })
	return fmt.Sprintf("# gc_count=%d pause_p50_ns=%d pause_p99_ns=%d pause_max_ns=%d",
		n, Rank(p, 1, 2), Rank(p, 99, 100), Rank(p, 1, 1))
}

// Rank is the nearest-rank quantile num/den of ascending s (0 if empty).
func Rank(s []uint64, num, den uint64) uint64 {
	n := uint64(len(s))
	if n == 0 {
		return 0
	}
	r := (n*num + den - 1) / den
	if r < 1 {
		r = 1
	}
	if r > n {
		r = n
	}
	return s[r-1]
}
