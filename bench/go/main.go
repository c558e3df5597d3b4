// SPDX-License-Identifier: GPL-2.0
// The benchmark workloads in Go, for comparison with kgo (bench/kgo.c) and
// plain threads (bench/pthread.c).  The command line, the output lines and
// the sizes are those of bench/common.h; keep them in step.  echo's
// client is pthread-bench's (bench/echo.h), the same for every server.
//
//	go-bench WORKLOAD NPROCS [REPS [SCALE]]
//	go-bench WORKLOAD NPROCS smoke [SCALE]
//
// NPROCS is GOMAXPROCS.  Each workload is written as its C twin is: the
// same tree shapes, the same counts, a sync.WaitGroup where kgo.c uses a
// wait group, channels of the same capacity where it uses channels.
package main

import (
	"bufio"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The workload sizes of bench/common.h, and its SMOKE_* sizes.
type sizes struct {
	yieldSwitches  int
	spawnBatch     int
	spawnBatches   int
	pingpongRounds int
	skynetSize     int64
	fibN           int
	fibCutoff      int
	fibResult      int
	memGs          int
	mem1mGs        int
	preemptSleeps  int
	blockedSleeps  int
	echoConns      int
	echoRoundtrips int
}

var fullSizes = sizes{
	yieldSwitches:  200000,
	spawnBatch:     10000,
	spawnBatches:   10,
	pingpongRounds: 50000,
	skynetSize:     1000000, // leaves, numbered 0..n-1: sum n(n-1)/2
	fibN:           39,      // the same 1,596 forks as fib(27) cut at 12, leaves 322x bigger
	fibCutoff:      24,
	fibResult:      63245986,
	memGs:          100000,
	mem1mGs:        1000000,
	preemptSleeps:  30,
	blockedSleeps:  5,
	echoConns:      1000,
	echoRoundtrips: 50000,
}

var smokeSizes = sizes{
	yieldSwitches:  2000,
	spawnBatch:     500,
	spawnBatches:   2,
	pingpongRounds: 1000,
	skynetSize:     1000, // sum 499500; 1,111 goroutines
	fibN:           20,
	fibCutoff:      12,
	fibResult:      6765,
	memGs:          500,
	mem1mGs:        1000,
	preemptSleeps:  3,
	blockedSleeps:  1,
	echoConns:      50,
	echoRoundtrips: 200,
}

const (
	skynetFanout   = 10
	preemptSleepNs = 1000000
	blockedSleepNs = 50000000
	echoBuf        = 4096 // each server's read buffer per connection
	// The client's threads (bench/common.h's ECHO_CLIENT_THREADS), for
	// its comment line only: the client is pthread-bench's.
	echoClientThreads = 2
)

const impl = "go"

var sz = &fullSizes

var base = time.Now()

// now is CLOCK_MONOTONIC-like nanoseconds (Go's monotonic clock reading).
func now() int64 { return time.Since(base).Nanoseconds() }

// check ends the program with a message on stderr when a workload did
// not do what it should have.
func check(ok bool, format string, a ...any) {
	if !ok {
		fmt.Fprintf(os.Stderr, "go-bench: wrong result: "+format+"\n", a...)
		os.Exit(1)
	}
}

var wg sync.WaitGroup
var done atomic.Int64 // what the goroutines of a run did, to check

// 1. yield: two goroutines calling runtime.Gosched on one P.  ns per switch.
// Gosched puts the goroutine on the global run queue, so this is also the
// yield-global workload, the one to compare with kgo's through its global
// queue (kgo_yield uses the P's local ring).
func runYield(scale int) (float64, int64) {
	n := sz.yieldSwitches / 2 * scale
	done.Store(0)
	t0 := now()
	wg.Add(2)
	for k := 0; k < 2; k++ {
		go func() {
			i := 0
			for ; i < n; i++ {
				runtime.Gosched()
			}
			done.Add(int64(i))
			wg.Done()
		}()
	}
	wg.Wait()
	t := now() - t0
	ops := int64(2 * n)
	check(done.Load() == ops, "yield: %d of %d yields done", done.Load(), ops)
	return float64(t) / float64(ops), ops
}

// 2. spawn: create and finish goroutines in batches.  ns per goroutine.
func spawnee() {
	done.Add(1)
	wg.Done()
}

func runSpawn(scale int) (float64, int64) {
	batches := sz.spawnBatches * scale
	done.Store(0)
	t0 := now()
	for b := 0; b < batches; b++ {
		wg.Add(sz.spawnBatch)
		for i := 0; i < sz.spawnBatch; i++ {
			go spawnee()
		}
		wg.Wait()
	}
	t := now() - t0
	ops := int64(batches * sz.spawnBatch)
	check(done.Load() == ops, "spawn: %d of %d goroutines ran", done.Load(), ops)
	return float64(t) / float64(ops), ops
}

// 3. pingpong: a round trip over two unbuffered channels.  ns per round trip.
func runPingpong(scale int) (float64, int64) {
	n := sz.pingpongRounds * scale
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
		v := <-pong
		check(v == i, "pingpong: round %d came back as %d", i, v)
	}
	wg.Wait()
	return float64(now()-t0) / float64(n), int64(n)
}

