/*
 * What the C benchmark programs (bench/kgo.c, bench/pthread.c) share: the
 * clock, the workload sizes, the command line and the output lines that
 * bench/guest.sh collects.  bench/go/main.go follows the same rules, with
 * the same sizes; change both together.
 *
 * Command line of every benchmark program:
 *
 *   PROG WORKLOAD NPROCS [REPS [SCALE]]
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
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Workload sizes, identical in bench/go/main.go. */
#define YIELD_SWITCHES		200000	/* per repetition, both Gs together */
#define SPAWN_BATCH		10000	/* Gs created before waiting for them */
#define SPAWN_BATCHES		10
#define PTHREAD_SPAWN_BATCH	500	/* threads: far slower, fewer */
#define PTHREAD_SPAWN_BATCHES	4
#define PINGPONG_ROUNDS		50000
#define SKYNET_SIZE		1000000	/* leaves */
#define SKYNET_FANOUT		10
#define SKYNET_SUM		499999500000LL
#define FIB_N			27
#define FIB_CUTOFF		12	/* fib(n) for n <= cutoff is computed inline */
#define FIB_RESULT		196418
#define MEM_GS			100000
#define PREEMPT_SLEEPS		30	/* 1 ms sleeps next to a spinner */
#define PREEMPT_SLEEP_NS	1000000LL
#define BLOCKED_SLEEPS		5	/* raw 50 ms nanosleeps next to a ticker */
#define BLOCKED_SLEEP_NS	50000000LL

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
};

static inline void bench_usage(const char *prog)
{
	fprintf(stderr, "usage: %s WORKLOAD NPROCS [REPS [SCALE]]\n", prog);
	exit(2);
}

static inline void bench_parse(int argc, char **argv, struct bench_args *a)
{
	if (argc < 3 || argc > 5)
		bench_usage(argv[0]);
	a->workload = argv[1];
	a->nprocs = atoi(argv[2]);
	a->reps = argc > 3 ? atoi(argv[3]) : 5;
	a->scale = argc > 4 ? atoi(argv[4]) : 1;
	if (a->nprocs < 1 || a->reps < 0 || a->scale < 1)
		bench_usage(argv[0]);
}

static inline void bench_result(const char *workload, int nprocs, const char *impl,
				const char *unit, double value)
{
	printf("RESULT %s %d %s %s %.6g\n", workload, nprocs, impl, unit, value);
	fflush(stdout);
}

static inline void bench_skip(const char *workload, const char *impl, const char *why)
{
	printf("SKIP %s %s %s\n", workload, impl, why);
	fflush(stdout);
}

static inline void bench_ops(const char *workload, long long ops)
{
	printf("OPS %s %lld\n", workload, ops);
	fflush(stdout);
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

/* Serial fib, the leaves of the fork-join tree (same code in every impl). */
static inline long fib_serial(int n)
{
	return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

#endif /* BENCH_COMMON_H */
