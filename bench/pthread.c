/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The benchmark workloads on plain POSIX threads, where a thread per G
 * makes sense: yield, spawn, pingpong, fib, preempt, blocked and echo (a
 * thread per connection).  skynet and skynet-chan (1,111,111 threads),
 * mem (100,000 parked threads) and mem-1m (a million) do not fit a thread
 * per G, and print SKIP.  NPROCS is the number of CPUs in the process's
 * affinity mask (CPUs 0..NPROCS-1), inherited by every thread.  Thread
 * stacks are 64 KiB, kgo's default goroutine stack.
 *
 * This program is also echo's client, for every implementation
 * ("pthread-bench echo-client PORT CONNS ROUNDTRIPS", bench/echo.h).
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
#define BENCH_ECHO_CLIENT
#include "echo.h"

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

static atomic_llong done;	/* what the threads of a run did, to check */

/* 1. yield: two threads on one CPU calling sched_yield.  ns per switch. */
static void *yielder(void *arg)
{
	long n = (long)arg, i;

	for (i = 0; i < n; i++)
		sched_yield();
	atomic_fetch_add(&done, i);
	return NULL;
}

static double run_yield(long scale, long long *ops)
{
	long n = bench_sz->yield_switches / 2 * scale;
	int64_t t0 = bench_now();
	pthread_t a, b;

	atomic_store(&done, 0);
	a = spawn(yielder, (void *)n);
	b = spawn(yielder, (void *)n);
	join(a);
	join(b);
	t0 = bench_now() - t0;
	*ops = 2 * n;
	bench_check(atomic_load(&done) == *ops, "yield: %lld of %lld yields done",
		    (long long)atomic_load(&done), *ops);
	return (double)t0 / (double)*ops;
}

/* 2. spawn: create and join threads, in batches.  ns per thread. */
static void *spawnee(void *arg)
{
	atomic_fetch_add_explicit(&done, 1, memory_order_relaxed);
	return arg;
}

static double run_spawn(long scale, long long *ops)
{
	static pthread_t t[PTHREAD_SPAWN_BATCH];
	long batches = bench_sz->pthread_spawn_batches * scale;
	long batch = bench_sz->pthread_spawn_batch;
	int64_t t0 = bench_now();

	atomic_store(&done, 0);
	for (long b = 0; b < batches; b++) {
		for (long i = 0; i < batch; i++)
			t[i] = spawn(spawnee, NULL);
		for (long i = 0; i < batch; i++)
			join(t[i]);
	}
	t0 = bench_now() - t0;
	*ops = (long long)batches * batch;
	bench_check(atomic_load(&done) == *ops, "spawn: %lld of %lld threads ran",
		    (long long)atomic_load(&done), *ops);
	return (double)t0 / (double)*ops;
}

/* 3. pingpong: a round trip between two threads over two semaphores (a
 *    futex each way), a number going each way with it.  ns per round
 *    trip. */
static sem_t ping_s, pong_s;
static long ping_v, pong_v;	/* written before the post, read after the wait */

static void wait_sem(sem_t *s)
{
	while (sem_wait(s) && errno == EINTR)
		;
}

static void *ponger(void *arg)
{
	long n = (long)arg;

	for (long i = 0; i < n; i++) {
		wait_sem(&ping_s);
		pong_v = ping_v;
		sem_post(&pong_s);
	}
	return NULL;
}

static double run_pingpong(long scale, long long *ops)
{
	long n = bench_sz->pingpong_rounds * scale;
	int64_t t0 = bench_now();
	pthread_t t;

	sem_init(&ping_s, 0, 0);
	sem_init(&pong_s, 0, 0);
	t = spawn(ponger, (void *)n);
	for (long i = 0; i < n; i++) {
		ping_v = i;
		sem_post(&ping_s);
		wait_sem(&pong_s);
		bench_check(pong_v == i, "pingpong: round %ld came back as %ld", i, pong_v);
	}
	join(t);
	t0 = bench_now() - t0;
	sem_destroy(&ping_s);
	sem_destroy(&pong_s);
	*ops = n;
	return (double)t0 / (double)n;
}

/* 5. fib (run and checked by common.h's bench_run_fib): the fork-join, a
 *    thread for fib(n-1) above the cutoff. */
