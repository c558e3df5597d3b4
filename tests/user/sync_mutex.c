/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kgo_mutex: 8 goroutines x 20,000 increments of a plain counter on 2 and
 * on 4 Ps end with the exact total, and a pair of fields updated together
 * is never seen torn inside the lock (holders yield now and then, so
 * waiters really park).  Also: trylock, a zero-filled mutex, unlock by
 * another goroutine, waiters queued behind a long holder get the lock
 * first in, first out, a greedy holder that re-locks at once does not
 * starve a waiter on another P, and starvation mode (after 1 ms) hands
 * the mutex to the waiter instead of letting the unlocker barge in.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <kgo.h>

#include "tap.h"

#define NG	8
#define NINC	20000
#define MS	1000000ull

static struct kgo_mutex mu;		/* zero-filled: unlocked */
static long counter, pair_a, pair_b;
static atomic_long torn;
static struct kgo_waitgroup wg;

static void incrementer(void *arg)
{
	(void)arg;
	for (int i = 0; i < NINC; i++) {
		kgo_mutex_lock(&mu);
		if (pair_a != pair_b)
			atomic_fetch_add(&torn, 1);
		counter++;
		pair_a++;
		if (i % 256 == 0)
			kgo_yield();	/* hold it across a switch */
		pair_b++;
		kgo_mutex_unlock(&mu);
	}
	kgo_waitgroup_done(&wg);
}

static double stress_ns;

static void stress_main(void *arg)
{
	uint64_t t0 = kgo_nanotime();

	(void)arg;
	kgo_waitgroup_add(&wg, NG);
	for (int i = 0; i < NG; i++)
		kgo_go(incrementer, NULL);
	kgo_waitgroup_wait(&wg);
	stress_ns = (double)(kgo_nanotime() - t0) / ((double)NG * NINC);
}

static void stress(int nprocs)
{
	struct kgo_config cfg = { .nprocs = nprocs };
	int rc;

	counter = pair_a = pair_b = 0;
	atomic_store(&torn, 0);
	rc = kgo_main(stress_main, NULL, &cfg);
	tap_ok_fmt(rc == 0 && counter == (long)NG * NINC && pair_a == pair_b &&
		   atomic_load(&torn) == 0,
		   "%d Ps: %d goroutines x %d increments = %ld (torn %ld)",
		   nprocs, NG, NINC, counter, atomic_load(&torn));
	printf("# %d Ps: %.0f ns per contended lock+unlock\n", nprocs, stress_ns);
}

/* ---- the rest ---- */

static int order[4], norder;
static struct kgo_mutex fifo_mu;

static void fifo_waiter(void *arg)
{
	kgo_mutex_lock(&fifo_mu);
	order[norder++] = (int)(intptr_t)arg;
	kgo_mutex_unlock(&fifo_mu);
	kgo_waitgroup_done(&wg);
}

static void unlocker(void *arg)
{
	kgo_mutex_unlock(arg);
	kgo_waitgroup_done(&wg);
}

/*
 * Progress: a greedy goroutine re-locks at once after each unlock and
 * never yields; a waiter on the other P still gets the mutex.
 */
#define VICTIM_LOCKS	10

static struct kgo_mutex greedy_mu;
static atomic_int victim_done;
static atomic_long greedy_rounds;

static void greedy(void *arg)
{
	uint64_t until = kgo_nanotime() + 20000 * MS;

	(void)arg;
	while (!atomic_load(&victim_done) && kgo_nanotime() < until) {
		/* Unlocked for a few instructions only, between rounds. */
		for (int k = 0; k < 1000; k++) {
			kgo_mutex_lock(&greedy_mu);
			for (volatile int i = 0; i < 2000; i++)
				;
			kgo_mutex_unlock(&greedy_mu);
		}
		atomic_fetch_add(&greedy_rounds, 1000);
	}
	kgo_waitgroup_done(&wg);
}

static void victim(void *arg)
{
	(void)arg;
	/* Let the greedy one get going. */
	kgo_sleep(10 * MS);
	for (int i = 0; i < VICTIM_LOCKS; i++) {
		kgo_mutex_lock(&greedy_mu);
		kgo_mutex_unlock(&greedy_mu);
	}
	atomic_store(&victim_done, 1);
	kgo_waitgroup_done(&wg);
}

