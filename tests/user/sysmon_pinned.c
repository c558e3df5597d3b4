/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What keeping a preempted goroutine on its thread costs (kmod/lockedm.c).
 *
 * Threads: 1,000 goroutines that compute without a call, on 2 Ps with a
 * 1 ms slice, for 1.5 s.  Each preempted one keeps its thread until it
 * has a P again, so threads grow; they must stay within the instance's M
 * slots (libkgo asks for 1024, or the module's max_ms) plus the library's
 * own threads, the preempted goroutines must wait on their threads and be
 * handed Ps again (lockedm_waits, lockedm_starts; the preemptions put off
 * for want of an M are reported),
 * and every goroutine must still finish once told to.  The peak thread
 * count is reported (a plain thread samples /proc/self/status).
 *
 * Switch cost: two goroutines on 1 P, 1 ms slice, each writing the time
 * into its own word as it spins.  When one starts running after the
 * other was stopped, the difference between its first time and the
 * other's last is the time from the preempted G's last instruction until
 * another G runs (this includes handing the P to another thread).  The
 * distribution is reported; the checks are that both ran and were
 * preempted, not how fast.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sysmon_util.h"

#define NG		1000
#define SPIN_NS		1500000000LL
#define FIXED_THREADS	8	/* the caller, poller, spawner, scavenger, slack */

static atomic_bool stop, sampling;
static atomic_int finished, peak_threads;
static struct kgo_waitgroup wg;

static void *sampler(void *arg)
{
	(void)arg;
	while (atomic_load(&sampling)) {
		int n = count_threads();

		if (n > atomic_load(&peak_threads))
			atomic_store(&peak_threads, n);
		usleep(5000);
	}
	return NULL;
}

static void cpu_bound(void *arg)
{
	volatile unsigned long x = 0;

	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		x++;
	atomic_fetch_add(&finished, 1);
	kgo_waitgroup_done(&wg);
}

static struct kgo_stats_user st_threads;

static void threads_main(void *arg)
{
	struct kgo_stats_user st0 = stats_now();

	(void)arg;
	kgo_waitgroup_add(&wg, NG);
	for (int i = 0; i < NG; i++)
		kgo_go(cpu_bound, NULL);
	kgo_sleep(SPIN_NS);
	atomic_store(&stop, true);
	kgo_waitgroup_wait(&wg);
	st_threads = stats_now();
	st_threads.preempts -= st0.preempts;
	st_threads.preempt_deferrals -= st0.preempt_deferrals;
	st_threads.lockedm_waits -= st0.lockedm_waits;
	st_threads.lockedm_starts -= st0.lockedm_starts;
}

/* ---- switch cost ---- */

#define MAXGAPS		4096

static _Atomic int64_t last_seen[2];
static atomic_int turn = -1;
static int64_t gaps[MAXGAPS];
static atomic_int ngaps;
static atomic_ulong runs[2];

static void ponger(void *arg)
{
	int me = (int)(intptr_t)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int64_t t = now_ns();

		/* The other one ran last: we just got the P from it. */
		if (atomic_load_explicit(&turn, memory_order_relaxed) != me) {
			int prev = atomic_exchange(&turn, me);

			/* Now, not before: we may have stopped since. */
			t = now_ns();
			/* The other one has run and stopped (0: not yet run). */
			if (prev == 1 - me && atomic_load(&last_seen[prev])) {
				int i = atomic_fetch_add(&ngaps, 1);

				if (i < MAXGAPS)
					gaps[i] = t - atomic_load(&last_seen[prev]);
			}
			atomic_fetch_add(&runs[me], 1);
		}
		atomic_store_explicit(&last_seen[me], t, memory_order_relaxed);
	}
	kgo_waitgroup_done(&wg);
}

static struct kgo_stats_user st_cost;

static void cost_main(void *arg)
{
	struct kgo_stats_user st0 = stats_now();

	(void)arg;
	kgo_waitgroup_add(&wg, 2);
	kgo_go(ponger, (void *)0);
	kgo_go(ponger, (void *)1);
	kgo_sleep(600000000);
	atomic_store(&stop, true);
	kgo_waitgroup_wait(&wg);
	st_cost = stats_now();
	st_cost.preempts -= st0.preempts;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2, .slice_ns = KGO_SLICE_MIN };
	struct kgo_version v = { .size = sizeof(v) };
	pthread_t t;
	int rc, n, peak, fd;
	uint32_t max_ms = 0;

	need_sysmon(5);
	tap_watchdog(240);
	tap_plan(5);
	fd = open(KGO_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd >= 0 && ioctl(fd, KGO_IOC_VERSION, &v) == 0)
		max_ms = v.max_ms;
	if (fd >= 0)
		close(fd);

	atomic_store(&sampling, true);
	pthread_create(&t, NULL, sampler, NULL);
	rc = kgo_main(threads_main, NULL, &cfg);
	atomic_store(&sampling, false);
	pthread_join(t, NULL);
	peak = atomic_load(&peak_threads);
	printf("# %d CPU-bound goroutines, 2 Ps, 1 ms slice, %.1f s: peak %d threads, %llu preemptions, %llu put off, %llu waits for a P, %llu Ps handed to waiting threads (module max_ms %u)\n",
	       NG, SPIN_NS / 1e9, peak, (unsigned long long)st_threads.preempts,
	       (unsigned long long)st_threads.preempt_deferrals,
	       (unsigned long long)st_threads.lockedm_waits,
	       (unsigned long long)st_threads.lockedm_starts, max_ms);
	tap_ok_fmt(rc == 0 && atomic_load(&finished) == NG,
		   "%d CPU-bound goroutines: kgo_main returned %d, %d finished", NG, rc,
		   atomic_load(&finished));
	/* Ms are bounded by the instance's slots: libkgo asks for 1024, or the module's max_ms. */
	n = (int)(max_ms && max_ms < 1024 ? max_ms : 1024);
	tap_ok_fmt(peak > 2 && peak <= n + FIXED_THREADS && st_threads.preempts > 0,
		   "threads stay bounded: peak %d <= %d M slots + %d, %llu preemptions", peak, n,
		   FIXED_THREADS, (unsigned long long)st_threads.preempts);
	tap_ok_fmt(st_threads.lockedm_waits > 0 && st_threads.lockedm_starts > 0,
		   "preempted goroutines waited on their threads (%llu) and were handed Ps (%llu)",
		   (unsigned long long)st_threads.lockedm_waits,
		   (unsigned long long)st_threads.lockedm_starts);

	atomic_store(&stop, false);
	cfg.nprocs = 1;
	rc = kgo_main(cost_main, NULL, &cfg);
	n = atomic_load(&ngaps) < MAXGAPS ? atomic_load(&ngaps) : MAXGAPS;
	tap_ok_fmt(rc == 0 && atomic_load(&runs[0]) > 2 && atomic_load(&runs[1]) > 2 &&
		   st_cost.preempts > 4,
		   "two spinning goroutines on 1 P took turns (%lu and %lu runs, %llu preemptions)",
		   atomic_load(&runs[0]), atomic_load(&runs[1]),
		   (unsigned long long)st_cost.preempts);
	if (n > 0) {
		qsort(gaps, (size_t)n, sizeof(gaps[0]), cmp64);
		printf("# from a preempted goroutine's last instruction to the next one's first: %d switches, median %.1f us, 90th %.1f us, max %.1f us\n",
		       n, gaps[n / 2] / 1e3, gaps[n * 9 / 10] / 1e3, gaps[n - 1] / 1e3);
	}
	tap_ok_fmt(n > 4, "switch times measured (%d)", n);
	return tap_done();
}