struct fib_arg {
	int n;
	long out;
};

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

	if (n <= bench_sz->fib_cutoff)
		return fib_serial(n);
	a.n = n - 1;
	t = spawn(fib_t, &a);
	y = fib_par(n - 2);
	join(t);
	return a.out + y;
}

/* 7. preempt and 8. blocked (in common.h): a pair of threads on one CPU. */
static void bench_yield(void)
{
	sched_yield();
}

static void bench_sleep(int64_t ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

static void *pair_t(void *p)
{
	void (*fn)(void) = *(void (**)(void))p;

	fn();
	return NULL;
}

static void bench_run_pair(void (*a)(void), void (*b)(void))
{
	pthread_t ta, tb;

	ta = spawn(pair_t, &a);
	tb = spawn(pair_t, &b);
	join(tb);
	join(ta);
}

/* 10. echo: a thread per connection, blocking read and write, 64 KiB
 *     stacks (bench/echo.h).  Round trips per second (and the p99
 *     latency, echo-p99). */
static int echo_fd = -1, echo_port;
static atomic_long echo_accepted, echo_open;	/* connections; not yet closed */

static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[ECHO_BUF];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
		ssize_t off = 0, w;

		while (off < n) {
			w = write(fd, buf + off, (size_t)(n - off));
			if (w > 0)
				off += w;
			else if (errno != EINTR)
				goto out;	/* the client is gone */
		}
	}
out:
	close(fd);
	atomic_fetch_sub(&echo_open, 1);
	return NULL;
}

static void *echo_acceptor(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept4(echo_fd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;

		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0)
			die("accept4", errno);
		echo_nodelay(fd);
		atomic_fetch_add(&echo_accepted, 1);
		atomic_fetch_add(&echo_open, 1);
		t = spawn(echo_conn, (void *)(intptr_t)fd);
		pthread_detach(t);
	}
	return NULL;
}

static double run_echo(long scale, long long *ops)
{
	long conns = bench_sz->echo_conns, before = atomic_load(&echo_accepted);
	struct echo_figures f;

	if (echo_fd < 0) {
		echo_fd = echo_listen(false, &echo_port);
		pthread_detach(spawn(echo_acceptor, NULL));
	}
	echo_run_client(echo_port, conns, bench_sz->echo_roundtrips * scale, false, echo_read, &f);
	bench_check(atomic_load(&echo_accepted) - before == conns,
		    "echo: %ld connections accepted, not %ld", atomic_load(&echo_accepted) - before,
		    conns);
	while (atomic_load(&echo_open))	/* every connection closed before the next run */
		bench_sleep(1000000);
	*ops = f.roundtrips;
	bench_also("echo-p99", "us", (double)f.p99_ns / 1e3);
	return (double)f.roundtrips / ((double)f.ns / 1e9);
}

static const struct bench_workload workloads[] = {
	{ "yield", "ns", run_yield, false, false, NULL },
	{ "yield-global", "ns", NULL, false, false, "threads have no global run queue (see yield)" },
	{ "spawn", "ns", run_spawn, false, false, NULL },
	{ "pingpong", "ns", run_pingpong, false, false, NULL },
	{ "skynet", "ms", NULL, false, false, "1,111,111 threads do not fit" },
	{ "skynet-chan", "ms", NULL, false, false, "1,111,111 threads do not fit" },
	{ "fib", "ms", bench_run_fib, false, false, NULL },
	{ "mem", "bytes", NULL, false, false,
	  "100,000 threads do not fit; a thread's kernel stack is not in VmRSS" },
	{ "mem-1m", "bytes", NULL, false, false,
	  "1,000,000 threads do not fit; a thread's kernel stack is not in VmRSS" },
	{ "preempt", "ms", bench_run_preempt, false, false, NULL },
	{ "blocked", "ms", bench_run_blocked, false, false, NULL },
	{ "echo", "rt/s", run_echo, false, false, NULL },
};

int main(int argc, char **argv)
{
	const struct bench_workload *wl;
	cpu_set_t set;

	if (argc > 1 && !strcmp(argv[1], "echo-client"))
		return echo_client_main(argc, argv);
	bench_parse(argc, argv, &args);
	wl = bench_lookup(workloads, sizeof(workloads) / sizeof(workloads[0]), &args, IMPL);
	CPU_ZERO(&set);
	for (int c = 0; c < args.nprocs; c++)
		CPU_SET(c, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity", errno);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	bench_measure(wl, &args, IMPL);
	return 0;
}
