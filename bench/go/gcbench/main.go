// GCBench (Ellis, Kovac, Boehm), the Go side of the gomem comparison.
//
// Mirrors crates/gomem-bench/src/gcbench.rs step for step: a stretch tree
// (bottom-up), a long-lived tree (top-down) and a long-lived float64 array,
// then for each depth 4, 6, ... -max-depth, numIters(d) trees built
// top-down and as many bottom-up, each counted and dropped; finally the
// long-lived tree is counted and a[1000] read. A node has two child
// pointers, a parent pointer and two int32 (32 bytes).
//
// Stdout: the check text, byte for byte the `check` of
// `gomem-bench run-one --workload gcbench`, then figures on lines that
// start with "# ".
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"gomem.bench/gcstats"
)

type Node struct {
	left, right, parent *Node
	i, j                int32
}

const minDepth = 4
const arrayProbe = 1000

func treeSize(d int) int { return (1 << uint(d+1)) - 1 }

// populate gives n two children, then recurses (top-down).
func populate(d int, n *Node) {
	if d > 0 {
		n.left = &Node{parent: n}
		n.right = &Node{parent: n}
		populate(d-1, n.left)
		populate(d-1, n.right)
	}
}

// makeTree builds the children first, then their parent (bottom-up).
func makeTree(d int) *Node {
	if d == 0 {
		return &Node{}
	}
	l := makeTree(d - 1)
	r := makeTree(d - 1)
	n := &Node{left: l, right: r}
	l.parent = n
	r.parent = n
	return n
}

func count(n *Node) int {
	c := 1
	if n.left != nil {
		c += count(n.left)
	}
	if n.right != nil {
		c += count(n.right)
	}
	return c
}

func main() {
	stretch := flag.Int("stretch", 18, "depth of the stretch tree")
	longLived := flag.Int("long-lived", 16, "depth of the long-lived tree")
	arrayLen := flag.Int("array", 500000, "elements of the long-lived float64 array")
	maxDepth := flag.Int("max-depth", 16, "largest depth of the short-lived trees")
	flag.Parse()
	if *arrayLen < 2*arrayProbe+2 {
		fmt.Fprintf(os.Stderr, "gcbench: -array must be at least %d\n", 2*arrayProbe+2)
		os.Exit(2)
	}
	if *maxDepth < minDepth || *stretch > 40 || *longLived > 40 {
		fmt.Fprintf(os.Stderr, "gcbench: depths must lie in %d..=40\n", minDepth)
		os.Exit(2)
	}
	start := time.Now()

	fmt.Printf("stretch tree of depth %d\t check: %d\n", *stretch, count(makeTree(*stretch)))

	long := &Node{}
	populate(*longLived, long)
	array := make([]float64, *arrayLen)
	for i := 0; i < *arrayLen/2; i++ {
		array[i] = 1.0 / float64(i)
	}

	for d := minDepth; d <= *maxDepth; d += 2 {
		iters := 2 * treeSize(*maxDepth) / treeSize(d)
		topDown, bottomUp := 0, 0
		for i := 0; i < iters; i++ {
			t := &Node{}
			populate(d, t)
			topDown += count(t)
		}
		for i := 0; i < iters; i++ {
			bottomUp += count(makeTree(d))
		}
		fmt.Printf("%d\t trees of depth %d\t top-down check: %d\t bottom-up check: %d\n",
			iters, d, topDown, bottomUp)
	}

	fmt.Printf("long lived tree of depth %d\t check: %d\n", *longLived, count(long))
	fmt.Printf("array of %d\t a[%d]: %.6f\n", *arrayLen, arrayProbe, array[arrayProbe])
	wall := time.Since(start)
	fmt.Printf("# wall_s=%.6f\n", wall.Seconds())
	fmt.Println(gcstats.Line())
}
