/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Deadlines on kgo_mutex, kgo_sema and kgo_waitgroup, on 2 Ps: each
 * times out (not early) while the resource stays unavailable, and
 * succeeds when it comes in time; a timed-out waiter leaves no trace (the
 * mutex still works, a sema gains no count, a released count is not
 * lost); 64 goroutines with 1-4 ms deadlines on a contended mutex all
 * return 0 or -ETIMEDOUT, the successes exclude each other, and the
 * mutex is free at the end.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>

#include <kgo.h>

#include "tap.h"

#define MS	1000000ull

static struct kgo_mutex mu;
static struct kgo_sema sem;
static struct kgo_waitgroup wg, done;
static atomic_int rc_a, rc_b;
static uint64_t took_a;

static void mutex_try_30ms(void *arg)
{
	uint64_t t0 = kgo_nanotime();

	(void)arg;
	atomic_store(&rc_a, kgo_mutex_lock_deadline(&mu, t0 + 30 * MS));
	took_a = kgo_nanotime() - t0;
	kgo_waitgroup_done(&done);
}

static void mutex_try_2s(void *arg)
{
	(void)arg;
	atomic_store(&rc_b, kgo_mutex_lock_deadline(&mu, kgo_nanotime() + 2000 * MS));
	if (atomic_load(&rc_b) == 0)
		kgo_mutex_unlock(&mu);
	kgo_waitgroup_done(&done);
}

static void sema_try_2s(void *arg)
{
	(void)arg;
	atomic_store(&rc_b, kgo_sema_acquire_deadline(&sem, kgo_nanotime() + 2000 * MS));
	kgo_waitgroup_done(&done);
}

static atomic_int inside, overlap, ok_n, timeout_n, other_n;

static void contender(void *arg)
{
	int r = kgo_mutex_lock_deadline(&mu, kgo_nanotime() + (1 + (intptr_t)arg % 4) * MS);

	if (r == 0) {
		if (atomic_fetch_add(&inside, 1) != 0)
			atomic_fetch_add(&overlap, 1);
		kgo_sleep(MS / 2);
		atomic_fetch_sub(&inside, 1);
		kgo_mutex_unlock(&mu);
		atomic_fetch_add(&ok_n, 1);
	} else if (r == -ETIMEDOUT) {
		atomic_fetch_add(&timeout_n, 1);
	} else {
		atomic_fetch_add(&other_n, 1);
	}
	kgo_waitgroup_done(&done);
}

static void main_g(void *arg)
{
	uint64_t t0, took;
	int r1, r2;

	(void)arg;
	/* mutex */
	kgo_mutex_lock(&mu);
	kgo_waitgroup_add(&done, 1);
	kgo_go(mutex_try_30ms, NULL);
	kgo_waitgroup_wait(&done);
	kgo_waitgroup_add(&done, 1);
	kgo_go(mutex_try_2s, NULL);
	kgo_sleep(10 * MS);
	kgo_mutex_unlock(&mu);
	kgo_waitgroup_wait(&done);
	tap_ok_fmt(atomic_load(&rc_a) == -ETIMEDOUT && took_a >= 30 * MS && atomic_load(&rc_b) == 0,
		   "mutex: -ETIMEDOUT after %llu ms (>= 30), then a 2 s waiter gets it (%d)",
		   (unsigned long long)(took_a / MS), atomic_load(&rc_b));
	tap_ok(kgo_mutex_trylock(&mu), "and the mutex is free afterwards");
	kgo_mutex_unlock(&mu);

	/* sema */
	t0 = kgo_nanotime();
	r1 = kgo_sema_acquire_deadline(&sem, t0 + 20 * MS);
	took = kgo_nanotime() - t0;
	kgo_waitgroup_add(&done, 1);
	kgo_go(sema_try_2s, NULL);
	kgo_sleep(10 * MS);
	kgo_sema_release(&sem);
	kgo_waitgroup_wait(&done);
	r2 = kgo_sema_acquire_deadline(&sem, kgo_nanotime() + 10 * MS);
	tap_ok_fmt(r1 == -ETIMEDOUT && took >= 20 * MS && atomic_load(&rc_b) == 0 && r2 == -ETIMEDOUT,
		   "sema: -ETIMEDOUT after %llu ms, a release reaches a waiter in time, no count left over",
		   (unsigned long long)(took / MS));
	kgo_sema_release(&sem);
	r2 = kgo_sema_acquire_deadline(&sem, kgo_nanotime() + 10 * MS);
	tap_ok_fmt(r2 == 0, "a count released with nobody waiting is taken (%d)", r2);

	/* waitgroup */
	kgo_waitgroup_add(&wg, 1);
	t0 = kgo_nanotime();
	r1 = kgo_waitgroup_wait_deadline(&wg, t0 + 20 * MS);
	took = kgo_nanotime() - t0;
	kgo_waitgroup_done(&wg);
	r2 = kgo_waitgroup_wait_deadline(&wg, kgo_nanotime() + 20 * MS);
	tap_ok_fmt(r1 == -ETIMEDOUT && took >= 20 * MS && r2 == 0,
		   "waitgroup: -ETIMEDOUT after %llu ms, then 0 at count 0", (unsigned long long)(took / MS));

	/* contention */
	kgo_waitgroup_add(&done, 64);
	for (int i = 0; i < 64; i++)
		kgo_go(contender, (void *)(intptr_t)i);
	kgo_waitgroup_wait(&done);
	tap_ok_fmt(atomic_load(&ok_n) + atomic_load(&timeout_n) == 64 && !atomic_load(&other_n) &&
		   !atomic_load(&overlap) && kgo_mutex_trylock(&mu),
		   "64 contenders with 1-4 ms deadlines: %d locked, %d timed out, %d overlaps; free after",
		   atomic_load(&ok_n), atomic_load(&timeout_n), atomic_load(&overlap));
	kgo_mutex_unlock(&mu);
}

int main(void)
{
	struct kgo_config cfg = { .nprocs = 2 };
	int rc;

	tap_watchdog(120);
	tap_plan(7);
	rc = kgo_main(main_g, NULL, &cfg);
	tap_ok_fmt(rc == 0, "kgo_main returned %d", rc);
	return tap_done();
}
