/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo_waitgroup on 2 Ps: wait returns only once all of 200 goroutines
 * (sleeping various times) are done; several waiters all wake; a group is
 * reused for several rounds;
 * done from a thread that is not a goroutine wakes the waiter (through
 * the module's READY).  And, on 1 P without preemption, waiting on a zero
 * count returns at once: without giving up the P, which a goroutine made
 * runnable just before would otherwise take.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <kgo.h>

#include "tap.h"

#define NW	200
#define MS	1000000ull

static struct kgo_waitgroup wg, waiters_done;
static atomic_int finished, woken;
static atomic_bool other_ran, zero_returned;

static void worker(void *arg)
{
	kgo_sleep((uint64_t)(intptr_t)arg * MS / 4);
	atomic_fetch_add(&finished, 1);
	kgo_waitgroup_done(&wg);
}

static void waiter(void *arg)
{
	(void)arg;
	kgo_waitgroup_wait(&wg);
	if (atomic_load(&finished) == NW)
		atomic_fetch_add(&woken, 1);
	kgo_waitgroup_done(&waiters_done);
}

static void *outside(void *arg)
{
	struct timespec ts = { 0, 20 * 1000000 };

	nanosleep(&ts, NULL);
	atomic_fetch_add(&finished, 1);
	kgo_waitgroup_done(arg);
	return NULL;
}

static void other(void *arg)
{
	(void)arg;
	atomic_store(&other_ran, true);
}

/* On the only P, cooperative: other runs only if this G gives the P up. */
static void zero_g(void *arg)
{
	struct kgo_waitgroup zero = KGO_WAITGROUP_INIT;

	(void)arg;
	kgo_go(other, NULL);
	kgo_waitgroup_wait(&zero);
	atomic_store(&zero_returned, !atomic_load(&other_ran));
}

static void main_g(void *arg)
{
	bool ok = true;
	pthread_t th;

	(void)arg;
	for (int round = 0; round < 3; round++) {
		atomic_store(&finished, 0);
		atomic_store(&woken, 0);
		kgo_waitgroup_add(&wg, NW);
		kgo_waitgroup_add(&waiters_done, 4);
		for (int i = 0; i < 4; i++)
			kgo_go(waiter, NULL);
		for (int i = 0; i < NW; i++)
			kgo_go(worker, (void *)(intptr_t)(i % 40));
		kgo_waitgroup_wait(&wg);
		ok &= TAP_CHECK(atomic_load(&finished) == NW);
		kgo_waitgroup_wait(&waiters_done);
		ok &= TAP_CHECK(atomic_load(&woken) == 4);
	}
	tap_ok(ok, "3 rounds: 200 workers done before main and 4 other waiters wake, all woken");

	atomic_store(&finished, 0);
	kgo_waitgroup_add(&wg, 1);
	pthread_create(&th, NULL, outside, &wg);
	kgo_waitgroup_wait(&wg);
	tap_ok(atomic_load(&finished) == 1, "done from a plain thread wakes the waiter");
	pthread_join(th, NULL);
}

int main(void)
{
	struct kgo_config one = { .nprocs = 1, .flags = KGO_COOPERATIVE };
	struct kgo_config cfg = { .nprocs = 2 };
	int rc;

	tap_watchdog(300);
	tap_plan(4);
	rc = kgo_main(zero_g, NULL, &one);
	tap_ok_fmt(rc == 0 && atomic_load(&zero_returned),
		   "wait on a zero count returns at once, keeping the P (kgo_main %d, %s)", rc,
		   atomic_load(&other_ran) ? "a runnable G ran first" : "no other G ran");
	rc = kgo_main(main_g, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
