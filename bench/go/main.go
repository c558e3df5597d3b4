// The benchmark workloads in Go, for comparison with kgo (bench/kgo.c) and
// plain threads (bench/pthread.c).  The command line, the output lines and
// the sizes are those of bench/common.h; keep them in step.
//
//	go-bench WORKLOAD NPROCS [REPS [SCALE]]
//
// NPROCS is GOMAXPROCS.  Each workload is written as its C twin is: the
// same tree shapes, the same counts, a sync.WaitGroup where kgo.c uses a
// wait group, unbuffered channels where it uses them.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const (
	yieldSwitches  = 200000
	spawnBatch     = 10000
	spawnBatches   = 10
	pingpongRounds = 50000
	skynetSize     = 1000000
	skynetFanout   = 10
	skynetSum      = 499999500000
	fibN           = 27
	fibCutoff      = 12
	fibResult      = 196418
	memGs          = 100000
	preemptSleeps  = 30
	preemptSleepNs = 1000000
	blockedSleeps  = 5
	blockedSleepNs = 50000000
)

const impl = "go"

var base = time.Now()

// now is CLOCK_MONOTONIC-like nanoseconds (Go's monotonic clock reading).
func now() int64 { return time.Since(base).Nanoseconds() }

var wg sync.WaitGroup

// 1. yield: two goroutines calling runtime.Gosched on one P.  ns per switch.
func runYield(scale int) (float64, int64) {
	n := yieldSwitches / 2 * scale
	t0 := now()
	wg.Add(2)
	for k := 0; k < 2; k++ {
		go func() {
			for i := 0; i < n; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	ops := int64(2 * n)
	return float64(now()-t0) / float64(ops), ops
}

// 2. spawn: create and finish goroutines in batches.  ns per goroutine.
func spawnee() { wg.Done() }

func runSpawn(scale int) (float64, int64) {
	batches := spawnBatches * scale
	t0 := now()
	for b := 0; b < batches; b++ {
		wg.Add(spawnBatch)
		for i := 0; i < spawnBatch; i++ {
			go spawnee()
		}
		wg.Wait()
	}
	ops := int64(batches * spawnBatch)
	return float64(now()-t0) / float64(ops), ops
}

// 3. pingpong: a round trip over two unbuffered channels.  ns per round trip.
func runPingpong(scale int) (float64, int64) {
	n := pingpongRounds * scale
	ping, pong := make(chan int), make(chan int)
	t0 := now()
	wg.Add(1)
	go func() {
		for i := 0; i < n; i++ {
			pong <- <-ping
		}
		wg.Done()
	}()
	for i := 0; i < n; i++ {
		ping <- i
		if <-pong != i {
			panic("pingpong: wrong value")
		}
	}
	wg.Wait()
	return float64(now()-t0) / float64(n), int64(n)
}

// 4. skynet: a tree of goroutines, fan-out 10, 10^6 leaves.  ms.
type skyNode struct {
	sum atomic.Int64
	wg  sync.WaitGroup
}

func skynet(num int64, size int64, parent *skyNode) {
	if size == 1 {
		parent.sum.Add(num)
		parent.wg.Done()
		return
	}
	var me skyNode
	me.wg.Add(skynetFanout)
	sub := size / skynetFanout
	for i := int64(0); i < skynetFanout; i++ {
		go skynet(num+i*sub, sub, &me)
	}
	me.wg.Wait()
	parent.sum.Add(me.sum.Load())
	parent.wg.Done()
}

func runSkynet(scale int) (float64, int64) {
	var root skyNode
	t0 := now()
	root.wg.Add(1)
	go skynet(0, skynetSize, &root)
	root.wg.Wait()
	t := now() - t0
	if root.sum.Load() != skynetSum {
		fmt.Fprintf(os.Stderr, "go-bench: skynet summed %d, not %d\n", root.sum.Load(), skynetSum)
		os.Exit(1)
	}
	return float64(t) / 1e6, 1
}

// 5. fib: fork-join fib(27), a goroutine for fib(n-1) above the cutoff.  ms.
func fibSerial(n int) int {
	if n < 2 {
		return n
	}
	return fibSerial(n-1) + fibSerial(n-2)
}

func fibPar(n int) int {
	if n <= fibCutoff {
		return fibSerial(n)
	}
	var x int
	var w sync.WaitGroup
	w.Add(1)
	go func() {
		x = fibPar(n - 1)
		w.Done()
	}()
	y := fibPar(n - 2)
	w.Wait()
	return x + y
}

func runFib(scale int) (float64, int64) {
	t0 := now()
	r := fibPar(fibN)
	t := now() - t0
	if r != fibResult {
		fmt.Fprintf(os.Stderr, "go-bench: fib(%d) = %d\n", fibN, r)
		os.Exit(1)
	}
	return float64(t) / 1e6, 1
}

// 6. mem: resident bytes per goroutine blocked in a channel receive,
// 100,000 of them.  bytes.
func vmRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line)
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	panic("no VmRSS")
}

