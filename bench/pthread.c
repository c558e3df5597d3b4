/*
 * The benchmark workloads on plain POSIX threads, where a thread per G
 * makes sense: yield, spawn, pingpong, fib, preempt and blocked.  skynet
 * (1,111,111 threads) and mem (100,000 parked threads) do not fit a
 * thread per G, and print SKIP.  NPROCS is the number of CPUs in the
 * process's affinity mask (CPUs 0..NPROCS-1), inherited by every thread.
 * Thread stacks are 64 KiB, kgo's default goroutine stack.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

#define IMPL		"pthread"
#define STACK_SIZE	(64 * 1024)

static struct bench_args args;
static pthread_attr_t attr;

static void die(const char *what, int err)
{
	fprintf(stderr, "pthread-bench: %s: %s\n", what, strerror(err));
	exit(1);
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int err = pthread_create(&t, &attr, fn, arg);

	if (err)
		die("pthread_create", err);
	return t;
}

static void join(pthread_t t)
{
	int err = pthread_join(t, NULL);

	if (err)
		die("pthread_join", err);
}

/* 1. yield: two threads on one CPU calling sched_yield.  ns per switch. */
static void *yielder(void *arg)
{
	long n = (long)arg;

	for (long i = 0; i < n; i++)
		sched_yield();
	return NULL;
}

static double run_yield(long scale, long long *ops)
{
	long n = YIELD_SWITCHES / 2 * scale;
	int64_t t0 = bench_now();
	pthread_t a = spawn(yielder, (void *)n), b = spawn(yielder, (void *)n);

	join(a);
	join(b);
	*ops = 2 * n;
	return (double)(bench_now() - t0) / (double)*ops;
}

/* 2. spawn: create and join threads, in batches.  ns per thread. */
static void *nothing(void *arg)
{
	return arg;
}

static double run_spawn(long scale, long long *ops)
{
	static pthread_t t[PTHREAD_SPAWN_BATCH];
	long batches = PTHREAD_SPAWN_BATCHES * scale;
	int64_t t0 = bench_now();

	for (long b = 0; b < batches; b++) {
		for (int i = 0; i < PTHREAD_SPAWN_BATCH; i++)
			t[i] = spawn(nothing, NULL);
		for (int i = 0; i < PTHREAD_SPAWN_BATCH; i++)
			join(t[i]);
	}
	*ops = (long long)batches * PTHREAD_SPAWN_BATCH;
	return (double)(bench_now() - t0) / (double)*ops;
}

/* 3. pingpong: a round trip between two threads over two semaphores (a
 *    futex each way).  ns per round trip. */
static sem_t ping_s, pong_s;

static void *ponger(void *arg)
{
	long n = (long)arg;

	for (long i = 0; i < n; i++) {
		while (sem_wait(&ping_s) && errno == EINTR)
			;
		sem_post(&pong_s);
	}
	return NULL;
}

static double run_pingpong(long scale, long long *ops)
{
	long n = PINGPONG_ROUNDS * scale;
	int64_t t0 = bench_now();
	pthread_t t;

	sem_init(&ping_s, 0, 0);
	sem_init(&pong_s, 0, 0);
	t = spawn(ponger, (void *)n);
	for (long i = 0; i < n; i++) {
		sem_post(&ping_s);
		while (sem_wait(&pong_s) && errno == EINTR)
			;
	}
	join(t);
	sem_destroy(&ping_s);
	sem_destroy(&pong_s);
	*ops = n;
	return (double)(bench_now() - t0) / (double)n;
}

/* 5. fib: fork-join fib(27), a thread for fib(n-1) above the cutoff.  ms. */
struct fib_arg {
	int n;
	long out;
};

static long fib_par(int n);

static void *fib_t(void *p)
{
	struct fib_arg *a = p;

	a->out = fib_par(a->n);
	return NULL;
}

static long fib_par(int n)
{
	struct fib_arg a;
	pthread_t t;
	long y;

	if (n <= FIB_CUTOFF)
		return fib_serial(n);
	a.n = n - 1;
	t = spawn(fib_t, &a);
	y = fib_par(n - 2);
	join(t);
	return a.out + y;
}

