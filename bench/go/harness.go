// SPDX-License-Identifier: MIT

// The Go twin of bench/harness.c: the same calibration (batches of ~10 ms,
// median of 9), the same quantiles and the same "RESULT<TAB>row<TAB>value"
// lines, so bench/run compares like with like. Standard library only.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	batchNs = 10_000_000
	batches = 9
)

var base = time.Now()

// nowNs is monotonic nanoseconds since the program started.
func nowNs() int64 { return int64(time.Since(base)) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// quantile sorts v and returns the nearest-rank q-quantile.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	i := int(q*float64(len(v)) + 0.999999)
	if i > 0 {
		i--
	}
	if i >= len(v) {
		i = len(v) - 1
	}
	return v[i]
}

func result(row string, value float64) {
	fmt.Printf("RESULT\t%s\t%s\n", row, strconv.FormatFloat(value, 'g', 6, 64))
}

func saveSamples(name string, v []float64) {
	dir := os.Getenv("BENCH_SAMPLES")
	if dir == "" {
		return
	}
	var b strings.Builder
	for _, x := range v {
		fmt.Fprintf(&b, "%.3f\n", x)
	}
	os.WriteFile(filepath.Join(dir, "go."+name+".txt"), []byte(b.String()), 0o644)
}

func calibrate(timed func(n int) int64) int {
	n := 1
	var t int64
	for {
		t = timed(n)
		if t >= batchNs/5 || n >= 1<<40 {
			break
		}
		if t < batchNs/100 {
			n *= 10
		} else {
			n *= 2
		}
	}
	if t == 0 {
		t = 1
	}
	n = int(float64(n) * batchNs / float64(t))
	if n < 1 {
		n = 1
	}
	return n
}

// nsPerOp runs fn(n) in batches of ~10 ms and returns the median ns/op.
func nsPerOp(fn func(n int)) float64 {
	timed := func(n int) int64 {
		t0 := nowNs()
		fn(n)
		return nowNs() - t0
	}
	fn(16)
	n := calibrate(timed)
	v := make([]float64, batches)
	for i := range v {
		v[i] = float64(timed(n)) / float64(n)
	}
	return median(v)
}

// parallelNsPerOp runs fn(n) in threads goroutines at once; the wall time
// runs from the first start to the last finish. perThread divides by n,
// otherwise by n*threads (b.RunParallel's convention).
func parallelNsPerOp(threads int, fn func(n int), perThread bool) float64 {
	timed := func(n int) int64 {
		var ready, done sync.WaitGroup
		start := make(chan struct{})
		t0 := make([]int64, threads)
		t1 := make([]int64, threads)
		ready.Add(threads)
		done.Add(threads)
		for i := 0; i < threads; i++ {
			go func(i int) {
				defer done.Done()
				ready.Done()
				<-start
				t0[i] = nowNs()
				fn(n)
				t1[i] = nowNs()
			}(i)
		}
		ready.Wait()
		close(start)
		done.Wait()
		first, last := t0[0], t1[0]
		for i := 1; i < threads; i++ {
			if t0[i] < first {
				first = t0[i]
			}
			if t1[i] > last {
				last = t1[i]
			}
		}
		return last - first
	}
	timed(16)
	n := calibrate(timed)
	v := make([]float64, batches)
	for i := range v {
		v[i] = float64(timed(n)) / float64(n)
		if !perThread {
			v[i] /= float64(threads)
		}
	}
	return median(v)
}

func rssBytes() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize())
}

func openFds() int {
	d, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(d) - 1 // the directory's own descriptor
}
