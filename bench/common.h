/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the C benchmark programs (bench/kgo.c, bench/pthread.c, and echo's
 * bench/epoll.c, which defines BENCH_ECHO_ONLY) share: the clock, the
 * workload sizes, the command line, the output lines that bench/guest.sh
 * collects, the driver around the workloads, and the code of the
 * workloads that are written the same way in both (fib's run, preempt
 * and blocked; echo's client and set-up are in bench/echo.h).
 * bench/go/main.go follows the same rules, with the same sizes and smoke
 * sizes; change both together.
 *
 * Command line of every benchmark program:
 *
 *   PROG WORKLOAD NPROCS [REPS [SCALE]]
 *   PROG WORKLOAD NPROCS smoke [SCALE]
 *
 * runs WORKLOAD with NPROCS processors (Ps, GOMAXPROCS, or CPUs in the
 * affinity mask for threads): one warm-up repetition, then REPS measured
 * ones (default 5), each printed as
 *
 *   RESULT <workload> <nprocs> <impl> <unit> <value>
 *
 * REPS 0 runs the warm-up and then the workload once, unmeasured, with
 * its operation count multiplied by SCALE (default 1), and prints
 * "OPS <workload> <n>": that is how the system calls per operation are
 * counted (bench/guest.sh runs it at two scales and takes the difference,
 * so start-up, warm-up and exit cancel out).  A workload that this build
 * cannot run prints "SKIP <workload> <impl> <why>" and exits 0.
 *
 * "smoke" in place of REPS is for make check (bench/smoke.sh): the
 * workload at the SMOKE_* sizes below, run once without a warm-up and
 * printed as a RESULT line; with SCALE, the REPS 0 run instead (warm-up,
 * then OPS at SCALE), at the smoke sizes.  Either way it then prints
 *
 *   SMOKE <workload> <nprocs> <impl> ok
 *
 * Every run, measured or not, checks what the workload did (every G ran,
 * the values came back in order, the sums and results are right, every
 * sleep was done; never how long anything took).  A wrong result is a
 * message on stderr and exit status 1.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Workload sizes, identical in bench/go/main.go. */
#define YIELD_SWITCHES		200000	/* per repetition, both Gs together */
#define SPAWN_BATCH		10000	/* Gs created before waiting for them */
#define SPAWN_BATCHES		10
#define PTHREAD_SPAWN_BATCH	500	/* threads: far slower, fewer */
#define PTHREAD_SPAWN_BATCHES	4
#define PINGPONG_ROUNDS		50000
#define SKYNET_SIZE		1000000	/* leaves, numbered 0..n-1: sum n(n-1)/2 */
#define SKYNET_FANOUT		10	/* both skynet sizes are powers of it */
/*
 * fib(39) with its leaves at 24: the same tree of 1,596 forks as fib(27)
 * cut at 12, each leaf 322 times the work, so that a run lasts over a
 * second at nprocs 1 (about 1.5 s for kgo under TCG) and scaling shows.
 */
#define FIB_N			39
#define FIB_CUTOFF		24	/* fib(n) for n <= cutoff is computed inline */
#define FIB_RESULT		63245986
#define MEM_GS			100000
#define MEM_1M_GS		1000000	/* mem-1m: about 4.1 GiB of kgo stacks */
#define PREEMPT_SLEEPS		30	/* 1 ms sleeps next to a spinner */
#define PREEMPT_SLEEP_NS	1000000LL
#define BLOCKED_SLEEPS		5	/* raw 50 ms nanosleeps next to a ticker */
#define BLOCKED_SLEEP_NS	50000000LL
/*
 * echo (bench/echo.h): ECHO_CONNS connections on loopback, the server
 * under test at one end, the same client process for every
 * implementation at the other; ECHO_ROUNDTRIPS round trips of
 * ECHO_MSG bytes in all, each connection with one in flight at a time.
 */
#define ECHO_CONNS		1000
#define ECHO_ROUNDTRIPS		50000
#define ECHO_MSG		64	/* bytes per request, echoed back whole */
#define ECHO_BUF		4096	/* each server's read buffer per connection */
#define ECHO_CLIENT_THREADS	2	/* the client's threads, each its own epoll */

/* The smoke sizes: the same workloads, Gs spawned and blocked the same
 * way (fib(20) is still above the cutoff), far less of them.  Small
 * enough for the whole smoke run to take about 20 s in make
 * check's debug guest, where each fresh kgo stack (a mapping, its guard,
 * page faults, under KASAN and TCG) costs about a millisecond. */
#define SMOKE_YIELD_SWITCHES		2000
#define SMOKE_SPAWN_BATCH		500	/* more than a P's ring (256) */
#define SMOKE_SPAWN_BATCHES		2
#define SMOKE_PTHREAD_SPAWN_BATCH	100
#define SMOKE_PTHREAD_SPAWN_BATCHES	2
#define SMOKE_PINGPONG_ROUNDS		1000
#define SMOKE_SKYNET_SIZE		1000	/* sum 499500; 1,111 Gs */
#define SMOKE_FIB_N			20
#define SMOKE_FIB_CUTOFF		12
#define SMOKE_FIB_RESULT		6765
#define SMOKE_MEM_GS			500
#define SMOKE_MEM_1M_GS			1000
#define SMOKE_PREEMPT_SLEEPS		3
#define SMOKE_BLOCKED_SLEEPS		1
#define SMOKE_ECHO_CONNS		50
#define SMOKE_ECHO_ROUNDTRIPS		200

struct bench_sizes {
	long yield_switches;
	long spawn_batch, spawn_batches;
	long pthread_spawn_batch, pthread_spawn_batches;
	long pingpong_rounds;
	long skynet_size;
	int fib_n, fib_cutoff;
	long fib_result;
	long mem_gs, mem_1m_gs;
	int preempt_sleeps;
	int blocked_sleeps;
	long echo_conns, echo_roundtrips;
};

static const struct bench_sizes bench_sizes = {
	YIELD_SWITCHES, SPAWN_BATCH, SPAWN_BATCHES, PTHREAD_SPAWN_BATCH,
	PTHREAD_SPAWN_BATCHES, PINGPONG_ROUNDS, SKYNET_SIZE, FIB_N, FIB_CUTOFF, FIB_RESULT,
	MEM_GS, MEM_1M_GS, PREEMPT_SLEEPS, BLOCKED_SLEEPS, ECHO_CONNS, ECHO_ROUNDTRIPS,
};

static const struct bench_sizes bench_smoke_sizes = {
	SMOKE_YIELD_SWITCHES, SMOKE_SPAWN_BATCH, SMOKE_SPAWN_BATCHES,
	SMOKE_PTHREAD_SPAWN_BATCH, SMOKE_PTHREAD_SPAWN_BATCHES, SMOKE_PINGPONG_ROUNDS,
	SMOKE_SKYNET_SIZE, SMOKE_FIB_N, SMOKE_FIB_CUTOFF, SMOKE_FIB_RESULT, SMOKE_MEM_GS,
	SMOKE_MEM_1M_GS, SMOKE_PREEMPT_SLEEPS, SMOKE_BLOCKED_SLEEPS, SMOKE_ECHO_CONNS, SMOKE_ECHO_ROUNDTRIPS,
};

static inline int64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct bench_args {
	const char *workload;
	int nprocs;
	int reps;
	int scale;
	bool smoke;
};

static const char *bench_prog;		/* argv[0]'s base name, for messages */
static const struct bench_sizes *bench_sz = &bench_sizes;	/* or the smoke sizes */

static inline void bench_usage(void)
{
	fprintf(stderr, "usage: %s WORKLOAD NPROCS [REPS [SCALE]]\n"
		"       %s WORKLOAD NPROCS smoke [SCALE]\n", bench_prog, bench_prog);
	exit(2);
}

static inline void bench_parse(int argc, char **argv, struct bench_args *a)
{
	bench_prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (argc < 3 || argc > 5)
		bench_usage();
	a->workload = argv[1];
	a->nprocs = atoi(argv[2]);
	a->smoke = argc > 3 && !strcmp(argv[3], "smoke");
	if (a->smoke) {
		bench_sz = &bench_smoke_sizes;
		a->reps = argc > 4 ? 0 : 1;	/* with SCALE: the REPS 0 run */
	} else {
		a->reps = argc > 3 ? atoi(argv[3]) : 5;
	}
	a->scale = argc > 4 ? atoi(argv[4]) : 1;
	if (a->nprocs < 1 || a->reps < 0 || a->scale < 1)
		bench_usage();
}

/* A wrong result: what went wrong on stderr, and exit status 1. */
static inline void bench_check(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void bench_check(bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return;
	fflush(stdout);
	fprintf(stderr, "%s: wrong result: ", bench_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/*
 * A second figure of the same run, under a workload name of its own
 * (echo's p99 latency, "echo-p99", beside its round trips per second):
 * the run leaves it here, and the RESULT line of the run's own figure is
 * followed by its own.  A run that is not printed (the warm-up, REPS 0)
 * leaves it to be overwritten by the next run.
 */
static struct {
	const char *workload, *unit;
	double value;
} bench_second;

static inline void bench_also(const char *workload, const char *unit, double value)
{
	bench_second.workload = workload;
	bench_second.unit = unit;
	bench_second.value = value;
}

static inline void bench_result(const char *workload, int nprocs, const char *impl,
				const char *unit, double value)
{
	printf("RESULT %s %d %s %s %.6g\n", workload, nprocs, impl, unit, value);
	if (bench_second.workload)
		printf("RESULT %s %d %s %s %.6g\n", bench_second.workload, nprocs, impl,
		       bench_second.unit, bench_second.value);
	bench_second.workload = NULL;
	fflush(stdout);
}

static inline void bench_ops(const char *workload, long long ops)
{
	printf("OPS %s %lld\n", workload, ops);
	fflush(stdout);
}

/* ---- the driver: a table of workloads, each of which runs once with a
 *      count of operations, checks what it did and returns its figure (in
 *      the workload's unit) ---- */

struct bench_workload {
	const char *name;
	const char *unit;
	double (*run)(long scale, long long *ops);
	bool fresh;		/* one measurement per process, no warm-up */
	bool count_ioctls;	/* kgo: report the module's ioctls per operation */
	const char *skip;	/* why this program cannot run it, or NULL */
};

/* The workload that the command line names.  An unknown one is a usage
 * error; one that this program cannot run prints SKIP and exits 0. */
static inline const struct bench_workload *
bench_lookup(const struct bench_workload *table, size_t n, const struct bench_args *a,
	     const char *impl)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(table[i].name, a->workload))
			continue;
		if (table[i].skip) {
			printf("SKIP %s %s %s\n", table[i].name, impl, table[i].skip);
			exit(0);
		}
		return &table[i];
	}
	fprintf(stderr, "%s: unknown workload %s\n", bench_prog, a->workload);
	exit(2);
}

/*
 * The runs that measure nothing, the same in every program: REPS 0 (the
 * warm-up, then OPS at SCALE) and the smoke run.  False for measured
 * repetitions, which are the caller's.
 */
static inline bool bench_unmeasured(const struct bench_workload *wl, const struct bench_args *a,
				    const char *impl)
{
	long long ops;

	if (a->reps == 0) {
		if (!wl->fresh)
			wl->run(1, &ops);	/* the same warm-up as timed runs */
		wl->run(a->scale, &ops);
		bench_ops(wl->name, ops);
	} else if (a->smoke) {
		bench_result(wl->name, a->nprocs, impl, wl->unit, wl->run(1, &ops));
	} else {
		return false;
	}
	if (a->smoke)
		printf("SMOKE %s %d %s ok\n", wl->name, a->nprocs, impl);
	fflush(stdout);
	return true;
}

/*
 * bench_measure - the run of @wl in the programs that count nothing
 * around a repetition (threads, epoll; kgo's main counts its scheduler):
 * the unmeasured runs, or a warm-up and then the measured repetitions.
 */
static inline void bench_measure(const struct bench_workload *wl, const struct bench_args *a,
				 const char *impl)
{
	long long ops;

	if (bench_unmeasured(wl, a, impl))
		return;
	wl->run(1, &ops);	/* warm-up */
	for (int r = 0; r < a->reps; r++)
		bench_result(wl->name, a->nprocs, impl, wl->unit, wl->run(1, &ops));
}

#ifndef BENCH_ECHO_ONLY		/* epoll-bench: only the network workload */
/*
 * ---- 7. preempt and 8. blocked: a pair of Gs on one P (threads on one
 *      CPU), one of which sleeps and then stops the other.  They are the
 *      same in both programs, here; each program defines how its Gs
 *      yield and sleep, and how a pair of functions is run, each in a G
 *      of its own, until both have returned ----
 */
static void bench_yield(void);		/* kgo_yield, sched_yield */
static void bench_sleep(int64_t ns);	/* kgo_sleep, clock_nanosleep */
static void bench_run_pair(void (*a)(void), void (*b)(void));

static atomic_int bench_stop, bench_ticks, bench_slept;
static int bench_sleeps;		/* the sleeps to do */
static int64_t bench_worst, bench_least;	/* ns */

/* preempt: one spins until the other has done its 1 ms sleeps, the worst
 * lateness of which is the figure. */
static inline void bench_spinner(void)
{
	while (!atomic_load_explicit(&bench_stop, memory_order_relaxed))
		;
}

static inline void bench_sleeper(void)
{
	for (int i = 0; i < bench_sleeps; i++) {
		int64_t t0 = bench_now(), late;

		bench_sleep(PREEMPT_SLEEP_NS);
		late = bench_now() - t0 - PREEMPT_SLEEP_NS;
		if (late > bench_worst)
			bench_worst = late;
		if (late < bench_least)
			bench_least = late;
		atomic_fetch_add(&bench_slept, 1);
	}
	atomic_store(&bench_stop, 1);
}

/* blocked: one ticks and yields, the worst gap between its ticks being the
 * figure, while the other makes raw 50 ms nanosleep system calls (after
 * the ticker's 10th tick, so that every one is measured). */
static inline void bench_ticker(void)
{
	int64_t last = bench_now();

	while (!atomic_load_explicit(&bench_stop, memory_order_relaxed)) {
		int64_t t = bench_now();

		if (t - last > bench_worst)
			bench_worst = t - last;
		last = t;
		atomic_fetch_add_explicit(&bench_ticks, 1, memory_order_relaxed);
		bench_yield();
	}
}

static inline void bench_raw_sleeper(void)
{
	while (atomic_load(&bench_ticks) < 10)	/* the ticker is ticking */
		bench_yield();
	for (int i = 0; i < bench_sleeps; i++) {
		struct timespec left = { 0, BLOCKED_SLEEP_NS };
		long r;

		while ((r = syscall(SYS_nanosleep, &left, &left)) && errno == EINTR)
			;
		if (r == 0)
			atomic_fetch_add(&bench_slept, 1);
		bench_yield();
	}
	atomic_store(&bench_stop, 1);
}

/* Runs the pair; then checks that every sleep was done, none ended early,
 * and that the ticker (blocked's) ticked on; returns the figure, in ms. */
static inline double bench_pair(const char *workload, int sleeps, void (*a)(void),
				void (*b)(void), long long *ops)
{
	bench_sleeps = sleeps;
	bench_worst = 0;
	bench_least = INT64_MAX;
	atomic_store(&bench_stop, 0);
	atomic_store(&bench_ticks, 0);
	atomic_store(&bench_slept, 0);
	bench_run_pair(a, b);
	*ops = sleeps;
	bench_check(atomic_load(&bench_slept) == sleeps, "%s: %d of %d sleeps done",
		    workload, atomic_load(&bench_slept), sleeps);
	bench_check(bench_least >= 0, "%s: a sleep ended %lld ns early", workload,
		    (long long)-bench_least);
	bench_check(b != bench_ticker || atomic_load(&bench_ticks) > 10,
		    "%s: the ticker ticked %d times", workload, atomic_load(&bench_ticks));
	return (double)bench_worst / 1e6;
}

/* 7. preempt: worst lateness of a 1 ms sleeper next to a spinning G, on
 *    one P.  ms. */
static inline double bench_run_preempt(long scale, long long *ops)
{
	(void)scale;
	return bench_pair("preempt", bench_sz->preempt_sleeps, bench_spinner, bench_sleeper, ops);
}

/* 8. blocked: worst stall of a ticking G while another G sleeps 50 ms in
 *    a raw nanosleep system call, on one P.  ms. */
static inline double bench_run_blocked(long scale, long long *ops)
{
	(void)scale;
	return bench_pair("blocked", bench_sz->blocked_sleeps, bench_raw_sleeper, bench_ticker,
			  ops);
}

/* The calling process's VmRSS in bytes, from /proc/self/status. */
static inline long long bench_vmrss(void)
{
	char line[256];
	long long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

/*
 * 5. fib: fork-join fib(39), a G for fib(n-1) at each call above the
 *    cutoff (24), fib(n-2) inline, then a wait.  ms.  The fork-join is each
 *    program's fib_par; the leaves, the run and its check are the same.
 */
static long fib_par(int n);

/* Serial fib, the leaves of the fork-join tree. */
static inline long fib_serial(int n)
{
	return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

static inline double bench_run_fib(long scale, long long *ops)
{
	int64_t t0 = bench_now();
	long r = fib_par(bench_sz->fib_n);

	(void)scale;
	t0 = bench_now() - t0;
	bench_check(r == bench_sz->fib_result, "fib(%d) = %ld, not %ld", bench_sz->fib_n, r,
		    bench_sz->fib_result);
	*ops = 1;
	return (double)t0 / 1e6;
}
#endif /* BENCH_ECHO_ONLY */

#endif /* BENCH_COMMON_H */