// 4. skynet: a tree of goroutines, fan-out 10, 10^6 leaves.  ms.  Two
// forms, as in kgo.c: skynet, the children adding to their node's sum
// and signalling its WaitGroup, and skynet-chan, the classic one, each
// node receiving its children's sums from a channel of 10.
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

func skynetWgTree(n int64) int64 {
	var root skyNode
	root.wg.Add(1)
	go skynet(0, n, &root)
	root.wg.Wait()
	return root.sum.Load()
}

func skynetChan(num int64, size int64, out chan<- int64) {
	if size == 1 {
		out <- num
		return
	}
	c := make(chan int64, skynetFanout)
	sub := size / skynetFanout
	for i := int64(0); i < skynetFanout; i++ {
		go skynetChan(num+i*sub, sub, c)
	}
	var sum int64
	for i := 0; i < skynetFanout; i++ {
		sum += <-c
	}
	out <- sum
}

func skynetChanTree(n int64) int64 {
	c := make(chan int64, 1)
	go skynetChan(0, n, c)
	return <-c
}

// skynetRun times either form's tree and checks its sum.
func skynetRun(name string, tree func(n int64) int64) (float64, int64) {
	n := sz.skynetSize
	t0 := now()
	sum := tree(n)
	t := now() - t0
	check(sum == n*(n-1)/2, "%s: summed %d, not %d", name, sum, n*(n-1)/2)
	return float64(t) / 1e6, 1
}

func runSkynet(scale int) (float64, int64) { return skynetRun("skynet", skynetWgTree) }

func runSkynetChan(scale int) (float64, int64) { return skynetRun("skynet-chan", skynetChanTree) }

// 5. fib: fork-join fib(39), a goroutine for fib(n-1) above the cutoff (24).  ms.
func fibSerial(n int) int {
	if n < 2 {
		return n
	}
	return fibSerial(n-1) + fibSerial(n-2)
}

