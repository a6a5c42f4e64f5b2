// Binary-trees allocation benchmark (Benchmarks Game algorithm), Go side of
// the gomem side-by-side comparison. Single goroutine by default; -threads N
// splits each depth's iteration loop across N goroutines.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
)

type Node struct {
	left, right *Node
}

const minDepth = 4

// build allocates a perfect binary tree of the given depth.
func build(depth int) *Node {
	n := &Node{}
	if depth > 0 {
		n.left = build(depth - 1)
		n.right = build(depth - 1)
	}
	return n
}

// count returns the number of nodes in the tree.
func (n *Node) count() int {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.count() + n.right.count()
}

// churn builds and walks `iters` trees of `depth`, returning the summed check.
func churn(depth, iters int) int {
	total := 0
	for i := 0; i < iters; i++ {
		total += build(depth).count()
	}
	return total
}

// parallelChurn splits `iters` as evenly as possible over `threads` goroutines.
func parallelChurn(depth, iters, threads int) int {
	if threads <= 1 || iters < 2 {
		return churn(depth, iters)
	}
	if threads > iters {
		threads = iters
	}
	sums := make([]int, threads)
	var wg sync.WaitGroup
	base, extra := iters/threads, iters%threads
	for t := 0; t < threads; t++ {
		share := base
		if t < extra {
			share++
		}
		wg.Add(1)
		go func(slot, share int) {
			defer wg.Done()
			sums[slot] = churn(depth, share)
		}(t, share)
	}
	wg.Wait()
	total := 0
	for _, s := range sums {
		total += s
	}
	return total
}

func main() {
	maxDepth := flag.Int("depth", 21, "maximum tree depth")
	threads := flag.Int("threads", 1, "goroutines for the per-depth iteration loop")
	flag.Parse()

	if *maxDepth < minDepth+2 {
		*maxDepth = minDepth + 2
	}
	if *threads < 1 {
		fmt.Fprintln(os.Stderr, "-threads must be >= 1")
		os.Exit(2)
	}

	stretch := *maxDepth + 1
	fmt.Printf("stretch tree of depth %d\t check: %d\n", stretch, build(stretch).count())

	longLived := build(*maxDepth)

	for d := minDepth; d <= *maxDepth; d += 2 {
		iters := 1 << uint(*maxDepth-d+minDepth)
		check := parallelChurn(d, iters, *threads)
		fmt.Printf("%d\t trees of depth %d\t check: %d\n", iters, d, check)
	}

	fmt.Printf("long lived tree of depth %d\t check: %d\n", *maxDepth, longLived.count())
}