static double run_fib(long scale, long long *ops)
{
	int64_t t0 = bench_now();
	long r = fib_par(FIB_N);

	(void)scale;
	t0 = bench_now() - t0;
	if (r != FIB_RESULT) {
		fprintf(stderr, "pthread-bench: fib(%d) = %ld\n", FIB_N, r);
		exit(1);
	}
	*ops = 1;
	return (double)t0 / 1e6;
}

/* 7. preempt: worst lateness of a 1 ms sleeper next to a spinning thread
 *    on one CPU.  ms. */
static atomic_int stop, ticks;
static int64_t worst;

static void *spinner(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		;
	return NULL;
}

static void *sleeper(void *arg)
{
	struct timespec ts = { 0, PREEMPT_SLEEP_NS };

	(void)arg;
	for (int i = 0; i < PREEMPT_SLEEPS; i++) {
		int64_t t0 = bench_now(), late;

		clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
		late = bench_now() - t0 - PREEMPT_SLEEP_NS;
		if (late > worst)
			worst = late;
	}
	atomic_store(&stop, 1);
	return NULL;
}

static double run_preempt(long scale, long long *ops)
{
	pthread_t a, b;

	(void)scale;
	worst = 0;
	atomic_store(&stop, 0);
	a = spawn(spinner, NULL);
	b = spawn(sleeper, NULL);
	join(b);
	join(a);
	*ops = PREEMPT_SLEEPS;
	return (double)worst / 1e6;
}

/* 8. blocked: worst stall of a ticking thread next to one in a raw 50 ms
 *    nanosleep, on one CPU.  ms. */
static void *raw_sleeper(void *arg)
{
	struct timespec ts = { 0, BLOCKED_SLEEP_NS };

	(void)arg;
	while (atomic_load(&ticks) < 10)	/* the ticker is ticking */
		sched_yield();
	for (int i = 0; i < BLOCKED_SLEEPS; i++) {
		syscall(SYS_nanosleep, &ts, NULL);
		sched_yield();
	}
	atomic_store(&stop, 1);
	return NULL;
}

static void *ticker(void *arg)
{
	int64_t last = bench_now();

	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int64_t t = bench_now();

		if (t - last > worst)
			worst = t - last;
		last = t;
		atomic_fetch_add_explicit(&ticks, 1, memory_order_relaxed);
		sched_yield();
	}
	return NULL;
}

static double run_blocked(long scale, long long *ops)
{
	pthread_t a, b;

	(void)scale;
	worst = 0;
	atomic_store(&stop, 0);
	atomic_store(&ticks, 0);
	b = spawn(ticker, NULL);
	a = spawn(raw_sleeper, NULL);
	join(a);
	join(b);
	*ops = BLOCKED_SLEEPS;
	return (double)worst / 1e6;
}

struct workload {
	const char *name;
	const char *unit;
	double (*run)(long scale, long long *ops);
	const char *skip;
};

static const struct workload workloads[] = {
	{ "yield", "ns", run_yield, NULL },
	{ "spawn", "ns", run_spawn, NULL },
	{ "pingpong", "ns", run_pingpong, NULL },
	{ "skynet", "ms", NULL, "1,111,111 threads do not fit" },
	{ "fib", "ms", run_fib, NULL },
	{ "mem", "bytes", NULL, "100,000 threads do not fit; a thread's kernel stack is not in VmRSS" },
	{ "preempt", "ms", run_preempt, NULL },
	{ "blocked", "ms", run_blocked, NULL },
};

int main(int argc, char **argv)
{
	const struct workload *wl = NULL;
	long long ops;
	cpu_set_t set;

	bench_parse(argc, argv, &args);
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (!strcmp(workloads[i].name, args.workload))
			wl = &workloads[i];
	if (!wl) {
		fprintf(stderr, "pthread-bench: unknown workload %s\n", args.workload);
		return 2;
	}
	if (wl->skip) {
		bench_skip(wl->name, IMPL, wl->skip);
		return 0;
	}
	CPU_ZERO(&set);
	for (int c = 0; c < args.nprocs; c++)
		CPU_SET(c, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity", errno);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	if (args.reps == 0) {
		wl->run(1, &ops);	/* the same warm-up as timed runs */
		wl->run(args.scale, &ops);
		bench_ops(wl->name, ops);
		return 0;
	}
	wl->run(1, &ops);	/* warm-up */
	for (int r = 0; r < args.reps; r++)
		bench_result(wl->name, args.nprocs, IMPL, wl->unit, wl->run(1, &ops));
	return 0;
}