func fibPar(n int) int {
	if n <= sz.fibCutoff {
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
	r := fibPar(sz.fibN)
	t := now() - t0
	check(r == sz.fibResult, "fib(%d) = %d, not %d", sz.fibN, r, sz.fibResult)
	return float64(t) / 1e6, 1
}

// 6. mem: resident bytes per goroutine blocked in a channel receive,
// 100,000 of them (mem-1m: a million).  bytes.
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

// memParked parks gs goroutines at once: VmRSS grown, over gs.
func memParked(name string, gs int) (float64, int64) {
	gate := make(chan struct{})
	var started sync.WaitGroup
	var released atomic.Int64
	done.Store(0)
	before := vmRSS()
	started.Add(gs)
	wg.Add(gs)
	for i := 0; i < gs; i++ {
		go func() {
			done.Add(1)
			started.Done()
			if _, ok := <-gate; !ok { // until the gate closes
				released.Add(1)
			}
			wg.Done()
		}()
	}
	started.Wait()
	after := vmRSS()
	check(done.Load() == int64(gs), "%s: %d of %d goroutines started", name, done.Load(), gs)
	check(after > before, "%s: VmRSS went from %d to %d bytes", name, before, after)
	// Let them go, and see that every one ends.
	close(gate)
	wg.Wait()
	check(released.Load() == int64(gs), "%s: %d of %d parked goroutines released",
		name, released.Load(), gs)
	return float64(after-before) / float64(gs), int64(gs)
}

func runMem(scale int) (float64, int64) { return memParked("mem", sz.memGs) }

func runMem1m(scale int) (float64, int64) { return memParked("mem-1m", sz.mem1mGs) }

// 7 and 8: a pair of goroutines on one P, one of which sleeps and then
// stops the other.
var stop, ticks, slept atomic.Int32
var worst, least int64

func runPair(a, b func()) {
	worst = 0
	least = math.MaxInt64
	stop.Store(0)
	ticks.Store(0)
	slept.Store(0)
	wg.Add(2)
	for _, f := range []func(){a, b} {
		go func() {
			f()
			wg.Done()
		}()
	}
	wg.Wait()
}

// 7. preempt: worst lateness of a 1 ms sleeper next to a spinning
// goroutine on one P.  ms.
func runPreempt(scale int) (float64, int64) {
	runPair(func() {
		for stop.Load() == 0 {
		}
	}, func() {
		for i := 0; i < sz.preemptSleeps; i++ {
			t0 := now()
			time.Sleep(preemptSleepNs)
			late := now() - t0 - preemptSleepNs
			worst = max(worst, late)
			least = min(least, late)
			slept.Add(1)
		}
		stop.Store(1)
	})
	check(slept.Load() == int32(sz.preemptSleeps), "preempt: %d of %d sleeps done",
		slept.Load(), sz.preemptSleeps)
	check(least >= 0, "preempt: a sleep ended %d ns early", -least)
	return float64(worst) / 1e6, int64(sz.preemptSleeps)
}

// 8. blocked: worst stall of a ticking goroutine next to one in a 50 ms
// nanosleep system call (syscall.Syscall, Go's ordinary path into the
// kernel, which tells the scheduler), on one P.  ms.
func runBlocked(scale int) (float64, int64) {
	runPair(func() {
		ts := syscall.Timespec{Sec: 0, Nsec: blockedSleepNs}
		for ticks.Load() < 10 { // the ticker is ticking
			runtime.Gosched()
		}
		for i := 0; i < sz.blockedSleeps; i++ {
			left := ts
			p := uintptr(unsafe.Pointer(&left))
			_, _, e := syscall.Syscall(syscall.SYS_NANOSLEEP, p, p, 0)
			for e == syscall.EINTR {
				_, _, e = syscall.Syscall(syscall.SYS_NANOSLEEP, p, p, 0)
			}
			if e == 0 {
				slept.Add(1)
			}
			runtime.Gosched()
		}
		stop.Store(1)
	}, func() {
		last := now()
		for stop.Load() == 0 {
			t := now()
			worst = max(worst, t-last)
			last = t
			ticks.Add(1)
			runtime.Gosched()
		}
	})
	check(slept.Load() == int32(sz.blockedSleeps) && ticks.Load() > 10,
		"blocked: %d of %d sleeps done, %d ticks", slept.Load(), sz.blockedSleeps, ticks.Load())
	return float64(worst) / 1e6, int64(sz.blockedSleeps)
}

// 10. echo: net.Listen, a goroutine per connection (bench/echo.h has the
// client, and what a run is).  Round trips per second, and the p99 latency
// (echo-p99).  Go's TCP connections have TCP_NODELAY set by default, as
// the C servers set it.
var echoLn net.Listener
var echoAccepted atomic.Int64
var echoOpen sync.WaitGroup // connections not yet closed

func echoServe(c net.Conn) {
	defer echoOpen.Done()
	defer c.Close()
	buf := make([]byte, echoBuf)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return // the client is gone
			}
		}
		if err != nil {
			return
		}
	}
}

func echoAccept() {
	for {
		c, err := echoLn.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go-bench: accept: %v\n", err)
			os.Exit(1)
		}
		echoAccepted.Add(1)
		echoOpen.Add(1)
		go echoServe(c)
	}
}

