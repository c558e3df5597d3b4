/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The timer heap's lock is never held where sysmon may preempt (issue 16,
 * "library invariants").  Four goroutines make, stop, reset and free
 * channel timers in a tight loop, two sleep 1 ms at a time and one spins,
 * on 2 Ps with the shortest time slice (KGO_SLICE_MIN), for RUN_NS.  Every one of those
 * calls takes the heap's lock, and so does the poller each time a timer
 * is due.  If a holder could be preempted, its G would wait in a run
 * queue while the others block on the lock in the library, holding both
 * Ps, and the poller blocks on it too: nothing would finish again.
 *
 * A plain thread watches the counts of finished calls: no progress for
 * STALL_NS fails the test at once (and prints where it stopped) rather
 * than leave it to the harness's timeout.  The test also checks that
 * sysmon preempted meanwhile, or it proved nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "sysmon_util.h"

#define NCHURN		4
#define NSLEEP		2
#define RUN_NS		2000000000LL
#define STALL_NS	5000000000LL
#define PLAN		4

static atomic_bool stop, finished;
static atomic_ulong churns, sleeps, churn_errs;
static atomic_long early_wakeups;
static struct kgo_waitgroup wg;
static struct kgo_stats_user st;

static void churner(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		/* 1 us: due at once, so the poller takes the lock often too. */
		struct kgo_timer *t = kgo_timer_new(1000, NULL, NULL);

		if (!t) {
			atomic_fetch_add(&churn_errs, 1);
			break;
		}
		kgo_timer_stop(t);
		kgo_timer_reset(t, 1000);
		kgo_timer_free(t);
		atomic_fetch_add_explicit(&churns, 1, memory_order_relaxed);
	}
	kgo_waitgroup_done(&wg);
}

/* Always preemptible: makes sure sysmon preempts all along. */
static void spinner(void *arg)
{
	volatile unsigned long n = 0;

	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		n++;
	kgo_waitgroup_done(&wg);
}

static void sleeper(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t t0 = kgo_nanotime();

		kgo_sleep(1000000);
		if (kgo_nanotime() - t0 < 1000000)
			atomic_fetch_add(&early_wakeups, 1);
		atomic_fetch_add_explicit(&sleeps, 1, memory_order_relaxed);
	}
	kgo_waitgroup_done(&wg);
}

/* A plain thread: fails the test if nothing finishes for STALL_NS. */
static void *watch(void *arg)
{
	unsigned long last_c = 0, last_s = 0;
	int64_t since = now_ns();

	(void)arg;
	while (!atomic_load(&finished)) {
		unsigned long c = atomic_load(&churns), s = atomic_load(&sleeps);

		if (c != last_c || s != last_s) {
			last_c = c;
			last_s = s;
			since = now_ns();
		} else if (now_ns() - since > STALL_NS) {
			printf("not ok 1 no deadlock: no timer call finished for %lld ms "
			       "(%lu churns, %lu sleeps done): a holder of the heap's "
			       "lock preempted?\n",
			       STALL_NS / 1000000, c, s);
			for (int i = 2; i <= PLAN; i++)
				printf("not ok %d not run (deadlock)\n", i);
			fflush(stdout);
			_exit(1);
		}
		usleep(10000);
	}
	return NULL;
}

static void main_fn(void *arg)
{
	struct kgo_stats_user st0 = stats_now();

	(void)arg;
	kgo_waitgroup_add(&wg, NCHURN + NSLEEP + 1);
	kgo_go(spinner, NULL);
	for (int i = 0; i < NCHURN; i++)
		kgo_go(churner, NULL);
	for (int i = 0; i < NSLEEP; i++)
		kgo_go(sleeper, NULL);
	kgo_sleep(RUN_NS);
	atomic_store(&stop, true);
	kgo_waitgroup_wait(&wg);
	st = stats_now();
	st.preempts -= st0.preempts;
	st.handoffs -= st0.handoffs;
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2, .slice_ns = KGO_SLICE_MIN };
	pthread_t w;
	int rc;

	need_sysmon(PLAN);
	tap_watchdog(300);
	tap_plan(PLAN);
	if (pthread_create(&w, NULL, watch, NULL))
		return 1;
	rc = kgo_main(main_fn, NULL, &cfg);
	atomic_store(&finished, true);
	pthread_join(w, NULL);
	printf("# %lu timers made, stopped, reset and freed; %lu sleeps; "
	       "%llu preemptions, %llu handoffs\n",
	       (unsigned long)churns, (unsigned long)sleeps,
	       (unsigned long long)st.preempts, (unsigned long long)st.handoffs);
	tap_ok_fmt(rc == 0, "no deadlock: every churner and sleeper finished (kgo_main %d)", rc);
	tap_ok_fmt(churns > 0 && churn_errs == 0,
		   "kgo_timer_new never failed (%lu calls, %lu failures)",
		   (unsigned long)churns, (unsigned long)churn_errs);
	tap_ok_fmt(sleeps > 0 && early_wakeups == 0, "%lu sleeps of 1 ms, %ld woke early",
		   (unsigned long)sleeps, (long)early_wakeups);
	tap_ok_fmt(st.preempts > 0, "sysmon preempted meanwhile (%llu times)",
		   (unsigned long long)st.preempts);
	return tap_done();
}
