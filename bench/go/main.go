// SPDX-License-Identifier: MIT

// Go side of the three-way benchmark: the rows of bench/rows.md written
// with the standard context package (Go 1.19: no AfterFunc, no *Cause), and
// the benchmarks of src/context/benchmark_test.go run by the same harness.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

var bg = context.Background()

// sink keeps results alive so the compiler cannot drop the work.
var sink interface{}

func caseCreateCancel() {
	op := func(parent context.Context, fd bool) func(n int) {
		return func(n int) {
			for i := 0; i < n; i++ {
				c, cancel := context.WithCancel(parent)
				if fd {
					// Go's done channel is made lazily, like a ctx_fd.
					c.Done()
				}
				cancel()
			}
		}
	}
	live, liveCancel := context.WithCancel(bg)
	result("create_cancel.root", nsPerOp(op(bg, false)))
	result("create_cancel.live", nsPerOp(op(live, false)))
	result("create_cancel.fd_root", nsPerOp(op(bg, true)))
	result("create_cancel.fd_live", nsPerOp(op(live, true)))
	liveCancel()
}

// merge is how a Go 1.19 program merges two contexts (there is no
// context.Merge, and AfterFunc only came in Go 1.21): a child of the first
// and a goroutine that cancels it when the second is done.
func merge(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	go func() {
		select {
		case <-b.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func caseMerge() {
	p0, cancel0 := context.WithCancel(bg)
	p1, cancel1 := context.WithCancel(bg)
	result("merge.create_cancel", nsPerOp(func(n int) {
		for i := 0; i < n; i++ {
			_, cancel := merge(p0, p1)
			cancel()
		}
	}))
	cancel1()
	cancel0()
}

type chainKey struct{}

// deadlineChain alternates timeout and value contexts, each timeout later
// than the one above (so WithDeadline makes it a plain cancel child).
func deadlineChain(depth int) context.Context {
	c := bg
	for i := 0; i < depth; i++ {
		if i%2 == 0 {
			c, _ = context.WithTimeout(c, time.Hour+time.Duration(i)*time.Microsecond)
		} else {
			c = context.WithValue(c, chainKey{}, i)
		}
	}
	return c
}

func caseDerive() {
	for _, depth := range []int{1, 1000, 100000} {
		bottom := deadlineChain(depth)
		result(fmt.Sprintf("derive.%d", depth), nsPerOp(func(n int) {
			for i := 0; i < n; i++ {
				// Earlier than the chain's: a timer of its own.
				_, cancel := context.WithTimeout(bottom, 30*time.Minute)
				cancel()
			}
		}))
	}
}

func caseTimeoutCancel() {
	result("timeout_cancel", nsPerOp(func(n int) {
		for i := 0; i < n; i++ {
			_, cancel := context.WithTimeout(bg, time.Second)
			cancel()
		}
	}))
}

func doneCheck(c context.Context) func(n int) {
	return func(n int) {
		s := 0
		for i := 0; i < n; i++ {
			select {
			case <-c.Done():
				s++
			default:
			}
		}
		sink = s
	}
}

func caseDoneCheck() {
	c, cancel := context.WithCancel(bg)
	result("done_check.t1", nsPerOp(doneCheck(c)))
	result("done_check.t2", parallelNsPerOp(2, doneCheck(c), true))
	cancel()
}

// caseWake: a goroutine blocked on <-ctx.Done(), woken by cancel(). Go has
// one mechanism, so the epoll and poll rows measure the same thing.
func caseWake(row string) {
	const iters = 1000
	ctxs := make(chan context.Context)
	armed := make(chan struct{})
	woke := make(chan int64)
	go func() {
		for c := range ctxs {
			armed <- struct{}{}
			<-c.Done()
			woke <- nowNs()
		}
	}()
	v := make([]float64, iters)
	for i := -iters / 10; i < iters; i++ {
		c, cancel := context.WithCancel(bg)
		ctxs <- c
		<-armed
		time.Sleep(100 * time.Microsecond)
		t0 := nowNs()
		cancel()
		t1 := <-woke
		if i >= 0 {
			v[i] = float64(t1-t0) / 1000
		}
	}
	close(ctxs)
	saveSamples(row, v)
	result(row+".p50", quantile(v, 0.5))
	result(row+".p99", quantile(v, 0.99))
}

func raiseNofile() {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}

func fanout(fd bool) float64 {
	const n, trials = 10000, 7
	v := make([]float64, trials)
	kids := make([]context.Context, n)
	kidCancels := make([]context.CancelFunc, n)
	for t := range v {
		parent, cancel := context.WithCancel(bg)
		for i := range kids {
			kids[i], kidCancels[i] = context.WithCancel(parent)
			if fd {
				kids[i].Done()
			}
		}
		t0 := nowNs()
		cancel()
		v[t] = float64(nowNs()-t0) / 1000
		for _, k := range kids {
			if k.Err() != context.Canceled {
				fmt.Fprintln(os.Stderr, "child not cancelled")
				os.Exit(1)
			}
		}
		for _, c := range kidCancels {
			c()
		}
	}
	return median(v)
}

func caseFanout() {
	result("fanout.nofd", fanout(false))
	result("fanout.fd", fanout(true))
}

type benchKey int

func valueChain(depth int) context.Context {
	c := bg
	for i := 0; i < depth; i++ {
		c = context.WithValue(c, benchKey(i), i)
	}
	return c
}

func lookup(c context.Context, key interface{}) func(n int) {
	return func(n int) {
		var v interface{}
		for i := 0; i < n; i++ {
			v = c.Value(key)
		}
		sink = v
	}
}

func caseValueDeep() {
	c := valueChain(1000)
	if c.Value(benchKey(0)) != 0 {
		fmt.Fprintln(os.Stderr, "value lookup")
		os.Exit(1)
	}
	result("value_deep", nsPerOp(lookup(c, benchKey(0))))
}

// creationOrder is the LCG shuffle the C programs use.
func creationOrder(n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	s := uint32(12345)
	for i := n - 1; i > 0; i-- {
		s = s*1103515245 + 12345
		j := int((s >> 8) % uint32(i+1))
		order[i], order[j] = order[j], order[i]
	}
	return order
}

func caseLateness() {
	const n = 1000
	order := creationOrder(n)
	fired := make([]int64, n)
	cancels := make([]context.CancelFunc, n)
	var wg sync.WaitGroup
	wg.Add(n)
	start := nowNs() + 20_000_000
	for _, i := range order {
		d := base.Add(time.Duration(start + int64(i)*1_000_000))
		c, cancel := context.WithDeadline(bg, d)
		cancels[i] = cancel
		go func(i int) {
			<-c.Done()
			fired[i] = nowNs()
			wg.Done()
		}(i)
	}
	wg.Wait()
	late := make([]float64, n)
	for i := range late {
		late[i] = float64(fired[i]-(start+int64(i)*1_000_000)) / 1000
		cancels[i]()
	}
	saveSamples("lateness", late)
	result("lateness.p50", quantile(late, 0.5))
	result("lateness.p99", quantile(late, 0.99))
	result("lateness.max", quantile(late, 1))
}

func heapAlloc() float64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc)
}

func memCase(row string, timeout bool) {
	const n = 100000
	ctxs := make([]context.Context, n)
	cancels := make([]context.CancelFunc, n)
	_, c := context.WithTimeout(bg, time.Second)
	c()
	heap0, rss0, fds0 := heapAlloc(), rssBytes(), openFds()
	for i := range ctxs {
		if timeout {
			ctxs[i], cancels[i] = context.WithTimeout(bg, 60*time.Second+time.Duration(i)*time.Microsecond)
		} else {
			ctxs[i], cancels[i] = context.WithCancel(bg)
		}
	}
	heap1, rss1, fds1 := heapAlloc(), rssBytes(), openFds()
	result(row+".heap", (heap1-heap0)/n)
	result(row+".rss", (rss1-rss0)/n)
	result(row+".fds", float64(fds1-fds0)/n)
	for _, c := range cancels {
		c()
	}
	runtime.KeepAlive(ctxs)
}

func caseMillion() {
	const n = 1000000
	rl := syscall.Rlimit{Cur: 1024}
	var cur syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &cur)
	rl.Max = cur.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		fmt.Fprintln(os.Stderr, "setrlimit:", err)
		os.Exit(1)
	}
	ctxs := make([]context.Context, n)
	cancels := make([]context.CancelFunc, n)
	rss0 := rssBytes()
	t0 := nowNs()
	for i := range ctxs {
		ctxs[i], cancels[i] = context.WithTimeout(bg, 60*time.Second+time.Duration(i)*time.Microsecond)
	}
	t1 := nowNs()
	result("million.ok", n)
	result("million.fds", float64(openFds()))
	result("million.create", float64(t1-t0)/n)
	result("million.rss", (rssBytes()-rss0)/n)
	t1 = nowNs()
	for _, c := range cancels {
		c()
	}
	result("million.release", float64(nowNs()-t1)/n)
	runtime.KeepAlive(ctxs)
}