static void starve_main(void *arg)
{
	uint64_t t0 = kgo_nanotime();

	(void)arg;
	kgo_waitgroup_add(&wg, 2);
	kgo_go(greedy, NULL);
	kgo_go(victim, NULL);
	kgo_waitgroup_wait(&wg);
	tap_ok_fmt(atomic_load(&victim_done) == 1,
		   "a greedy holder on another P does not starve a waiter: %d locks (%.0f ms, %ld greedy rounds)",
		   VICTIM_LOCKS, (kgo_nanotime() - t0) / 1e6, atomic_load(&greedy_rounds));
}

/*
 * Starvation mode, deterministically on one P.  A waiter that has waited
 * more than 1 ms is woken by an unlock but loses to the unlocker barging
 * in again (normal mode allows that: trylock succeeds).  It then switches
 * the mutex to starvation mode, so the next unlock hands the mutex to it,
 * and the unlocker's trylock right after fails although the new owner has
 * not even run yet.  Once the queue is empty the mutex is normal again.
 */
static struct kgo_mutex starve_mu;
static atomic_int starve_victim_has_run;

static void starve_victim(void *arg)
{
	(void)arg;
	kgo_mutex_lock(&starve_mu);
	atomic_store(&starve_victim_has_run, 1);
	kgo_mutex_unlock(&starve_mu);
	kgo_waitgroup_done(&wg);
}

static void handoff_main(void *arg)
{
	bool barged, handed, after;

	(void)arg;
	kgo_mutex_lock(&starve_mu);
	kgo_waitgroup_add(&wg, 1);
	kgo_go(starve_victim, NULL);
	kgo_yield();			/* it queues and parks */
	kgo_sleep(3 * MS);		/* and waits more than 1 ms */
	kgo_mutex_unlock(&starve_mu);	/* wakes it (into our runnext) */
	barged = kgo_mutex_trylock(&starve_mu);
	kgo_yield();			/* it runs, loses, turns on starvation mode */
	kgo_mutex_unlock(&starve_mu);	/* hands over */
	handed = !kgo_mutex_trylock(&starve_mu);
	if (!handed)
		kgo_mutex_unlock(&starve_mu);	/* no hand-over: do not deadlock */
	handed &= !atomic_load(&starve_victim_has_run);
	kgo_waitgroup_wait(&wg);
	after = kgo_mutex_trylock(&starve_mu);
	if (after)
		kgo_mutex_unlock(&starve_mu);
	tap_ok_fmt(barged && handed && after,
		   "starvation mode on 1 P: normal mode lets the unlocker barge (%d), after 1 ms "
		   "of waiting unlock hands over (%d), then normal again (%d)", barged, handed, after);
}

static void misc_main(void *arg)
{
	struct kgo_mutex m = KGO_MUTEX_INIT;
	bool ok = true;

	(void)arg;
	ok &= TAP_CHECK(kgo_mutex_trylock(&m));
	ok &= TAP_CHECK(!kgo_mutex_trylock(&m));
	kgo_mutex_unlock(&m);
	ok &= TAP_CHECK(kgo_mutex_trylock(&m));
	/* Another goroutine may unlock it. */
	kgo_waitgroup_add(&wg, 1);
	kgo_go(unlocker, &m);
	kgo_waitgroup_wait(&wg);
	ok &= TAP_CHECK(kgo_mutex_trylock(&m));
	kgo_mutex_unlock(&m);
	tap_ok(ok, "trylock, unlock from another goroutine");

	/* Waiters queued behind a long holder, 5 ms apart, get it in order. */
	kgo_mutex_lock(&fifo_mu);
	kgo_waitgroup_add(&wg, 4);
	for (int i = 0; i < 4; i++) {
		kgo_go(fifo_waiter, (void *)(intptr_t)i);
		kgo_sleep(5 * MS);
	}
	kgo_sleep(10 * MS);
	kgo_mutex_unlock(&fifo_mu);
	kgo_waitgroup_wait(&wg);
	tap_ok_fmt(norder == 4 && order[0] == 0 && order[1] == 1 && order[2] == 2 &&
		   order[3] == 3, "parked waiters got the mutex first in, first out (%d %d %d %d)",
		   order[0], order[1], order[2], order[3]);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2 };
	int rc;

	tap_watchdog(300);
	tap_plan(7);
	stress(2);
	stress(4);
	rc = kgo_main(starve_main, NULL, &cfg);
	cfg.nprocs = 1;
	rc |= kgo_main(handoff_main, NULL, &cfg);
	cfg.nprocs = 2;
	rc |= kgo_main(misc_main, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