func runMem(scale int) (float64, int64) {
	gate := make(chan struct{})
	var started sync.WaitGroup
	before := vmRSS()
	started.Add(memGs)
	for i := 0; i < memGs; i++ {
		go func() {
			started.Done()
			<-gate
		}()
	}
	started.Wait()
	after := vmRSS()
	close(gate)
	return float64(after-before) / memGs, memGs
}

// 7. preempt: worst lateness of a 1 ms sleeper next to a spinning
// goroutine on one P.  ms.
var stop, ticks atomic.Int32
var worst int64

func runPreempt(scale int) (float64, int64) {
	worst = 0
	stop.Store(0)
	wg.Add(2)
	go func() {
		for stop.Load() == 0 {
		}
		wg.Done()
	}()
	go func() {
		for i := 0; i < preemptSleeps; i++ {
			t0 := now()
			time.Sleep(preemptSleepNs)
			if late := now() - t0 - preemptSleepNs; late > worst {
				worst = late
			}
		}
		stop.Store(1)
		wg.Done()
	}()
	wg.Wait()
	return float64(worst) / 1e6, preemptSleeps
}

// 8. blocked: worst stall of a ticking goroutine next to one in a 50 ms
// nanosleep system call (syscall.Syscall, Go's ordinary path into the
// kernel, which tells the scheduler), on one P.  ms.
func runBlocked(scale int) (float64, int64) {
	worst = 0
	stop.Store(0)
	ticks.Store(0)
	wg.Add(2)
	go func() {
		ts := syscall.Timespec{Sec: 0, Nsec: blockedSleepNs}
		for ticks.Load() < 10 { // the ticker is ticking
			runtime.Gosched()
		}
		for i := 0; i < blockedSleeps; i++ {
			syscall.Syscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
			runtime.Gosched()
		}
		stop.Store(1)
		wg.Done()
	}()
	go func() {
		last := now()
		for stop.Load() == 0 {
			t := now()
			if t-last > worst {
				worst = t - last
			}
			last = t
			ticks.Add(1)
			runtime.Gosched()
		}
		wg.Done()
	}()
	wg.Wait()
	return float64(worst) / 1e6, blockedSleeps
}

type workload struct {
	name  string
	unit  string
	run   func(scale int) (float64, int64)
	fresh bool // one measurement per process, no warm-up
}

var workloads = []workload{
	{"yield", "ns", runYield, false},
	{"spawn", "ns", runSpawn, false},
	{"pingpong", "ns", runPingpong, false},
	{"skynet", "ms", runSkynet, false},
	{"fib", "ms", runFib, false},
	{"mem", "bytes", runMem, true},
	{"preempt", "ms", runPreempt, false},
	{"blocked", "ms", runBlocked, false},
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: go-bench WORKLOAD NPROCS [REPS [SCALE]]")
	os.Exit(2)
}

func main() {
	a := os.Args
	if len(a) < 3 || len(a) > 5 {
		usage()
	}
	nprocs, err1 := strconv.Atoi(a[2])
	reps, scale := 5, 1
	var err2, err3 error
	if len(a) > 3 {
		reps, err2 = strconv.Atoi(a[3])
	}
	if len(a) > 4 {
		scale, err3 = strconv.Atoi(a[4])
	}
	if err1 != nil || err2 != nil || err3 != nil || nprocs < 1 || reps < 0 || scale < 1 {
		usage()
	}
	var wl *workload
	for i := range workloads {
		if workloads[i].name == a[1] {
			wl = &workloads[i]
		}
	}
	if wl == nil {
		fmt.Fprintf(os.Stderr, "go-bench: unknown workload %s\n", a[1])
		os.Exit(2)
	}
	runtime.GOMAXPROCS(nprocs)
	if reps == 0 {
		if !wl.fresh {
			wl.run(1) // the same warm-up as timed runs
		}
		_, ops := wl.run(scale)
		fmt.Printf("OPS %s %d\n", wl.name, ops)
		return
	}
	if wl.fresh {
		reps = 1
	} else {
		wl.run(1) // warm-up
	}
	for r := 0; r < reps; r++ {
		v, _ := wl.run(1)
		fmt.Printf("RESULT %s %d %s %s %s\n", wl.name, nprocs, impl, wl.unit,
			strconv.FormatFloat(v, 'g', 6, 64))
	}
}