// The benchmarks of Go's src/context/benchmark_test.go, unchanged in what
// they do, timed by this harness.

func caseGoCommonParentCancel() {
	root := context.WithValue(bg, "key", "value")
	shared, sharedcancel := context.WithCancel(root)
	defer sharedcancel()
	result("go.common_parent_cancel", parallelNsPerOp(2, func(n int) {
		x := 0
		for i := 0; i < n; i++ {
			ctx, cancel := context.WithCancel(shared)
			if ctx.Value("key").(string) != "value" {
				panic("should not be reached")
			}
			for i := 0; i < 100; i++ {
				x /= x + 1
			}
			cancel()
			for i := 0; i < 100; i++ {
				x /= x + 1
			}
		}
		sink = x
	}, false))
}

func caseGoWithTimeout() {
	for _, conc := range []int{40, 4000, 400000} {
		gomaxprocs := runtime.GOMAXPROCS(0)
		per := conc / gomaxprocs
		var wg sync.WaitGroup
		ccf := make([][]context.CancelFunc, gomaxprocs)
		for i := range ccf {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				cf := make([]context.CancelFunc, per)
				for j := range cf {
					_, cf[j] = context.WithTimeout(bg, time.Hour)
				}
				ccf[i] = cf
			}(i)
		}
		wg.Wait()
		result(fmt.Sprintf("go.with_timeout.%d", conc), parallelNsPerOp(2, func(n int) {
			wcf := make([]context.CancelFunc, 10)
			for i := 0; i < n; i++ {
				for k := range wcf {
					_, wcf[k] = context.WithTimeout(bg, time.Hour)
				}
				for _, f := range wcf {
					f()
				}
			}
		}, false))
		for _, cf := range ccf {
			for _, f := range cf {
				f()
			}
		}
	}
}