func runEcho(scale int) (float64, int64) {
	if echoLn == nil {
		var err error
		// Go's listen backlog is the kernel's somaxconn (4096): room for
		// every connection at once.
		if echoLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			fmt.Fprintf(os.Stderr, "go-bench: listen: %v\n", err)
			os.Exit(1)
		}
		go echoAccept()
	}
	raiseNofile(uint64(sz.echoConns))
	before := echoAccepted.Load()
	rts := sz.echoRoundtrips * scale
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-bench: %v\n", err)
		os.Exit(1)
	}
	exe := filepath.Join(filepath.Dir(self), "pthread-bench")
	cmd := exec.Command(exe, "echo-client",
		strconv.Itoa(echoLn.Addr().(*net.TCPAddr).Port),
		strconv.Itoa(sz.echoConns), strconv.Itoa(rts))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	check(err == nil, "echo: the client (%s) failed: %v", exe, err)
	var n, ns, p99, cpu int64
	_, err = fmt.Sscanf(string(out), "ECHO %d %d %d %d", &n, &ns, &p99, &cpu)
	check(err == nil && n == int64(rts) && ns > 0, "echo: the client printed %q", out)
	fmt.Printf("# echo client: %d round trips in %.3f s; CPU time of its %d threads: %.0f%% of that\n",
		n, float64(ns)/1e9, echoClientThreads, 100*float64(cpu)/float64(ns))
	accepted := echoAccepted.Load() - before
	check(accepted == int64(sz.echoConns), "echo: %d connections accepted, not %d",
		accepted, sz.echoConns)
	echoOpen.Wait() // every connection closed before the next run
	also("echo-p99", "us", float64(p99)/1e3)
	return float64(n) / (float64(ns) / 1e9), n
}

// raiseNofile makes room for fds more descriptors (root may raise the hard
// limit too), as bench/echo.h's echo_nofile does.
func raiseNofile(fds uint64) {
	var rl syscall.Rlimit
	want := fds + 256
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur >= want {
		return
	}
	rl.Cur = want
	rl.Max = max(rl.Max, want)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		fmt.Fprintf(os.Stderr, "go-bench: setrlimit(RLIMIT_NOFILE): %v\n", err)
		os.Exit(1)
	}
}

type workload struct {
	name  string
	unit  string
	run   func(scale int) (float64, int64)
	fresh bool // one measurement per process, no warm-up
}

var workloads = []workload{
	{"yield", "ns", runYield, false},
	{"yield-global", "ns", runYield, false}, // Gosched always uses the global queue
	{"spawn", "ns", runSpawn, false},
	{"pingpong", "ns", runPingpong, false},
	{"skynet", "ms", runSkynet, false},
	{"skynet-chan", "ms", runSkynetChan, false},
	{"fib", "ms", runFib, false},
	{"mem", "bytes", runMem, true},
	{"mem-1m", "bytes", runMem1m, true},
	{"preempt", "ms", runPreempt, false},
	{"blocked", "ms", runBlocked, false},
	{"echo", "rt/s", runEcho, false},
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: go-bench WORKLOAD NPROCS [REPS [SCALE]]\n"+
		"       go-bench WORKLOAD NPROCS smoke [SCALE]")
	os.Exit(2)
}

// A second figure of the same run under a workload name of its own
// (echo-p99), printed after the run's own RESULT line (bench/common.h's
// bench_also).
type figure struct {
	workload, unit string
	value          float64
}

var second *figure

func also(workload, unit string, v float64) { second = &figure{workload, unit, v} }

func result(wl *workload, nprocs int, v float64) {
	fmt.Printf("RESULT %s %d %s %s %s\n", wl.name, nprocs, impl, wl.unit,
		strconv.FormatFloat(v, 'g', 6, 64))
	if second != nil {
		fmt.Printf("RESULT %s %d %s %s %s\n", second.workload, nprocs, impl, second.unit,
			strconv.FormatFloat(second.value, 'g', 6, 64))
	}
	second = nil
}

func main() {
	a := os.Args
	if len(a) < 3 || len(a) > 5 {
		usage()
	}
	nprocs, err1 := strconv.Atoi(a[2])
	reps, scale := 5, 1
	smoke := len(a) > 3 && a[3] == "smoke"
	var err2, err3 error
	if smoke {
		sz = &smokeSizes
		reps = 1
		if len(a) > 4 {
			reps = 0 // with SCALE: the REPS 0 run
		}
	} else if len(a) > 3 {
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
	// The runs that measure nothing: REPS 0 and smoke (bench/common.h's
	// bench_unmeasured).
	if reps == 0 || smoke {
		if reps == 0 {
			if !wl.fresh {
				wl.run(1) // the same warm-up as timed runs
			}
			_, ops := wl.run(scale)
			fmt.Printf("OPS %s %d\n", wl.name, ops)
		} else {
			v, _ := wl.run(1)
			result(wl, nprocs, v)
		}
		if smoke {
			fmt.Printf("SMOKE %s %d %s ok\n", wl.name, nprocs, impl)
		}
		return
	}
	if wl.fresh {
		reps = 1
	} else {
		wl.run(1) // warm-up
	}
	for r := 0; r < reps; r++ {
		v, _ := wl.run(1)
		result(wl, nprocs, v)
	}
}