func buildContextTree(root context.Context, depth int) {
	for d := 0; d < depth; d++ {
		root, _ = context.WithCancel(root)
	}
}

func caseGoCancelTree() {
	for _, d := range []int{1, 10, 100, 1000} {
		result(fmt.Sprintf("go.cancel_tree.%d.bg", d), nsPerOp(func(n int) {
			for i := 0; i < n; i++ {
				buildContextTree(bg, d)
			}
		}))
		result(fmt.Sprintf("go.cancel_tree.%d.open", d), nsPerOp(func(n int) {
			for i := 0; i < n; i++ {
				ctx, cancel := context.WithCancel(bg)
				buildContextTree(ctx, d)
				cancel()
			}
		}))
		result(fmt.Sprintf("go.cancel_tree.%d.closed", d), nsPerOp(func(n int) {
			for i := 0; i < n; i++ {
				ctx, cancel := context.WithCancel(bg)
				cancel()
				buildContextTree(ctx, d)
			}
		}))
	}
}

func caseGoCheckCanceled() {
	ctx, cancel := context.WithCancel(bg)
	cancel()
	result("go.check_canceled.err", nsPerOp(func(n int) {
		var e error
		for i := 0; i < n; i++ {
			e = ctx.Err()
		}
		sink = e
	}))
	result("go.check_canceled.done", nsPerOp(doneCheck(ctx)))
}

func caseGoContextCancelDone() {
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	result("go.context_cancel_done", parallelNsPerOp(2, doneCheck(ctx), false))
}

func caseGoDeepValue() {
	for _, depth := range []int{10, 20, 30, 50, 100} {
		ctx := bg
		for i := 0; i < depth; i++ {
			ctx = context.WithValue(ctx, i, i)
		}
		result(fmt.Sprintf("go.deep_value.%d", depth), nsPerOp(lookup(ctx, -1)))
	}
}

type valueKey struct{}

func caseGoWithValue() {
	result("go.with_value", nsPerOp(func(n int) {
		var v interface{}
		for i := 0; i < n; i++ {
			c := context.WithValue(bg, valueKey{}, &sink)
			v = c.Value(valueKey{})
		}
		sink = v
	}))
}

var cases = []struct {
	name string
	run  func()
}{
	{"create_cancel", caseCreateCancel},
	{"merge", caseMerge},
	{"timeout_cancel", caseTimeoutCancel},
	{"derive", caseDerive},
	{"done_check", caseDoneCheck},
	{"wake_epoll", func() { caseWake("wake_epoll") }},
	{"wake_poll", func() { caseWake("wake_poll") }},
	{"fanout", caseFanout},
	{"value_deep", caseValueDeep},
	{"lateness", caseLateness},
	{"mem_cancel", func() { memCase("mem_cancel", false) }},
	{"mem_timeout", func() { memCase("mem_timeout", true) }},
	{"million", caseMillion},
	{"go_common_parent_cancel", caseGoCommonParentCancel},
	{"go_with_timeout", caseGoWithTimeout},
	{"go_cancel_tree", caseGoCancelTree},
	{"go_check_canceled", caseGoCheckCanceled},
	{"go_context_cancel_done", caseGoContextCancelDone},
	{"go_deep_value", caseGoDeepValue},
	{"go_with_value", caseGoWithValue},
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-l" {
		for _, c := range cases {
			fmt.Println(c.name)
		}
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintf(os.Stderr, "usage: %s -l | CASE\n", os.Args[0])
		os.Exit(2)
	}
	for _, c := range cases {
		if c.name == os.Args[1] {
			c.run()
			return
		}
	}
	fmt.Fprintf(os.Stderr, "%s: no case '%s'\n", os.Args[0], os.Args[1])
	os.Exit(2)
}
